//! Reader for Jepsen's textual operation log (`jepsen.log`), the format of
//! the etcd histories that ship with Porcupine and of many published Jepsen
//! runs:
//!
//! ```text
//! INFO  jepsen.util - 3<TAB>:invoke<TAB>:cas<TAB>[3 0]
//! INFO  jepsen.util - 3<TAB>:fail<TAB>:cas<TAB>[3 0]
//! INFO  jepsen.util - 4<TAB>:info<TAB>:write<TAB>:timed-out
//! ```
//!
//! (`<TAB>` is a tab.) One event per line: process, `:type`, `:f`, value (tab separated after the
//! `jepsen.util - ` marker). Lines without the marker (test setup, nemesis
//! chatter) and events of non-integer processes (`:nemesis`) are skipped. The
//! line order is the time order. A value that is a keyword (`:timed-out`) on a
//! completion is an error description: the completion is recorded with an
//! error (so a `:fail` with a keyword is a plain failure, not a cas
//! observation, and the invocation's value is kept).

use crate::edn::{parse_forms, to_val, Edn};
use crate::history::{EventType, History, HistoryBuilder, InputError};

const MARKER: &str = "jepsen.util - ";

/// Parses a Jepsen operation log held in memory.
pub fn parse_jepsen_log(s: &str) -> Result<History, InputError> {
    let mut b = HistoryBuilder::new();
    for (idx, raw) in s.lines().enumerate() {
        let line = idx as u32 + 1;
        let Some(pos) = raw.find(MARKER) else {
            continue;
        };
        let rest = &raw[pos + MARKER.len()..];
        let mut fields = rest.splitn(4, '\t');
        let (Some(proc_s), Some(ty_s), Some(f_s)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let value_s = fields.next().unwrap_or("nil").trim();
        let Ok(process) = proc_s.trim().parse::<i64>() else {
            b.skip_event();
            continue;
        };
        let ty = EventType::parse(ty_s.trim().trim_start_matches(':'))
            .ok_or_else(|| InputError::at(line, format!("unknown type {ty_s:?}")))?;
        let f = f_s.trim().trim_start_matches(':');
        let forms = parse_forms(value_s)?;
        let value_edn = forms.into_iter().next().map(|(_, v)| v).unwrap_or(Edn::Nil);
        let (value, has_error) = match (&value_edn, ty) {
            (Edn::Keyword(_), EventType::Invoke) => {
                return Err(InputError::at(line, "an invocation's value is a keyword"))
            }
            // `:timed-out` and other keywords describe an error.
            (Edn::Keyword(_), _) => (None, true),
            (v, _) => (Some(to_val(v, line)?), false),
        };
        b.push(line, process, ty, f, None, value, None, has_error)?;
    }
    Ok(b.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::{Input, Output, Val};

    #[test]
    fn parses_ops_failures_and_timeouts() {
        let log = "\
2017-01-01 setup noise\n\
INFO  jepsen.util - 0\t:invoke\t:read\tnil\n\
INFO  jepsen.util - 1\t:invoke\t:cas\t[3 0]\n\
INFO  jepsen.util - 2\t:invoke\t:write\t4\n\
INFO  jepsen.util - 0\t:ok\t:read\t3\n\
INFO  jepsen.util - 1\t:fail\t:cas\t[3 0]\n\
INFO  jepsen.util - 2\t:info\t:write\t:timed-out\n\
INFO  jepsen.util - :nemesis\t:info\t:start\tnil\n\
INFO  jepsen.util - 3\t:invoke\t:read\tnil\n\
INFO  jepsen.util - 3\t:fail\t:read\t:timed-out\n";
        let h = parse_jepsen_log(log).unwrap();
        assert_eq!(h.ops.len(), 3, "{:?}", h.ops);
        assert_eq!(h.ops[0].output, Output::Value(Val::Int(3)));
        assert_eq!(h.ops[1].input, Input::Cas(Val::Int(3), Val::Int(0)));
        assert_eq!(h.ops[1].output, Output::CasFail);
        assert!(h.ops[2].info);
        assert_eq!(h.ops[2].input, Input::Write(Val::Int(4)));
        assert_eq!(h.stats.failed_dropped, 1);
    }
}
