//! The system adapters for systems we did not write (`harness/src/system/`): each adapter's
//! lifecycle against the real `redis-server` 7.0 (start, readiness, kill, restart, pause,
//! cleanup on drop — no leftover process, checked by pid), the switchboard's per-source
//! links, the client's `-ASK` handling against a fake RESP server, and the scenario
//! validation of combinations an external system cannot run.
//!
//! Tests that need `redis-server` / `redis-cli` on PATH print a message and pass without it.

use sdr_harness::client::{Client, Conn};
use sdr_harness::cluster::NodeState;
use sdr_harness::proxy::LinkState;
use sdr_harness::recorder::Completion;
use sdr_harness::scenario::Scenario;
use sdr_harness::system::command::{CommandOptions, CommandSystem};
use sdr_harness::system::links::{node_ip, Switchboard};
use sdr_harness::system::redis_cluster::{ClusterOptions, RedisCluster};
use sdr_harness::system::redis_sentinel::{Sentinel, SentinelOptions};
use sdr_harness::system::{which, System};
use sdr_harness::workload::OpArgs;
use serde_json::json;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

fn have_redis() -> bool {
    let ok = which("redis-server").is_ok() && which("redis-cli").is_ok();
    if !ok {
        eprintln!("skipped: redis-server / redis-cli not on PATH (Debian package redis-server)");
    }
    ok
}

fn proc_state(pid: u32) -> Option<char> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    s.rsplit_once(')')?.1.trim_start().chars().next()
}

fn gone(pid: u32) -> bool {
    matches!(proc_state(pid), None | Some('Z') | Some('X'))
}

async fn wait_gone(pids: &[u32]) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while pids.iter().any(|p| !gone(*p)) && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for p in pids {
        assert!(
            gone(*p),
            "process {p} outlived its adapter: {:?}",
            proc_state(*p)
        );
    }
}

async fn ping(addr: &str) -> bool {
    match Conn::connect(addr, Duration::from_millis(500)).await {
        Ok(mut c) => matches!(
            c.call(&[b"PING".to_vec()], Duration::from_millis(500)).await,
            Ok(sdr_resp::Frame::Simple(s)) if s == "PONG"
        ),
        Err(_) => false,
    }
}

