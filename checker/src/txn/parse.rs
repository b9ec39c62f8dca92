//! JSON Lines → [`TxnHistory`] (docs/history-format.md, "Transactional histories").
//!
//! Each line is one event of the usual envelope with `f: "txn"` and `value` an
//! array of micro-ops `[f, key, v]`: `["append", k, int]`, `["w", k, int]`,
//! `["r", k, null | int | [int…]]`. Invocations and completions pair per
//! process exactly as in the linearizability format; an invocation left
//! without a completion at the end of the file is an `info` transaction.
//! Errors name the 1-based line. Nothing is allocated from a length in the
//! input before the input itself has been read.

use super::{InputError, Mop, Txn, TxnHistory, TxnModel, TxnType};
use rustc_hash::FxHashMap;
use serde::Deserialize;
use std::borrow::Cow;
use std::io::BufRead;
use std::path::Path;

/// A micro-op's value: an integer or a list of integers (null is the
/// `Option` around it). Hand-written visitor: `#[serde(untagged)]` would
/// buffer every value and parse it twice (a third of the time on 1M-txn
/// histories).
enum RawV {
    Int(i64),
    List(Vec<i64>),
}

impl<'de> Deserialize<'de> for RawV {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RawV;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an integer, a list of integers or null")
            }
            fn visit_i64<E>(self, v: i64) -> Result<RawV, E> {
                Ok(RawV::Int(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<RawV, E> {
                i64::try_from(v)
                    .map(RawV::Int)
                    .map_err(|_| E::custom("integer out of range"))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<RawV, A::Error> {
                // Grows with the input actually read, never from a length.
                let mut out = Vec::new();
                while let Some(x) = seq.next_element::<i64>()? {
                    out.push(x);
                }
                Ok(RawV::List(out))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
struct RawMop<'a>(
    #[serde(borrow)] Cow<'a, str>,
    #[serde(borrow)] Cow<'a, str>,
    Option<RawV>,
);

#[derive(Deserialize)]
struct RawEvent<'a> {
    process: i64,
    #[serde(rename = "type", borrow)]
    ty: Cow<'a, str>,
    #[serde(borrow)]
    f: Cow<'a, str>,
    #[serde(default, borrow)]
    value: Option<Vec<RawMop<'a>>>,
    #[serde(default)]
    time: Option<i64>,
}

/// Where the first micro-op of each shape was seen, to tell a history's model
/// apart from the model it is checked against ([`TxnHistory::check_model`]).
#[derive(Clone, Debug, Default)]
pub struct Shapes {
    pub append: Option<u32>,
    pub write: Option<u32>,
    /// A read result that is an integer (register shape).
    pub scalar_read: Option<u32>,
    /// A read result that is an array (list shape).
    pub list_read: Option<u32>,
}

#[derive(Default)]
struct Builder {
    h: TxnHistory,
    key_ids: FxHashMap<String, u32>,
    in_flight: FxHashMap<i64, u32>,
    timed: Option<bool>,
}

impl Builder {
    fn key(&mut self, k: &str) -> u32 {
        if let Some(&id) = self.key_ids.get(k) {
            return id;
        }
        let id = self.h.keys.len() as u32;
        self.h.keys.push(k.to_string());
        self.key_ids.insert(k.to_string(), id);
        id
    }

    fn mops(
        &mut self,
        line: u32,
        raw: Vec<RawMop<'_>>,
        completion_ok: bool,
    ) -> Result<Vec<Mop>, InputError> {
        let mut out = Vec::with_capacity(raw.len());
        for (i, RawMop(f, k, v)) in raw.into_iter().enumerate() {
            let key = self.key(&k);
            let m = match (&*f, v) {
                ("append", Some(RawV::Int(v))) => {
                    self.h.shapes.append.get_or_insert(line);
                    Mop::Append { key, v }
                }
                ("w", Some(RawV::Int(v))) => {
                    self.h.shapes.write.get_or_insert(line);
                    Mop::Write { key, v }
                }
                ("append" | "w", other) => {
                    return Err(InputError::at(
                        line,
                        format!(
                            "micro-op {i}: {f:?} needs an integer value, got {}",
                            match other {
                                None => "null",
                                Some(_) => "a list",
                            }
                        ),
                    ))
                }
                ("r", v) => {
                    let value = if completion_ok {
                        Some(match v {
                            None => Vec::new(),
                            Some(RawV::Int(x)) => {
                                self.h.shapes.scalar_read.get_or_insert(line);
                                vec![x]
                            }
                            Some(RawV::List(l)) => {
                                self.h.shapes.list_read.get_or_insert(line);
                                l
                            }
                        })
                    } else {
                        None
                    };
                    Mop::Read { key, value }
                }
                (f, _) => {
                    return Err(InputError::at(
                        line,
                        format!("micro-op {i}: unknown f {f:?} (append, w or r)"),
                    ))
                }
            };
            out.push(m);
        }
        Ok(out)
    }

    fn push(&mut self, line: u32, ev: RawEvent<'_>) -> Result<(), InputError> {
        self.h.events += 1;
        if ev.f != "txn" {
            return Err(InputError::at(
                line,
                format!(
                    "f is {:?}; a transactional history has only \"txn\" events",
                    ev.f
                ),
            ));
        }
        match (self.timed, ev.time.is_some()) {
            (None, t) => self.timed = Some(t),
            (Some(a), b) if a != b => {
                return Err(InputError::at(
                    line,
                    "either every event has a time or none does",
                ))
            }
            _ => {}
        }
        let time = ev.time.unwrap_or(line as i64);
        let raw = ev.value.unwrap_or_default();
        match &*ev.ty {
            "invoke" => {
                if let Some(&prev) = self.in_flight.get(&ev.process) {
                    let pl = self.h.txns[prev as usize].line;
                    return Err(InputError::at(
                        line,
                        format!(
                            "process {} invokes while its transaction from line {pl} is still in flight",
                            ev.process
                        ),
                    ));
                }
                if raw.is_empty() {
                    return Err(InputError::at(line, "a transaction needs micro-ops"));
                }
                let mops = self.mops(line, raw, false)?;
                let index = self.h.txns.len() as u32;
                self.h.txns.push(Txn {
                    index,
                    process: ev.process,
                    ty: TxnType::Info,
                    mops,
                    call: time,
                    ret: None,
                    line,
                });
                self.in_flight.insert(ev.process, index);
            }
            ty @ ("ok" | "fail" | "info") => {
                let Some(id) = self.in_flight.remove(&ev.process) else {
                    return Err(InputError::at(
                        line,
                        format!(
                            "completion for process {} without an invocation",
                            ev.process
                        ),
                    ));
                };
                let call = self.h.txns[id as usize].call;
                if time < call {
                    return Err(InputError::at(line, "completion before its invocation"));
                }
                match ty {
                    "ok" => {
                        let mops = self.mops(line, raw, true)?;
                        let inv = &self.h.txns[id as usize].mops;
                        if mops.len() != inv.len() {
                            return Err(InputError::at(
                                line,
                                format!(
                                    "ok has {} micro-ops, its invocation (line {}) {}",
                                    mops.len(),
                                    self.h.txns[id as usize].line,
                                    inv.len()
                                ),
                            ));
                        }
                        for (i, (a, b)) in inv.iter().zip(&mops).enumerate() {
                            let same = match (a, b) {
                                (Mop::Read { key: x, .. }, Mop::Read { key: y, .. }) => x == y,
                                _ => a == b,
                            };
                            if !same {
                                return Err(InputError::at(
                                    line,
                                    format!("micro-op {i} differs from its invocation's"),
                                ));
                            }
                        }
                        let t = &mut self.h.txns[id as usize];
                        t.mops = mops;
                        t.ty = TxnType::Ok;
                        t.ret = Some(time);
                    }
                    "fail" => {
                        let t = &mut self.h.txns[id as usize];
                        t.ty = TxnType::Fail;
                        t.ret = Some(time);
                    }
                    _ => {} // info: stays open-ended
                }
            }
            other => {
                return Err(InputError::at(line, format!("unknown type {other:?}")));
            }
        }
        Ok(())
    }
}

fn push_line(b: &mut Builder, line_no: u32, line: &[u8]) -> Result<(), InputError> {
    if line.iter().all(|c| c.is_ascii_whitespace()) {
        return Ok(());
    }
    let ev: RawEvent = serde_json::from_slice(line)
        .map_err(|e| InputError::at(line_no, format!("bad JSON event: {e}")))?;
    b.push(line_no, ev)
}

/// Parses a JSON Lines transactional history from a reader (streaming).
pub fn parse_jsonl<R: BufRead>(mut r: R) -> Result<TxnHistory, InputError> {
    let mut b = Builder::default();
    let mut buf = Vec::with_capacity(1 << 10);
    let mut line_no = 0u32;
    loop {
        buf.clear();
        if r.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        line_no = line_no.saturating_add(1);
        push_line(&mut b, line_no, &buf)?;
    }
    Ok(b.h)
}

/// Parses a JSON Lines transactional history held in memory.
pub fn parse_jsonl_str(s: &str) -> Result<TxnHistory, InputError> {
    parse_jsonl(s.as_bytes())
}

/// Parses a JSON Lines transactional history file.
pub fn parse_jsonl_file(path: &Path) -> Result<TxnHistory, InputError> {
    let f = std::fs::File::open(path)?;
    parse_jsonl(std::io::BufReader::with_capacity(1 << 20, f))
}

impl TxnHistory {
    /// Refuses a history whose micro-ops belong to the other model (a `w` in
    /// a list-append history, an integer read result in one, an `append` or
    /// a list read result in an rw-register history), naming the line.
    pub fn check_model(&self, model: TxnModel) -> Result<(), InputError> {
        let s = &self.shapes;
        let bad = match model {
            TxnModel::ListAppend => s
                .write
                .map(|l| (l, "a \"w\" micro-op"))
                .or(s.scalar_read.map(|l| (l, "an integer read result"))),
            TxnModel::RwRegister => s
                .append
                .map(|l| (l, "an \"append\" micro-op"))
                .or(s.list_read.map(|l| (l, "a list read result"))),
        };
        match bad {
            Some((line, what)) => Err(InputError::at(
                line,
                format!("{what} does not belong to a {model} history"),
            )),
            None => Ok(()),
        }
    }
}

/// Parses a Jepsen/Elle EDN transactional history: a sequence of event maps
/// (or one vector of them) with `:type`, `:f :txn`, `:value [[:append k v]
/// [:r k nil|[…]] [:w k v] …]`, optional `:process` (missing = 0) and
/// `:time`. Events whose `:process` is not an integer (the nemesis) are
/// skipped; keys may be integers, keywords or strings.
pub fn parse_edn_str(s: &str) -> Result<TxnHistory, InputError> {
    use crate::edn::{key_string, parse_forms, Edn};
    let mut forms = parse_forms(s)?;
    if forms.len() == 1 && matches!(forms[0].1, Edn::Vector(_) | Edn::List(_)) {
        let (line, v) = forms.remove(0);
        if let Edn::Vector(items) | Edn::List(items) = v {
            forms = items.into_iter().map(|e| (line, e)).collect();
        }
    }
    let mut b = Builder::default();
    for (line, ev) in forms {
        let process = match ev.get("process") {
            None => 0,
            Some(Edn::Int(p)) => *p,
            Some(_) => continue, // :nemesis
        };
        let kw = |k: &str| match ev.get(k) {
            Some(Edn::Keyword(s)) => Some(s.clone()),
            _ => None,
        };
        let ty = kw("type").ok_or_else(|| InputError::at(line, "event without a :type keyword"))?;
        let f = kw("f").unwrap_or_else(|| "txn".into());
        let time = match ev.get("time") {
            Some(Edn::Int(t)) => Some(*t),
            _ => None,
        };
        let mut mops = Vec::new();
        if let Some(Edn::Vector(ms) | Edn::List(ms)) = ev.get("value") {
            for m in ms {
                let (Edn::Vector(parts) | Edn::List(parts)) = m else {
                    return Err(InputError::at(line, "a micro-op must be a vector [f k v]"));
                };
                let [mf, k, v] = parts.as_slice() else {
                    return Err(InputError::at(line, "a micro-op must be a vector [f k v]"));
                };
                let mf = match mf {
                    Edn::Keyword(s) | Edn::Symbol(s) | Edn::Str(s) => s.clone(),
                    _ => return Err(InputError::at(line, "micro-op f must be a keyword")),
                };
                let v = match v {
                    Edn::Nil => None,
                    Edn::Int(i) => Some(RawV::Int(*i)),
                    Edn::Vector(xs) | Edn::List(xs) => Some(RawV::List(
                        xs.iter()
                            .map(|x| match x {
                                Edn::Int(i) => Ok(*i),
                                other => Err(InputError::at(
                                    line,
                                    format!("read results must be integers, got {other:?}"),
                                )),
                            })
                            .collect::<Result<_, _>>()?,
                    )),
                    other => {
                        return Err(InputError::at(
                            line,
                            format!("micro-op values must be integers, got {other:?}"),
                        ))
                    }
                };
                mops.push(RawMop(Cow::Owned(mf), Cow::Owned(key_string(k)), v));
            }
        }
        b.push(
            line,
            RawEvent {
                process,
                ty: Cow::Owned(ty),
                f: Cow::Owned(f),
                value: Some(mops),
                time,
            },
        )?;
    }
    Ok(b.h)
}
