//! Linearizable reads, batched.
//!
//! A read may be served from the local state machine only after (1) the node confirmed it is
//! still the leader *after the read arrived* and (2) the state machine applied everything
//! committed at that moment. openraft's `ensure_linearizable` does both. Confirming leadership
//! costs a round of heartbeats in a multi-node group, so one background task runs the
//! confirmations back to back: every read that arrived while confirmation N was in flight waits
//! for confirmation N+1, and all of them share it. A read never shares a confirmation that
//! started before it arrived — that is what makes the batching safe.
//!
//! ## The one-member fast path
//!
//! A group whose only voter is this node needs no round trip through RaftCore:
//! [`local_read_allowed`] decides from a Raft metrics snapshot plus the log store's
//! [`QuorumChanges`], both taken after the read arrived, and the read is then served from the
//! state machine as it is. It is allowed only when all of these hold:
//!
//! 1. the metrics say Leader, with a *committed* vote for this node in term T (leadership
//!    established: a quorum — this node — granted it), and the log store's last requested vote
//!    is that same vote (no vote change was started since, even if the metrics lag behind it);
//! 2. the effective membership (the last one in the log, committed or not) is one uniform
//!    config — not joint — whose only voter is this node (learners do not vote and do not
//!    matter), it is applied (so committed), and the log store has appended no membership entry
//!    after it (a change in flight that the metrics do not show yet);
//! 3. the state machine has applied an entry of term T (the leader's blank entry at least), so
//!    everything committed before this term is applied.
//!
//! Why that is linearizable: every write acknowledged before the read arrived was applied
//! before its acknowledgement (writes are acknowledged after apply), either by this node in
//! some term ≤ T, or by an earlier leader — and then it was committed before T's blank entry,
//! which (3) says is applied. So the state machine already reflects every write that precedes
//! the read. No *other* node can have acknowledged a write this node has not applied: with the
//! membership of (2) committed and nothing newer appended, every quorum — for an election or
//! for a commit — must include this node, so another leader needs this node's vote, which
//! changes the vote first (1), or a membership change adding another voter, which appends an
//! entry here first (2). Both are recorded in [`QuorumChanges`] before they can take effect
//! outside this node, so a read that started after such a write finished sees them and takes
//! the slow path. Anything else (several voters, joint configs, a change in flight, a leader
//! that has not applied its first entry yet, a candidate, a follower) takes the slow path.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use openraft::{RaftMetrics, ServerState};
use tokio::sync::{mpsc, oneshot};

use crate::raft::types::NodeId;
use crate::raft::Raft;
use crate::storage::log_store::QuorumChanges;
use crate::storage::LogStore;

/// Why a read could not be confirmed. Reads have no effect, so every variant is a definite
/// failure from the client's point of view.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReadError {
    #[error("not the leader")]
    NotLeader { leader: Option<u64> },
    #[error("read confirmation timed out")]
    Timeout,
    #[error("node is shutting down")]
    ShuttingDown,
}

type Waiter = oneshot::Sender<Result<(), ReadError>>;

/// Handle to the confirmation task; cheap to clone.
#[derive(Clone)]
pub struct ReadBarrier {
    tx: mpsc::UnboundedSender<Waiter>,
    local: Option<LocalCheck>,
    /// Confirmations given by the fast path (`INFO stats`: `sdr_reads_local`).
    local_count: Arc<AtomicU64>,
}

/// What the one-member fast path reads (see the module docs).
#[derive(Clone)]
struct LocalCheck {
    me: NodeId,
    raft: Raft,
    log: LogStore,
}

impl ReadBarrier {
    /// Starts the confirmation task on the current runtime. With `local` (this node's id and
    /// its log store), a one-member group confirms reads without a RaftCore round
    /// trip (module docs); without it every read goes through `ensure_linearizable`.
    pub fn spawn(raft: Raft, timeout: Duration, local: Option<(NodeId, LogStore)>) -> ReadBarrier {
        let (tx, rx) = mpsc::unbounded_channel();
        let local = local.map(|(me, log)| LocalCheck {
            me,
            raft: raft.clone(),
            log,
        });
        tokio::spawn(confirm_loop(raft, rx, timeout));
        ReadBarrier {
            tx,
            local,
            local_count: Arc::default(),
        }
    }

    /// How many confirmations the one-member fast path gave (since start or `reset_stats`).
    pub fn local_confirmations(&self) -> u64 {
        self.local_count.load(Ordering::Relaxed)
    }

