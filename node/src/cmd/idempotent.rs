//! `IDEMPOTENT client-id seq command [args...]`: exactly-once retries of a write.
//!
//! A client that may retry after a lost reply (timeout, dropped connection, failover) tags each
//! write with its own id and a sequence number that grows by at least one per new write. The
//! state machine remembers, per client, the last sequence number applied and its reply (as an
//! ordinary replicated key, so snapshots, followers and new leaders all know it):
//!
//! - `seq` greater than the last applied: the command is applied and its reply remembered;
//! - `seq` equal to the last applied: a retry — the remembered reply is returned and the command
//!   is **not** applied again (an `INCR` retried after a lost reply increments once);
//! - `seq` smaller: `-ERR stale request …`, nothing applied.
//!
//! The record is named `\0sdr:req:<client-id>` and has a one-hour deadline taken from the
//! entry's stamped time, so abandoned clients cost nothing after an hour and every replica
//! agrees on when it goes. A retry more than an hour after the original is applied again.
//! Records live apart from the user keys ([`Keyspace::insert_record`]): KEYS/SCAN/DBSIZE do
//! not see them, FLUSHALL keeps them, and a user command naming a key under the prefix is
//! refused when parsed, so no client can forge or erase exactly-once state
//! (docs/commands.md, docs/security.md). Snapshots carry them.

use bytes::{BufMut, Bytes, BytesMut};

use crate::keyspace::{Keyspace, Value};
use crate::resp::Frame;

use super::{Command, WriteCommand};

/// How long a client's last reply is remembered, in stamped milliseconds.
pub const WINDOW_MS: u64 = 3_600_000;

/// Key prefix of the per-client records.
pub use crate::keyspace::RECORD_PREFIX;

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct IdemOp {
    client: Bytes,
    seq: u64,
    inner: Box<WriteCommand>,
}

/// `argv` = `IDEMPOTENT client-id seq command [args...]` (arity checked by the caller).
pub(crate) fn parse(argv: &[Bytes]) -> Result<IdemOp, Frame> {
    let client = argv[1].clone();
    if client.is_empty() {
        return Err(Frame::err("IDEMPOTENT needs a non-empty client id"));
    }
    let seq = std::str::from_utf8(&argv[2])
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| Frame::err("IDEMPOTENT sequence number must be a non-negative integer"))?;
    // Checked before parsing the wrapped command: parsing a nested IDEMPOTENT would recurse
    // once per level, and a client controls the depth (100,000 levels overflow the stack).
    if argv
        .get(3)
        .and_then(|n| super::lookup(n))
        .is_some_and(|spec| spec.name == "idempotent")
    {
        return Err(Frame::err("IDEMPOTENT cannot be nested"));
    }
    let inner = match Command::parse(&argv[3..])? {
        Command::Write(w) => w,
        Command::Read(_) => return Err(Frame::err("IDEMPOTENT only wraps write commands")),
    };
    Ok(IdemOp {
        client,
        seq,
        inner: Box::new(inner),
    })
}

fn record_key(client: &[u8]) -> Bytes {
    let mut k = BytesMut::with_capacity(RECORD_PREFIX.len() + client.len());
    k.put_slice(RECORD_PREFIX);
    k.put_slice(client);
    k.freeze()
}

/// Record value: the sequence number (8 bytes, little endian), then the reply in RESP.
fn encode_record(seq: u64, reply: &Frame) -> Bytes {
    let mut b = BytesMut::with_capacity(32);
    b.put_u64_le(seq);
    reply.encode(&mut b);
    b.freeze()
}

fn decode_record(v: &[u8]) -> Option<(u64, Frame)> {
    let seq = u64::from_le_bytes(v.get(..8)?.try_into().ok()?);
    let mut rest = BytesMut::from(&v[8..]);
    let frame = crate::resp::decode_frame(&mut rest).ok()??;
    Some((seq, frame))
}

impl IdemOp {
    pub(crate) fn write(&self, ks: &mut Keyspace, now_ms: u64) -> Frame {
        let key = record_key(&self.client);
        let last = ks.record(&key, now_ms).and_then(|e| match &e.value {
            Value::Str(v) => decode_record(v),
            _ => None,
        });
        if let Some((seq, reply)) = last {
            if self.seq == seq {
                return reply;
            }
            if self.seq < seq {
                return Frame::err(format!(
                    "stale request: sequence {} of client '{}' is older than the last applied ({seq})",
                    self.seq,
                    String::from_utf8_lossy(&self.client)
                ));
            }
        }
        let reply = self.inner.apply(ks, now_ms);
        ks.insert_record(
            key,
            Value::Str(encode_record(self.seq, &reply)),
            Some(now_ms + WINDOW_MS),
            now_ms,
        );
        reply
    }

