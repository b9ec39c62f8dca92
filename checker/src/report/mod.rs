//! Reports: `result.json` ([`json`]) and the self-contained `report.html` ([`html`]).

pub mod html;
pub mod json;

use crate::history::History;
use crate::nemesis::Fault;
use crate::op::{Input, Op, Output};
use crate::CheckResult;
use serde_json::{json, Value};
use std::time::Duration;

/// Everything a report needs.
pub struct ReportInput<'a> {
    pub source: &'a str,
    pub history: &'a History,
    pub result: &'a CheckResult,
    pub parse_time: Duration,
    pub total_time: Duration,
    pub faults: &'a [Fault],
    /// Key to draw even if linearizable (`--key`).
    pub chosen_key: Option<&'a str>,
}

/// JSON for one op.
pub fn op_json(h: &History, op: &Op) -> Value {
    let input = match &op.input {
        Input::Read | Input::LRange | Input::Delete => Value::Null,
        Input::Write(v) | Input::Append(v) | Input::RPush(v) => v.to_json(),
        Input::Cas(e, n) => json!([e.to_json(), n.to_json()]),
        Input::Incr(d) => json!(d),
    };
    let (ty, output) = match &op.output {
        _ if op.info => ("info", Value::Null),
        Output::CasFail => ("fail", Value::Null),
        Output::Value(v) => ("ok", v.to_json()),
        Output::Count(n) => ("ok", json!(n)),
        Output::CasOk => ("ok", json!(true)),
        _ => ("ok", Value::Null),
    };
    json!({
        "id": op.id,
        "process": op.process,
        "key": h.key_name(op.key),
        "f": op.input.kind().name(),
        "type": ty,
        "input": input,
        "output": output,
        "call": op.call,
        "ret": if op.info { Value::Null } else { json!(op.ret) },
        "line": op.line,
        "desc": op.describe(),
    })
}

pub(crate) fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e6
}
