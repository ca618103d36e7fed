//! Cuttable TCP proxies between raftd nodes: the partitions of the partition tests.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A TCP proxy carrying node `from`'s traffic to node `to`; while `cut`, it closes
/// its connections and accepts none (a partition). Its threads end when it drops.
pub struct Link {
    pub from: usize,
    pub to: usize,
    pub addr: String,
    pub cut: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl Link {
    /// Listens on a free port of 127.0.0.1 and forwards to `target`.
    pub fn start(from: usize, to: usize, target: String) -> Link {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let cut = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let (c, s) = (cut.clone(), stop.clone());
        std::thread::spawn(move || accept_loop(listener, target, c, s));
        Link {
            from,
            to,
            addr,
            cut,
            stop,
        }
    }

    pub fn set_cut(&self, cut: bool) {
        self.cut.store(cut, Ordering::SeqCst);
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn accept_loop(listener: TcpListener, target: String, cut: Arc<AtomicBool>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::SeqCst) {
        let Ok((inbound, _)) = listener.accept() else {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        };
        if cut.load(Ordering::SeqCst) {
            continue; // dropped: the connection closes at once
        }
        let Ok(outbound) = TcpStream::connect(&target) else {
            continue;
        };
        let _ = inbound.set_nonblocking(false);
        for (src, dst) in [
            (inbound.try_clone(), outbound.try_clone()),
            (outbound.try_clone(), inbound.try_clone()),
        ] {
            let (Ok(src), Ok(dst)) = (src, dst) else {
                continue;
            };
            let (c, s) = (cut.clone(), stop.clone());
            std::thread::spawn(move || pump(src, dst, c, s));
        }
    }
}

/// Copies bytes until either side closes or the link is cut or stopped.
fn pump(mut src: TcpStream, mut dst: TcpStream, cut: Arc<AtomicBool>, stop: Arc<AtomicBool>) {
    let _ = src.set_read_timeout(Some(Duration::from_millis(20)));
    let mut buf = [0u8; 16 * 1024];
    loop {
        if cut.load(Ordering::SeqCst) || stop.load(Ordering::SeqCst) {
            break;
        }
        match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if dst.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    let _ = src.shutdown(std::net::Shutdown::Both);
    let _ = dst.shutdown(std::net::Shutdown::Both);
}
