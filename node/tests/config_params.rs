//! CONFIG accepts every Redis 7.0 parameter (stored and reported, docs/commands.md) and
//! refuses what Redis refuses; FUNCTION FLUSH/LIST answer as on an empty function registry.

mod common;

use common::TestNode;

fn config_get(c: &mut redis::Connection, name: &str) -> Vec<String> {
    redis::cmd("CONFIG")
        .arg("GET")
        .arg(name)
        .query(c)
        .expect("CONFIG GET")
}

fn config_set(c: &mut redis::Connection, name: &str, value: &str) -> redis::RedisResult<()> {
    redis::cmd("CONFIG")
        .arg("SET")
        .arg(name)
        .arg(value)
        .query(c)
}

#[test]
fn redis_parameters_are_stored_validated_and_reported() {
    let node = TestNode::start(&[]);
    let mut c = node.conn();
    config_set(&mut c, "save", "").expect("CONFIG SET save \"\" (tooling does it)");
    assert_eq!(config_get(&mut c, "save"), ["save", ""]);
    config_set(&mut c, "list-max-listpack-size", "4").expect("encoding threshold");
    assert_eq!(
        config_get(&mut c, "list-max-listpack-size"),
        ["list-max-listpack-size", "4"]
    );
    config_set(&mut c, "repl-backlog-size", "2mb").expect("memory value");
    assert_eq!(
        config_get(&mut c, "repl-backlog-size"),
        ["repl-backlog-size", "2097152"]
    );
    config_set(&mut c, "lazyfree-lazy-eviction", "YES").expect("bool");
    assert_eq!(config_get(&mut c, "lazyfree-lazy-eviction")[1], "yes");
    let e = config_set(&mut c, "hz", "fast").expect_err("not an integer");
    assert!(
        e.to_string()
            .contains("argument couldn't be parsed into an integer"),
        "{e}"
    );
    let e = config_set(&mut c, "appendonly", "maybe").expect_err("not a bool");
    assert!(
        e.to_string().contains("argument must be 'yes' or 'no'"),
        "{e}"
    );
    let e = config_set(&mut c, "daemonize", "yes").expect_err("immutable in Redis");
    assert!(e.to_string().contains("can't set immutable config"), "{e}");
    let e = config_set(&mut c, "no-such-parameter", "1").expect_err("unknown");
    assert!(e.to_string().contains("Unknown option"), "{e}");
    // A failing pair changes nothing, the valid one included.
    let r: redis::RedisResult<()> = redis::cmd("CONFIG")
        .arg("SET")
        .arg("hz")
        .arg("20")
        .arg("maxmemory-samples")
        .arg("x")
        .query(&mut c);
    assert!(r.is_err());
    assert_eq!(config_get(&mut c, "hz"), ["hz", "10"]);
    // Patterns cover the whole table: Redis 7.0 reports about 190 parameters.
    let all = config_get(&mut c, "*");
    assert!(all.len() / 2 >= 180, "{} parameters", all.len() / 2);
}

#[test]
fn function_flush_and_list_on_an_empty_registry() {
    let node = TestNode::start(&[]);
    let mut c = node.conn();
    let () = redis::cmd("FUNCTION")
        .arg("FLUSH")
        .query(&mut c)
        .expect("FLUSH");
    let () = redis::cmd("FUNCTION")
        .arg("FLUSH")
        .arg("ASYNC")
        .query(&mut c)
        .expect("FLUSH ASYNC");
    let list: Vec<redis::Value> = redis::cmd("FUNCTION")
        .arg("LIST")
        .query(&mut c)
        .expect("LIST");
    assert!(list.is_empty());
    // A library that registers nothing is refused with Redis 7.0's error, and leaves the
    // registry empty.
    let e = redis::cmd("FUNCTION")
        .arg("LOAD")
        .arg("#!lua name=x\n")
        .query::<()>(&mut c)
        .expect_err("a library without functions");
    assert!(e.to_string().contains("No functions registered"), "{e}");
    let list: Vec<redis::Value> = redis::cmd("FUNCTION")
        .arg("LIST")
        .query(&mut c)
        .expect("LIST");
    assert!(list.is_empty());
}
