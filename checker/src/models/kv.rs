//! `kv`: Redis strings per key — read (GET), write (SET), cas, delete (DEL),
//! incr (INCRBY), append (APPEND).
//!
//! Values follow Redis: every value is a byte string, so the integer 5 and
//! the string "5" are equal (canonical form: [`super::canon`]). `incr` on a
//! missing key starts from 0. `incr` on a value that is not an integer (or
//! that would overflow) is an error in Redis with no effect: the
//! specification returns `Output::Error`, so an `ok` incr cannot be
//! linearized at such a point and an indeterminate one is a no-op there.
//! `append` lengths are byte lengths (Redis `STRLEN`).

use super::canon;
use crate::model::Model;
use crate::op::{Input, OpKind, Output, Val};
use std::sync::Arc;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct KvModel;

/// State of one key: a canonical value (`Null` = absent, `Int`, or a
/// non-integer `Str`), or a long string built by `append`, kept as a chain
/// of chunks shared with the states it grew from. A search holds many states
/// that are long strings differing in their last appends; sharing their
/// common prefixes keeps its memory proportional to the number of appends,
/// not to the total length of every state. Equality and hashing are by
/// content, whatever the representation.
#[derive(Clone, Debug)]
pub enum KvState {
    Plain(Val),
    Cat(Arc<Cat>),
}

/// `prev` followed by `suffix`; always longer than 20 bytes, so never a
/// Redis integer.
#[derive(Debug)]
pub struct Cat {
    prev: KvState,
    suffix: Arc<str>,
    len: usize,
    hash: u64,
}

const POLY: u64 = 0x100_0000_01b3;

fn poly_hash(h: u64, bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(h, |h, &b| h.wrapping_mul(POLY).wrapping_add(b as u64 + 1))
}

impl KvState {
    fn null() -> KvState {
        KvState::Plain(Val::Null)
    }

    /// Byte length of the string form (Redis `STRLEN`).
    fn strlen(&self) -> usize {
        match self {
            KvState::Plain(v) => as_string(v).len(),
            KvState::Cat(c) => c.len,
        }
    }

    /// Content hash of a string state (the same for both forms).
    fn str_hash(&self) -> Option<u64> {
        match self {
            KvState::Plain(Val::Str(s)) => Some(poly_hash(0, s.as_bytes())),
            KvState::Cat(c) => Some(c.hash),
            _ => None,
        }
    }

    /// The chunks of a string state, last chunk first.
    fn chunks_rev(&self) -> Vec<&str> {
        let mut out = Vec::new();
        let mut cur = self;
        loop {
            match cur {
                KvState::Cat(c) => {
                    out.push(&*c.suffix);
                    cur = &c.prev;
                }
                KvState::Plain(Val::Str(s)) => {
                    out.push(&**s);
                    return out;
                }
                KvState::Plain(_) => return out,
            }
        }
    }

    fn bytes_rev(&self) -> impl Iterator<Item = u8> + '_ {
        self.chunks_rev()
            .into_iter()
            .flat_map(|c| c.as_bytes().iter().rev().copied())
    }

    /// The state as a (canonical) value.
    pub fn to_val(&self) -> Val {
        match self {
            KvState::Plain(v) => v.clone(),
            KvState::Cat(c) => {
                let mut s = String::with_capacity(c.len);
                for chunk in self.chunks_rev().iter().rev() {
                    s.push_str(chunk);
                }
                Val::Str(Arc::from(s))
            }
        }
    }

    /// Redis-equality with an observed value.
    fn eq_val(&self, v: &Val) -> bool {
        match self {
            KvState::Plain(p) => super::redis_eq(v, p),
            KvState::Cat(c) => match v {
                Val::Str(s) => {
                    s.len() == c.len && s.as_bytes().iter().rev().copied().eq(self.bytes_rev())
                }
                _ => false,
            },
        }
    }

    fn is_null(&self) -> bool {
        matches!(self, KvState::Plain(Val::Null))
    }

    fn append(&self, suffix: &Val) -> KvState {
        let suffix: Arc<str> = match suffix {
            Val::Str(s) => s.clone(),
            other => Arc::from(as_string(other)),
        };
        let len = self.strlen() + suffix.len();
        if len <= 20 || matches!(self, KvState::Plain(Val::Null | Val::Int(_))) {
            // Short (maybe an integer again) or from a non-string: plain.
            let mut cur = as_string(&self.to_val());
            cur.push_str(&suffix);
            return KvState::Plain(canon(&Val::Str(Arc::from(cur))));
        }
        let base = self.str_hash().unwrap_or(0);
        KvState::Cat(Arc::new(Cat {
            prev: self.clone(),
            hash: poly_hash(base, suffix.as_bytes()),
            suffix,
            len,
        }))
    }
}