/// Kill, restart, pause and resume node `id`, checking states and pids.
async fn exercise(sys: &mut dyn System, id: u32) {
    let before = sys.pids();
    assert!(sys.kill(id).await.expect("kill"), "n{id} was running");
    assert_eq!(sys.state(id), NodeState::Down);
    let after = sys.pids();
    let killed: Vec<u32> = before
        .iter()
        .copied()
        .filter(|p| !after.contains(p))
        .collect();
    assert_eq!(
        killed.len(),
        1,
        "exactly one process killed: {before:?} → {after:?}"
    );
    wait_gone(&killed).await;
    assert!(!sys.kill(id).await.expect("kill again"), "already down");
    assert!(sys.restart(id).await.expect("restart"), "restarted");
    assert_eq!(sys.state(id), NodeState::Up);
    let addr = sys.client_addrs()[(id - 1) as usize].clone();
    assert!(ping(&addr).await, "n{id} serves after the restart");
    assert!(sys.pause(id).expect("pause"));
    assert_eq!(sys.state(id), NodeState::Paused);
    assert!(!ping(&addr).await, "a paused server answers nothing");
    assert!(sys.resume(id).expect("resume"));
    assert!(ping(&addr).await, "n{id} serves after SIGCONT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_lifecycle_routing_and_cleanup() {
    if !have_redis() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut sys = Sentinel::start(SentinelOptions::new(tmp.path().to_path_buf(), 3))
        .await
        .expect("sentinel deployment starts");
    assert_eq!(sys.ids(), vec![1, 2, 3]);
    assert_eq!(sys.pids().len(), 6, "3 servers + 3 Sentinels");
    assert_eq!(
        sys.wait_leader(Duration::from_secs(10))
            .await
            .expect("primary"),
        1,
        "n1 starts as the primary, as the Sentinels see it"
    );
    // A client finds the primary through the Sentinels.
    let mut c =
        Client::new(sys.client_addrs(), 0, Duration::from_secs(2)).with_config(sys.client_config());
    assert_eq!(
        c.execute("k", &OpArgs::Write(5)).await,
        Completion::Ok(json!(5))
    );
    assert_eq!(
        c.execute("k", &OpArgs::Cas(5, 6)).await,
        Completion::Ok(json!([5, 6])),
        "cas by EVAL swaps"
    );
    assert_eq!(
        c.execute("k", &OpArgs::Cas(5, 7)).await,
        Completion::Fail { error: None },
        "a failed comparison is a plain fail"
    );
    assert_eq!(
        c.execute("k", &OpArgs::Read).await,
        Completion::Ok(json!(6))
    );
    exercise(&mut sys, 2).await;
    let pids = sys.pids();
    assert_eq!(pids.len(), 6);
    drop(sys);
    wait_gone(&pids).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_lifecycle_and_cleanup() {
    if !have_redis() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut sys = RedisCluster::start(ClusterOptions::new(tmp.path().to_path_buf()))
        .await
        .expect("redis cluster starts");
    assert_eq!(sys.shards(), 3);
    assert_eq!(sys.pids().len(), 6);
    for s in 1..=3 {
        assert_eq!(sys.shard_ids(s).len(), 2, "a primary and a replica");
    }
    let leaders = sys.leaders().await;
    assert_eq!(leaders.len(), 3, "every shard has a primary: {leaders:?}");
    // The client follows -MOVED across the shards (keys on different slots).
    let mut c =
        Client::new(sys.client_addrs(), 0, Duration::from_secs(2)).with_config(sys.client_config());
    for (i, k) in ["a", "b", "c", "d"].iter().enumerate() {
        let v = i as i64 + 1;
        assert_eq!(
            c.execute(k, &OpArgs::Write(v)).await,
            Completion::Ok(json!(v))
        );
        assert_eq!(c.execute(k, &OpArgs::Read).await, Completion::Ok(json!(v)));
    }
    // A replica: killing it leaves its shard served.
    let replica = sys.shard_ids(1)[1];
    exercise(&mut sys, replica).await;
    let pids = sys.pids();
    drop(sys);
    wait_gone(&pids).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_lifecycle_with_templates_and_cleanup() {
    if !have_redis() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut o = CommandOptions::new(
        tmp.path().to_path_buf(),
        2,
        "redis-server --port {port} --bind {ip} --protected-mode no --save '' --appendonly no --dir {dir}",
    );
    // A user's own kill template (the default would be SIGKILL to the started pid).
    o.kill = Some("kill -9 {pid}".into());
    let mut sys = CommandSystem::start(o)
        .await
        .expect("command system starts");
    assert_eq!(sys.ids(), vec![1, 2]);
    assert_eq!(
        sys.wait_leader(Duration::from_secs(5)).await.expect("any"),
        1
    );
    let mut c =
        Client::new(sys.client_addrs(), 1, Duration::from_secs(2)).with_config(sys.client_config());
    assert_eq!(
        c.execute("k", &OpArgs::Write(3)).await,
        Completion::Ok(json!(3))
    );
    exercise(&mut sys, 1).await;
    // The client link of n2 rejected: a definite failure, nothing sent.
    assert!(sys.set_client_link(2, LinkState::Reject));
    let mut c =
        Client::new(sys.client_addrs(), 1, Duration::from_secs(1)).with_config(sys.client_config());
    assert!(matches!(
        c.execute("k", &OpArgs::Write(4)).await,
        Completion::Fail { error: Some(e) } if e.starts_with("CLUSTERDOWN harness proxy")
    ));
    sys.heal_links();
    let pids = sys.pids();
    assert_eq!(pids.len(), 2);
    drop(sys);
    wait_gone(&pids).await;
}

async fn echo_server() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut b = [0u8; 256];
                while let Ok(n) = s.read(&mut b).await {
                    if n == 0 || s.write_all(&b[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// Connects to `to` from `127.0.1.<node>` (as node `node`'s processes do), or from
/// 127.0.0.1 for node 0, and returns whether an echo comes back.
async fn echoes(node: u32, to: SocketAddr) -> bool {
    let Ok(sock) = TcpSocket::new_v4() else {
        return false;
    };
    if node > 0 && sock.bind(SocketAddr::from((node_ip(node), 0))).is_err() {
        return false;
    }
    let Ok(mut s) = sock.connect(to).await else {
        return false;
    };
    if s.write_all(b"ping").await.is_err() {
        return false;
    }
    let mut b = [0u8; 4];
    matches!(
        tokio::time::timeout(Duration::from_millis(300), s.read_exact(&mut b)).await,
        Ok(Ok(_))
    ) && &b == b"ping"
}

#[tokio::test]
async fn switchboard_cuts_only_the_chosen_source() {
    let echo = echo_server().await;
    let sb = Switchboard::start(echo, &[1, 2], b"-CLUSTERDOWN cut\r\n")
        .await
        .expect("switchboard");
    let to = sb.listen_addr();
    assert!(echoes(0, to).await && echoes(1, to).await && echoes(2, to).await);
    assert!(sb.set(1, LinkState::Reject));
    assert!(!echoes(1, to).await, "node 1's link is cut");
    assert!(echoes(2, to).await, "node 2's link is not");
    assert!(echoes(0, to).await, "the client link is not");
    assert!(sb.set(0, LinkState::Blackhole));
    assert!(!echoes(0, to).await, "clients' bytes are dropped");
    assert!(echoes(2, to).await);
    assert!(!sb.set(9, LinkState::Reject), "no such source");
    sb.heal();
    assert!(echoes(0, to).await && echoes(1, to).await);
}

/// Reads one RESP command (array of bulk strings) and returns its arguments.
async fn read_cmd(s: &mut BufReader<TcpStream>) -> Option<Vec<String>> {
    let mut line = String::new();
    if s.read_line(&mut line).await.ok()? == 0 {
        return None;
    }
    let n: usize = line.trim_end().strip_prefix('*')?.parse().ok()?;
    let mut out = Vec::new();
    for _ in 0..n {
        let mut len = String::new();
        s.read_line(&mut len).await.ok()?;
        let mut arg = String::new();
        s.read_line(&mut arg).await.ok()?;
        out.push(arg.trim_end().to_string());
    }
    Some(out)
}

/// A fake node: answers each command by `reply(args)`; records every command it saw.
async fn fake_node(
    reply: fn(&[String], &[Vec<String>]) -> &'static [u8],
) -> (String, tokio::sync::mpsc::UnboundedReceiver<Vec<String>>) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr").to_string();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut s = BufReader::new(s);
                let mut seen: Vec<Vec<String>> = Vec::new();
                while let Some(cmd) = read_cmd(&mut s).await {
                    let r = reply(&cmd, &seen);
                    let _ = tx.send(cmd.clone());
                    seen.push(cmd);
                    if s.get_mut().write_all(r).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, rx)
}

#[tokio::test]
async fn client_follows_ask_with_asking_once() {
    // The target answers GET with 7 only right after ASKING on the same connection (as a
    // Redis Cluster node importing the slot does), else -MOVED back to the source.
    let (target, mut seen_t) = fake_node(|cmd, seen| match cmd[0].as_str() {
        "ASKING" => b"+OK\r\n",
        "GET" if seen.last().is_some_and(|p| p[0] == "ASKING") => b"$1\r\n7\r\n",
        _ => b"-MOVED 1 127.0.0.1:1\r\n",
    })
    .await;
    // The source is migrating the slot: every GET gets -ASK to the target.
    static TARGET: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();
    TARGET.get_or_init(|| Box::leak(format!("-ASK 3999 {target}\r\n").into_boxed_str()));
    let (source, mut seen_s) =
        fake_node(|_, _| TARGET.get().map(|s| s.as_bytes()).unwrap_or(b"-ERR\r\n")).await;
    let mut c = Client::new(vec![source.clone()], 0, Duration::from_secs(2));
    assert_eq!(
        c.execute("k", &OpArgs::Read).await,
        Completion::Ok(json!(7))
    );
    assert_eq!(seen_s.recv().await, Some(vec!["GET".into(), "k".into()]));
    assert_eq!(seen_t.recv().await, Some(vec!["ASKING".into()]));
    assert_eq!(seen_t.recv().await, Some(vec!["GET".into(), "k".into()]));
    // An ASK loop ends as a definite failure after the redirect bound.
    let (looping, _) = fake_node(|_, _| b"-ASK 1 127.0.0.1:9\r\n").await;
    let mut c = Client::new(vec![looping], 0, Duration::from_millis(500));
    assert!(matches!(
        c.execute("k", &OpArgs::Read).await,
        Completion::Fail { .. }
    ));
}

fn invalid(yaml: &str) -> String {
    match Scenario::from_yaml(yaml, "t.yaml") {
        Ok(_) => panic!("accepted:\n{yaml}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn validation_refuses_what_external_systems_cannot_run() {
    let base = |system: &str, cluster: &str, extra: &str| {
        format!(
            "name: t\nsystem: {system}\ncluster: {cluster}\nworkload: {{model: register}}\nduration: 5s\n{extra}expect: violation\n"
        )
    };
    let ok = |y: String| Scenario::from_yaml(&y, "t.yaml").expect("valid");
    let s = ok(base("redis-sentinel", "{nodes: 3}", ""));
    assert_eq!(s.system.kind.name(), "redis-sentinel");
    ok(base(
        "{kind: redis-sentinel, wait: 2, min-replicas-to-write: 1, read-from: replicas}",
        "{nodes: 3}",
        "",
    ));
    ok(base("redis-cluster", "{shards: 3, replicas: 2}", ""));
    ok(base("{kind: command, start: 'x {port}'}", "{nodes: 2}", ""));

    let cases: Vec<(String, &str)> = vec![
        (
            base("redis-sentinel", "{nodes: 3}", "nemesis:\n  - {at: 1s, fault: torn-wal}\n"),
            "nemesis[0].fault: torn-wal: disk faults need sdr-node's WAL; system redis-sentinel",
        ),
        (
            base("redis-cluster", "{shards: 3, replicas: 2}", "nemesis:\n  - {at: 1s, fault: remove-node}\n"),
            "nemesis[0].fault: remove-node: membership changes use sdr-node admin; system redis-cluster",
        ),
        (
            base("redis-sentinel", "{nodes: 3}", "nemesis: {random: {every: 2s, faults: [kill, torn-wal]}}\n"),
            "nemesis.random.faults: torn-wal",
        ),
        (
            base("redis-sentinel", "{nodes: 3, spares: 1}", ""),
            "cluster.spares: spares (membership changes) exist only for system sdr, not redis-sentinel",
        ),
        (
            base("redis-cluster", "{shards: 3, replicas: 2}", "node: {unsafe-test-faults: [stale-reads]}\n"),
            "node.unsafe-test-faults: planted bugs exist only in sdr-node, not in system redis-cluster",
        ),
        (
            base("{kind: sdr, wait: 1}", "{nodes: 3}", ""),
            "system.wait: does not apply to system sdr",
        ),
        (
            base("{kind: redis-cluster, read-from: replicas}", "{shards: 3, replicas: 2}", ""),
            "system.read-from: replica reads are not supported by the redis-cluster adapter",
        ),
        (
            base("{kind: redis-sentinel, wait: 3}", "{nodes: 3}", ""),
            "system.wait: 3: must be 1..=2",
        ),
        (
            base("redis-sentinel", "{nodes: 2}", ""),
            "cluster.nodes: 2: system redis-sentinel needs 3..=9 servers",
        ),
        (
            base("redis-cluster", "{shards: 2, replicas: 2}", ""),
            "cluster.shards: 2: system redis-cluster needs 3..=8 primaries",
        ),
        (
            base("command", "{nodes: 2}", ""),
            "system.start: is required for system command",
        ),
        (
            base("{kind: redis-sentinel, start: x}", "{nodes: 3}", ""),
            "system.start: does not apply to system redis-sentinel",
        ),
        (
            base("redis-sentinel", "{nodes: 3}", "node: {replicaof: 'x 1'}\n"),
            "node.replicaof: is set by the harness for every server of system redis-sentinel",
        ),
    ];
    for (yaml, want) in cases {
        let got = invalid(&yaml);
        assert!(
            got.contains(want),
            "for\n{yaml}\nwant {want:?}\ngot  {got:?}"
        );
    }
    // Unknown system names and keys are parse errors.
    assert!(invalid(&base("redis", "{nodes: 3}", "")).contains("redis"));
    assert!(invalid(&base("{kind: redis-sentinel, bogus: 1}", "{nodes: 3}", "")).contains("bogus"));
}

#[test]
fn system_field_round_trips_through_the_saved_scenario() {
    let y = "name: t\nsystem: {kind: redis-sentinel, wait: 1, wait-timeout: 250ms, read-from: replicas}\n\
             cluster: {nodes: 3}\nworkload: {model: register}\nduration: 5s\nexpect: violation\n";
    let s = Scenario::from_yaml(y, "t.yaml").expect("valid");
    assert_eq!(s.system.wait, Some(1));
    assert_eq!(s.system.wait_timeout(), Duration::from_millis(250));
    let again = Scenario::from_yaml(&s.to_yaml().expect("yaml"), "saved.yaml").expect("reloads");
    assert_eq!(
        again, s,
        "scenario.yaml as run reloads to the same scenario"
    );
    // sdr stays implicit in the saved file.
    let plain = Scenario::from_yaml(
        "name: t\nworkload: {model: kv}\nduration: 5s\nexpect: linearizable\n",
        "p.yaml",
    )
    .expect("valid");
    assert!(!plain.to_yaml().expect("yaml").contains("system"));
}

#[test]
fn a_panic_kills_every_adapter_process() {
    if !have_redis() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().to_path_buf();
    let (tx, rx) = std::sync::mpsc::channel();
    let t = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let o = CommandOptions::new(
                dir,
                2,
                "redis-server --port {port} --bind {ip} --protected-mode no --save '' --appendonly no --dir {dir}",
            );
            let sys = CommandSystem::start(o).await.expect("starts");
            tx.send(sys.pids()).expect("send pids");
            panic!("planned panic with a running system");
        })
    });
    assert!(t.join().is_err(), "the thread must panic");
    let pids = rx.recv().expect("pids");
    assert_eq!(pids.len(), 2);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while pids.iter().any(|p| !gone(*p)) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    for p in &pids {
        assert!(gone(*p), "server {p} survived the panic");
    }
}
