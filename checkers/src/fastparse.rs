//! A hand-written parser for the common shape of a history line, about twice as fast as
//! serde's derive. It is strictly conservative: anything it is not sure of (escapes,
//! unknown or duplicate keys, floats, nemesis values with maps) makes it answer `None`
//! and serde parses the line instead, so what is accepted and how it reads never
//! depends on which parser ran.

use std::borrow::Cow;

use crate::history::{OpType, Process, F};
use crate::reader::{RawLogEntry, RawOp, RawValue, Str};

/// Parses `line` (one JSON object, no newline) or gives up.
pub fn parse(line: &[u8]) -> Option<RawOp<'_>> {
    let text = std::str::from_utf8(line).ok()?;
    let mut c = Cursor {
        s: text,
        b: line,
        i: 0,
    };
    let op = c.op()?;
    c.ws();
    (c.i == c.b.len()).then_some(op)
}

struct Cursor<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
}

/// Which top-level and value keys were seen, to refuse duplicates as serde does.
#[derive(Default)]
struct Seen(u32);

impl Seen {
    fn first(&mut self, bit: u32) -> Option<()> {
        let mask = 1 << bit;
        if self.0 & mask != 0 {
            return None;
        }
        self.0 |= mask;
        Some(())
    }
}

impl<'a> Cursor<'a> {
    #[inline]
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    #[inline]
    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.i).copied()
    }

    #[inline]
    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.i += 1)
    }

    /// A string without escapes or control characters.
    #[inline]
    fn str(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.i;
        loop {
            match *self.b.get(self.i)? {
                b'"' => break,
                b'\\' | 0..=0x1f => return None,
                _ => self.i += 1,
            }
        }
        self.i += 1;
        // Quotes are ASCII, so both ends are char boundaries.
        Some(&self.s[start..self.i - 1])
    }

    #[inline]
    fn string(&mut self) -> Option<Str<'a>> {
        self.str().map(|s| Str(Cow::Borrowed(s)))
    }

    /// A non-negative integer as JSON writes it (no leading zeros, no fraction).
    #[inline]
    fn u64(&mut self) -> Option<u64> {
        self.ws();
        let start = self.i;
        let mut n: u64 = 0;
        while let Some(&d @ b'0'..=b'9') = self.b.get(self.i) {
            n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
            self.i += 1;
        }
        let len = self.i - start;
        if len == 0 || (len > 1 && self.b[start] == b'0') {
            return None;
        }
        match self.b.get(self.i) {
            Some(b'.' | b'e' | b'E') => None,
            _ => Some(n),
        }
    }

    fn literal(&mut self, word: &str) -> Option<()> {
        self.ws();
        self.b[self.i..]
            .starts_with(word.as_bytes())
            .then(|| self.i += word.len())
    }

    /// `null` gives `Some(None)`; otherwise `item` parses the value.
    #[inline(always)]
    fn nullable<T>(&mut self, item: impl FnOnce(&mut Self) -> Option<T>) -> Option<Option<T>> {
        if self.peek()? == b'n' {
            self.literal("null")?;
            Some(None)
        } else {
            item(self).map(Some)
        }
    }

    fn bool(&mut self) -> Option<bool> {
        match self.peek()? {
            b't' => self.literal("true").map(|_| true),
            b'f' => self.literal("false").map(|_| false),
            _ => None,
        }
    }

    fn array<T>(&mut self, mut item: impl FnMut(&mut Self) -> Option<T>) -> Option<Vec<T>> {
        self.eat(b'[')?;
        let mut out = Vec::new();
        if self.peek()? == b']' {
            self.i += 1;
            return Some(out);
        }
        loop {
            out.push(item(self)?);
            match self.peek()? {
                b',' => self.i += 1,
                b']' => {
                    self.i += 1;
                    return Some(out);
                }
                _ => return None,
            }
        }
    }

    /// Calls `field` for each key of an object; `field` parses the value.
    fn object(&mut self, mut field: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        self.eat(b'{')?;
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(());
        }
        loop {
            let key = self.str()?;
            self.eat(b':')?;
            field(self, key)?;
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    fn op(&mut self) -> Option<RawOp<'a>> {
        let (mut index, mut time, mut process, mut kind, mut f) = (None, None, None, None, None);
        let (mut node, mut value, mut error) = (None, None, None);
        let mut seen = Seen::default();
        self.object(|c, key| {
            match key {
                "index" => (seen.first(0)?, index = Some(c.u64()?)).0,
                "time" => (seen.first(1)?, time = Some(c.u64()?)).0,
                "process" => (seen.first(2)?, process = Some(c.process()?)).0,
                "type" => (seen.first(3)?, kind = Some(op_type(c.str()?)?)).0,
                "f" => (seen.first(4)?, f = Some(op_f(c.str()?)?)).0,
                "node" => (seen.first(5)?, node = c.nullable(Cursor::string)?).0,
                "value" => (seen.first(6)?, value = c.nullable(Cursor::value)?).0,
                "error" => (seen.first(7)?, error = c.nullable(Cursor::string)?).0,
                _ => return None,
            };
            Some(())
        })?;
        Some(RawOp {
            index: index?,
            time: time?,
            process: process?,
            kind: kind?,
            f: f?,
            node,
            value,
            error,
        })
    }

    fn process(&mut self) -> Option<Process> {
        if self.peek()? == b'"' {
            (self.str()? == "nemesis").then_some(Process::Nemesis)
        } else {
            self.u64().map(Process::Client)
        }
    }

    fn value(&mut self) -> Option<Box<RawValue<'a>>> {
        let mut v = Box::<RawValue>::default();
        let mut seen = Seen::default();
        self.object(|c, key| {
            match key {
                "role" => (seen.first(0)?, v.role = c.nullable(Cursor::string)?).0,
                "term" => (seen.first(1)?, v.term = c.nullable(Cursor::u64)?).0,
                "leader" => (seen.first(2)?, v.leader = Some(c.nullable(Cursor::string)?)).0,
                "election" => (seen.first(3)?, v.election = c.nullable(Cursor::string)?).0,
                "token" => (seen.first(4)?, v.token = Some(c.nullable(Cursor::u64)?)).0,
                "holding" => (seen.first(5)?, v.holding = c.nullable(Cursor::bool)?).0,
                "id" => (seen.first(6)?, v.id = c.nullable(Cursor::string)?).0,
                "ids" => {
                    (
                        seen.first(7)?,
                        v.ids = c.nullable(|c| c.array(Cursor::string))?,
                    )
                        .0
                }
                "log" => {
                    (
                        seen.first(8)?,
                        v.log = c.nullable(|c| c.array(Cursor::log_entry))?,
                    )
                        .0
                }
                "nodes" => {
                    (
                        seen.first(9)?,
                        v.nodes = c.nullable(|c| c.array(Cursor::string))?,
                    )
                        .0
                }
                // Partitions, drops and clock offsets are rare: serde reads those lines.
                _ => return None,
            };
            Some(())
        })?;
        Some(v)
    }

    fn log_entry(&mut self) -> Option<RawLogEntry<'a>> {
        let (mut id, mut token) = (None, None);
        let mut seen = Seen::default();
        self.object(|c, key| {
            match key {
                "id" => (seen.first(0)?, id = Some(c.string()?)).0,
                "token" => (seen.first(1)?, token = c.nullable(Cursor::u64)?).0,
                _ => return None,
            };
            Some(())
        })?;
        Some(RawLogEntry { id: id?, token })
    }
}

