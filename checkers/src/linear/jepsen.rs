//! Jepsen's `history.edn`, read as it is, as splitbrain ops for the `cas-register`
//! model, so that a Jepsen run can be checked with `splitbrain check --format
//! jepsen-edn`.
//!
//! The file is a sequence of EDN maps, one per op (one a line, as Jepsen writes it; a
//! single vector of maps is accepted too), such as
//! `{:type :invoke, :f :cas, :value [1 2], :process 3, :time 123, :index 7}`:
//! - `:type` is `:invoke`, `:ok`, `:fail` or `:info`; `:process` an integer, and ops of
//!   any other process (`:nemesis`) are skipped.
//! - `:f` is `:read`, `:write` or `:cas`; client ops of any other `:f` are skipped.
//! - `:value`: a read's is `nil` when invoked and an integer or `nil` when `:ok`; a
//!   write's an integer; a cas's `[from to]`. That is one register, named `0`. Jepsen's
//!   independent keys (`jepsen.independent`) write `[k v]` tuples instead, v as above:
//!   each k is its own register, named as k is written (`3`, `:x`, `"x"`). A file is one
//!   or the other.
//! - Order in the file is real-time order, as Jepsen records it: `:time` is not needed.
//!   An op is cited by its `:index`, or by its position among the file's ops (from 0)
//!   when it has none.
//! - Any other key, and any EDN inside (`:error`, exceptions, tagged literals), is read
//!   and ignored.

use super::history::{cas_register, Converted};
use super::model::{RegInput, RegOutput};
use crate::history::{Op, OpType, Process, Value, F};

/// An EDN value, as far as a history needs one.
#[derive(Clone, Debug, PartialEq)]
pub enum Edn {
    Nil,
    Bool(bool),
    Int(i64),
    /// Floats, big numbers, characters: kept as written.
    Other(String),
    Str(String),
    Keyword(String),
    Symbol(String),
    Vector(Vec<Edn>),
    List(Vec<Edn>),
    Set(Vec<Edn>),
    Map(Vec<(Edn, Edn)>),
    Tagged(String, Box<Edn>),
}

