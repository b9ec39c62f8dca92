//! Numbered databases on real processes: replicated through the log and kept across a leader
//! failover, blocked clients woken only by their own database, and keyspace events naming the
//! database (`__keyspace@<db>__`). The command-by-command comparison with redis-server is
//! `differential_databases.rs`.

mod common;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{TestCluster, TestNode};
use redis::Commands;

const FAST: &str = "request-timeout-ms: 1500\n";

fn select(c: &mut redis::Connection, db: i64) {
    let () = redis::cmd("SELECT").arg(db).query(c).expect("SELECT");
}

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

#[test]
fn numbered_databases_replicate_and_survive_leader_failover() {
    let mut cluster = TestCluster::start_with(3, FAST);
    let old = cluster.wait_for_leader();
    let mut c = cluster.leader_conn();
    let () = c.set("k", "zero").unwrap();
    select(&mut c, 3);
    let () = c.set("k", "three").unwrap();
    let _: i64 = c.rpush("list", &["a", "b"]).unwrap();
    // A transaction that switches database inside MULTI.
    let (r,): ((),) = redis::pipe()
        .atomic()
        .cmd("SET")
        .arg("t")
        .arg("in3")
        .ignore()
        .cmd("SELECT")
        .arg(5)
        .ignore()
        .cmd("SET")
        .arg("t")
        .arg("in5")
        .query(&mut c)
        .unwrap();
    let () = r;
    // MOVE and SWAPDB are log entries too.
    let () = c.set("moving", "m").unwrap();
    let moved: bool = redis::cmd("MOVE")
        .arg("moving")
        .arg(7)
        .query(&mut c)
        .unwrap();
    assert!(moved);
    let () = redis::cmd("SWAPDB").arg(7).arg(8).query(&mut c).unwrap();
    drop(c);

    cluster.node(old).kill9();
    let mut c = cluster.leader_conn();
    assert_eq!(c.get::<_, String>("k").unwrap(), "zero");
    select(&mut c, 3);
    assert_eq!(c.get::<_, String>("k").unwrap(), "three");
    assert_eq!(c.get::<_, String>("t").unwrap(), "in3");
    assert_eq!(
        c.lrange::<_, Vec<String>>("list", 0, -1).unwrap(),
        ["a", "b"]
    );
    assert_eq!(c.get::<_, Option<String>>("moving").unwrap(), None);
    select(&mut c, 5);
    assert_eq!(c.get::<_, String>("t").unwrap(), "in5");
    select(&mut c, 7);
    assert_eq!(c.get::<_, Option<String>>("moving").unwrap(), None);
    select(&mut c, 8);
    assert_eq!(c.get::<_, String>("moving").unwrap(), "m");
    let info: String = redis::cmd("INFO").arg("keyspace").query(&mut c).unwrap();
    for line in ["db0:keys=1,", "db3:keys=3,", "db5:keys=1,", "db8:keys=1,"] {
        assert!(info.contains(line), "{line} in {info}");
    }
    assert!(!info.contains("db7:"), "{info}");

    // A follower's local state (READONLY) holds the same databases.
    let leader = cluster.wait_for_leader();
    let follower = cluster
        .nodes
        .iter()
        .find(|n| n.node_id() != Some(leader) && n.node_id() != Some(old))
        .expect("a live follower");
    let mut ro = follower.conn();
    let () = redis::cmd("READONLY").query(&mut ro).unwrap();
    select(&mut ro, 5);
    assert!(eventually(10, || ro
        .get::<_, Option<String>>("t")
        .ok()
        .flatten()
        .as_deref()
        == Some("in5")));
}

#[test]
fn a_client_blocked_in_db2_is_woken_by_db2_only() {
    let node = TestNode::start(&[]);
    let mut waiter = node.conn();
    select(&mut waiter, 2);
    let (tx, rx) = mpsc::channel();
    let t = std::thread::spawn(move || {
        let r: Option<(String, String)> = redis::cmd("BLPOP")
            .arg("q")
            .arg(10)
            .query(&mut waiter)
            .unwrap();
        let _ = tx.send(r);
    });
    let mut c = node.conn();
    // Wait until it is blocked.
    assert!(eventually(10, || {
        let info: String = redis::cmd("INFO").arg("clients").query(&mut c).unwrap();
        info.contains("blocked_clients:1")
    }));
    // A push to the same key name in db 0 does not wake it.
    let _: i64 = c.rpush("q", "db0").unwrap();
    assert!(
        rx.recv_timeout(Duration::from_millis(500)).is_err(),
        "woken by db 0"
    );
    select(&mut c, 2);
    let _: i64 = c.rpush("q", "db2").unwrap();
    let got = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("woken by db 2");
    assert_eq!(got, Some(("q".into(), "db2".into())));
    t.join().unwrap();
    select(&mut c, 0);
    assert_eq!(c.lrange::<_, Vec<String>>("q", 0, -1).unwrap(), ["db0"]);
}

#[test]
fn keyspace_events_name_the_database() {
    let node = TestNode::start(&[]);
    let mut c = node.conn();
    let () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("notify-keyspace-events")
        .arg("KEA")
        .query(&mut c)
        .unwrap();
    let mut sub = node.conn();
    sub.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut ps = sub.as_pubsub();
    ps.psubscribe("__keyspace@3__:*").unwrap();
    ps.psubscribe("__keyevent@3__:*").unwrap();
    // db 0 first: nothing on the db-3 channels; then db 3.
    let () = c.set("a", 0).unwrap();
    select(&mut c, 3);
    let () = c.set("a", 3).unwrap();
    let m = ps.get_message().unwrap();
    assert_eq!(m.get_channel_name(), "__keyspace@3__:a");
    assert_eq!(m.get_payload::<String>().unwrap(), "set");
    let m = ps.get_message().unwrap();
    assert_eq!(m.get_channel_name(), "__keyevent@3__:set");
    assert_eq!(m.get_payload::<String>().unwrap(), "a");
}
