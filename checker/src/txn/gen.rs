//! Seeded list-append histories that are strict serializable by
//! construction (benchmarks, `sdr-check-gen --model list-append`).
//!
//! Each transaction takes effect atomically at an instant inside its
//! [invoke, complete] interval; instants increase in generation order, so
//! the generation order is a serial order that respects real time. Reads
//! return the key's list at that instant. Keys rotate as in Jepsen: a key
//! takes at most `max_appends_per_key` appends, then a fresh key replaces it.
//! `info` transactions take effect or not (half each) and their reads are
//! unknown; `fail` ones take no effect. With `plant_g_single`, three extra
//! transactions in the middle form exactly one G-single: T2 appends 1 to
//! fresh keys `gx` and `gy`; T1 then reads `gy = [1]` but a stale `gx = []`
//! (T2 →wr T1 →rw T2); T3 reads `gx = [1]`.

use crate::event::{Event, EventKind};
use sdr_seeded::Rng;
use serde_json::{json, Value};
use std::io::{self, Write};

/// Generator parameters.
#[derive(Clone, Debug)]
pub struct TxnGenParams {
    pub seed: u64,
    pub txns: usize,
    pub clients: usize,
    /// Keys in use at any time.
    pub active_keys: usize,
    pub max_appends_per_key: usize,
    /// Micro-ops per transaction: 1..=max_mops.
    pub max_mops: usize,
    pub info_rate: f64,
    pub fail_rate: f64,
    pub plant_g_single: bool,
    /// Max time from invoke to the effect instant, and from it to completion (ns).
    pub max_latency: i64,
}

impl Default for TxnGenParams {
    fn default() -> Self {
        TxnGenParams {
            seed: 1,
            txns: 1000,
            clients: 10,
            active_keys: 8,
            max_appends_per_key: 16,
            max_mops: 4,
            info_rate: 0.01,
            fail_rate: 0.01,
            plant_g_single: false,
            max_latency: 5_000,
        }
    }
}

struct Keys {
    active: Vec<(usize, usize)>, // (key id, appends so far)
    lists: Vec<Vec<i64>>,
    next_key: usize,
}

impl Keys {
    fn fresh(&mut self) -> usize {
        let k = self.next_key;
        self.next_key += 1;
        self.lists.push(Vec::new());
        k
    }
}

