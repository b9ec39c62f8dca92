//! The in-memory keyspace: pure data, no I/O, no clock.
//!
//! - this file: [`Keyspace`], [`Value`], [`Entry`], expiry bookkeeping and SCAN order.
//! - [`codec`]: the binary snapshot encoding of a whole keyspace.
//! - [`encoding`]: the `OBJECT ENCODING` name Redis 7.0 would give a value (derived from
//!   contents plus a sticky set of converted keys; thresholds from the node's CONFIG).
//! - [`rdb`]: Redis's RDB value encoding for DUMP / RESTORE (listpacks, intsets, ziplists,
//!   LZF, CRC-64), byte-identical to redis-server 7.0's where the layout allows.
//! - [`sampling`]: eviction candidates without scanning (key near a SCAN position or a
//!   deadline, cost of a key).
//! - [`slot_index`]: the user keys of each cluster hash slot (COUNTKEYSINSLOT and
//!   GETKEYSINSLOT in O(keys in the slot)).
//! - [`versions`]: per-key modification versions for WATCH (touched by every mutation here,
//!   carried by snapshots as a reserved record).
//! - [`zset`]: [`ZSet`], the sorted-set value (member map + ordered (score, member) index).
//! - [`stream`]: [`Stream`], the stream value (entries by ID, consumer groups and their PELs).
//!
//! # Layout and why
//!
//! Keys live in a `HashMap` (O(1) lookups) plus two ordered indexes that share the same
//! reference-counted `Bytes` (no key is copied):
//!
//! - `order: BTreeSet<(scan_hash(key), key)>` gives SCAN a cursor that is a *position*: the
//!   cursor is the 64-bit [`scan_hash`] of the next key to visit. Because the order does not
//!   depend on insertion history or table size, a key present for the whole scan is returned
//!   at least once whatever else is added or removed between calls, and a cursor stays valid
//!   after a leader change (every replica has the same order). Keys with equal hashes are
//!   never split across two SCAN batches, so the 64-bit cursor is always enough.
//! - `expiries: BTreeSet<(deadline_ms, key)>` makes active expiry exact and cheap: the
//!   leader takes the earliest deadlines instead of sampling at random.
//!
//! # Databases
//!
//! The shared (root) keyspace holds the *active* database's keys in its own fields and every
//! other numbered database parked in `dbs` (a `Keyspace` each, created on first use), so the
//! command code in `cmd` runs unchanged on `&mut Keyspace`: applying a `Request::Db` entry
//! swaps that database in (O(1) field swaps, [`Keyspace::select_db`]) and back to db 0 after.
//! The time floor, dedup records and function libraries stay on the root; WATCH versions are
//! per database. Reads use [`Keyspace::db`]. Snapshots name a key of database n ≠ 0
//! `\0sdr:db:<n>:<key>` (older snapshots have none: all their keys are db 0's).
//!
//! Every operation takes `now_ms` from the caller (the leader's stamped time): a key whose
//! deadline is `<= now_ms` is absent for every command. Mutating calls remove such a key on
//! the spot, which is deterministic because `now_ms` comes from the log entry.

pub mod codec;
pub mod encoding;
pub mod rdb;
pub mod sampling;
pub mod slot_index;
pub mod stream;
pub mod versions;
pub mod zset;

pub use stream::Stream;
pub use zset::ZSet;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::{Arc, RwLock};

use bytes::Bytes;

/// The keyspace shared between the state machine (writer) and the read path (readers).
pub type SharedKeyspace = Arc<RwLock<Keyspace>>;

/// A typed value. Hashes and sets are ordered so replies and snapshots are deterministic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Str(Bytes),
    List(VecDeque<Bytes>),
    Hash(BTreeMap<Bytes, Bytes>),
    Set(BTreeSet<Bytes>),
    ZSet(ZSet),
    /// Boxed: a stream carries counters and groups besides its entries.
    Stream(Box<Stream>),
}

impl Value {
    /// The name TYPE replies with.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
            Value::Stream(_) => "stream",
        }
    }

    /// True for an aggregate with no elements; such keys are deleted (Redis semantics).
    pub fn is_empty_aggregate(&self) -> bool {
        match self {
            Value::Str(_) => false,
            Value::List(l) => l.is_empty(),
            Value::Hash(h) => h.is_empty(),
            Value::Set(s) => s.is_empty(),
            Value::ZSet(z) => z.is_empty(),
            // An emptied stream stays (Redis keeps its last ID and groups).
            Value::Stream(_) => false,
        }
    }

    /// O(1) memory estimate: exact for strings, a per-element constant for aggregates
    /// (element sizes are not tracked so the estimate never costs a scan).
    fn approx_bytes(&self) -> usize {
        const PER_ELEMENT: usize = 64;
        match self {
            Value::Str(b) => b.len(),
            Value::List(l) => l.len() * PER_ELEMENT,
            Value::Hash(h) => h.len() * PER_ELEMENT * 2,
            Value::Set(s) => s.len() * PER_ELEMENT,
            // Member (shared by both trees), score, two tree slots.
            Value::ZSet(z) => z.len() * PER_ELEMENT * 2,
            // Field bytes are tracked by the stream itself (O(groups)).
            Value::Stream(s) => s.approx_bytes(),
        }
    }
}

/// What a snapshot encodes ([`Keyspace::image`]): the entries (user keys, then dedup
/// records) and the WATCH version record. Holding it keeps those entries alive; the keyspace
/// copies an entry before changing one an image shares.
///
/// The entries are gathered in hash-map order (the cheapest pass while the keyspace lock is
/// held) and put in SCAN order by [`KeyspaceImage::records`], after the lock is released.
pub struct KeyspaceImage {
    entries: Vec<(Bytes, Arc<Entry>)>,
    /// How many of `entries` are db 0's user keys; `users..others` are the other databases'
    /// keys (`DB_PREFIX` names); the rest are dedup records.
    users: usize,
    others: usize,
    /// The version records: db 0's, then the other databases' (prefixed).
    versions: Vec<(Bytes, Entry)>,
}

