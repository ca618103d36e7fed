//! The streaming JSON Lines reader: one reused line buffer, borrowed strings, and an
//! error naming the 1-based line and the field for anything malformed.

use std::io::{self, BufRead};

use serde::{Deserialize, Deserializer};

use crate::history::{Op, OpType, Process};
use crate::raw::RawOp;

/// Everything that makes a history unreadable. Line numbers are 1-based.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("cannot read the history: {0}")]
    Io(#[from] io::Error),
    #[error("line {line}: not valid UTF-8")]
    NotUtf8 { line: u64 },
    #[error("line {line}: empty line (every line must be one op)")]
    EmptyLine { line: u64 },
    #[error("line {line}: truncated line ({message})")]
    Truncated { line: u64, message: String },
    #[error("line {line}: field `{field}`: {message}")]
    Field {
        line: u64,
        field: String,
        message: String,
    },
    #[error("line {line}: not a JSON object ({message})")]
    Syntax { line: u64, message: String },
    #[error("line {line}: field `index`: is {found}, expected {expected} (indices must be 0, 1, 2, ... in file order)")]
    Index {
        line: u64,
        found: u64,
        expected: u64,
    },
    #[error("line {line}: field `time`: {found} ns is earlier than the previous line's {previous} ns (times must not decrease)")]
    TimeDecreasing {
        line: u64,
        found: u64,
        previous: u64,
    },
    #[error("line {line}: process {process} invokes {f} while its {open_f} invoked at line {open_line} is still in flight")]
    DoubleInvoke {
        line: u64,
        process: Process,
        f: &'static str,
        open_f: &'static str,
        open_line: u64,
    },
    #[error("line {line}: process {process} completes {f} ({kind}) with no invoke in flight")]
    CompletionWithoutInvoke {
        line: u64,
        process: Process,
        f: &'static str,
        kind: &'static str,
    },
    #[error("line {line}: process {process} completes {f} but its op in flight (line {open_line}) is {open_f}")]
    CompletionMismatch {
        line: u64,
        process: Process,
        f: &'static str,
        open_f: &'static str,
        open_line: u64,
    },
}

impl HistoryError {
    /// The 1-based line the error is about, if it is about one.
    pub fn line(&self) -> Option<u64> {
        use HistoryError::*;
        match self {
            Io(_) => None,
            NotUtf8 { line }
            | EmptyLine { line }
            | Truncated { line, .. }
            | Field { line, .. }
            | Syntax { line, .. }
            | Index { line, .. }
            | TimeDecreasing { line, .. }
            | DoubleInvoke { line, .. }
            | CompletionWithoutInvoke { line, .. }
            | CompletionMismatch { line, .. } => Some(*line),
        }
    }
}

pub fn kind_name(kind: OpType) -> &'static str {
    match kind {
        OpType::Invoke => "invoke",
        OpType::Ok => "ok",
        OpType::Fail => "fail",
        OpType::Info => "info",
    }
}

/// Where a reader stopped in a history: just past the last whole line it read, with
/// what it needs to go on checking the lines after it. A reader of a history still being
/// written picks up from here ([`OpReader::growing`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Position {
    /// Bytes from the start of the history to the first line not read.
    pub offset: u64,
    /// Lines read: the 1-based number of the last one.
    pub line: u64,
    next_index: u64,
    last_time: u64,
}

/// Reads ops line by line from one reused buffer and checks what holds across lines:
/// indices 0, 1, 2, ... and non-decreasing times.
///
/// The common line is parsed where it lies in the buffer, its end found by the parser
/// itself: no separate search for the newline and no copy. Anything else (a line the
/// fast parser gives up on, the last line without a newline) takes the general path,
/// which finds the line first; both read the same. A line not whole in the buffer
/// (longer than the look-ahead, or cut short by a slow pipe) is gathered on its own.
pub struct LineReader<R> {
    input: R,
    /// Bytes read and not yet consumed are `data[pos..end]`; `data` only grows.
    data: Vec<u8>,
    pos: usize,
    end: usize,
    /// The offset in the history of `data[0]`, so that of the next line is `base + pos`.
    base: u64,
    eof: bool,
    /// A line that did not fit in the look-ahead.
    long: Vec<u8>,
    /// Whether a last line with no newline is left unread (the writer is still at it)
    /// rather than read or refused as cut short.
    whole_lines_only: bool,
    /// The line last read or refused is the input's last and has no newline.
    cut: bool,
    line: u64,
    next_index: u64,
    last_time: u64,
}

