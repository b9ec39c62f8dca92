//! Linearizable reads, batched.
//!
//! A read may be served from the local state machine only after (1) the node confirmed it is
//! still the leader *after the read arrived* and (2) the state machine applied everything
//! committed at that moment. openraft's `ensure_linearizable` does both. Confirming leadership
//! costs a round of heartbeats in a multi-node group, so one background task runs the
//! confirmations back to back: every read that arrived while confirmation N was in flight waits
//! for confirmation N+1, and all of them share it. A read never shares a confirmation that
//! started before it arrived — that is what makes the batching safe.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::raft::Raft;

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
}

impl ReadBarrier {
    /// Starts the confirmation task on the current runtime.
    pub fn spawn(raft: Raft, timeout: Duration) -> ReadBarrier {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(confirm_loop(raft, rx, timeout));
        ReadBarrier { tx }
    }

    /// Resolves once a confirmation that started after this call has succeeded.
    pub async fn wait(&self) -> Result<(), ReadError> {
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