impl KeyspaceImage {
    /// Every record the snapshot holds, in encoding order: user keys in SCAN order, then the
    /// dedup records in SCAN order, then the version record (deterministic: the same on
    /// every replica). Sorts on each call (O(n log n), no lock needed).
    pub fn records(&self) -> impl Iterator<Item = (&Bytes, &Entry)> + '_ {
        let scan_order = |range: std::ops::Range<usize>| {
            let mut v: Vec<(u64, usize)> =
                range.map(|i| (scan_hash(&self.entries[i].0), i)).collect();
            v.sort_unstable_by(|a, b| {
                a.0.cmp(&b.0)
                    .then_with(|| self.entries[a.1].0.cmp(&self.entries[b.1].0))
            });
            v
        };
        let mut order = scan_order(0..self.users);
        order.extend(scan_order(self.users..self.others));
        order.extend(scan_order(self.others..self.entries.len()));
        order
            .into_iter()
            .map(move |(_, i)| {
                let (k, e) = &self.entries[i];
                (k, &**e)
            })
            .chain(self.versions.iter().map(|(k, e)| (k, e)))
    }

    /// How many records [`KeyspaceImage::records`] yields.
    pub fn len(&self) -> usize {
        self.entries.len() + self.versions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A stored value and its optional absolute deadline (ms since the epoch).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub value: Value,
    pub expire_at: Option<u64>,
}

impl Entry {
    fn is_expired(&self, now_ms: u64) -> bool {
        matches!(self.expire_at, Some(d) if d <= now_ms)
    }
}

/// Fixed per-key overhead used by [`Keyspace::approx_memory_bytes`].
const KEY_OVERHEAD: usize = 96;

/// The keys of one database — and, for the root keyspace the node shares, the other
/// databases and the group-wide state. See the module docs ("Layout", "Databases").
#[derive(Debug, Default, Clone)]
pub struct Keyspace {
    /// Entries behind `Arc`s: a snapshot takes an [`image`](Keyspace::image) (pointer copies)
    /// and encodes it after the lock is released; a write to an entry the image still holds
    /// copies that entry first (`Arc::make_mut`), so the image stays the state it was taken at.
    map: HashMap<Bytes, Arc<Entry>>,
    order: BTreeSet<(u64, Bytes)>,
    expiries: BTreeSet<(u64, Bytes)>,
    mem: usize,
    /// `IDEMPOTENT` dedup records (keys under [`RECORD_PREFIX`]), apart from the user keys:
    /// no user command can name, list, count, rename or flush them. Snapshots carry them in
    /// the same key stream (the prefix routes them back here on decode).
    records: Option<Box<Keyspace>>,
    /// The group's time floor: the largest stamp applied so far. Applying an entry uses
    /// `max(stamp, floor)` ([`Keyspace::advance_clock`]), proposers stamp and readers read at
    /// `max(local clock, floor)` ([`Keyspace::timeline`]), so a new leader with a slower clock
    /// or an NTP step back cannot make an expired key alive again. Carried by snapshots as
    /// the reserved record [`CLOCK_KEY`].
    clock_floor: u64,
    /// WATCH versions: every mutation below touches the keys it changes.
    versions: versions::Versions,
    /// Keys whose value has converted to Redis's large encoding (or, for a string, was
    /// modified in place): [`encoding`]. Derived, not in snapshots.
    sticky: HashSet<Bytes>,
    /// User keys by hash slot ([`slot_index`]); derived, not in snapshots.
    slots: slot_index::SlotIndex,
    /// The Redis 7 function libraries (replicated state). Snapshots carry them as the
    /// reserved record [`FUNCTIONS_KEY`] (their `FUNCTION DUMP` payload); this registry is
    /// rebuilt from it on decode.
    functions: crate::scripting::functions::Registry,
    /// The numbered databases other than the active one (root keyspace only; see "Databases"
    /// in the module docs): db index → a keyspace holding only that db's keys and WATCH
    /// versions. Created on first use; never dropped (a db's version table must outlive its
    /// keys, or a WATCH could miss a change).
    dbs: BTreeMap<u32, Box<Keyspace>>,
    /// The database whose keys sit in this keyspace's own fields (root only): 0 at rest, the
    /// entry's database while an entry applies ([`Keyspace::select_db`]).
    active: u32,
    /// How many databases SELECT/MOVE/SWAPDB/COPY DB may name (the `databases` config, set at
    /// startup by the server; every member of a group must agree). 0 means the default, 16.
    db_count: u32,
}

/// The default of the `databases` config (Redis's).
pub const DEFAULT_DATABASES: u32 = 16;

/// Snapshot key prefix of a key in a database other than 0: `\0sdr:db:<n>:` + key. Older
/// snapshots have no such keys (every key is in db 0), so the format stays the same.
pub const DB_PREFIX: &[u8] = b"\0sdr:db:";

/// Prefix of every key the node reserves (dedup records, the time floor): user commands
/// naming a key with it are refused when parsed.
pub const RESERVED_PREFIX: &[u8] = b"\0sdr:";

/// The snapshot record holding the group's time floor (8 bytes, little endian).
pub const CLOCK_KEY: &[u8] = b"\0sdr:clock";

/// The snapshot record holding the function libraries (`crate::scripting::functions`'s
/// versioned, checksummed dump payload). Absent from older snapshots: no libraries.
pub const FUNCTIONS_KEY: &[u8] = b"\0sdr:functions";

/// Key prefix of the `IDEMPOTENT` dedup records (reserved: user commands naming a key with
/// it are refused when parsed).
pub const RECORD_PREFIX: &[u8] = b"\0sdr:req:";

/// The snapshot name of `key` in database `n` (`n` ≠ 0): `DB_PREFIX` + n + `:` + key.
fn db_key(n: u32, key: &[u8]) -> Bytes {
    let mut v = Vec::with_capacity(DB_PREFIX.len() + 11 + key.len());
    v.extend_from_slice(DB_PREFIX);
    v.extend_from_slice(n.to_string().as_bytes());
    v.push(b':');
    v.extend_from_slice(key);
    Bytes::from(v)
}

