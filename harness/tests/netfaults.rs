//! Real network faults (the `network: netns` backend) and clock faults (libfaketime).
//!
//! The netns tests need root and a working `ip netns`; without them each test prints
//! why and returns. The clock test needs libfaketime (Debian package `faketime`).

use sdr_harness::client::Conn;
use sdr_harness::cluster::{Cluster, ClusterOptions, Network, LIBFAKETIME};
use sdr_harness::netns::{self, Cut, NetemSpec, Netns};
use sdr_resp::Frame;
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::time::Duration;

fn netns_ok(test: &str) -> bool {
    match netns::available() {
        Ok(()) => true,
        Err(why) => {
            eprintln!("skipping {test}: the netns backend is unavailable here: {why}");
            false
        }
    }
}

fn node_bin() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let p = sdr_harness::cluster::node_bin(None, &root);
    p.is_file().then_some(p)
}

/// Connects from inside node `from`'s namespace to `to` (timeout `limit`).
fn connect_from(net: &Netns, from: u32, to: SocketAddr, limit: Duration) -> std::io::Result<()> {
    net.run_in(from, move || {
        TcpStream::connect_timeout(&to, limit).map(|_| ())
    })?
}

/// Sends `n` numbered UDP datagrams from node `from` to the socket `rx` (bound inside
/// node `to`'s namespace) and returns how many arrived (received while sending, so the
/// socket buffer never overflows).
fn udp_probe(net: &Netns, from: u32, rx: &UdpSocket, n: u32) -> u32 {
    let to = rx.local_addr().expect("rx addr");
    let rx = rx.try_clone().expect("clone rx");
    rx.set_read_timeout(Some(Duration::from_millis(400)))
        .expect("timeout");
    let reader = std::thread::spawn(move || {
        let mut seen = std::collections::BTreeSet::new();
        let mut buf = [0u8; 16];
        while let Ok((len, _)) = rx.recv_from(&mut buf) {
            if len == 4 {
                seen.insert(u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]));
            }
        }
        seen.len() as u32
    });
    let src = SocketAddr::new(std::net::IpAddr::V4(net.ip(from)), 0);
    net.run_in(from, move || {
        let s = UdpSocket::bind(src).expect("bind probe sender");
        for i in 0..n {
            let _ = s.send_to(&i.to_be_bytes(), to);
            std::thread::sleep(Duration::from_micros(300));
        }
    })
    .expect("probe thread");
    reader.join().expect("reader")
}

fn names_with(tag: &str) -> Vec<String> {
    let mut v = Vec::new();
    for args in [&["netns", "list"][..], &["-o", "link", "show"][..]] {
        let out = std::process::Command::new("ip")
            .args(args)
            .output()
            .expect("ip");
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if line.contains(tag) {
                v.push(line.to_string());
            }
        }
    }
    v
}