    /// Key positions of the wrapped command, shifted past `IDEMPOTENT client seq`.
    pub(crate) fn inner_key_indices(argv: &[Bytes]) -> Vec<usize> {
        match argv.get(3).and_then(|n| super::lookup(n)) {
            Some(spec) if spec.name != "idempotent" => super::key_indices(spec, &argv[3..])
                .into_iter()
                .map(|i| i + 3)
                .collect(),
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::apply_argv;

    fn argv(parts: &[&str]) -> Vec<Bytes> {
        parts
            .iter()
            .map(|p| Bytes::copy_from_slice(p.as_bytes()))
            .collect()
    }

    #[test]
    fn a_retry_returns_the_first_reply_without_applying_again() {
        let mut ks = Keyspace::default();
        let now = 1_000;
        assert_eq!(
            apply_argv(&mut ks, &argv(&["IDEMPOTENT", "c1", "1", "INCR", "n"]), now),
            Frame::Integer(1)
        );
        // The reply was lost; the client retries the same request.
        assert_eq!(
            apply_argv(
                &mut ks,
                &argv(&["IDEMPOTENT", "c1", "1", "INCR", "n"]),
                now + 5
            ),
            Frame::Integer(1)
        );
        assert_eq!(
            apply_argv(&mut ks, &argv(&["GET", "n"]), now),
            Frame::bulk("1"),
            "applied once"
        );
        assert_eq!(
            apply_argv(&mut ks, &argv(&["IDEMPOTENT", "c1", "2", "INCR", "n"]), now),
            Frame::Integer(2)
        );
        let stale = apply_argv(&mut ks, &argv(&["IDEMPOTENT", "c1", "1", "INCR", "n"]), now);
        assert!(
            matches!(stale, Frame::Error(ref e) if e.starts_with("ERR stale request")),
            "{stale:?}"
        );
        // Another client has its own sequence.
        assert_eq!(
            apply_argv(&mut ks, &argv(&["IDEMPOTENT", "c2", "1", "INCR", "n"]), now),
            Frame::Integer(3)
        );
        // After the window the record is gone and a very late retry applies again.
        assert_eq!(
            apply_argv(
                &mut ks,
                &argv(&["IDEMPOTENT", "c1", "2", "INCR", "n"]),
                now + WINDOW_MS + 1
            ),
            Frame::Integer(4)
        );
    }

    #[test]
    fn errors_are_remembered_and_bad_wrappers_refused() {
        let mut ks = Keyspace::default();
        let _ = apply_argv(&mut ks, &argv(&["SET", "s", "x"]), 0);
        let e = apply_argv(&mut ks, &argv(&["IDEMPOTENT", "c", "7", "INCR", "s"]), 0);
        assert_eq!(e, Frame::err("value is not an integer or out of range"));
        assert_eq!(
            apply_argv(&mut ks, &argv(&["IDEMPOTENT", "c", "7", "INCR", "s"]), 0),
            e
        );
        for bad in [
            &["IDEMPOTENT", "c", "x", "INCR", "n"][..],
            &["IDEMPOTENT", "c", "1", "GET", "n"],
            &["IDEMPOTENT", "c", "1", "IDEMPOTENT", "c", "2", "INCR", "n"],
            &["IDEMPOTENT", "", "1", "INCR", "n"],
        ] {
            assert!(
                matches!(apply_argv(&mut ks, &argv(bad), 0), Frame::Error(_)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn records_are_out_of_the_user_keyspace_reach() {
        let mut ks = Keyspace::default();
        let incr = argv(&["IDEMPOTENT", "c", "1", "INCR", "n"]);
        assert_eq!(apply_argv(&mut ks, &incr, 0), Frame::Integer(1));
        let rec = "\0sdr:req:c";
        for bad in [
            &["DEL", rec][..],
            &["SET", rec, "forged"],
            &["RENAME", "n", rec],
            &["RENAME", rec, "x"],
            &["EXPIRE", rec, "1"],
            &["GET", rec],
            &["IDEMPOTENT", "d", "1", "SET", rec, "x"],
        ] {
            assert_eq!(
                apply_argv(&mut ks, &argv(bad), 0),
                Frame::err(crate::cmd::RESERVED_KEY),
                "{bad:?}"
            );
        }
        assert_eq!(ks.len(), 1, "DBSIZE counts user keys only");
        assert_eq!(ks.records_len(), 1);
        let _ = apply_argv(&mut ks, &argv(&["FLUSHALL"]), 0);
        assert_eq!(ks.records_len(), 1, "FLUSHALL keeps exactly-once state");
        // Snapshots carry the records.
        let mut buf = Vec::new();
        crate::keyspace::codec::encode(&ks, &mut buf);
        let mut back = crate::keyspace::codec::decode(&buf).expect("decodes");
        assert_eq!(back, ks);
        assert_eq!(back.len(), 0);
        assert_eq!(
            apply_argv(&mut back, &incr, 5),
            Frame::Integer(1),
            "still a retry"
        );
        assert_eq!(apply_argv(&mut back, &argv(&["GET", "n"]), 5), Frame::Null);
        // Expired records are pruned as new ones are stored.
        let _ = apply_argv(
            &mut back,
            &argv(&["IDEMPOTENT", "z", "1", "SET", "a", "1"]),
            WINDOW_MS + 1,
        );
        assert_eq!(back.records_len(), 1);
    }

    #[test]
    fn routing_uses_the_wrapped_keys() {
        let a = argv(&["IDEMPOTENT", "c", "1", "MSET", "k1", "v1", "k2", "v2"]);
        assert_eq!(IdemOp::inner_key_indices(&a), vec![4, 6]);
    }
}
