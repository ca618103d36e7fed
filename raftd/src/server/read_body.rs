//! The answers of `GET /read`: the write log encoded as JSON once, in immutable chunks
//! that every answer in flight shares. 200 concurrent reads of a 10 MB log then hold one
//! encoding of it, not 200 copies of the log and 200 encodings (which took raftd from
//! 35 MB to 3.5 GB).

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Bytes;
use http_body::{Frame, SizeHint};
use serde::Serialize;
use tokio::sync::OwnedSemaphorePermit;

use crate::core::WriteRecord;

/// A chunk is frozen once it holds at least this many bytes of records; the records after
/// the last chunk (fewer bytes than this, plus one record) are encoded for each log length
/// asked for.
pub const READ_CHUNK_BYTES_MIN: usize = 64 * 1024;

const HEAD: &[u8] = b"{\"log\":[";
const FOOT: &[u8] = b"]}";

/// One record as `GET /read` lists it (the same JSON as `api::WriteRecord`), borrowed.
#[derive(Serialize)]
struct RecordJson<'a> {
    id: &'a str,
    token: Option<u64>,
}

/// Appends record `i` of the log: `{…}` for the first, `,{…}` after, so that chunks join
/// into a JSON array with nothing between them.
fn encode_record(buf: &mut Vec<u8>, i: usize, w: &WriteRecord) {
    if i > 0 {
        buf.push(b',');
    }
    let json = RecordJson {
        id: &w.id,
        token: w.token,
    };
    serde_json::to_writer(&mut *buf, &json).expect("a string and a number always encode");
}

/// The records after the last frozen chunk, encoded for one log length.
#[derive(Debug)]
struct Tail {
    from: usize,
    through: usize,
    bytes: Bytes,
}

/// The write log as the JSON of `GET /read`, built up as the log grows.
#[derive(Debug, Default)]
pub struct EncodedLog {
    /// Frozen chunks of whole records, in log order.
    chunks: Vec<Bytes>,
    /// `ends[i]`: the records in `chunks[..=i]`.
    ends: Vec<usize>,
    /// The last tail encoded, which reads of the same log length share.
    tail: Option<Tail>,
}

impl EncodedLog {
    /// The answer listing `writes`. Each log passed must extend, or be a prefix of, the
    /// ones passed before: true of a state machine's write log, which only grows.
    pub fn body(&mut self, writes: &[WriteRecord]) -> ReadBody {
        let n = writes.len();
        self.catch_up(writes);
        let whole = self.ends.partition_point(|&end| end <= n);
        let from = whole.checked_sub(1).map_or(0, |i| self.ends[i]);
        let mut parts = Vec::with_capacity(whole + 3);
        parts.push(Bytes::from_static(HEAD));
        parts.extend(self.chunks[..whole].iter().cloned());
        if from < n {
            parts.push(self.tail_bytes(writes, from));
        }
        parts.push(Bytes::from_static(FOOT));
        ReadBody::new(parts)
    }

    fn frozen(&self) -> usize {
        self.ends.last().copied().unwrap_or(0)
    }

    /// Freezes the records past the last chunk into chunks while they fill one, and keeps
    /// the rest as the tail of this log's length.
    fn catch_up(&mut self, writes: &[WriteRecord]) {
        let mut from = self.frozen();
        let n = writes.len();
        if from >= n || self.tail_is(from, n) {
            return;
        }
        let mut buf = Vec::with_capacity(READ_CHUNK_BYTES_MIN + 1024);
        let mut next = from;
        // The tail of a shorter log is the start of this one's: extend it, not encode it again.
        if let Some(t) = self.tail.take_if(|t| t.from == from && t.through < n) {
            buf.extend_from_slice(&t.bytes);
            next = t.through;
        }
        while next < n {
            encode_record(&mut buf, next, &writes[next]);
            next += 1;
            if buf.len() >= READ_CHUNK_BYTES_MIN {
                self.chunks.push(Bytes::from(std::mem::take(&mut buf)));
                self.ends.push(next);
                from = next;
            }
        }
        self.tail = (from < n).then(|| Tail {
            from,
            through: n,
            bytes: Bytes::from(buf),
        });
    }

