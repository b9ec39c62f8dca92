//! Every command family end to end: the `redis` crate against a spawned node, checking replies
//! and Redis's exact error strings (the connection stays usable after each error).

mod common;

use common::TestNode;
use redis::{Commands, RedisResult, Value};

fn err_text<T: std::fmt::Debug>(r: RedisResult<T>) -> String {
    let e = r.expect_err("expected an error reply");
    // redis-rs splits "-CODE detail" into a kind and a detail; rebuild the wire text.
    match (e.code(), e.detail()) {
        (Some(code), Some(detail)) => format!("{code} {detail}"),
        (Some(code), None) => code.to_string(),
        _ => e.to_string(),
    }
}

#[test]
fn strings() {
    let node = TestNode::start(&[]);
    let mut c = node.conn();
    let () = c.set("s", "hello").unwrap();
    assert_eq!(c.get::<_, String>("s").unwrap(), "hello");
    assert_eq!(c.append::<_, _, i64>("s", " world").unwrap(), 11);
    assert_eq!(c.strlen::<_, i64>("s").unwrap(), 11);
    assert_eq!(c.getrange::<_, String>("s", 0, 4).unwrap(), "hello");
    assert_eq!(c.getrange::<_, String>("s", -5, -1).unwrap(), "world");
    assert_eq!(c.setrange::<_, _, i64>("s", 6, "WORLD").unwrap(), 11);
    assert_eq!(c.get::<_, String>("s").unwrap(), "hello WORLD");
    assert_eq!(c.incr::<_, _, i64>("n", 5).unwrap(), 5);
    assert_eq!(c.decr::<_, _, i64>("n", 2).unwrap(), 3);
    let v: f64 = redis::cmd("INCRBYFLOAT")
        .arg("f")
        .arg("1.5")
        .query(&mut c)
        .unwrap();
    assert_eq!(v, 1.5);
    assert_eq!(
        err_text(c.incr::<_, _, i64>("s", 1)),
        "ERR value is not an integer or out of range"
    );
    let () = c.set("big", i64::MAX).unwrap();
    assert_eq!(
        err_text(c.incr::<_, _, i64>("big", 1)),
        "ERR increment or decrement would overflow"
    );
    // SET options
    let r: Option<String> = redis::cmd("SET")
        .arg("s")
        .arg("x")
        .arg("NX")
        .query(&mut c)
        .unwrap();
    assert_eq!(r, None);
    let r: Option<String> = redis::cmd("SET")
        .arg("s")
        .arg("x")
        .arg("XX")
        .arg("GET")
        .query(&mut c)
        .unwrap();
    assert_eq!(r.as_deref(), Some("hello WORLD"));
    assert_eq!(
        err_text(
            redis::cmd("SET")
                .arg("s")
                .arg("x")
                .arg("NX")
                .arg("XX")
                .query::<()>(&mut c)
        ),
        "ERR syntax error"
    );
    // IFEQ compare-and-set
    let r: Option<String> = redis::cmd("SET")
        .arg("s")
        .arg("y")
        .arg("IFEQ")
        .arg("nope")
        .query(&mut c)
        .unwrap();
    assert_eq!(r, None);
    assert_eq!(c.get::<_, String>("s").unwrap(), "x");
    let r: Option<String> = redis::cmd("SET")
        .arg("s")
        .arg("y")
        .arg("IFEQ")
        .arg("x")
        .query(&mut c)
        .unwrap();
    assert_eq!(r.as_deref(), Some("OK"));
    assert_eq!(c.get::<_, String>("s").unwrap(), "y");
    // multi-key
    let () = c.mset(&[("a", "1"), ("b", "2")]).unwrap();
    let v: Vec<Option<String>> = c.mget(&["a", "b", "missing"]).unwrap();
    assert_eq!(v, vec![Some("1".into()), Some("2".into()), None]);
    let ok: bool = c.mset_nx(&[("a", "9"), ("zz", "9")]).unwrap();
    assert!(!ok);
    assert_eq!(c.getset::<_, _, String>("a", "10").unwrap(), "1");
    assert_eq!(c.get_del::<_, String>("a").unwrap(), "10");
    assert!(!c.exists::<_, bool>("a").unwrap());
    let v: bool = c.set_nx("a", "1").unwrap();
    assert!(v);
    assert_eq!(
        err_text(redis::cmd("GET").query::<()>(&mut c)),
        "ERR wrong number of arguments for 'get' command"
    );
}

