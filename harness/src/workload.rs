//! The workload: a pure, seeded op generator (no I/O, no clock).
//!
//! Each client slot owns one [`Generator`]; given the same scenario, seed and
//! slot it yields the same ops (and the same values) every time. Written values
//! are unique across the whole run: a write/cas/rpush value is
//! `1 + counter * slots + slot`, and appended strings carry the same number.

use crate::scenario::{Model, WorkloadSpec};
use sdr_seeded::Rng;
use serde_json::{json, Value};
use std::collections::HashMap;

/// What one op does (arguments included).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpArgs {
    Read,
    Write(i64),
    /// `[expected, new]`.
    Cas(i64, i64),
    Delete,
    Incr(i64),
    Append(String),
    RPush(i64),
    LRange,
}

impl OpArgs {
    /// The history's `f`.
    pub fn f(&self) -> &'static str {
        match self {
            OpArgs::Read => "read",
            OpArgs::Write(_) => "write",
            OpArgs::Cas(..) => "cas",
            OpArgs::Delete => "delete",
            OpArgs::Incr(_) => "incr",
            OpArgs::Append(_) => "append",
            OpArgs::RPush(_) => "rpush",
            OpArgs::LRange => "lrange",
        }
    }
    /// The invocation's `value` (docs/history-format.md).
    pub fn invoke_value(&self) -> Value {
        match self {
            OpArgs::Read | OpArgs::Delete | OpArgs::LRange => Value::Null,
            OpArgs::Write(v) | OpArgs::RPush(v) | OpArgs::Incr(v) => json!(v),
            OpArgs::Cas(e, n) => json!([e, n]),
            OpArgs::Append(s) => json!(s),
        }
    }
    /// Whether the op cannot change state (an indeterminate read constrains nothing).
    pub fn is_read(&self) -> bool {
        matches!(self, OpArgs::Read | OpArgs::LRange)
    }
    /// The RESP command.
    pub fn command(&self, key: &str) -> Vec<Vec<u8>> {
        let k = key.as_bytes().to_vec();
        let s = |x: &str| x.as_bytes().to_vec();
        match self {
            OpArgs::Read => vec![s("GET"), k],
            OpArgs::Write(v) => vec![s("SET"), k, s(&v.to_string())],
            OpArgs::Cas(e, n) => vec![s("SET"), k, s(&n.to_string()), s("IFEQ"), s(&e.to_string())],
            OpArgs::Delete => vec![s("DEL"), k],
            OpArgs::Incr(d) => vec![s("INCRBY"), k, s(&d.to_string())],
            OpArgs::Append(a) => vec![s("APPEND"), k, s(a)],
            OpArgs::RPush(v) => vec![s("RPUSH"), k, s(&v.to_string())],
            OpArgs::LRange => vec![s("LRANGE"), k, s("0"), s("-1")],
        }
    }
}

/// One generated op.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Op {
    pub key: String,
    pub args: OpArgs,
}

/// The key names of a workload: `k0` … `k{n-1}`.
pub fn key_names(n: u32) -> Vec<String> {
    (0..n).map(|i| format!("k{i}")).collect()
}

/// Seeded op generator for one client slot.
#[derive(Clone, Debug)]
pub struct Generator {
    model: Model,
    keys: Vec<String>,
    /// Cumulative weights, parallel to `ops`.
    cumulative: Vec<f64>,
    ops: Vec<String>,
    rng: Rng,
    slot: u64,
    slots: u64,
    counter: u64,
    /// Last value known per key (written by this slot or observed by a read): cas expectations.
    known: HashMap<String, i64>,
}

impl Generator {
    /// `slot` in `0..slots` makes written values unique across slots.
    pub fn new(spec: &WorkloadSpec, seed: u64, slot: u32) -> Generator {
        let mut ops = Vec::new();
        let mut cumulative = Vec::new();
        let mut total = 0.0;
        for (op, w) in spec.effective_mix() {
            if w > 0.0 {
                total += w;
                ops.push(op);
                cumulative.push(total);
            }
        }
        let mut root = Rng::new(seed);
        Generator {
            model: spec.model,
            keys: key_names(spec.keys),
            cumulative,
            ops,
            rng: root.fork(slot as u64 + 1),
            slot: slot as u64,
            slots: spec.clients.max(1) as u64,
            counter: 0,
            known: HashMap::new(),
        }
    }

    fn unique(&mut self) -> i64 {
        let v = 1 + self.counter * self.slots + self.slot;
        self.counter += 1;
        v as i64
    }

    /// Tells the generator a value seen for `key` (e.g. by an ok read), so later cas ops expect it.
    pub fn observe(&mut self, key: &str, value: Option<i64>) {
        match value {
            Some(v) => {
                self.known.insert(key.to_string(), v);
            }
            None => {
                self.known.remove(key);
            }
        }
    }