    fn tail_is(&self, from: usize, through: usize) -> bool {
        self.tail
            .as_ref()
            .is_some_and(|t| t.from == from && t.through == through)
    }

    /// Records `from..` of `writes`: the shared tail when it is this one, else encoded now
    /// (a log shorter than one already encoded: at most one chunk's worth).
    fn tail_bytes(&self, writes: &[WriteRecord], from: usize) -> Bytes {
        if self.tail_is(from, writes.len()) {
            if let Some(t) = &self.tail {
                return t.bytes.clone();
            }
        }
        let mut buf = Vec::new();
        for (i, w) in writes.iter().enumerate().skip(from) {
            encode_record(&mut buf, i, w);
        }
        Bytes::from(buf)
    }
}

/// The body of one `GET /read` answer: shared chunks sent one after another, of a length
/// known in advance (it goes out with a `Content-Length`). It may hold a permit that
/// counts it among the reads in flight until it is sent or dropped.
#[derive(Debug)]
pub struct ReadBody {
    parts: std::vec::IntoIter<Bytes>,
    remaining: u64,
    _permit: Option<OwnedSemaphorePermit>,
}

impl ReadBody {
    pub(crate) fn new(parts: Vec<Bytes>) -> ReadBody {
        let remaining = parts.iter().map(|p| p.len() as u64).sum();
        ReadBody {
            parts: parts.into_iter(),
            remaining,
            _permit: None,
        }
    }

    /// The same body, holding `permit` until it is sent or dropped.
    pub fn holding(mut self, permit: OwnedSemaphorePermit) -> ReadBody {
        self._permit = Some(permit);
        self
    }

    /// The body's length in bytes, still to send.
    pub fn len(&self) -> u64 {
        self.remaining
    }

    pub fn is_empty(&self) -> bool {
        self.remaining == 0
    }
}

impl http_body::Body for ReadBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        let next = this.parts.next();
        if let Some(part) = &next {
            this.remaining -= part.len() as u64;
        }
        Poll::Ready(next.map(|part| Ok(Frame::data(part))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(n: usize, id_bytes: usize) -> Vec<WriteRecord> {
        (0..n)
            .map(|i| WriteRecord {
                id: format!("{i:0>id_bytes$}"),
                token: (i % 3 == 0).then_some(i as u64),
            })
            .collect()
    }

    fn bytes(body: ReadBody) -> Vec<u8> {
        let len = body.len();
        let out: Vec<u8> = body.parts.flat_map(|p| p.to_vec()).collect();
        assert_eq!(out.len() as u64, len);
        out
    }

    /// What the answer was before the shared encoding: the API type through serde.
    fn expected(writes: &[WriteRecord]) -> Vec<u8> {
        let log = writes
            .iter()
            .map(|w| crate::api::WriteRecord {
                id: w.id.clone(),
                token: w.token,
            })
            .collect();
        serde_json::to_vec(&crate::api::ReadResponse { log }).unwrap()
    }

    #[test]
    fn the_body_is_the_json_of_the_log_at_every_length_in_any_order() {
        let writes = log(3000, 40);
        let mut enc = EncodedLog::default();
        for n in [0, 1, 2, 1500, 1499, 3000, 10, 2999, 3000, 0] {
            assert_eq!(bytes(enc.body(&writes[..n])), expected(&writes[..n]), "{n}");
        }
        let mut fresh = EncodedLog::default();
        for n in 0..=300 {
            assert_eq!(bytes(fresh.body(&writes[..n])), expected(&writes[..n]));
        }
    }

    #[test]
    fn reads_of_one_log_share_its_encoding() {
        let writes = log(5000, 100);
        let mut enc = EncodedLog::default();
        let a = enc.body(&writes);
        let b = enc.body(&writes);
        assert!(enc.chunks.len() > 5, "{} chunks", enc.chunks.len());
        assert_eq!(a.parts.len(), b.parts.len());
        for (x, y) in a.parts.as_slice().iter().zip(b.parts.as_slice()) {
            assert_eq!(x.as_ptr(), y.as_ptr(), "the same bytes, not a copy");
        }
        let encoded: usize = enc.chunks.iter().map(Bytes::len).sum();
        assert!(encoded <= expected(&writes).len(), "encoded once");
    }
}
