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
//! **One entry in flight.** A second entry in flight was meant to hide the Raft round trip
//! between entries, but openraft appends an entry only after the previous one is flushed, so
//! the second entry was formed the moment the first was proposed: it held the handful of
//! commands that arrived in those microseconds and then cost a whole fsync of its own while
//! everything else waited behind it (batches alternated tiny/large). Measured with
//! `redis-benchmark -t set -c 50 -P 1` against `--fsync always` on this machine: 2 in flight
//! gave 12.7 commands per entry and 6.5–6.8k SET/s, 1 in flight 23.5 commands per entry and
//! 8.5–10.8k SET/s (slow disk phase); with a faster disk phase 15–20k vs 20–24k SET/s. With
//! `--fsync no` the two settings were indistinguishable within noise (P1 33–41k SET/s either
//! way, P16 ~230–240k). With one in flight, each fsync covers everything that queued during
//! the previous one — the same shape as Redis's `appendfsync always` event loop.
//!
//! Ordering: writes are applied in the order they were submitted, so a session that submits
//! its pipelined writes in order sees them applied in order.
//!
//! **Runs.** A session submits each run of consecutive pipelined writes as one unit with one
//! reply channel ([`Proposer::submit_run`]): with `-P 16` that is one queue push, one oneshot
//! and one wake-up per 16 commands instead of 16 of each. The replies come back as one vector,
//! in command order.
//!
//! **Bounded queue, abandoned writes dropped.** The queue between sessions and the batching
//! task holds at most about [`MAX_QUEUED_BYTES`] of argv: past that, sessions stop reading
//! from their sockets ([`Proposer::wait_for_room`]) until the batches drain, so a flood of
//! writes from many clients turns into TCP backpressure instead of node memory. A run whose
//! session stopped waiting (it answered the client `TIMEOUT`, or the connection went away) is
//! dropped before it is proposed: an unknown outcome allows "never applied", and proposing a
//! write nobody waits for only lengthens the queue for everyone else. A run is dropped only
//! while still queued; once proposed it runs to completion.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot, Notify, Semaphore};

use crate::clock;
use crate::errors;
use crate::keyspace::SharedKeyspace;
use crate::raft::{Raft, Request};
use crate::resp::Frame;

use super::write_path;

/// Largest number of commands in one entry.
const MAX_BATCH_COMMANDS: usize = 4096;
/// Stop adding commands to a batch once their argv bytes exceed this.
const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;
/// Entries proposed but not yet applied (see "One entry in flight" in the module docs). The
/// next batch forms while this one is being committed.
const MAX_IN_FLIGHT: usize = 1;
/// Queued argv bytes above which sessions wait before reading more commands (see "Bounded
/// queue" in the module docs). Well above one full batch, so the batching task never starves.
pub const MAX_QUEUED_BYTES: usize = 256 * 1024 * 1024;

struct Pending {
    /// The database the run's session has selected: one entry holds one database's runs.
    db: u32,
    cmds: Vec<Vec<Bytes>>,
    reply: oneshot::Sender<Vec<Frame>>,
    /// `run_bytes(&cmds)`, counted in [`Queue::bytes`] until the run leaves the queue.
    bytes: usize,
}

/// What is waiting between sessions and the batching task.
#[derive(Default)]
struct Queue {
    bytes: AtomicUsize,
    /// Woken whenever `bytes` drops.
    room: Notify,
    /// Runs dropped because their session had stopped waiting (INFO `proposer_dropped_runs`).
    dropped: AtomicUsize,
}

impl Queue {
    fn release(&self, bytes: usize) {
        self.bytes.fetch_sub(bytes, Ordering::AcqRel);
        self.room.notify_waiters();
    }
}

/// Handle for submitting writes; cheap to clone.
#[derive(Clone)]
pub struct Proposer {
    tx: mpsc::UnboundedSender<Pending>,
    queue: Arc<Queue>,
    limit: usize,
}

/// The eventual replies to one submitted run of writes, one frame per command, in order.
pub type ReplyRx = oneshot::Receiver<Vec<Frame>>;

impl Proposer {
    /// Starts the batching task on the current runtime. `timeout` bounds how long a batch may
    /// wait for commit before its commands are answered with an unknown-outcome error.
    ///
    /// `ack_before_commit` is the planted bug of the same name (crate::faults): every write is
    /// answered `+OK` as soon as its entry is proposed. Never set outside chaos testing.
    pub fn spawn(
        raft: Raft,
        keyspace: SharedKeyspace,
        timeout: Duration,
        ack_before_commit: bool,
    ) -> Proposer {
        let (tx, rx) = mpsc::unbounded_channel();
        let queue = Arc::new(Queue::default());
        tokio::spawn(batch_loop(
            raft,
            keyspace,
            rx,
            queue.clone(),
            timeout,
            ack_before_commit,
        ));
        Proposer {
            tx,
            queue,
            limit: MAX_QUEUED_BYTES,
        }
    }

    /// Argv bytes queued and not yet proposed.
    pub fn queued_bytes(&self) -> usize {
        self.queue.bytes.load(Ordering::Acquire)
    }

    /// Runs dropped unproposed because nobody waited for them any more.
    pub fn dropped_runs(&self) -> usize {
        self.queue.dropped.load(Ordering::Relaxed)
    }

