//! Hostile and malformed input against a real node: each gets Redis's protocol error, the
//! connection is closed, resident memory stays bounded, and other clients keep being served.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::TestNode;

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Sends `payload` and returns everything the server sends back before closing (or 3 s).
fn exchange(node: &TestNode, payload: &[u8]) -> (String, bool) {
    let mut s = TcpStream::connect(node.addr()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    // The server may close while we are still writing a long payload; that is fine.
    let _ = s.write_all(payload);
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let mut closed = false;
    loop {
        match s.read(&mut buf) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                closed = true;
                break;
            }
            Err(_) => break,
        }
    }
    (String::from_utf8_lossy(&out).into_owned(), closed)
}

fn assert_still_serving(node: &TestNode) {
    let mut c = node.conn();
    let pong: String = redis::cmd("PING")
        .query(&mut c)
        .expect("other clients are served");
    assert_eq!(pong, "PONG");
}

#[test]
fn absurd_multibulk_count_is_rejected_without_allocating() {
    let node = TestNode::start(&[]);
    let before = rss_kib(node.pid());
    let (reply, closed) = exchange(&node, b"*2147483647\r\n");
    assert_eq!(reply, "-ERR Protocol error: invalid multibulk length\r\n");
    assert!(closed, "connection is closed after a protocol error");
    assert_still_serving(&node);
    assert!(
        rss_kib(node.pid()) < before + 50 * 1024,
        "no allocation from the bogus count"
    );
}

#[test]
fn absurd_bulk_length_is_rejected() {
    let node = TestNode::start(&[]);
    let (reply, closed) = exchange(&node, b"*1\r\n$9223372036854775807\r\n");
    assert_eq!(reply, "-ERR Protocol error: invalid bulk length\r\n");
    assert!(closed);
    let (reply, _) = exchange(&node, b"*1\r\n$-5\r\n");
    assert_eq!(reply, "-ERR Protocol error: invalid bulk length\r\n");
    let (reply, _) = exchange(&node, b"*1\r\n:12\r\n");
    assert_eq!(reply, "-ERR Protocol error: expected '$', got ':'\r\n");
    assert_still_serving(&node);
}

#[test]
fn endless_inline_line_is_cut_off() {
    let node = TestNode::start(&[]);
    let before = rss_kib(node.pid());
    let junk = vec![b'a'; 1024 * 1024];
    let (reply, closed) = exchange(&node, &junk);
    assert_eq!(reply, "-ERR Protocol error: too big inline request\r\n");
    assert!(closed);
    assert_still_serving(&node);
    assert!(rss_kib(node.pid()) < before + 50 * 1024);
}

#[test]
fn lying_bulk_header_does_not_reserve_its_length() {
    let node = TestNode::start(&[]);
    let before = rss_kib(node.pid());
    // Claim 500 MiB (within proto-max-bulk-len) but send only a few bytes, on several
    // connections at once; the server must not reserve the claimed size up front.
    let conns: Vec<TcpStream> = (0..8)
        .map(|_| {
            let mut s = TcpStream::connect(node.addr()).expect("connect");
            s.write_all(b"*2\r\n$3\r\nGET\r\n$524288000\r\nabc")
                .expect("write");
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    assert_still_serving(&node);
    let grown = rss_kib(node.pid()).saturating_sub(before);
    assert!(
        grown < 100 * 1024,
        "RSS grew by {grown} KiB for 8 lying headers"
    );
    drop(conns);
}

#[test]
fn proto_max_bulk_len_is_enforced_and_configurable() {
    let node = TestNode::start(&[]);
    let mut c = node.conn();
    let () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("proto-max-bulk-len")
        .arg("2048")
        .query(&mut c)
        .expect("config set");
    let v: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("proto-max-bulk-len")
        .query(&mut c)
        .expect("config get");
    assert_eq!(v, vec!["proto-max-bulk-len", "2048"]);
    // New connections get the new limit.
    let (reply, closed) = exchange(&node, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4096\r\n");
    assert_eq!(reply, "-ERR Protocol error: invalid bulk length\r\n");
    assert!(closed);
    assert_still_serving(&node);
}

#[test]
fn command_errors_keep_the_connection_open() {
    let node = TestNode::start(&[]);
    let (reply, closed) = exchange(
        &node,
        b"*1\r\n$3\r\nGET\r\n*1\r\n$7\r\nNOTACMD\r\nPING\r\nQUIT\r\n",
    );
    assert_eq!(
        reply,
        "-ERR wrong number of arguments for 'get' command\r\n-ERR unknown command 'NOTACMD', with args beginning with: \r\n+PONG\r\n+OK\r\n"
    );
    assert!(closed, "QUIT closes after replying");
}