impl Edn {
    fn get(&self, key: &str) -> Option<&Edn> {
        match self {
            Edn::Map(entries) => entries
                .iter()
                .find(|(k, _)| matches!(k, Edn::Keyword(s) if s == key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// As EDN writes it, for names and messages.
    pub fn show(&self) -> String {
        let seq = |open: &str, items: &[Edn], close: &str| {
            let inner: Vec<String> = items.iter().map(Edn::show).collect();
            format!("{open}{}{close}", inner.join(" "))
        };
        match self {
            Edn::Nil => "nil".into(),
            Edn::Bool(b) => b.to_string(),
            Edn::Int(i) => i.to_string(),
            Edn::Other(s) | Edn::Symbol(s) => s.clone(),
            Edn::Str(s) => format!("{s:?}"),
            Edn::Keyword(k) => format!(":{k}"),
            Edn::Vector(v) => seq("[", v, "]"),
            Edn::List(v) => seq("(", v, ")"),
            Edn::Set(v) => seq("#{", v, "}"),
            Edn::Map(m) => {
                let inner: Vec<String> = m
                    .iter()
                    .map(|(k, v)| format!("{} {}", k.show(), v.show()))
                    .collect();
                format!("{{{}}}", inner.join(", "))
            }
            Edn::Tagged(t, v) => format!("#{t} {}", v.show()),
        }
    }
}

/// A reader of EDN text: every top-level form with the line it starts on.
struct Reader<'a> {
    text: &'a [u8],
    at: usize,
    line: usize,
}

type Parsed<T> = Result<T, String>;

impl<'a> Reader<'a> {
    fn new(text: &'a str) -> Reader<'a> {
        Reader {
            text: text.as_bytes(),
            at: 0,
            line: 1,
        }
    }

    fn fail<T>(&self, why: &str) -> Parsed<T> {
        Err(format!("line {}: {why}", self.line))
    }

    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.at += 1;
        if c == b'\n' {
            self.line += 1;
        }
        Some(c)
    }

    /// Skips whitespace, commas, comments and `#_` discarded forms.
    fn skip(&mut self) -> Parsed<()> {
        loop {
            match self.peek() {
                Some(c) if c.is_ascii_whitespace() || c == b',' => {
                    self.bump();
                }
                Some(b';') => while !matches!(self.bump(), None | Some(b'\n')) {},
                Some(b'#') if self.text.get(self.at + 1) == Some(&b'_') => {
                    self.at += 2;
                    self.form()?;
                }
                _ => return Ok(()),
            }
        }
    }

    /// The next top-level form and its first line, or `None` at the end.
    fn next_top(&mut self) -> Parsed<Option<(usize, Edn)>> {
        self.skip()?;
        if self.peek().is_none() {
            return Ok(None);
        }
        let line = self.line;
        Ok(Some((line, self.form()?)))
    }

    fn form(&mut self) -> Parsed<Edn> {
        self.skip()?;
        let Some(c) = self.peek() else {
            return self.fail("the file ends inside a form");
        };
        match c {
            b'{' => {
                self.bump();
                let items = self.items(b'}')?;
                if items.len() % 2 != 0 {
                    return self.fail("a map with a key and no value");
                }
                let mut it = items.into_iter();
                let mut entries = Vec::new();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    entries.push((k, v));
                }
                Ok(Edn::Map(entries))
            }
            b'[' => {
                self.bump();
                Ok(Edn::Vector(self.items(b']')?))
            }
            b'(' => {
                self.bump();
                Ok(Edn::List(self.items(b')')?))
            }
            b'"' => self.string(),
            b'\\' => {
                // A character: \a, \newline, \u0041.
                let start = self.at;
                self.bump();
                self.bump();
                while self.peek().is_some_and(|c| c.is_ascii_alphanumeric()) {
                    self.bump();
                }
                Ok(Edn::Other(self.slice(start)))
            }
            b'#' => {
                self.bump();
                match self.peek() {
                    Some(b'{') => {
                        self.bump();
                        Ok(Edn::Set(self.items(b'}')?))
                    }
                    Some(c) if is_symbol_char(c) => {
                        let tag = self.token();
                        let value = self.form()?;
                        Ok(Edn::Tagged(tag, Box::new(value)))
                    }
                    _ => self.fail("`#` not followed by `{`, `_` or a tag"),
                }
            }
            b'}' | b']' | b')' => self.fail(&format!("unmatched `{}`", c as char)),
            _ if is_symbol_char(c) => {
                let t = self.token();
                Ok(atom(t))
            }
            _ => self.fail(&format!("unexpected `{}`", c as char)),
        }
    }

    fn items(&mut self, close: u8) -> Parsed<Vec<Edn>> {
        let mut items = Vec::new();
        loop {
            self.skip()?;
            match self.peek() {
                None => return self.fail(&format!("`{}` never closed", close as char)),
                Some(c) if c == close => {
                    self.bump();
                    return Ok(items);
                }
                Some(_) => items.push(self.form()?),
            }
        }
    }

    fn string(&mut self) -> Parsed<Edn> {
        self.bump();
        let mut out = Vec::new();
        loop {
            match self.bump() {
                None => return self.fail("a string never closed"),
                Some(b'"') => break,
                Some(b'\\') => match self.bump() {
                    Some(b'n') => out.push(b'\n'),
                    Some(b't') => out.push(b'\t'),
                    Some(b'r') => out.push(b'\r'),
                    Some(c) => out.push(c),
                    None => return self.fail("a string never closed"),
                },
                Some(c) => out.push(c),
            }
        }
        String::from_utf8(out)
            .map(Edn::Str)
            .or_else(|_| self.fail("a string that is not UTF-8"))
    }

    fn token(&mut self) -> String {
        let start = self.at;
        while self.peek().is_some_and(is_symbol_char) {
            self.bump();
        }
        self.slice(start)
    }

    fn slice(&self, start: usize) -> String {
        String::from_utf8_lossy(&self.text[start..self.at]).into_owned()
    }
}

fn is_symbol_char(c: u8) -> bool {
    !c.is_ascii_whitespace() && !b",;()[]{}\"\\".contains(&c)
}

fn atom(t: String) -> Edn {
    match t.as_str() {
        "nil" => Edn::Nil,
        "true" => Edn::Bool(true),
        "false" => Edn::Bool(false),
        _ if t.starts_with(':') => Edn::Keyword(t[1..].to_string()),
        _ => match t.parse::<i64>() {
            Ok(i) => Edn::Int(i),
            Err(_) if t.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '+') => {
                Edn::Other(t)
            }
            Err(_) => Edn::Symbol(t),
        },
    }
}

/// Every top-level form of `text` with the line it starts on; a file that is one vector
/// of maps gives its elements (each with the vector's line).
pub fn read_forms(text: &str) -> Result<Vec<(usize, Edn)>, String> {
    let mut reader = Reader::new(text);
    let mut forms = Vec::new();
    while let Some(form) = reader.next_top()? {
        forms.push(form);
    }
    if let [(line, Edn::Vector(items))] = forms.as_slice() {
        let line = *line;
        return Ok(items.iter().cloned().map(|e| (line, e)).collect());
    }
    Ok(forms)
}

/// The register ops of a Jepsen history, for [`CasRegister`](super::CasRegister),
/// with each op's line for messages. Bad input names the line and op.
pub fn cas_register_edn(text: &str) -> Result<Converted<RegInput, RegOutput>, String> {
    let forms = read_forms(text)?;
    let mut ops = Vec::new();
    let mut lines = std::collections::HashMap::new();
    let mut keyed: Option<(bool, usize)> = None; // independent keys?, first line
    for (position, (line, form)) in forms.iter().enumerate() {
        let at = |why: &str| format!("line {line} (op {position}): {why}");
        if !matches!(form, Edn::Map(_)) {
            return Err(at(&format!("not a map: {}", clip(&form.show()))));
        }
        let index = match form.get("index") {
            Some(Edn::Int(i)) if *i >= 0 => *i as u64,
            _ => position as u64,
        };
        let process = match form.get("process") {
            Some(Edn::Int(p)) if *p >= 0 => *p as u64,
            Some(Edn::Int(_)) => return Err(at(":process: a negative process")),
            Some(_) => continue, // :nemesis, or any other named process
            None => return Err(at("no :process")),
        };
        let kind = match form.get("type") {
            Some(Edn::Keyword(k)) => match k.as_str() {
                "invoke" => OpType::Invoke,
                "ok" => OpType::Ok,
                "fail" => OpType::Fail,
                "info" => OpType::Info,
                _ => return Err(at(&format!(":type: unknown :{k}"))),
            },
            Some(other) => return Err(at(&format!(":type: not a keyword: {}", other.show()))),
            None => return Err(at("no :type")),
        };
        let f = match form.get("f") {
            Some(Edn::Keyword(f)) if f == "read" => F::Read,
            Some(Edn::Keyword(f)) if f == "write" => F::Write,
            Some(Edn::Keyword(f)) if f == "cas" => F::Cas,
            _ => continue,
        };
        let raw = form.get("value").unwrap_or(&Edn::Nil);
        // A value is keyed when it is a [k v] tuple: for read and write any vector; for a
        // cas, a vector whose second element is itself the [from to] vector.
        let tuple = match (f, raw) {
            (F::Cas, Edn::Vector(v)) => v.len() == 2 && matches!(v[1], Edn::Vector(_)),
            (_, Edn::Vector(_)) => true,
            _ => false,
        };
        match keyed {
            None => keyed = Some((tuple, *line)),
            Some((k, first)) if k != tuple => {
                return Err(at(&format!(
                    ":value: {} here, but line {first} {}: a file is one register or independent keys",
                    if tuple { "a [key value] tuple" } else { "a plain register value" },
                    if k { "has a [key value] tuple" } else { "has a plain register value" }
                )));
            }
            Some(_) => {}
        }
        let (key, value) = if tuple {
            match raw {
                Edn::Vector(v) if v.len() == 2 => (key_name(&v[0]), &v[1]),
                _ => return Err(at(":value: a [key value] tuple has two elements")),
            }
        } else {
            ("0".to_string(), raw)
        };
        let int = |e: &Edn, what: &str| match e {
            Edn::Int(i) => Ok(*i),
            other => Err(at(&format!(
                ":value: {what} must be an integer, not {}",
                clip(&other.show())
            ))),
        };
        let mut v = Value {
            key: Some(key),
            ..Value::default()
        };
        match f {
            F::Read => match (kind, value) {
                (OpType::Ok, Edn::Nil) => v.value = Some(None),
                (OpType::Ok, e) => {
                    v.value = Some(Some(int(e, "an ok read's value (or nil)")?.into()))
                }
                _ => {}
            },
            F::Write => v.value = Some(Some(int(value, "a write's value")?.into())),
            _ => match value {
                Edn::Vector(p) if p.len() == 2 => {
                    v.from = Some(Some(int(&p[0], "a cas's from")?.into()));
                    v.to = Some(Some(int(&p[1], "a cas's to")?.into()));
                }
                other => {
                    return Err(at(&format!(
                        ":value: a cas's value is [from to], not {}",
                        clip(&other.show())
                    )))
                }
            },
        }
        lines.insert(index, *line);
        ops.push(Op {
            index,
            time: position as u64,
            process: Process::Client(process),
            kind,
            f,
            node: None,
            value: Some(v),
            error: None,
        });
    }
    // Pairing errors name the op by its index: add its line.
    cas_register(&ops).map_err(|e| {
        let index = e
            .strip_prefix("op ")
            .and_then(|r| r.split(' ').next())
            .and_then(|i| i.parse::<u64>().ok());
        match index.and_then(|i| lines.get(&i)) {
            Some(line) => format!("line {line}: {e}"),
            None => e,
        }
    })
}

/// A key as EDN writes it, strings without their quotes.
fn key_name(k: &Edn) -> String {
    match k {
        Edn::Str(s) => s.clone(),
        other => other.show(),
    }
}

fn clip(s: &str) -> String {
    match s.char_indices().nth(80) {
        Some((cut, _)) => format!("{}...", &s[..cut]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linear::{check, CasRegister, CheckOptions, Model, Verdict};

    const WRITE_THEN_READ: &str = r#"{:type :invoke, :f :write, :value 1, :process 0, :time 10, :index 0}
{:type :ok, :f :write, :value 1, :process 0, :time 20, :index 1}
{:type :info, :f :start-partition, :value nil, :process :nemesis, :time 25, :index 2}
{:type :invoke, :f :read, :value nil, :process 1, :time 30, :index 3}
{:type :ok, :f :read, :value READ, :process 1, :time 40, :index 4}
"#;

    fn verdict(text: &str) -> (Option<bool>, Converted<RegInput, RegOutput>) {
        let c = cas_register_edn(text).unwrap();
        let r = check(&CasRegister, &c.ops, &CheckOptions::default());
        (r.linearizable(), c)
    }

    #[test]
    fn a_read_of_a_value_never_written_after_a_write_completed_is_refused() {
        assert_eq!(verdict(&WRITE_THEN_READ.replace("READ", "1")).0, Some(true));
        let text = WRITE_THEN_READ.replace("READ", "2");
        let c = cas_register_edn(&text).unwrap();
        let r = check(&CasRegister, &c.ops, &CheckOptions::default());
        let Verdict::NotLinearizable(cx) = &r.keys[0].verdict else {
            panic!("{:?}", r.keys[0].verdict)
        };
        assert_eq!(r.keys[0].key, "0");
        let cited: Vec<u64> = cx.required.iter().map(|&i| c.indices[i].0).collect();
        assert_eq!(cited, vec![3], "no write of 2: the read alone is enough");
    }

    #[test]
    fn independent_keys_cas_info_fail_and_jepsen_noise_are_read() {
        let text = r#"; a comment
[{:type :invoke, :f :write, :value [:x 1], :process 0, :time 1}
 {:type :ok, :f :write, :value [:x 1], :process 0, :time 2}
 {:type :invoke, :f :cas, :value [:x [1 2]], :process 1, :time 3}
 {:type :info, :f :cas, :value [:x [1 2]], :process 1, :time 4, :error [:timeout "no answer, \"sorry\""]}
 {:type :invoke, :f :write, :value ["y" 5], :process 2, :time 5}
 {:type :fail, :f :write, :value ["y" 5], :process 2, :time 6, :error #{:a :b} #_ :discarded}
 {:type :invoke, :f :read, :value [:x nil], :process 3, :time 7}
 {:type :ok, :f :read, :value [:x 2], :process 3, :time 8, :exception #object[java.lang.Thing 0x1 "x"]}
 {:type :invoke, :f :read, :value ["y" nil], :process 4, :time 9}
 {:type :ok, :f :read, :value ["y" nil], :process 4, :time 10, :f2 \a, :x 1.5}]
"#;
        let (v, c) = verdict(text);
        assert_eq!(v, Some(true));
        assert_eq!(c.ops.len(), 4, "the failed write is left out");
        let keys: Vec<String> = c.ops.iter().map(|o| CasRegister.key(&o.input)).collect();
        assert_eq!(keys, [":x", ":x", ":x", "y"]);
    }

    #[test]
    fn bad_input_names_its_line_and_op() {
        let e = cas_register_edn(&WRITE_THEN_READ.replace("READ", "\"two\"")).unwrap_err();
        assert!(e.starts_with("line 5 (op 4): :value"), "{e}");
        let e = cas_register_edn("{:type :ok, :f :read\n :value [1 2}").unwrap_err();
        assert!(e.starts_with("line 2:"), "{e}");
        let e = cas_register_edn("{:type :invoke, :f :write, :value 1, :process 0}\n{:type :invoke, :f :write, :value [:k 1], :process 1}").unwrap_err();
        assert!(e.contains("line 2 (op 1)") && e.contains("line 1"), "{e}");
        let e = cas_register_edn("{:type :invoke, :f :cas, :value 3, :process 0}").unwrap_err();
        assert!(e.contains("[from to]"), "{e}");
    }
}