#[test]
fn keys_and_expiry() {
    let node = TestNode::start(&[]);
    let mut c = node.conn();
    let () = c.set("k1", "v").unwrap();
    let () = c.set("k2", "v").unwrap();
    let () = c.set("other", "v").unwrap();
    let mut keys: Vec<String> = c.keys("k*").unwrap();
    keys.sort();
    assert_eq!(keys, vec!["k1", "k2"]);
    assert_eq!(c.exists::<_, i64>(&["k1", "k1", "nope"]).unwrap(), 2);
    assert_eq!(
        redis::cmd("TYPE")
            .arg("k1")
            .query::<String>(&mut c)
            .unwrap(),
        "string"
    );
    assert_eq!(
        redis::cmd("TYPE")
            .arg("nope")
            .query::<String>(&mut c)
            .unwrap(),
        "none"
    );
    let () = c.rename("k2", "k3").unwrap();
    assert_eq!(
        err_text(c.rename::<_, _, ()>("nope", "x")),
        "ERR no such key"
    );
    assert_eq!(c.ttl::<_, i64>("k1").unwrap(), -1);
    assert_eq!(c.ttl::<_, i64>("nope").unwrap(), -2);
    assert!(c.expire::<_, bool>("k1", 100).unwrap());
    let ttl: i64 = c.ttl("k1").unwrap();
    assert!((99..=100).contains(&ttl), "ttl {ttl}");
    let pttl: i64 = c.pttl("k1").unwrap();
    assert!(pttl > 98_000 && pttl <= 100_000);
    // NX refuses when a deadline exists; GT only extends.
    let r: i64 = redis::cmd("EXPIRE")
        .arg("k1")
        .arg(50)
        .arg("NX")
        .query(&mut c)
        .unwrap();
    assert_eq!(r, 0);
    let r: i64 = redis::cmd("EXPIRE")
        .arg("k1")
        .arg(50)
        .arg("GT")
        .query(&mut c)
        .unwrap();
    assert_eq!(r, 0);
    let r: i64 = redis::cmd("EXPIRE")
        .arg("k1")
        .arg(500)
        .arg("GT")
        .query(&mut c)
        .unwrap();
    assert_eq!(r, 1);
    let at: i64 = redis::cmd("EXPIRETIME").arg("k1").query(&mut c).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((at - now - 500).abs() <= 2);
    assert!(c.persist::<_, bool>("k1").unwrap());
    assert_eq!(c.ttl::<_, i64>("k1").unwrap(), -1);
    // A key that expires disappears for reads and from DBSIZE after active expiry.
    let () = redis::cmd("SET")
        .arg("short")
        .arg("v")
        .arg("PX")
        .arg(100)
        .query(&mut c)
        .unwrap();
    // Wait past the deadline: from then on the key is invisible to reads at once...
    std::thread::sleep(std::time::Duration::from_millis(150));
    assert_eq!(c.get::<_, Option<String>>("short").unwrap(), None);
    assert_eq!(c.exists::<_, i64>("short").unwrap(), 0);
    // ...and the leader's active expiry deletes it through the log soon after.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let n: i64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
        if n == 3 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "active expiry never removed the key (DBSIZE {n})"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // SCAN visits every key exactly as KEYS does.
    let mut seen: Vec<String> = c
        .scan_match::<_, String>("*")
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    seen.sort();
    assert_eq!(seen, vec!["k1", "k3", "other"]);
    assert_eq!(c.del::<_, i64>(&["k1", "k3", "nope"]).unwrap(), 2);
    let () = redis::cmd("FLUSHALL").query(&mut c).unwrap();
    assert_eq!(redis::cmd("DBSIZE").query::<i64>(&mut c).unwrap(), 0);
}

