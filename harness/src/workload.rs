//! The workload: a seeded op generator (no I/O, no clock).
//!
//! Each client slot owns one [`Generator`]; all of a run's generators share
//! one [`Keys`]: the live key names and the values each key most likely holds
//! now. Written values are unique across the whole run: a write/cas/rpush
//! value is `1 + counter * slots + slot`, and appended strings carry the same
//! number.
//!
//! - **cas expectations.** A `cas` expects a value some client recently wrote
//!   or read on that key ([`Keys::record`]), usually the latest, so a healthy
//!   share of compare-and-sets succeed (each client expecting only what *it*
//!   last saw made nearly all of them fail).
//! - **Independent keys** (Jepsen's `independent`): with `ops-per-key: N` a key
//!   retires after N ops drawn on it by any client and a fresh key takes its
//!   slot (`k3` → `k3-1` → `k3-2` …), so per-key histories stay short in runs
//!   of any length; [`Keys::all`] lists every key ever used (the final reads).
//!
//! Determinism: a generator with its own [`Keys`] ([`Generator::new`]) yields
//! the same ops for the same scenario, seed and slot. Shared by concurrent
//! clients, the op kinds, key slots and written values still come from the
//! seed, but cas expectations and key retirement follow the interleaving.

use crate::scenario::{Model, WorkloadSpec};
use sdr_seeded::Rng;
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

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

/// The key names of a workload without retirement: `k0` … `k{n-1}`.
pub fn key_names(n: u32) -> Vec<String> {
    (0..n).map(|i| format!("k{i}")).collect()
}

/// How many recent values per key a cas may expect.
const RECENT: usize = 4;

/// How often a cas expects the newest recorded value rather than an older
/// recent one. On a hot key an older value nearly always fails its comparison
/// (concurrency already supplies plenty of those), so mostly the newest:
/// `register-hot` seed 1 swapped 27 % of its cas ops with 3/4 here.
const LATEST: f64 = 15.0 / 16.0;

/// The live keys of a run and what each most likely holds, shared by every
/// client's [`Generator`] (and by the final reads, through [`Keys::all`]).
#[derive(Debug)]
pub struct Keys {
    /// 0 = keys never retire.
    ops_per_key: u64,
    inner: Mutex<KeysInner>,
}

#[derive(Debug)]
struct KeysInner {
    /// Per key slot: its current generation and the ops drawn on it so far.
    slots: Vec<(u32, u64)>,
    /// Recent values per key name, newest last; `None` = no integer value
    /// (absent, deleted, appended to).
    recent: HashMap<String, VecDeque<Option<i64>>>,
}

