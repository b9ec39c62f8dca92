//! The command table and data commands. OWNED BY THE STORE/COMMANDS HELPER: replace this stub.

use bytes::Bytes;

use crate::resp::Frame;
use crate::store::Keyspace;

/// Parses `argv` and applies it as a write at stamped time `now_ms` (state machine apply path).
pub fn apply_argv(_ks: &mut Keyspace, _argv: &[Bytes], _now_ms: u64) -> Frame {
    unimplemented!()
}