#[test]
fn blocked_link_carries_nothing_and_heal_restores_it() {
    if !netns_ok("blocked_link_carries_nothing_and_heal_restores_it") {
        return;
    }
    let net = Netns::create(&[1, 2]).expect("create namespaces");
    let ip2 = net.ip(2);
    let listener: TcpListener = net
        .run_in(2, move || TcpListener::bind((ip2, 9100)))
        .expect("thread")
        .expect("bind in n2");
    std::thread::spawn(move || {
        for c in listener.incoming() {
            drop(c);
        }
    });
    let to2 = SocketAddr::new(std::net::IpAddr::V4(ip2), 9100);
    let rx2 = net
        .run_in(2, move || UdpSocket::bind((ip2, 9101)))
        .expect("thread")
        .expect("udp in n2");
    let ip1 = net.ip(1);
    let rx1 = net
        .run_in(1, move || UdpSocket::bind((ip1, 9101)))
        .expect("thread")
        .expect("udp in n1");
    let short = Duration::from_millis(700);
    connect_from(&net, 1, to2, short).expect("n1 → n2 connects before the cut");
    assert_eq!(
        udp_probe(&net, 1, &rx2, 20),
        20,
        "n1 → n2 UDP before the cut"
    );

    // One direction: n1 → n2 dropped.
    net.set_link(1, 2, Some(Cut::Drop)).expect("cut");
    let e = connect_from(&net, 1, to2, short).expect_err("the cut link must not connect");
    assert_eq!(
        e.kind(),
        std::io::ErrorKind::TimedOut,
        "drop = silence: {e}"
    );
    assert_eq!(udp_probe(&net, 1, &rx2, 20), 0, "nothing crosses n1 → n2");
    assert_eq!(
        udp_probe(&net, 2, &rx1, 20),
        20,
        "the reverse direction n2 → n1 is not cut"
    );
    // The root namespace (clients) still reaches n2.
    TcpStream::connect_timeout(&to2, short).expect("client → n2 is not cut");

    // Reject: an immediate error instead of silence.
    net.set_link(1, 2, Some(Cut::Reject)).expect("reject");
    let t = std::time::Instant::now();
    let e = connect_from(&net, 1, to2, Duration::from_secs(3)).expect_err("rejected");
    assert!(
        t.elapsed() < Duration::from_secs(1) && e.kind() != std::io::ErrorKind::TimedOut,
        "reject fails fast: {e} after {:?}",
        t.elapsed()
    );

    // Client cut of n2: the root namespace's client address no longer reaches it.
    net.set_link(1, 2, None).expect("heal link");
    net.set_client_link(2, Some(Cut::Drop)).expect("client cut");
    assert!(
        TcpStream::connect_timeout(&to2, short).is_err(),
        "clients are cut from n2"
    );
    connect_from(&net, 1, to2, short).expect("peers still reach n2");

    net.heal().expect("heal");
    connect_from(&net, 1, to2, short).expect("n1 → n2 connects after heal");
    TcpStream::connect_timeout(&to2, short).expect("client → n2 after heal");
    assert_eq!(udp_probe(&net, 1, &rx2, 20), 20, "n1 → n2 UDP after heal");
}

#[test]
fn netem_loss_is_observed_at_roughly_the_configured_rate() {
    if !netns_ok("netem_loss_is_observed_at_roughly_the_configured_rate") {
        return;
    }
    let net = Netns::create(&[1, 2]).expect("create namespaces");
    let ip2 = net.ip(2);
    let rx2 = net
        .run_in(2, move || UdpSocket::bind((ip2, 9102)))
        .expect("thread")
        .expect("udp in n2");
    let n = 400;
    let how = net
        .set_netem(
            1,
            Some(&NetemSpec {
                loss: Some(30.0),
                ..NetemSpec::default()
            }),
        )
        .expect("netem loss 30%");
    let got = udp_probe(&net, 1, &rx2, n);
    let loss = 1.0 - got as f64 / n as f64;
    eprintln!(
        "netem loss 30% ({how}; kernel sch_netem: {}): {got}/{n} probes arrived, observed loss {:.1}%",
        net.kernel_has_netem(1),
        loss * 100.0
    );
    assert!(
        (0.18..=0.42).contains(&loss),
        "observed loss {loss:.3} is outside 18%–42% for a configured 30%"
    );
    net.set_netem(1, None).expect("remove netem");
    let got = udp_probe(&net, 1, &rx2, n);
    assert!(got >= n - 4, "after removing netem {got}/{n} arrived");
}

#[test]
fn teardown_removes_everything_and_leftovers_of_dead_owners_only() {
    if !netns_ok("teardown_removes_everything_and_leftovers_of_dead_owners_only") {
        return;
    }
    let net = Netns::create(&[1, 2, 3]).expect("create");
    let tag = net.tag().to_string();
    assert_eq!(
        names_with(&tag).len(),
        3 + 3 + 1,
        "3 namespaces, 3 veths, 1 bridge: {:?}",
        names_with(&tag)
    );
    drop(net);
    assert!(names_with(&tag).is_empty(), "left: {:?}", names_with(&tag));

    // A leftover of a dead owner (pid 36^5-1 does not exist) is removed; one of a live
    // owner (this process, a counter this test never uses) is kept.
    let dead = 36u32.pow(5) - 1;
    assert!(!std::path::Path::new(&format!("/proc/{dead}")).exists());
    let dead_ns = format!("{}zzzzzz-n1", netns::PREFIX);
    let me = base36(std::process::id());
    let live_ns = format!("{}{me}y-n1", netns::PREFIX);
    for ns in [&dead_ns, &live_ns] {
        let st = std::process::Command::new("ip")
            .args(["netns", "add", ns])
            .status()
            .expect("ip");
        assert!(st.success());
    }
    let removed = netns::remove_leftovers();
    let listed = names_with(netns::PREFIX);
    let _ = std::process::Command::new("ip")
        .args(["netns", "del", &live_ns])
        .status();
    assert!(removed.contains(&dead_ns), "removed {removed:?}");
    assert!(
        !removed.contains(&live_ns),
        "a live owner's namespace was removed"
    );
    assert!(listed.iter().any(|l| l.starts_with(&live_ns)));
}

