//! A socket that fails with `TimedOut` once no byte has moved either way for a while, so a
//! client that stops reading a response (or sending a request) cannot hold its
//! connection, and the server's slot, for ever.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

pub struct Idle<S> {
    io: S,
    timeout: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl<S> Idle<S> {
    pub fn new(io: S, timeout: Duration) -> Self {
        Idle {
            io,
            timeout,
            deadline: Box::pin(tokio::time::sleep(timeout)),
        }
    }

    fn progressed(&mut self) {
        self.deadline.as_mut().reset(Instant::now() + self.timeout);
    }

    /// For an operation that is pending: an error once the deadline has passed (the
    /// deadline's waker is registered otherwise, so the wait ends when it does).
    fn check(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no progress in {} ms", self.timeout.as_millis()),
            )),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Runs one poll of the inner socket, resetting the deadline on progress.
    fn step<T>(
        &mut self,
        cx: &mut Context<'_>,
        op: impl FnOnce(Pin<&mut S>, &mut Context<'_>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>>
    where
        S: Unpin,
    {
        match op(Pin::new(&mut self.io), cx) {
            Poll::Ready(r) => {
                self.progressed();
                Poll::Ready(r)
            }
            Poll::Pending => self.check(cx).map(Err),
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Idle<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.get_mut().step(cx, |io, cx| io.poll_read(cx, buf))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Idle<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().step(cx, |io, cx| io.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .step(cx, |io, cx| io.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().step(cx, |io, cx| io.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().step(cx, |io, cx| io.poll_shutdown(cx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn a_peer_that_stops_reading_times_the_writer_out() {
        let (a, _b) = tokio::io::duplex(1024);
        let mut a = Idle::new(a, Duration::from_millis(100));
        let started = std::time::Instant::now();
        let err = a.write_all(&[0u8; 1 << 20]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn steady_progress_is_never_cut() {
        let (a, mut b) = tokio::io::duplex(64);
        let mut a = Idle::new(a, Duration::from_millis(200));
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            let mut chunk = [0u8; 16];
            loop {
                tokio::time::sleep(Duration::from_millis(20)).await;
                match b.read(&mut chunk).await.unwrap() {
                    0 => return got.len(),
                    n => got.extend_from_slice(&chunk[..n]),
                }
            }
        });
        // 50 reads of 16 bytes at 20 ms each: a second in all, five idle timeouts.
        a.write_all(&[1u8; 800]).await.unwrap();
        a.shutdown().await.unwrap();
        assert_eq!(reader.await.unwrap(), 800);
    }
}