    /// Returns once the queue is below its bound. Sessions call it before reading more
    /// commands, so the bound is exceeded by at most one read's worth per session.
    pub async fn wait_for_room(&self) {
        loop {
            let notified = self.queue.room.notified();
            if self.queued_bytes() < self.limit {
                return;
            }
            notified.await;
        }
    }

    /// Queues a run of validated write commands (applied consecutively, in order); the
    /// receiver yields one reply per command once they are applied. `cmds` must not be empty.
    ///
    /// `db` is the session's selected database; consecutive runs of one database share an
    /// entry, a run of another database starts the next one (`Request::Db` for db ≠ 0).
    pub fn submit_run(&self, db: u32, cmds: Vec<Vec<Bytes>>) -> ReplyRx {
        let (reply, rx) = oneshot::channel();
        let bytes = run_bytes(&cmds);
        self.queue.bytes.fetch_add(bytes, Ordering::AcqRel);
        if let Err(mpsc::error::SendError(p)) = self.tx.send(Pending {
            db,
            cmds,
            reply,
            bytes,
        }) {
            self.queue.release(p.bytes);
            let n = p.cmds.len();
            let _ = p.reply.send(vec![errors::shutting_down(); n]);
        }
        rx
    }
}

/// Takes the next run off the queue, releasing its bytes; a run nobody waits for any more is
/// dropped (see the module docs) and the next one taken.
fn take_live(queue: &Queue, p: Pending) -> Option<Pending> {
    queue.release(p.bytes);
    if p.reply.is_closed() {
        queue.dropped.fetch_add(1, Ordering::Relaxed);
        None
    } else {
        Some(p)
    }
}

fn run_bytes(cmds: &[Vec<Bytes>]) -> usize {
    cmds.iter()
        .map(|argv| argv.iter().map(|a| a.len() + 8).sum::<usize>())
        .sum()
}

async fn batch_loop(
    raft: Raft,
    keyspace: SharedKeyspace,
    mut rx: mpsc::UnboundedReceiver<Pending>,
    queue: Arc<Queue>,
    timeout: Duration,
    ack_before_commit: bool,
) {
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    // A run that would have taken the batch past what one peer message carries, or a run of
    // another database: it starts the next batch instead.
    let mut carried: Option<Pending> = None;
    loop {
        let first = match carried.take() {
            Some(p) => p,
            None => match rx.recv().await {
                Some(p) => match take_live(&queue, p) {
                    Some(p) => p,
                    None => continue,
                },
                None => return,
            },
        };
        // Wait for room before draining the queue, so the batch takes everything that arrived
        // while earlier entries were being committed.
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        if first.reply.is_closed() {
            // Abandoned while waiting for the in-flight entry.
            queue.dropped.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let mut bytes = run_bytes(&first.cmds);
        let db = first.db;
        let mut cmds = first.cmds;
        // (reply channel, number of commands it answers), in order.
        let mut replies = vec![(first.reply, cmds.len())];
        while cmds.len() < MAX_BATCH_COMMANDS && bytes < MAX_BATCH_BYTES {
            let next = match rx.try_recv() {
                Ok(p) => take_live(&queue, p),
                Err(_) => break,
            };
            match next {
                None => continue,
                Some(p) if bytes + p.bytes > crate::errors::MAX_COMMAND_BYTES || p.db != db => {
                    carried = Some(p);
                    break;
                }
                Some(p) => {
                    bytes += run_bytes(&p.cmds);
                    replies.push((p.reply, p.cmds.len()));
                    cmds.extend(p.cmds);
                }
            }
        }
        // The stamp never goes back: the group's floor (largest applied stamp) bounds it, so
        // a leader whose clock is behind the previous one's (or stepped back) stamps no
        // earlier than what replicas already applied.
        let now_ms = match keyspace.read() {
            Ok(k) => k.timeline(clock::now_ms()),
            Err(p) => p.into_inner().timeline(clock::now_ms()),
        };
        let req = if cmds.len() == 1 {
            let argv = cmds.into_iter().next().unwrap_or_default();
            Request::Command { now_ms, argv }
        } else {
            Request::Batch { now_ms, cmds }
        };
        let req = Request::in_db(db, req);
        // Proposing only enqueues into Raft; the wait happens in a separate task so the next
        // batch can form while this one is being committed.
        match write_path::propose(&raft, req).await {
            Err(e) => {
                for (r, n) in replies {
                    let _ = r.send(vec![e.clone(); n]);
                }
            }
            Ok(p) if ack_before_commit => {
                for (r, n) in replies {
                    let _ = r.send(vec![Frame::ok(); n]);
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

/// Sends each run its commands' replies. A batch entry's reply is an array with one frame per
/// command; a single-command entry's reply is that command's frame; anything else (an error
/// about the whole entry) goes to every command.
fn distribute(reply: Frame, replies: Vec<(oneshot::Sender<Vec<Frame>>, usize)>) {
    let total: usize = replies.iter().map(|(_, n)| n).sum();
    match reply {
        Frame::Array(frames) if total > 1 && frames.len() == total => {
            let mut frames = frames.into_iter();
            for (r, n) in replies {
                let _ = r.send(frames.by_ref().take(n).collect());
            }
        }
        other => {
            for (r, n) in replies {
                let _ = r.send(vec![other.clone(); n]);
            }
        }
    }
}
