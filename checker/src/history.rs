//! Events → operations: JSON Lines parsing, validation with line numbers.
//!
//! See `docs/history-format.md` for the format. Parsing is streaming: each
//! line is deserialized into a borrowed [`RawEvent`] and folded into a
//! [`HistoryBuilder`], which pairs invocations with completions per process.

use crate::op::{Input, Op, OpKind, Output, Val};
use rustc_hash::FxHashMap;
use serde::de::{self, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::Deserialize;
use std::borrow::Cow;
use std::fmt;
use std::io::BufRead;
use std::sync::Arc;

/// Unusable input, with the 1-based line (or EDN event index) where it was found.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("line {line}: {msg}")]
    Malformed { line: u32, msg: String },
    #[error("cannot read history: {0}")]
    Io(#[from] std::io::Error),
}

impl InputError {
    pub fn at(line: u32, msg: impl Into<String>) -> InputError {
        InputError::Malformed {
            line,
            msg: msg.into(),
        }
    }
}

/// Event type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Invoke,
    Ok,
    Fail,
    Info,
}

impl EventType {
    pub fn parse(s: &str) -> Option<EventType> {
        Some(match s {
            "invoke" => EventType::Invoke,
            "ok" => EventType::Ok,
            "fail" => EventType::Fail,
            "info" => EventType::Info,
            _ => return None,
        })
    }
}

/// A parsed history: completed and indeterminate operations, keys interned.
#[derive(Clone, Debug, Default)]
pub struct History {
    /// Operations in invocation order (`ops[i].id == i`). Dropped ops (`fail`
    /// with no observation, indeterminate reads) are not included.
    pub ops: Vec<Op>,
    /// Key names; `Op::key` indexes this.
    pub keys: Vec<String>,
    pub stats: HistoryStats,
}

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct HistoryStats {
    /// Lines/events read (including skipped nemesis events).
    pub events: usize,
    /// Ops that completed `ok` (or `fail` cas observations).
    pub ok: usize,
    /// Ops dropped because they failed (no effect, nothing observed).
    pub failed_dropped: usize,
    /// Indeterminate ops kept (`info` or never completed).
    pub info: usize,
    /// Indeterminate pure reads dropped (they constrain nothing).
    pub info_reads_dropped: usize,
}

impl History {
    pub fn key_name(&self, key: u32) -> &str {
        self.keys
            .get(key as usize)
            .map(String::as_str)
            .unwrap_or("?")
    }
}

/// Incrementally builds a [`History`] from events.
#[derive(Default)]
pub struct HistoryBuilder {
    ops: Vec<Op>,
    dropped: Vec<bool>,
    keys: Vec<String>,
    key_ids: FxHashMap<String, u32>,
    in_flight: FxHashMap<i64, u32>,
    timed: Option<bool>,
    stats: HistoryStats,
}

fn input_for(kind: OpKind, value: Val, line: u32) -> Result<Input, InputError> {
    Ok(match kind {
        OpKind::Read => Input::Read,
        OpKind::LRange => Input::LRange,
        OpKind::Delete => Input::Delete,
        OpKind::Write => Input::Write(value),
        OpKind::RPush => Input::RPush(value),
        OpKind::Append => match value {
            Val::Str(_) | Val::Int(_) => Input::Append(value),
            other => {
                return Err(InputError::at(
                    line,
                    format!("append needs a string value, got {other}"),
                ))
            }
        },
        OpKind::Incr => match value {
            Val::Int(d) => Input::Incr(d),
            Val::Null => Input::Incr(1),
            other => {
                return Err(InputError::at(
                    line,
                    format!("incr needs an integer delta, got {other}"),
                ))
            }
        },
        OpKind::Cas => match value {
            Val::List(l) if l.len() == 2 => Input::Cas(l[0].clone(), l[1].clone()),
            other => {
                return Err(InputError::at(
                    line,
                    format!("cas needs a value [expected, new], got {other}"),
                ))
            }
        },
    })
}

fn ok_output(kind: OpKind, value: Option<Val>, line: u32) -> Result<Output, InputError> {
    Ok(match kind {
        OpKind::Read => Output::Value(value.unwrap_or(Val::Null)),
        OpKind::LRange => match value {
            None | Some(Val::Null) => Output::Value(Val::List(Arc::from(Vec::new()))),
            Some(v @ Val::List(_)) => Output::Value(v),
            Some(other) => {
                return Err(InputError::at(
                    line,
                    format!("lrange result must be an array, got {other}"),
                ))
            }
        },
        OpKind::Write => Output::Done,
        OpKind::Cas => Output::CasOk,
        OpKind::Delete | OpKind::Incr | OpKind::Append | OpKind::RPush => match value {
            Some(Val::Int(n)) => {
                if kind == OpKind::Delete && !(0..=1).contains(&n) {
                    return Err(InputError::at(
                        line,
                        format!("delete of one key returned {n}"),
                    ));
                }
                Output::Count(n)
            }
            // Unchecked completion (e.g. append echoing its argument).
            _ => Output::Any,
        },
    })
}

