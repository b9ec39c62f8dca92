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
//! - **Transactions** (`list-append`, `rw-register`): an op is one
//!   [`OpArgs::Txn`] of `txn-len` micro-ops (appends/writes and reads mixed by
//!   `mix`), sent as `MULTI … EXEC`. Key slots are grouped by hash tag
//!   (`txn-groups`): a transaction draws one group and every key of it from
//!   that group, so its keys share a Redis Cluster slot (`{t2}k0`, `{t2}k3-1`);
//!   with one group the names are plain (`k0`). Each micro-op counts as one op
//!   of its key for `ops-per-key`.
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
    /// A transaction (`MULTI`, one command per micro-op, `EXEC`); the op's key is `""`.
    Txn(Vec<Micro>),
}

/// One micro-op of a transaction, with its key (docs/history-format.md, "Transactions").
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Micro {
    /// list-append `["append", k, v]`: `RPUSH k v`.
    Append(String, i64),
    /// list-append `["r", k, null]`: `LRANGE k 0 -1`.
    ReadList(String),
    /// rw-register `["w", k, v]`: `SET k v`.
    Write(String, i64),
    /// rw-register `["r", k, null]`: `GET k`.
    Read(String),
}

impl Micro {
    pub fn key(&self) -> &str {
        match self {
            Micro::Append(k, _) | Micro::ReadList(k) | Micro::Write(k, _) | Micro::Read(k) => k,
        }
    }
    /// The micro-op's `f` in the history.
    pub fn f(&self) -> &'static str {
        match self {
            Micro::Append(..) => "append",
            Micro::Write(..) => "w",
            Micro::ReadList(_) | Micro::Read(_) => "r",
        }
    }
    pub fn is_read(&self) -> bool {
        matches!(self, Micro::ReadList(_) | Micro::Read(_))
    }
    /// `[f, key, value]` with `value` the written value, or `read` for a read.
    pub fn to_json(&self, read: Value) -> Value {
        match self {
            Micro::Append(k, v) | Micro::Write(k, v) => json!([self.f(), k, v]),
            Micro::ReadList(k) | Micro::Read(k) => json!([self.f(), k, read]),
        }
    }
    /// The RESP command.
    pub fn command(&self) -> Vec<Vec<u8>> {
        let s = |x: &str| x.as_bytes().to_vec();
        match self {
            Micro::Append(k, v) => vec![s("RPUSH"), s(k), s(&v.to_string())],
            Micro::ReadList(k) => vec![s("LRANGE"), s(k), s("0"), s("-1")],
            Micro::Write(k, v) => vec![s("SET"), s(k), s(&v.to_string())],
            Micro::Read(k) => vec![s("GET"), s(k)],
        }
    }
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
            OpArgs::Txn(_) => "txn",
        }
    }
    /// The invocation's `value` (docs/history-format.md).
    pub fn invoke_value(&self) -> Value {
        match self {
            OpArgs::Read | OpArgs::Delete | OpArgs::LRange => Value::Null,
            OpArgs::Write(v) | OpArgs::RPush(v) | OpArgs::Incr(v) => json!(v),
            OpArgs::Cas(e, n) => json!([e, n]),
            OpArgs::Append(s) => json!(s),
            OpArgs::Txn(m) => Value::Array(m.iter().map(|m| m.to_json(Value::Null)).collect()),
        }
    }
    /// Whether the op cannot change state (an indeterminate read constrains nothing).
    pub fn is_read(&self) -> bool {
        match self {
            OpArgs::Read | OpArgs::LRange => true,
            OpArgs::Txn(m) => m.iter().all(Micro::is_read),
            _ => false,
        }
    }
    /// The RESP commands the op sends, in order: one, or `MULTI`, one per micro-op, `EXEC`.
    pub fn commands(&self, key: &str) -> Vec<Vec<Vec<u8>>> {
        let k = key.as_bytes().to_vec();
        let s = |x: &str| x.as_bytes().to_vec();
        vec![match self {
            OpArgs::Txn(m) => {
                let mut v = Vec::with_capacity(m.len() + 2);
                v.push(vec![s("MULTI")]);
                v.extend(m.iter().map(Micro::command));
                v.push(vec![s("EXEC")]);
                return v;
            }
            OpArgs::Read => vec![s("GET"), k],
            OpArgs::Write(v) => vec![s("SET"), k, s(&v.to_string())],
            OpArgs::Cas(e, n) => vec![s("SET"), k, s(&n.to_string()), s("IFEQ"), s(&e.to_string())],
            OpArgs::Delete => vec![s("DEL"), k],
            OpArgs::Incr(d) => vec![s("INCRBY"), k, s(&d.to_string())],
            OpArgs::Append(a) => vec![s("APPEND"), k, s(a)],
            OpArgs::RPush(v) => vec![s("RPUSH"), k, s(&v.to_string())],
            OpArgs::LRange => vec![s("LRANGE"), k, s("0"), s("-1")],
        }]
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
    /// Key slots per hash-tag group, and groups (1 = untagged names).
    per_group: usize,
    groups: usize,
    inner: Mutex<KeysInner>,
}

