//! Error replies as a contract: every error code a node may send, and what it means for the
//! command that got it.
//!
//! An error reply is `-CODE message`. Clients (the harness, the load generator, a user's
//! retry logic) must decide from the *code* alone whether the command may have taken effect,
//! so each code has exactly one [`ErrorClass`], listed once in [`TABLE`]. The node builds every
//! error reply with [`crate::Frame::error`] from an [`ErrorCode`], and the harness classifies
//! with [`classify`]; docs/error-semantics.md is this table in prose.
//!
//! The one unknown-outcome code is [`ErrorCode::Timeout`]: whenever a node cannot tell whether
//! a write was (or will be) applied, it answers `-TIMEOUT …`, whatever the cause.

use std::fmt;

/// What an error reply says about the effect of the command that got it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// The command had no effect (rejected before, or applied as a no-op with an error).
    NoEffect,
    /// The command may or may not have taken effect (and may still take effect later).
    Unknown,
    /// Not executed here; the reply names where to send it (`-MOVED`, `-ASK`).
    Redirect,
}

/// An error code: the first word of an error reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    Err,
    WrongType,
    Moved,
    Ask,
    TryAgain,
    ClusterDown,
    CrossSlot,
    ReadOnly,
    NoAuth,
    WrongPass,
    NoProto,
    NoPerm,
    ExecAbort,
    Timeout,
    Oom,
    Busy,
    NoScript,
    Loading,
    MasterDown,
    InvalidObj,
    NoGroup,
    BusyGroup,
    Unblocked,
    NotBusy,
    Unkillable,
    BusyKey,
}

/// One row of the contract.
#[derive(Clone, Copy, Debug)]
pub struct CodeInfo {
    pub code: ErrorCode,
    /// The code as it appears on the wire.
    pub name: &'static str,
    pub class: ErrorClass,
    /// When the node sends it.
    pub meaning: &'static str,
}

const fn row(
    code: ErrorCode,
    name: &'static str,
    class: ErrorClass,
    meaning: &'static str,
) -> CodeInfo {
    CodeInfo {
        code,
        name,
        class,
        meaning,
    }
}

use ErrorClass::{NoEffect, Redirect, Unknown};

/// Every code, with its class. Order is the order of docs/error-semantics.md.
pub const TABLE: &[CodeInfo] = &[
    row(ErrorCode::Err, "ERR", NoEffect,
        "generic error: syntax, arity, a bad argument, or a data error found at apply time (the entry applied as a no-op)"),
    row(ErrorCode::WrongType, "WRONGTYPE", NoEffect,
        "the key holds another type; the command applied as a no-op"),
    row(ErrorCode::Moved, "MOVED", Redirect,
        "the slot is served by another node (`MOVED <slot> <host:port>`): not executed here"),
    row(ErrorCode::Ask, "ASK", Redirect,
        "the slot is migrating (`ASK <slot> <host:port>`): not executed here; never sent by sdr-node yet"),
    row(ErrorCode::TryAgain, "TRYAGAIN", NoEffect,
        "no leader, or the leader could not be reached before sending: nothing was proposed"),
    row(ErrorCode::ClusterDown, "CLUSTERDOWN", NoEffect,
        "the group has no usable leader: nothing was proposed"),
    row(ErrorCode::CrossSlot, "CROSSSLOT", NoEffect,
        "the keys of one command hash to different slots"),
    row(ErrorCode::ReadOnly, "READONLY", NoEffect,
        "a write reached a node that does not accept writes"),
    row(ErrorCode::NoAuth, "NOAUTH", NoEffect,
        "the connection must authenticate first"),
    row(ErrorCode::WrongPass, "WRONGPASS", NoEffect,
        "AUTH with a wrong password"),
    row(ErrorCode::NoProto, "NOPROTO", NoEffect,
        "HELLO asked for a protocol version the node does not speak"),
    row(ErrorCode::NoPerm, "NOPERM", NoEffect,
        "the user may not run the command"),
    row(ErrorCode::ExecAbort, "EXECABORT", NoEffect,
        "EXEC of a transaction with a queue-time error (unknown command, arity, redirect): nothing was proposed"),
    row(ErrorCode::Timeout, "TIMEOUT", Unknown,
        "the outcome is unknown: the write was sent or proposed but not confirmed (timeout, lost leadership, node stopping, lost link to the leader); it may still be applied"),
    row(ErrorCode::Oom, "OOM", NoEffect,
        "used memory is above `maxmemory` and the command may grow it (`denyoom`)"),
    row(ErrorCode::Busy, "BUSY", NoEffect,
        "the server is busy (a script in Redis)"),
    row(ErrorCode::NoScript, "NOSCRIPT", NoEffect,
        "no script with that SHA1"),
    row(ErrorCode::Loading, "LOADING", NoEffect,
        "the dataset is still being loaded"),
    row(ErrorCode::MasterDown, "MASTERDOWN", NoEffect,
        "the link to the master is down"),
    row(ErrorCode::InvalidObj, "INVALIDOBJ", NoEffect,
        "a stored value is corrupted for the command (a string that claims to be a HyperLogLog but whose registers do not decode)"),
    row(ErrorCode::NoGroup, "NOGROUP", NoEffect,
        "the stream key or its consumer group does not exist (XREADGROUP, XPENDING, XCLAIM, XGROUP, XINFO)"),
    row(ErrorCode::BusyGroup, "BUSYGROUP", NoEffect,
        "XGROUP CREATE of a consumer group that already exists"),
    row(ErrorCode::Unblocked, "UNBLOCKED", NoEffect,
        "a blocked command was ended by `CLIENT UNBLOCK id ERROR` before it popped anything"),
    row(ErrorCode::NotBusy, "NOTBUSY", NoEffect,
        "SCRIPT KILL with no script running"),
    row(ErrorCode::Unkillable, "UNKILLABLE", NoEffect,
        "SCRIPT KILL of a script that may write: it runs in the replicated log and stops only at its instruction budget"),
    row(ErrorCode::BusyKey, "BUSYKEY", NoEffect,
        "RESTORE without REPLACE of a key that exists"),
];

