//! A small async RESP2 client and the classification of replies into
//! `ok` / `fail` / `info` (docs/error-semantics.md, docs/chaos.md).
//!
//! Transactions ([`OpArgs::Txn`]) go out as `MULTI` (alone: when it is refused, or the
//! connection drops, nothing else was sent and the transaction is a `fail`), then one
//! pipelined write of a command per micro-op and `EXEC`; [`txn_outcome`] maps the replies to the completion by error code:
//! a queue-time error makes EXEC answer `-EXECABORT` (nothing applied: `fail`, or a retry
//! at the node a queue-time `-MOVED` named), a nil EXEC is `fail` (WATCH), an array is `ok`
//! with every read's result, `-TIMEOUT` and a lost connection after sending are `info`.
//!
//! One [`Client`] per logical process slot; it holds at most one connection,
//! follows `-MOVED` and `-ASK` (with `ASKING`; bounded), reconnects as needed, and bounds
//! every op by a timeout. It never decides *what* to do — the workload does — only how an
//! attempt ended. The system under test shapes it through a [`ClientConfig`]: Sentinel
//! routing ([`Route::Sentinel`]: the primary from `SENTINEL get-master-addr-by-name`, checked
//! with `ROLE`, re-resolved after errors), reads from replicas, `WAIT` after writes, and
//! compare-and-set as a Lua script ([`CAS_SCRIPT`]) where `SET … IFEQ` does not exist.

use crate::recorder::Completion;
use crate::workload::{Micro, OpArgs};
use bytes::BytesMut;
use sdr_resp::{
    encode_command, ErrorCode, Frame, Redirect, RedirectKind, ReplyDecoder, ReplyLimits,
};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout, Instant};

/// How the harness's clients find where to send an op.
#[derive(Clone, Debug, PartialEq)]
pub enum Route {
    /// Start at one of `System::client_addrs`, follow `-MOVED` / `-ASK` (sdr, Redis
    /// Cluster, command).
    Direct,
    /// Ask the Sentinels (`SENTINEL get-master-addr-by-name`) for the primary, check it
    /// with `ROLE`, re-resolve after an error or `-READONLY` (Redis's client guidelines).
    Sentinel {
        sentinels: Vec<String>,
        master: String,
    },
}

/// What the adapter asks of the clients.
#[derive(Clone, Debug, PartialEq)]
pub struct ClientConfig {
    pub route: Route,
    /// Send reads to replicas (Sentinel: `SENTINEL replicas`; Cluster: `READONLY`
    /// connections to the node list, MOVED still followed).
    pub read_from_replicas: bool,
    /// `WAIT numreplicas timeout-ms` after every acknowledged write.
    pub wait: Option<(u32, u64)>,
    /// Compare-and-set as a Lua `EVAL` (Redis 7.0 has no `SET … IFEQ`).
    pub cas_via_eval: bool,
}

impl ClientConfig {
    /// sdr's clients: direct, reads where writes go, native `SET … IFEQ`.
    pub fn direct() -> ClientConfig {
        ClientConfig {
            route: Route::Direct,
            read_from_replicas: false,
            wait: None,
            cas_via_eval: false,
        }
    }
}

/// Low-level client errors.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("connecting to {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("connecting to {0}: timed out")]
    ConnectTimeout(String),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("connection closed by the server")]
    Closed,
    #[error("protocol: {0}")]
    Protocol(String),
    #[error("timed out")]
    Timeout,
    #[error("server error: {0}")]
    Server(String),
}

/// One RESP connection. Replies are decoded by `sdr-resp`'s [`ReplyDecoder`] (size and depth
/// limits, no re-parse of partial input).
pub struct Conn {
    stream: TcpStream,
    buf: BytesMut,
    replies: ReplyDecoder,
    pub addr: String,
}

/// Largest bulk reply accepted (the workload's values are small; INFO is a few KiB).
const MAX_BULK: u64 = 64 << 20;

impl Conn {
    pub async fn connect(addr: &str, limit: Duration) -> Result<Conn, ClientError> {
        Conn::connect_from(addr, None, limit).await
    }

    /// Like [`Conn::connect`], from the local address `from` when given (the netns
    /// backend's control plane connects from an address no partition cuts).
    pub async fn connect_from(
        addr: &str,
        from: Option<std::net::IpAddr>,
        limit: Duration,
    ) -> Result<Conn, ClientError> {
        let connecting = async {
            match from {
                None => TcpStream::connect(addr).await,
                Some(ip) => {
                    let to: std::net::SocketAddr = addr
                        .parse()
                        .map_err(|e| std::io::Error::other(format!("{addr}: {e}")))?;
                    let sock = tokio::net::TcpSocket::new_v4()?;
                    sock.bind(std::net::SocketAddr::new(ip, 0))?;
                    sock.connect(to).await
                }
            }
        };
        let s = match timeout(limit, connecting).await {
            Err(_) => return Err(ClientError::ConnectTimeout(addr.to_string())),
            Ok(Err(source)) => {
                return Err(ClientError::Connect {
                    addr: addr.to_string(),
                    source,
                })
            }
            Ok(Ok(s)) => s,
        };
        s.set_nodelay(true)?;
        Ok(Conn {
            stream: s,
            buf: BytesMut::with_capacity(4096),
            replies: ReplyDecoder::new(ReplyLimits {
                max_bulk_len: MAX_BULK,
                ..ReplyLimits::default()
            }),
            addr: addr.to_string(),
        })
    }

    /// Whether the peer has closed (or sent unsolicited bytes): the connection must not be reused.
    pub fn is_stale(&self) -> bool {
        if !self.buf.is_empty() {
            return true;
        }
        let mut b = [0u8; 1];
        match self.stream.try_read(&mut b) {
            Ok(_) => true,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => false,
            Err(_) => true,
        }
    }

    pub async fn send(&mut self, args: &[Vec<u8>]) -> Result<(), ClientError> {
        let mut buf = BytesMut::with_capacity(64);
        encode_command(args, &mut buf);
        self.stream.write_all(&buf).await?;
        Ok(())
    }

