//! Every error reply the node's server layer sends (routing, authentication, the write and
//! read paths, forwarding), built in one place from the `sdr-resp` contract
//! ([`crate::resp::error_code::TABLE`]). Command-level errors (syntax, WRONGTYPE, not an
//! integer, ...) are `-ERR`/`-WRONGTYPE` replies built in `cmd`.
//!
//! The rule the harness relies on: a reply whose outcome is unknown — the write was proposed
//! or sent and may still be applied — is always [`unknown_outcome`] (`-TIMEOUT …`), and every
//! other error here means the command had no effect (or, for [`moved`], was not executed
//! here). The test at the bottom lists every constructor with the class it must have.

use std::fmt::Display;
use std::time::Duration;

use crate::resp::{ErrorCode, Frame, Redirect};

/// `-TIMEOUT <why>; it may or may not be applied`: the one unknown-outcome reply.
pub fn unknown_outcome(why: impl Display) -> Frame {
    Frame::error(
        ErrorCode::Timeout,
        format!("{why}; it may or may not be applied"),
    )
}

/// A proposed write was not confirmed before the client's deadline.
pub fn write_unconfirmed(timeout: Duration) -> Frame {
    unknown_outcome(format!(
        "the write was not confirmed within {} ms",
        timeout.as_millis()
    ))
}

/// The node (Raft, or the proposer) stopped while a proposed write was in flight.
pub fn stopped_mid_write() -> Frame {
    unknown_outcome("the node stopped before the write completed")
}

/// The proposer answered a run with the wrong number of replies (a bug): the writes were
/// proposed, so their outcome is unknown.
pub fn wrong_reply_count() -> Frame {
    unknown_outcome("internal error: wrong number of write replies")
}

/// Forwarding: the leader did not answer in time.
pub fn leader_timeout(addr: &str, timeout: Duration) -> Frame {
    unknown_outcome(format!(
        "the leader at {addr} did not answer within {} ms",
        timeout.as_millis()
    ))
}

/// Forwarding: the connection broke while the command was being sent.
pub fn leader_send_failed(addr: &str, e: impl Display) -> Frame {
    unknown_outcome(format!(
        "lost the connection to the leader at {addr} while sending ({e})"
    ))
}

/// Forwarding: the leader closed the connection before replying.
pub fn leader_closed(addr: &str) -> Frame {
    unknown_outcome(format!("the leader at {addr} closed the connection"))
}

/// Forwarding: the leader's reply could not be decoded.
pub fn leader_malformed(addr: &str, e: impl Display) -> Frame {
    unknown_outcome(format!("malformed reply from the leader at {addr} ({e})"))
}

/// Forwarding: the leader could not be reached; nothing was sent.
pub fn leader_unreachable(addr: &str, e: impl Display) -> Frame {
    Frame::error(
        ErrorCode::TryAgain,
        format!("cannot reach the leader at {addr} ({e}); the command was not applied"),
    )
}

/// Forwarding: no connection to the leader; nothing was sent.
pub fn no_leader_link() -> Frame {
    Frame::error(
        ErrorCode::TryAgain,
        "no connection to the leader; the command was not applied",
    )
}

/// No leader (yet), or this node stopped being it before proposing: nothing was proposed.
pub fn no_leader() -> Frame {
    Frame::error(
        ErrorCode::TryAgain,
        "no Raft leader is available yet; the command was not applied",
    )
}

/// A linearizable read could not be confirmed in time (reads have no effect to be unsure of).
pub fn read_unconfirmed(timeout: Duration) -> Frame {
    Frame::error(
        ErrorCode::TryAgain,
        format!(
            "the read could not be confirmed as linearizable within {} ms",
            timeout.as_millis()
        ),
    )
}

/// The node is shutting down and did not accept the command.
pub fn shutting_down() -> Frame {
    Frame::err("the node is shutting down; the command was not applied")
}

/// Raft refused the proposal (it has stopped); the entry never reached the log.
pub fn raft_not_running(e: impl Display) -> Frame {
    Frame::err(format!(
        "raft is not running: {e}; the command was not applied"
    ))
}

/// A membership-change refusal surfaced by openraft on the write path.
pub fn membership_refused(e: impl Display) -> Frame {
    Frame::err(e.to_string())
}

/// `-CLUSTERDOWN The cluster is down`: no leader address is known for the group.
pub fn cluster_down() -> Frame {
    Frame::error(ErrorCode::ClusterDown, "The cluster is down")
}