    /// The next op.
    pub fn next_op(&mut self) -> Op {
        let total = self.cumulative.last().copied().unwrap_or(0.0);
        let x = self.rng.unit() * total;
        let idx = self
            .cumulative
            .iter()
            .position(|c| x < *c)
            .unwrap_or(self.ops.len().saturating_sub(1));
        let name = self.ops.get(idx).cloned().unwrap_or_else(|| "read".into());
        let key = self.keys[self.rng.below(self.keys.len() as u64) as usize].clone();
        let args = match (self.model, name.as_str()) {
            (Model::List, "rpush") => OpArgs::RPush(self.unique()),
            (Model::List, _) => OpArgs::LRange,
            (_, "write") => OpArgs::Write(self.unique()),
            (_, "cas") => match self.known.get(&key).copied() {
                Some(e) => OpArgs::Cas(e, self.unique()),
                // Nothing known about the key yet: write instead (SET IFEQ cannot expect "absent").
                None => OpArgs::Write(self.unique()),
            },
            (_, "delete") => OpArgs::Delete,
            (_, "incr") => OpArgs::Incr(1 + self.rng.below(5) as i64),
            (_, "append") => OpArgs::Append(format!("a{}", self.unique())),
            _ => OpArgs::Read,
        };
        match &args {
            OpArgs::Write(v) | OpArgs::Cas(_, v) => {
                self.known.insert(key.clone(), *v);
            }
            OpArgs::Delete | OpArgs::Append(_) => {
                self.known.remove(&key);
            }
            _ => {}
        }
        Op { key, args }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;
    use std::collections::HashSet;

    fn spec(model: &str, mix: &str) -> WorkloadSpec {
        let y = format!(
            "name: w\nworkload: {{model: {model}, keys: 4, clients: 3{mix}}}\nduration: 1s\nexpect: linearizable\n"
        );
        Scenario::from_yaml(&y, "w.yaml").expect("valid").workload
    }

    #[test]
    fn same_seed_same_ops_different_seed_different_ops() {
        let s = spec(
            "kv",
            ", mix: {read: 1, write: 1, cas: 1, delete: 1, incr: 1, append: 1}",
        );
        let a: Vec<Op> = (0..200)
            .scan(Generator::new(&s, 7, 0), |g, _| Some(g.next_op()))
            .collect();
        let b: Vec<Op> = (0..200)
            .scan(Generator::new(&s, 7, 0), |g, _| Some(g.next_op()))
            .collect();
        let c: Vec<Op> = (0..200)
            .scan(Generator::new(&s, 8, 0), |g, _| Some(g.next_op()))
            .collect();
        let d: Vec<Op> = (0..200)
            .scan(Generator::new(&s, 7, 1), |g, _| Some(g.next_op()))
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
        let kinds: HashSet<&str> = a.iter().map(|o| o.args.f()).collect();
        for k in ["read", "write", "cas", "delete", "incr", "append"] {
            assert!(kinds.contains(k), "{k} never generated");
        }
        assert!(a
            .iter()
            .all(|o| ["k0", "k1", "k2", "k3"].contains(&o.key.as_str())));
    }

    #[test]
    fn written_values_are_unique_across_slots() {
        let s = spec("register", "");
        let mut seen = HashSet::new();
        for slot in 0..3 {
            let mut g = Generator::new(&s, 1, slot);
            for _ in 0..2000 {
                let op = g.next_op();
                let v = match op.args {
                    OpArgs::Write(v) | OpArgs::Cas(_, v) => v,
                    OpArgs::Read => continue,
                    other => panic!("register generated {other:?}"),
                };
                assert!(seen.insert(v), "value {v} written twice");
            }
        }
        assert!(seen.len() > 1000);
    }

    #[test]
    fn cas_expects_a_known_value() {
        let s = spec("register", ", mix: {cas: 1}");
        let mut g = Generator::new(&s, 3, 0);
        let first = g.next_op();
        assert!(
            matches!(first.args, OpArgs::Write(_)),
            "nothing known yet: {first:?}"
        );
        g.observe("k0", Some(42));
        g.observe("k1", Some(42));
        g.observe("k2", Some(42));
        g.observe("k3", Some(42));
        let op = g.next_op();
        assert!(matches!(op.args, OpArgs::Cas(42, _)), "{op:?}");
    }

    #[test]
    fn list_model_and_commands() {
        let s = spec("list", "");
        let mut g = Generator::new(&s, 5, 2);
        let ops: Vec<Op> = (0..100).map(|_| g.next_op()).collect();
        assert!(ops
            .iter()
            .all(|o| matches!(o.args, OpArgs::RPush(_) | OpArgs::LRange)));
        let cmd = OpArgs::Cas(1, 2).command("k");
        assert_eq!(
            cmd,
            vec![
                b"SET".to_vec(),
                b"k".to_vec(),
                b"2".to_vec(),
                b"IFEQ".to_vec(),
                b"1".to_vec()
            ]
        );
        assert_eq!(OpArgs::Cas(1, 2).invoke_value(), json!([1, 2]));
        assert_eq!(
            OpArgs::LRange.command("k")[2..],
            [b"0".to_vec(), b"-1".to_vec()]
        );
    }
}