    /// Reads one reply.
    pub async fn read_reply(&mut self) -> Result<Frame, ClientError> {
        loop {
            match self.replies.decode(&mut self.buf) {
                Ok(Some(f)) => return Ok(f),
                Ok(None) => {}
                Err(e) => return Err(ClientError::Protocol(e.to_string())),
            }
            if self.stream.read_buf(&mut self.buf).await? == 0 {
                return Err(ClientError::Closed);
            }
        }
    }

    /// Sends `cmds` in one write and reads one reply per command, all bounded by `limit`.
    pub async fn call_pipeline(
        &mut self,
        cmds: &[Vec<Vec<u8>>],
        limit: Duration,
    ) -> Result<Vec<Frame>, ClientError> {
        timeout(limit, async {
            let mut buf = BytesMut::with_capacity(64 * cmds.len());
            for c in cmds {
                encode_command(c, &mut buf);
            }
            self.stream.write_all(&buf).await?;
            let mut out = Vec::with_capacity(cmds.len());
            for _ in cmds {
                out.push(self.read_reply().await?);
            }
            Ok(out)
        })
        .await
        .map_err(|_| ClientError::Timeout)?
    }

    /// Sends a command and reads its reply, bounded by `limit`.
    pub async fn call(&mut self, args: &[Vec<u8>], limit: Duration) -> Result<Frame, ClientError> {
        timeout(limit, async {
            self.send(args).await?;
            self.read_reply().await
        })
        .await
        .map_err(|_| ClientError::Timeout)?
    }
}

/// `INFO replication` of one node as a map.
pub async fn info_replication(
    addr: &str,
    limit: Duration,
) -> Result<HashMap<String, String>, ClientError> {
    info_replication_from(addr, None, limit).await
}

/// [`info_replication`] from the local address `from` (see [`Conn::connect_from`]).
pub async fn info_replication_from(
    addr: &str,
    from: Option<std::net::IpAddr>,
    limit: Duration,
) -> Result<HashMap<String, String>, ClientError> {
    let mut c = Conn::connect_from(addr, from, limit).await?;
    let r = c
        .call(&[b"INFO".to_vec(), b"replication".to_vec()], limit)
        .await?;
    let text = match r {
        Frame::Bulk(b) => String::from_utf8_lossy(&b).into_owned(),
        Frame::Error(e) => return Err(ClientError::Server(e)),
        other => {
            return Err(ClientError::Protocol(format!(
                "unexpected INFO reply {other:?}"
            )))
        }
    };
    Ok(text
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect())
}

/// What an error reply means for the op (docs/error-semantics.md).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// `-MOVED slot host:port`: not applied here; retry at the address.
    Moved(String),
    /// `-ASK slot host:port` (Redis Cluster, a slot in migration): not applied here; retry
    /// once at the address, preceded by `ASKING`.
    Ask(String),
    /// Definitely no effect.
    Fail,
    /// Unknown outcome.
    Info,
}

/// Classifies an error reply (without the leading `-`) by its code only, per the contract in
/// `sdr_resp::error_code`: a code outside the table is an unknown outcome.
pub fn classify_error(msg: &str) -> ErrorClass {
    match sdr_resp::classify(msg) {
        sdr_resp::ErrorClass::Redirect => match Redirect::parse(msg) {
            Some(r) if r.kind == RedirectKind::Moved => ErrorClass::Moved(r.addr),
            Some(r) if r.kind == RedirectKind::Ask => ErrorClass::Ask(r.addr),
            // A malformed redirect: not executed here.
            _ => ErrorClass::Fail,
        },
        sdr_resp::ErrorClass::NoEffect => ErrorClass::Fail,
        sdr_resp::ErrorClass::Unknown => ErrorClass::Info,
    }
}

/// A bulk reply as a history value. Every value the workload writes is an
/// integer, and Redis stores it as its decimal bytes; a reply that is a
/// canonical Redis integer is recorded as a JSON integer so models that compare
/// values exactly (`register`, `list`) see the value that was written.
fn bulk_json(b: &[u8]) -> Value {
    let s = String::from_utf8_lossy(b);
    match sdr_checker::models::parse_redis_int(&s) {
        Some(i) => json!(i),
        None => json!(s),
    }
}

/// Maps a non-error reply of `op` to its completion.
pub fn completion_for(op: &OpArgs, reply: &Frame) -> Completion {
    let unexpected = || Completion::Info {
        error: format!("unexpected reply {reply:?}"),
    };
    match (op, reply) {
        (OpArgs::Read, Frame::Bulk(b)) => Completion::Ok(bulk_json(b)),
        (OpArgs::Read, Frame::Null) => Completion::Ok(Value::Null),
        (OpArgs::Write(v), Frame::Simple(s)) if s == "OK" => Completion::Ok(json!(v)),
        (OpArgs::Cas(e, n), Frame::Simple(s)) if s == "OK" => Completion::Ok(json!([e, n])),
        // SET … IFEQ replies nil when the comparison failed: no effect, and the
        // value observed differs from `expected` — a fail without `error`.
        (OpArgs::Cas(..), Frame::Null) => Completion::Fail { error: None },
        (OpArgs::Delete, Frame::Integer(n)) if *n == 0 || *n == 1 => Completion::Ok(json!(n)),
        (OpArgs::Incr(_) | OpArgs::Append(_) | OpArgs::RPush(_), Frame::Integer(n)) => {
            Completion::Ok(json!(n))
        }
        (OpArgs::LRange, Frame::NullArray) => Completion::Ok(Value::Array(Vec::new())),
        (OpArgs::LRange, Frame::Array(a)) => Completion::Ok(Value::Array(
            a.iter()
                .map(|r| match r {
                    Frame::Bulk(b) => bulk_json(b),
                    Frame::Integer(i) => json!(i),
                    _ => Value::Null,
                })
                .collect(),
        )),
        _ => unexpected(),
    }
}

/// How a transaction's replies ended.
#[derive(Clone, Debug, PartialEq)]
pub enum TxnReply {
    Done(Completion),
    /// Nothing was applied and a queue-time `-MOVED` named the node that serves the slot.
    Moved(String),
}