fn base36(mut n: u32) -> String {
    let d = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut v = Vec::new();
    while n > 0 || v.len() < 5 {
        v.push(d[(n % 36) as usize]);
        n /= 36;
    }
    v.reverse();
    String::from_utf8(v).expect("ascii")
}

/// Child half of the panic test: creates namespaces, prints their tag, panics.
#[test]
fn panic_child_creates_namespaces_then_panics() {
    if std::env::var_os("SDR_NETNS_PANIC_CHILD").is_none() {
        return; // only meaningful when started by the test below
    }
    let net = Netns::create(&[1, 2]).expect("create");
    println!("TAG={}", net.tag());
    panic!("planned panic with namespaces alive");
}

#[test]
fn namespaces_are_gone_after_a_panic() {
    if !netns_ok("namespaces_are_gone_after_a_panic") {
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().expect("exe"))
        .args([
            "panic_child_creates_namespaces_then_panics",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("SDR_NETNS_PANIC_CHILD", "1")
        .output()
        .expect("run child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "the child must panic: {stdout}");
    let tag = stdout
        .lines()
        .find_map(|l| l.split("TAG=").nth(1))
        .unwrap_or_else(|| panic!("child printed no tag: {stdout}"))
        .trim()
        .to_string();
    assert!(tag.starts_with(netns::PREFIX));
    assert!(
        names_with(&tag).is_empty(),
        "resources left after the panic: {:?}",
        names_with(&tag)
    );
}

async fn call(addr: &str, args: &[&str]) -> Frame {
    let mut c = Conn::connect(addr, Duration::from_secs(2))
        .await
        .expect("connect");
    let argv: Vec<Vec<u8>> = args.iter().map(|a| a.as_bytes().to_vec()).collect();
    c.call(&argv, Duration::from_secs(5)).await.expect("call")
}

fn time_secs(f: &Frame) -> i64 {
    match f {
        Frame::Array(v) => match v.first() {
            Some(Frame::Bulk(b)) => String::from_utf8_lossy(b).parse().expect("seconds"),
            other => panic!("TIME: {other:?}"),
        },
        other => panic!("TIME: {other:?}"),
    }
}

fn real_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clock_bump_is_seen_by_the_node_time_and_expiry() {
    let Some(bin) = node_bin() else {
        eprintln!("skipping clock_bump: build sdr-node first (cargo build --release -p sdr-node)");
        return;
    };
    if !std::path::Path::new(LIBFAKETIME).is_file() {
        eprintln!("skipping clock_bump: {LIBFAKETIME} missing (apt-get install faketime)");
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut opts = ClusterOptions::simple(bin, tmp.path().to_path_buf(), 1);
    opts.fake_clock = true;
    let mut c = Cluster::start(opts).await.expect("start");
    let addr = c.client_addrs()[0].clone();
    let t0 = time_secs(&call(&addr, &["TIME"]).await);
    assert!((t0 - real_now()).abs() <= 2, "offset 0: TIME {t0} ≈ now");
    assert_eq!(
        call(&addr, &["SET", "k", "v", "EX", "100"]).await,
        Frame::Simple("OK".into())
    );
    // Bump the running node's wall clock by +200 s: the 100-s TTL has passed for it.
    assert_eq!(c.set_clock_offset(1, 200_000).expect("bump"), 0);
    let t1 = time_secs(&call(&addr, &["TIME"]).await);
    assert!(
        (t1 - real_now() - 200).abs() <= 2,
        "TIME after +200 s: {t1}, real {}",
        real_now()
    );
    assert_eq!(call(&addr, &["GET", "k"]).await, Frame::Null, "expired");
    assert_eq!(call(&addr, &["PTTL", "k"]).await, Frame::Integer(-2));
    // A backward bump: new TTLs count from the node's (earlier) clock.
    c.set_clock_offset(1, -3_600_000).expect("bump back");
    let t2 = time_secs(&call(&addr, &["TIME"]).await);
    assert!((t2 - real_now() + 3600).abs() <= 2, "TIME after -1 h: {t2}");
    c.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn netns_cluster_serves_and_its_pids_are_the_nodes() {
    if !netns_ok("netns_cluster_serves_and_its_pids_are_the_nodes") {
        return;
    }
    let Some(bin) = node_bin() else {
        eprintln!("skipping: build sdr-node first (cargo build --release -p sdr-node)");
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut opts = ClusterOptions::simple(bin, tmp.path().to_path_buf(), 3);
    opts.network = Network::Netns;
    let mut c = Cluster::start(opts).await.expect("start in namespaces");
    let tag = c.netns().expect("netns").tag().to_string();
    let my_ns = std::fs::read_link("/proc/self/ns/net").expect("own netns");
    for pid in c.pids() {
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).expect("exe");
        assert!(
            exe.ends_with("sdr-node"),
            "pid {pid} is {exe:?}, not the node"
        );
        let ns = std::fs::read_link(format!("/proc/{pid}/ns/net")).expect("node netns");
        assert_ne!(ns, my_ns, "node {pid} runs in its own namespace");
    }
    let leader = c
        .wait_leader(Duration::from_secs(20))
        .await
        .expect("leader");
    let addr = c.client_addrs()[(leader - 1) as usize].clone();
    assert!(
        addr.starts_with("10."),
        "clients reach nodes on the bridge: {addr}"
    );
    assert_eq!(
        call(&addr, &["SET", "a", "1"]).await,
        Frame::Simple("OK".into())
    );
    // Isolate the leader with nftables: the other two elect a new one.
    let ids = c.ids();
    for other in ids.iter().filter(|i| **i != leader) {
        c.set_link(leader, *other, sdr_harness::proxy::LinkState::Blackhole);
        c.set_link(*other, leader, sdr_harness::proxy::LinkState::Blackhole);
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut new_leader = None;
    while tokio::time::Instant::now() < deadline {
        for s in ids.iter().filter(|i| **i != leader) {
            let info = sdr_harness::client::info_replication(
                &c.client_addrs()[(*s - 1) as usize],
                Duration::from_millis(500),
            )
            .await;
            if info.is_ok_and(|i| i.get("role").map(String::as_str) == Some("master")) {
                new_leader = Some(*s);
            }
        }
        if new_leader.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(new_leader.is_some(), "the majority side elects a leader");
    c.heal_links();
    // Kill by pid kills the node: its pid disappears.
    let victim = c.pids()[0];
    c.kill(1).await.expect("kill");
    assert!(
        !std::path::Path::new(&format!("/proc/{victim}")).exists() || {
            let st = std::fs::read_to_string(format!("/proc/{victim}/stat")).unwrap_or_default();
            st.contains(") Z ")
        }
    );
    c.stop_all().await;
    drop(c);
    assert!(names_with(&tag).is_empty(), "left: {:?}", names_with(&tag));
}

#[test]
fn ctrl_c_of_a_netns_run_removes_its_namespaces() {
    if !netns_ok("ctrl_c_of_a_netns_run_removes_its_namespaces") {
        return;
    }
    let Some(bin) = node_bin() else {
        eprintln!("skipping: build sdr-node first (cargo build --release -p sdr-node)");
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let sc = tmp.path().join("netns-long.yaml");
    std::fs::write(
        &sc,
        "name: netns-long\nnetwork: netns\ncluster: {nodes: 3}\nworkload: {model: kv, keys: 4, clients: 2, rate: 50}\nduration: 60s\nexpect: linearizable\n",
    )
    .expect("write scenario");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_sdr-harness"))
        .arg("run")
        .arg(&sc)
        .arg("--seed")
        .arg("1")
        .arg("--out")
        .arg(tmp.path().join("runs"))
        .arg("--node-bin")
        .arg(&bin)
        .arg("--quiet")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start sdr-harness");
    // Its resources are named after its pid: sdh + 5 base-36 digits.
    let tag = format!("{}{}", netns::PREFIX, base36(child.id()));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while names_with(&tag).len() < 7 {
        assert!(
            std::time::Instant::now() < deadline,
            "the run never created its namespaces: {:?}",
            names_with(&tag)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(1));
    // SAFETY: kill(2) on the child this test started.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let out = child.wait_with_output().expect("wait");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "interrupted run exits 2: {err}");
    assert!(err.contains("interrupted"), "{err}");
    assert!(
        names_with(&tag).is_empty(),
        "left after Ctrl-C: {:?}",
        names_with(&tag)
    );
}