impl Keys {
    pub fn new(spec: &WorkloadSpec) -> Keys {
        Keys {
            ops_per_key: spec.ops_per_key as u64,
            inner: Mutex::new(KeysInner {
                slots: vec![(0, 0); spec.keys.max(1) as usize],
                recent: HashMap::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, KeysInner> {
        // The state is a cache of hints: a panic elsewhere cannot make it unsafe to use.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The name of key slot `slot` in generation `generation`.
    pub fn name(slot: usize, generation: u32) -> String {
        if generation == 0 {
            format!("k{slot}")
        } else {
            format!("k{slot}-{generation}")
        }
    }

    /// The key for the next op on `slot`, counting the op; the key retires
    /// (the slot moves to a fresh key) once it has had `ops-per-key` ops.
    fn draw(&self, slot: usize) -> String {
        let mut g = self.lock();
        let n = g.slots.len();
        let s = &mut g.slots[slot % n];
        if self.ops_per_key > 0 && s.1 >= self.ops_per_key {
            *s = (s.0 + 1, 0);
        }
        s.1 += 1;
        Keys::name(slot % n, s.0)
    }

    /// Every key any op was drawn on (retired ones included), slot by slot.
    pub fn all(&self) -> Vec<String> {
        let g = self.lock();
        g.slots
            .iter()
            .enumerate()
            .flat_map(|(i, (generation, _))| (0..=*generation).map(move |k| Keys::name(i, k)))
            .collect()
    }

    /// Records that `key` (most likely) holds `value` now: a value written or
    /// read by any client; `None` when it holds no integer.
    pub fn record(&self, key: &str, value: Option<i64>) {
        let mut g = self.lock();
        let ring = g.recent.entry(key.to_string()).or_default();
        if ring.back() == Some(&value) {
            return;
        }
        if ring.len() == RECENT {
            ring.pop_front();
        }
        ring.push_back(value);
    }

    /// The value a cas on `key` expects: the latest recorded value with
    /// probability [`LATEST`], else one of the other recent ones; `None` when nothing is recorded
    /// or the latest is not an integer (SET IFEQ cannot expect "absent").
    /// Consumes exactly one draw of `rng`.
    fn expect(&self, key: &str, rng: &mut Rng) -> Option<i64> {
        let x = rng.unit();
        let g = self.lock();
        let ring = g.recent.get(key)?;
        let latest = (*ring.back()?)?;
        let older: Vec<i64> = ring.iter().rev().skip(1).flatten().copied().collect();
        if x < LATEST || older.is_empty() {
            Some(latest)
        } else {
            // Map the rest of [LATEST, 1) onto the older values.
            let i = (((x - LATEST) / (1.0 - LATEST)) * older.len() as f64) as usize;
            older.get(i.min(older.len() - 1)).copied()
        }
    }
}

/// Seeded op generator for one client slot.
#[derive(Clone, Debug)]
pub struct Generator {
    model: Model,
    keys: Arc<Keys>,
    key_slots: u64,
    /// Cumulative weights, parallel to `ops`.
    cumulative: Vec<f64>,
    ops: Vec<String>,
    rng: Rng,
    slot: u64,
    slots: u64,
    counter: u64,
    /// The last value this generator itself wrote per key: what a cas expects
    /// when no client has recorded anything for the key yet.
    own: HashMap<String, Option<i64>>,
}

impl Generator {
    /// A generator with keys of its own (deterministic: no other client
    /// changes what it draws). `slot` in `0..slots` makes written values
    /// unique across slots.
    pub fn new(spec: &WorkloadSpec, seed: u64, slot: u32) -> Generator {
        Generator::shared(spec, seed, slot, Arc::new(Keys::new(spec)))
    }

    /// A generator for one client of a run whose clients share `keys`.
    pub fn shared(spec: &WorkloadSpec, seed: u64, slot: u32, keys: Arc<Keys>) -> Generator {
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
            keys,
            key_slots: spec.keys.max(1) as u64,
            cumulative,
            ops,
            rng: root.fork(slot as u64 + 1),
            slot: slot as u64,
            slots: spec.clients.max(1) as u64,
            counter: 0,
            own: HashMap::new(),
        }
    }

    fn unique(&mut self) -> i64 {
        let v = 1 + self.counter * self.slots + self.slot;
        self.counter += 1;
        v as i64
    }

    /// Tells the generator a value seen for `key` (e.g. by an ok read), so later cas ops expect it.
    pub fn observe(&mut self, key: &str, value: Option<i64>) {
        self.keys.record(key, value);
    }

    /// Records what `op`'s key holds after it completed ok with `result`
    /// (`int_of` turns a reply value into an integer, if it is one).
    pub fn completed(&self, op: &Op, result: &Value, int_of: impl Fn(&Value) -> Option<i64>) {
        let holds = match &op.args {
            OpArgs::Read | OpArgs::Incr(_) => int_of(result),
            OpArgs::Write(v) | OpArgs::Cas(_, v) => Some(*v),
            OpArgs::Delete | OpArgs::Append(_) => None,
            OpArgs::RPush(_) | OpArgs::LRange => return,
        };
        self.keys.record(&op.key, holds);
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
        let key = self.keys.draw(self.rng.below(self.key_slots) as usize);
        let args = match (self.model, name.as_str()) {
            (Model::List, "rpush") => OpArgs::RPush(self.unique()),
            (Model::List, _) => OpArgs::LRange,
            (_, "write") => OpArgs::Write(self.unique()),
            (_, "cas") => match self
                .keys
                .expect(&key, &mut self.rng)
                .or_else(|| self.own.get(&key).copied().flatten())
            {
                Some(e) => OpArgs::Cas(e, self.unique()),
                // Nothing known about the key yet: write instead (SET IFEQ cannot expect "absent").
                None => OpArgs::Write(self.unique()),
            },
            (_, "delete") => OpArgs::Delete,
            (_, "incr") => OpArgs::Incr(1 + self.rng.below(5) as i64),
            (_, "append") => OpArgs::Append(format!("a{}", self.unique())),
            _ => OpArgs::Read,
        };
        // Shared hints are recorded when ops complete (`completed`); a write
        // still in flight is only this generator's own fallback.
        match &args {
            OpArgs::Write(v) | OpArgs::Cas(_, v) => {
                self.own.insert(key.clone(), Some(*v));
            }
            OpArgs::Delete | OpArgs::Append(_) => {
                self.own.insert(key.clone(), None);
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
    use std::sync::Arc;

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

    /// Clients sharing one [`Keys`] against an in-memory register store: ops
    /// take effect at completion, in a seeded random interleaving of up to
    /// `clients` ops in flight (as concurrent clients would). `start` is the
    /// chance that an idle client starts an op at a step: 0.1 keeps ~10% of
    /// the clients in flight, like 16 clients at 800 ops/s with ~2 ms
    /// latency; 1.0 keeps about half of them in flight.
    fn cas_success_rate(keys: u32, clients: u32, mix: &str, start: f64) -> f64 {
        let y = format!(
            "name: w\nworkload: {{model: register, keys: {keys}, clients: {clients}{mix}}}\nduration: 1s\nexpect: linearizable\n"
        );
        let spec = Scenario::from_yaml(&y, "w.yaml").expect("valid").workload;
        let shared = Arc::new(Keys::new(&spec));
        let mut gens: Vec<Generator> = (0..clients)
            .map(|c| Generator::shared(&spec, 11, c, Arc::clone(&shared)))
            .collect();
        let mut in_flight: Vec<Option<Op>> = vec![None; clients as usize];
        let mut store: HashMap<String, i64> = HashMap::new();
        let mut rng = Rng::new(5);
        let (mut swapped, mut decided) = (0u32, 0u32);
        for _ in 0..100_000 {
            let c = rng.below(clients as u64) as usize;
            match in_flight[c].take() {
                None if rng.unit() < start => in_flight[c] = Some(gens[c].next_op()),
                None => {}
                Some(op) => {
                    let result = match op.args {
                        OpArgs::Read => json!(store.get(&op.key)),
                        OpArgs::Write(v) => {
                            store.insert(op.key.clone(), v);
                            json!(v)
                        }
                        OpArgs::Cas(e, v) => {
                            decided += 1;
                            if store.get(&op.key) == Some(&e) {
                                swapped += 1;
                                store.insert(op.key.clone(), v);
                            } else {
                                continue; // comparison failed: nothing learned
                            }
                            json!([e, v])
                        }
                        ref other => panic!("register generated {other:?}"),
                    };
                    gens[c].completed(&op, &result, |v| v.as_i64());
                }
            }
        }
        assert!(decided > 500, "{decided} cas ops");
        swapped as f64 / decided as f64
    }

    #[test]
    fn shared_recent_values_make_cas_succeed() {
        for (keys, clients, mix, start) in [
            (1, 16, "", 0.1),
            (10, 6, "", 1.0),
            (4, 8, ", mix: {read: 1, write: 1, cas: 2}", 0.3),
        ] {
            let r = cas_success_rate(keys, clients, mix, start);
            assert!(
                r >= 1.0 / 3.0,
                "{keys} keys, {clients} clients: {:.0}% of cas swapped",
                r * 100.0
            );
        }
    }

    #[test]
    fn keys_retire_after_ops_per_key() {
        let y = "name: w\nworkload: {model: kv, keys: 2, clients: 1, ops-per-key: 10}\nduration: 1s\nexpect: linearizable\n";
        let spec = Scenario::from_yaml(y, "w.yaml").expect("valid").workload;
        assert_eq!(spec.ops_per_key, 10);
        let mut g = Generator::new(&spec, 1, 0);
        let mut per_key: HashMap<String, u32> = HashMap::new();
        for _ in 0..200 {
            *per_key.entry(g.next_op().key).or_default() += 1;
        }
        assert!(per_key.values().all(|n| *n <= 10), "{per_key:?}");
        assert!(per_key.len() >= 20, "{} keys used", per_key.len());
        assert!(per_key.contains_key("k0") && per_key.contains_key("k1-1"));
        let all: HashSet<String> = g.keys.all().into_iter().collect();
        for k in per_key.keys() {
            assert!(all.contains(k), "{k} missing from the final reads");
        }

        // 0 = never retire; the default is documented as 300.
        let spec = spec_with("ops-per-key: 0");
        let mut g = Generator::new(&spec, 1, 0);
        let used: HashSet<String> = (0..2000).map(|_| g.next_op().key).collect();
        assert_eq!(used.len(), 4);
        assert_eq!(g.keys.all(), key_names(4));
        assert_eq!(spec_with("").ops_per_key, 300);
    }

    fn spec_with(extra: &str) -> WorkloadSpec {
        let sep = if extra.is_empty() { "" } else { ", " };
        let y = format!(
            "name: w\nworkload: {{model: register, keys: 4, clients: 3{sep}{extra}}}\nduration: 1s\nexpect: linearizable\n"
        );
        Scenario::from_yaml(&y, "w.yaml").expect("valid").workload
    }

    #[test]
    fn cas_expects_recent_values_of_other_clients() {
        let spec = spec_with("mix: {cas: 1}");
        let shared = Arc::new(Keys::new(&spec));
        let mut a = Generator::shared(&spec, 2, 0, Arc::clone(&shared));
        let mut b = Generator::shared(&spec, 2, 1, Arc::clone(&shared));
        // a writes every key (nothing known yet, so its cas ops are writes).
        let mut written = HashMap::new();
        while written.len() < 4 {
            let op = a.next_op();
            if let OpArgs::Write(v) = op.args {
                a.completed(&op, &json!(v), |v| v.as_i64());
                written.insert(op.key.clone(), v);
            }
        }
        // b expects what a wrote: it never saw those values itself.
        let op = b.next_op();
        match op.args {
            OpArgs::Cas(e, _) => assert_eq!(Some(&e), written.get(&op.key)),
            other => panic!("expected a cas, got {other:?}"),
        }
    }
}