/// One micro-op's element of EXEC's array as its history value (`None`: not its reply).
fn micro_result(m: &Micro, reply: &Frame) -> Option<Value> {
    Some(match (m, reply) {
        (Micro::Append(..), Frame::Integer(_)) => m.to_json(Value::Null),
        (Micro::Write(..), Frame::Simple(s)) if s == "OK" => m.to_json(Value::Null),
        (Micro::ReadList(_), Frame::NullArray) => m.to_json(json!([])),
        (Micro::ReadList(_), Frame::Array(a)) => m.to_json(Value::Array(
            a.iter()
                .map(|r| match r {
                    Frame::Bulk(b) => Some(bulk_json(b)),
                    _ => None,
                })
                .collect::<Option<Vec<Value>>>()?,
        )),
        (Micro::Read(_), Frame::Bulk(b)) => m.to_json(bulk_json(b)),
        (Micro::Read(_), Frame::Null) => m.to_json(Value::Null),
        _ => return None,
    })
}

/// Maps the replies to `MULTI`, the micro-ops' commands and `EXEC` (in that order) to the
/// transaction's completion, by error code only (docs/error-semantics.md):
/// - EXEC's array: `ok`, the micro-ops with every read's result filled in;
/// - EXEC's nil (a WATCH abort) or `-EXECABORT` (a queue-time error: nothing was proposed):
///   `fail`, or [`TxnReply::Moved`] when a queue-time `-MOVED` says where to retry;
/// - any other EXEC error by its class (`-TIMEOUT` = `info`; `-TRYAGAIN`, `-CLUSTERDOWN` =
///   `fail`);
/// - anything Redis 7 would not send (an error element inside EXEC's array, a queue error
///   followed by an array, a malformed reply; or MULTI refused when the replies were
///   pipelined — [`Client::execute`] sends MULTI alone so it never is): `info`.
pub fn txn_outcome(micro: &[Micro], replies: &[Frame]) -> TxnReply {
    let info = |error: String| TxnReply::Done(Completion::Info { error });
    if replies.len() != micro.len() + 2 {
        return info(format!(
            "{} replies to a transaction of {} commands",
            replies.len(),
            micro.len() + 2
        ));
    }
    match &replies[0] {
        Frame::Simple(s) if s == "OK" => {}
        other => return info(format!("MULTI answered {other:?}")),
    }
    let mut queue_error = None;
    let mut moved = None;
    for r in &replies[1..=micro.len()] {
        match r {
            Frame::Simple(s) if s == "QUEUED" => {}
            Frame::Error(e) => {
                if let ErrorClass::Moved(addr) = classify_error(e) {
                    moved.get_or_insert(addr);
                }
                queue_error.get_or_insert_with(|| e.clone());
            }
            other => return info(format!("unexpected queue reply {other:?}")),
        }
    }
    match &replies[micro.len() + 1] {
        Frame::Array(items) if queue_error.is_none() && items.len() == micro.len() => {
            let mut out = Vec::with_capacity(micro.len());
            for (m, r) in micro.iter().zip(items) {
                match micro_result(m, r) {
                    Some(v) => out.push(v),
                    None => return info(format!("EXEC element for {}: {r:?}", m.f())),
                }
            }
            TxnReply::Done(Completion::Ok(Value::Array(out)))
        }
        Frame::NullArray | Frame::Null if queue_error.is_none() => {
            TxnReply::Done(Completion::Fail {
                error: Some("EXEC aborted: a watched key changed".into()),
            })
        }
        Frame::Error(e) => match classify_error(e) {
            ErrorClass::Moved(addr) => TxnReply::Moved(addr),
            // ASK is a single-command redirect: an aborted transaction is simply not applied.
            ErrorClass::Fail | ErrorClass::Ask(_) => match moved {
                Some(addr) if ErrorCode::of_reply(e) == Some(ErrorCode::ExecAbort) => {
                    TxnReply::Moved(addr)
                }
                _ => TxnReply::Done(Completion::Fail {
                    error: Some(match queue_error {
                        Some(q) => format!("{e} ({q})"),
                        None => e.clone(),
                    }),
                }),
            },
            ErrorClass::Info => info(e.clone()),
        },
        other => info(format!("EXEC answered {other:?}")),
    }
}

/// Whether any reply is `-CLUSTERDOWN` or `-TRYAGAIN` (this node knows no leader).
fn no_leader_reply(replies: &[Frame]) -> bool {
    replies.iter().any(|r| {
        matches!(r, Frame::Error(e) if matches!(
            ErrorCode::of_reply(e),
            Some(ErrorCode::ClusterDown | ErrorCode::TryAgain)
        ))
    })
}

/// Compare-and-set for servers without `SET … IFEQ` (Redis 7.0): one Lua script, atomic on
/// the server; `+OK` when it swapped, nil when the comparison failed (as `SET … IFEQ`).
pub const CAS_SCRIPT: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
redis.call('SET', KEYS[1], ARGV[2]) return redis.status_reply('OK') else return false end";

/// The commands for `op`, with cas as [`CAS_SCRIPT`] when `cas_via_eval`.
pub fn op_commands(op: &OpArgs, key: &str, cas_via_eval: bool) -> Vec<Vec<Vec<u8>>> {
    match op {
        OpArgs::Cas(e, n) if cas_via_eval => vec![vec![
            b"EVAL".to_vec(),
            CAS_SCRIPT.as_bytes().to_vec(),
            b"1".to_vec(),
            key.as_bytes().to_vec(),
            e.to_string().into_bytes(),
            n.to_string().into_bytes(),
        ]],
        _ => op.commands(key),
    }
}

/// Whether `op` changes the key when it succeeds (what `WAIT` follows).
fn is_write(op: &OpArgs) -> bool {
    matches!(
        op,
        OpArgs::Write(_)
            | OpArgs::Cas(..)
            | OpArgs::Delete
            | OpArgs::Incr(_)
            | OpArgs::Append(_)
            | OpArgs::RPush(_)
    )
}

fn is_read(op: &OpArgs) -> bool {
    matches!(op, OpArgs::Read | OpArgs::LRange)
}

