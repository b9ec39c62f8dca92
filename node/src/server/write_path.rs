//! Proposing client writes to Raft and turning the outcome into the client's reply.
//!
//! A write is acknowledged only after its entry is committed (durable per the fsync policy) and
//! applied; the reply is whatever applying it produced. Proposal and waiting are split so a
//! session can propose a whole pipeline before waiting: the entries then share log appends and
//! fsyncs (group commit) instead of paying one commit each.

use std::time::Duration;

use openraft::error::ClientWriteError;

use crate::errors;
use crate::raft::{Raft, Request, TypeConfig};
use crate::resp::Frame;

/// The receiving end of one proposed entry.
pub type Proposal =
    <openraft::impls::OneshotResponder<TypeConfig> as openraft::raft::responder::Responder<
        TypeConfig,
    >>::Receiver;

/// Reply for a write that was refused before it could take effect (no leader yet / not the
/// leader). The client may retry; nothing was applied.
pub fn no_leader_reply() -> Frame {
    errors::no_leader()
}

/// Reply when the outcome of a proposed write is unknown (it may still commit later).
pub fn unknown_outcome_reply(timeout: Duration) -> Frame {
    errors::write_unconfirmed(timeout)
}

/// Proposes any request; fails only when Raft has stopped.
pub async fn propose(raft: &Raft, req: Request) -> Result<Proposal, Frame> {
    raft.client_write_ff(req)
        .await
        .map_err(errors::raft_not_running)
}

/// Waits for a proposal's result, at most until `deadline`.
pub async fn await_reply(p: Proposal, deadline: tokio::time::Instant, timeout: Duration) -> Frame {
    match tokio::time::timeout_at(deadline, p).await {
        Err(_) => unknown_outcome_reply(timeout),
        // The responder was dropped: Raft shut down with the entry in an unknown state.
        Ok(Err(_)) => errors::stopped_mid_write(),
        Ok(Ok(Ok(resp))) => resp.data.0,
        Ok(Ok(Err(ClientWriteError::ForwardToLeader(_)))) => no_leader_reply(),
        Ok(Ok(Err(ClientWriteError::ChangeMembershipError(e)))) => errors::membership_refused(e),
    }
}