impl HistoryBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    fn intern_key(&mut self, key: &str) -> u32 {
        if let Some(&id) = self.key_ids.get(key) {
            return id;
        }
        let id = self.keys.len() as u32;
        self.keys.push(key.to_string());
        self.key_ids.insert(key.to_string(), id);
        id
    }

    /// Counts an event that carries no operation (e.g. a nemesis event).
    pub fn skip_event(&mut self) {
        self.stats.events += 1;
    }

    /// Adds one event. `process == None` is a nemesis/non-client event and is skipped.
    #[allow(clippy::too_many_arguments)]
    pub fn push(
        &mut self,
        line: u32,
        process: i64,
        ty: EventType,
        f: &str,
        key: Option<&str>,
        value: Option<Val>,
        time: Option<i64>,
        has_error: bool,
    ) -> Result<(), InputError> {
        self.stats.events += 1;
        let timed = time.is_some();
        match self.timed {
            None => self.timed = Some(timed),
            Some(t) if t != timed => {
                return Err(InputError::at(
                    line,
                    "either every event has a \"time\" or none has (then line order is time)",
                ))
            }
            _ => {}
        }
        let time = time.unwrap_or(line as i64);
        let kind =
            OpKind::parse(f).ok_or_else(|| InputError::at(line, format!("unknown op f={f:?}")))?;
        match ty {
            EventType::Invoke => {
                if let Some(&prev) = self.in_flight.get(&process) {
                    let prev_line = self.ops[prev as usize].line;
                    return Err(InputError::at(
                        line,
                        format!("process {process} invokes while its op from line {prev_line} is still in flight"),
                    ));
                }
                let key_id = self.intern_key(key.unwrap_or(""));
                let input = input_for(kind, value.unwrap_or(Val::Null), line)?;
                let id = self.ops.len() as u32;
                self.ops.push(Op {
                    id,
                    process,
                    key: key_id,
                    input,
                    output: Output::Any,
                    call: time,
                    ret: i64::MAX,
                    info: true,
                    line,
                    ret_line: 0,
                });
                self.dropped.push(false);
                self.in_flight.insert(process, id);
            }
            _ => {
                let Some(id) = self.in_flight.remove(&process) else {
                    return Err(InputError::at(
                        line,
                        format!("completion for process {process} without an invocation"),
                    ));
                };
                let idx = id as usize;
                let op = &mut self.ops[idx];
                if op.input.kind() != kind {
                    return Err(InputError::at(
                        line,
                        format!(
                            "completion f={f:?} does not match invocation f={:?} (line {})",
                            op.input.kind().name(),
                            op.line
                        ),
                    ));
                }
                if let Some(k) = key {
                    if self.keys[op.key as usize] != k {
                        return Err(InputError::at(
                            line,
                            format!(
                                "completion key {k:?} does not match invocation (line {})",
                                op.line
                            ),
                        ));
                    }
                }
                if time < op.call {
                    return Err(InputError::at(
                        line,
                        format!(
                            "completion time {time} is before its invocation time {}",
                            op.call
                        ),
                    ));
                }
                op.ret_line = line;
                match ty {
                    EventType::Ok => {
                        op.output = ok_output(kind, value, line)?;
                        op.ret = time;
                        op.info = false;
                    }
                    EventType::Fail => {
                        if kind == OpKind::Cas && !has_error {
                            // The comparison failed: no effect, observed value != expected.
                            op.output = Output::CasFail;
                            op.ret = time;
                            op.info = false;
                        } else {
                            self.dropped[idx] = true;
                            self.stats.failed_dropped += 1;
                        }
                    }
                    EventType::Info => {}
                    EventType::Invoke => unreachable!(),
                }
            }
        }
        Ok(())
    }

    /// Finishes: pending invocations become indeterminate; dropped ops are removed.
    pub fn finish(mut self) -> History {
        let mut ops = Vec::with_capacity(self.ops.len());
        for (op, dropped) in self.ops.into_iter().zip(self.dropped) {
            if dropped {
                continue;
            }
            if op.info {
                if op.input.kind().is_pure_read() {
                    self.stats.info_reads_dropped += 1;
                    continue;
                }
                self.stats.info += 1;
            } else {
                self.stats.ok += 1;
            }
            ops.push(op);
        }
        for (i, op) in ops.iter_mut().enumerate() {
            op.id = i as u32;
        }
        History {
            ops,
            keys: self.keys,
            stats: self.stats,
        }
    }
}

// ---------------------------------------------------------------- JSON Lines

