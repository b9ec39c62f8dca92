//! MULTI/EXEC/WATCH through a real client (the `redis` crate): atomic pipelines, and a WATCH
//! retry loop under concurrent INCRs from several threads that must lose no update. (Exact
//! reply bytes against redis-server 7.0 are in tests/resp3.rs.)

mod common;

use common::TestNode;
use redis::Commands;

#[test]
fn atomic_pipeline_is_one_transaction() {
    let node = TestNode::start(&[]);
    let mut c = node.conn();
    let (a, b, got): (i64, i64, String) = redis::pipe()
        .atomic()
        .incr("a", 1)
        .incr("b", 5)
        .set("s", "v")
        .ignore()
        .get("s")
        .query(&mut c)
        .expect("EXEC");
    assert_eq!((a, b, got.as_str()), (1, 5, "v"));
    // A runtime error is an element; the other commands still apply.
    let r: redis::RedisResult<(i64, i64)> = redis::pipe()
        .atomic()
        .incr("s", 1)
        .incr("a", 1)
        .query(&mut c);
    assert!(r.is_err(), "{r:?}");
    assert_eq!(
        c.get::<_, i64>("a").unwrap(),
        2,
        "the INCR after the error applied"
    );
    // A queue-time error discards everything.
    let r: redis::RedisResult<()> = redis::pipe()
        .atomic()
        .incr("a", 1)
        .cmd("NOSUCHCOMMAND")
        .query(&mut c);
    let e = r.unwrap_err();
    assert_eq!(e.code(), Some("EXECABORT"), "{e}");
    assert_eq!(
        c.get::<_, i64>("a").unwrap(),
        2,
        "nothing of an aborted transaction applied"
    );
}

#[test]
fn watch_retry_loop_loses_no_update_under_concurrent_incrs() {
    let node = TestNode::start(&[]);
    let threads = 4;
    let per_thread = 25;
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let client = node.client();
            std::thread::spawn(move || {
                let mut c = client.get_connection().expect("connect");
                let mut retries = 0u64;
                for _ in 0..per_thread {
                    // GET + SET (not INCR) inside WATCH: only WATCH prevents a lost update.
                    let _: () = redis::transaction(&mut c, &["counter"], |c, pipe| {
                        let v: Option<i64> = c.get("counter")?;
                        let r: Option<()> = pipe
                            .set("counter", v.unwrap_or(0) + 1)
                            .ignore()
                            .incr(format!("done:{t}"), 1)
                            .ignore()
                            .query(c)?;
                        if r.is_none() {
                            retries += 1;
                        }
                        Ok(r)
                    })
                    .expect("transaction");
                }
                retries
            })
        })
        .collect();
    let retries: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let mut c = node.conn();
    assert_eq!(
        c.get::<_, i64>("counter").unwrap(),
        (threads * per_thread) as i64,
        "no lost update ({retries} aborted EXECs were retried)"
    );
    for t in 0..threads {
        assert_eq!(
            c.get::<_, i64>(format!("done:{t}")).unwrap(),
            per_thread as i64
        );
    }
    eprintln!("{retries} EXECs aborted by WATCH and retried");
}