/// The least and the most the buffer reads at a time.
const READ_CHUNK_BYTES_MIN: usize = 1 << 13;
const READ_CHUNK_BYTES_MAX: usize = 1 << 20;
/// Before each line, the buffer is topped up when it holds fewer unread bytes than this
/// and the input goes on. A line that is not whole in the buffer even so (a long one,
/// or a slow pipe) is gathered on its own.
const LOOKAHEAD_BYTES: usize = 1 << 16;

impl<R: BufRead> LineReader<R> {
    pub fn new(input: R) -> Self {
        Self::at(input, Position::default(), false)
    }

    /// Reads a history still being written from `at`, where `input` must stand, and
    /// leaves a last line with no newline unread: the rest of it is still to come.
    pub fn growing(input: R, at: Position) -> Self {
        Self::at(input, at, true)
    }

    fn at(input: R, at: Position, whole_lines_only: bool) -> Self {
        LineReader {
            input,
            data: Vec::new(),
            pos: 0,
            end: 0,
            base: at.offset,
            eof: false,
            long: Vec::new(),
            whole_lines_only,
            cut: false,
            line: at.line,
            next_index: at.next_index,
            last_time: at.last_time,
        }
    }

    /// The 1-based number of the line last returned.
    pub fn line(&self) -> u64 {
        self.line
    }

    /// Where the line after the last one returned starts; after an error, unspecified
    /// but for an I/O error, which leaves it where it was.
    pub fn position(&self) -> Position {
        Position {
            offset: self.base + self.pos as u64,
            line: self.line,
            next_index: self.next_index,
            last_time: self.last_time,
        }
    }

    /// Whether the line last returned or refused is the input's last and has no
    /// newline: what a writer stopped mid-line leaves.
    pub fn cut_short(&self) -> bool {
        self.cut
    }