/// How a WATCH on `key` in database `n` is named in a `Request::Transaction` (db 0: the key
/// itself, so older entries mean the same; otherwise its `DB_PREFIX` name).
pub fn watch_key(n: u32, key: &[u8]) -> Bytes {
    if n == 0 {
        own(key)
    } else {
        db_key(n, key)
    }
}

/// The database and key of a [`watch_key`] name other than db 0's (`None` for db 0's).
pub fn split_watch_key(key: &[u8]) -> Option<(u32, &[u8])> {
    split_db_key(key)
}

/// The database and key of a `DB_PREFIX` snapshot name; `None` for any other key (or a
/// malformed prefix, which then stays a reserved record).
fn split_db_key(key: &[u8]) -> Option<(u32, &[u8])> {
    let rest = key.strip_prefix(DB_PREFIX)?;
    let colon = rest.iter().position(|&b| b == b':')?;
    let digits = &rest[..colon];
    if digits.is_empty() || digits.len() > 10 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n: u32 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some((n, &rest[colon + 1..]))
}

/// An empty database, for reads of a database nothing was ever written to.
fn empty_db() -> &'static Keyspace {
    static EMPTY: std::sync::OnceLock<Keyspace> = std::sync::OnceLock::new();
    EMPTY.get_or_init(Keyspace::default)
}

/// Two keyspaces are equal when they hold the same keys, values and deadlines, and the same
/// dedup records (the indexes and the memory estimate are derived data).
impl PartialEq for Keyspace {
    fn eq(&self, other: &Self) -> bool {
        self.map == other.map
            && self.versions == other.versions
            && self.records_len() == other.records_len()
            && {
                match (&self.records, &other.records) {
                    (Some(a), Some(b)) => a.map == b.map,
                    _ => true,
                }
            }
            && self.dbs.keys().chain(other.dbs.keys()).all(|n| {
                let (a, b) = (self.dbs.get(n), other.dbs.get(n));
                a.map_or(0, |d| d.len()) == b.map_or(0, |d| d.len())
                    && match (a, b) {
                        (Some(a), Some(b)) => a.map == b.map && a.versions == b.versions,
                        _ => true,
                    }
            })
    }
}
impl Eq for Keyspace {}

