//! Fault intervals (`--nemesis FILE`): JSON Lines of
//! `{"time": ns, "type": "start"|"stop", "fault": "...", "detail": ...}`.

use crate::history::InputError;
use serde::Deserialize;
use std::io::BufRead;

/// One fault interval; `end == None` if never stopped.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Fault {
    pub fault: String,
    pub detail: String,
    pub start: i64,
    pub end: Option<i64>,
}

#[derive(Deserialize)]
struct RawFault {
    time: i64,
    #[serde(rename = "type")]
    ty: String,
    fault: String,
    #[serde(default)]
    detail: serde_json::Value,
}

/// Parses a nemesis file into intervals (a `stop` closes the oldest open
/// interval of the same fault).
pub fn parse_nemesis<R: BufRead>(r: R) -> Result<Vec<Fault>, InputError> {
    let mut out: Vec<Fault> = Vec::new();
    for (i, line) in r.lines().enumerate() {
        let line = line?;
        let no = i as u32 + 1;
        if line.trim().is_empty() {
            continue;
        }
        let f: RawFault = serde_json::from_str(&line)
            .map_err(|e| InputError::at(no, format!("bad nemesis event: {e}")))?;
        let detail = match f.detail {
            serde_json::Value::Null => String::new(),
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        };
        match f.ty.as_str() {
            "start" => out.push(Fault {
                fault: f.fault,
                detail,
                start: f.time,
                end: None,
            }),
            "stop" => match out
                .iter_mut()
                .find(|x| x.fault == f.fault && x.end.is_none())
            {
                Some(x) => x.end = Some(f.time),
                None => out.push(Fault {
                    fault: f.fault,
                    detail,
                    start: f.time,
                    end: Some(f.time),
                }),
            },
            other => {
                return Err(InputError::at(
                    no,
                    format!("unknown nemesis type {other:?}"),
                ))
            }
        }
    }
    Ok(out)
}
