//! Seeded generator of histories that are linearizable by construction:
//! every op takes effect at a random instant inside its interval (or, for
//! indeterminate ops, maybe never), and results come from the model applied
//! in that order. Used by the benchmark (`sdr-check-gen`) and the tests.

use crate::history::EventType;
use crate::model::Model;
use crate::models::{KvModel, ListModel, ModelKind, RegisterModel};
use crate::op::{Input, OpKind, Output, Val};
use std::io::{self, Write};
use std::sync::Arc;

/// The workspace's one seeded PRNG (`sdr-seeded`, SplitMix64); re-exported
/// so `gen::Rng` keeps naming it for the tests and the benchmark.
pub use sdr_seeded::Rng;

/// Generator parameters.
#[derive(Clone, Debug)]
pub struct GenParams {
    pub seed: u64,
    pub ops: usize,
    pub keys: usize,
    pub clients: usize,
    /// Fraction of ops that complete `info` (half of them take effect).
    pub info_rate: f64,
    /// Fraction of ops that complete `fail` with an error (no effect).
    pub fail_rate: f64,
    /// Fraction of `cas` ops (register/kv).
    pub cas_rate: f64,
    /// Values are drawn from `0..values`.
    pub values: i64,
    pub model: ModelKind,
    /// Max op duration and max think time between a client's ops (ns).
    pub max_latency: i64,
    pub max_gap: i64,
}

impl Default for GenParams {
    fn default() -> Self {
        GenParams {
            seed: 1,
            ops: 1000,
            keys: 10,
            clients: 5,
            info_rate: 0.01,
            fail_rate: 0.0,
            cas_rate: 0.2,
            values: 5,
            model: ModelKind::Kv,
            max_latency: 2_000,
            max_gap: 500,
        }
    }
}

/// One generated event.
#[derive(Clone, Debug, PartialEq)]
pub struct GenEvent {
    pub process: i64,
    pub ty: EventType,
    pub f: OpKind,
    pub key: u32,
    pub value: Val,
    pub time: i64,
    pub error: bool,
}

struct GenOp {
    process: i64,
    key: u32,
    input: Input,
    call: i64,
    ret: i64,
    lin: i64,
    info: bool,
    fail: bool,
    effect: bool,
}

fn pick_input(p: &GenParams, rng: &mut Rng) -> Input {
    let v = |rng: &mut Rng| Val::Int(rng.below(p.values.max(1) as u64) as i64);
    let r = rng.unit();
    match p.model {
        ModelKind::List => {
            if r < 0.5 {
                Input::RPush(v(rng))
            } else {
                Input::LRange
            }
        }
        ModelKind::Register => {
            if r < p.cas_rate {
                Input::Cas(v(rng), v(rng))
            } else if r < p.cas_rate + (1.0 - p.cas_rate) / 2.0 {
                Input::Write(v(rng))
            } else {
                Input::Read
            }
        }
        ModelKind::Kv => {
            let rest = 1.0 - p.cas_rate;
            if r < p.cas_rate {
                Input::Cas(v(rng), v(rng))
            } else if r < p.cas_rate + rest * 0.4 {
                Input::Read
            } else if r < p.cas_rate + rest * 0.8 {
                Input::Write(v(rng))
            } else if r < p.cas_rate + rest * 0.88 {
                Input::Incr(1 + rng.below(3) as i64)
            } else if r < p.cas_rate + rest * 0.94 {
                Input::Delete
            } else {
                Input::Append(Val::str(if rng.chance(0.5) { "x" } else { "1" }))
            }
        }
    }
}

fn invoke_value(input: &Input) -> Val {
    match input {
        Input::Read | Input::LRange | Input::Delete => Val::Null,
        Input::Write(v) | Input::Append(v) | Input::RPush(v) => v.clone(),
        Input::Cas(e, n) => Val::List(Arc::from(vec![e.clone(), n.clone()])),
        Input::Incr(d) => Val::Int(*d),
    }
}