    /// Moves what is unread to the front and reads once more; sets `eof` when the input
    /// has no more. The buffer starts small and doubles up to `READ_CHUNK_BYTES_MAX`, so a
    /// small history costs a small buffer and a large one is read in large chunks.
    fn top_up(&mut self) -> io::Result<()> {
        self.data.copy_within(self.pos..self.end, 0);
        self.base += self.pos as u64;
        self.end -= self.pos;
        self.pos = 0;
        let room = (2 * self.data.len()).clamp(READ_CHUNK_BYTES_MIN, READ_CHUNK_BYTES_MAX);
        if self.data.len() < self.end + room {
            self.data.resize(self.end + room, 0);
        }
        loop {
            match self.input.read(&mut self.data[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            return Ok(());
        }
    }

    /// The next op, borrowed from the buffer, or `None` at the end.
    #[inline]
    pub fn next_op(&mut self) -> Result<Option<RawOp<'_>>, HistoryError> {
        Ok(self.next_line()?.map(|(op, _)| op))
    }

    /// The next op and the bytes of its line without the newline, both borrowed from
    /// the buffer, or `None` at the end.
    pub fn next_line(&mut self) -> Result<Option<(RawOp<'_>, &[u8])>, HistoryError> {
        if self.end - self.pos < LOOKAHEAD_BYTES && !self.eof {
            self.top_up()?;
        }
        let start = self.pos;
        if let Some((op, len)) = crate::fastparse::parse_prefix(&self.data[start..self.end]) {
            self.pos += len;
            self.line += 1;
            let text_len = len
                - if self.data[start + len - 2] == b'\r' {
                    2
                } else {
                    1
                };
            check_order(self.line, &mut self.next_index, &mut self.last_time, &op)?;
            return Ok(Some((op, &self.data[start..start + text_len])));
        }
        // The general path. Only fields other than `data` change from here on.
        let unread = &self.data[start..self.end];
        let newline = unread.iter().position(|&b| b == b'\n');
        if newline.is_none() && (unread.is_empty() || (self.eof && self.whole_lines_only)) {
            return Ok(None);
        }
        let line = self.line + 1;
        let mut complete = newline.is_some();
        let mut text = match newline {
            Some(i) => {
                self.pos += i + 1;
                &self.data[start..start + i]
            }
            None if self.eof => {
                self.pos = self.end;
                unread
            }
            None => {
                // Not whole in the buffer: gather the rest of it from the input.
                self.long.clear();
                self.long.extend_from_slice(unread);
                let gathered = self.input.read_until(b'\n', &mut self.long)?;
                complete = self.long.last() == Some(&b'\n');
                if !complete && self.whole_lines_only {
                    // The input ends mid-line: leave the line for a later reader.
                    self.eof = true;
                    return Ok(None);
                }
                if complete {
                    self.long.pop();
                }
                // The gathered bytes came after `data[end]`: shift the offsets past them.
                self.pos = self.end;
                self.base += gathered as u64;
                &self.long
            }
        };
        self.line = line;
        self.cut = !complete;
        if complete {
            if let Some((&b'\r', rest)) = text.split_last() {
                text = rest;
            }
        }
        if text.iter().all(u8::is_ascii_whitespace) {
            return Err(HistoryError::EmptyLine { line });
        }
        let op = parse_line(text, line, complete)?;
        check_order(line, &mut self.next_index, &mut self.last_time, &op)?;
        Ok(Some((op, text)))
    }
}

/// Indices must be 0, 1, 2, ... and times must not decrease.
fn check_order(
    line: u64,
    next_index: &mut u64,
    last_time: &mut u64,
    op: &RawOp<'_>,
) -> Result<(), HistoryError> {
    if op.index != *next_index {
        return Err(HistoryError::Index {
            line,
            found: op.index,
            expected: *next_index,
        });
    }
    if op.time < *last_time {
        return Err(HistoryError::TimeDecreasing {
            line,
            found: op.time,
            previous: *last_time,
        });
    }
    *next_index += 1;
    *last_time = op.time;
    Ok(())
}

/// Parses one line; on failure parses it again, slowly, to name the field at fault.
fn parse_line(buf: &[u8], line: u64, complete: bool) -> Result<RawOp<'_>, HistoryError> {
    if let Some(op) = crate::fastparse::parse(buf) {
        return Ok(op);
    }
    match serde_json::from_slice::<RawOp>(buf) {
        // serde skips what it ignores (an unknown key, an extra key of `value`) without
        // looking at its bytes; a line is text, so all of it must be UTF-8. The fast
        // parser checks every string it reads and gives up on anything it would skip.
        Ok(_) if std::str::from_utf8(buf).is_err() => Err(HistoryError::NotUtf8 { line }),
        Ok(op) => Ok(op),
        Err(e) => Err(describe_error(buf, line, complete, e)),
    }
}

fn describe_error(buf: &[u8], line: u64, complete: bool, e: serde_json::Error) -> HistoryError {
    if std::str::from_utf8(buf).is_err() {
        return HistoryError::NotUtf8 { line };
    }
    let strip = |e: &serde_json::Error| strip_position(&e.to_string());
    if e.is_eof() {
        let message = if complete {
            strip(&e)
        } else {
            format!(
                "{}; the line has no newline, so the writer probably stopped mid-line",
                strip(&e)
            )
        };
        return HistoryError::Truncated { line, message };
    }
    if e.is_syntax() {
        return HistoryError::Syntax {
            line,
            message: strip(&e),
        };
    }
    let mut de = serde_json::Deserializer::from_slice(buf);
    match serde_path_to_error::deserialize::<_, RawOp>(&mut de) {
        Err(pe) => {
            let path = pe.path().to_string();
            let message = strip(pe.inner());
            let field = if path == "." {
                missing_field(&message).unwrap_or_else(|| ".".to_string())
            } else {
                path
            };
            HistoryError::Field {
                line,
                field,
                message,
            }
        }
        // Cannot happen (the fast parse failed on the same bytes); say what we know.
        Ok(_) => HistoryError::Syntax {
            line,
            message: strip(&e),
        },
    }
}

