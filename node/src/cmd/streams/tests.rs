//! Unit tests per stream command (replies as Redis 7.0 gives them).

// Assertions in RESP2 shapes (XREAD's RESP3 map is checked in node/tests/resp3.rs).
use crate::cmd::testutil::{arr, b, e, i, run2 as run};
use crate::keyspace::Keyspace;
use crate::resp::Frame;

fn entry(id: &str, fields: &[&str]) -> Frame {
    Frame::Array(vec![b(id), arr(fields)])
}

fn ks_with(ids: &[&str]) -> Keyspace {
    let mut ks = Keyspace::new();
    for id in ids {
        assert_eq!(run(&mut ks, 1, &["xadd", "s", id, "f", id]), b(id));
    }
    ks
}

#[test]
fn xadd_ids_auto_partial_and_errors() {
    let mut ks = Keyspace::new();
    assert_eq!(
        run(&mut ks, 1000, &["xadd", "s", "*", "a", "1"]),
        b("1000-0")
    );
    assert_eq!(
        run(&mut ks, 1000, &["xadd", "s", "*", "a", "2"]),
        b("1000-1")
    );
    // A stamped time behind the last ID keeps the last ms.
    assert_eq!(
        run(&mut ks, 900, &["xadd", "s", "*", "a", "3"]),
        b("1000-2")
    );
    assert_eq!(
        run(&mut ks, 0, &["xadd", "s", "1000-*", "a", "4"]),
        b("1000-3")
    );
    assert_eq!(
        run(&mut ks, 0, &["xadd", "s", "2000-*", "a", "4"]),
        b("2000-0")
    );
    assert_eq!(
        run(&mut ks, 0, &["xadd", "s", "3000", "a", "4"]),
        b("3000-0")
    );
    assert_eq!(
        run(&mut ks, 0, &["xadd", "s", "3000-0", "a", "4"]),
        e("ERR The ID specified in XADD is equal or smaller than the target stream top item")
    );
    assert_eq!(
        run(&mut ks, 0, &["xadd", "n", "0-0", "a", "4"]),
        e("ERR The ID specified in XADD must be greater than 0-0")
    );
    assert_eq!(
        run(&mut ks, 0, &["xadd", "s", "*", "a"]),
        e("ERR wrong number of arguments for 'xadd' command")
    );
    assert_eq!(
        run(&mut ks, 0, &["xadd", "s", "bad", "a", "1"]),
        e("ERR Invalid stream ID specified as stream command argument")
    );
    assert_eq!(
        run(&mut ks, 0, &["xadd", "n", "nomkstream", "*", "a", "1"]),
        Frame::Null
    );
    assert_eq!(run(&mut ks, 0, &["exists", "n"]), i(0));
    assert_eq!(
        run(&mut ks, 0, &["type", "s"]),
        Frame::Simple("stream".into())
    );
    assert_eq!(run(&mut ks, 0, &["object", "encoding", "s"]), b("stream"));
    assert_eq!(run(&mut ks, 0, &["xlen", "s"]), i(6));
    run(&mut ks, 0, &["set", "str", "x"]);
    assert_eq!(
        run(&mut ks, 0, &["xadd", "str", "*", "a", "1"]),
        e("WRONGTYPE Operation against a key holding the wrong kind of value")
    );
    assert_eq!(
        run(
            &mut ks,
            0,
            &["xadd", "s", "maxlen", "1", "limit", "5", "*", "a", "1"]
        ),
        e("ERR syntax error, LIMIT cannot be used without the special ~ option")
    );
    assert_eq!(
        run(
            &mut ks,
            0,
            &["xadd", "s", "maxlen", "1", "minid", "5", "*", "a", "1"]
        ),
        e("ERR syntax error, MAXLEN and MINID options at the same time are not compatible")
    );
    assert_eq!(
        run(&mut ks, 0, &["xadd", "s", "maxlen", "-1", "*", "a", "1"]),
        e("ERR The MAXLEN argument must be >= 0.")
    );
    assert_eq!(
        run(&mut ks, 5000, &["xadd", "s", "maxlen", "2", "*", "a", "1"]),
        b("5000-0")
    );
    assert_eq!(run(&mut ks, 0, &["xlen", "s"]), i(2));
}