/// The SCAN position of a key: 64-bit FNV-1a followed by the splitmix64 finalizer. Fixed (not
/// seeded) so every replica, and every restart, agrees on cursors.
pub fn scan_hash(key: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in key {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// A private copy of `b`. Arguments arrive as slices of large network or log buffers; storing
/// such a slice would pin the whole buffer for the key's lifetime, so stored keys and values
/// are always copied into their own allocation.
pub fn own(b: &[u8]) -> Bytes {
    Bytes::copy_from_slice(b)
}

/// Redis glob-style matching (`*`, `?`, `[a-z]`, `[^a]`, `\\` escapes); see
/// [`crate::cmd::glob`].
pub fn glob_match(pattern: &[u8], s: &[u8]) -> bool {
    crate::cmd::glob::matches(pattern, s)
}

fn entry_cost(key: &[u8], e: &Entry) -> usize {
    key.len() + KEY_OVERHEAD + e.value.approx_bytes()
}

impl Keyspace {
    pub fn new() -> Keyspace {
        Keyspace::default()
    }

    /// Number of stored keys, including logically expired ones not yet removed (as Redis's
    /// DBSIZE).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Number of keys that carry a deadline.
    pub fn expires_len(&self) -> usize {
        self.expiries.len()
    }

    /// `MEMORY USAGE`: the estimate `maxmemory` accounting charges for `key` (its bytes, the
    /// per-key overhead, its value), or `None` if the key is absent or expired at `now_ms`.
    pub fn memory_usage(&self, key: &[u8], now_ms: u64) -> Option<usize> {
        self.get(key, now_ms).map(|e| entry_cost(key, e))
    }

    /// Running estimate of the memory held by keys and values (dedup records included).
    pub fn approx_memory_bytes(&self) -> usize {
        self.mem
            + self.records.as_ref().map_or(0, |r| r.mem)
            + self.dbs.values().map(|d| d.mem).sum::<usize>()
    }

    /// The memory estimate of this database's keys alone (no dedup records, no other
    /// database).
    pub fn db_memory_bytes(&self) -> usize {
        self.mem
    }

    /// The group's time floor (largest stamp applied).
    pub fn clock_floor(&self) -> u64 {
        self.clock_floor
    }

    /// The group's time at local clock `local_ms`: never before the floor. Proposers stamp
    /// with it and reads use it.
    pub fn timeline(&self, local_ms: u64) -> u64 {
        local_ms.max(self.clock_floor)
    }

    /// Raises the floor to `stamped` if it is later; returns the time an entry stamped
    /// `stamped` applies at (`max(stamped, floor)`). Deterministic: derived from the log.
    pub fn advance_clock(&mut self, stamped: u64) -> u64 {
        if stamped > self.clock_floor {
            self.clock_floor = stamped;
            let entry = Entry {
                value: Value::Str(Bytes::copy_from_slice(&stamped.to_le_bytes())),
                expire_at: None,
            };
            self.records
                .get_or_insert_with(Box::default)
                .insert_raw_user(Bytes::from_static(CLOCK_KEY), entry);
        }
        self.clock_floor
    }

    /// Number of `IDEMPOTENT` dedup records (not user keys).
    pub fn records_len(&self) -> usize {
        self.records.as_ref().map_or(0, |r| {
            r.len()
                - usize::from(self.clock_floor > 0)
                - usize::from(r.map.contains_key(FUNCTIONS_KEY))
        })
    }

    /// The function libraries (FUNCTION / FCALL).
    pub fn functions(&self) -> &crate::scripting::functions::Registry {
        &self.functions
    }

    /// Replaces the function libraries, and their snapshot record ([`FUNCTIONS_KEY`]).
    pub fn set_functions(&mut self, reg: crate::scripting::functions::Registry) {
        let recs = self.records.get_or_insert_with(Box::default);
        if reg.is_empty() {
            recs.remove_untracked(FUNCTIONS_KEY);
        } else {
            let entry = Entry {
                value: Value::Str(Bytes::from(reg.dump())),
                expire_at: None,
            };
            recs.insert_raw_user(Bytes::from_static(FUNCTIONS_KEY), entry);
        }
        self.functions = reg;
    }

    /// The live dedup record `key` (a [`RECORD_PREFIX`] key), `None` if missing or expired.
    pub fn record(&self, key: &[u8], now_ms: u64) -> Option<&Entry> {
        self.records.as_ref()?.get(key, now_ms)
    }

    /// Stores a dedup record, then removes a few records expired at `now_ms` (earliest
    /// first, deterministic: the leader's active expiry only covers user keys).
    pub fn insert_record(&mut self, key: Bytes, value: Value, expire_at: Option<u64>, now_ms: u64) {
        let r = self.records.get_or_insert_with(Box::default);
        r.insert(key, value, expire_at, now_ms);
        let old = r.sample_expired(now_ms, 16);
        r.remove_expired(&old, now_ms);
    }

    /// The WATCH version table.
    pub fn versions(&self) -> &versions::Versions {
        &self.versions
    }

    /// Starts one write command (state machine apply): the keys it modifies get a new
    /// version.
    pub fn begin_write(&mut self) {
        self.versions.begin_write();
    }

    /// True if any watched `(key, seq, existed)` was modified after `seq`, or its existence
    /// at `now_ms` differs from what WATCH saw (see [`versions`]). Deterministic.
    ///
    /// A watch on a key of database `n` ≠ 0 names it [`watch_key`]`(n, key)`; the check
    /// reads that database whichever is active.
    pub fn watch_broken(&self, watches: &[(Bytes, u64, bool)], now_ms: u64) -> bool {
        watches.iter().any(|(k, seen, existed)| {
            let (db, k) = match split_db_key(k) {
                Some((n, k)) => (self.db(n), k),
                None => (self.db(0), &k[..]),
            };
            db.versions.changed_since(k, *seen) || db.contains(k, now_ms) != *existed
        })
    }

    /// Removes every user key (FLUSHDB/FLUSHALL); dedup records stay. Every key counts as
    /// modified for WATCH.
    pub fn clear(&mut self) {
        if self.map.len() <= versions::MAX_TRACKED {
            for k in self.map.keys() {
                self.versions.touch(k);
            }
        } else {
            self.versions.touch_all();
        }
        self.map.clear();
        self.order.clear();
        self.expiries.clear();
        self.sticky.clear();
        self.slots.clear();
        self.mem = 0;
    }

    /// The live entry for `key`, `None` if missing or expired at `now_ms`.
    pub fn get(&self, key: &[u8], now_ms: u64) -> Option<&Entry> {
        self.map
            .get(key)
            .map(|e| &**e)
            .filter(|e| !e.is_expired(now_ms))
    }

    /// Removes `key` if it is expired at `now_ms`; returns whether a live key remains.
    pub fn purge_if_expired(&mut self, key: &[u8], now_ms: u64) -> bool {
        match self.map.get(key) {
            None => false,
            Some(e) if e.is_expired(now_ms) => {
                self.remove(key);
                false
            }
            Some(_) => true,
        }
    }

    /// True if a live `key` exists.
    pub fn contains(&self, key: &[u8], now_ms: u64) -> bool {
        self.get(key, now_ms).is_some()
    }

    /// Inserts or replaces `key` (value and deadline). A deadline `<= now_ms` is not stored:
    /// the key is removed instead, so nothing expired is ever written.
    pub fn insert(&mut self, key: Bytes, value: Value, expire_at: Option<u64>, now_ms: u64) {
        if matches!(expire_at, Some(d) if d <= now_ms) || value.is_empty_aggregate() {
            self.remove(&key);
            return;
        }
        if let Some((k, old)) = self.map.get_key_value(&key[..]) {
            // Overwrite in place: the key keeps its stored copy and its scan-order and slot
            // entries (they depend on the key only), which remove + insert would take out and
            // put back — the costliest part of a SET on an existing key. The rest changes
            // exactly as remove + insert would change it.
            let k = k.clone();
            let (old_cost, old_expire) = (entry_cost(&k, old), old.expire_at);
            let entry = Entry { value, expire_at };
            self.versions.touch(&k);
            self.mem = self.mem.saturating_sub(old_cost) + entry_cost(&k, &entry);
            if old_expire != expire_at {
                if let Some(d) = old_expire {
                    self.expiries.remove(&(d, k.clone()));
                }
                if let Some(d) = expire_at {
                    self.expiries.insert((d, k.clone()));
                }
            }
            self.sticky.remove(&k[..]);
            if encoding::starts_large(&entry.value) {
                self.sticky.insert(k.clone());
            }
            self.map.insert(k, Arc::new(entry));
            return;
        }
        let key = own(&key);
        let entry = Entry { value, expire_at };
        self.mem += entry_cost(&key, &entry);
        if let Some(d) = expire_at {
            self.expiries.insert((d, key.clone()));
        }
        self.order.insert((scan_hash(&key), key.clone()));
        self.slots.insert(&key);
        if encoding::starts_large(&entry.value) {
            self.sticky.insert(key.clone());
        }
        self.map.insert(key, Arc::new(entry));
    }

    /// Stores an entry taken out by [`Keyspace::remove`] under `key` (RENAME): the `Arc`
    /// moves, so a value a snapshot image shares is not copied. Same rules as
    /// [`Keyspace::insert`]: an entry expired at `now_ms` or an empty aggregate is not stored.
    pub fn insert_entry(&mut self, key: Bytes, entry: Arc<Entry>, now_ms: u64) {
        self.remove(&key);
        if entry.is_expired(now_ms) || entry.value.is_empty_aggregate() {
            return;
        }
        let key = own(&key);
        self.mem += entry_cost(&key, &entry);
        if let Some(d) = entry.expire_at {
            self.expiries.insert((d, key.clone()));
        }
        self.order.insert((scan_hash(&key), key.clone()));
        self.slots.insert(&key);
        if encoding::starts_large(&entry.value) {
            self.sticky.insert(key.clone());
        }
        self.map.insert(key, entry);
    }

    /// Removes `key` whatever its deadline; returns the entry as it was stored.
    ///
    /// The entry comes back still behind its `Arc` and is never copied: while a snapshot
    /// image shares it, dropping the result only drops this keyspace's reference (a DEL of a
    /// 64 MiB value during an encode costs no allocation). A caller that needs the value takes
    /// it with `Arc::try_unwrap` or clones only what it replies with; RENAME moves the `Arc`
    /// itself ([`Keyspace::insert_entry`]).
    pub fn remove(&mut self, key: &[u8]) -> Option<Arc<Entry>> {
        let e = self.remove_untracked(key)?;
        self.versions.touch(key);
        Some(e)
    }

    /// [`Keyspace::remove`] without a WATCH touch (snapshot restore).
    fn remove_untracked(&mut self, key: &[u8]) -> Option<Arc<Entry>> {
        let (k, e) = self.map.remove_entry(key)?;
        self.sticky.remove(key);
        self.mem = self.mem.saturating_sub(entry_cost(&k, &e));
        if let Some(d) = e.expire_at {
            self.expiries.remove(&(d, k.clone()));
        }
        self.slots.remove(&k);
        self.order.remove(&(scan_hash(&k), k));
        Some(e)
    }

    /// Removes a live key; returns its entry (`None` if missing or expired — an expired key is
    /// removed too).
    pub fn remove_live(&mut self, key: &[u8], now_ms: u64) -> Option<Arc<Entry>> {
        let e = self.remove(key)?;
        if e.is_expired(now_ms) {
            None
        } else {
            Some(e)
        }
    }

    /// Sets or clears the deadline of a live key. Returns false if the key is absent. A
    /// deadline `<= now_ms` deletes the key.
    pub fn set_expire(&mut self, key: &[u8], expire_at: Option<u64>, now_ms: u64) -> bool {
        if !self.purge_if_expired(key, now_ms) {
            return false;
        }
        if matches!(expire_at, Some(d) if d <= now_ms) {
            self.remove(key);
            return true;
        }
        let Some((k, e)) = self.map.get_key_value(key) else {
            return false;
        };
        let k = k.clone();
        if let Some(old) = e.expire_at {
            self.expiries.remove(&(old, k.clone()));
        }
        if let Some(d) = expire_at {
            self.expiries.insert((d, k.clone()));
        }
        if let Some(e) = self.map.get_mut(key) {
            Arc::make_mut(e).expire_at = expire_at;
        }
        self.versions.touch(key);
        true
    }

    /// Runs `f` on the live value of `key`. With `create`, a missing key is first created with
    /// `create()` (no deadline). Afterwards an emptied aggregate is deleted and the memory
    /// estimate is adjusted. Returns `None` if the key is absent and `create` is `None`.
    pub fn update<R>(
        &mut self,
        key: &Bytes,
        now_ms: u64,
        create: Option<fn() -> Value>,
        f: impl FnOnce(&mut Value) -> R,
    ) -> Option<R> {
        if !self.purge_if_expired(key, now_ms) {
            let make = create?;
            let key = &own(key);
            let entry = Entry {
                value: make(),
                expire_at: None,
            };
            self.mem += entry_cost(key, &entry);
            self.order.insert((scan_hash(key), key.clone()));
            self.slots.insert(key);
            self.map.insert(key.clone(), Arc::new(entry));
        }
        self.versions.touch(key);
        let converted = self.sticky.contains(&key[..]);
        let e = Arc::make_mut(self.map.get_mut(&key[..])?);
        let before = e.value.approx_bytes();
        let before_n = encoding::elements(&e.value);
        let r = f(&mut e.value);
        let after = e.value.approx_bytes();
        let empty = e.value.is_empty_aggregate();
        let converts = !converted && !empty && encoding::converts_in_place(&e.value, before_n);
        self.mem = (self.mem + after).saturating_sub(before);
        if empty {
            self.remove(key);
        } else if converts {
            self.sticky.insert(own(key));
        }
        Some(r)
    }

    /// Up to `max` keys whose deadline is `<= now_ms`, earliest deadline first (for the
    /// leader's active-expiry proposals).
    pub fn sample_expired(&self, now_ms: u64, max: usize) -> Vec<Bytes> {
        self.expiries
            .iter()
            .take_while(|(d, _)| *d <= now_ms)
            .take(max)
            .map(|(_, k)| k.clone())
            .collect()
    }

    /// Removes each of `keys` that is still expired at `now_ms` (a key rewritten since it was
    /// sampled is kept). Returns how many were removed.
    pub fn remove_expired(&mut self, keys: &[Bytes], now_ms: u64) -> usize {
        self.remove_expired_keys(keys, now_ms).len()
    }

    /// [`Keyspace::remove_expired`], returning the keys removed (in `keys` order).
    pub fn remove_expired_keys(&mut self, keys: &[Bytes], now_ms: u64) -> Vec<Bytes> {
        let mut gone = Vec::new();
        for k in keys {
            if matches!(self.map.get(&k[..]), Some(e) if e.is_expired(now_ms)) {
                self.remove(k);
                gone.push(k.clone());
            }
        }
        gone
    }

    /// Every live key in SCAN order (deterministic).
    pub fn keys(&self, now_ms: u64) -> impl Iterator<Item = (&Bytes, &Entry)> + '_ {
        self.order.iter().filter_map(move |(_, k)| {
            let e: &Entry = self.map.get(&k[..])?;
            if e.is_expired(now_ms) {
                None
            } else {
                Some((k, e))
            }
        })
    }

    /// The live keys of hash slot `slot` in byte order (CLUSTER GETKEYSINSLOT): O(keys in
    /// the slot), through the [`slot_index`].
    pub fn keys_in_slot(&self, slot: u16, now_ms: u64) -> impl Iterator<Item = &Bytes> + '_ {
        self.slots
            .keys_in(slot)
            .filter(move |k| self.contains(k, now_ms))
    }

    /// One SCAN step from `cursor`: visits about `count` positions and returns the next cursor
    /// (0 when done) and the live keys visited that pass `filter`.
    pub fn scan(
        &self,
        cursor: u64,
        count: usize,
        now_ms: u64,
        mut filter: impl FnMut(&Bytes, &Entry) -> bool,
    ) -> (u64, Vec<Bytes>) {
        let mut out = Vec::new();
        let mut last_hash = None;
        for (visited, (h, k)) in self.order.range((cursor, Bytes::new())..).enumerate() {
            if visited >= count.max(1) && last_hash != Some(*h) {
                return (*h, out);
            }
            last_hash = Some(*h);
            if let Some(e) = self.map.get(&k[..]) {
                if !e.is_expired(now_ms) && filter(k, e) {
                    out.push(k.clone());
                }
            }
        }
        (0, out)
    }

    /// A consistent view of every entry for the codec — user keys in SCAN order, then the
    /// dedup records — plus the version record: pointer copies only (no value is copied), so a snapshot holds
    /// the keyspace lock for O(keys) and encodes the image after releasing it.
    ///
    /// Under the lock this is one pass over the hash map (two reference-count increments per
    /// key, no lookups, no ordered-index walk); [`KeyspaceImage::records`] sorts afterwards.
    pub fn image(&self) -> KeyspaceImage {
        let mut entries = Vec::with_capacity(self.raw_len());
        entries.extend(self.map.iter().map(|(k, e)| (k.clone(), Arc::clone(e))));
        let users = entries.len();
        let mut versions: Vec<(Bytes, Entry)> = self.versions_record().into_iter().collect();
        // Other databases' keys and version records, under their `DB_PREFIX` names (a key
        // copy per key of a db other than 0; db 0, the common case, copies none).
        for (n, db) in &self.dbs {
            entries.extend(db.map.iter().map(|(k, e)| (db_key(*n, k), Arc::clone(e))));
            if let Some((k, e)) = db.versions_record() {
                versions.push((db_key(*n, &k), e));
            }
        }
        let others = entries.len();
        if let Some(r) = &self.records {
            entries.extend(r.map.iter().map(|(k, e)| (k.clone(), Arc::clone(e))));
        }
        KeyspaceImage {
            entries,
            users,
            others,
            versions,
        }
    }

    /// Number of entries (user keys and dedup records) an [`Keyspace::image`] holds.
    pub(crate) fn raw_len(&self) -> usize {
        self.len()
            + self.records.as_ref().map_or(0, |r| r.len())
            + self.dbs.values().map(|d| d.len()).sum::<usize>()
    }

    /// Whether the codec already holds `key` (user key, other db's key or dedup record).
    pub(crate) fn contains_raw(&self, key: &[u8]) -> bool {
        if let Some((n, k)) = split_db_key(key) {
            return self.dbs.get(&n).is_some_and(|d| d.map.contains_key(k));
        }
        self.map.contains_key(key)
            || self
                .records
                .as_ref()
                .is_some_and(|r| r.map.contains_key(key))
    }

    /// Inserts an entry as stored, expired or not (snapshot restore). A [`RECORD_PREFIX`] key
    /// goes to the dedup records (older snapshots kept them among the user keys).
    pub(crate) fn insert_raw(&mut self, key: Bytes, entry: Entry) {
        if let Some((n, k)) = split_db_key(&key) {
            if n != 0 {
                let k = own(k);
                self.dbs.entry(n).or_default().insert_raw(k, entry);
            }
            return;
        }
        if key[..] == *versions::VERSIONS_KEY {
            if let Value::Str(v) = &entry.value {
                if let Some(v) = versions::Versions::decode(v) {
                    self.versions = v;
                }
            }
            return;
        }
        if key[..] == *CLOCK_KEY {
            if let Value::Str(v) = &entry.value {
                if let Ok(b) = <[u8; 8]>::try_from(&v[..]) {
                    self.clock_floor = self.clock_floor.max(u64::from_le_bytes(b));
                }
            }
        }
        if key[..] == *FUNCTIONS_KEY {
            if let Value::Str(v) = &entry.value {
                match crate::scripting::functions::Registry::restore(v) {
                    Ok(reg) => self.functions = reg,
                    Err(e) => tracing::warn!("snapshot function libraries not loaded: {e}"),
                }
            }
        }
        if key.starts_with(RESERVED_PREFIX) {
            self.records
                .get_or_insert_with(Box::default)
                .insert_raw_user(key, entry);
            return;
        }
        self.insert_raw_user(key, entry);
    }

    /// The WATCH version table as a snapshot record (`None` before the first write).
    pub(crate) fn versions_record(&self) -> Option<(Bytes, Entry)> {
        if self.versions.is_empty() {
            return None;
        }
        let entry = Entry {
            value: Value::Str(Bytes::from(self.versions.encode())),
            expire_at: None,
        };
        Some((Bytes::from_static(versions::VERSIONS_KEY), entry))
    }

    fn insert_raw_user(&mut self, key: Bytes, entry: Entry) {
        self.remove_untracked(&key);
        self.mem += entry_cost(&key, &entry);
        if let Some(d) = entry.expire_at {
            self.expiries.insert((d, key.clone()));
        }
        self.order.insert((scan_hash(&key), key.clone()));
        self.slots.insert(&key);
        if encoding::starts_large(&entry.value) {
            self.sticky.insert(key.clone());
        }
        self.map.insert(key, Arc::new(entry));
    }
}

