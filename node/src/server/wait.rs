//! `WAIT numreplicas timeout`: how many other members of this Raft group hold the client's
//! writes. Run on the leader after every earlier command of the connection completed, so the
//! leader's last applied log index is at least the index of the client's last write (a
//! conservative target: it may wait for a few later entries of other clients, never report a
//! member that lacks the write). A member counts once the leader knows it holds that index in
//! its log (openraft's replication progress, i.e. durable on the member; Redis counts replicas
//! that acknowledged the write's offset). Replies the count when it reaches `numreplicas`, or
//! at the timeout (milliseconds, 0 = forever) whatever it is then.

use std::time::Duration;

use bytes::Bytes;

use crate::cmd;
use crate::resp::{parse_i64, Frame};

use super::state::Node;

/// Redis's reply on a replica.
const ON_REPLICA: &str = "WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.";

/// Members other than this one whose replicated log reaches `target`.
fn holding(
    node: &Node,
    m: &openraft::RaftMetrics<crate::raft::NodeId, openraft::BasicNode>,
    target: u64,
) -> i64 {
    m.replication.as_ref().map_or(0, |r| {
        r.iter()
            .filter(|(id, l)| **id != node.id && l.is_some_and(|l| l.index >= target))
            .count() as i64
    })
}

/// Executes WAIT (argv checked for arity); errors in Redis's order: count, then timeout.
pub async fn execute(node: &Node, argv: &[Bytes]) -> Frame {
    let Some(want) = parse_i64(&argv[1]) else {
        return Frame::err(cmd::NOT_INT);
    };
    let timeout = match parse_i64(&argv[2]) {
        None => return Frame::err("timeout is not an integer or out of range"),
        Some(t) if t < 0 => return Frame::err("timeout is negative"),
        Some(t) => t as u64,
    };
    let mut rx = node.raft.metrics();
    let target = {
        let m = rx.borrow();
        if !m.state.is_leader() {
            return Frame::err(ON_REPLICA);
        }
        m.last_applied.map_or(0, |l| l.index)
    };
    let deadline =
        (timeout > 0).then(|| tokio::time::Instant::now() + Duration::from_millis(timeout));
    let mut shutdown = node.shutdown_signal();
    loop {
        let n = holding(node, &rx.borrow(), target);
        if n >= want {
            return Frame::Integer(n);
        }
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = rx.changed() => {
                if r.is_err() {
                    return Frame::Integer(n);
                }
            }
            _ = sleep => return Frame::Integer(holding(node, &rx.borrow(), target)),
            _ = shutdown.changed() => return Frame::Integer(n),
        }
    }
}
