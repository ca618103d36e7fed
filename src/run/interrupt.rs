//! How a run is told to stop early: Ctrl-C, SIGTERM and SIGHUP, or a disk about to fill.
//! The first reason given is the one that stands.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::disk::{self, Disks, DISK_FREE_BYTES_RUN_MIN};
use super::reporter::Reporter;

/// Why a run was told to stop before its end.
#[derive(Clone, Debug)]
pub enum Stop {
    /// Ctrl-C, SIGTERM or SIGHUP.
    Signal,
    /// A filesystem the run writes to is about to fill; the message names it.
    DiskFull(String),
}

/// A stop flag, set by Ctrl-C, SIGTERM or SIGHUP, or by the watch on the disks; the
/// first reason given is the one that stands.
#[derive(Clone)]
pub struct Interrupt {
    rx: watch::Receiver<Option<Stop>>,
    tx: Arc<watch::Sender<Option<Stop>>>,
}

impl Interrupt {
    pub fn new() -> Interrupt {
        let (tx, rx) = watch::channel(None);
        Interrupt {
            rx,
            tx: Arc::new(tx),
        }
    }

    /// An interrupt that Ctrl-C, SIGTERM and SIGHUP set. `own_cluster`: the nodes are the
    /// user's (`--endpoints`), so nothing is torn down and nothing is left to clean.
    pub fn install(report: Reporter, own_cluster: bool) -> Interrupt {
        let interrupt = Interrupt::new();
        let on_signal = interrupt.clone();
        let (stopping, leaving) = if own_cluster {
            (
                "stopping the workload; your cluster is left as it is",
                "exiting at once",
            )
        } else {
            (
                "stopping the workload and nemesis, tearing down",
                "exiting without teardown; `splitbrain clean` removes what is left",
            )
        };
        tokio::spawn(async move {
            use tokio::signal::unix::{signal, SignalKind};
            let sigterm = received(signal(SignalKind::terminate()).ok());
            // A closed terminal (SIGHUP) stops the run like SIGTERM: its default action
            // would end the process with no teardown.
            let sighup = received(signal(SignalKind::hangup()).ok());
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = sigterm => {}
                _ = sighup => {}
            }
            report.line("");
            report.say(&format!(
                "interrupted; {stopping} (interrupt again to exit at once)"
            ));
            on_signal.stop(Stop::Signal);
            // A teardown that hangs must not trap the user: a second interrupt leaves now.
            if tokio::signal::ctrl_c().await.is_ok() {
                report.say(leaving);
                std::process::exit(130);
            }
        });
        interrupt
    }

    /// Tells every phase to stop, unless it was told already.
    pub fn stop(&self, why: Stop) {
        self.tx.send_if_modified(|current| match current {
            None => {
                *current = Some(why);
                true
            }
            Some(_) => false,
        });
    }

    pub fn is_set(&self) -> bool {
        self.rx.borrow().is_some()
    }

    pub fn reason(&self) -> Option<Stop> {
        self.rx.borrow().clone()
    }

    pub async fn wait(&self) {
        let mut rx = self.rx.clone();
        let _ = rx.wait_for(Option::is_some).await;
    }
}

/// Waits for the next delivery of `signal`; forever where it could not be listened for.
async fn received(signal: Option<tokio::signal::unix::Signal>) {
    match signal {
        Some(mut s) => {
            s.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}

/// Stops the run when a filesystem it writes to is about to fill, so that it ends as a
/// harness failure naming the disk, with the history flushed, rather than with nodes
/// dying on their log writes and the workload on the history's.
pub fn watch_disks(
    disks: Disks,
    interrupt: Interrupt,
    report: Reporter,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(disk::DISK_CHECK_INTERVAL_MS));
        loop {
            tick.tick().await;
            if let Some(low) = disks.low(DISK_FREE_BYTES_RUN_MIN) {
                report.line("");
                report.say(&format!("{low}; stopping the run"));
                interrupt.stop(Stop::DiskFull(low.to_string()));
                return;
            }
        }
    })
}
