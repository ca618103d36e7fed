//! Keeps writes to stderr from failing. `eprintln!` panics when its pipe's reader is
//! gone (`splitbrain run 2>&1 | tee log` where the same Ctrl-C
//! ends `tee`, or `| head`), and a panic mid-run skips the teardown: containers and
//! processes would be left behind. So a stderr that is a pipe is replaced by a pipe of
//! our own, whose forwarding thread drops what it can no longer deliver.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How long [`Shield::finish`] waits while nothing moves (a child that inherited the
/// pipe and outlives us would otherwise hold the exit forever); output that keeps
/// flowing, however slowly its reader takes it, is waited for.
const FORWARD_IDLE_MS_MAX: u64 = 2000;

/// Forwarding threads, awaited by [`Shield::finish`] so that the last lines get out.
pub struct Shield {
    forwarders: Vec<(RawFd, mpsc::Receiver<bool>)>,
}

/// Shields stderr where it is a pipe (a terminal or a file never closes under us, and a
/// terminal must stay one for the progress bar). Stdout is left alone: it carries the
/// large outputs (`check --json`), whose reader (a pager) may pause for as long as it
/// likes, and a run prints to it only after its teardown.
pub fn shield() -> Shield {
    let stderr = std::io::stderr();
    let fd = stderr.as_raw_fd();
    let forwarders = if is_pipe(&stderr) {
        forward(fd).map(|t| (fd, t)).into_iter().collect()
    } else {
        Vec::new()
    };
    Shield { forwarders }
}

fn is_pipe(stream: &impl AsRawFd) -> bool {
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat writes into `st`, which lives for the call.
    let ok = unsafe { libc::fstat(stream.as_raw_fd(), &mut st) } == 0;
    ok && (st.st_mode & libc::S_IFMT) == libc::S_IFIFO
}

/// Points `fd` at a new pipe; a thread copies the pipe to what `fd` was.
fn forward(fd: RawFd) -> Option<mpsc::Receiver<bool>> {
    let mut ends = [0 as RawFd; 2];
    // SAFETY: plain descriptor calls on descriptors this process owns; every result is
    // checked and nothing is closed twice.
    unsafe {
        // Close-on-exec: children get `fd` itself (dup2 clears the flag there), never
        // a second copy of the original that would keep a caller's pipe open.
        if libc::pipe2(ends.as_mut_ptr(), libc::O_CLOEXEC) != 0 {
            return None;
        }
        let original = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0);
        if original < 0 || libc::dup2(ends[1], fd) < 0 {
            libc::close(ends[0]);
            libc::close(ends[1]);
            if original >= 0 {
                libc::close(original);
            }
            return None;
        }
        libc::close(ends[1]);
        let mut from = File::from_raw_fd(ends[0]);
        let mut to = File::from_raw_fd(original);
        // One message per chunk forwarded: finish waits while they keep coming.
        let (done_tx, done) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("stdio-forward".into())
            .spawn(move || {
                let mut buf = [0u8; 8192];
                let mut open = true;
                while let Ok(n) = from.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    // The reader left: drain and drop the rest.
                    open = open && to.write_all(&buf[..n]).is_ok();
                    let _ = done_tx.send(false);
                }
                let _ = done_tx.send(true);
            });
        spawned.ok().map(|_: JoinHandle<()>| done)
    }
}

impl Shield {
    /// Closes our ends and waits for everything written so far to be forwarded.
    pub fn finish(self) {
        for (fd, t) in self.forwarders {
            // SAFETY: /dev/null replaces our pipe's write end on `fd`, closing it, so
            // the forwarder sees the end of its input.
            unsafe {
                let null = libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY);
                if null >= 0 {
                    libc::dup2(null, fd);
                    libc::close(null);
                }
            }
            // Until the end of input, or nothing forwarded for the idle bound.
            while let Ok(false) = t.recv_timeout(Duration::from_millis(FORWARD_IDLE_MS_MAX)) {}
        }
    }
}