#[test]
fn xrange_bounds_count_and_rev() {
    let mut ks = ks_with(&["1-0", "1-1", "2-0", "3-5"]);
    assert_eq!(
        run(&mut ks, 0, &["xrange", "s", "-", "+", "count", "2"]),
        Frame::Array(vec![
            entry("1-0", &["f", "1-0"]),
            entry("1-1", &["f", "1-1"])
        ])
    );
    assert_eq!(
        run(&mut ks, 0, &["xrange", "s", "(1-0", "2"]),
        Frame::Array(vec![
            entry("1-1", &["f", "1-1"]),
            entry("2-0", &["f", "2-0"])
        ])
    );
    assert_eq!(
        run(&mut ks, 0, &["xrevrange", "s", "+", "(2-0"]),
        Frame::Array(vec![entry("3-5", &["f", "3-5"])])
    );
    assert_eq!(
        run(&mut ks, 0, &["xrange", "s", "-", "+", "count", "0"]),
        Frame::NullArray
    );
    assert_eq!(
        run(&mut ks, 0, &["xrange", "nokey", "-", "+"]),
        Frame::Array(vec![])
    );
    assert_eq!(
        run(&mut ks, 0, &["xrange", "s", "5", "1"]),
        Frame::Array(vec![])
    );
    assert_eq!(
        run(&mut ks, 0, &["xrange", "s", "-", "(0-0"]),
        e("ERR invalid end ID for the interval")
    );
    assert_eq!(
        run(&mut ks, 0, &["xrange", "s", "-", "+", "count"]),
        e("ERR syntax error")
    );
}

#[test]
fn xdel_xtrim_and_counters() {
    let mut ks = ks_with(&["1-0", "2-0", "3-0", "4-0"]);
    assert_eq!(run(&mut ks, 0, &["xdel", "s", "1-0", "9-0", "1-0"]), i(1));
    assert_eq!(run(&mut ks, 0, &["xdel", "nokey", "bad"]), i(0));
    assert_eq!(
        run(&mut ks, 0, &["xdel", "s", "bad"]),
        e("ERR Invalid stream ID specified as stream command argument")
    );
    assert_eq!(run(&mut ks, 0, &["xtrim", "s", "maxlen", "2"]), i(1));
    assert_eq!(run(&mut ks, 0, &["xtrim", "s", "maxlen", "~", "1"]), i(0));
    assert_eq!(
        run(&mut ks, 0, &["xtrim", "s", "limit", "0"]),
        e("ERR syntax error, XTRIM must be called with a trimming strategy")
    );
    assert_eq!(run(&mut ks, 0, &["xtrim", "s", "minid", "4"]), i(1));
    assert_eq!(run(&mut ks, 0, &["xdel", "s", "4-0"]), i(1));
    // An emptied stream stays, with its last ID.
    assert_eq!(run(&mut ks, 0, &["xlen", "s"]), i(0));
    assert_eq!(run(&mut ks, 0, &["exists", "s"]), i(1));
    assert_eq!(
        run(&mut ks, 0, &["xadd", "s", "4-0", "f", "v"]),
        e("ERR The ID specified in XADD is equal or smaller than the target stream top item")
    );
    assert_eq!(run(&mut ks, 0, &["xsetid", "s", "9-9"]), Frame::ok());
    assert_eq!(run(&mut ks, 0, &["xadd", "s", "9-*", "f", "v"]), b("9-10"));
    assert_eq!(
        run(&mut ks, 0, &["xsetid", "s", "1-0"]),
        e("ERR The ID specified in XSETID is smaller than the target stream top item")
    );
    assert_eq!(
        run(&mut ks, 0, &["xsetid", "nokey", "1-0"]),
        e("ERR no such key")
    );
}