#[test]
fn hashes_lists_sets_and_wrongtype() {
    let node = TestNode::start(&[]);
    let mut c = node.conn();
    assert_eq!(
        c.hset_multiple::<_, _, _, ()>("h", &[("a", "1"), ("b", "2")])
            .unwrap(),
        ()
    );
    assert_eq!(c.hget::<_, _, String>("h", "a").unwrap(), "1");
    assert_eq!(c.hincr::<_, _, _, i64>("h", "a", 10).unwrap(), 11);
    assert_eq!(c.hlen::<_, i64>("h").unwrap(), 2);
    assert!(c.hexists::<_, _, bool>("h", "b").unwrap());
    let v: Vec<Option<String>> = redis::cmd("HMGET")
        .arg("h")
        .arg("a")
        .arg("zz")
        .query(&mut c)
        .unwrap();
    assert_eq!(v, vec![Some("11".to_string()), None]);
    let mut all: Vec<(String, String)> = c.hgetall("h").unwrap();
    all.sort();
    assert_eq!(
        all,
        vec![("a".into(), "11".into()), ("b".into(), "2".into())]
    );
    assert_eq!(c.hdel::<_, _, i64>("h", &["a", "b"]).unwrap(), 2);
    assert!(
        !c.exists::<_, bool>("h").unwrap(),
        "an emptied hash is deleted"
    );

    assert_eq!(c.rpush::<_, _, i64>("l", &["a", "b", "c"]).unwrap(), 3);
    assert_eq!(c.lpush::<_, _, i64>("l", "z").unwrap(), 4);
    assert_eq!(
        c.lrange::<_, Vec<String>>("l", 0, -1).unwrap(),
        vec!["z", "a", "b", "c"]
    );
    assert_eq!(c.lindex::<_, String>("l", -1).unwrap(), "c");
    assert_eq!(c.llen::<_, i64>("l").unwrap(), 4);
    assert_eq!(
        c.lpop::<_, Vec<String>>("l", std::num::NonZeroUsize::new(2))
            .unwrap(),
        vec!["z", "a"]
    );
    assert_eq!(c.rpop::<_, String>("l", None).unwrap(), "c");
    let v: Value = redis::cmd("LPOP")
        .arg("missing")
        .arg(2)
        .query(&mut c)
        .unwrap();
    assert_eq!(v, Value::Nil);

    assert_eq!(c.sadd::<_, _, i64>("s", &["x", "y", "x"]).unwrap(), 2);
    assert!(c.sismember::<_, _, bool>("s", "x").unwrap());
    assert_eq!(c.scard::<_, i64>("s").unwrap(), 2);
    let mut m: Vec<String> = c.smembers("s").unwrap();
    m.sort();
    assert_eq!(m, vec!["x", "y"]);
    assert_eq!(c.srem::<_, _, i64>("s", "x").unwrap(), 1);

    let wrongtype = "WRONGTYPE Operation against a key holding the wrong kind of value";
    assert_eq!(err_text(c.get::<_, String>("l")), wrongtype);
    assert_eq!(err_text(c.sadd::<_, _, i64>("l", "x")), wrongtype);
    assert_eq!(err_text(c.hget::<_, _, String>("s", "x")), wrongtype);
    // Still usable after errors.
    assert_eq!(c.llen::<_, i64>("l").unwrap(), 1);
}

#[test]
fn connection_and_server_commands() {
    let node = TestNode::start(&[]);
    let mut c = node.conn();
    assert_eq!(redis::cmd("PING").query::<String>(&mut c).unwrap(), "PONG");
    assert_eq!(
        redis::cmd("PING")
            .arg("hi")
            .query::<String>(&mut c)
            .unwrap(),
        "hi"
    );
    assert_eq!(
        redis::cmd("ECHO")
            .arg("x y")
            .query::<String>(&mut c)
            .unwrap(),
        "x y"
    );
    let () = redis::cmd("SELECT").arg(0).query(&mut c).unwrap();
    assert_eq!(
        err_text(redis::cmd("SELECT").arg(16).query::<()>(&mut c)),
        "ERR DB index is out of range"
    );
    // Database 1 is another keyspace; back in 0 afterwards.
    let () = redis::cmd("SELECT").arg(1).query(&mut c).unwrap();
    let () = c.set("only-in-1", "v").unwrap();
    let () = redis::cmd("SELECT").arg(0).query(&mut c).unwrap();
    assert!(!c.exists::<_, bool>("only-in-1").unwrap());
    assert_eq!(
        err_text(redis::cmd("HELLO").arg(4).query::<()>(&mut c)),
        "NOPROTO unsupported protocol version"
    );
    let hello: Vec<Value> = redis::cmd("HELLO").arg(2).query(&mut c).unwrap();
    assert_eq!(hello.len(), 14);
    let () = redis::cmd("CLIENT")
        .arg("SETNAME")
        .arg("tester")
        .query(&mut c)
        .unwrap();
    assert_eq!(
        redis::cmd("CLIENT")
            .arg("GETNAME")
            .query::<String>(&mut c)
            .unwrap(),
        "tester"
    );
    let id: i64 = redis::cmd("CLIENT").arg("ID").query(&mut c).unwrap();
    assert!(id > 0);
    let info: String = redis::cmd("CLIENT").arg("INFO").query(&mut c).unwrap();
    assert!(info.contains("name=tester"), "{info}");
    let count: usize = redis::cmd("COMMAND").arg("COUNT").query(&mut c).unwrap();
    let all: Vec<Value> = redis::cmd("COMMAND").query(&mut c).unwrap();
    assert_eq!(count, all.len(), "COMMAND COUNT matches COMMAND");
    assert!(count >= 70, "every served command is listed ({count})");
    let docs: Value = redis::cmd("COMMAND")
        .arg("DOCS")
        .arg("get")
        .query(&mut c)
        .unwrap();
    assert!(
        matches!(docs, Value::Array(ref v) if v.len() == 2),
        "{docs:?}"
    );
    let info: String = redis::cmd("INFO").query(&mut c).unwrap();
    for section in [
        "# Server",
        "# Clients",
        "# Memory",
        "# Persistence",
        "# Stats",
        "# Replication",
        "# Keyspace",
    ] {
        assert!(info.contains(section), "INFO has {section}");
    }
    let repl: String = redis::cmd("INFO").arg("replication").query(&mut c).unwrap();
    assert!(
        repl.contains("role:master")
            && repl.contains("raft_term:")
            && repl.contains("raft_commit_index:")
    );
    assert!(!repl.contains("# Server"));
    let t: Vec<String> = redis::cmd("TIME").query(&mut c).unwrap();
    assert_eq!(t.len(), 2);
    let cfg: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("maxclients")
        .query(&mut c)
        .unwrap();
    assert_eq!(cfg, vec!["maxclients", "10000"]);
    assert_eq!(
        err_text(
            redis::cmd("CONFIG")
                .arg("SET")
                .arg("port")
                .arg("1")
                .query::<()>(&mut c)
        ),
        "ERR CONFIG SET failed (possibly related to argument 'port') - can't set immutable config"
    );
    assert_eq!(
        err_text(redis::cmd("NOSUCH").arg("a").query::<()>(&mut c)),
        "ERR unknown command 'NOSUCH', with args beginning with: 'a' "
    );
}

