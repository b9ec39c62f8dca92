//! Lua scripting (docs/scripting.md): EVAL/EVALSHA/EVAL_RO/SCRIPT against a real
//! `redis-server` 7.0 (byte-exact replies over a list of scripts), replication of script
//! writes to every replica, EVALSHA on a follower, runaway scripts, and redis-py 8's
//! `register_script` with default settings.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::redis_server::RedisServer;
use common::wire::RawConn;
use common::{TestCluster, TestNode};

fn argv(words: &[&str]) -> Vec<Vec<u8>> {
    words.iter().map(|w| w.as_bytes().to_vec()).collect()
}

/// Scripts and commands whose replies must be byte-identical on sdr-node and redis-server.
/// Each case is one command; they run in order on one connection to each server.
fn cases() -> Vec<Vec<&'static str>> {
    let mut v: Vec<Vec<&'static str>> = vec![
        // Conversions Lua -> RESP.
        vec!["eval", "return 1", "0"],
        vec!["eval", "return 3.99", "0"],
        vec!["eval", "return -3.99", "0"],
        vec!["eval", "return 'str'", "0"],
        vec!["eval", "return true", "0"],
        vec!["eval", "return false", "0"],
        vec!["eval", "return nil", "0"],
        vec!["eval", "return {1, 2, 3, 'x', {4, {5}}}", "0"],
        vec!["eval", "return {1, 2, nil, 4}", "0"],
        vec!["eval", "return {1, false, 3}", "0"],
        vec!["eval", "return {ok='fine'}", "0"],
        vec!["eval", "return {err='MYERR custom'}", "0"],
        vec!["eval", "return redis.status_reply('DONE')", "0"],
        vec!["eval", "return redis.error_reply('MYCODE bad thing')", "0"],
        vec!["eval", "return redis.error_reply('nocode')", "0"],
        vec!["eval", "return redis.error_reply(1)", "0"],
        vec!["eval", "return {}", "0"],
        vec!["eval", "return 1e20", "0"],
        // KEYS / ARGV.
        vec![
            "eval",
            "return {KEYS[1], KEYS[2], ARGV[1], ARGV[2]}",
            "2",
            "k1",
            "k2",
            "a1",
            "a2",
        ],
        vec!["eval", "return #KEYS + #ARGV * 10", "1", "k", "a", "b"],
        vec!["eval", "return 1", "3", "a"],
        vec!["eval", "return 1", "-1"],
        vec!["eval", "return 1", "x"],
        // Conversions RESP -> Lua.
        vec![
            "eval",
            "return redis.call('set', KEYS[1], ARGV[1])",
            "1",
            "s",
            "hello",
        ],
        vec!["eval", "return redis.call('get', KEYS[1])", "1", "s"],
        vec!["eval", "return type(redis.call('get', 'missing'))", "0"],
        vec!["eval", "return tostring(redis.call('get', 'missing'))", "0"],
        vec!["eval", "return type(redis.call('set', 'x', 1))", "0"],
        vec!["eval", "return redis.call('set', 'x', 1)['ok']", "0"],
        vec!["eval", "return redis.call('incrby', 'n', 5)", "0"],
        vec!["eval", "return type(redis.call('incrby', 'n', 1))", "0"],
        vec!["eval", "return redis.call('incrbyfloat', 'f', 1.5)", "0"],
        vec!["eval", "return redis.call('rpush', 'l', 1, 2.5, 'c')", "0"],
        vec!["eval", "return redis.call('lrange', 'l', 0, -1)", "0"],
        vec![
            "eval",
            "redis.call('hset', 'h', 'a', 1, 'b', 2) return redis.call('hgetall', 'h')",
            "0",
        ],
        vec![
            "eval",
            "return redis.call('zadd', 'z', 1.5, 'm', 2, 'n')",
            "0",
        ],
        vec![
            "eval",
            "return redis.call('zrange', 'z', 0, -1, 'withscores')",
            "0",
        ],
        vec!["eval", "return redis.call('zscore', 'z', 'm')", "0"],
        vec!["eval", "return redis.call('exists', 's', 'nope')", "0"],
        vec!["eval", "return redis.call('set', 'k', 3.14)", "0"],
        vec!["get", "k"],
        vec!["eval", "return redis.call('set', 'k', 1/3)", "0"],
        vec!["get", "k"],
        // Errors from redis.call / redis.pcall.
        vec!["eval", "return redis.call('incr', 's')", "0"],
        vec!["eval", "local x = 1\nreturn redis.call('incr', 's')", "0"],
        vec!["eval", "return redis.pcall('incr', 's')", "0"],
        vec![
            "eval",
            "local r = redis.pcall('incr', 's') return r['err']",
            "0",
        ],
        vec!["eval", "return redis.call('nosuchcommand')", "0"],
        vec!["eval", "return redis.pcall('nosuchcommand')", "0"],
        vec!["eval", "return redis.call('get')", "0"],
        vec!["eval", "return redis.call()", "0"],
        vec!["eval", "return redis.call('get', {})", "0"],
        vec!["eval", "return redis.call('lpush', 's', 'x')", "0"],
        vec!["eval", "return pcall(redis.call, 'incr', 's')", "0"],
        vec![
            "eval",
            "local ok, e = pcall(redis.call, 'incr', 's') return e",
            "0",
        ],
        vec!["eval", "return redis.call('multi')", "0"],
        vec!["eval", "return redis.call('eval', 'return 1', '0')", "0"],
        vec!["eval", "error('raised')", "0"],
        vec!["eval", "error({err='CUSTOM table error'})", "0"],
        vec!["eval", "local t = nil\nreturn t.x", "0"],
        vec!["eval", "return +", "0"],
        // Sandbox.
        vec!["eval", "return os", "0"],
        vec!["eval", "return io", "0"],
        vec!["eval", "return loadfile", "0"],
        vec!["eval", "return dofile", "0"],
        vec!["eval", "return require", "0"],
        vec!["eval", "return print", "0"],
        vec!["eval", "a = 5", "0"],
        vec!["eval", "return undefined_global", "0"],
        vec!["eval", "redis.call = function() return 1 end", "0"],
        vec!["eval", "string.upper = nil", "0"],
        vec!["eval", "setmetatable(_G, {})", "0"],
        vec!["eval", "return type(debug)", "0"],
        vec!["eval", "local t = {} t.x = 1 return t.x", "0"],
        vec!["eval", "return type(loadstring)", "0"],
        // Libraries.
        vec!["eval", "return cjson.encode({1, 2, 'three', {a=1}})", "0"],
        vec!["eval", "return cjson.encode({a='x/y'})", "0"],
        vec!["eval", "return cjson.encode(3.14159265358979)", "0"],
        vec!["eval", "return cjson.encode({})", "0"],
        vec!["eval", "return cjson.encode('\\n\\t\"')", "0"],
        vec![
            "eval",
            "return cjson.decode('[1,2,{\"a\":\"b\"}]')[3].a",
            "0",
        ],
        vec!["eval", "return cjson.decode('{\"n\":1.5}').n * 2", "0"],
        vec![
            "eval",
            "return tostring(cjson.decode('[null]')[1] == cjson.null)",
            "0",
        ],
        vec!["eval", "local t = {} t[20] = 1 return cjson.encode(t)", "0"],
        vec!["eval", "return cjson.encode(function() end)", "0"],
        vec!["eval", "return bit.band(0xff, 0x0f)", "0"],
        vec!["eval", "return bit.bor(1, 2, 4, 8)", "0"],
        vec!["eval", "return bit.bxor(5, 3)", "0"],
        vec!["eval", "return bit.lshift(1, 31)", "0"],
        vec!["eval", "return bit.tohex(65535)", "0"],
        vec!["eval", "return bit.tohex(-1, -2)", "0"],
        vec!["eval", "return bit.tobit(2^32 + 5)", "0"],
        vec!["eval", "return redis.sha1hex('')", "0"],
        vec!["eval", "return redis.sha1hex('abc')", "0"],
        vec!["eval", "return string.format('%d-%s', 7, 'x')", "0"],
        vec!["eval", "return table.concat({'a', 'b'}, ',')", "0"],
        vec!["eval", "return math.floor(2.7)", "0"],
        vec!["eval", "return redis.LOG_WARNING", "0"],
        vec![
            "eval",
            "redis.log(redis.LOG_NOTICE, 'hello from a script') return 1",
            "0",
        ],
        vec!["eval", "redis.log(1)", "0"],
        vec!["eval", "return redis.REDIS_VERSION", "0"],
        // Shebang flags.
        vec![
            "eval",
            "#!lua flags=no-writes\nreturn redis.call('get', 's')",
            "0",
        ],
        vec![
            "eval",
            "#!lua flags=no-writes\nreturn redis.call('set', 's', 'y')",
            "0",
        ],
        vec!["eval", "#!lua flags=bogus\nreturn 1", "0"],
        vec!["eval", "#!python\nreturn 1", "0"],
        vec!["eval", "#!lua\nreturn 1", "0"],
        // EVAL_RO.
        vec!["eval_ro", "return redis.call('get', KEYS[1])", "1", "s"],
        vec![
            "eval_ro",
            "return redis.call('set', KEYS[1], 'z')",
            "1",
            "s",
        ],
        vec!["eval_ro", "#!lua\nreturn 1", "0"],
        vec!["get", "s"],
        // SCRIPT and EVALSHA.
        vec!["script", "flush"],
        vec!["evalsha", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db", "0"],
        vec!["evalsha", "notasha", "0"],
        vec!["script", "load", "return 1"],
        vec!["script", "load", "return +"],
        vec!["evalsha", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db", "0"],
        vec!["evalsha", "E0E1F9FABFC9D4800C877A703B823AC0578FF8DB", "0"],
        vec![
            "evalsha_ro",
            "e0e1f9fabfc9d4800c877a703b823ac0578ff8db",
            "0",
        ],
        vec![
            "script",
            "exists",
            "e0e1f9fabfc9d4800c877a703b823ac0578ff8db",
            "ffffffffffffffffffffffffffffffffffffffff",
        ],
        vec!["eval", "return 'cached by eval'", "0"],
        vec![
            "script",
            "exists",
            "3b0c9ee1a1c05d4ec4d7e7b9d0e6ba2b6a3b6ef1",
        ],
        vec!["script", "flush", "async"],
        vec!["script", "flush", "bogus"],
        vec![
            "script",
            "exists",
            "e0e1f9fabfc9d4800c877a703b823ac0578ff8db",
        ],
        vec!["script", "kill"],
        vec!["eval"],
        vec!["evalsha", "x"],
    ];
    v.push(vec![
        "eval",
        "return redis.call('del', 's', 'n', 'f', 'l', 'h', 'z', 'x', 'k')",
        "0",
    ]);
    v
}