#[test]
fn xread_serves_streams_with_newer_entries() {
    let mut ks = ks_with(&["1-0", "2-0"]);
    assert_eq!(
        run(
            &mut ks,
            0,
            &["xread", "count", "1", "streams", "s", "nokey", "0", "0"]
        ),
        Frame::Array(vec![Frame::Array(vec![
            b("s"),
            Frame::Array(vec![entry("1-0", &["f", "1-0"])])
        ])])
    );
    assert_eq!(
        run(&mut ks, 0, &["xread", "streams", "s", "$"]),
        Frame::NullArray
    );
    assert_eq!(
        run(&mut ks, 0, &["xread", "block", "0", "streams", "s", "$"]),
        Frame::NullArray
    );
    assert_eq!(
        run(&mut ks, 0, &["xread", "streams", "s"]),
        e("ERR wrong number of arguments for 'xread' command")
    );
    assert_eq!(
        run(&mut ks, 0, &["xread", "streams", "s", "t", "0"]),
        e("ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.")
    );
    assert_eq!(
        run(&mut ks, 0, &["xread", "streams", "s", ">"]),
        e("ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.")
    );
}

#[test]
fn groups_deliver_track_pending_and_ack() {
    let mut ks = ks_with(&["1-0", "2-0", "3-0"]);
    assert_eq!(
        run(&mut ks, 10, &["xgroup", "create", "s", "g", "0"]),
        Frame::ok()
    );
    assert_eq!(
        run(&mut ks, 10, &["xgroup", "create", "s", "g", "0"]),
        e("BUSYGROUP Consumer Group name already exists")
    );
    assert_eq!(
        run(&mut ks, 10, &["xgroup", "create", "nokey", "g", "0"]),
        e("ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.")
    );
    assert_eq!(
        run(&mut ks, 10, &["xgroup", "create", "s"]),
        e("ERR wrong number of arguments for 'xgroup|create' command")
    );
    assert_eq!(
        run(&mut ks, 10, &["xgroup", "nosuch", "s"]),
        e("ERR unknown subcommand 'nosuch'. Try XGROUP HELP.")
    );
    let got = run(
        &mut ks,
        100,
        &[
            "xreadgroup",
            "group",
            "g",
            "alice",
            "count",
            "2",
            "streams",
            "s",
            ">",
        ],
    );
    assert_eq!(
        got,
        Frame::Array(vec![Frame::Array(vec![
            b("s"),
            Frame::Array(vec![
                entry("1-0", &["f", "1-0"]),
                entry("2-0", &["f", "2-0"])
            ])
        ])])
    );
    assert_eq!(
        run(&mut ks, 150, &["xpending", "s", "g"]),
        Frame::Array(vec![
            i(2),
            b("1-0"),
            b("2-0"),
            Frame::Array(vec![arr(&["alice", "2"])])
        ])
    );
    assert_eq!(
        run(&mut ks, 150, &["xpending", "s", "g", "-", "+", "10"]),
        Frame::Array(vec![
            Frame::Array(vec![b("1-0"), b("alice"), i(50), i(1)]),
            Frame::Array(vec![b("2-0"), b("alice"), i(50), i(1)]),
        ])
    );
    // History read bumps the delivery count.
    run(
        &mut ks,
        200,
        &["xreadgroup", "group", "g", "alice", "streams", "s", "0"],
    );
    assert_eq!(
        run(
            &mut ks,
            250,
            &["xpending", "s", "g", "idle", "40", "-", "+", "10", "alice"]
        ),
        Frame::Array(vec![
            Frame::Array(vec![b("1-0"), b("alice"), i(50), i(2)]),
            Frame::Array(vec![b("2-0"), b("alice"), i(50), i(2)]),
        ])
    );
    assert_eq!(
        run(&mut ks, 300, &["xack", "s", "g", "1-0", "1-0", "7-0"]),
        i(1)
    );
    assert_eq!(run(&mut ks, 300, &["xack", "s", "nog", "bad"]), i(0));
    assert_eq!(
        run(&mut ks, 300, &["xpending", "s", "nog"]),
        e("NOGROUP No such key 's' or consumer group 'nog'")
    );
    assert_eq!(
        run(
            &mut ks,
            300,
            &["xreadgroup", "group", "nog", "c", "streams", "s", ">"]
        ),
        e("NOGROUP No such key 's' or consumer group 'nog' in XREADGROUP with GROUP option")
    );
    // Nothing new: nil.
    run(
        &mut ks,
        300,
        &["xreadgroup", "group", "g", "bob", "streams", "s", ">"],
    );
    assert_eq!(
        run(
            &mut ks,
            300,
            &["xreadgroup", "group", "g", "bob", "streams", "s", ">"]
        ),
        Frame::NullArray
    );
    assert_eq!(
        run(&mut ks, 300, &["xgroup", "delconsumer", "s", "g", "bob"]),
        i(1)
    );
    assert_eq!(
        run(&mut ks, 300, &["xgroup", "createconsumer", "s", "g", "bob"]),
        i(1)
    );
    assert_eq!(
        run(&mut ks, 300, &["xgroup", "createconsumer", "s", "g", "bob"]),
        i(0)
    );
    assert_eq!(run(&mut ks, 300, &["xgroup", "destroy", "s", "g"]), i(1));
    assert_eq!(run(&mut ks, 300, &["xgroup", "destroy", "s", "g"]), i(0));
}