/// Generates the events, in time order.
pub fn generate(p: &TxnGenParams) -> Vec<Event> {
    let mut rng = Rng::new(p.seed);
    let clients = p.clients.max(1);
    let mut keys = Keys {
        active: Vec::new(),
        lists: Vec::new(),
        next_key: 0,
    };
    for _ in 0..p.active_keys.max(1) {
        let k = keys.fresh();
        keys.active.push((k, 0));
    }
    // Per client: (process id, time it is free again).
    let mut procs: Vec<(i64, i64)> = (0..clients).map(|c| (c as i64, 0)).collect();
    let mut next_process = clients as i64;
    let mut events: Vec<(i64, u8, Event)> = Vec::with_capacity(p.txns * 2 + 6);
    let mut t = 0i64;
    let lat = p.max_latency.max(2) as u64;
    let plant_at = p.txns / 2;
    let mut i = 0usize;
    let name = |k: usize| format!("k{k}");
    while i < p.txns {
        t += 1 + rng.below(lat / clients as u64 + 1) as i64;
        if p.plant_g_single && i == plant_at {
            let (gx, gy) = (keys.fresh(), keys.fresh());
            let planted: [(Value, Value); 3] = [
                (
                    json!([["append", name(gx), 1], ["append", name(gy), 1]]),
                    json!([["append", name(gx), 1], ["append", name(gy), 1]]),
                ),
                (
                    json!([["r", name(gx), null], ["r", name(gy), null]]),
                    json!([["r", name(gx), []], ["r", name(gy), [1]]]),
                ),
                (
                    json!([["r", name(gx), null]]),
                    json!([["r", name(gx), [1]]]),
                ),
            ];
            for (inv, ok) in planted {
                let c = loop {
                    if let Some(c) = (0..clients).find(|&c| procs[c].1 < t - 1) {
                        break c;
                    }
                    t += lat as i64;
                };
                let call = t - 1;
                let ret = t + 1;
                events.push((call, 0, ev(procs[c].0, EventKind::Invoke, inv, call)));
                events.push((ret, 1, ev(procs[c].0, EventKind::Ok, ok, ret)));
                procs[c].1 = ret;
                t += 3;
            }
            i += 3;
            continue;
        }
        // A client free before the effect instant t.
        let start = rng.below(clients as u64) as usize;
        let Some(c) = (0..clients)
            .map(|d| (start + d) % clients)
            .find(|&c| procs[c].1 < t)
        else {
            continue;
        };
        let call = (t - 1 - rng.below(lat) as i64).max(procs[c].1 + 1).min(t);
        let ret = t + rng.below(lat) as i64;
        let outcome = if rng.chance(p.info_rate) {
            EventKind::Info
        } else if rng.chance(p.fail_rate) {
            EventKind::Fail
        } else {
            EventKind::Ok
        };
        let applies = match outcome {
            EventKind::Ok => true,
            EventKind::Info => rng.chance(0.5),
            _ => false,
        };
        let n = 1 + rng.below(p.max_mops.max(1) as u64) as usize;
        let mut inv = Vec::with_capacity(n);
        let mut done = Vec::with_capacity(n);
        for _ in 0..n {
            let slot = rng.below(keys.active.len() as u64) as usize;
            let (k, _) = keys.active[slot];
            if rng.chance(0.5) {
                inv.push(json!(["r", name(k), null]));
                done.push(json!(["r", name(k), keys.lists[k].clone()]));
            } else {
                // Values: 1, 2, … per key (unique per key, also when failed).
                keys.active[slot].1 += 1;
                let v = keys.active[slot].1 as i64;
                inv.push(json!(["append", name(k), v]));
                done.push(json!(["append", name(k), v]));
                if applies {
                    keys.lists[k].push(v);
                }
                if keys.active[slot].1 >= p.max_appends_per_key.max(1) {
                    let f = keys.fresh();
                    keys.active[slot] = (f, 0);
                    keys.lists[k] = Vec::new(); // no longer read; free it
                }
            }
        }
        let process = procs[c].0;
        events.push((
            call,
            0,
            ev(process, EventKind::Invoke, Value::Array(inv.clone()), call),
        ));
        let value = if outcome == EventKind::Ok {
            Value::Array(done)
        } else {
            Value::Array(inv)
        };
        events.push((ret, 1, ev(process, outcome, value, ret)));
        procs[c].1 = ret;
        if outcome == EventKind::Info {
            procs[c].0 = next_process;
            next_process += 1;
        }
        i += 1;
    }
    // Time order; at equal times completions before invocations is not
    // needed: a process's next invoke is strictly after its completion.
    events.sort_by_key(|(time, kind, _)| (*time, *kind));
    events.into_iter().map(|(_, _, e)| e).collect()
}

fn ev(process: i64, kind: EventKind, value: Value, time: i64) -> Event {
    Event {
        process,
        kind,
        f: "txn".into(),
        key: String::new(),
        value,
        time: Some(time),
        error: None,
    }
}

/// Writes events as JSON Lines (no `key` field: transactional events have none).
pub fn write_jsonl<W: Write + ?Sized>(events: &[Event], w: &mut W) -> io::Result<()> {
    for e in events {
        let line = json!({"process": e.process, "type": e.kind.as_str(), "f": e.f, "value": e.value, "time": e.time});
        serde_json::to_writer(&mut *w, &line)?;
        w.write_all(b"\n")?;
    }
    Ok(())
}

/// The events as one JSON Lines string (tests).
pub fn to_jsonl_string(events: &[Event]) -> String {
    let mut v = Vec::new();
    let _ = write_jsonl(events, &mut v);
    String::from_utf8_lossy(&v).into_owned()
}
