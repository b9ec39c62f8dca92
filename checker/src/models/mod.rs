//! The three models: `register`, `kv` (Redis strings), `list` (Redis lists).

pub mod kv;
pub mod list;
pub mod register;

pub use kv::KvModel;
pub use list::ListModel;
pub use register::RegisterModel;

use crate::op::Val;

/// Which model to check against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    Register,
    #[default]
    Kv,
    List,
}

impl ModelKind {
    pub fn parse(s: &str) -> Option<ModelKind> {
        Some(match s {
            "register" => ModelKind::Register,
            "kv" => ModelKind::Kv,
            "list" => ModelKind::List,
            _ => return None,
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Register => "register",
            ModelKind::Kv => "kv",
            ModelKind::List => "list",
        }
    }
}

/// Redis stores every string as bytes: the integer 5 and the string "5" are
/// the same value. Canonical form: a string that Redis would treat as an
/// integer (optional '-', no leading zeros, fits i64) becomes `Int`.
pub fn canon(v: &Val) -> Val {
    match v {
        Val::Str(s) => match parse_redis_int(s) {
            Some(i) => Val::Int(i),
            None => v.clone(),
        },
        Val::List(l) => Val::List(l.iter().map(canon).collect()),
        _ => v.clone(),
    }
}

/// Redis-equal: equal after canonicalisation.
pub fn redis_eq(a: &Val, b: &Val) -> bool {
    match (a, b) {
        (Val::Int(x), Val::Str(s)) | (Val::Str(s), Val::Int(x)) => parse_redis_int(s) == Some(*x),
        (Val::List(x), Val::List(y)) => {
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(a, b)| redis_eq(a, b))
        }
        _ => a == b,
    }
}

/// Parses a string the way Redis `string2ll` accepts it.
pub fn parse_redis_int(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 20 {
        return None;
    }
    let digits = if b[0] == b'-' { &b[1..] } else { b };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if digits.len() > 1 && digits[0] == b'0' {
        return None;
    }
    if digits == b"0" && b[0] == b'-' {
        return None;
    }
    s.parse().ok()
}
