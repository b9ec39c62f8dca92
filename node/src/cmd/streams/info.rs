//! XINFO STREAM [FULL [COUNT n]] | GROUPS | CONSUMERS | HELP, in Redis 7.0's reply shapes
//! (maps: RESP3 maps, flat arrays in RESP2). Idle times use the serving node's group time;
//! `radix-tree-nodes` is an estimate (docs/commands.md).

use bytes::Bytes;

use super::group::{container_sub, help, sub_syntax};
use super::id::id_frame;
use super::{entry_frame, get_stream};
use crate::cmd::{eq, int_arg};
use crate::keyspace::stream::{Group, Stream, INVALID_ENTRIES_READ};
use crate::keyspace::Keyspace;
use crate::resp::{ErrorCode, Frame};

const XINFO_HELP: &[&str] = &[
    "CONSUMERS <key> <groupname>",
    "    Show consumers of <groupname>.",
    "GROUPS <key>",
    "    Show the stream consumer groups.",
    "STREAM <key> [FULL [COUNT <count>]",
    "    Show information about the stream.",
];

pub(super) fn parse_info(argv: &[Bytes]) -> Result<Vec<Bytes>, Frame> {
    container_sub(
        "XINFO",
        argv,
        &[("consumers", 4), ("groups", 3), ("stream", -3), ("help", 2)],
    )?;
    Ok(argv.to_vec())
}

fn int(n: impl TryInto<i64>) -> Frame {
    Frame::Integer(n.try_into().unwrap_or(i64::MAX))
}

fn entries_read(g: &Group) -> Frame {
    if g.entries_read == INVALID_ENTRIES_READ {
        Frame::Null
    } else {
        Frame::Integer(g.entries_read)
    }
}

fn lag(s: &Stream, g: &Group) -> Frame {
    s.lag(g).map_or(Frame::Null, Frame::Integer)
}

pub(super) fn info(ks: &Keyspace, argv: &[Bytes], now: u64) -> Result<Frame, Frame> {
    if eq(&argv[1], "help") {
        return Ok(help("XINFO", XINFO_HELP));
    }
    let key = &argv[2];
    let Some(s) = get_stream(ks, key, now)? else {
        return Err(Frame::err("no such key"));
    };
    if eq(&argv[1], "consumers") && argv.len() == 4 {
        let Some(g) = s.groups.get(&argv[3]) else {
            return Err(Frame::error(
                ErrorCode::NoGroup,
                format!(
                    "No such consumer group '{}' for key name '{}'",
                    String::from_utf8_lossy(&argv[3]),
                    String::from_utf8_lossy(key)
                ),
            ));
        };
        let out = g
            .consumers
            .iter()
            .map(|(name, c)| {
                let idle = (now as i64).wrapping_sub(c.seen_time as i64).max(0);
                Frame::str_map([
                    ("name", Frame::Bulk(name.clone())),
                    ("pending", int(c.pel.len())),
                    ("idle", Frame::Integer(idle)),
                ])
            })
            .collect();
        return Ok(Frame::Array(out));
    }
    if eq(&argv[1], "groups") && argv.len() == 3 {
        let out = s
            .groups
            .iter()
            .map(|(name, g)| {
                Frame::str_map([
                    ("name", Frame::Bulk(name.clone())),
                    ("consumers", int(g.consumers.len())),
                    ("pending", int(g.pel.len())),
                    ("last-delivered-id", id_frame(g.last_id)),
                    ("entries-read", entries_read(g)),
                    ("lag", lag(s, g)),
                ])
            })
            .collect();
        return Ok(Frame::Array(out));
    }
    if eq(&argv[1], "stream") {
        return stream_info(s, argv);
    }
    Err(sub_syntax("XINFO", &argv[1]))
}

/// Redis's rax node count cannot be derived from the data; this estimates it as one inner
/// node per key plus the head (documented as a deviation).
fn rax_nodes(s: &Stream) -> usize {
    s.node_count() * 2 + 1 - usize::from(s.node_count() > 0)
}

fn stream_info(s: &Stream, argv: &[Bytes]) -> Result<Frame, Frame> {
    let opts = &argv[3..];
    let (full, mut count) = match opts.len() {
        0 => (false, 10i64),
        1 | 3 => {
            if !eq(&opts[0], "full") {
                return Err(sub_syntax("XINFO", &argv[1]));
            }
            let mut c = 10;
            if opts.len() == 3 {
                if !eq(&opts[1], "count") {
                    return Err(sub_syntax("XINFO", &argv[1]));
                }
                c = int_arg(&opts[2])?;
                if c < 0 {
                    c = 10;
                }
            }
            (true, c)
        }
        _ => return Err(sub_syntax("XINFO", &argv[1])),
    };
    let mut m: Vec<(&str, Frame)> = vec![
        ("length", int(s.len())),
        ("radix-tree-keys", int(s.node_count())),
        ("radix-tree-nodes", int(rax_nodes(s))),
        ("last-generated-id", id_frame(s.last_id)),
        ("max-deleted-entry-id", id_frame(s.max_deleted_id)),
        ("entries-added", int(s.entries_added)),
        ("recorded-first-entry-id", id_frame(s.first_id)),
    ];
    if !full {
        m.push(("groups", int(s.groups.len())));
        let first = s.entries().next();
        let last = s.entries().next_back();
        m.push((
            "first-entry",
            first.map_or(Frame::Null, |(id, f)| entry_frame(*id, f)),
        ));
        m.push((
            "last-entry",
            last.map_or(Frame::Null, |(id, f)| entry_frame(*id, f)),
        ));
        return Ok(Frame::str_map(m));
    }
    if count == 0 {
        count = i64::MAX;
    }
    let n = usize::try_from(count).unwrap_or(usize::MAX);
    m.push((
        "entries",
        Frame::Array(
            s.entries()
                .take(n)
                .map(|(id, f)| entry_frame(*id, f))
                .collect(),
        ),
    ));
    let groups = s
        .groups
        .iter()
        .map(|(name, g)| {
            let pending = g
                .pel
                .iter()
                .take(n)
                .map(|(id, nack)| {
                    Frame::Array(vec![
                        id_frame(*id),
                        Frame::Bulk(nack.consumer.clone()),
                        int(nack.delivery_time),
                        int(nack.delivery_count),
                    ])
                })
                .collect();
            let consumers = g
                .consumers
                .iter()
                .map(|(cname, c)| {
                    let cp = c
                        .pel
                        .iter()
                        .take(n)
                        .filter_map(|id| {
                            let nack = g.pel.get(id)?;
                            Some(Frame::Array(vec![
                                id_frame(*id),
                                int(nack.delivery_time),
                                int(nack.delivery_count),
                            ]))
                        })
                        .collect();
                    Frame::str_map([
                        ("name", Frame::Bulk(cname.clone())),
                        ("seen-time", int(c.seen_time)),
                        ("pel-count", int(c.pel.len())),
                        ("pending", Frame::Array(cp)),
                    ])
                })
                .collect();
            Frame::str_map([
                ("name", Frame::Bulk(name.clone())),
                ("last-delivered-id", id_frame(g.last_id)),
                ("entries-read", entries_read(g)),
                ("lag", lag(s, g)),
                ("pel-count", int(g.pel.len())),
                ("pending", Frame::Array(pending)),
                ("consumers", Frame::Array(consumers)),
            ])
        })
        .collect();
    m.push(("groups", Frame::Array(groups)));
    Ok(Frame::str_map(m))
}
