//! A hand-written parser for the common shape of a history line, about twice as fast as
//! serde's derive. It is strictly conservative: anything it is not sure of (escapes,
//! unknown or duplicate keys, floats, nemesis values with maps) makes it answer `None`
//! and serde parses the line instead, so what is accepted and how it reads never
//! depends on which parser ran.

use std::borrow::Cow;

use crate::history::{OpType, Process, F};
use crate::raw::{RawLogEntry, RawOp, RawValue, Str};

/// Parses `line` (one JSON object, no newline) or gives up.
pub fn parse(line: &[u8]) -> Option<RawOp<'_>> {
    let mut c = Cursor { b: line, i: 0 };
    let op = c.op()?;
    c.ws();
    (c.i == c.b.len()).then_some(op)
}

/// Parses the line at the start of `bytes` when it is exactly one object followed by
/// `\n` or `\r\n`; gives the op and the length of the line with its newline. Anything
/// else (whitespace around the object, no newline yet) gives up, for [`parse`] to read
/// once the line is known.
pub fn parse_prefix(bytes: &[u8]) -> Option<(RawOp<'_>, usize)> {
    if bytes.first() != Some(&b'{') {
        return None;
    }
    let mut c = Cursor { b: bytes, i: 0 };
    let op = c.op()?;
    match &bytes[c.i..] {
        [b'\n', ..] => Some((op, c.i + 1)),
        [b'\r', b'\n', ..] => Some((op, c.i + 2)),
        _ => None,
    }
}

