//! Multi-node Raft groups as real processes: replication, failover without losing acknowledged
//! writes, catch-up (log and snapshot), membership changes under load, minority refusal, TTLs
//! across failover, and peer authentication.

mod common;

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{cluster_yaml, free_port, TestCluster, TestNode};
use redis::{Commands, Connection, RedisResult};

/// Short timeouts so that refusals are prompt in tests.
const FAST: &str = "request-timeout-ms: 1500\n";

fn readonly_conn(node: &TestNode) -> Connection {
    let mut c = node.conn();
    let () = redis::cmd("READONLY").query(&mut c).expect("READONLY");
    c
}

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

fn err_text<T>(r: RedisResult<T>) -> Option<String> {
    r.err()
        .map(|e| format!("{} {}", e.code().unwrap_or(""), e.detail().unwrap_or("")))
}

#[test]
fn every_command_family_replicates_and_followers_redirect() {
    let mut cluster = TestCluster::start(3);
    let leader = cluster.wait_for_leader();
    let mut c = cluster.leader_conn();
    let () = c.set("s", "v").unwrap();
    let _: i64 = c.incr("n", 7).unwrap();
    let () = c.hset("h", "f", "x").unwrap();
    let _: i64 = c.rpush("l", &["a", "b"]).unwrap();
    let _: i64 = c.sadd("set", "m").unwrap();
    let _: bool = c.expire("s", 1000).unwrap();
    let leader_addr = format!("127.0.0.1:{}", cluster.node(leader).port);
    // Every write above was acknowledged, so the leader has applied it: its applied index is
    // the point each follower must reach before its local (READONLY, possibly stale) state
    // is compared. Polling only the first write raced with the later ones (TTL -1, an empty
    // list, seen under load).
    let applied = |n: &TestNode| -> u64 {
        TestCluster::info_field(n, "raft_applied_index")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let target = applied(cluster.node(leader));
    assert!(target > 0, "the leader reports its applied index");
    for node in cluster.nodes.iter().filter(|n| n.node_id() != Some(leader)) {
        assert!(
            eventually(10, || applied(node) >= target),
            "follower {:?} applies up to the leader's index {target}",
            node.node_id()
        );
        // Default (linearizable) mode: keyed commands are redirected to the leader.
        let mut plain = node.conn();
        let moved = err_text(plain.get::<_, String>("s")).expect("a follower redirects");
        assert_eq!(moved, format!("MOVED {} {leader_addr}", slot("s")));
        let moved = err_text(plain.set::<_, _, ()>("s", "x")).expect("writes too");
        assert!(moved.starts_with("MOVED "), "{moved}");
        // READONLY: local state, which catches up with the leader.
        let mut ro = readonly_conn(node);
        assert!(eventually(10, || ro
            .get::<_, Option<String>>("s")
            .ok()
            .flatten()
            .as_deref()
            == Some("v")));
        assert_eq!(ro.get::<_, i64>("n").unwrap(), 7);
        assert_eq!(ro.hget::<_, _, String>("h", "f").unwrap(), "x");
        assert_eq!(
            ro.lrange::<_, Vec<String>>("l", 0, -1).unwrap(),
            vec!["a", "b"]
        );
        assert!(ro.sismember::<_, _, bool>("set", "m").unwrap());
        let ttl: i64 = ro.ttl("s").unwrap();
        assert!(
            ttl > 990 && ttl <= 1000,
            "the absolute deadline replicated: {ttl}"
        );
    }
}

fn slot(key: &str) -> u16 {
    sdr_node::cluster::slot::key_slot(key.as_bytes())
}

#[test]
fn redis_cli_follows_moved() {
    if !common::have("redis-cli") {
        eprintln!("skipped: redis-cli not installed");
        return;
    }
    let mut cluster = TestCluster::start(3);
    let leader = cluster.wait_for_leader();
    let follower = cluster
        .nodes
        .iter()
        .find(|n| n.node_id() != Some(leader))
        .unwrap();
    let out = std::process::Command::new("redis-cli")
        .args([
            "-c",
            "-p",
            &follower.port.to_string(),
            "SET",
            "via-follower",
            "ok",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "OK");
    let v: String = cluster.leader_conn().get("via-follower").unwrap();
    assert_eq!(v, "ok");
}

#[test]
fn leader_kill9_fails_over_without_losing_acknowledged_writes() {
    let mut cluster = TestCluster::start_with(3, FAST);
    let old = cluster.wait_for_leader();
    let mut c = cluster.leader_conn();
    for i in 0..200 {
        let () = c.set(format!("k{i}"), i).unwrap();
    }
    drop(c);
    cluster.node(old).kill9();
    let killed_at = Instant::now();
    // First successful write on the new leader.
    let mut failover = None;
    while killed_at.elapsed() < Duration::from_secs(20) {
        let survivors: Vec<&TestNode> =
            cluster.nodes.iter().filter(|n| n.child.is_some()).collect();
        for n in survivors {
            if let Ok(mut c) = n.client().get_connection() {
                if c.set::<_, _, ()>("after-failover", 1).is_ok() {
                    failover = Some(killed_at.elapsed());
                    break;
                }
            }
        }
        if failover.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let failover = failover.expect("a new leader serves writes");
    eprintln!("failover (kill -9 → first successful write): {failover:?}");
    assert!(
        failover < Duration::from_secs(5),
        "failover took {failover:?}"
    );
    let new = cluster.wait_for_leader();
    assert_ne!(new, old);
    let mut c = cluster.leader_conn();
    for i in 0..200 {
        assert_eq!(
            c.get::<_, i64>(format!("k{i}")).unwrap(),
            i,
            "acknowledged write k{i} survived"
        );
    }
    // The killed node restarts and catches up.
    cluster.node(old).spawn_no_wait().expect("restart");
    let () = c.set("late", "write").unwrap();
    let mut ro = readonly_conn(cluster.node(old));
    assert!(eventually(15, || ro
        .get::<_, Option<String>>("late")
        .ok()
        .flatten()
        .as_deref()
        == Some("write")));
    assert_eq!(ro.get::<_, i64>("k199").unwrap(), 199);
}

#[test]
fn minority_side_refuses_reads_and_writes_promptly() {
    let mut cluster = TestCluster::start_with(3, FAST);
    let mut c = cluster.leader_conn();
    let () = c.set("k", "before").unwrap();
    drop(c);
    // Kill two of three: the survivor is a minority, leader or not.
    let ids: Vec<u64> = vec![1, 2];
    for id in ids {
        cluster.node(id).kill9();
    }
    let survivor = cluster.node(3);
    let mut c = survivor.conn();
    let start = Instant::now();
    let w = err_text(c.set::<_, _, ()>("k", "after")).expect("a minority cannot write");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "refused within the request timeout"
    );
    assert!(
        w.starts_with("CLUSTERDOWN")
            || w.starts_with("TRYAGAIN")
            || w.starts_with("TIMEOUT")
            || w.starts_with("MOVED"),
        "{w}"
    );
    // Once it knows it has no quorum it refuses reads instead of serving stale data.
    let start = Instant::now();
    let r = c.get::<_, Option<String>>("k");
    assert!(start.elapsed() < Duration::from_secs(5));
    match r {
        Ok(v) => panic!("a minority node answered a linearizable read: {v:?}"),
        Err(e) => eprintln!("minority read refused: {e}"),
    }
}

#[test]
fn ttl_deadlines_survive_failover() {
    let mut cluster = TestCluster::start_with(3, FAST);
    let old = cluster.wait_for_leader();
    let mut c = cluster.leader_conn();
    let () = redis::cmd("SET")
        .arg("short")
        .arg("v")
        .arg("PX")
        .arg(2500)
        .query(&mut c)
        .unwrap();
    let () = redis::cmd("SET")
        .arg("long")
        .arg("v")
        .arg("EX")
        .arg(1000)
        .query(&mut c)
        .unwrap();
    drop(c);
    cluster.node(old).kill9();
    let mut c = cluster.leader_conn();
    let pttl: i64 = c.pttl("short").unwrap();
    assert!(
        pttl > 0 && pttl <= 2500,
        "not resurrected without a deadline, not dropped early: {pttl}"
    );
    let ttl: i64 = c.ttl("long").unwrap();
    assert!(ttl > 990, "{ttl}");
    std::thread::sleep(Duration::from_millis(pttl as u64 + 300));
    assert_eq!(
        c.get::<_, Option<String>>("short").unwrap(),
        None,
        "expired on the new leader"
    );
}

#[test]
fn membership_changes_while_a_client_writes() {
    let mut cluster = TestCluster::start_with(3, FAST);
    // A writer that counts acknowledged INCRs.
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicI64::new(0));
    let addrs: Vec<String> = cluster.nodes.iter().map(|n| n.url()).collect();
    let writer = {
        let (stop, acked) = (stop.clone(), acked.clone());
        std::thread::spawn(move || {
            let mut attempts = 0i64;
            while !stop.load(Ordering::Relaxed) {
                for url in &addrs {
                    let Ok(mut c) = redis::Client::open(url.as_str()).unwrap().get_connection()
                    else {
                        continue;
                    };
                    attempts += 1;
                    if c.incr::<_, _, i64>("counter", 1).is_ok() {
                        acked.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            attempts
        })
    };
    // Node 4 joins with its own file (it lists all four; it is not the lowest id, so it never
    // initializes a group itself).
    let (raft4, client4) = (free_port(), free_port());
    let mut members = cluster.members.clone();
    members.push((4, raft4, client4));
    let file4 = cluster.tmp().join("cluster-4.yaml");
    std::fs::write(
        &file4,
        format!(
            "{}{FAST}",
            cluster_yaml(
                &cluster.cluster_id,
                &cluster.secret,
                &members,
                cluster.tmp()
            )
        ),
    )
    .unwrap();
    let mut n4 = TestNode {
        child: None,
        dir: cluster.tmp().join("node-4"),
        port: 0,
        extra_args: vec![
            "--config".into(),
            file4.display().to_string(),
            "--node-id".into(),
            "4".into(),
        ],
        _tmp: None,
    };
    n4.spawn_no_wait().expect("node 4 starts");
    std::thread::sleep(Duration::from_millis(300));
    let (ok, out) = cluster.admin(
        &cluster.config,
        &[
            "add",
            "--id",
            "4",
            "--raft",
            &format!("127.0.0.1:{raft4}"),
            "--client",
            &format!("127.0.0.1:{client4}"),
        ],
    );
    assert!(ok, "admin add: {out}");
    let (ok, out) = cluster.admin(&file4, &["status"]);
    assert!(
        ok && out.contains("voters=[1, 2, 3, 4]"),
        "node 4 is a voter: {out}"
    );
    std::thread::sleep(Duration::from_millis(300));
    // Remove a member that is not the leader.
    let leader = cluster.wait_for_leader();
    let victim = [1u64, 2, 3].into_iter().find(|i| *i != leader).unwrap();
    let (ok, out) = cluster.admin(&file4, &["remove", "--id", &victim.to_string()]);
    assert!(ok, "admin remove: {out}");
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let attempts = writer.join().unwrap();
    cluster.node(victim).kill9();
    // Every acknowledged INCR is applied; none beyond those attempted.
    let mut c = cluster.leader_conn();
    let counter: i64 = c.get("counter").unwrap();
    let acked = acked.load(Ordering::Relaxed);
    assert!(acked > 0);
    assert!(
        counter >= acked && counter <= attempts,
        "acked {acked} ≤ counter {counter} ≤ attempts {attempts}"
    );
    // The new member holds the data.
    let mut ro = readonly_conn(&n4);
    assert!(eventually(10, || ro
        .get::<_, Option<i64>>("counter")
        .ok()
        .flatten()
        == Some(counter)));
}

#[test]
fn wiped_member_catches_up_by_snapshot() {
    let mut cluster = TestCluster::start_with(3, &format!("{FAST}snapshot-every: 20\n"));
    let leader = cluster.wait_for_leader();
    let victim = [1u64, 2, 3].into_iter().find(|i| *i != leader).unwrap();
    let (ok, out) = cluster.admin(&cluster.config, &["remove", "--id", &victim.to_string()]);
    assert!(ok, "{out}");
    cluster.node(victim).kill9();
    let dir = cluster.node(victim).dir.clone();
    std::fs::remove_dir_all(&dir).unwrap();
    let mut c = cluster.leader_conn();
    let added: i64 = redis::cmd("ZADD")
        .arg(&["z", "1.5", "a", "-inf", "b", "0.1", "c"])
        .query(&mut c)
        .unwrap();
    assert_eq!(added, 3);
    for i in 0..300 {
        let () = c.set(format!("k{i}"), i).unwrap();
    }
    // The log before the snapshots is gone, so the returning member needs a snapshot.
    cluster
        .node(victim)
        .spawn_no_wait()
        .expect("wiped node restarts");
    let raft_port = cluster.members.iter().find(|m| m.0 == victim).unwrap().1;
    let client_port = cluster.members.iter().find(|m| m.0 == victim).unwrap().2;
    let (ok, out) = cluster.admin(
        &cluster.config,
        &[
            "add",
            "--id",
            &victim.to_string(),
            "--raft",
            &format!("127.0.0.1:{raft_port}"),
            "--client",
            &format!("127.0.0.1:{client_port}"),
        ],
    );
    assert!(ok, "{out}");
    let mut ro = readonly_conn(cluster.node(victim));
    assert!(eventually(15, || ro
        .get::<_, Option<i64>>("k299")
        .ok()
        .flatten()
        == Some(299)));
    assert_eq!(ro.get::<_, i64>("k0").unwrap(), 0);
    // A sorted set arrives by snapshot with its exact scores.
    let z: Vec<String> = redis::cmd("ZRANGE")
        .arg(&["z", "0", "-1", "WITHSCORES"])
        .query(&mut ro)
        .unwrap();
    assert_eq!(z, ["b", "-inf", "c", "0.10000000000000001", "a", "1.5"]);
    let log = cluster.node(victim).log();
    assert!(
        std::fs::read_dir(dir.join("snapshots"))
            .map(|d| d.count())
            .unwrap_or(0)
            > 0,
        "the snapshot was installed: {log}"
    );
}

#[test]
fn peers_with_wrong_cluster_id_or_secret_are_rejected() {
    let cluster = TestCluster::start(3);
    let bad = cluster.tmp().join("bad.yaml");
    std::fs::write(
        &bad,
        cluster_yaml(
            "other-cluster",
            &cluster.secret,
            &cluster.members,
            cluster.tmp(),
        ),
    )
    .unwrap();
    let (ok, out) = cluster.admin(&bad, &["status"]);
    assert!(ok, "status prints per-member errors: {out}");
    assert!(out.contains("cluster id mismatch"), "{out}");
    std::fs::write(
        &bad,
        cluster_yaml(
            &cluster.cluster_id,
            "wrong-secret",
            &cluster.members,
            cluster.tmp(),
        ),
    )
    .unwrap();
    let (_, out) = cluster.admin(&bad, &["status"]);
    assert!(out.contains("wrong cluster secret"), "{out}");
    let (ok, out) = cluster.admin(&bad, &["remove", "--id", "2"]);
    assert!(!ok, "a wrong secret cannot change membership: {out}");
    let (_, out) = cluster.admin(&cluster.config, &["status"]);
    assert!(out.matches("voters=[1, 2, 3]").count() == 3, "{out}");
}

/// grpc.health.v1 status of the member's peer endpoint.
fn health(raft_port: u16) -> Option<i32> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    rt.block_on(async move {
        let channel =
            tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{raft_port}"))
                .ok()?
                .connect()
                .await
                .ok()?;
        let mut client = tonic_health::pb::health_client::HealthClient::new(channel);
        let resp = client
            .check(tonic_health::pb::HealthCheckRequest {
                service: String::new(),
            })
            .await
            .ok()?;
        Some(resp.into_inner().status)
    })
}

#[test]
fn health_endpoint_tracks_leadership() {
    use tonic_health::pb::health_check_response::ServingStatus;
    let mut cluster = TestCluster::start_with(3, FAST);
    let ports: Vec<(u64, u16)> = cluster
        .members
        .iter()
        .map(|(id, raft, _)| (*id, *raft))
        .collect();
    for (_, p) in &ports {
        assert!(
            eventually(10, || health(*p) == Some(ServingStatus::Serving as i32)),
            "member on {p} is SERVING"
        );
    }
    cluster.node(1).kill9();
    cluster.node(2).kill9();
    let p3 = ports[2].1;
    assert!(
        eventually(10, || health(p3) == Some(ServingStatus::NotServing as i32)),
        "a member without a reachable majority reports NOT_SERVING"
    );
}

#[test]
fn forward_to_leader_serves_clients_that_do_not_follow_moved() {
    // Appended at the end of the generated file, so it lands inside the `cluster:` section.
    let mut cluster = TestCluster::start_with(3, "  forward-to-leader: true\n");
    let leader = cluster.wait_for_leader();
    let followers: Vec<u64> = [1u64, 2, 3].into_iter().filter(|i| *i != leader).collect();
    let mut a = cluster.node(followers[0]).conn();
    let mut b = cluster.node(followers[1]).conn();
    let () = a
        .set("fwd", "v1")
        .expect("a write through a follower is relayed to the leader");
    assert_eq!(
        b.get::<_, String>("fwd").unwrap(),
        "v1",
        "a linearizable read through another follower"
    );
    assert_eq!(a.incr::<_, _, i64>("fwd-n", 5).unwrap(), 5);
    assert_eq!(b.incr::<_, _, i64>("fwd-n", 5).unwrap(), 10);
    let e = a.incr::<_, _, i64>("fwd", 1).unwrap_err();
    assert_eq!(
        e.code(),
        Some("ERR"),
        "the leader's error is relayed verbatim: {e}"
    );
    let v: String = cluster.leader_conn().get("fwd").unwrap();
    assert_eq!(v, "v1");

    // A RESP3 client on a follower gets the leader's reply in RESP3 types (the link is
    // switched to the client's protocol), and RESP2 nils keep their flavour after HELLO 2.
    let () = cluster
        .leader_conn()
        .hset("fwd-h", "f", "v")
        .map(|_: i64| ())
        .unwrap();
    let follower = cluster.node(followers[0]).port;
    let pipeline = b"HELLO 3\r\nHGETALL fwd-h\r\nLPOP fwd-nokey 2\r\nHELLO 2\r\nLPOP fwd-nokey 2\r\nGET fwd-nokey\r\nHGETALL fwd-h\r\n";
    let got = raw_until(follower, pipeline, b"*2\r\n$1\r\nf\r\n$1\r\nv\r\n");
    let hello_end = got.find("modules").expect("HELLO reply") + "modules\r\n*0\r\n".len();
    assert!(got.starts_with("%7\r\n"), "{got:?}");
    let rest = &got[hello_end..];
    let after_hello3 = "%1\r\n$1\r\nf\r\n$1\r\nv\r\n_\r\n*14\r\n";
    assert!(rest.starts_with(after_hello3), "{rest:?}");
    assert!(
        got.ends_with("*-1\r\n$-1\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n"),
        "{got:?}"
    );
}

/// Sends `bytes` on a new connection to `port` and reads until the text ends with `end`
/// (or 5 s pass).
fn raw_until(port: u16, bytes: &[u8], end: &[u8]) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    s.write_all(bytes).unwrap();
    let mut got = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !got.ends_with(end) && std::time::Instant::now() < deadline {
        let mut chunk = [0u8; 4096];
        if let Ok(n) = s.read(&mut chunk) {
            got.extend_from_slice(&chunk[..n]);
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
fn idempotent_retry_after_failover_applies_once() {
    let mut cluster = TestCluster::start_with(3, FAST);
    let old = cluster.wait_for_leader();
    let mut c = cluster.leader_conn();
    let idem = |seq: u64| {
        redis::cmd("IDEMPOTENT")
            .arg("client-a")
            .arg(seq)
            .arg("INCRBY")
            .arg("counter")
            .arg(10)
            .clone()
    };
    let first: i64 = idem(1).query(&mut c).unwrap();
    assert_eq!(first, 10);
    drop(c);
    // The reply "was lost" and the leader died: the client retries the same request elsewhere.
    cluster.node(old).kill9();
    let mut c = cluster.leader_conn();
    let retry: i64 = idem(1).query(&mut c).unwrap();
    assert_eq!(retry, 10, "the retry gets the original reply");
    assert_eq!(
        c.get::<_, i64>("counter").unwrap(),
        10,
        "and is not applied twice"
    );
    let next: i64 = idem(2).query(&mut c).unwrap();
    assert_eq!(next, 20);
    let e = idem(1).query::<i64>(&mut c).unwrap_err();
    assert!(e.to_string().contains("stale request"), "{e}");
}

#[test]
fn exec_writes_reach_every_replica_and_survive_a_restart() {
    let mut cluster = TestCluster::start_with(3, FAST);
    cluster.wait_for_leader();
    let mut c = cluster.leader_conn();
    let (a, b): (i64, i64) = redis::pipe()
        .atomic()
        .incr("tx-a", 1)
        .incr("tx-b", 2)
        .query(&mut c)
        .expect("EXEC");
    assert_eq!((a, b), (1, 2));
    // A WATCH broken by another client's write: EXEC applies nothing, on any replica.
    let mut other = cluster.leader_conn();
    let () = redis::cmd("WATCH").arg("tx-a").query(&mut c).unwrap();
    let _: i64 = other.incr("tx-a", 10).unwrap();
    let r: Option<(i64,)> = redis::pipe()
        .atomic()
        .incr("tx-b", 100)
        .query(&mut c)
        .unwrap();
    assert_eq!(r, None, "EXEC after a watched key changed is the nil array");
    let expect = |n: &TestNode| -> bool {
        let mut ro = readonly_conn(n);
        ro.get::<_, Option<i64>>("tx-a").ok().flatten() == Some(11)
            && ro.get::<_, Option<i64>>("tx-b").ok().flatten() == Some(2)
    };
    for id in 1..=3 {
        assert!(eventually(10, || expect(cluster.node(id))), "replica {id}");
    }
    for id in 1..=3 {
        cluster.node(id).kill9();
    }
    for id in 1..=3 {
        cluster.node(id).spawn_no_wait().expect("restart");
    }
    cluster.wait_for_leader();
    for id in 1..=3 {
        assert!(
            eventually(20, || expect(cluster.node(id))),
            "replica {id} after restart"
        );
    }
}

/// The one-member read fast path (`server::read_barrier`): a group whose only voter is the
/// leader confirms reads without a RaftCore round trip (`sdr_reads_local` counts them); once a
/// second voter joins, every read goes through `ensure_linearizable` again, and the fast path
/// comes back only after the member is removed and that membership is applied.
#[test]
fn one_member_reads_skip_raft_core_only_while_alone() {
    let mut cluster = TestCluster::start_with(1, FAST);
    let local = |c: &mut Connection| common::info_num(c, "stats", "sdr_reads_local");
    let mut c = cluster.leader_conn();
    let () = c.set("k", "v1").unwrap();
    let before = local(&mut c);
    for _ in 0..5 {
        assert_eq!(c.get::<_, String>("k").unwrap(), "v1");
    }
    assert_eq!(
        local(&mut c),
        before + 5,
        "one member: reads take the fast path"
    );

    // A second voter joins.
    let (raft2, client2) = (free_port(), free_port());
    let mut members = cluster.members.clone();
    members.push((2, raft2, client2));
    let file2 = cluster.tmp().join("cluster-2.yaml");
    std::fs::write(
        &file2,
        format!(
            "{}{FAST}",
            cluster_yaml(
                &cluster.cluster_id,
                &cluster.secret,
                &members,
                cluster.tmp()
            )
        ),
    )
    .unwrap();
    let mut n2 = TestNode {
        child: None,
        dir: cluster.tmp().join("node-2"),
        port: 0,
        extra_args: vec![
            "--config".into(),
            file2.display().to_string(),
            "--node-id".into(),
            "2".into(),
        ],
        _tmp: None,
    };
    n2.spawn_no_wait().expect("node 2 starts");
    let (ok, out) = cluster.admin(
        &cluster.config,
        &[
            "add",
            "--id",
            "2",
            "--raft",
            &format!("127.0.0.1:{raft2}"),
            "--client",
            &format!("127.0.0.1:{client2}"),
        ],
    );
    assert!(ok, "admin add: {out}");
    let (ok, out) = cluster.admin(&file2, &["status"]);
    assert!(
        ok && out.contains("voters=[1, 2]"),
        "node 2 is a voter: {out}"
    );
    let mut c = cluster.node(1).conn();
    let () = c.set("k", "v2").unwrap();
    let (local_before, barriers_before) = (
        local(&mut c),
        common::info_num(&mut c, "stats", "sdr_read_barriers"),
    );
    for _ in 0..5 {
        assert_eq!(c.get::<_, String>("k").unwrap(), "v2");
    }
    assert_eq!(local(&mut c), local_before, "two voters: no fast path");
    assert!(
        common::info_num(&mut c, "stats", "sdr_read_barriers") >= barriers_before + 5,
        "two voters: every read confirmed through Raft"
    );

    // Back to one voter: the fast path returns once the removal is applied.
    let (ok, out) = cluster.admin(&file2, &["remove", "--id", "2"]);
    assert!(ok, "admin remove: {out}");
    assert!(
        eventually(10, || {
            let b = local(&mut c);
            c.get::<_, String>("k").ok().as_deref() == Some("v2") && local(&mut c) > b
        }),
        "one voter again: reads take the fast path"
    );
    n2.kill9();
}