#[test]
fn scripts_reply_exactly_as_redis_7() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let node = TestNode::start(&[]);
    let mut a = RawConn::connect(node.port).expect("connect sdr");
    let mut b = redis.conn();
    let mut diffs = Vec::new();
    for case in cases() {
        let args = argv(&case);
        let ours = a.call(&args).expect("sdr replies");
        let theirs = b.call(&args).expect("redis replies");
        if ours != theirs {
            diffs.push(format!(
                "{case:?}\n  sdr:   {:?}\n  redis: {:?}",
                String::from_utf8_lossy(&ours),
                String::from_utf8_lossy(&theirs)
            ));
        }
    }
    assert!(
        diffs.is_empty(),
        "{} differences:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

/// Polls `f` until it returns true (at most 10 s).
fn eventually(mut f: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn script_writes_replicate_and_evalsha_works_on_followers() {
    let mut cluster = TestCluster::start(3);
    let leader_id = cluster.wait_for_leader();
    let mut leader = cluster.leader_conn();
    let body = "for i = 1, 50 do redis.call('rpush', KEYS[1], i) end \
                redis.call('set', KEYS[2], redis.call('llen', KEYS[1])) return 'done'";
    let r: String = redis::cmd("EVAL")
        .arg(body)
        .arg(2)
        .arg("{s}list")
        .arg("{s}count")
        .query(&mut leader)
        .expect("eval");
    assert_eq!(r, "done");
    let sha: String = redis::cmd("SCRIPT")
        .arg("LOAD")
        .arg("return redis.call('get', KEYS[1])")
        .query(&mut leader)
        .expect("script load");
    let followers: Vec<u16> = cluster
        .nodes
        .iter()
        .filter(|n| n.node_id() != Some(leader_id))
        .map(|n| n.port)
        .collect();
    assert_eq!(followers.len(), 2);
    for port in &followers {
        let mut c = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
            .expect("client")
            .get_connection()
            .expect("conn");
        redis::cmd("READONLY")
            .query::<()>(&mut c)
            .expect("readonly");
        // Every replica applied the script's writes (a follower serves READONLY reads locally).
        eventually(
            || {
                redis::cmd("GET")
                    .arg("{s}count")
                    .query::<Option<String>>(&mut c)
                    .ok()
                    .flatten()
                    .as_deref()
                    == Some("50")
            },
            "follower has the script's writes",
        );
        let list: Vec<String> = redis::cmd("LRANGE")
            .arg("{s}list")
            .arg(0)
            .arg(-1)
            .query(&mut c)
            .expect("lrange");
        assert_eq!(list, (1..=50).map(|i| i.to_string()).collect::<Vec<_>>());
        // The follower cached the script loaded through the leader: EVALSHA_RO runs here.
        eventually(
            || {
                redis::cmd("SCRIPT")
                    .arg("EXISTS")
                    .arg(&sha)
                    .query::<Vec<i64>>(&mut c)
                    .ok()
                    == Some(vec![1])
            },
            "follower cached the loaded script",
        );
        let v: String = redis::cmd("EVALSHA_RO")
            .arg(&sha)
            .arg(1)
            .arg("{s}count")
            .query(&mut c)
            .expect("evalsha_ro on a follower");
        assert_eq!(v, "50");
        // A writing EVALSHA on a follower is redirected to the leader, as any write.
        let e = redis::cmd("EVALSHA")
            .arg(&sha)
            .arg(1)
            .arg("{s}count")
            .query::<String>(&mut c)
            .expect_err("moved");
        assert!(e.to_string().to_lowercase().contains("moved"), "{e}");
    }
}

#[test]
fn runaway_script_is_aborted_and_replicas_stay_equal() {
    let mut cluster = TestCluster::start(3);
    let leader_id = cluster.wait_for_leader();
    let mut leader = cluster.leader_conn();
    redis::cmd("CONFIG")
        .arg("SET")
        .arg("busy-reply-threshold")
        .arg("50")
        .query::<()>(&mut leader)
        .expect("config set");
    let started = Instant::now();
    let e = redis::cmd("EVAL")
        .arg("redis.call('incr', 'runaway') while true do end")
        .arg(0)
        .query::<i64>(&mut leader)
        .expect_err("aborted");
    assert!(e.to_string().contains("budget"), "{e}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // pcall cannot catch the abort.
    let e = redis::cmd("EVAL")
        .arg("while true do pcall(function() while true do end end) end")
        .arg(0)
        .query::<i64>(&mut leader)
        .expect_err("aborted");
    assert!(e.to_string().contains("budget"), "{e}");
    // The node keeps serving; the write before the loop stays, on every replica.
    let v: i64 = redis::cmd("INCR")
        .arg("runaway")
        .query(&mut leader)
        .expect("incr");
    assert_eq!(v, 2);
    for n in cluster
        .nodes
        .iter()
        .filter(|n| n.node_id() != Some(leader_id))
    {
        let mut c = n.conn();
        redis::cmd("READONLY")
            .query::<()>(&mut c)
            .expect("readonly");
        eventually(
            || {
                redis::cmd("GET")
                    .arg("runaway")
                    .query::<Option<i64>>(&mut c)
                    .ok()
                    == Some(Some(2))
            },
            "replica equal",
        );
    }
}

#[test]
fn redis_py_8_register_script_with_default_settings() {
    let ok = Command::new("python3")
        .args(["-c", "import redis"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("skipped: Python's `redis` package is not installed");
        return;
    }
    let node = TestNode::start(&[]);
    let script = format!(
        r##"
import redis
r = redis.Redis(port={port})
r.script_flush()
incr = r.register_script("return redis.call('incrby', KEYS[1], ARGV[1])")
assert incr(keys=["py-n"], args=[5]) == 5
assert incr(keys=["py-n"], args=[2]) == 7
assert r.script_exists(incr.sha) == [True]
ro = r.register_script("#!lua flags=no-writes\nreturn redis.call('get', KEYS[1])")
assert ro(keys=["py-n"]) == b"7"
assert r.eval("return {{1, 'a', {{true}}}}", 0) == [1, b"a", [1]]
p = r.pipeline()
incr(keys=["py-n"], args=[1], client=p)
p.get("py-n")
assert p.execute() == [8, b"8"]
r.set("py-n-str", "x")
try:
    r.eval("return redis.call('incr', KEYS[1])", 1, "py-n-str")
    raise SystemExit("no error")
except redis.ResponseError as e:
    assert "not an integer" in str(e), e
print("ok")
"##,
        port = node.port
    );
    let out = Command::new("python3")
        .args(["-c", &script])
        .output()
        .expect("python3");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success() && text.contains("ok"), "{text}");
}
