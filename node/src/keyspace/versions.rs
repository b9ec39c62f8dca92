//! Per-key modification versions for `WATCH`, kept in the replicated state.
//!
//! Every applied write command takes the next *modification sequence number* (`seq`,
//! [`Versions::begin_write`]); every key it modifies — written, deleted, expired, flushed —
//! records that number ([`Versions::touch`]). A client's `WATCH` reads the current `seq` and
//! whether the key exists; `EXEC` carries those in its log entry and, at apply time, the
//! transaction is aborted iff a watched key was touched after the recorded `seq` or its
//! existence changed (a key that was live at WATCH time and has logically expired since,
//! with no write yet, is caught by the second check, as Redis 6.0.9+ does). Because the table
//! is derived only from the log and carried by snapshots, every replica — and a new leader
//! after failover — decides the same way.
//!
//! The table is bounded: it keeps the most recent [`MAX_TRACKED`] keys touched; when older
//! entries are dropped, `floor` rises to the newest dropped `seq`, and a key with no entry
//! counts as touched at `floor`. So a WATCH older than the window aborts (conservative,
//! never a lost update); docs/commands.md documents it.
//!
//! Snapshot form: one reserved record [`VERSIONS_KEY`] whose string value is
//! `seq varint | floor varint | n varint | (key:bytes seq varint){n}` (keys ascending).

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use crate::codec_core::{put_bytes, put_varint, Reader};

/// Most keys whose version is tracked individually.
pub const MAX_TRACKED: usize = 100_000;

/// The snapshot record holding the version table.
pub const VERSIONS_KEY: &[u8] = b"\0sdr:versions";

/// The version table (see the module docs).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Versions {
    seq: u64,
    floor: u64,
    by_key: BTreeMap<Bytes, u64>,
    by_seq: BTreeSet<(u64, Bytes)>,
}

impl Versions {
    /// The current modification sequence number (what WATCH records).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Starts one write command: the keys it touches get a new `seq`.
    pub fn begin_write(&mut self) {
        self.seq += 1;
    }

    /// Records that `key` was modified by the current write.
    pub fn touch(&mut self, key: &[u8]) {
        let seq = self.seq;
        match self.by_key.get_mut(key) {
            Some(s) if *s == seq => return,
            Some(s) => {
                let old = *s;
                *s = seq;
                if let Some(k) = self.by_seq.take(&(old, Bytes::copy_from_slice(key))) {
                    self.by_seq.insert((seq, k.1));
                }
                return;
            }
            None => {}
        }
        let k = Bytes::copy_from_slice(key);
        self.by_key.insert(k.clone(), seq);
        self.by_seq.insert((seq, k));
        while self.by_key.len() > MAX_TRACKED {
            let Some((s, k)) = self.by_seq.pop_first() else {
                break;
            };
            self.by_key.remove(&k);
            self.floor = self.floor.max(s);
        }
    }

    /// Every key counts as modified now (FLUSHDB of a keyspace too large to touch key by key).
    pub fn touch_all(&mut self) {
        self.floor = self.seq;
        self.by_key.clear();
        self.by_seq.clear();
    }

    /// The `seq` of `key`'s last modification (`floor` if it is not tracked).
    pub fn version(&self, key: &[u8]) -> u64 {
        self.by_key.get(key).copied().unwrap_or(self.floor)
    }

    /// True if `key` was modified after `seen` (a WATCH's recorded `seq`).
    pub fn changed_since(&self, key: &[u8], seen: u64) -> bool {
        self.version(key) > seen
    }

    /// True if nothing was ever written (no record needed in a snapshot).
    pub fn is_empty(&self) -> bool {
        self.seq == 0 && self.floor == 0 && self.by_key.is_empty()
    }

    /// The snapshot record's value.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.by_key.len() * 24);
        put_varint(&mut out, self.seq);
        put_varint(&mut out, self.floor);
        put_varint(&mut out, self.by_key.len() as u64);
        for (k, s) in &self.by_key {
            put_bytes(&mut out, k);
            put_varint(&mut out, *s);
        }
        out
    }

    /// Decodes a snapshot record's value (untrusted: every count is checked against the bytes
    /// left before anything is sized from it). `None` if malformed.
    pub fn decode(b: &[u8]) -> Option<Versions> {
        let mut r = Reader::at(b, 0);
        let seq = r.varint("versions seq").ok()?;
        let floor = r.varint("versions floor").ok()?;
        let n = r.count("versions count", 2).ok()?;
        let mut v = Versions {
            seq,
            floor,
            ..Versions::default()
        };
        for _ in 0..n {
            let k = Bytes::copy_from_slice(r.bytes("versions key").ok()?);
            let s = r.varint("versions key seq").ok()?;
            if s > seq || v.by_key.insert(k.clone(), s).is_some() {
                return None;
            }
            v.by_seq.insert((s, k));
        }
        (r.remaining() == 0 && floor <= seq).then_some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn touch_and_changed_since() {
        let mut v = Versions::default();
        let seen = v.seq();
        assert!(!v.changed_since(b"a", seen));
        v.begin_write();
        v.touch(b"a");
        assert!(v.changed_since(b"a", seen));
        assert!(!v.changed_since(b"b", seen));
        let seen2 = v.seq();
        assert!(!v.changed_since(b"a", seen2));
        v.begin_write();
        v.touch(b"a");
        v.touch(b"a");
        assert!(v.changed_since(b"a", seen2));
        let back = Versions::decode(&v.encode()).expect("round trip");
        assert_eq!(back, v);
        assert!(Versions::decode(&v.encode()[..3]).is_none());
        v.touch_all();
        assert!(v.changed_since(b"zzz", seen2));
    }

    #[test]
    fn bounded_window_is_conservative() {
        let mut v = Versions::default();
        v.begin_write();
        let seen = v.seq();
        for i in 0..(MAX_TRACKED + 10) {
            v.begin_write();
            v.touch(format!("k{i}").as_bytes());
        }
        assert_eq!(v.by_key.len(), MAX_TRACKED);
        // Dropped keys count as touched at the floor: a WATCH older than it aborts.
        assert!(v.changed_since(b"k0", seen));
        assert!(v.changed_since(b"never-written", seen));
        assert!(!v.changed_since(b"never-written", v.seq()));
    }
}