#[test]
fn claims_move_ownership() {
    let mut ks = ks_with(&["1-0", "2-0", "3-0"]);
    run(&mut ks, 0, &["xgroup", "create", "s", "g", "0"]);
    run(
        &mut ks,
        100,
        &["xreadgroup", "group", "g", "alice", "streams", "s", ">"],
    );
    // Too recent for min-idle 1000.
    assert_eq!(
        run(&mut ks, 500, &["xclaim", "s", "g", "bob", "1000", "1-0"]),
        Frame::Array(vec![])
    );
    assert_eq!(
        run(
            &mut ks,
            1200,
            &["xclaim", "s", "g", "bob", "1000", "1-0", "justid"]
        ),
        Frame::Array(vec![b("1-0")])
    );
    assert_eq!(
        run(
            &mut ks,
            1200,
            &["xclaim", "s", "g", "bob", "0", "1-0", "bogus"]
        ),
        e("ERR Unrecognized XCLAIM option 'bogus'")
    );
    assert_eq!(
        run(&mut ks, 1200, &["xclaim", "s", "nog", "bob", "x", "1-0"]),
        e("NOGROUP No such key 's' or consumer group 'nog'")
    );
    run(&mut ks, 1200, &["xdel", "s", "3-0"]);
    assert_eq!(
        run(
            &mut ks,
            1300,
            &["xautoclaim", "s", "g", "carol", "0", "0", "count", "1"]
        ),
        Frame::Array(vec![
            b("2-0"),
            Frame::Array(vec![entry("1-0", &["f", "1-0"])]),
            Frame::Array(vec![])
        ])
    );
    assert_eq!(
        run(
            &mut ks,
            1300,
            &["xautoclaim", "s", "g", "carol", "0", "2-0", "justid"]
        ),
        Frame::Array(vec![
            b("0-0"),
            Frame::Array(vec![b("2-0")]),
            Frame::Array(vec![b("3-0")])
        ])
    );
    assert_eq!(
        run(
            &mut ks,
            1300,
            &["xautoclaim", "s", "g", "carol", "0", "0", "count", "0"]
        ),
        e("ERR COUNT must be > 0")
    );
    assert_eq!(
        run(&mut ks, 1400, &["xpending", "s", "g", "-", "+", "10"]),
        Frame::Array(vec![
            Frame::Array(vec![b("1-0"), b("carol"), i(100), i(2)]),
            Frame::Array(vec![b("2-0"), b("carol"), i(100), i(1)]),
        ])
    );
}