/// Numbered databases (SELECT, MOVE, SWAPDB, COPY … DB, FLUSHALL). See "Databases" in the
/// module docs: the root keyspace holds the active database's keys in its own fields and the
/// others parked in `dbs`; switching swaps the per-database fields (O(1)), so every command
/// in `cmd` runs unchanged against `&mut Keyspace` while the group-wide state (time floor,
/// dedup records, function libraries) stays on the root.
impl Keyspace {
    /// How many databases exist (the `databases` config).
    pub fn db_count(&self) -> u32 {
        if self.db_count == 0 {
            DEFAULT_DATABASES
        } else {
            self.db_count
        }
    }

    /// Replaces the contents with `other`'s (snapshot load or install), keeping this node's
    /// `databases` config.
    pub fn replace_with(&mut self, other: Keyspace) {
        let n = self.db_count;
        *self = other;
        self.db_count = n;
    }

    /// Sets the `databases` config (startup; the server calls it on the shared keyspace).
    pub fn set_db_count(&mut self, n: u32) {
        self.db_count = n.max(1);
    }

    /// The database whose keys the commands applying now see.
    pub fn active_db(&self) -> u32 {
        self.active
    }

    /// Database `n` for the read path (the root must be at rest, db 0 active): db 0 is the
    /// root itself; a database nothing was written to reads as empty.
    pub fn db(&self, n: u32) -> &Keyspace {
        if n == self.active {
            self
        } else {
            self.dbs.get(&n).map_or(empty_db(), |d| &**d)
        }
    }