    /// CONFIG RESETSTAT.
    pub fn reset_stats(&self) {
        self.local_count.store(0, Ordering::Relaxed);
    }

    /// Resolves once a confirmation that started after this call has succeeded.
    pub async fn wait(&self) -> Result<(), ReadError> {
        if let Some(l) = &self.local {
            // Metrics first, then the store: the store's record is what catches metrics that
            // lag behind a change (module docs).
            let allowed = {
                let m = l.raft.metrics();
                let m = m.borrow();
                local_read_allowed(l.me, &m, &l.log.quorum_changes())
            };
            if allowed {
                self.local_count.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
        }
        let (tx, rx) = oneshot::channel();
        self.tx.send(tx).map_err(|_| ReadError::ShuttingDown)?;
        rx.await.map_err(|_| ReadError::ShuttingDown)?
    }
}

async fn confirm_loop(raft: Raft, mut rx: mpsc::UnboundedReceiver<Waiter>, timeout: Duration) {
    let mut waiters: Vec<Waiter> = Vec::new();
    while let Some(first) = rx.recv().await {
        waiters.push(first);
        while let Ok(w) = rx.try_recv() {
            waiters.push(w);
        }
        let outcome = match tokio::time::timeout(timeout, raft.ensure_linearizable()).await {
            Err(_) => Err(ReadError::Timeout),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(match e {
                openraft::error::RaftError::APIError(
                    openraft::error::CheckIsLeaderError::ForwardToLeader(f),
                ) => ReadError::NotLeader {
                    leader: f.leader_id,
                },
                openraft::error::RaftError::APIError(_) => ReadError::NotLeader { leader: None },
                openraft::error::RaftError::Fatal(_) => ReadError::ShuttingDown,
            }),
        };
        for w in waiters.drain(..) {
            let _ = w.send(outcome.clone());
        }
    }
}

/// The one-member fast path's decision (module docs, conditions 1–3): true only when every
/// quorum must include `me`, `me` leads an established term, and the state machine has applied
/// an entry of that term.
pub fn local_read_allowed(
    me: NodeId,
    m: &RaftMetrics<NodeId, openraft::BasicNode>,
    q: &QuorumChanges,
) -> bool {
    // (1) leader of an established term, no vote change started since.
    if m.running_state.is_err() || m.state != ServerState::Leader {
        return false;
    }
    let vote = m.vote;
    if !vote.is_committed() || vote.leader_id().voted_for() != Some(me) {
        return false;
    }
    if q.requested_vote != Some(vote) {
        return false;
    }
    // (3) an entry of this term is applied.
    let term = vote.leader_id().get_term();
    let Some(applied) = m.last_applied else {
        return false;
    };
    if applied.leader_id.term != term {
        return false;
    }
    // (2) one uniform, applied config whose only voter is `me`; nothing newer appended.
    let stored = &m.membership_config;
    let Some(mlog) = *stored.log_id() else {
        return false;
    };
    if mlog.index > applied.index || q.last_membership_appended.is_some_and(|i| i > mlog.index) {
        return false;
    }
    let joint = stored.membership().get_joint_config();
    joint.len() == 1 && joint[0] == BTreeSet::from([me])
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::Arc;

    use openraft::{
        BasicNode, CommittedLeaderId, LogId, Membership, RaftMetrics, ServerState,
        StoredMembership, Vote,
    };

    use super::local_read_allowed;
    use crate::storage::log_store::QuorumChanges;

    const ME: u64 = 1;
    const TERM: u64 = 3;

    fn log_id(term: u64, index: u64) -> LogId<u64> {
        LogId::new(CommittedLeaderId::new(term, ME), index)
    }

    fn membership(
        configs: Vec<Vec<u64>>,
        nodes: &[u64],
        at: u64,
    ) -> Arc<StoredMembership<u64, BasicNode>> {
        let configs = configs.into_iter().map(BTreeSet::from_iter).collect();
        let nodes: BTreeSet<u64> = nodes.iter().copied().collect();
        Arc::new(StoredMembership::new(
            Some(log_id(1, at)),
            Membership::new(configs, nodes),
        ))
    }

    /// A one-member leader at term TERM that applied its blank entry (index 10), membership
    /// {ME} at index 1: the fast path's home case.
    fn leader() -> (RaftMetrics<u64, BasicNode>, QuorumChanges) {
        let mut m = RaftMetrics::new_initial(ME);
        m.state = ServerState::Leader;
        m.current_term = TERM;
        m.vote = Vote::new_committed(TERM, ME);
        m.current_leader = Some(ME);
        m.last_log_index = Some(10);
        m.last_applied = Some(log_id(TERM, 10));
        m.membership_config = membership(vec![vec![ME]], &[ME], 1);
        let q = QuorumChanges {
            requested_vote: Some(m.vote),
            last_membership_appended: None,
        };
        (m, q)
    }

    #[test]
    fn one_member_leader_reads_locally() {
        let (m, q) = leader();
        assert!(local_read_allowed(ME, &m, &q));
        // A membership entry appended at the same index the metrics show is no change.
        let q2 = QuorumChanges {
            last_membership_appended: Some(1),
            ..q
        };
        assert!(local_read_allowed(ME, &m, &q2));
    }

    #[test]
    fn learners_do_not_matter() {
        let (mut m, q) = leader();
        m.membership_config = membership(vec![vec![ME]], &[ME, 2, 3], 1);
        assert!(local_read_allowed(ME, &m, &q));
    }

    #[test]
    fn several_voters_or_joint_configs_take_the_slow_path() {
        let (mut m, q) = leader();
        m.membership_config = membership(vec![vec![ME, 2]], &[ME, 2], 1);
        assert!(!local_read_allowed(ME, &m, &q), "two voters");
        m.membership_config = membership(vec![vec![ME], vec![ME, 2]], &[ME, 2], 1);
        assert!(!local_read_allowed(ME, &m, &q), "joint {{1}} -> {{1,2}}");
        m.membership_config = membership(vec![vec![ME, 2, 3], vec![ME]], &[ME, 2, 3], 1);
        assert!(!local_read_allowed(ME, &m, &q), "joint {{1,2,3}} -> {{1}}");
        m.membership_config = membership(vec![vec![2]], &[ME, 2], 1);
        assert!(
            !local_read_allowed(ME, &m, &q),
            "the only voter is another node"
        );
    }

    #[test]
    fn membership_not_applied_or_change_in_flight_takes_the_slow_path() {
        let (mut m, q) = leader();
        // The single-voter config is the last in the log but not applied (so maybe not committed).
        m.membership_config = membership(vec![vec![ME]], &[ME], 11);
        assert!(!local_read_allowed(ME, &m, &q));
        // The metrics still show {ME}, but the store already appended a newer membership entry.
        let (m, q) = leader();
        let q = QuorumChanges {
            last_membership_appended: Some(11),
            ..q
        };
        assert!(!local_read_allowed(ME, &m, &q));
    }

    #[test]
    fn leadership_not_established_or_changing_takes_the_slow_path() {
        // Nothing of this term applied yet: entries committed in earlier terms may be unapplied.
        let (mut m, q) = leader();
        m.last_applied = Some(log_id(TERM - 1, 9));
        assert!(!local_read_allowed(ME, &m, &q), "blank entry not applied");
        m.last_applied = None;
        assert!(!local_read_allowed(ME, &m, &q), "nothing applied");

        // Candidate: vote for itself, not committed.
        let (mut m, _) = leader();
        m.state = ServerState::Candidate;
        m.vote = Vote::new(TERM, ME);
        let q = QuorumChanges {
            requested_vote: Some(m.vote),
            last_membership_appended: None,
        };
        assert!(!local_read_allowed(ME, &m, &q), "candidate");
        m.state = ServerState::Leader;
        assert!(!local_read_allowed(ME, &m, &q), "uncommitted vote");

        // The store was asked to save a newer vote the metrics do not show yet.
        let (m, q) = leader();
        let q = QuorumChanges {
            requested_vote: Some(Vote::new(TERM + 1, 2)),
            ..q
        };
        assert!(!local_read_allowed(ME, &m, &q), "vote change in flight");

        // Follower / learner.
        let (mut m, q) = leader();
        m.state = ServerState::Follower;
        assert!(!local_read_allowed(ME, &m, &q), "follower");
        m.state = ServerState::Learner;
        assert!(!local_read_allowed(ME, &m, &q), "learner");

        // A leader vote that names another node.
        let (mut m, _) = leader();
        m.vote = Vote::new_committed(TERM, 2);
        let q = QuorumChanges {
            requested_vote: Some(m.vote),
            last_membership_appended: None,
        };
        assert!(!local_read_allowed(ME, &m, &q), "someone else's vote");
    }
}
