//! The proposer's queue (issue 11): writes whose clients were already answered `TIMEOUT` are
//! dropped before they are proposed, so a group that stalls and recovers does not replay a
//! backlog nobody waits for.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::TestCluster;

fn set_cmd(key: &str, value: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n${}\r\n",
        key.len(),
        value.len()
    )
    .into_bytes();
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
    out
}

fn stat(node: &common::TestNode, field: &str) -> u64 {
    common::info_num(&mut node.conn(), "stats", field)
}

#[test]
fn writes_abandoned_in_the_queue_are_never_proposed() {
    let mut c = TestCluster::start_with(3, "request-timeout-ms: 300\n");
    let leader = c.wait_for_leader();
    let followers: Vec<u64> = (1..=3).filter(|&i| i != leader).collect();
    for &f in &followers {
        c.node(f).kill9();
    }
    // Four writers, each one SET of 5 MiB: a batch holds at most 4 MiB, so each run is its own
    // entry, and with no quorum each entry waits the whole timeout before the next is tried.
    let addr = c.node(leader).addr();
    let value = vec![b'v'; 5 << 20];
    let writers: Vec<_> = (0..4)
        .map(|i| {
            let addr = addr.clone();
            let cmd = set_cmd(&format!("k{i}"), &value);
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(addr).expect("connect");
                s.set_read_timeout(Some(Duration::from_secs(10)))
                    .expect("timeout");
                s.write_all(&cmd).expect("send");
                let mut buf = [0u8; 256];
                let n = s.read(&mut buf).unwrap_or(0);
                String::from_utf8_lossy(&buf[..n]).into_owned()
            })
        })
        .collect();
    for w in writers {
        let reply = w.join().expect("writer");
        assert!(reply.starts_with("-TIMEOUT"), "{reply:?}");
    }
    // Runs still queued when their clients gave up are dropped as the queue drains.
    std::thread::sleep(Duration::from_millis(1500));
    let dropped = stat(c.node(leader), "sdr_proposer_dropped_runs");
    assert!(dropped >= 1, "no abandoned run was dropped");
    assert_eq!(stat(c.node(leader), "sdr_proposer_queued_bytes"), 0);
    for &f in &followers {
        c.node(f).spawn_no_wait().expect("follower restarts");
    }
    c.wait_for_leader();
    let mut conn = c.leader_conn();
    // The group commits again once the followers are back (the first tries may still time out
    // while they catch up).
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while redis::cmd("SET")
        .arg("after")
        .arg("1")
        .query::<()>(&mut conn)
        .is_err()
    {
        assert!(std::time::Instant::now() < deadline, "writes never resumed");
        std::thread::sleep(Duration::from_millis(100));
    }
    let applied: usize = (0..4)
        .filter(|i| {
            redis::cmd("EXISTS")
                .arg(format!("k{i}"))
                .query::<i64>(&mut conn)
                .expect("EXISTS")
                == 1
        })
        .count();
    assert!(
        applied as u64 <= 4 - dropped,
        "{applied} of 4 abandoned writes applied, {dropped} dropped"
    );
}