/// `-CROSSSLOT`: a multi-key command spans slots.
pub fn cross_slot() -> Frame {
    Frame::error(
        ErrorCode::CrossSlot,
        "Keys in request don't hash to the same slot",
    )
}

/// `-MOVED <slot> <addr>`.
pub fn moved(slot: u16, addr: &str) -> Frame {
    Redirect::moved(slot, addr).to_frame()
}

/// `-OOM`: `maxmemory` is set, used memory is above it (or the command would take it there),
/// and the command may grow memory. Redis's text.
pub fn oom() -> Frame {
    Frame::error(
        ErrorCode::Oom,
        "command not allowed when used memory > 'maxmemory'.",
    )
}

/// Largest write command (sum of its argument lengths) the node proposes: a Raft entry must
/// fit in one peer gRPC message (64 MiB, `raft/service.rs`), with room for framing. A bigger
/// one would be resent to followers forever and stall the group.
pub const MAX_COMMAND_BYTES: usize = 60 * 1024 * 1024;

/// `-ERR` for a write larger than [`MAX_COMMAND_BYTES`]: refused before proposing.
pub fn command_too_large(bytes: usize) -> Frame {
    Frame::err(format!(
        "command of {bytes} bytes exceeds the largest replicated write ({MAX_COMMAND_BYTES} bytes, bounded by the peer message limit)"
    ))
}

/// `-NOAUTH Authentication required.`
pub fn noauth() -> Frame {
    Frame::error(ErrorCode::NoAuth, "Authentication required.")
}

/// HELLO before AUTH without its own AUTH option (Redis's text).
pub fn hello_noauth() -> Frame {
    Frame::error(ErrorCode::NoAuth, "HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time")
}

/// `-WRONGPASS` (Redis's text).
pub fn wrongpass() -> Frame {
    Frame::error(
        ErrorCode::WrongPass,
        "invalid username-password pair or user is disabled.",
    )
}

/// `-NOPROTO`: HELLO asked for a protocol other than RESP2.
pub fn noproto() -> Frame {
    Frame::error(ErrorCode::NoProto, "unsupported protocol version")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::{classify, ErrorClass};

    /// Every constructor above, with the class the harness must give it.
    fn all() -> Vec<(&'static str, Frame, ErrorClass)> {
        use ErrorClass::*;
        let t = Duration::from_millis(5);
        vec![
            ("unknown_outcome", unknown_outcome("x"), Unknown),
            ("write_unconfirmed", write_unconfirmed(t), Unknown),
            ("stopped_mid_write", stopped_mid_write(), Unknown),
            ("wrong_reply_count", wrong_reply_count(), Unknown),
            ("leader_timeout", leader_timeout("a:1", t), Unknown),
            (
                "leader_send_failed",
                leader_send_failed("a:1", "e"),
                Unknown,
            ),
            ("leader_closed", leader_closed("a:1"), Unknown),
            ("leader_malformed", leader_malformed("a:1", "e"), Unknown),
            (
                "leader_unreachable",
                leader_unreachable("a:1", "e"),
                NoEffect,
            ),
            ("no_leader_link", no_leader_link(), NoEffect),
            ("no_leader", no_leader(), NoEffect),
            ("read_unconfirmed", read_unconfirmed(t), NoEffect),
            ("shutting_down", shutting_down(), NoEffect),
            ("raft_not_running", raft_not_running("e"), NoEffect),
            ("membership_refused", membership_refused("e"), NoEffect),
            ("cluster_down", cluster_down(), NoEffect),
            ("cross_slot", cross_slot(), NoEffect),
            ("moved", moved(1, "a:1"), Redirect),
            ("oom", oom(), NoEffect),
            ("command_too_large", command_too_large(1), NoEffect),
            ("noauth", noauth(), NoEffect),
            ("hello_noauth", hello_noauth(), NoEffect),
            ("wrongpass", wrongpass(), NoEffect),
            ("noproto", noproto(), NoEffect),
        ]
    }

    #[test]
    fn every_constructor_is_classified() {
        for (name, frame, class) in all() {
            let Frame::Error(msg) = &frame else {
                panic!("{name} is not an error: {frame:?}")
            };
            let code = frame
                .error_code()
                .unwrap_or_else(|| panic!("{name}: code of {msg:?} not in the table"));
            assert_eq!(classify(msg), class, "{name}: {msg}");
            assert_eq!(code.class(), class, "{name}");
            // The one unknown-outcome code.
            assert_eq!(
                class == ErrorClass::Unknown,
                code == ErrorCode::Timeout,
                "{name}"
            );
            assert!(!msg.contains(['\r', '\n']), "{name}");
        }
    }
}