#[test]
fn requirepass_gates_commands_and_is_runtime_changeable() {
    let node = TestNode::start(&["--requirepass", "s3cret"]);
    let url = format!("redis://127.0.0.1:{}/", node.port);
    let mut c = redis::Client::open(url)
        .unwrap()
        .get_connection()
        .expect("connect without auth");
    assert_eq!(
        err_text(c.get::<_, Option<String>>("k")),
        "NOAUTH Authentication required."
    );
    assert_eq!(
        err_text(redis::cmd("AUTH").arg("wrong").query::<()>(&mut c)),
        "WRONGPASS invalid username-password pair or user is disabled."
    );
    let () = redis::cmd("AUTH").arg("s3cret").query(&mut c).unwrap();
    let () = c.set("k", "v").unwrap();
    // Clients passing the password in the URL work.
    let url = format!("redis://:s3cret@127.0.0.1:{}/", node.port);
    let mut c2 = redis::Client::open(url).unwrap().get_connection().unwrap();
    assert_eq!(c2.get::<_, String>("k").unwrap(), "v");
    let () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("requirepass")
        .arg("")
        .query(&mut c)
        .unwrap();
    let url = format!("redis://127.0.0.1:{}/", node.port);
    let mut c3 = redis::Client::open(url).unwrap().get_connection().unwrap();
    assert_eq!(
        c3.get::<_, String>("k").unwrap(),
        "v",
        "no password needed after requirepass is cleared"
    );
}

#[test]
fn pipelines_keep_order_and_read_your_writes() {
    let node = TestNode::start(&[]);
    let mut c = node.conn();
    let mut p = redis::pipe();
    p.get("x")
        .set("x", "1")
        .get("x")
        .incr("x", 5)
        .get("x")
        .del("x")
        .get("x");
    let (a, (), b, n, d, deleted, e): (
        Option<String>,
        (),
        String,
        i64,
        String,
        i64,
        Option<String>,
    ) = p.query(&mut c).unwrap();
    assert_eq!(a, None, "a read before a pipelined write does not see it");
    assert_eq!(b, "1");
    assert_eq!(n, 6);
    assert_eq!(d, "6");
    assert_eq!(deleted, 1);
    assert_eq!(e, None);
    // A long pipeline of mixed commands from several connections at once.
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let client = node.client();
            std::thread::spawn(move || {
                let mut c = client.get_connection().unwrap();
                let mut p = redis::pipe();
                for i in 0..500 {
                    p.rpush(format!("list{t}"), i).ignore();
                }
                p.lrange(format!("list{t}"), 0, -1);
                let (items,): (Vec<i64>,) = p.query(&mut c).unwrap();
                assert_eq!(items, (0..500).collect::<Vec<i64>>());
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn inline_commands_work() {
    let node = TestNode::start(&[]);
    assert_eq!(node.raw(b"PING\r\n").unwrap(), "+PONG\r\n");
    assert_eq!(node.raw(b"set inline \"a b\"\r\n").unwrap(), "+OK\r\n");
    assert_eq!(node.raw(b"GET inline\r\n").unwrap(), "a b\r\n");
}
