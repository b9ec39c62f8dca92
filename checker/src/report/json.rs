//! `result.json`: verdict, per-key verdicts, op counts, timings and, for each
//! violation, the longest linearizable prefix and the ops that could not be placed.

use super::{op_json, secs, ReportInput};
use crate::{initial_state, replay_states, KeyVerdict};
use serde_json::{json, Value};

/// Builds the `result.json` document.
pub fn result_json(r: &ReportInput<'_>) -> Value {
    let h = r.history;
    let res = r.result;
    let count = |v: KeyVerdict| res.keys.iter().filter(|k| k.verdict == v).count();
    let per_key: Vec<Value> = res
        .keys
        .iter()
        .map(|k| {
            json!({
                "key": h.key_name(k.key),
                "verdict": k.verdict,
                "ops": k.ops.len(),
                "info": k.info,
                "check_s": secs(k.time),
            })
        })
        .collect();
    let violations: Vec<Value> = res
        .violations()
        .map(|k| {
            let mut v = json!({ "key": h.key_name(k.key), "ops": k.ops.len() });
            if let Some(f) = &k.failure {
                let states = replay_states(res.model, h, &f.prefix);
                let prefix: Vec<Value> = f
                    .prefix
                    .iter()
                    .zip(states.iter())
                    .map(|(&i, s)| {
                        let mut o = op_json(h, &h.ops[i as usize]);
                        o["state_after"] = json!(s);
                        o
                    })
                    .collect();
                v["longest_prefix"] = json!(prefix);
                v["state_after_prefix"] = json!(states
                    .last()
                    .cloned()
                    .unwrap_or_else(|| initial_state(res.model)));
                v["offending"] = op_json(h, &h.ops[f.offending as usize]);
                if let Some(w) = &f.window {
                    v["window"] = json!(w
                        .iter()
                        .map(|&i| op_json(h, &h.ops[i as usize]))
                        .collect::<Vec<_>>());
                }
                v["unplaced"] = json!(f
                    .unplaced
                    .iter()
                    .map(|&i| op_json(h, &h.ops[i as usize]))
                    .collect::<Vec<_>>());
            }
            v
        })
        .collect();
    json!({
        "verdict": res.verdict,
        "model": res.model,
        "history": {
            "file": r.source,
            "events": h.stats.events,
            "ops": h.ops.len(),
            "ok": h.stats.ok,
            "info": h.stats.info,
            "failed_dropped": h.stats.failed_dropped,
            "info_reads_dropped": h.stats.info_reads_dropped,
        },
        "keys": {
            "total": res.keys.len(),
            "linearizable": count(KeyVerdict::Linearizable),
            "not_linearizable": count(KeyVerdict::NotLinearizable),
            "unknown": count(KeyVerdict::Unknown),
            "skipped": count(KeyVerdict::Skipped),
        },
        "timings": {
            "parse_s": secs(r.parse_time),
            "check_s": secs(res.check_time),
            "total_s": secs(r.total_time),
        },
        "violations": violations,
        "per_key": per_key,
    })
}