/// `ROLE`'s first element (`master` / `slave` / `sentinel`).
async fn role_of(conn: &mut Conn, limit: Duration) -> Result<String, ClientError> {
    match conn.call(&[b"ROLE".to_vec()], limit).await? {
        Frame::Array(a) => match a.first() {
            Some(Frame::Bulk(b)) => Ok(String::from_utf8_lossy(b).into_owned()),
            other => Err(ClientError::Protocol(format!("ROLE answered {other:?}"))),
        },
        Frame::Error(e) => Err(ClientError::Server(e)),
        other => Err(ClientError::Protocol(format!("ROLE answered {other:?}"))),
    }
}

/// Asks one Sentinel for the primary (`SENTINEL get-master-addr-by-name`) or the healthy
/// replicas (`SENTINEL replicas`, without `s_down`/`o_down`/`disconnected` flags).
pub async fn sentinel_lookup(
    sentinel: &str,
    master: &str,
    replicas: bool,
    limit: Duration,
) -> Result<Vec<String>, ClientError> {
    let mut c = Conn::connect(sentinel, limit).await?;
    let s = |x: &str| x.as_bytes().to_vec();
    if !replicas {
        return match c
            .call(
                &[s("SENTINEL"), s("get-master-addr-by-name"), s(master)],
                limit,
            )
            .await?
        {
            Frame::Array(a) => match a.as_slice() {
                [Frame::Bulk(h), Frame::Bulk(p)] => Ok(vec![format!(
                    "{}:{}",
                    String::from_utf8_lossy(h),
                    String::from_utf8_lossy(p)
                )]),
                _ => Err(ClientError::Protocol(format!("odd primary address {a:?}"))),
            },
            Frame::NullArray | Frame::Null => Ok(vec![]),
            Frame::Error(e) => Err(ClientError::Server(e)),
            other => Err(ClientError::Protocol(format!("unexpected reply {other:?}"))),
        };
    }
    let r = c
        .call(&[s("SENTINEL"), s("replicas"), s(master)], limit)
        .await?;
    let Frame::Array(list) = r else {
        return Err(ClientError::Protocol(format!("unexpected reply {r:?}")));
    };
    let mut out = Vec::new();
    for item in list {
        let Frame::Array(kv) = item else { continue };
        let mut m = HashMap::new();
        for pair in kv.chunks(2) {
            if let [Frame::Bulk(k), Frame::Bulk(v)] = pair {
                m.insert(
                    String::from_utf8_lossy(k).into_owned(),
                    String::from_utf8_lossy(v).into_owned(),
                );
            }
        }
        let flags = m.get("flags").cloned().unwrap_or_default();
        if flags
            .split(',')
            .any(|f| matches!(f, "s_down" | "o_down" | "disconnected"))
        {
            continue;
        }
        if let (Some(ip), Some(port)) = (m.get("ip"), m.get("port")) {
            out.push(format!("{ip}:{port}"));
        }
    }
    Ok(out)
}

/// A client for one process slot.
pub struct Client {
    addrs: Vec<String>,
    current: usize,
    conn: Option<Conn>,
    op_timeout: Duration,
    max_redirects: usize,
    /// With pinning: every op starts at this node (reads reach followers).
    home: Option<usize>,
    /// Open connections to other nodes, kept while pinned.
    parked: HashMap<String, Conn>,
    /// How to route, WAIT, cas (what the system under test asks for).
    cfg: ClientConfig,
    /// Sentinel routing: the address resolved for writes (primary) and for reads (replica).
    resolved: [Option<String>; 2],
    /// Sentinel routing: which Sentinel to ask first (rotates on failure).
    sentinel_next: usize,
    /// The process slot (picks a replica for reads).
    slot: usize,
}

impl Client {
    /// `addrs`: client addresses of every node; the client starts at `first`.
    pub fn new(addrs: Vec<String>, first: usize, op_timeout: Duration) -> Client {
        let current = if addrs.is_empty() {
            0
        } else {
            first % addrs.len()
        };
        Client {
            addrs,
            current,
            conn: None,
            op_timeout,
            max_redirects: 3,
            home: None,
            parked: HashMap::new(),
            cfg: ClientConfig::direct(),
            resolved: [None, None],
            sentinel_next: first,
            slot: first,
        }
    }

    /// Routes, waits and compares-and-sets as the system under test asks.
    pub fn with_config(mut self, cfg: ClientConfig) -> Client {
        self.cfg = cfg;
        self
    }

    /// Sentinel routing: the address for this op (asks the Sentinels when none is known).
    async fn resolve(&mut self, reads: bool, limit: Duration) -> Result<String, String> {
        let Route::Sentinel { sentinels, master } = &self.cfg.route else {
            return Err("not a Sentinel route".into());
        };
        let idx = usize::from(reads);
        if let Some(a) = &self.resolved[idx] {
            return Ok(a.clone());
        }
        let mut errors = Vec::new();
        let per = (limit / sentinels.len().max(1) as u32).max(Duration::from_millis(50));
        for k in 0..sentinels.len() {
            let i = (self.sentinel_next + k) % sentinels.len();
            match sentinel_lookup(&sentinels[i], master, reads, per).await {
                Ok(list) if !list.is_empty() => {
                    self.sentinel_next = i;
                    let a = list[self.slot % list.len()].clone();
                    self.resolved[idx] = Some(a.clone());
                    return Ok(a);
                }
                Ok(_) => errors.push(format!("{}: none known", sentinels[i])),
                Err(e) => errors.push(format!("{}: {e}", sentinels[i])),
            }
        }
        self.sentinel_next += 1;
        Err(format!(
            "no Sentinel named a {}: {}",
            if reads { "replica" } else { "primary" },
            errors.join("; ")
        ))
    }

    /// Forgets the resolved addresses and the connection (re-resolve before the next op).
    fn forget_route(&mut self) {
        self.resolved = [None, None];
        self.conn = None;
    }

    /// Pins the client to its first node: every op is sent there first (`-MOVED` still
    /// redirects that op), so reads are served by whichever node the client is pinned to.
    pub fn pinned(mut self) -> Client {
        self.home = Some(self.current);
        self
    }