#[derive(Debug)]
struct KeysInner {
    /// Per key slot: its current generation and the ops drawn on it so far.
    slots: Vec<(u32, u64)>,
    /// Recent values per key name, newest last; `None` = no integer value
    /// (absent, deleted, appended to).
    recent: HashMap<String, VecDeque<Option<i64>>>,
    /// Keys retired since the last [`Keys::take_retired`], when tracking them.
    retired: Option<Vec<String>>,
}

impl Keys {
    pub fn new(spec: &WorkloadSpec) -> Keys {
        Keys {
            ops_per_key: spec.ops_per_key() as u64,
            per_group: spec.keys().max(1) as usize,
            groups: if spec.model.is_txn() {
                spec.txn_groups() as usize
            } else {
                1
            },
            inner: Mutex::new(KeysInner {
                slots: vec![
                    (0, 0);
                    spec.keys().max(1) as usize
                        * if spec.model.is_txn() {
                            spec.txn_groups() as usize
                        } else {
                            1
                        }
                ],
                recent: HashMap::new(),
                retired: None,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, KeysInner> {
        // The state is a cache of hints: a panic elsewhere cannot make it unsafe to use.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The name of key slot `slot` in generation `generation`: `k{slot}` or `k{slot}-{gen}`,
    /// behind the group's hash tag (`{t2}k1-3`) when there are several groups.
    pub fn name(&self, slot: usize, generation: u32) -> String {
        let (tag, i) = if self.groups > 1 {
            (
                format!("{{t{}}}", slot / self.per_group),
                slot % self.per_group,
            )
        } else {
            (String::new(), slot)
        };
        if generation == 0 {
            format!("{tag}k{i}")
        } else {
            format!("{tag}k{i}-{generation}")
        }
    }

    /// Key slots per group and the number of groups.
    pub fn layout(&self) -> (usize, usize) {
        (self.per_group, self.groups)
    }

    /// The key for the next op on `slot`, counting the op; the key retires
    /// (the slot moves to a fresh key) once it has had `ops-per-key` ops.
    fn draw(&self, slot: usize) -> String {
        let mut g = self.lock();
        let n = g.slots.len();
        let s = &mut g.slots[slot % n];
        let mut gone = None;
        if self.ops_per_key > 0 && s.1 >= self.ops_per_key {
            gone = Some(s.0);
            *s = (s.0 + 1, 0);
        }
        s.1 += 1;
        let generation = s.0;
        if let Some(old) = gone {
            // The retired key's value hints are never asked for again.
            let old = self.name(slot % n, old);
            g.recent.remove(&old);
            if let Some(r) = g.retired.as_mut() {
                r.push(old);
            }
        }
        drop(g);
        self.name(slot % n, generation)
    }

    /// From now on remember the keys that retire, for [`Keys::take_retired`] (the
    /// streaming check closes them).
    pub fn track_retirements(&self) {
        let mut g = self.lock();
        if g.retired.is_none() {
            g.retired = Some(Vec::new());
        }
    }

    /// The keys retired since the last call, in retirement order (empty unless
    /// [`Keys::track_retirements`]). Also forgets their value hints once more (a completion
    /// that was in flight at retirement may have recorded one).
    pub fn take_retired(&self) -> Vec<String> {
        let mut g = self.lock();
        let out = g.retired.as_mut().map(std::mem::take).unwrap_or_default();
        for k in &out {
            g.recent.remove(k);
        }
        out
    }

    /// The current key of every slot (the ones not retired), slot by slot.
    pub fn live(&self) -> Vec<String> {
        let g = self.lock();
        g.slots
            .iter()
            .enumerate()
            .map(|(i, (generation, _))| self.name(i, *generation))
            .collect()
    }

    /// Every key any op was drawn on (retired ones included), slot by slot.
    pub fn all(&self) -> Vec<String> {
        let g = self.lock();
        g.slots
            .iter()
            .enumerate()
            .flat_map(|(i, (generation, _))| (0..=*generation).map(move |k| self.name(i, k)))
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
    txn_len: crate::scenario::TxnLen,
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
            key_slots: spec.keys().max(1) as u64,
            cumulative,
            ops,
            rng: root.fork(slot as u64 + 1),
            slot: slot as u64,
            slots: spec.clients.max(1) as u64,
            counter: 0,
            txn_len: spec.txn_len(),
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
            OpArgs::RPush(_) | OpArgs::LRange | OpArgs::Txn(_) => return,
        };
        self.keys.record(&op.key, holds);
    }

    /// The op kind of the mix for one draw of `rng`.
    fn pick_kind(&mut self) -> String {
        let total = self.cumulative.last().copied().unwrap_or(0.0);
        let x = self.rng.unit() * total;
        let idx = self
            .cumulative
            .iter()
            .position(|c| x < *c)
            .unwrap_or(self.ops.len().saturating_sub(1));
        self.ops.get(idx).cloned().unwrap_or_else(|| "r".into())
    }

    /// The next transaction: `txn-len` micro-ops on keys of one hash-tag group.
    fn next_txn(&mut self) -> Op {
        let (lo, hi) = (self.txn_len.min.max(1), self.txn_len.max.max(1));
        let n = lo + self.rng.below((hi.saturating_sub(lo) + 1) as u64) as u32;
        let (per_group, groups) = self.keys.layout();
        let group = self.rng.below(groups as u64) as usize;
        let mut micro = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let kind = self.pick_kind();
            let slot = group * per_group + self.rng.below(per_group as u64) as usize;
            let key = self.keys.draw(slot);
            micro.push(match (self.model, kind.as_str()) {
                (Model::ListAppend, "append") => Micro::Append(key, self.unique()),
                (Model::ListAppend, _) => Micro::ReadList(key),
                (_, "w") => Micro::Write(key, self.unique()),
                _ => Micro::Read(key),
            });
        }
        Op {
            key: String::new(),
            args: OpArgs::Txn(micro),
        }
    }

    /// The next op.
    pub fn next_op(&mut self) -> Op {
        if self.model.is_txn() {
            return self.next_txn();
        }
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
        let cmd = OpArgs::Cas(1, 2).commands("k").remove(0);
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
            OpArgs::LRange.commands("k")[0][2..],
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
        assert_eq!(spec.ops_per_key(), 10);
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
        assert_eq!(spec_with("").ops_per_key(), 300);
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

    fn txn_spec(model: &str, extra: &str) -> WorkloadSpec {
        let y = format!(
            "name: w\nworkload: {{model: {model}, clients: 3{extra}}}\nduration: 1s\nexpect: valid\n"
        );
        Scenario::from_yaml(&y, "w.yaml").expect("valid").workload
    }

    fn micros(op: &Op) -> &[Micro] {
        match &op.args {
            OpArgs::Txn(m) => m,
            other => panic!("expected a transaction, got {other:?}"),
        }
    }

    #[test]
    fn list_append_transactions_are_seeded_mixed_and_bounded() {
        let spec = txn_spec("list-append", "");
        let gen = |seed, slot| {
            let mut g = Generator::new(&spec, seed, slot);
            (0..300).map(|_| g.next_op()).collect::<Vec<Op>>()
        };
        let a = gen(4, 0);
        assert_eq!(a, gen(4, 0));
        assert_ne!(a, gen(5, 0));
        assert_ne!(a, gen(4, 1));
        let (mut appends, mut reads) = (0, 0);
        let mut lens = HashSet::new();
        for op in &a {
            assert_eq!(op.key, "");
            assert_eq!(op.args.f(), "txn");
            let m = micros(op);
            lens.insert(m.len());
            for x in m {
                match x {
                    Micro::Append(..) => appends += 1,
                    Micro::ReadList(_) => reads += 1,
                    other => panic!("list-append generated {other:?}"),
                }
                // Six live keys, plain names (one group), retiring after 64 micro-ops.
                let base = x.key().split('-').next().unwrap_or("");
                assert!(
                    ["k0", "k1", "k2", "k3", "k4", "k5"].contains(&base),
                    "{}",
                    x.key()
                );
            }
        }
        assert_eq!(lens, HashSet::from([1, 2, 3, 4]));
        let share = appends as f64 / (appends + reads) as f64;
        assert!(
            (0.4..0.6).contains(&share),
            "{appends} appends, {reads} reads"
        );
        // The history value and the commands.
        let t = OpArgs::Txn(vec![
            Micro::Append("k1".into(), 7),
            Micro::ReadList("k2".into()),
        ]);
        assert_eq!(
            t.invoke_value(),
            json!([["append", "k1", 7], ["r", "k2", null]])
        );
        assert!(!t.is_read());
        assert!(OpArgs::Txn(vec![Micro::Read("k".into())]).is_read());
        let c = t.commands("");
        let words: Vec<String> = c
            .iter()
            .map(|a| {
                a.iter()
                    .map(|w| String::from_utf8_lossy(w).into_owned())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        assert_eq!(words, ["MULTI", "RPUSH k1 7", "LRANGE k2 0 -1", "EXEC"]);
    }

    #[test]
    fn txn_values_unique_per_key_and_keys_rotate() {
        let spec = txn_spec("rw-register", ", keys: 2, ops-per-key: 10, txn-len: 3");
        let keys = Arc::new(Keys::new(&spec));
        let mut gens: Vec<Generator> = (0..3)
            .map(|c| Generator::shared(&spec, 9, c, Arc::clone(&keys)))
            .collect();
        let mut written = HashSet::new();
        let mut per_key: HashMap<String, u32> = HashMap::new();
        for i in 0..600 {
            let op = gens[i % 3].next_op();
            let m = micros(&op);
            assert_eq!(m.len(), 3);
            for x in m {
                *per_key.entry(x.key().to_string()).or_default() += 1;
                match x {
                    // Unique across the run, so certainly per key.
                    Micro::Write(_, v) => assert!(written.insert(*v), "{v} written twice"),
                    Micro::Read(_) => {}
                    other => panic!("rw-register generated {other:?}"),
                }
            }
        }
        assert!(per_key.values().all(|n| *n <= 10), "{per_key:?}");
        assert!(per_key.len() >= 150, "{} keys", per_key.len());
        let all: HashSet<String> = keys.all().into_iter().collect();
        assert!(per_key.keys().all(|k| all.contains(k)));
        assert!(written.len() > 700);
    }

    #[test]
    fn txn_keys_share_a_hash_tag_and_groups_spread() {
        let spec = txn_spec("list-append", ", keys: 3, txn-groups: 5, ops-per-key: 4");
        let mut g = Generator::new(&spec, 2, 0);
        let mut tags = HashSet::new();
        for _ in 0..500 {
            let op = g.next_op();
            let keys: Vec<&str> = micros(&op).iter().map(Micro::key).collect();
            let tag = |k: &str| -> String {
                let open = k.find('{').expect("tagged");
                let close = k.find('}').expect("tagged");
                k[open + 1..close].to_string()
            };
            let t = tag(keys[0]);
            assert!(keys.iter().all(|k| tag(k) == t), "{keys:?}");
            // One Redis Cluster slot for the whole transaction.
            let slot = |k: &str| sdr_resp_slot(k);
            assert!(keys.iter().all(|k| slot(k) == slot(keys[0])), "{keys:?}");
            tags.insert(t);
        }
        assert_eq!(tags.len(), 5, "{tags:?}");
        assert!(g.keys.all().iter().any(|k| k.starts_with("{t4}k2-")));
    }

    /// Redis Cluster's key slot (CRC16 of the hash tag), written out here so the test does not
    /// trust the code it checks: `{t1}a` and `{t1}b` must agree.
    fn sdr_resp_slot(key: &str) -> u16 {
        let b = key.as_bytes();
        let part = match b.iter().position(|&c| c == b'{') {
            Some(s) => match b[s + 1..].iter().position(|&c| c == b'}') {
                Some(e) if e > 0 => &b[s + 1..s + 1 + e],
                _ => b,
            },
            None => b,
        };
        let mut crc: u16 = 0;
        for &byte in part {
            crc ^= (byte as u16) << 8;
            for _ in 0..8 {
                crc = if crc & 0x8000 != 0 {
                    (crc << 1) ^ 0x1021
                } else {
                    crc << 1
                };
            }
        }
        crc % 16384
    }
}