/// A position in the bytes of one line. Outside strings, JSON is ASCII, which the parser
/// checks byte by byte; each string is checked to be UTF-8 as it is read, so a line it
/// accepts is UTF-8 throughout.
struct Cursor<'a> {
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
        // JSON's whitespace but the newline: a line never holds one, and [`parse_prefix`]
        // must stop at the end of its line, not read an object across two. Writers put
        // no whitespace between tokens; test for none before looping.
        if let Some(b' ' | b'\t' | b'\r') = self.b.get(self.i) {
            let skipped = self.b[self.i..]
                .iter()
                .position(|c| !matches!(c, b' ' | b'\t' | b'\r'))
                .unwrap_or(self.b.len() - self.i);
            self.i += skipped;
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
        // A local scan over the slice, not through `self.i`, keeps the index in a register.
        let b: &'a [u8] = self.b;
        let len = b[start..]
            .iter()
            .position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
        if b[start + len] != b'"' {
            return None;
        }
        self.i = start + len + 1;
        std::str::from_utf8(&b[start..start + len]).ok()
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
        let b: &'a [u8] = self.b;
        let mut n: u64 = 0;
        let mut len = 0;
        for &d in &b[start..] {
            if !d.is_ascii_digit() {
                break;
            }
            n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
            len += 1;
        }
        if len == 0 || (len > 1 && b[start] == b'0') {
            return None;
        }
        self.i = start + len;
        match b.get(self.i) {
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

    /// Which of `words[from..]` the quoted string at the cursor is, without scanning for
    /// its end; `None` (the cursor unmoved) when it is none of them.
    #[inline]
    fn known_str(&mut self, words: &[&str], from: usize) -> Option<usize> {
        let rest = &self.b[self.i..];
        let (&b'"', rest) = rest.split_first()? else {
            return None;
        };
        for (j, word) in words.iter().enumerate().skip(from) {
            let w = word.as_bytes();
            // A byte loop: these words are short, and a call to memcmp costs more.
            if rest.len() > w.len()
                && rest[w.len()] == b'"'
                && rest.iter().zip(w).all(|(a, b)| a == b)
            {
                self.i += w.len() + 2;
                return Some(j);
            }
        }
        None
    }

    /// Calls `field` with the position in `keys` of each key of an object; `field` parses
    /// the value. A key not in `keys`, or given twice, gives up. Writers emit keys in
    /// `keys`' order (the struct's), so the next key is looked for from just after the
    /// last one before anything else; any order is read.
    fn object(
        &mut self,
        keys: &[&str],
        mut field: impl FnMut(&mut Self, usize) -> Option<()>,
    ) -> Option<()> {
        self.eat(b'{')?;
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(());
        }
        let (mut next, mut seen) = (0, Seen::default());
        loop {
            self.ws();
            let key = match self.known_str(keys, next) {
                Some(key) => Some(key),
                None => {
                    let name = self.str()?;
                    keys.iter().position(|k| *k == name)
                }
            };
            self.eat(b':')?;
            match key {
                Some(key) => {
                    next = key + 1;
                    seen.first(key as u32)?;
                    field(self, key)?;
                }
                // A key no op has (another tool's extra field): serde ignores it, and so
                // does this parser, checking its value is JSON as serde would.
                None => self.skip_value(0)?,
            }
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

    /// Steps over one JSON value that no field reads, accepting exactly what serde's
    /// `IgnoredAny` accepts, or gives up: strings with an escape, and nesting deeper than
    /// [`SKIP_DEPTH_MAX`], are left to serde.
    fn skip_value(&mut self, depth: usize) -> Option<()> {
        if depth > SKIP_DEPTH_MAX {
            return None;
        }
        match self.peek()? {
            b'"' => self.str().map(drop),
            b't' => self.literal("true"),
            b'f' => self.literal("false"),
            b'n' => self.literal("null"),
            // A `Vec<()>` never allocates.
            b'[' => self.array(|c| c.skip_value(depth + 1)).map(drop),
            b'{' => {
                self.i += 1;
                if self.peek()? == b'}' {
                    self.i += 1;
                    return Some(());
                }
                loop {
                    self.ws();
                    self.str()?;
                    self.eat(b':')?;
                    self.skip_value(depth + 1)?;
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
            _ => self.skip_number(),
        }
    }

    /// A JSON number: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    fn skip_number(&mut self) -> Option<()> {
        let b = self.b;
        let mut i = self.i;
        let digits = |i: &mut usize| {
            let start = *i;
            while b.get(*i).is_some_and(u8::is_ascii_digit) {
                *i += 1;
            }
            *i > start
        };
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        match b.get(i)? {
            b'0' => i += 1,
            b'1'..=b'9' => {
                digits(&mut i);
            }
            _ => return None,
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            if !digits(&mut i) {
                return None;
            }
        }
        if let Some(b'e' | b'E') = b.get(i) {
            i += 1;
            if let Some(b'+' | b'-') = b.get(i) {
                i += 1;
            }
            if !digits(&mut i) {
                return None;
            }
        }
        self.i = i;
        Some(())
    }

    fn op(&mut self) -> Option<RawOp<'a>> {
        let (mut index, mut time, mut process, mut kind, mut f) = (None, None, None, None, None);
        let (mut node, mut value, mut error) = (None, None, None);
        self.object(OP_KEYS, |c, key| {
            match key {
                op_key::INDEX => index = Some(c.u64()?),
                op_key::TIME => time = Some(c.u64()?),
                op_key::PROCESS => process = Some(c.process()?),
                op_key::TYPE => kind = Some(OP_TYPES[c.known_str(OP_TYPE_NAMES, 0)?]),
                op_key::F => f = Some(OP_FS[c.known_str(OP_F_NAMES, 0)?]),
                op_key::NODE => node = c.nullable(Cursor::string)?,
                op_key::VALUE => value = c.nullable(Cursor::value)?,
                op_key::ERROR => error = c.nullable(Cursor::string)?,
                _ => return None,
            }
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
        self.object(VALUE_KEYS, |c, key| {
            match key {
                value_key::ROLE => v.role = c.nullable(Cursor::string)?,
                value_key::TERM => v.term = c.nullable(Cursor::u64)?,
                value_key::LEADER => v.leader = Some(c.nullable(Cursor::string)?),
                value_key::VOTE => v.vote = Some(c.nullable(Cursor::string)?),
                value_key::COMMIT => v.commit = c.nullable(Cursor::u64)?,
                value_key::LAST_INDEX => v.last_index = c.nullable(Cursor::u64)?,
                value_key::ELECTION => v.election = c.nullable(Cursor::string)?,
                value_key::TOKEN => v.token = Some(c.nullable(Cursor::u64)?),
                value_key::HOLDING => v.holding = c.nullable(Cursor::bool)?,
                value_key::ID => v.id = c.nullable(Cursor::string)?,
                value_key::IDS => v.ids = c.nullable(|c| c.array(Cursor::string))?,
                value_key::LOG => v.log = c.nullable(|c| c.array(Cursor::log_entry))?,
                value_key::NODES => v.nodes = c.nullable(|c| c.array(Cursor::string))?,
                value_key::KEY => v.key = c.nullable(Cursor::string)?,
                value_key::TERMS => v.terms = c.nullable(|c| c.array(Cursor::pair))?,
                // Partitions, drops, clock offsets and packet faults are rare: serde reads
                // those lines.
                _ => return None,
            }
            Some(())
        })?;
        Some(v)
    }

    /// `[a, b]` of two whole numbers.
    fn pair(&mut self) -> Option<[u64; 2]> {
        let v = self.array(Cursor::u64)?;
        <[u64; 2]>::try_from(v).ok()
    }

    fn log_entry(&mut self) -> Option<RawLogEntry<'a>> {
        let (mut id, mut token) = (None, None);
        self.object(LOG_ENTRY_KEYS, |c, key| {
            match key {
                0 => id = Some(c.string()?),
                1 => token = c.nullable(Cursor::u64)?,
                _ => return None,
            }
            Some(())
        })?;
        Some(RawLogEntry { id: id?, token })
    }
}

/// How deep an ignored value may nest before serde reads the line instead.
const SKIP_DEPTH_MAX: usize = 32;

/// The keys of an op, of its value and of a log entry, in the order `Op`, `Value` and
/// `LogEntry` serialize them; the modules name their positions.
const OP_KEYS: &[&str] = &[
    "index", "time", "process", "type", "f", "node", "value", "error",
];
mod op_key {
    pub const INDEX: usize = 0;
    pub const TIME: usize = 1;
    pub const PROCESS: usize = 2;
    pub const TYPE: usize = 3;
    pub const F: usize = 4;
    pub const NODE: usize = 5;
    pub const VALUE: usize = 6;
    pub const ERROR: usize = 7;
}
const VALUE_KEYS: &[&str] = &[
    "role",
    "term",
    "leader",
    "vote",
    "commit",
    "last_index",
    "election",
    "token",
    "holding",
    "id",
    "ids",
    "log",
    "groups",
    "drops",
    "nodes",
    "offsets_ms",
    "key",
    "packet",
    "links",
    "terms",
];
mod value_key {
    pub const ROLE: usize = 0;
    pub const TERM: usize = 1;
    pub const LEADER: usize = 2;
    pub const VOTE: usize = 3;
    pub const COMMIT: usize = 4;
    pub const LAST_INDEX: usize = 5;
    pub const ELECTION: usize = 6;
    pub const TOKEN: usize = 7;
    pub const HOLDING: usize = 8;
    pub const ID: usize = 9;
    pub const IDS: usize = 10;
    pub const LOG: usize = 11;
    pub const NODES: usize = 14;
    pub const KEY: usize = 16;
    pub const TERMS: usize = 19;
}
const LOG_ENTRY_KEYS: &[&str] = &["id", "token"];

/// The op types and operations by name, in the order of their tables.
const OP_TYPE_NAMES: &[&str] = &["invoke", "ok", "fail", "info"];
const OP_TYPES: [OpType; 4] = [OpType::Invoke, OpType::Ok, OpType::Fail, OpType::Info];
const OP_F_NAMES: &[&str] = &[
    "status",
    "write",
    "acquire",
    "holding",
    "release",
    "read",
    "partition",
    "heal",
    "pause",
    "resume",
    "kill",
    "start",
    "clock",
    "clock-reset",
    "cas",
    "get",
    "put",
    "append",
    "packet",
    "packet-heal",
    "power-loss",
    "crash-point",
];
const OP_FS: [F; 22] = [
    F::Status,
    F::Write,
    F::Acquire,
    F::Holding,
    F::Release,
    F::Read,
    F::Partition,
    F::Heal,
    F::Pause,
    F::Resume,
    F::Kill,
    F::Start,
    F::Clock,
    F::ClockReset,
    F::Cas,
    F::Get,
    F::Put,
    F::Append,
    F::Packet,
    F::PacketHeal,
    F::PowerLoss,
    F::CrashPoint,
];

#[cfg(test)]
mod tests {
    use super::{parse, parse_prefix};
    use crate::raw::RawOp;

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
            r#"{"index":0,"time":1,"process":3,"type":"ok","f":"status","value":{"role":"follower","term":4,"leader":"n1","vote":"n1"}}"#,
            r#"{"index":0,"time":1,"process":3,"type":"ok","f":"status","value":{"role":"follower","term":4,"leader":null,"vote":null}}"#,
            r#"{"index":0,"time":1,"process":3,"type":"ok","f":"status","value":{"vote":"n1","vote":"n2","role":"leader"}}"#,
            r#"{"index":0,"time":1,"process":3,"type":"ok","f":"status","value":{"role":"leader","term":4,"leader":"n1","vote":"n1","commit":40,"last_index":41}}"#,
            r#"{"index":0,"time":1,"process":3,"type":"ok","f":"status","value":{"last_index":null,"commit":-1}}"#,
            r#"{"index":0,"time":1,"process":3,"type":"ok","f":"status","value":{"commit":9,"terms":[[1,1],[3,4]]}}"#,
            r#"{"index":0,"time":1,"process":3,"type":"ok","f":"status","value":{"terms":[[1,1,2]]}}"#,
            r#"{"index":0,"time":1,"process":3,"type":"ok","f":"status","value":{"terms":null}}"#,
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
        let logged = parse(br#"{"index":0,"time":1,"process":3,"type":"ok","f":"status","value":{"role":"leader","term":4,"commit":40,"last_index":41}}"#)
            .expect("a status with its log's indexes takes the fast path")
            .value
            .expect("a value");
        assert_eq!((logged.commit, logged.last_index), (Some(40), Some(41)));
        let voted = parse(br#"{"index":0,"time":1,"process":3,"type":"ok","f":"status","value":{"role":"follower","term":4,"vote":"n1"}}"#)
            .expect("a status with a vote takes the fast path");
        assert_eq!(
            voted.value.and_then(|v| v.vote).flatten().as_deref(),
            Some("n1")
        );
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

    /// One to three random edits of a line: a bit flipped, one of `inserts` inserted, or
    /// a byte dropped.
    fn mutate(l: &mut Vec<u8>, inserts: &[u8], rng: &mut crate::synth::Rng) {
        for _ in 0..1 + rng.below(3) {
            let at = rng.below(l.len() as u64 + 1) as usize;
            match rng.below(3) {
                0 if at < l.len() => l[at] ^= 1 << rng.below(8),
                1 => l.insert(at, inserts[rng.below(inserts.len() as u64) as usize]),
                _ if at < l.len() => drop(l.remove(at)),
                _ => {}
            }
        }
    }

    /// Lines another tool wrote, with keys no op has, at the top and inside `value`:
    /// the fast path reads them as serde does instead of handing them all to serde, and
    /// mutations of them still read alike or give up.
    #[test]
    fn extra_keys_stay_on_the_fast_path_and_read_as_serde_reads_them() {
        let mut bytes = Vec::new();
        crate::synth::generate_to(&crate::synth::SynthConfig::small(5, 2000), &mut bytes).unwrap();
        let extras = [
            r#""wall":"2026-12-05T00:00:00Z""#,
            r#""n":-12.5e+3"#,
            r#""tags":[true,false,null,0,[],{}]"#,
            r#""meta":{"a":[1,{"b":"c"}],"d":-0.0}"#,
            r#""é":"ünïcode""#,
        ];
        let mut rng = crate::synth::Rng::new(11);
        let mut lines = Vec::new();
        for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let text = std::str::from_utf8(line).unwrap();
            let extra = extras[rng.below(extras.len() as u64) as usize];
            // Before the closing brace of the op, and of its value when it has one.
            let mut with = format!("{},{extra}}}", &text[..text.len() - 1]);
            if let Some(at) = with.find(r#""value":{"#) {
                with.insert_str(at + r#""value":{"#.len(), &format!("{extra},"));
            }
            let slow = serde_json::from_str::<RawOp>(&with).unwrap();
            match parse(with.as_bytes()) {
                Some(fast) => assert_eq!(format!("{fast:?}"), format!("{slow:?}"), "{with}"),
                // Partitions and clock offsets are left to serde, extra keys or not.
                None => assert!(parse(line).is_none(), "gave up on {with}"),
            }
            lines.push(with.into_bytes());
        }
        for _ in 0..50_000 {
            let mut l = lines[rng.below(lines.len() as u64) as usize].clone();
            // JSON's own bytes, number bytes, and bytes that are not UTF-8.
            mutate(&mut l, b"\"{}[],:0-.eE \\\r\xc3\xff", &mut rng);
            if let Some(op) = parse(&l) {
                let slow = serde_json::from_slice::<RawOp>(&l).map(|op| format!("{op:?}"));
                assert_eq!(
                    Some(format!("{op:?}")),
                    slow.ok(),
                    "{}",
                    String::from_utf8_lossy(&l)
                );
                assert!(
                    std::str::from_utf8(&l).is_ok(),
                    "{}",
                    String::from_utf8_lossy(&l)
                );
            }
        }
    }

    /// Mutated synthetic lines (bit flips, JSON's own bytes and bytes that are not UTF-8
    /// inserted, bytes dropped): whatever the fast parser accepts, serde reads the same,
    /// and a line parsed in place with its newline after it reads as the line alone.
    #[test]
    fn mutated_lines_read_alike_in_place_and_alone() {
        let mut bytes = Vec::new();
        crate::synth::generate_to(&crate::synth::SynthConfig::small(5, 3000), &mut bytes).unwrap();
        let lines: Vec<&[u8]> = bytes
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        let mut rng = crate::synth::Rng::new(9);
        for _ in 0..100_000 {
            let mut l = lines[rng.below(lines.len() as u64) as usize].to_vec();
            // No newline among the inserts: a line never holds one.
            mutate(&mut l, b"\"{}[],:0 \\\r\xc3\xff", &mut rng);
            let alone = parse(&l).map(|op| format!("{op:?}"));
            if let Some(op) = &alone {
                let slow = serde_json::from_slice::<RawOp>(&l).map(|op| format!("{op:?}"));
                assert_eq!(
                    Some(op),
                    slow.ok().as_ref(),
                    "{}",
                    String::from_utf8_lossy(&l)
                );
            }
            let mut with_newline = l.clone();
            with_newline.extend_from_slice(b"\n{");
            if let Some((op, len)) = parse_prefix(&with_newline) {
                assert_eq!(len, l.len() + 1, "{}", String::from_utf8_lossy(&l));
                assert_eq!(Some(format!("{op:?}")), alone);
            }
        }
    }
}