impl ErrorCode {
    /// Every code, in [`TABLE`] order.
    pub fn all() -> impl Iterator<Item = ErrorCode> {
        TABLE.iter().map(|r| r.code)
    }

    fn info(self) -> &'static CodeInfo {
        // TABLE is indexed by the enum's declaration order (checked by a test).
        &TABLE[self as usize]
    }

    /// The code as sent on the wire (`ERR`, `TIMEOUT`, ...).
    pub fn as_str(self) -> &'static str {
        self.info().name
    }

    pub fn class(self) -> ErrorClass {
        self.info().class
    }

    /// The code named by `word`, exactly (codes are upper case on the wire).
    pub fn from_name(word: &str) -> Option<ErrorCode> {
        TABLE.iter().find(|r| r.name == word).map(|r| r.code)
    }

    /// The code of an error reply's text (without the leading `-`): its first word.
    pub fn of_reply(msg: &str) -> Option<ErrorCode> {
        ErrorCode::from_name(msg.split(' ').next().unwrap_or(""))
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The class of an error reply's text (without the leading `-`), by its code only. A code
/// not in the table is [`ErrorClass::Unknown`]: a client that cannot tell must assume the
/// command may have taken effect.
pub fn classify(msg: &str) -> ErrorClass {
    ErrorCode::of_reply(msg).map_or(ErrorClass::Unknown, ErrorCode::class)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_indexed_by_the_enum() {
        for (i, r) in TABLE.iter().enumerate() {
            assert_eq!(r.code as usize, i, "{}", r.name);
            assert_eq!(ErrorCode::from_name(r.name), Some(r.code));
            assert!(r.name.bytes().all(|c| c.is_ascii_uppercase()));
        }
    }

    #[test]
    fn classifies_by_code_only() {
        assert_eq!(classify("TIMEOUT x"), ErrorClass::Unknown);
        assert_eq!(classify("ERR raft stopped"), ErrorClass::NoEffect);
        assert_eq!(classify("MOVED 1 a:1"), ErrorClass::Redirect);
        assert_eq!(classify("WEIRD thing"), ErrorClass::Unknown);
        assert_eq!(classify("err lower case"), ErrorClass::Unknown);
        assert_eq!(classify(""), ErrorClass::Unknown);
        assert_eq!(classify("OOM command not allowed"), ErrorClass::NoEffect);
    }
}
