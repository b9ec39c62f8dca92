//! [`Stream`], the stream value: entries ordered by [`StreamId`], the stream's counters, and
//! its consumer groups (pending-entries lists, consumers, delivery counts).
//!
//! # Layout and why
//!
//! - `entries: BTreeMap<StreamId, fields>`: the ordered structure Redis keeps as a radix tree
//!   of listpacks. Range reads, first/last and deletes are O(log n).
//! - `nodes`: the *shape* Redis's radix tree would have — which entries share a listpack node
//!   (keyed by the node's master ID, with its valid and deleted-flag counts). No entry data is
//!   in it; it exists because Redis's replies depend on that shape: `MAXLEN ~`/`MINID ~` only
//!   remove whole nodes, and `XINFO STREAM` reports `radix-tree-keys`. A node closes at
//!   `stream-node-max-entries` (100) entries, live or deleted, or when its listpack would
//!   reach `stream-node-max-bytes` (4096); the listpack size is an estimate from Redis's
//!   listpack element sizes (documented in docs/commands.md).
//! - Each [`Group`] has its PEL as `BTreeMap<StreamId, Nack>` and each [`Consumer`] a
//!   `BTreeSet<StreamId>` index of the IDs it owns; the two are kept in step by the methods
//!   here (a NACK's `consumer` names the consumer whose index holds its ID).
//!
//! Every time (delivery time, seen time) is a parameter: the caller passes the log's stamped
//! `now_ms` for writes, so replicas agree; nothing here reads a clock.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use bytes::Bytes;

/// A stream entry ID `ms-seq`, ordered by `(ms, seq)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    pub const fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    /// The next ID, `None` after `MAX` (Redis's `streamIncrID` failing).
    pub fn incr(self) -> Option<StreamId> {
        if self.seq == u64::MAX {
            if self.ms == u64::MAX {
                None
            } else {
                Some(StreamId::new(self.ms + 1, 0))
            }
        } else {
            Some(StreamId::new(self.ms, self.seq + 1))
        }
    }

    /// The previous ID, `None` before `MIN`.
    pub fn decr(self) -> Option<StreamId> {
        if self.seq == 0 {
            if self.ms == 0 {
                None
            } else {
                Some(StreamId::new(self.ms - 1, u64::MAX))
            }
        } else {
            Some(StreamId::new(self.ms, self.seq - 1))
        }
    }

    pub fn is_zero(self) -> bool {
        self == StreamId::MIN
    }

    /// The ID as a reply string.
    pub fn to_bytes(self) -> Bytes {
        Bytes::from(self.to_string())
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// Redis's `stream-node-max-entries` default.
pub const NODE_MAX_ENTRIES: u64 = 100;
/// Redis's `stream-node-max-bytes` default.
pub const NODE_MAX_BYTES: usize = 4096;
/// Redis's `SCG_INVALID_ENTRIES_READ`: a group whose read counter is unknown.
pub const INVALID_ENTRIES_READ: i64 = -1;

/// One listpack node of Redis's radix tree, as far as replies can tell: see the module docs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// Entries not flagged deleted.
    pub valid: u64,
    /// Entries flagged deleted (XDEL, partial trims) but still in the listpack.
    pub deleted: u64,
    /// The last ID ever appended to this node (deleted or not).
    pub last: StreamId,
    /// The master entry's field names (entries with the same names are stored compactly).
    pub master_fields: Vec<Bytes>,
    /// Estimated listpack size in bytes.
    pub lp_bytes: usize,
}

/// A pending entry (delivered, not yet acknowledged).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nack {
    pub consumer: Bytes,
    /// Stamped time of the last delivery (ms).
    pub delivery_time: u64,
    pub delivery_count: u64,
}

/// A consumer of a group.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Consumer {
    /// Stamped time the consumer was last seen (created, read, claimed).
    pub seen_time: u64,
    /// The IDs of the group's PEL this consumer owns.
    pub pel: BTreeSet<StreamId>,
}

/// A consumer group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub last_id: StreamId,
    /// Entries read by the group, or [`INVALID_ENTRIES_READ`].
    pub entries_read: i64,
    pub pel: BTreeMap<StreamId, Nack>,
    pub consumers: BTreeMap<Bytes, Consumer>,
}