fn generate_with<M: Model>(model: &M, p: &GenParams) -> Vec<GenEvent> {
    let mut rng = Rng::new(p.seed);
    let clients = p.clients.max(1);
    let mut clock: Vec<i64> = (0..clients)
        .map(|_| 1_000_000 + rng.below(p.max_gap.max(1) as u64) as i64)
        .collect();
    let mut process: Vec<i64> = (0..clients as i64).collect();
    let mut ops: Vec<GenOp> = Vec::with_capacity(p.ops);
    for n in 0..p.ops {
        let c = n % clients;
        let call = clock[c];
        let ret = call + rng.below(p.max_latency.max(0) as u64 + 1) as i64;
        let lin = call + rng.below((ret - call) as u64 + 1) as i64;
        let key = rng.below(p.keys.max(1) as u64) as u32;
        let input = pick_input(p, &mut rng);
        let info = rng.chance(p.info_rate);
        let fail = !info && rng.chance(p.fail_rate);
        let effect = !fail && (!info || rng.chance(0.5));
        ops.push(GenOp {
            process: process[c],
            key,
            input,
            call,
            ret,
            lin,
            info,
            fail,
            effect,
        });
        if info {
            process[c] += clients as i64;
        }
        clock[c] = ret + rng.below(p.max_gap.max(0) as u64 + 1) as i64;
    }
    // Apply in linearization order.
    let mut order: Vec<u32> = (0..ops.len() as u32).collect();
    order.sort_by_key(|&i| (ops[i as usize].lin, i));
    let mut states: Vec<M::State> = vec![model.init(); p.keys.max(1)];
    let mut outputs: Vec<Output> = vec![Output::Any; ops.len()];
    for &i in &order {
        let op = &ops[i as usize];
        if !op.effect {
            continue;
        }
        let s = &mut states[op.key as usize];
        let (next, out) = model.apply(s, &op.input);
        *s = next;
        outputs[i as usize] = out;
    }
    let mut events = Vec::with_capacity(ops.len() * 2);
    for (op, out) in ops.iter().zip(outputs) {
        let f = op.input.kind();
        let iv = invoke_value(&op.input);
        events.push(GenEvent {
            process: op.process,
            ty: EventType::Invoke,
            f,
            key: op.key,
            value: iv.clone(),
            time: op.call,
            error: false,
        });
        let (ty, value, error) = if op.info {
            (EventType::Info, iv, false)
        } else if op.fail {
            (EventType::Fail, iv, true)
        } else {
            match out {
                Output::Value(v) => (EventType::Ok, v, false),
                Output::Count(n) => (EventType::Ok, Val::Int(n), false),
                Output::Done | Output::CasOk | Output::Any => (EventType::Ok, iv, false),
                Output::CasFail => (EventType::Fail, iv, false),
                // The op errored (e.g. incr of a non-integer): no effect.
                Output::Error => (EventType::Fail, iv, true),
            }
        };
        events.push(GenEvent {
            process: op.process,
            ty,
            f,
            key: op.key,
            value,
            time: op.ret,
            error,
        });
    }
    // Real-time order. The sort is stable and each client's events were
    // pushed in program order, so at equal times a client's completion stays
    // before its next invocation (and a zero-length op's invoke before its
    // completion).
    events.sort_by_key(|e| e.time);
    events
}

/// Generates a linearizable-by-construction history.
pub fn generate(p: &GenParams) -> Vec<GenEvent> {
    match p.model {
        ModelKind::Register => generate_with(&RegisterModel, p),
        ModelKind::Kv => generate_with(&KvModel, p),
        ModelKind::List => generate_with(&ListModel, p),
    }
}

fn write_val<W: Write>(w: &mut W, v: &Val) -> io::Result<()> {
    match v {
        Val::Null => w.write_all(b"null"),
        Val::Int(i) => write!(w, "{i}"),
        Val::Str(s) => {
            let j = serde_json::to_string(&**s).map_err(io::Error::other)?;
            w.write_all(j.as_bytes())
        }
        Val::List(l) => {
            w.write_all(b"[")?;
            for (i, x) in l.iter().enumerate() {
                if i > 0 {
                    w.write_all(b",")?;
                }
                write_val(w, x)?;
            }
            w.write_all(b"]")
        }
    }
}

fn type_name(t: EventType) -> &'static str {
    match t {
        EventType::Invoke => "invoke",
        EventType::Ok => "ok",
        EventType::Fail => "fail",
        EventType::Info => "info",
    }
}

/// Writes events as JSON Lines (keys are named `k<id>`).
pub fn write_jsonl<W: Write>(events: &[GenEvent], w: &mut W) -> io::Result<()> {
    for e in events {
        write!(
            w,
            "{{\"process\":{},\"type\":\"{}\",\"f\":\"{}\",\"key\":\"k{}\",\"value\":",
            e.process,
            type_name(e.ty),
            e.f.name(),
            e.key
        )?;
        write_val(w, &e.value)?;
        if e.error {
            w.write_all(b",\"error\":\"ERR injected\"")?;
        }
        writeln!(w, ",\"time\":{}}}", e.time)?;
    }
    Ok(())
}

/// Events as a JSON Lines string.
pub fn to_jsonl_string(events: &[GenEvent]) -> String {
    let mut v = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = write_jsonl(events, &mut v);
    String::from_utf8(v).unwrap_or_default()
}