/// A JSON value as found in histories, borrowing strings when possible.
#[derive(Debug)]
enum RawVal<'a> {
    Null,
    Int(i64),
    Str(Cow<'a, str>),
    Arr(Vec<RawVal<'a>>),
}

impl RawVal<'_> {
    fn into_val(self) -> Val {
        match self {
            RawVal::Null => Val::Null,
            RawVal::Int(i) => Val::Int(i),
            RawVal::Str(s) => Val::Str(Arc::from(&*s)),
            RawVal::Arr(a) => Val::List(a.into_iter().map(RawVal::into_val).collect()),
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for RawVal<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = RawVal<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, an integer, null or an array")
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(RawVal::Null)
            }
            fn visit_none<E>(self) -> Result<Self::Value, E> {
                Ok(RawVal::Null)
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(RawVal::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                i64::try_from(v)
                    .map(RawVal::Int)
                    .map_err(|_| E::custom("integer out of range"))
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(RawVal::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(RawVal::Str(Cow::Owned(v.to_string())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(RawVal::Str(Cow::Owned(v)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(x) = seq.next_element()? {
                    out.push(x);
                }
                Ok(RawVal::Arr(out))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

#[derive(Deserialize)]
struct RawEvent<'a> {
    process: i64,
    #[serde(rename = "type", borrow)]
    ty: Cow<'a, str>,
    #[serde(borrow)]
    f: Cow<'a, str>,
    #[serde(default, borrow)]
    key: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    value: Option<RawVal<'a>>,
    #[serde(default)]
    time: Option<i64>,
    #[serde(default)]
    error: Option<IgnoredAny>,
}

fn push_json_line(b: &mut HistoryBuilder, line_no: u32, line: &[u8]) -> Result<(), InputError> {
    let ev: RawEvent = serde_json::from_slice(line)
        .map_err(|e| InputError::at(line_no, format!("bad JSON event: {e}")))?;
    let ty = EventType::parse(&ev.ty)
        .ok_or_else(|| InputError::at(line_no, format!("unknown type {:?}", ev.ty)))?;
    b.push(
        line_no,
        ev.process,
        ty,
        &ev.f,
        ev.key.as_deref(),
        ev.value.map(RawVal::into_val),
        ev.time,
        ev.error.is_some(),
    )
}

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|c| c.is_ascii_whitespace())
}

/// Parses a JSON Lines history from a reader.
pub fn parse_jsonl<R: BufRead>(mut r: R) -> Result<History, InputError> {
    let mut b = HistoryBuilder::new();
    let mut buf = Vec::with_capacity(256);
    let mut line_no: u32 = 0;
    loop {
        buf.clear();
        if r.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        line_no += 1;
        if is_blank(&buf) {
            continue;
        }
        push_json_line(&mut b, line_no, &buf)?;
    }
    Ok(b.finish())
}

/// Parses a JSON Lines history held in memory.
pub fn parse_jsonl_str(s: &str) -> Result<History, InputError> {
    parse_jsonl(s.as_bytes())
}

// ------------------------------------------------------------ JSON Lines out

fn val_json(v: &Val) -> serde_json::Value {
    v.to_json()
}

/// Writes `h` as a JSON Lines history (`docs/history-format.md`): one invoke
/// and one completion per op at its call and return times; an indeterminate
/// op's `info` completion right after its invocation (it stays open-ended:
/// it may take effect at any time after its call, or never). Failed ops
/// that were dropped while parsing are not written (they constrain nothing),
/// so checking the output gives the same verdict as checking `h`. This is how
/// `sdr-check --emit-jsonl` converts EDN and Jepsen logs for other tools.
pub fn write_jsonl<W: std::io::Write>(h: &History, mut w: W) -> std::io::Result<()> {
    // (time, 0 = invoke / 1 = completion, op index)
    let mut ev: Vec<(i64, u8, u32)> = Vec::with_capacity(h.ops.len() * 2);
    for op in &h.ops {
        ev.push((op.call, 0, op.id));
        ev.push((if op.info { op.call } else { op.ret }, 1, op.id));
    }
    ev.sort_unstable();
    for (t, kind, id) in ev {
        let op = &h.ops[id as usize];
        let key = h.key_name(op.key);
        let f = op.input.kind().name();
        let line = if kind == 0 {
            let value = match &op.input {
                Input::Write(v) | Input::Append(v) | Input::RPush(v) => val_json(v),
                Input::Cas(e, n) => serde_json::json!([val_json(e), val_json(n)]),
                Input::Incr(d) => serde_json::json!(d),
                Input::Read | Input::Delete | Input::LRange => serde_json::Value::Null,
            };
            serde_json::json!({"process": op.process, "type": "invoke", "f": f, "key": key, "value": value, "time": t})
        } else if op.info {
            serde_json::json!({"process": op.process, "type": "info", "f": f, "key": key, "value": null, "time": t})
        } else {
            let (ty, value) = match &op.output {
                Output::Value(v) => ("ok", val_json(v)),
                Output::Count(n) => ("ok", serde_json::json!(n)),
                Output::CasFail => ("fail", serde_json::Value::Null),
                Output::Done | Output::CasOk | Output::Any | Output::Error => (
                    "ok",
                    match &op.input {
                        Input::Write(v) => val_json(v),
                        Input::Cas(e, n) => serde_json::json!([val_json(e), val_json(n)]),
                        _ => serde_json::Value::Null,
                    },
                ),
            };
            serde_json::json!({"process": op.process, "type": ty, "f": f, "key": key, "value": value, "time": t})
        };
        serde_json::to_writer(&mut w, &line)?;
        w.write_all(b"\n")?;
    }
    Ok(())
}