impl Group {
    pub fn new(last_id: StreamId, entries_read: i64) -> Group {
        Group {
            last_id,
            entries_read,
            pel: BTreeMap::new(),
            consumers: BTreeMap::new(),
        }
    }

    /// Removes `id` from the PEL and from its owner's index; true if it was pending.
    pub fn ack(&mut self, id: StreamId) -> bool {
        match self.pel.remove(&id) {
            Some(n) => {
                if let Some(c) = self.consumers.get_mut(&n.consumer) {
                    c.pel.remove(&id);
                }
                true
            }
            None => false,
        }
    }

    /// Assigns pending `id` to `consumer` (which must exist), creating the NACK if missing
    /// (delivery count 0, the caller sets it). Returns the NACK.
    pub fn assign(&mut self, id: StreamId, consumer: &Bytes, now: u64) -> &mut Nack {
        let prev = self.pel.get(&id).map(|n| n.consumer.clone());
        if let Some(p) = &prev {
            if p != consumer {
                if let Some(c) = self.consumers.get_mut(p) {
                    c.pel.remove(&id);
                }
            }
        }
        if let Some(c) = self.consumers.get_mut(consumer) {
            c.pel.insert(id);
        }
        let n = self.pel.entry(id).or_insert_with(|| Nack {
            consumer: consumer.clone(),
            delivery_time: now,
            delivery_count: 0,
        });
        n.consumer = consumer.clone();
        n
    }

    /// Creates `name` if missing (seen now); true if created.
    pub fn create_consumer(&mut self, name: &Bytes, now: u64) -> bool {
        if self.consumers.contains_key(name) {
            return false;
        }
        self.consumers.insert(
            name.clone(),
            Consumer {
                seen_time: now,
                pel: BTreeSet::new(),
            },
        );
        true
    }

    /// Looks `name` up, refreshing its seen time, creating it if missing.
    pub fn touch_consumer(&mut self, name: &Bytes, now: u64) {
        if !self.create_consumer(name, now) {
            if let Some(c) = self.consumers.get_mut(name) {
                c.seen_time = now;
            }
        }
    }

    /// Deletes a consumer and its pending entries; returns how many were pending.
    pub fn delete_consumer(&mut self, name: &[u8]) -> Option<usize> {
        let c = self.consumers.remove(name)?;
        for id in &c.pel {
            self.pel.remove(id);
        }
        Some(c.pel.len())
    }
}

/// How to trim (XADD's and XTRIM's MAXLEN/MINID).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trim {
    MaxLen(u64),
    MinId(StreamId),
}

/// A stream value. See the module docs.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Stream {
    entries: BTreeMap<StreamId, Vec<Bytes>>,
    nodes: BTreeMap<StreamId, Node>,
    pub last_id: StreamId,
    /// `recorded-first-entry-id`: the first live entry, `0-0` when empty.
    pub first_id: StreamId,
    pub max_deleted_id: StreamId,
    pub entries_added: u64,
    pub groups: BTreeMap<Bytes, Group>,
    /// Total bytes of field names and values (memory estimate).
    data_bytes: usize,
}

fn lp_str_size(len: usize) -> usize {
    let enc = if len < 64 {
        1
    } else if len < 4096 {
        2
    } else {
        5
    };
    let body = enc + len;
    body + backlen(body)
}

fn lp_int_size(v: u64) -> usize {
    let body = if v < 128 {
        1
    } else if v < 4096 {
        2
    } else if v < 32768 {
        3
    } else if v < (1 << 23) {
        4
    } else if v < (1 << 31) {
        5
    } else {
        9
    };
    body + backlen(body)
}

fn backlen(n: usize) -> usize {
    match n {
        0..=127 => 1,
        128..=16383 => 2,
        16384..=2097151 => 3,
        2097152..=268435455 => 4,
        _ => 5,
    }
}

impl Stream {
    pub fn new() -> Stream {
        Stream::default()
    }

