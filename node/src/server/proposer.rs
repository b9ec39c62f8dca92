//! Group commit above Raft: many client writes, one log entry.
//!
//! openraft 0.9 waits for each log append to be flushed before it appends the next, so one
//! entry per command would cost one fsync per command no matter how many clients write at
//! once. The proposer therefore coalesces: a single task takes every write queued since its
//! last proposal (from any number of sessions, in arrival order) and proposes them as one
//! `Request::Batch` entry. While that entry is being made durable, the next batch accumulates —
//! the classic group-commit shape, so the batch size grows with load and one fsync covers it.
//! At most [`MAX_IN_FLIGHT`] entries are handed to Raft at a time; without that bound every
//! command would be proposed the moment it arrived and queue inside Raft one fsync apart.
//!
//! Ordering: writes are applied in the order they were submitted, so a session that submits
//! its pipelined writes in order sees them applied in order. Replies come back per command.

use std::time::Duration;

use bytes::Bytes;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::clock;
use crate::raft::{Raft, Request};
use crate::resp::Frame;

use super::write_path;

/// Largest number of commands in one entry.
const MAX_BATCH_COMMANDS: usize = 4096;
/// Stop adding commands to a batch once their argv bytes exceed this.
const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;
/// Entries proposed but not yet applied. Two keep Raft busy (one being flushed, the next
/// queued) while the following batch forms.
const MAX_IN_FLIGHT: usize = 2;

struct Pending {
    argv: Vec<Bytes>,
    reply: oneshot::Sender<Frame>,
}

/// Handle for submitting writes; cheap to clone.
#[derive(Clone)]
pub struct Proposer {
    tx: mpsc::UnboundedSender<Pending>,
}

/// The eventual reply to one submitted write.
pub type ReplyRx = oneshot::Receiver<Frame>;

impl Proposer {
    /// Starts the batching task on the current runtime. `timeout` bounds how long a batch may
    /// wait for commit before its commands are answered with an unknown-outcome error.
    ///
    /// `ack_before_commit` is the planted bug of the same name (crate::faults): every write is
    /// answered `+OK` as soon as its entry is proposed. Never set outside chaos testing.
    pub fn spawn(raft: Raft, timeout: Duration, ack_before_commit: bool) -> Proposer {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(batch_loop(raft, rx, timeout, ack_before_commit));
        Proposer { tx }
    }

    /// Queues a validated write command; the receiver yields its reply once applied.
    pub fn submit(&self, argv: Vec<Bytes>) -> ReplyRx {
        let (reply, rx) = oneshot::channel();
        if let Err(mpsc::error::SendError(p)) = self.tx.send(Pending { argv, reply }) {
            let _ = p.reply.send(Frame::error(
                "ERR the node is shutting down; the command was not applied",
            ));
        }
        rx
    }
}

fn argv_bytes(argv: &[Bytes]) -> usize {
    argv.iter().map(|a| a.len() + 8).sum()
}

async fn batch_loop(
    raft: Raft,
    mut rx: mpsc::UnboundedReceiver<Pending>,
    timeout: Duration,
    ack_before_commit: bool,
) {
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    loop {
        let Some(first) = rx.recv().await else { return };
        // Wait for room before draining the queue, so the batch takes everything that arrived
        // while earlier entries were being committed.
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let mut bytes = argv_bytes(&first.argv);
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH_COMMANDS && bytes < MAX_BATCH_BYTES {
            match rx.try_recv() {
                Ok(p) => {
                    bytes += argv_bytes(&p.argv);
                    batch.push(p);
                }
                Err(_) => break,
            }
        }
        let (cmds, replies): (Vec<Vec<Bytes>>, Vec<oneshot::Sender<Frame>>) =
            batch.into_iter().map(|p| (p.argv, p.reply)).unzip();
        let req = if cmds.len() == 1 {
            let argv = cmds.into_iter().next().unwrap_or_default();
            Request::Command {
                now_ms: clock::now_ms(),
                argv,
            }
        } else {
            Request::Batch {
                now_ms: clock::now_ms(),
                cmds,
            }
        };
        // Proposing only enqueues into Raft; the wait happens in a separate task so the next
        // batch can form while this one is being committed.
        match write_path::propose(&raft, req).await {
            Err(e) => {
                for r in replies {
                    let _ = r.send(e.clone());
                }
            }
            Ok(p) if ack_before_commit => {
                for r in replies {
                    let _ = r.send(Frame::ok());
                }
                tokio::spawn(async move {
                    let _permit = permit;
                    let deadline = tokio::time::Instant::now() + timeout;
                    let _ = write_path::await_reply(p, deadline, timeout).await;
                });
            }
            Ok(p) => {
                tokio::spawn(async move {
                    let _permit = permit;
                    let deadline = tokio::time::Instant::now() + timeout;
                    let reply = write_path::await_reply(p, deadline, timeout).await;
                    distribute(reply, replies);
                });
            }
        }
    }
}

/// Sends each command its own reply. A batch entry's reply is an array with one frame per
/// command; anything else (an error about the whole entry) goes to every command.
fn distribute(reply: Frame, replies: Vec<oneshot::Sender<Frame>>) {
    match reply {
        Frame::Array(frames) if replies.len() > 1 && frames.len() == replies.len() => {
            for (f, r) in frames.into_iter().zip(replies) {
                let _ = r.send(f);
            }
        }
        other => {
            for r in replies {
                let _ = r.send(other.clone());
            }
        }
    }
}