    /// Every database that holds keys, in index order, with its keyspace (INFO keyspace,
    /// active expiry, eviction).
    pub fn databases(&self) -> Vec<(u32, &Keyspace)> {
        let mut v: Vec<(u32, &Keyspace)> = Vec::new();
        if !self.is_empty() {
            v.push((self.active, self));
        }
        v.extend(
            self.dbs
                .iter()
                .filter(|(_, d)| !d.is_empty())
                .map(|(n, d)| (*n, &**d)),
        );
        v.sort_by_key(|(n, _)| *n);
        v
    }

    /// Makes database `n` the active one: its keys and versions move into the root's fields,
    /// the previous active database's are parked. O(1). Callers restore the previous database
    /// when their entry is done (the root is at db 0 at rest).
    pub fn select_db(&mut self, n: u32) {
        if n == self.active {
            return;
        }
        let mut parked = self.dbs.remove(&n).unwrap_or_default();
        self.swap_data(&mut parked);
        std::mem::swap(&mut self.versions, &mut parked.versions);
        self.dbs.insert(self.active, parked);
        self.active = n;
    }

    /// Runs `f` with database `n` active, then goes back to the database active before.
    pub fn with_db<R>(&mut self, n: u32, f: impl FnOnce(&mut Keyspace) -> R) -> R {
        let before = self.active;
        self.select_db(n);
        let r = f(self);
        self.select_db(before);
        r
    }

