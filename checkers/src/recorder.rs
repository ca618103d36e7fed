//! The history recorder: a thread-safe, append-only writer of ops that assigns each op
//! its index and time, used by the controller, the workloads and the nemesis.
//!
//! A file-backed recorder writes each op as a JSON line into a buffer and a background
//! thread flushes that buffer every `history_flush_interval_ms`, so a crash of the
//! controller loses at most the last flush interval of the history.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use crate::history::{Op, OpType, Process, Value, F};

/// How often the background thread flushes a file-backed history to the OS.
pub const HISTORY_FLUSH_INTERVAL_MS: u64 = 250;

/// An op before the recorder gives it an index and a time.
#[derive(Clone, Debug, PartialEq)]
pub struct OpDraft {
    pub process: Process,
    pub kind: OpType,
    pub f: F,
    pub node: Option<String>,
    pub value: Option<Value>,
    pub error: Option<String>,
}

impl OpDraft {
    fn new(process: Process, kind: OpType, f: F, value: Option<Value>) -> OpDraft {
        OpDraft {
            process,
            kind,
            f,
            node: None,
            value,
            error: None,
        }
    }

    pub fn invoke(process: Process, f: F, value: Option<Value>) -> OpDraft {
        OpDraft::new(process, OpType::Invoke, f, value)
    }

    pub fn ok(process: Process, f: F, value: Option<Value>) -> OpDraft {
        OpDraft::new(process, OpType::Ok, f, value)
    }

    /// A completion saying the op certainly did not happen.
    pub fn fail(process: Process, f: F, value: Option<Value>, error: impl Into<String>) -> OpDraft {
        OpDraft::new(process, OpType::Fail, f, value).with_error(error)
    }

    /// A completion saying the outcome is unknown (timeout, crash).
    pub fn info(process: Process, f: F, value: Option<Value>, error: impl Into<String>) -> OpDraft {
        OpDraft::new(process, OpType::Info, f, value).with_error(error)
    }

    /// The completion of this invocation with the given type and value, keeping its node.
    pub fn complete(&self, kind: OpType, value: Option<Value>) -> OpDraft {
        assert_eq!(self.kind, OpType::Invoke, "only an invoke can be completed");
        assert_ne!(kind, OpType::Invoke, "a completion cannot be an invoke");
        OpDraft {
            process: self.process,
            kind,
            f: self.f,
            node: self.node.clone(),
            value,
            error: None,
        }
    }

    pub fn with_node(mut self, node: impl Into<String>) -> OpDraft {
        self.node = Some(node.into());
        self
    }

    pub fn with_error(mut self, error: impl Into<String>) -> OpDraft {
        self.error = Some(error.into());
        self
    }

    pub fn with_value(mut self, value: Value) -> OpDraft {
        self.value = Some(value);
        self
    }

    fn into_op(self, index: u64, time: u64) -> Op {
        Op {
            index,
            time,
            process: self.process,
            kind: self.kind,
            f: self.f,
            node: self.node,
            value: self.value,
            error: self.error,
        }
    }
}

/// A thread-safe history recorder. Cloning it shares the same history.
///
/// `ops()` returns every op so far for an in-memory recorder; a file-backed recorder
/// keeps nothing in memory (histories can hold millions of ops) and returns an empty
/// list: read the file back instead.
#[derive(Clone)]
pub struct Recorder {
    inner: Arc<Inner>,
}

struct Inner {
    start: Instant,
    state: Mutex<State>,
}

struct State {
    next_index: u64,
    last_time_ns: u64,
    sink: Sink,
    finished: bool,
    line: Vec<u8>,
}

enum Sink {
    Memory(Vec<Op>),
    File(BufWriter<File>),
}