fn op_type(s: &str) -> Option<OpType> {
    Some(match s {
        "invoke" => OpType::Invoke,
        "ok" => OpType::Ok,
        "fail" => OpType::Fail,
        "info" => OpType::Info,
        _ => return None,
    })
}

fn op_f(s: &str) -> Option<F> {
    Some(match s {
        "status" => F::Status,
        "acquire" => F::Acquire,
        "holding" => F::Holding,
        "release" => F::Release,
        "write" => F::Write,
        "read" => F::Read,
        "partition" => F::Partition,
        "heal" => F::Heal,
        "pause" => F::Pause,
        "resume" => F::Resume,
        "kill" => F::Kill,
        "start" => F::Start,
        "clock" => F::Clock,
        "clock-reset" => F::ClockReset,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::parse;
    use crate::reader::RawOp;

    fn same(line: &str) {
        let fast = parse(line.as_bytes());
        let slow = serde_json::from_str::<RawOp>(line).ok();
        match (&fast, &slow) {
            (Some(a), Some(b)) => assert_eq!(format!("{a:?}"), format!("{b:?}"), "{line}"),
            (Some(a), None) => panic!("fast parser accepted what serde rejects: {line} -> {a:?}"),
            _ => {}
        }
    }

    #[test]
    fn agrees_with_serde_or_gives_up() {
        for line in [
            r#"{"index":0,"time":1,"process":0,"type":"invoke","f":"write","node":"n2","value":{"id":"w17","token":5}}"#,
            r#" { "index" : 0 , "time":1,"process":"nemesis","type":"ok","f":"kill","value":{"nodes":["n1","n2"]}} "#,
            r#"{"index":0,"time":1,"process":3,"type":"ok","f":"status","value":{"role":"leader","term":4,"leader":null}}"#,
            r#"{"index":0,"time":1,"process":3,"type":"ok","f":"read","value":{"log":[{"id":"a","token":null},{"token":2,"id":"b"}]}}"#,
            r#"{"index":0,"time":1,"process":3,"type":"ok","f":"read","value":{"ids":[]},"error":null,"node":null}"#,
            r#"{"index":0,"time":1,"process":3,"type":"ok","f":"write","value":{"id":"a","token":null}}"#,
            r#"{"index":0,"time":1,"process":3,"type":"ok","f":"write","value":null}"#,
            r#"{"index":01,"time":1,"process":3,"type":"ok","f":"write"}"#,
            r#"{"index":1.5,"time":1,"process":3,"type":"ok","f":"write"}"#,
            r#"{"index":1,"index":1,"time":1,"process":3,"type":"ok","f":"write"}"#,
            r#"{"index":1,"time":1,"process":-3,"type":"ok","f":"write"}"#,
            r#"{"index":1,"time":1,"process":3,"type":"ok","f":"write"} x"#,
            r#"{"index":1,"time":1,"process":3,"type":"ok","f":"write","value":{"id":"a\"b"}}"#,
            r#"{"index":1,"time":1,"process":3,"type":"ok","f":"write","extra":[1,{"a":2}]}"#,
            r#"{"index":1,"time":1,"process":3,"type":"ok","f":"holding","value":{"holding":true}}"#,
            r#"{"index":18446744073709551616,"time":1,"process":3,"type":"ok","f":"write"}"#,
            r#"{"index":1,"time":1,"process":3,"type":"ok","f":"status","value":{"role":"leader","role":"x"}}"#,
            r#"{"index":1,"time":1,"process":3,"type":"ok","f":"status","value":{"role":5}}"#,
            r#"{"index":1,"time":1,"process":3,"type":"ok","f":"status""#,
            r#"{"index":1,"time":1,"process":3,"type":"ok","f":"read","value":{"ids":["a",]}}"#,
        ] {
            same(line);
        }
        assert!(parse(br#"{"index":0,"time":1,"process":0,"type":"invoke","f":"write","value":{"id":"w","token":5}}"#).is_some());
    }

    #[test]
    fn agrees_with_serde_on_every_synthetic_line() {
        let mut bytes = Vec::new();
        crate::synth::generate_to(&crate::synth::SynthConfig::small(5, 3000), &mut bytes).unwrap();
        let mut fast = 0;
        for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let text = std::str::from_utf8(line).unwrap();
            same(text);
            fast += usize::from(parse(line).is_some());
        }
        assert!(
            fast > 2900,
            "the fast path gave up on too many lines: {fast}"
        );
    }
}