    /// Swaps the keys (not the WATCH versions, which belong to the database index) with
    /// `other`.
    fn swap_data(&mut self, other: &mut Keyspace) {
        std::mem::swap(&mut self.map, &mut other.map);
        std::mem::swap(&mut self.order, &mut other.order);
        std::mem::swap(&mut self.expiries, &mut other.expiries);
        std::mem::swap(&mut self.mem, &mut other.mem);
        std::mem::swap(&mut self.sticky, &mut other.sticky);
        std::mem::swap(&mut self.slots, &mut other.slots);
    }

    /// Every key of this database counts as modified (as [`Keyspace::clear`] does) without
    /// removing it; a parked database first starts a write of its own so the touch is newer
    /// than any WATCH on it.
    fn touch_every_key(&mut self, own_write: bool) {
        if own_write {
            self.versions.begin_write();
        }
        if self.map.len() <= versions::MAX_TRACKED {
            let keys: Vec<Bytes> = self.map.keys().cloned().collect();
            for k in keys {
                self.versions.touch(&k);
            }
        } else {
            self.versions.touch_all();
        }
    }

    /// The parked database `n` (created empty if new). Not the active one.
    fn parked_mut(&mut self, n: u32) -> &mut Keyspace {
        self.dbs.entry(n).or_default()
    }

    /// FLUSHALL: removes every user key of every database (dedup records stay).
    pub fn clear_all(&mut self) {
        self.clear();
        for db in self.dbs.values_mut() {
            db.versions.begin_write();
            db.clear();
        }
    }

    /// SWAPDB `a` `b` (both `< db_count`): the two databases exchange their keys. Every key
    /// of either counts as modified in both (WATCH sees the swap, as Redis's
    /// touchAllWatchedKeysInDb).
    pub fn swap_dbs(&mut self, a: u32, b: u32) {
        if a == b {
            return;
        }
        // Touch the keys both before (they leave) and after (they arrive).
        self.touch_db(a);
        self.touch_db(b);
        if a == self.active || b == self.active {
            let other = if a == self.active { b } else { a };
            let mut parked = self.dbs.remove(&other).unwrap_or_default();
            self.swap_data(&mut parked);
            self.dbs.insert(other, parked);
        } else {
            let mut pa = self.dbs.remove(&a).unwrap_or_default();
            let mut pb = self.dbs.remove(&b).unwrap_or_default();
            pa.swap_data(&mut pb);
            self.dbs.insert(a, pa);
            self.dbs.insert(b, pb);
        }
        self.touch_db(a);
        self.touch_db(b);
    }

    fn touch_db(&mut self, n: u32) {
        if n == self.active {
            self.touch_every_key(false);
        } else {
            self.parked_mut(n).touch_every_key(true);
        }
    }

    /// MOVE: moves the live `key` of the active database to database `dst` (≠ active) unless
    /// `dst` holds it already. Returns whether it moved. The entry's `Arc` moves (no copy).
    pub fn move_to_db(&mut self, key: &Bytes, dst: u32, now_ms: u64) -> bool {
        if dst == self.active || !self.purge_if_expired(key, now_ms) {
            return false;
        }
        let target = self.parked_mut(dst);
        if target.purge_if_expired(key, now_ms) {
            return false;
        }
        let Some(e) = self.remove(key) else {
            return false;
        };
        let target = self.parked_mut(dst);
        target.versions.begin_write();
        target.insert_entry(key.clone(), e, now_ms);
        target.versions.touch(key);
        true
    }

