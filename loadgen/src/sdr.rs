//! An sdr-node client for the benchmark: one connection, one request in flight, following
//! `-MOVED` to the leader and retrying `-TRYAGAIN`/`-CLUSTERDOWN` after a short backoff.

use std::time::Duration;

use bytes::BytesMut;
use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use sdr_resp::{encode_command, DecodeError, Frame, Redirect, RedirectKind, ReplyDecoder};

/// A command as its RESP bytes (built once per request by the benchmark loops).
pub fn command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode_command(args, &mut out);
    out.to_vec()
}

/// The `host:port` a `-MOVED <slot> <host:port>` error points at, if it is one.
pub fn moved_target(msg: &str) -> Option<String> {
    Redirect::parse(msg)
        .filter(|r| r.kind == RedirectKind::Moved)
        .map(|r| r.addr)
}

/// Why one request did not get a usable reply.
#[derive(Debug, Error)]
pub enum SdrError {
    #[error("connect to {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("i/o with {addr}: {source}")]
    Io {
        addr: String,
        source: std::io::Error,
    },
    #[error("{addr} closed the connection")]
    Closed { addr: String },
    #[error("timed out talking to {addr}")]
    Timeout { addr: String },
    #[error("protocol error from {addr}: {source}")]
    Protocol { addr: String, source: DecodeError },
    /// A `-ERR`-style reply; `MOVED`, `TRYAGAIN` and `CLUSTERDOWN` are among these.
    #[error("{addr} replied -{msg}")]
    Server { addr: String, msg: String },
    #[error("{addr} replied {reply:?}, expected +OK")]
    Unexpected { addr: String, reply: Frame },
}

/// One RESP connection to whichever member `addr` currently names.
pub struct SdrConn {
    /// Where to go when the current address stops answering (the endpoint this client was
    /// assigned), so a redirect to a dead leader does not strand it.
    home: String,
    addr: String,
    stream: Option<TcpStream>,
    buf: BytesMut,
    /// Decoder state of the reply being read; reset with the connection.
    replies: ReplyDecoder,
    io_timeout: Duration,
}

impl SdrConn {
    pub fn new(home: &str, io_timeout: Duration) -> SdrConn {
        SdrConn {
            home: home.to_string(),
            addr: home.to_string(),
            stream: None,
            buf: BytesMut::with_capacity(4096),
            replies: ReplyDecoder::default(),
            io_timeout,
        }
    }

    /// Sends one command and reads its reply. On `-MOVED` the connection is re-pointed at the
    /// named leader (and the error still returned, so the caller decides whether to retry); on
    /// connection failure it drops back to its home endpoint.
    pub async fn request(&mut self, cmd: &[u8]) -> Result<Frame, SdrError> {
        let res = self.request_inner(cmd).await;
        match &res {
            Ok(_) => {}
            Err(SdrError::Server { msg, .. }) => {
                if let Some(target) = moved_target(msg) {
                    if target != self.addr {
                        self.addr = target;
                        self.stream = None;
                    }
                }
            }
            Err(_) => {
                self.stream = None;
                self.addr = self.home.clone();
            }
        }
        res
    }