    /// Moves to node `idx`, keeping the current connection for later when pinned.
    fn switch_to(&mut self, idx: usize) {
        if idx == self.current {
            return;
        }
        if let Some(c) = self.conn.take() {
            if self.home.is_some() {
                self.parked.insert(c.addr.clone(), c);
            }
        }
        self.current = idx;
        if let Some(a) = self.addrs.get(idx) {
            self.conn = self.parked.remove(a);
        }
    }

    pub fn set_addrs(&mut self, addrs: Vec<String>) {
        self.addrs = addrs;
        self.current = 0;
        self.conn = None;
    }

    fn rotate(&mut self) {
        if !self.addrs.is_empty() && self.home.is_none() {
            self.current = (self.current + 1) % self.addrs.len();
        }
    }

    fn point_at(&mut self, addr: &str) {
        let i = match self.addrs.iter().position(|a| a == addr) {
            Some(i) => i,
            None => {
                self.addrs.push(addr.to_string());
                self.addrs.len() - 1
            }
        };
        self.switch_to(i);
    }

    /// Executes `op` on `key` and classifies the outcome.
    ///
    /// Sentinel routing (Redis's "Sentinel clients" guidelines): the primary comes from the
    /// Sentinels, a new connection is checked with `ROLE`, and after any error or `-READONLY`
    /// the client asks the Sentinels again. With `read-from: replicas`, reads go to a replica
    /// from `SENTINEL replicas`. With `wait`, every acknowledged write is followed by `WAIT`;
    /// fewer replicas than asked make the write `info` (applied on the primary, but not known
    /// to survive a failover: Redis does not roll it back), as does a WAIT that fails.
    pub async fn execute(&mut self, key: &str, op: &OpArgs) -> Completion {
        let deadline = Instant::now() + self.op_timeout;
        let sentinel = matches!(self.cfg.route, Route::Sentinel { .. });
        if sentinel {
            let reads = self.cfg.read_from_replicas && is_read(op);
            let known = self.resolved[usize::from(reads)].is_some();
            match self.resolve(reads, self.op_timeout).await {
                Ok(addr) => {
                    let fresh = !known || self.addrs.get(self.current) != Some(&addr);
                    self.point_at(&addr);
                    if fresh || self.conn.is_none() {
                        // Check the role on a fresh connection before sending the op.
                        self.conn = None;
                        let left = deadline.saturating_duration_since(Instant::now());
                        let want = if reads { "slave" } else { "master" };
                        let checked = match Conn::connect(&addr, left).await {
                            Ok(mut c) => match role_of(&mut c, left).await {
                                Ok(r) if r == want => Ok(c),
                                Ok(r) => Err(format!("{addr} is a {r}, not a {want}")),
                                Err(e) => Err(format!("ROLE at {addr}: {e}")),
                            },
                            Err(e) => Err(e.to_string()),
                        };
                        match checked {
                            Ok(c) => self.conn = Some(c),
                            Err(e) => {
                                self.forget_route();
                                return Completion::Fail { error: Some(e) };
                            }
                        }
                    }
                }
                Err(e) => return Completion::Fail { error: Some(e) },
            }
        }
        let c = self.execute_at(key, op, deadline).await;
        if sentinel
            && matches!(
                c,
                Completion::Fail { error: Some(_) } | Completion::Info { .. }
            )
        {
            self.forget_route();
        }
        c
    }