#[test]
fn xinfo_shapes() {
    let mut ks = ks_with(&["1-0", "2-0"]);
    run(&mut ks, 0, &["xgroup", "create", "s", "g", "0"]);
    run(
        &mut ks,
        100,
        &[
            "xreadgroup",
            "group",
            "g",
            "alice",
            "count",
            "1",
            "streams",
            "s",
            ">",
        ],
    );
    assert_eq!(
        crate::cmd::testutil::run(&mut ks, 130, &["xinfo", "groups", "s"]),
        Frame::Array(vec![Frame::str_map([
            ("name", b("g")),
            ("consumers", i(1)),
            ("pending", i(1)),
            ("last-delivered-id", b("1-0")),
            ("entries-read", i(1)),
            ("lag", i(1)),
        ])])
    );
    assert_eq!(
        crate::cmd::testutil::run(&mut ks, 130, &["xinfo", "consumers", "s", "g"]),
        Frame::Array(vec![Frame::str_map([
            ("name", b("alice")),
            ("pending", i(1)),
            ("idle", i(30)),
        ])])
    );
    let Frame::Map(m) = crate::cmd::testutil::run(&mut ks, 130, &["xinfo", "stream", "s"]) else {
        panic!("map")
    };
    assert_eq!(m.len(), 10);
    assert_eq!(m[0], (b("length"), i(2)));
    assert_eq!(m[9], (b("last-entry"), entry("2-0", &["f", "2-0"])));
    assert_eq!(
        crate::cmd::testutil::run(&mut ks, 0, &["xinfo", "stream", "nokey"]),
        e("ERR no such key")
    );
    assert_eq!(
        crate::cmd::testutil::run(&mut ks, 0, &["xinfo", "stream", "s", "bad"]),
        e("ERR unknown subcommand or wrong number of arguments for 'stream'. Try XINFO HELP.")
    );
}

#[test]
fn approximate_trim_keeps_partial_nodes() {
    let mut ks = Keyspace::new();
    for n in 1..=150 {
        run(&mut ks, 0, &["xadd", "s", &format!("{n}-0"), "f", "v"]);
    }
    assert_eq!(
        run(&mut ks, 0, &["xtrim", "s", "maxlen", "~", "10"]),
        i(100)
    );
    assert_eq!(run(&mut ks, 0, &["xtrim", "s", "maxlen", "~", "10"]), i(0));
    assert_eq!(run(&mut ks, 0, &["xtrim", "s", "maxlen", "=", "10"]), i(40));
}

#[test]
fn replicas_and_snapshots_agree_on_group_state() {
    let script: &[&[&str]] = &[
        &["xadd", "s", "*", "a", "1"],
        &["xadd", "s", "*", "a", "2"],
        &["xgroup", "create", "s", "g", "0"],
        &["xreadgroup", "group", "g", "c1", "streams", "s", ">"],
        &["xadd", "s", "maxlen", "~", "1", "*", "a", "3"],
        &["xclaim", "s", "g", "c2", "0", "0-1", "force"],
        &["xdel", "s", "1000-0"],
        &["xautoclaim", "s", "g", "c3", "0", "0"],
    ];
    let mut a = Keyspace::new();
    let mut bks = Keyspace::new();
    for (t, cmd) in script.iter().enumerate() {
        let argv: Vec<bytes::Bytes> = cmd
            .iter()
            .map(|w| bytes::Bytes::copy_from_slice(w.as_bytes()))
            .collect();
        let now = 1000 + t as u64;
        assert_eq!(
            crate::cmd::apply_argv(&mut a, &argv, now),
            crate::cmd::apply_argv(&mut bks, &argv, now)
        );
        assert_eq!(a, bks);
        let mut snap = Vec::new();
        crate::keyspace::codec::encode(&a, &mut snap);
        let back = crate::keyspace::codec::decode(&snap).expect("decodes");
        assert_eq!(back, a);
    }
}
