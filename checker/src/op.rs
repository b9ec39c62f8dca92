//! Operation types: values, inputs (what was asked), outputs (what was observed).

use std::fmt;
use std::sync::Arc;

/// A value as it appears in a history: JSON string, integer, null, or (for
/// `lrange` results and `cas` arguments) an array.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Val {
    /// JSON `null` / EDN `nil`: the key is absent.
    #[default]
    Null,
    Int(i64),
    Str(Arc<str>),
    List(Arc<[Val]>),
}

impl Val {
    pub fn str(s: &str) -> Val {
        Val::Str(Arc::from(s))
    }

    /// The value as JSON (used by reports).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Val::Null => serde_json::Value::Null,
            Val::Int(i) => serde_json::Value::from(*i),
            Val::Str(s) => serde_json::Value::from(&**s),
            Val::List(l) => serde_json::Value::Array(l.iter().map(Val::to_json).collect()),
        }
    }
}

impl fmt::Display for Val {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Val::Null => write!(f, "nil"),
            Val::Int(i) => write!(f, "{i}"),
            Val::Str(s) => write!(f, "{s:?}"),
            Val::List(l) => {
                write!(f, "[")?;
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        write!(f, " ")?;
                    }
                    write!(f, "{v}")?;
                }
                write!(f, "]")
            }
        }
    }
}

/// The operation name (`f`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OpKind {
    Read,
    Write,
    Cas,
    Delete,
    Incr,
    Append,
    RPush,
    LRange,
}

impl OpKind {
    pub fn parse(s: &str) -> Option<OpKind> {
        Some(match s {
            "read" | "get" => OpKind::Read,
            "write" | "set" | "put" => OpKind::Write,
            "cas" => OpKind::Cas,
            "delete" | "del" => OpKind::Delete,
            "incr" | "add" => OpKind::Incr,
            "append" => OpKind::Append,
            "rpush" => OpKind::RPush,
            "lrange" => OpKind::LRange,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            OpKind::Read => "read",
            OpKind::Write => "write",
            OpKind::Cas => "cas",
            OpKind::Delete => "delete",
            OpKind::Incr => "incr",
            OpKind::Append => "append",
            OpKind::RPush => "rpush",
            OpKind::LRange => "lrange",
        }
    }

    /// Ops that only observe: an indeterminate one constrains nothing.
    pub fn is_pure_read(self) -> bool {
        matches!(self, OpKind::Read | OpKind::LRange)
    }
}

/// What the client asked for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Input {
    Read,
    Write(Val),
    Cas(Val, Val),
    Delete,
    Incr(i64),
    Append(Val),
    RPush(Val),
    LRange,
}

impl Input {
    pub fn kind(&self) -> OpKind {
        match self {
            Input::Read => OpKind::Read,
            Input::Write(_) => OpKind::Write,
            Input::Cas(..) => OpKind::Cas,
            Input::Delete => OpKind::Delete,
            Input::Incr(_) => OpKind::Incr,
            Input::Append(_) => OpKind::Append,
            Input::RPush(_) => OpKind::RPush,
            Input::LRange => OpKind::LRange,
        }
    }
}

/// What the client observed (or, from a model's `apply`, what the sequential
/// specification returns).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Output {
    /// Not observed: `info` ops and unchecked completions (e.g. `append`
    /// acknowledged with its argument instead of the new length). Any result
    /// is acceptable.
    Any,
    /// `read` / `lrange` result.
    Value(Val),
    /// `write` acknowledged.
    Done,
    /// `cas` swapped.
    CasOk,
    /// `cas` compared unequal (no effect).
    CasFail,
    /// An integer result: `delete` count, `incr` new value, `append` new
    /// length, `rpush` new length.
    Count(i64),
    /// The sequential specification rejects the op (e.g. `incr` on a
    /// non-integer string, which Redis answers with an error and no effect).
    Error,
}

/// One operation of a history: an invocation and its completion.
#[derive(Clone, Debug)]
pub struct Op {
    /// Index in `History::ops` (invocation order).
    pub id: u32,
    pub process: i64,
    /// Interned key (index in `History::keys`).
    pub key: u32,
    pub input: Input,
    pub output: Output,
    /// Invocation time.
    pub call: i64,
    /// Completion time; `i64::MAX` for indeterminate (`info`) ops.
    pub ret: i64,
    /// `info` (or never completed): may take effect at any time after `call`, or never.
    pub info: bool,
    /// 1-based line (event index for EDN) of the invocation.
    pub line: u32,
    /// 1-based line of the completion (0 if none).
    pub ret_line: u32,
}

impl Op {
    /// Short human description, e.g. `write 3`, `read → 4`, `cas 1→2 ✗`.
    pub fn describe(&self) -> String {
        let mut s = match &self.input {
            Input::Read => "read".to_string(),
            Input::Write(v) => format!("write {v}"),
            Input::Cas(e, n) => format!("cas {e}→{n}"),
            Input::Delete => "delete".to_string(),
            Input::Incr(d) => format!("incr {d:+}"),
            Input::Append(v) => format!("append {v}"),
            Input::RPush(v) => format!("rpush {v}"),
            Input::LRange => "lrange".to_string(),
        };
        match &self.output {
            Output::Any => {
                if self.info {
                    s.push_str(" ?")
                }
            }
            Output::Value(v) => s.push_str(&format!(" → {v}")),
            Output::Done => {}
            Output::CasOk => s.push_str(" ✓"),
            Output::CasFail => s.push_str(" ✗"),
            Output::Count(n) => s.push_str(&format!(" → {n}")),
            Output::Error => s.push_str(" → error"),
        }
        s
    }
}