impl Recorder {
    /// Creates (truncates) `path` and starts the clock now.
    pub fn create(path: &Path) -> io::Result<Recorder> {
        let file = File::create(path)?;
        let recorder = Recorder::with_sink(Sink::File(BufWriter::with_capacity(1 << 16, file)));
        spawn_flusher(Arc::downgrade(&recorder.inner))?;
        Ok(recorder)
    }

    /// A recorder that keeps its ops in memory, for tests and the simulator.
    pub fn in_memory() -> Recorder {
        Recorder::with_sink(Sink::Memory(Vec::new()))
    }

    fn with_sink(sink: Sink) -> Recorder {
        Recorder {
            inner: Arc::new(Inner {
                start: Instant::now(),
                state: Mutex::new(State {
                    next_index: 0,
                    last_time_ns: 0,
                    sink,
                    finished: false,
                    line: Vec::with_capacity(256),
                }),
            }),
        }
    }

    /// Nanoseconds since the recorder was created.
    pub fn elapsed_ns(&self) -> u64 {
        u64::try_from(self.inner.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Records an op at the current time. The time is taken under the lock that assigns
    /// the index, so times never decrease in file order.
    pub fn record(&self, draft: OpDraft) -> io::Result<Op> {
        let mut state = self.lock();
        let time_ns = self.elapsed_ns().max(state.last_time_ns);
        state.append(time_ns, draft)
    }

    /// Records an op at an explicit time (for the deterministic simulator); the time
    /// must not be earlier than the last recorded op's.
    pub fn record_at(&self, time_ns: u64, draft: OpDraft) -> io::Result<Op> {
        let mut state = self.lock();
        if time_ns < state.last_time_ns {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "time {time_ns} ns is earlier than the last recorded op's {} ns",
                    state.last_time_ns
                ),
            ));
        }
        state.append(time_ns, draft)
    }

    /// Every op so far (in-memory recorders only; a file-backed recorder returns none).
    pub fn ops(&self) -> Vec<Op> {
        match &self.lock().sink {
            Sink::Memory(ops) => ops.clone(),
            Sink::File(_) => Vec::new(),
        }
    }

    /// Flushes and fsyncs the history; any later `record` is an error.
    pub fn finish(&self) -> io::Result<()> {
        let mut state = self.lock();
        state.finished = true;
        if let Sink::File(w) = &mut state.sink {
            w.flush()?;
            w.get_ref().sync_all()?;
        }
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the state consistent (an op is appended
        // whole or not at all as far as indices go), so a poisoned lock is still usable.
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl State {
    fn append(&mut self, time_ns: u64, draft: OpDraft) -> io::Result<Op> {
        if self.finished {
            return Err(io::Error::other(
                "the history is finished; no more ops can be recorded",
            ));
        }
        let op = draft.into_op(self.next_index, time_ns);
        match &mut self.sink {
            Sink::Memory(ops) => ops.push(op.clone()),
            Sink::File(w) => {
                self.line.clear();
                serde_json::to_writer(&mut self.line, &op).map_err(io::Error::other)?;
                self.line.push(b'\n');
                w.write_all(&self.line)?;
            }
        }
        self.next_index += 1;
        self.last_time_ns = time_ns;
        Ok(op)
    }
}

/// Flushes the file every interval until the recorder is dropped or finished.
fn spawn_flusher(inner: Weak<Inner>) -> io::Result<()> {
    std::thread::Builder::new()
        .name("history-flush".into())
        .spawn(move || loop {
            std::thread::sleep(Duration::from_millis(HISTORY_FLUSH_INTERVAL_MS));
            let Some(inner) = inner.upgrade() else { return };
            let mut state = inner.state.lock().unwrap_or_else(|e| e.into_inner());
            if state.finished {
                return;
            }
            if let Sink::File(w) = &mut state.sink {
                // A failed flush will fail again, visibly, at the next record or finish.
                let _ = w.flush();
            }
        })
        .map(|_| ())
}

impl Drop for Inner {
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Sink::File(w) = &mut state.sink {
            let _ = w.flush();
        }
    }
}
