//! Minimal EDN reader for Jepsen/Knossos histories: maps, keywords, symbols,
//! vectors, lists, sets, strings, integers, floats, booleans, nil, comments,
//! `#_` discards and tagged literals (tag ignored).

use crate::history::{EventType, History, HistoryBuilder, InputError};
use crate::op::Val;
use std::sync::Arc;

#[derive(Clone, Debug, PartialEq)]
pub enum Edn {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Keyword(String),
    Symbol(String),
    Vector(Vec<Edn>),
    List(Vec<Edn>),
    Set(Vec<Edn>),
    Map(Vec<(Edn, Edn)>),
}

impl Edn {
    pub fn get(&self, kw: &str) -> Option<&Edn> {
        match self {
            Edn::Map(kv) => kv.iter().find_map(|(k, v)| match k {
                Edn::Keyword(k) if k == kw => Some(v),
                _ => None,
            }),
            _ => None,
        }
    }
}

struct Reader<'a> {
    s: &'a [u8],
    pos: usize,
    line: u32,
}

impl<'a> Reader<'a> {
    fn err(&self, msg: impl Into<String>) -> InputError {
        InputError::at(self.line, msg)
    }

    fn skip_ws(&mut self) {
        while self.pos < self.s.len() {
            let c = self.s[self.pos];
            if c == b'\n' {
                self.line += 1;
                self.pos += 1;
            } else if c.is_ascii_whitespace() || c == b',' {
                self.pos += 1;
            } else if c == b';' {
                while self.pos < self.s.len() && self.s[self.pos] != b'\n' {
                    self.pos += 1;
                }
            } else {
                break;
            }
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn is_delim(c: u8) -> bool {
        c.is_ascii_whitespace()
            || matches!(
                c,
                b',' | b'(' | b')' | b'[' | b']' | b'{' | b'}' | b'"' | b';'
            )
    }

    fn token(&mut self) -> &'a str {
        let start = self.pos;
        while self.pos < self.s.len() && !Self::is_delim(self.s[self.pos]) {
            self.pos += 1;
        }
        std::str::from_utf8(&self.s[start..self.pos]).unwrap_or("")
    }

    fn seq(&mut self, close: u8) -> Result<Vec<Edn>, InputError> {
        let mut out = Vec::new();
        loop {
            self.skip_ws();
            match self.peek() {
                None => {
                    return Err(self.err(format!(
                        "unterminated collection, expected '{}'",
                        close as char
                    )))
                }
                Some(c) if c == close => {
                    self.pos += 1;
                    return Ok(out);
                }
                _ => {
                    if let Some(v) = self.read()? {
                        out.push(v)
                    }
                }
            }
        }
    }

    /// Reads one form; `Ok(None)` for a `#_` discarded form.
    fn read(&mut self) -> Result<Option<Edn>, InputError> {
        self.skip_ws();
        let Some(c) = self.peek() else {
            return Err(self.err("unexpected end of input"));
        };
        let v = match c {
            b'{' => {
                self.pos += 1;
                let items = self.seq(b'}')?;
                if items.len() % 2 != 0 {
                    return Err(self.err("map with an odd number of forms"));
                }
                let mut kv = Vec::with_capacity(items.len() / 2);
                let mut it = items.into_iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    kv.push((k, v));
                }
                Edn::Map(kv)
            }
            b'[' => {
                self.pos += 1;
                Edn::Vector(self.seq(b']')?)
            }
            b'(' => {
                self.pos += 1;
                Edn::List(self.seq(b')')?)
            }
            b'"' => {
                self.pos += 1;
                let mut out = Vec::new();
                loop {
                    let Some(c) = self.peek() else {
                        return Err(self.err("unterminated string"));
                    };
                    self.pos += 1;
                    match c {
                        b'"' => break,
                        b'\\' => {
                            let e = self.peek().ok_or_else(|| self.err("unterminated string"))?;
                            self.pos += 1;
                            out.push(match e {
                                b'n' => b'\n',
                                b't' => b'\t',
                                b'r' => b'\r',
                                other => other,
                            });
                        }
                        b'\n' => {
                            self.line += 1;
                            out.push(c)
                        }
                        _ => out.push(c),
                    }
                }
                Edn::Str(String::from_utf8(out).map_err(|_| self.err("string is not UTF-8"))?)
            }
            b':' => {
                self.pos += 1;
                Edn::Keyword(self.token().to_string())
            }
            b'#' => {
                self.pos += 1;
                match self.peek() {
                    Some(b'{') => {
                        self.pos += 1;
                        Edn::Set(self.seq(b'}')?)
                    }
                    Some(b'_') => {
                        self.pos += 1;
                        self.read()?;
                        return Ok(None);
                    }
                    _ => {
                        // Tagged literal: ignore the tag, keep the form.
                        self.token();
                        return self.read();
                    }
                }
            }
            b')' | b']' | b'}' => return Err(self.err(format!("unexpected '{}'", c as char))),
            _ => {
                let t = self.token();
                if t.is_empty() {
                    return Err(self.err(format!("unexpected character '{}'", c as char)));
                }
                match t {
                    "nil" => Edn::Nil,
                    "true" => Edn::Bool(true),
                    "false" => Edn::Bool(false),
                    _ => {
                        let first = t.as_bytes()[0];
                        let numeric = first.is_ascii_digit()
                            || ((first == b'-' || first == b'+')
                                && t.len() > 1
                                && t.as_bytes()[1].is_ascii_digit());
                        if numeric {
                            let tt = t.trim_end_matches('N');
                            if let Ok(i) = tt.parse::<i64>() {
                                Edn::Int(i)
                            } else if let Ok(f) = t.trim_end_matches('M').parse::<f64>() {
                                Edn::Float(f)
                            } else {
                                return Err(self.err(format!("bad number {t:?}")));
                            }
                        } else {
                            Edn::Symbol(t.to_string())
                        }
                    }
                }
            }
        };
        Ok(Some(v))
    }
}

