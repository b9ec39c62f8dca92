//! Cluster addressing: Redis Cluster hash slots, and where a key's owner lives.
//!
//! - [`slot`]: CRC16 (XMODEM) hash slots with `{hash tag}` support, byte-for-byte Redis's
//!   `CLUSTER KEYSLOT`.
//! - [`placement`]: slots onto shards in few contiguous, balanced ranges, with minimal movement
//!   when a shard is added or removed.
//! - [`topology`]: the shard map (slot → group → members → leader), refreshed in the background.
//! - [`members`]: member addresses (Raft and client) from the cluster file and from the Raft
//!   membership, for `-MOVED` replies and peer connections.

pub mod members;
pub mod placement;
pub mod slot;
pub mod topology;