impl PartialEq for KvState {
    fn eq(&self, other: &KvState) -> bool {
        match (self, other) {
            (KvState::Plain(a), KvState::Plain(b)) => a == b,
            (KvState::Cat(a), KvState::Cat(b)) if Arc::ptr_eq(a, b) => true,
            _ => {
                self.strlen() == other.strlen()
                    && self.str_hash() == other.str_hash()
                    && self.str_hash().is_some()
                    && self.bytes_rev().eq(other.bytes_rev())
            }
        }
    }
}

impl Eq for KvState {}

impl std::hash::Hash for KvState {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        match self.str_hash() {
            Some(x) => {
                2u8.hash(h);
                x.hash(h);
            }
            None => {
                1u8.hash(h);
                if let KvState::Plain(v) = self {
                    v.hash(h);
                }
            }
        }
    }
}

fn as_string(v: &Val) -> String {
    match v {
        Val::Null => String::new(),
        Val::Int(i) => i.to_string(),
        Val::Str(s) => s.to_string(),
        Val::List(_) => String::new(),
    }
}

impl Model for KvModel {
    type State = KvState;

    fn name(&self) -> &'static str {
        "kv"
    }

    fn supports(&self, kind: OpKind) -> bool {
        !matches!(kind, OpKind::RPush | OpKind::LRange)
    }

    fn init(&self) -> KvState {
        KvState::null()
    }

    fn apply(&self, state: &KvState, input: &Input) -> (KvState, Output) {
        let plain = |v: Val| KvState::Plain(v);
        match input {
            Input::Read => (state.clone(), Output::Value(state.to_val())),
            Input::Write(v) => (plain(canon(v)), Output::Done),
            Input::Cas(e, n) => {
                if state.eq_val(e) {
                    (plain(canon(n)), Output::CasOk)
                } else {
                    (state.clone(), Output::CasFail)
                }
            }
            Input::Delete => {
                let n = if state.is_null() { 0 } else { 1 };
                (KvState::null(), Output::Count(n))
            }
            Input::Incr(d) => {
                let cur = match state {
                    KvState::Plain(Val::Null) => Some(0),
                    KvState::Plain(Val::Int(i)) => Some(*i),
                    _ => None,
                };
                match cur.and_then(|c| c.checked_add(*d)) {
                    Some(n) => (plain(Val::Int(n)), Output::Count(n)),
                    None => (state.clone(), Output::Error),
                }
            }
            Input::Append(s) => {
                let next = state.append(s);
                let len = next.strlen() as i64;
                (next, Output::Count(len))
            }
            Input::RPush(_) | Input::LRange => (state.clone(), Output::Error),
        }
    }

    fn output_matches(&self, observed: &Output, produced: &Output) -> bool {
        match (observed, produced) {
            (Output::Any, _) => true,
            (Output::Value(a), Output::Value(b)) => super::redis_eq(a, b),
            (a, b) => a == b,
        }
    }

    fn step(&self, state: &KvState, input: &Input, observed: &Output) -> Option<KvState> {
        // Fast paths for the common ops (no allocation); the rest via apply.
        match (input, observed) {
            (Input::Read, Output::Value(v)) => state.eq_val(v).then(|| state.clone()),
            (Input::Write(v), Output::Done | Output::Any) => Some(KvState::Plain(canon(v))),
            (Input::Cas(e, n), Output::CasOk) => state.eq_val(e).then(|| KvState::Plain(canon(n))),
            (Input::Cas(e, _), Output::CasFail) => (!state.eq_val(e)).then(|| state.clone()),
            (Input::Append(s), Output::Count(n)) => {
                let next = state.append(s);
                (next.strlen() as i64 == *n).then_some(next)
            }
            _ => {
                let (next, produced) = self.apply(state, input);
                self.output_matches(observed, &produced).then_some(next)
            }
        }
    }

    fn step_unknown(&self, input: &Input, observed: &Output) -> Option<Option<KvState>> {
        Some(
            match (input, observed) {
                (Input::Read, Output::Value(v)) => Some(canon(v)),
                (Input::Write(v), _) => Some(canon(v)),
                (Input::Cas(_, n), Output::CasOk) => Some(canon(n)),
                (Input::Delete, _) => Some(Val::Null),
                (Input::Incr(_), Output::Count(n)) => Some(Val::Int(*n)),
                _ => None,
            }
            .map(KvState::Plain),
        )
    }

    fn state_bytes(&self, state: &KvState) -> usize {
        match state {
            KvState::Plain(Val::Str(s)) => s.len() + 16,
            KvState::Plain(_) => 0,
            KvState::Cat(_) => std::mem::size_of::<Cat>() + 16,
        }
    }

    fn prunable(&self) -> bool {
        true
    }

    fn canon_value(&self, v: &Val) -> Val {
        canon(v)
    }

    fn describe_state(&self, state: &KvState) -> String {
        state.to_val().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::{BuildHasher, BuildHasherDefault};

    fn h(s: &KvState) -> u64 {
        BuildHasherDefault::<rustc_hash::FxHasher>::default().hash_one(s)
    }

    /// A string grown by appends equals (and hashes like) the same content
    /// written at once, whatever the chunking; short results stay canonical.
    #[test]
    fn chained_strings_compare_by_content() {
        let m = KvModel;
        let mut a = m.init();
        for chunk in ["x 0 0 y", "x 1 2 y", "x 3 4 y", "x 5 6 y"] {
            a = m.apply(&a, &Input::Append(Val::str(chunk))).0;
        }
        let mut b = m.init();
        for chunk in ["x 0 0 yx 1 2 y", "x 3 4 yx 5 6 y"] {
            b = m.apply(&b, &Input::Append(Val::str(chunk))).0;
        }
        let whole = KvState::Plain(Val::str("x 0 0 yx 1 2 yx 3 4 yx 5 6 y"));
        assert!(matches!(a, KvState::Cat(_)));
        assert_eq!(a, b);
        assert_eq!(a, whole);
        assert_eq!(h(&a), h(&b));
        assert_eq!(h(&a), h(&whole));
        assert!(a.eq_val(&Val::str("x 0 0 yx 1 2 yx 3 4 yx 5 6 y")));
        assert!(!a.eq_val(&Val::str("x 0 0 yx 1 2 yx 3 4 yx 5 6 z")));
        let c = m.apply(&a, &Input::Append(Val::str("!"))).0;
        assert_ne!(a, c);
        assert_eq!(
            m.apply(&c, &Input::Read).1,
            Output::Value(Val::str("x 0 0 yx 1 2 yx 3 4 yx 5 6 y!"))
        );
        // "1" then "2" is the integer 12, as in Redis.
        let n = m
            .apply(
                &m.apply(&m.init(), &Input::Append(Val::Int(1))).0,
                &Input::Append(Val::str("2")),
            )
            .0;
        assert_eq!(n, KvState::Plain(Val::Int(12)));
        assert_eq!(m.apply(&n, &Input::Incr(1)).1, Output::Count(13));
    }
}