/// Parses all top-level forms, each with the line it starts on.
pub fn parse_forms(s: &str) -> Result<Vec<(u32, Edn)>, InputError> {
    let mut r = Reader {
        s: s.as_bytes(),
        pos: 0,
        line: 1,
    };
    let mut out = Vec::new();
    loop {
        r.skip_ws();
        if r.pos >= r.s.len() {
            return Ok(out);
        }
        let line = r.line;
        if let Some(v) = r.read()? {
            out.push((line, v));
        }
    }
}

/// An EDN value as a history value (keywords and symbols become strings).
pub(crate) fn to_val(e: &Edn, line: u32) -> Result<Val, InputError> {
    Ok(match e {
        Edn::Nil => Val::Null,
        Edn::Int(i) => Val::Int(*i),
        Edn::Str(s) | Edn::Keyword(s) | Edn::Symbol(s) => Val::Str(Arc::from(s.as_str())),
        Edn::Bool(b) => Val::Str(Arc::from(if *b { "true" } else { "false" })),
        Edn::Vector(v) | Edn::List(v) => Val::List(
            v.iter()
                .map(|x| to_val(x, line))
                .collect::<Result<Vec<_>, _>>()?
                .into(),
        ),
        other => return Err(InputError::at(line, format!("unsupported value {other:?}"))),
    })
}

pub(crate) fn key_string(e: &Edn) -> String {
    match e {
        Edn::Str(s) | Edn::Keyword(s) | Edn::Symbol(s) => s.clone(),
        Edn::Int(i) => i.to_string(),
        Edn::Nil => String::new(),
        other => format!("{other:?}"),
    }
}

/// Parses a Jepsen/Knossos EDN history: a sequence of event maps, or one
/// vector/list of them. Events whose `:process` is not an integer (e.g.
/// `:nemesis`) are skipped. The line of each event is its first line.
pub fn parse_edn_history(s: &str) -> Result<History, InputError> {
    let mut forms = parse_forms(s)?;
    if forms.len() == 1 && matches!(forms[0].1, Edn::Vector(_) | Edn::List(_)) {
        let (line, f) = forms.pop().unwrap_or((1, Edn::Nil));
        if let Edn::Vector(v) | Edn::List(v) = f {
            // Nested events have no own line; number them by position.
            forms = v
                .into_iter()
                .enumerate()
                .map(|(i, e)| (line + i as u32, e))
                .collect();
        }
    }
    let mut b = HistoryBuilder::new();
    for (line, ev) in forms {
        if !matches!(ev, Edn::Map(_)) {
            return Err(InputError::at(line, "expected an event map"));
        }
        let process = match ev.get("process") {
            Some(Edn::Int(p)) => *p,
            Some(_) => {
                b.skip_event();
                continue;
            }
            None => return Err(InputError::at(line, "event without :process")),
        };
        let ty = match ev.get("type") {
            Some(Edn::Keyword(t)) => EventType::parse(t)
                .ok_or_else(|| InputError::at(line, format!("unknown type :{t}")))?,
            _ => return Err(InputError::at(line, "event without a keyword :type")),
        };
        let f = match ev.get("f") {
            Some(Edn::Keyword(f)) | Some(Edn::Str(f)) | Some(Edn::Symbol(f)) => f.clone(),
            _ => return Err(InputError::at(line, "event without :f")),
        };
        let key = ev.get("key").map(key_string);
        let value = match ev.get("value") {
            Some(v) => Some(to_val(v, line)?),
            None => None,
        };
        let time = match ev.get("time") {
            Some(Edn::Int(t)) => Some(*t),
            _ => None,
        };
        let has_error = matches!(ev.get("error"), Some(e) if *e != Edn::Nil);
        b.push(
            line,
            process,
            ty,
            &f,
            key.as_deref(),
            value,
            time,
            has_error,
        )?;
    }
    Ok(b.finish())
}