/// `missing field `index`` names the field only in its text.
fn missing_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("missing field `")?;
    Some(rest.split('`').next()?.to_string())
}

/// serde_json appends "at line 1 column 17"; the line is ours to name, the column helps.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line 1 column ") {
        Some(at) => format!("{} (column {})", &message[..at], &message[at + 18..]),
        None => message.to_string(),
    }
}

/// One line of a history as the reader read it: its 1-based number, its op borrowed
/// from the line, and its text without the newline.
#[derive(Clone, Debug)]
pub struct Line<'a> {
    pub number: u64,
    pub op: RawOp<'a>,
    pub text: &'a str,
}

impl<'a> Line<'a> {
    /// The op parsed into the owned model.
    pub fn to_op(&self) -> Result<Op, HistoryError> {
        serde_json::from_str::<Op>(self.text)
            .map_err(|e| describe_error(self.text.as_bytes(), self.number, true, e))
    }

    /// The text of the line's `value` as the writer wrote it: `None` when the line has
    /// no `value`, `null` when it says `"value":null`.
    pub fn value_text(&self) -> Result<Option<&'a str>, HistoryError> {
        #[derive(Deserialize)]
        struct ValueOnly<'a> {
            #[serde(borrow, default, deserialize_with = "present")]
            value: Option<&'a serde_json::value::RawValue>,
        }
        serde_json::from_str::<ValueOnly<'a>>(self.text)
            .map(|v| v.value.map(serde_json::value::RawValue::get))
            .map_err(|e| describe_error(self.text.as_bytes(), self.number, true, e))
    }
}

/// A field that is present, even as `null`, is `Some`.
fn present<'de, D>(d: D) -> Result<Option<&'de serde_json::value::RawValue>, D::Error>
where
    D: Deserializer<'de>,
{
    <&serde_json::value::RawValue>::deserialize(d).map(Some)
}

/// Reads a history one op at a time, validated line by line as [`crate::History`] reads
/// it: the one reader of `history.jsonl` for whoever wants its ops rather than its
/// checks. Cross-line pairing of invocations and completions is checked by
/// [`crate::facts::History`], not here.
///
/// As an iterator it yields owned ops; [`OpReader::next_line`] gives each line's number
/// and text besides, and [`OpReader::growing`] reads a history still being written.
pub struct OpReader<R> {
    lines: LineReader<R>,
}

impl<R: BufRead> OpReader<R> {
    pub fn new(input: R) -> Self {
        OpReader {
            lines: LineReader::new(input),
        }
    }

    /// Reads a history still being written from `at` (a [`Position`] an earlier reader
    /// reached; the default for the start), where `input` must stand. A last line with
    /// no newline is left unread, for a later reader to take once it is whole.
    pub fn growing(input: R, at: Position) -> Self {
        OpReader {
            lines: LineReader::growing(input, at),
        }
    }

    /// The next line, or `None` at the end.
    pub fn next_line(&mut self) -> Result<Option<Line<'_>>, HistoryError> {
        // A line returned is always the one after the last.
        let number = self.lines.line + 1;
        let Some((op, bytes)) = self.lines.next_line()? else {
            return Ok(None);
        };
        // Both parsers accept only UTF-8 (JSON outside strings is ASCII).
        let text =
            std::str::from_utf8(bytes).map_err(|_| HistoryError::NotUtf8 { line: number })?;
        Ok(Some(Line { number, op, text }))
    }

    /// Where the line after the last one returned starts, for [`OpReader::growing`].
    pub fn position(&self) -> Position {
        self.lines.position()
    }

    /// Whether the line last returned or refused is the input's last and has no
    /// newline: what a writer stopped mid-line leaves.
    pub fn cut_short(&self) -> bool {
        self.lines.cut_short()
    }
}

impl<R: BufRead> Iterator for OpReader<R> {
    type Item = Result<Op, HistoryError>;
    fn next(&mut self) -> Option<Self::Item> {
        // Validated; now parse the same bytes into the owned model.
        self.next_line().transpose().map(|line| line?.to_op())
    }
}
