//! A real `redis-server` child process for differential tests: its own port (chosen free on
//! 127.0.0.1), its own temporary directory, no persistence (`--save '' --appendonly no`).
//! Killed by pid on drop; never touches a packaged server on 6379.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::wire::RawConn;

/// Where Debian installs the reference server.
pub const REDIS_SERVER: &str = "/usr/bin/redis-server";

/// A running `redis-server`; SIGKILLed (by its pid) on drop.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    _tmp: tempfile::TempDir,
}

impl RedisServer {
    /// Starts one, or `None` (after printing `skipped: redis-server not found`) when the
    /// binary is missing so callers can return early.
    pub fn start() -> Option<RedisServer> {
        if !Path::new(REDIS_SERVER).exists() {
            eprintln!("skipped: redis-server not found at {REDIS_SERVER}");
            return None;
        }
        let tmp = tempfile::tempdir().expect("tempdir");
        // A port picked free can be taken before redis binds it: retry a few times.
        for _ in 0..5 {
            let port = super::free_port();
            let log = std::fs::File::create(tmp.path().join("redis.log")).expect("log file");
            let mut child = Command::new(REDIS_SERVER)
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
                .arg("--dir")
                .arg(tmp.path())
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn redis-server");
            let deadline = Instant::now() + Duration::from_secs(10);
            let mut up = false;
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if let Ok(mut c) = RawConn::connect(port) {
                    if c.call(&[b"PING".to_vec()]).is_ok_and(|r| r == b"+PONG\r\n") {
                        up = true;
                        break;
                    }
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            if up {
                return Some(RedisServer {
                    child: Some(child),
                    port,
                    _tmp: tmp,
                });
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("redis-server did not start");
    }

    pub fn conn(&self) -> RawConn {
        RawConn::connect(self.port).expect("connect to redis-server")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // Child::kill sends SIGKILL to this child's pid only.
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A `redis-server` and an `sdr-node` side by side, with one raw connection to each (the
/// differential tests send both the same commands). `None` when redis-server is missing.
pub struct Pair {
    pub _redis: RedisServer,
    pub _node: super::TestNode,
    pub rc: RawConn,
    pub nc: RawConn,
}

/// Starts both servers and connects to each.
pub fn pair() -> Option<Pair> {
    let redis = RedisServer::start()?;
    let node = super::TestNode::start(&[]);
    let rc = redis.conn();
    let nc = RawConn::connect(node.port).expect("connect to sdr-node");
    Some(Pair {
        _redis: redis,
        _node: node,
        rc,
        nc,
    })
}