    /// `WAIT` after an acknowledged write on the same connection (see [`Client::execute`]).
    async fn wait_replicas(&mut self, c: Completion, deadline: Instant) -> Completion {
        let Some((n, ms)) = self.cfg.wait else {
            return c;
        };
        let Some(conn) = self.conn.as_mut() else {
            return c;
        };
        let left = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(ms + 200));
        let argv = vec![
            b"WAIT".to_vec(),
            n.to_string().into_bytes(),
            ms.to_string().into_bytes(),
        ];
        match conn.call(&argv, left).await {
            Ok(Frame::Integer(k)) if k >= i64::from(n) => c,
            Ok(Frame::Integer(k)) => Completion::Info {
                error: format!("WAIT: {k} of {n} replicas acknowledged the write"),
            },
            Ok(other) => {
                self.conn = None;
                Completion::Info {
                    error: format!("WAIT answered {other:?}"),
                }
            }
            Err(e) => {
                self.conn = None;
                Completion::Info {
                    error: format!("WAIT: {e}"),
                }
            }
        }
    }

    /// One op from the current node on: connect, send, follow redirects, classify.
    async fn execute_at(&mut self, key: &str, op: &OpArgs, deadline: Instant) -> Completion {
        let cmds = op_commands(op, key, self.cfg.cas_via_eval);
        let mut redirects = 0;
        // The next attempt is at an `-ASK` target: send `ASKING` first.
        let mut asking = false;
        if let Some(h) = self.home {
            self.switch_to(h);
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                // Nothing has been sent in this attempt yet (we loop only before sending).
                return Completion::Fail {
                    error: Some("no node reachable before the op timeout".into()),
                };
            }
            if self.conn.as_ref().is_some_and(Conn::is_stale) {
                self.conn = None;
            }
            if self.conn.is_none() {
                let Some(addr) = self.addrs.get(self.current).cloned() else {
                    return Completion::Fail {
                        error: Some("no node addresses".into()),
                    };
                };
                match Conn::connect(&addr, left).await {
                    Ok(c) => self.conn = Some(c),
                    Err(e) => {
                        // Nothing was sent: definitely no effect.
                        self.rotate();
                        return Completion::Fail {
                            error: Some(e.to_string()),
                        };
                    }
                }
            }
            let Some(conn) = self.conn.as_mut() else {
                return Completion::Fail {
                    error: Some("no connection".into()),
                };
            };
            // From here on the command may reach the server.
            if let OpArgs::Txn(micro) = op {
                // MULTI alone first: if it is refused (or the connection dies) nothing else
                // was sent, so nothing can have run — and no command runs outside MULTI.
                let multi = match conn.call(&cmds[0], left).await {
                    Err(e) => {
                        self.conn = None;
                        self.rotate();
                        return Completion::Fail {
                            error: Some(format!("MULTI: {e}")),
                        };
                    }
                    Ok(Frame::Error(msg)) => {
                        self.conn = None;
                        return match classify_error(&msg) {
                            ErrorClass::Info => Completion::Info { error: msg },
                            _ => {
                                self.rotate();
                                Completion::Fail { error: Some(msg) }
                            }
                        };
                    }
                    Ok(Frame::Simple(ok)) if ok == "OK" => Frame::Simple(ok),
                    Ok(other) => {
                        self.conn = None;
                        return Completion::Fail {
                            error: Some(format!("MULTI answered {other:?}")),
                        };
                    }
                };
                let left = deadline.saturating_duration_since(Instant::now());
                let (outcome, no_leader) = match conn.call_pipeline(&cmds[1..], left).await {
                    Err(e) => (
                        TxnReply::Done(Completion::Info {
                            error: e.to_string(),
                        }),
                        false,
                    ),
                    Ok(rest) => {
                        let mut replies = Vec::with_capacity(rest.len() + 1);
                        replies.push(multi);
                        replies.extend(rest);
                        (txn_outcome(micro, &replies), no_leader_reply(&replies))
                    }
                };
                match outcome {
                    TxnReply::Moved(addr) => {
                        redirects += 1;
                        if redirects > self.max_redirects {
                            return Completion::Fail {
                                error: Some(format!("more than {} redirects", self.max_redirects)),
                            };
                        }
                        if self.home.is_none() {
                            self.conn = None;
                        }
                        self.point_at(&addr);
                        continue;
                    }
                    TxnReply::Done(c) => {
                        if matches!(c, Completion::Info { .. }) {
                            self.conn = None;
                        } else if no_leader {
                            // Maybe this node lost leadership; try another next time.
                            self.conn = None;
                            self.rotate();
                        }
                        return c;
                    }
                }
            }
            let reply = match cmds.first() {
                Some(cmd) if asking => {
                    asking = false;
                    match conn
                        .call_pipeline(&[vec![b"ASKING".to_vec()], cmd.clone()], left)
                        .await
                    {
                        Ok(mut r) if r.len() == 2 => match r.remove(0) {
                            Frame::Simple(ok) if ok == "OK" => Ok(r.remove(0)),
                            other => {
                                Err(ClientError::Protocol(format!("ASKING answered {other:?}")))
                            }
                        },
                        Ok(r) => Err(ClientError::Protocol(format!(
                            "{} replies to ASKING + command",
                            r.len()
                        ))),
                        Err(e) => Err(e),
                    }
                }
                Some(cmd) => conn.call(cmd, left).await,
                None => Err(ClientError::Protocol("no command".into())),
            };
            match reply {
                Err(e) => {
                    self.conn = None;
                    return Completion::Info {
                        error: e.to_string(),
                    };
                }
                Ok(Frame::Error(msg)) => match classify_error(&msg) {
                    ErrorClass::Moved(addr) => {
                        redirects += 1;
                        if redirects > self.max_redirects {
                            return Completion::Fail { error: Some(msg) };
                        }
                        if self.home.is_none() {
                            self.conn = None;
                        }
                        self.point_at(&addr);
                    }
                    ErrorClass::Ask(addr) => {
                        // The slot is migrating: this one command is retried at the target,
                        // after ASKING; the client's idea of the slot's owner stays as it was.
                        redirects += 1;
                        if redirects > self.max_redirects {
                            return Completion::Fail { error: Some(msg) };
                        }
                        if self.home.is_none() {
                            self.conn = None;
                        }
                        self.point_at(&addr);
                        asking = true;
                    }
                    ErrorClass::Fail => {
                        if matches!(
                            ErrorCode::of_reply(&msg),
                            Some(ErrorCode::ClusterDown | ErrorCode::TryAgain)
                        ) {
                            // Maybe this node lost leadership; try another next time.
                            self.conn = None;
                            self.rotate();
                        }
                        return Completion::Fail { error: Some(msg) };
                    }
                    ErrorClass::Info => {
                        self.conn = None;
                        return Completion::Info { error: msg };
                    }
                },
                Ok(r) => {
                    let c = completion_for(op, &r);
                    if matches!(c, Completion::Info { .. }) {
                        self.conn = None;
                    }
                    if matches!(c, Completion::Ok(_)) && is_write(op) {
                        return self.wait_replicas(c, deadline).await;
                    }
                    return c;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncBufReadExt, BufReader};
    use tokio::net::TcpListener;

    #[test]
    fn error_classes() {
        assert_eq!(
            classify_error("MOVED 3999 127.0.0.1:6381"),
            ErrorClass::Moved("127.0.0.1:6381".into())
        );
        assert_eq!(classify_error("CLUSTERDOWN no leader"), ErrorClass::Fail);
        assert_eq!(
            classify_error("TRYAGAIN no Raft leader is available yet"),
            ErrorClass::Fail
        );
        assert_eq!(
            classify_error("TIMEOUT the write was not confirmed within 5000 ms"),
            ErrorClass::Info
        );
        assert_eq!(
            classify_error(
                "TIMEOUT the node stopped before the write completed; it may or may not be applied"
            ),
            ErrorClass::Info
        );
        // By code only: an ERR is no effect whatever its text.
        assert_eq!(
            classify_error("ERR raft stopped before the write completed"),
            ErrorClass::Fail
        );
        assert_eq!(
            classify_error("ASK 12 127.0.0.1:6381"),
            ErrorClass::Ask("127.0.0.1:6381".into())
        );
        assert_eq!(classify_error("ASK 12"), ErrorClass::Fail);
        assert_eq!(
            classify_error("READONLY You can't write against a read only replica."),
            ErrorClass::Fail
        );
        assert_eq!(classify_error("MOVED 12"), ErrorClass::Fail);
        assert_eq!(
            classify_error("ERR value is not an integer or out of range"),
            ErrorClass::Fail
        );
        assert_eq!(
            classify_error("WRONGTYPE Operation against a key"),
            ErrorClass::Fail
        );
        assert_eq!(classify_error("WEIRD new error"), ErrorClass::Info);
    }

    #[test]
    fn replies_to_completions() {
        assert_eq!(
            completion_for(&OpArgs::Read, &Frame::Null),
            Completion::Ok(Value::Null)
        );
        assert_eq!(
            completion_for(&OpArgs::Read, &Frame::bulk("7")),
            Completion::Ok(json!(7))
        );
        assert_eq!(
            completion_for(&OpArgs::Read, &Frame::bulk("07")),
            Completion::Ok(json!("07"))
        );
        assert_eq!(
            completion_for(&OpArgs::Read, &Frame::bulk("a1")),
            Completion::Ok(json!("a1"))
        );
        assert_eq!(
            completion_for(&OpArgs::Write(3), &Frame::ok()),
            Completion::Ok(json!(3))
        );
        assert_eq!(
            completion_for(&OpArgs::Cas(1, 2), &Frame::ok()),
            Completion::Ok(json!([1, 2]))
        );
        assert_eq!(
            completion_for(&OpArgs::Cas(1, 2), &Frame::Null),
            Completion::Fail { error: None }
        );
        assert_eq!(
            completion_for(&OpArgs::Incr(2), &Frame::Integer(9)),
            Completion::Ok(json!(9))
        );
        assert_eq!(
            completion_for(&OpArgs::LRange, &Frame::Array(vec![Frame::bulk("1")])),
            Completion::Ok(json!([1]))
        );
        assert!(matches!(
            completion_for(&OpArgs::Write(1), &Frame::Integer(1)),
            Completion::Info { .. }
        ));
    }

    /// A scripted fake server: for each accepted connection, reads one command and replies with
    /// the next canned bytes (or closes without replying when the script says so).
    async fn fake(script: Vec<Option<&'static [u8]>>) -> (String, tokio::task::JoinHandle<()>) {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = l.local_addr().expect("addr").to_string();
        let h = tokio::spawn(async move {
            let Ok((s, _)) = l.accept().await else { return };
            let mut s = BufReader::new(s);
            for step in script {
                let mut line = Vec::new();
                // Read the array header and every arg line pair.
                if s.read_until(b'\n', &mut line).await.unwrap_or(0) == 0 {
                    return;
                }
                let n: usize = std::str::from_utf8(&line[1..line.len() - 2])
                    .ok()
                    .and_then(|x| x.parse().ok())
                    .unwrap_or(0);
                for _ in 0..2 * n {
                    let mut l2 = Vec::new();
                    let _ = s.read_until(b'\n', &mut l2).await;
                }
                match step {
                    Some(bytes) => {
                        let _ = s.get_mut().write_all(bytes).await;
                    }
                    None => return,
                }
            }
            // Keep the connection open until the client goes away.
            let mut sink = Vec::new();
            let _ = s.read_to_end(&mut sink).await;
        });
        (addr, h)
    }

    #[tokio::test]
    async fn follows_moved_and_classifies() {
        let (leader, _h1) = fake(vec![
            Some(b"+OK\r\n"),
            Some(b"$-1\r\n"),
            Some(b"-TIMEOUT not confirmed\r\n"),
        ])
        .await;
        let moved: &'static [u8] = Box::leak(
            format!("-MOVED 12 {leader}\r\n")
                .into_bytes()
                .into_boxed_slice(),
        );
        let (follower, _h2) = fake(vec![Some(moved)]).await;
        let mut c = Client::new(vec![follower], 0, Duration::from_secs(2));
        assert_eq!(
            c.execute("k", &OpArgs::Write(5)).await,
            Completion::Ok(json!(5))
        );
        assert_eq!(
            c.execute("k", &OpArgs::Cas(4, 6)).await,
            Completion::Fail { error: None }
        );
        assert!(matches!(
            c.execute("k", &OpArgs::Write(7)).await,
            Completion::Info { .. }
        ));
    }

    #[tokio::test]
    async fn refused_is_fail_and_lost_after_send_is_info() {
        // A port nobody listens on: bind, take the address, close.
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let dead = l.local_addr().expect("addr").to_string();
        drop(l);
        let mut c = Client::new(vec![dead], 0, Duration::from_secs(1));
        assert!(matches!(
            c.execute("k", &OpArgs::Write(1)).await,
            Completion::Fail { error: Some(_) }
        ));

        let (addr, _h) = fake(vec![None]).await;
        let mut c = Client::new(vec![addr], 0, Duration::from_secs(1));
        match c.execute("k", &OpArgs::Write(1)).await {
            Completion::Info { error } => assert!(error.contains("closed"), "{error}"),
            other => panic!("expected info, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn silent_server_times_out_as_info() {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = l.local_addr().expect("addr").to_string();
        let _h = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = l.accept().await {
                held.push(s);
            }
        });
        let mut c = Client::new(vec![addr], 0, Duration::from_millis(200));
        let t = std::time::Instant::now();
        assert!(matches!(
            c.execute("k", &OpArgs::Incr(1)).await,
            Completion::Info { .. }
        ));
        assert!(t.elapsed() < Duration::from_secs(2));
    }

    fn la() -> Vec<Micro> {
        vec![Micro::Append("k1".into(), 7), Micro::ReadList("k2".into())]
    }

    fn queued(n: usize) -> Vec<Frame> {
        let mut v = vec![Frame::ok()];
        v.extend((0..n).map(|_| Frame::Simple("QUEUED".into())));
        v
    }

    #[test]
    fn exec_replies_to_txn_completions() {
        // Array: ok, reads filled in (an empty list reads as []).
        let mut r = queued(2);
        r.push(Frame::Array(vec![
            Frame::Integer(3),
            Frame::Array(vec![Frame::bulk("1"), Frame::bulk("3")]),
        ]));
        assert_eq!(
            txn_outcome(&la(), &r),
            TxnReply::Done(Completion::Ok(json!([
                ["append", "k1", 7],
                ["r", "k2", [1, 3]]
            ])))
        );
        let mut r = queued(2);
        r.push(Frame::Array(vec![Frame::Integer(1), Frame::Array(vec![])]));
        assert_eq!(
            txn_outcome(&la(), &r),
            TxnReply::Done(Completion::Ok(json!([
                ["append", "k1", 7],
                ["r", "k2", []]
            ])))
        );
        let rw = vec![
            Micro::Write("a".into(), 5),
            Micro::Read("b".into()),
            Micro::Read("a".into()),
        ];
        let mut r = queued(3);
        r.push(Frame::Array(vec![
            Frame::ok(),
            Frame::Null,
            Frame::bulk("5"),
        ]));
        assert_eq!(
            txn_outcome(&rw, &r),
            TxnReply::Done(Completion::Ok(json!([
                ["w", "a", 5],
                ["r", "b", null],
                ["r", "a", 5]
            ])))
        );
        // Nil (WATCH abort): fail.
        for nil in [Frame::NullArray, Frame::Null] {
            let mut r = queued(2);
            r.push(nil);
            assert!(matches!(
                txn_outcome(&la(), &r),
                TxnReply::Done(Completion::Fail { error: Some(_) })
            ));
        }
        // A queue-time error, then EXECABORT: fail, nothing applied.
        let r = vec![
            Frame::ok(),
            Frame::Simple("QUEUED".into()),
            Frame::error(ErrorCode::ClusterDown, "no leader"),
            Frame::error(
                ErrorCode::ExecAbort,
                "Transaction discarded because of previous errors.",
            ),
        ];
        match txn_outcome(&la(), &r) {
            TxnReply::Done(Completion::Fail { error: Some(e) }) => {
                assert!(
                    e.starts_with("EXECABORT") && e.contains("CLUSTERDOWN"),
                    "{e}"
                )
            }
            other => panic!("{other:?}"),
        }
        assert!(no_leader_reply(&r));
        // A queue-time MOVED: retry there.
        let r = vec![
            Frame::ok(),
            Frame::Error("MOVED 3 127.0.0.1:7001".into()),
            Frame::Error("MOVED 3 127.0.0.1:7001".into()),
            Frame::error(
                ErrorCode::ExecAbort,
                "Transaction discarded because of previous errors.",
            ),
        ];
        assert_eq!(
            txn_outcome(&la(), &r),
            TxnReply::Moved("127.0.0.1:7001".into())
        );
        assert!(!no_leader_reply(&r));
        // EXEC's own errors by code: TIMEOUT unknown, TRYAGAIN no effect.
        let mut r = queued(2);
        r.push(Frame::error(
            ErrorCode::Timeout,
            "the write was not confirmed",
        ));
        assert!(matches!(
            txn_outcome(&la(), &r),
            TxnReply::Done(Completion::Info { .. })
        ));
        let mut r = queued(2);
        r.push(Frame::error(ErrorCode::TryAgain, "no leader yet"));
        assert!(matches!(
            txn_outcome(&la(), &r),
            TxnReply::Done(Completion::Fail { error: Some(_) })
        ));
        // Not what Redis 7 sends: unknown outcome.
        let mut r = queued(2);
        r.push(Frame::Array(vec![
            Frame::Integer(1),
            Frame::err("WRONGTYPE x"),
        ]));
        assert!(matches!(
            txn_outcome(&la(), &r),
            TxnReply::Done(Completion::Info { .. })
        ));
        let mut r = queued(2);
        r.push(Frame::Array(vec![Frame::Integer(1)]));
        assert!(matches!(
            txn_outcome(&la(), &r),
            TxnReply::Done(Completion::Info { .. })
        ));
        let mut r = vec![Frame::err("MULTI calls can not be nested")];
        r.extend(queued(2).into_iter().skip(1));
        r.push(Frame::Array(vec![]));
        assert!(matches!(
            txn_outcome(&la(), &r),
            TxnReply::Done(Completion::Info { .. })
        ));
        assert!(matches!(
            txn_outcome(&la(), &queued(2)),
            TxnReply::Done(Completion::Info { .. })
        ));
        // A queue error and yet an array: unknown (Redis 7 aborts).
        let r = vec![
            Frame::ok(),
            Frame::Simple("QUEUED".into()),
            Frame::err("unknown command"),
            Frame::Array(vec![Frame::Integer(1)]),
        ];
        assert!(matches!(
            txn_outcome(&la(), &r),
            TxnReply::Done(Completion::Info { .. })
        ));
    }

    #[tokio::test]
    async fn txn_follows_moved_and_classifies_lost_connections() {
        let (leader, _h1) = fake(vec![
            Some(b"+OK\r\n"),
            Some(b"+QUEUED\r\n"),
            Some(b"+QUEUED\r\n"),
            Some(b"*2\r\n:1\r\n*1\r\n$1\r\n9\r\n"),
        ])
        .await;
        let moved: &'static [u8] = Box::leak(
            format!("-MOVED 5 {leader}\r\n")
                .into_bytes()
                .into_boxed_slice(),
        );
        let (follower, _h2) = fake(vec![
            Some(b"+OK\r\n"),
            Some(moved),
            Some(moved),
            Some(b"-EXECABORT Transaction discarded because of previous errors.\r\n"),
        ])
        .await;
        let mut c = Client::new(vec![follower], 0, Duration::from_secs(2));
        let op = OpArgs::Txn(la());
        assert_eq!(
            c.execute("", &op).await,
            Completion::Ok(json!([["append", "k1", 7], ["r", "k2", [9]]]))
        );
        // The commands sent after MULTI's +OK, then the connection lost: unknown outcome.
        let (addr, _h) = fake(vec![Some(b"+OK\r\n"), None]).await;
        let mut c = Client::new(vec![addr], 0, Duration::from_secs(1));
        assert!(matches!(c.execute("", &op).await, Completion::Info { .. }));
        // MULTI refused (as the harness proxy refuses for a dead node) or never answered:
        // nothing else was sent, so nothing ran.
        let (addr, _h) = fake(vec![Some(b"-CLUSTERDOWN n1 is unreachable\r\n"), None]).await;
        let mut c = Client::new(vec![addr], 0, Duration::from_secs(1));
        assert!(matches!(
            c.execute("", &op).await,
            Completion::Fail { error: Some(_) }
        ));
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = l.local_addr().expect("addr").to_string();
        let _h = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = l.accept().await {
                held.push(s);
            }
        });
        let mut c = Client::new(vec![addr], 0, Duration::from_millis(200));
        assert!(matches!(
            c.execute("", &op).await,
            Completion::Fail { error: Some(_) }
        ));
    }
}