    /// Number of entries (XLEN).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Number of listpack nodes (`radix-tree-keys`).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The node shape, for the codec.
    pub fn nodes(&self) -> impl Iterator<Item = (&StreamId, &Node)> + '_ {
        self.nodes.iter()
    }

    /// Every entry in ID order.
    pub fn entries(&self) -> impl DoubleEndedIterator<Item = (&StreamId, &Vec<Bytes>)> + '_ {
        self.entries.iter()
    }

    /// The entries with `start <= id <= end`, in order.
    pub fn range(
        &self,
        start: StreamId,
        end: StreamId,
    ) -> impl DoubleEndedIterator<Item = (&StreamId, &Vec<Bytes>)> + '_ {
        let r = if start <= end {
            Some(self.entries.range(start..=end))
        } else {
            None
        };
        r.into_iter().flatten()
    }

    pub fn get(&self, id: StreamId) -> Option<&Vec<Bytes>> {
        self.entries.get(&id)
    }

    pub fn contains(&self, id: StreamId) -> bool {
        self.entries.contains_key(&id)
    }

    /// The last live entry's ID (`streamLastValidID`), `0-0` when empty.
    pub fn last_valid(&self) -> StreamId {
        self.entries.keys().next_back().copied().unwrap_or_default()
    }

    /// Memory estimate: field bytes plus per-entry, per-node and per-PEL constants (O(groups)).
    pub fn approx_bytes(&self) -> usize {
        let groups: usize = self
            .groups
            .iter()
            .map(|(n, g)| 128 + n.len() + g.pel.len() * 96 + g.consumers.len() * 96)
            .sum();
        self.data_bytes + self.entries.len() * 48 + self.nodes.len() * 64 + groups
    }

    /// Appends an entry with ID `id` (the caller checked `id > last_id`). `fields` alternate
    /// name, value.
    pub fn append(&mut self, id: StreamId, fields: Vec<Bytes>) {
        let total: usize = fields.iter().map(|f| f.len()).sum();
        let names: Vec<&Bytes> = fields.iter().step_by(2).collect();
        let tail = self.nodes.iter_mut().next_back();
        let need_new = match &tail {
            None => true,
            Some((_, n)) => {
                n.lp_bytes + total >= NODE_MAX_BYTES || n.valid + n.deleted >= NODE_MAX_ENTRIES
            }
        };
        let entry_cost = |master: &StreamId, master_fields: &[Bytes]| -> usize {
            let same = master_fields.len() == names.len()
                && master_fields.iter().zip(&names).all(|(a, b)| a == *b);
            let mut c = lp_int_size(2) + lp_int_size(id.ms.wrapping_sub(master.ms));
            c += lp_int_size(id.seq.wrapping_sub(master.seq));
            if !same {
                c += lp_int_size(names.len() as u64);
                c += names.iter().map(|n| lp_str_size(n.len())).sum::<usize>();
            }
            c += fields
                .iter()
                .skip(1)
                .step_by(2)
                .map(|v| lp_str_size(v.len()))
                .sum::<usize>();
            c + lp_int_size(names.len() as u64 + 3)
        };
        if need_new {
            let master_fields: Vec<Bytes> = names.iter().map(|n| (*n).clone()).collect();
            // Header, count, deleted, master field count, names, terminator.
            let mut lp = 7 + 3 * lp_int_size(1) + lp_int_size(master_fields.len() as u64);
            lp += master_fields
                .iter()
                .map(|n| lp_str_size(n.len()))
                .sum::<usize>();
            lp += entry_cost(&id, &master_fields);
            self.nodes.insert(
                id,
                Node {
                    valid: 1,
                    deleted: 0,
                    last: id,
                    master_fields,
                    lp_bytes: lp,
                },
            );
        } else if let Some((master, n)) = tail {
            n.lp_bytes += entry_cost(master, &n.master_fields);
            n.valid += 1;
            n.last = id;
        }
        self.data_bytes += total;
        self.entries.insert(id, fields);
        self.entries_added += 1;
        self.last_id = id;
        if self.entries.len() == 1 {
            self.first_id = id;
        }
    }

    /// Inserts an entry as stored (snapshot decode): no counter or node changes.
    pub(crate) fn insert_raw(&mut self, id: StreamId, fields: Vec<Bytes>) -> bool {
        self.data_bytes += fields.iter().map(|f| f.len()).sum::<usize>();
        self.entries.insert(id, fields).is_none()
    }

    /// Inserts a node as stored (snapshot decode).
    pub(crate) fn insert_node_raw(&mut self, master: StreamId, node: Node) -> bool {
        self.nodes.insert(master, node).is_none()
    }

    /// Removes one entry (XDEL): its node counts it as deleted and goes when no live entry is
    /// left. Returns whether it existed. Does not update `first_id`/`max_deleted_id`.
    pub fn delete(&mut self, id: StreamId) -> bool {
        let Some(fields) = self.entries.remove(&id) else {
            return false;
        };
        self.data_bytes -= fields.iter().map(|f| f.len()).sum::<usize>();
        if let Some((&master, n)) = self.nodes.range_mut(..=id).next_back() {
            n.valid = n.valid.saturating_sub(1);
            n.deleted += 1;
            if n.valid == 0 {
                self.nodes.remove(&master);
            }
        }
        true
    }

    /// Recomputes `first_id` after deletions (first live entry, `0-0` when empty).
    pub fn refresh_first(&mut self) {
        self.first_id = self.entries.keys().next().copied().unwrap_or_default();
    }

    /// Redis's `streamTrim`: removes whole nodes from the head while the strategy allows;
    /// then, unless `approx`, flags entries of the next node deleted one by one. `limit` (0 =
    /// none) caps the entries removed, counted per whole node. Returns how many were removed.
    pub fn trim(&mut self, how: Trim, approx: bool, limit: u64) -> u64 {
        let mut deleted = 0u64;
        loop {
            let Some((&master, node)) = self.nodes.iter().next() else {
                break;
            };
            let length = self.entries.len() as u64;
            if let Trim::MaxLen(max) = how {
                if length <= max {
                    break;
                }
            }
            let entries = node.valid;
            if limit != 0 && deleted + entries > limit {
                break;
            }
            let remove_node = match how {
                Trim::MaxLen(max) => length - entries >= max,
                Trim::MinId(min) => node.last < min,
            };
            let next_master = self
                .nodes
                .range((
                    std::ops::Bound::Excluded(master),
                    std::ops::Bound::Unbounded,
                ))
                .next()
                .map(|(k, _)| *k);
            if remove_node {
                let ids: Vec<StreamId> = match next_master {
                    Some(nm) => self.entries.range(master..nm).map(|(k, _)| *k).collect(),
                    None => self.entries.range(master..).map(|(k, _)| *k).collect(),
                };
                for id in ids {
                    if let Some(f) = self.entries.remove(&id) {
                        self.data_bytes -= f.iter().map(|x| x.len()).sum::<usize>();
                    }
                }
                self.nodes.remove(&master);
                deleted += entries;
                continue;
            }
            if approx {
                break;
            }
            // Flag entries of this node deleted until the strategy is satisfied.
            let ids: Vec<StreamId> = match next_master {
                Some(nm) => self.entries.range(master..nm).map(|(k, _)| *k).collect(),
                None => self.entries.range(master..).map(|(k, _)| *k).collect(),
            };
            let mut from_node = 0u64;
            for id in ids {
                let stop = match how {
                    Trim::MaxLen(max) => self.entries.len() as u64 <= max,
                    Trim::MinId(min) => id >= min,
                };
                if stop {
                    break;
                }
                if let Some(f) = self.entries.remove(&id) {
                    self.data_bytes -= f.iter().map(|x| x.len()).sum::<usize>();
                    from_node += 1;
                }
            }
            if let Some(n) = self.nodes.get_mut(&master) {
                n.valid = n.valid.saturating_sub(from_node);
                n.deleted += from_node;
            }
            deleted += from_node;
            break;
        }
        if self.entries.is_empty() {
            self.first_id = StreamId::MIN;
        } else if deleted > 0 {
            self.refresh_first();
        }
        deleted
    }

    /// Redis's `streamRangeHasTombstones`: could a deleted entry lie in `[start, end]`?
    pub fn range_has_tombstones(&self, start: StreamId, end: StreamId) -> bool {
        if self.entries.is_empty() || self.max_deleted_id.is_zero() {
            return false;
        }
        if self.first_id > self.max_deleted_id {
            return false;
        }
        start <= self.max_deleted_id && self.max_deleted_id <= end
    }

    /// Redis's `streamEstimateDistanceFromFirstEverEntry`; [`INVALID_ENTRIES_READ`] if unknown.
    pub fn estimate_distance(&self, id: StreamId) -> i64 {
        let added = self.entries_added as i64;
        if self.entries_added == 0 {
            return 0;
        }
        if self.entries.is_empty() && id <= self.last_id {
            return added;
        }
        if id == self.last_id {
            return added;
        } else if id > self.last_id {
            return INVALID_ENTRIES_READ;
        }
        if self.max_deleted_id.is_zero() || self.max_deleted_id < self.first_id {
            let len = self.entries.len() as i64;
            if id < self.first_id {
                return added - len;
            } else if id == self.first_id {
                return added - len + 1;
            }
        }
        INVALID_ENTRIES_READ
    }

    /// A group's lag (`None` = unknown, a nil reply).
    pub fn lag(&self, g: &Group) -> Option<i64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if g.entries_read != INVALID_ENTRIES_READ
            && !self.range_has_tombstones(g.last_id, StreamId::MAX)
        {
            return Some(self.entries_added as i64 - g.entries_read);
        }
        let read = self.estimate_distance(g.last_id);
        (read != INVALID_ENTRIES_READ).then(|| self.entries_added as i64 - read)
    }

    /// Advances `group`'s last ID to `id` on delivery, keeping its read counter as Redis does.
    pub fn advance_group(&mut self, group: &[u8], id: StreamId) {
        let tomb = self.range_has_tombstones(id, StreamId::MAX);
        let est = self.estimate_distance(id);
        let added = self.entries_added;
        if let Some(g) = self.groups.get_mut(group) {
            if id > g.last_id {
                if g.entries_read != INVALID_ENTRIES_READ && !tomb {
                    g.entries_read += 1;
                } else if added > 0 {
                    g.entries_read = est;
                }
                g.last_id = id;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(v: &str) -> Vec<Bytes> {
        vec![
            Bytes::from_static(b"f"),
            Bytes::copy_from_slice(v.as_bytes()),
        ]
    }

    #[test]
    fn ids_order_and_step() {
        assert!(StreamId::new(1, 5) < StreamId::new(2, 0));
        assert_eq!(StreamId::new(1, u64::MAX).incr(), Some(StreamId::new(2, 0)));
        assert_eq!(StreamId::MAX.incr(), None);
        assert_eq!(StreamId::MIN.decr(), None);
        assert_eq!(StreamId::new(3, 0).decr(), Some(StreamId::new(2, u64::MAX)));
        assert_eq!(StreamId::new(3, 4).to_string(), "3-4");
    }

    #[test]
    fn nodes_split_at_100_entries_and_approx_trim_removes_whole_nodes() {
        let mut s = Stream::new();
        for i in 1..=250 {
            s.append(StreamId::new(i, 0), f("v"));
        }
        assert_eq!(s.node_count(), 3);
        // ~ 120: only the first node (100 entries) can go.
        assert_eq!(s.trim(Trim::MaxLen(120), true, 10_000), 100);
        assert_eq!(s.len(), 150);
        assert_eq!(s.first_id, StreamId::new(101, 0));
        // Exact: flags entries of the next node.
        assert_eq!(s.trim(Trim::MaxLen(120), false, 0), 30);
        assert_eq!(s.len(), 120);
        assert_eq!(s.node_count(), 2);
        assert_eq!(s.trim(Trim::MinId(StreamId::new(240, 0)), false, 0), 109);
        assert_eq!(s.first_id, StreamId::new(240, 0));
    }

    #[test]
    fn delete_drops_empty_nodes_and_pel_follows_consumers() {
        let mut s = Stream::new();
        s.append(StreamId::new(1, 0), f("a"));
        s.append(StreamId::new(2, 0), f("b"));
        assert!(s.delete(StreamId::new(1, 0)));
        assert!(!s.delete(StreamId::new(1, 0)));
        assert_eq!(s.node_count(), 1);
        assert!(s.delete(StreamId::new(2, 0)));
        assert_eq!(s.node_count(), 0);

        let mut g = Group::new(StreamId::MIN, 0);
        let (a, b) = (Bytes::from_static(b"a"), Bytes::from_static(b"b"));
        g.create_consumer(&a, 5);
        g.create_consumer(&b, 5);
        g.assign(StreamId::new(1, 0), &a, 5).delivery_count = 1;
        g.assign(StreamId::new(1, 0), &b, 6);
        assert!(g.consumers[&a].pel.is_empty());
        assert_eq!(g.consumers[&b].pel.len(), 1);
        assert_eq!(g.delete_consumer(b"b"), Some(1));
        assert!(g.pel.is_empty());
    }
}
