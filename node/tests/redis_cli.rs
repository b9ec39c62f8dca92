//! `redis-cli` and `redis-benchmark` (Debian `redis-tools`) against a node. Skipped with a
//! message when the tools are not installed; `.ci/run` installs them.

mod common;

use std::process::Command;

use common::{have, TestNode};

fn cli(node: &TestNode, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-p", &node.port.to_string()])
        .args(args)
        .output()
        .expect("run redis-cli");
    assert!(
        out.status.success(),
        "redis-cli failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim_end().to_string()
}

#[test]
fn redis_cli_round_trip() {
    if !have("redis-cli") {
        eprintln!("skipped: redis-cli not installed (apt-get install redis-tools)");
        return;
    }
    let node = TestNode::start(&[]);
    assert_eq!(cli(&node, &["PING"]), "PONG");
    assert_eq!(cli(&node, &["SET", "greeting", "hello world"]), "OK");
    assert_eq!(cli(&node, &["GET", "greeting"]), "hello world");
    assert_eq!(cli(&node, &["RPUSH", "l", "a", "b"]), "2");
    assert_eq!(cli(&node, &["LRANGE", "l", "0", "-1"]), "a\nb");
    assert_eq!(
        cli(&node, &["GET", "l"]),
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );
    assert!(cli(&node, &["INFO", "server"]).contains("redis_version:"));
    // Interactive mode reads commands from stdin (and calls COMMAND DOCS at start).
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "printf 'INCR c\\nINCR c\\nGET c\\n' | redis-cli -p {}",
            node.port
        ))
        .output()
        .expect("redis-cli stdin");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim_end(), "1\n2\n2");
}

#[test]
fn redis_benchmark_runs_clean() {
    if !have("redis-benchmark") {
        eprintln!("skipped: redis-benchmark not installed (apt-get install redis-tools)");
        return;
    }
    let node = TestNode::start(&["--fsync", "always"]);
    let out = Command::new("redis-benchmark")
        .args([
            "-p",
            &node.port.to_string(),
            "-t",
            "set,get,incr,lpush",
            "-n",
            "2000",
            "-c",
            "10",
            "-P",
            "4",
            "--csv",
        ])
        .output()
        .expect("run redis-benchmark");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    for t in ["SET", "GET", "INCR", "LPUSH"] {
        assert!(
            text.contains(&format!("\"{t}\"")),
            "benchmark row for {t}: {text}"
        );
    }
    // Every benchmark write went through the log: counters match.
    let mut c = node.conn();
    let n: i64 = redis::cmd("LLEN").arg("mylist").query(&mut c).unwrap();
    assert_eq!(n, 2000, "all 2000 LPUSHes applied");
    let v: i64 = redis::cmd("GET")
        .arg("counter:__rand_int__")
        .query(&mut c)
        .unwrap();
    assert_eq!(v, 2000, "all 2000 INCRs applied");
}
