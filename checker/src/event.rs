//! One history event as a type: the JSON Lines line of docs/history-format.md.
//!
//! Writers (the harness's recorder) serialise [`Event`] instead of assembling
//! JSON by hand, so field names and the `type` spelling are defined once, here,
//! next to the reader. Contract: every [`Event`] serialises to one line that
//! [`crate::history::parse_jsonl_str`] accepts as the event it describes (the
//! pairing rules — one op in flight per process, completions after their
//! invocation — are the writer's to keep). [`Event`] also deserialises any line
//! the format allows (missing `key`, `value`, `time`, `error`), for tools that
//! read histories without checking them.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `type`: an invocation or one of the three completions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    Invoke,
    /// The op took effect and its result is known.
    Ok,
    /// The op definitely took no effect (a `cas` without `error`: the
    /// comparison failed, an observation the checker keeps).
    Fail,
    /// Unknown outcome; the process retires.
    Info,
}

impl EventKind {
    /// The spelling in the file (`invoke`, `ok`, `fail`, `info`).
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Invoke => "invoke",
            EventKind::Ok => "ok",
            EventKind::Fail => "fail",
            EventKind::Info => "info",
        }
    }
}

/// One line of a JSON Lines history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Client id; at most one op in flight per process.
    pub process: i64,
    #[serde(rename = "type")]
    pub kind: EventKind,
    /// Op name (`read`, `write`, `cas`, …, or an alias such as `get`); the
    /// completion repeats the invocation's.
    pub f: String,
    /// Ops on different keys are checked independently; missing = `""`.
    #[serde(default)]
    pub key: String,
    /// Invoke value or result (docs/history-format.md "Ops"); null = none.
    #[serde(default)]
    pub value: Value,
    /// Nanoseconds on the run's monotonic clock (all events or none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<i64>,
    /// On `fail` / `info`: why. Present (any non-null value) marks a `fail`
    /// that observed nothing; absent on a `fail` cas = comparison failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn line(e: &Event) -> String {
        serde_json::to_string(e).expect("serialises")
    }

    fn ev(process: i64, kind: EventKind, f: &str, value: Value, time: i64) -> Event {
        Event {
            process,
            kind,
            f: f.into(),
            key: "k".into(),
            value,
            time: Some(time),
            error: None,
        }
    }

    #[test]
    fn serialises_the_documented_fields() {
        let mut e = ev(3, EventKind::Info, "write", json!(17), 9);
        e.error = Some(json!("timeout"));
        let v: Value = serde_json::from_str(&line(&e)).expect("json");
        assert_eq!(
            v,
            json!({"process": 3, "type": "info", "f": "write", "key": "k", "value": 17, "time": 9, "error": "timeout"})
        );
        let e = ev(0, EventKind::Fail, "cas", json!([1, 2]), 1);
        assert!(!line(&e).contains("error"), "no error field");
    }

    #[test]
    fn round_trips_and_the_checker_reads_it() {
        let events = vec![
            ev(0, EventKind::Invoke, "write", json!(1), 1),
            ev(0, EventKind::Ok, "write", json!(1), 2),
            ev(1, EventKind::Invoke, "cas", json!([5, 2]), 3),
            ev(1, EventKind::Fail, "cas", json!([5, 2]), 4),
            ev(2, EventKind::Invoke, "read", Value::Null, 5),
            ev(2, EventKind::Ok, "read", json!(1), 6),
        ];
        let text: String = events.iter().map(|e| line(e) + "\n").collect();
        let back: Vec<Event> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("deserialises"))
            .collect();
        assert_eq!(back, events);
        let h = crate::history::parse_jsonl_str(&text).expect("the checker accepts it");
        assert_eq!(h.ops.len(), 3, "the failed comparison is kept");
        let r = crate::check(&h, crate::models::ModelKind::Register, &Default::default())
            .expect("check");
        assert_eq!(r.verdict, crate::Verdict::Linearizable);
    }

    #[test]
    fn optional_fields_default() {
        let e: Event =
            serde_json::from_str(r#"{"process":1,"type":"ok","f":"read"}"#).expect("minimal");
        assert_eq!(e.key, "");
        assert_eq!(e.value, Value::Null);
        assert_eq!(e.time, None);
        assert_eq!(e.error, None);
        assert_eq!(e.kind.as_str(), "ok");
    }
}
