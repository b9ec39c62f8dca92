//! Hostile and heavy peer traffic: a lagging follower fed large entries catches up (batches
//! are bounded by bytes, never more than one gRPC message), the Raft log is bounded by bytes,
//! and peer RPCs are authenticated before their body is read.

mod common;

use std::time::{Duration, Instant};

use common::{TestCluster, TestNode};
use redis::Commands;

/// Polls `f` until it returns true or `secs` pass.
fn eventually(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn applied(n: &TestNode) -> u64 {
    TestCluster::info_field(n, "raft_applied_index")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A follower that was down while ~84 MB of 3.5 MB values were written must catch up: the
/// leader used to send it up to 300 entries in one AppendEntries (over the 64 MiB gRPC limit,
/// and far over what completes in openraft's one-heartbeat RPC timeout), fail, and resend the
/// same range forever. Afterwards the group keeps taking writes and the follower sees them.
#[test]
fn lagging_follower_catches_up_through_large_entries() {
    let mut cluster = TestCluster::start_with(3, "request-timeout-ms: 10000\n");
    let leader = cluster.wait_for_leader();
    let lagger = (1..=3).find(|&i| i != leader).expect("a follower");
    cluster.node(lagger).terminate();

    let value_len = 3_500_000;
    let n = 24;
    let mut c = cluster.leader_conn();
    for i in 0..n {
        let v = vec![b'a' + (i % 26) as u8; value_len];
        let () = c.set(format!("big{i}"), v).expect("large SET acknowledged");
    }
    let target = applied(cluster.node(leader));

    let started = Instant::now();
    cluster.node(lagger).spawn_no_wait().expect("restart the follower");
    assert!(
        eventually(20, || applied(cluster.node(lagger)) >= target),
        "the follower catches up to index {target} (at {}): {}",
        applied(cluster.node(lagger)),
        cluster.node(lagger).log()
    );
    eprintln!(
        "follower caught up {} MB in {:?}",
        n * value_len / 1_000_000,
        started.elapsed()
    );

    // The group still takes writes, and the follower applies them.
    let mut c = cluster.leader_conn();
    let () = c.set("after", "yes").expect("write after catch-up");
    let target = applied(cluster.node(leader));
    assert!(eventually(10, || applied(cluster.node(lagger)) >= target));
    let mut ro = cluster.node(lagger).conn();
    let () = redis::cmd("READONLY").query(&mut ro).expect("READONLY");
    assert_eq!(ro.get::<_, String>("after").unwrap(), "yes");
    let v: Vec<u8> = ro.get(format!("big{}", n - 1)).unwrap();
    assert_eq!(v.len(), value_len);
    assert!(v.iter().all(|&b| b == b'a' + ((n - 1) % 26) as u8));
}