    /// COPY … DB `dst`: puts `entry` (already copied by the caller) under `key` in database
    /// `dst` unless it holds a live `key` and `replace` is false. Returns whether it copied.
    pub fn copy_into_db(
        &mut self,
        dst: u32,
        key: &Bytes,
        entry: Entry,
        replace: bool,
        now_ms: u64,
    ) -> bool {
        if dst == self.active {
            if !replace && self.contains(key, now_ms) {
                return false;
            }
            self.insert(key.clone(), entry.value, entry.expire_at, now_ms);
            self.versions.touch(key);
            return true;
        }
        let target = self.parked_mut(dst);
        if !replace && target.contains(key, now_ms) {
            return false;
        }
        target.versions.begin_write();
        target.insert(key.clone(), entry.value, entry.expire_at, now_ms);
        target.versions.touch(key);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn expired_keys_are_invisible_and_removed() {
        let mut ks = Keyspace::new();
        ks.insert(b("a"), Value::Str(b("1")), Some(100), 0);
        ks.insert(b("b"), Value::Str(b("2")), None, 0);
        assert_eq!(ks.expires_len(), 1);
        assert!(ks.contains(b"a", 99));
        assert!(!ks.contains(b"a", 100));
        assert_eq!(ks.sample_expired(99, 10), Vec::<Bytes>::new());
        assert_eq!(ks.sample_expired(100, 10), vec![b("a")]);
        assert_eq!(ks.remove_expired(&[b("a"), b("b")], 100), 1);
        assert_eq!(ks.len(), 1);
        assert_eq!(ks.expires_len(), 0);
    }

    #[test]
    fn scan_returns_every_stable_key_despite_churn() {
        let mut ks = Keyspace::new();
        for i in 0..500 {
            ks.insert(b(&format!("k{i}")), Value::Str(b("v")), None, 0);
        }
        let mut seen = BTreeSet::new();
        let mut cursor = 0;
        let mut round = 0;
        loop {
            let (next, keys) = ks.scan(cursor, 7, 0, |_, _| true);
            seen.extend(keys);
            // Churn: add and remove other keys between calls.
            ks.insert(b(&format!("new{round}")), Value::Str(b("v")), None, 0);
            ks.remove(format!("new{}", round / 2).as_bytes());
            round += 1;
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        for i in 0..500 {
            assert!(seen.contains(&b(&format!("k{i}"))), "k{i} missing");
        }
    }

    #[test]
    fn update_deletes_emptied_aggregates_and_tracks_memory() {
        let mut ks = Keyspace::new();
        let k = b("l");
        ks.update(&k, 0, Some(|| Value::List(VecDeque::new())), |v| {
            if let Value::List(l) = v {
                l.push_back(b("x"));
            }
        });
        assert!(ks.approx_memory_bytes() > 0);
        ks.update(&k, 0, None, |v| {
            if let Value::List(l) = v {
                l.pop_front();
            }
        });
        assert!(ks.is_empty());
        assert_eq!(ks.approx_memory_bytes(), 0);
    }

    #[test]
    fn databases_are_separate_and_switch_in_place() {
        let mut ks = Keyspace::new();
        ks.insert(b("k"), Value::Str(b("zero")), None, 0);
        ks.with_db(3, |d| {
            d.insert(b("k"), Value::Str(b("three")), Some(500), 0)
        });
        assert_eq!(ks.active_db(), 0);
        assert_eq!(
            ks.db(0).get(b"k", 0).map(|e| e.value.clone()),
            Some(Value::Str(b("zero")))
        );
        assert_eq!(
            ks.db(3).get(b"k", 0).map(|e| e.value.clone()),
            Some(Value::Str(b("three")))
        );
        assert!(ks.db(7).is_empty());
        let dbs: Vec<(u32, usize, usize)> = ks
            .databases()
            .into_iter()
            .map(|(n, d)| (n, d.len(), d.expires_len()))
            .collect();
        assert_eq!(dbs, vec![(0, 1, 0), (3, 1, 1)]);
        ks.swap_dbs(0, 3);
        assert_eq!(
            ks.db(0).get(b"k", 0).map(|e| e.value.clone()),
            Some(Value::Str(b("three")))
        );
        assert!(ks.move_to_db(&b("k"), 5, 0));
        assert!(ks.db(5).contains(b"k", 0) && !ks.db(0).contains(b"k", 0));
        ks.clear_all();
        assert!(ks.databases().is_empty());
    }

    #[test]
    fn move_refuses_an_existing_destination_key() {
        let mut ks = Keyspace::new();
        ks.insert(b("k"), Value::Str(b("a")), None, 0);
        ks.with_db(1, |d| d.insert(b("k"), Value::Str(b("b")), None, 0));
        assert!(!ks.move_to_db(&b("k"), 1, 0));
        ks.insert(b("m"), Value::Str(b("c")), None, 0);
        assert!(ks.move_to_db(&b("m"), 1, 0));
        assert!(!ks.contains(b"m", 0));
        assert!(ks.db(1).contains(b"m", 0));
        assert!(!ks.move_to_db(&b("absent"), 1, 0));
    }

    #[test]
    fn swapdb_breaks_watches_on_both_databases() {
        let mut ks = Keyspace::new();
        ks.begin_write();
        ks.insert(b("k"), Value::Str(b("a")), None, 0);
        let w0 = vec![(watch_key(0, b"k"), ks.db(0).versions().seq(), true)];
        let w1 = vec![(watch_key(1, b"k"), ks.db(1).versions().seq(), false)];
        assert!(!ks.watch_broken(&w0, 0) && !ks.watch_broken(&w1, 0));
        ks.begin_write();
        ks.swap_dbs(0, 1);
        assert!(ks.watch_broken(&w0, 0));
        assert!(ks.watch_broken(&w1, 0));
    }

    #[test]
    fn db_snapshot_names_round_trip_and_reject_garbage() {
        assert_eq!(split_db_key(&db_key(12, b"x:y")), Some((12, &b"x:y"[..])));
        assert_eq!(split_db_key(b"\0sdr:db::x"), None);
        assert_eq!(split_db_key(b"\0sdr:db:99999999999:x"), None);
        assert_eq!(split_db_key(b"plain"), None);
    }
}