    async fn request_inner(&mut self, cmd: &[u8]) -> Result<Frame, SdrError> {
        let addr = self.addr.clone();
        if self.stream.is_none() {
            let s = timeout(self.io_timeout, TcpStream::connect(&addr))
                .await
                .map_err(|_| SdrError::Timeout { addr: addr.clone() })?
                .map_err(|source| SdrError::Connect {
                    addr: addr.clone(),
                    source,
                })?;
            // One small request per round trip: Nagle would only add delay.
            s.set_nodelay(true).map_err(|source| SdrError::Io {
                addr: addr.clone(),
                source,
            })?;
            self.stream = Some(s);
            self.buf.clear();
            self.replies = ReplyDecoder::default();
        }
        let Some(stream) = self.stream.as_mut() else {
            return Err(SdrError::Closed { addr });
        };
        let io_timeout = self.io_timeout;
        let buf = &mut self.buf;
        let replies = &mut self.replies;
        let exchange = async {
            stream.write_all(cmd).await.map_err(|source| SdrError::Io {
                addr: addr.clone(),
                source,
            })?;
            loop {
                match replies.decode(buf) {
                    Ok(Some(reply)) => return Ok(reply),
                    Ok(None) => {}
                    Err(source) => {
                        return Err(SdrError::Protocol {
                            addr: addr.clone(),
                            source,
                        })
                    }
                }
                let n = stream.read_buf(buf).await.map_err(|source| SdrError::Io {
                    addr: addr.clone(),
                    source,
                })?;
                if n == 0 {
                    return Err(SdrError::Closed { addr: addr.clone() });
                }
            }
        };
        let reply = timeout(io_timeout, exchange)
            .await
            .map_err(|_| SdrError::Timeout { addr: addr.clone() })??;
        match reply {
            Frame::Error(msg) => Err(SdrError::Server { addr, msg }),
            other => Ok(other),
        }
    }

    /// `SET key value`, expecting `+OK`; a single attempt (see [`request`](Self::request)).
    pub async fn set_once(&mut self, key: &[u8], value: &[u8]) -> Result<(), SdrError> {
        let cmd = command(&[b"SET", key, value]);
        match self.request(&cmd).await? {
            Frame::Simple(s) if s == "OK" => Ok(()),
            reply => Err(SdrError::Unexpected {
                addr: self.addr.clone(),
                reply,
            }),
        }
    }

    /// The `INFO replication` text of the current member.
    pub async fn info_replication(&mut self) -> Result<String, SdrError> {
        match self.request(&command(&[b"INFO", b"replication"])).await? {
            Frame::Bulk(b) => Ok(String::from_utf8_lossy(&b).into_owned()),
            reply => Err(SdrError::Unexpected {
                addr: self.addr.clone(),
                reply,
            }),
        }
    }
}

/// One `field:value` line of an INFO section.
pub fn info_field<'a>(info: &'a str, field: &str) -> Option<&'a str> {
    info.lines().find_map(|l| {
        l.strip_prefix(field)
            .and_then(|r| r.strip_prefix(':'))
            .map(str::trim)
    })
}

/// The `lag=` of every `slaveN:` line of a leader's INFO replication.
pub fn follower_lags(info: &str) -> Vec<u64> {
    info.lines()
        .filter(|l| l.starts_with("slave"))
        .filter_map(|l| {
            l.split(',')
                .find_map(|kv| kv.strip_prefix("lag="))
                .and_then(|v| v.trim().parse().ok())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_and_reads_moved() {
        assert_eq!(
            command(&[b"SET", b"k", b"vv"]),
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nvv\r\n".to_vec()
        );
        assert_eq!(
            moved_target("MOVED 866 127.0.0.1:7002").as_deref(),
            Some("127.0.0.1:7002")
        );
        assert_eq!(moved_target("TRYAGAIN no leader"), None);
    }

    #[test]
    fn reads_info_fields() {
        let info = "# Replication\r\nrole:master\r\nconnected_slaves:2\r\nslave0:id=2,ip=127.0.0.1,port=7002,state=online,offset=9,lag=0\r\nslave1:id=3,ip=127.0.0.1,port=7003,state=online,offset=7,lag=2\r\nraft_leader_id:1\r\nraft_leader_addr:127.0.0.1:7001\r\n";
        assert_eq!(info_field(info, "raft_leader_id"), Some("1"));
        assert_eq!(info_field(info, "raft_leader_addr"), Some("127.0.0.1:7001"));
        assert_eq!(info_field(info, "connected_slaves"), Some("2"));
        assert_eq!(info_field(info, "raft_leader"), None);
        assert_eq!(follower_lags(info), vec![0, 2]);
    }
}
