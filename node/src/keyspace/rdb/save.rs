//! A [`Value`] in the RDB object type Redis 7.0 writes for it (`rdbSaveObjectType` /
//! `rdbSaveObject`), given whether the key is in its large encoding (the keyspace's derived
//! `OBJECT ENCODING`, see [`crate::keyspace::encoding`]):
//!
//! | value | small | large |
//! |-------|-------|-------|
//! | string | `STRING` (int-encoded / LZF / raw as [`super::put_string`]) | |
//! | list | `LIST_QUICKLIST_2`: listpack nodes cut as `list-max-listpack-size -2` (8 KB) cuts a list built by tail pushes | |
//! | set | `SET_INTSET` | `SET` (members in byte order) |
//! | hash | `HASH_LISTPACK` (fields in byte order) | `HASH` |
//! | zset | `ZSET_LISTPACK` (by score, member) | `ZSET_2` (highest first, binary doubles) |
//! | stream | [`RdbError::Unsupported`] | |

use super::listpack::Listpack;
use super::{crc64, intset, put_len, put_string, types, RdbError, RDB_VERSION};
use crate::keyspace::{Value, ZSet};
use crate::resp::parse_i64;

/// `list-max-listpack-size -2`: a quicklist node's listpack stays within 8 KB.
pub const LIST_NODE_BYTES: usize = 8192;
/// `SIZE_ESTIMATE_OVERHEAD` of `quicklist.c`: the per-entry overhead Redis assumes.
const NODE_ENTRY_OVERHEAD: usize = 8;
/// quicklist's `packed_threshold` (1 GB): an element this large gets a plain node.
const PACKED_THRESHOLD: usize = 1 << 30;

/// The DUMP payload of `v`: type byte, object, RDB version, CRC-64.
pub fn dump(v: &Value, large: bool) -> Result<Vec<u8>, RdbError> {
    let mut out = Vec::new();
    out.push(object_type(v, large)?);
    save_object(v, large, &mut out)?;
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64::crc64(0, &out);
    out.extend_from_slice(&crc.to_le_bytes());
    Ok(out)
}

/// `rdbSavedObjectLen`: the object's encoded size (type byte and footer excluded), which
/// `DEBUG OBJECT` reports as `serializedlength`.
pub fn serialized_len(v: &Value, large: bool) -> Result<usize, RdbError> {
    let mut out = Vec::new();
    save_object(v, large, &mut out)?;
    Ok(out.len())
}

fn object_type(v: &Value, large: bool) -> Result<u8, RdbError> {
    Ok(match v {
        Value::Str(_) => types::STRING,
        Value::List(_) => types::LIST_QUICKLIST_2,
        Value::Set(_) if large || !all_ints(v) => types::SET,
        Value::Set(_) => types::SET_INTSET,
        Value::Hash(_) if large => types::HASH,
        Value::Hash(_) => types::HASH_LISTPACK,
        Value::ZSet(_) if large => types::ZSET_2,
        Value::ZSet(_) => types::ZSET_LISTPACK,
        Value::Stream(_) => return Err(RdbError::Unsupported("stream")),
    })
}

fn all_ints(v: &Value) -> bool {
    matches!(v, Value::Set(s) if s.iter().all(|m| parse_i64(m).is_some()))
}

/// One quicklist node: a listpack, or (an element of at least [`PACKED_THRESHOLD`] bytes)
/// the element itself.
pub enum ListNode<'a> {
    Packed(Listpack),
    Plain(&'a [u8]),
}

/// The quicklist nodes Redis 7.0 builds for `items` pushed one by one at the tail
/// (`_quicklistNodeAllowInsert` with fill -2: a node takes an element while its listpack
/// bytes + the element's length + 8 stay within 8 KB).
pub fn list_nodes<'a>(items: impl Iterator<Item = &'a [u8]>) -> Vec<ListNode<'a>> {
    let mut nodes: Vec<ListNode<'a>> = Vec::new();
    for e in items {
        if e.len() >= PACKED_THRESHOLD {
            nodes.push(ListNode::Plain(e));
            continue;
        }
        match nodes.last_mut() {
            Some(ListNode::Packed(lp))
                if lp.bytes_len() + e.len() + NODE_ENTRY_OVERHEAD <= LIST_NODE_BYTES =>
            {
                lp.push(e)
            }
            _ => {
                let mut lp = Listpack::new();
                lp.push(e);
                nodes.push(ListNode::Packed(lp));
            }
        }
    }
    nodes
}

/// A score as `zzlInsertAt` stores it: an integer entry when `double2ll` accepts it (an
/// integral value within ±2^62, `-0` included), else `d2string`'s text (`%.17g`, `inf`).
fn push_score(lp: &mut Listpack, score: f64) {
    const LIMIT: f64 = (i64::MAX / 2) as f64;
    if (-LIMIT..=LIMIT).contains(&score) && (score as i64) as f64 == score {
        lp.push_int(score as i64);
    } else {
        lp.push(crate::resp::format_double(score).as_bytes());
    }
}

fn zset_listpack(z: &ZSet) -> Vec<u8> {
    let mut lp = Listpack::new();
    for (m, s) in z.iter() {
        lp.push(m);
        push_score(&mut lp, s);
    }
    lp.finish()
}

fn save_object(v: &Value, large: bool, out: &mut Vec<u8>) -> Result<(), RdbError> {
    match (object_type(v, large)?, v) {
        (_, Value::Str(s)) => put_string(out, s),
        (_, Value::List(l)) => {
            let nodes = list_nodes(l.iter().map(|b| &b[..]));
            put_len(out, nodes.len() as u64);
            for n in nodes {
                match n {
                    ListNode::Plain(e) => {
                        put_len(out, 1);
                        put_string(out, e);
                    }
                    ListNode::Packed(lp) => {
                        put_len(out, 2);
                        put_string(out, &lp.finish());
                    }
                }
            }
        }
        (types::SET_INTSET, Value::Set(s)) => {
            let mut ints: Vec<i64> = s.iter().filter_map(|m| parse_i64(m)).collect();
            put_string(out, &intset::build(&mut ints));
        }
        (_, Value::Set(s)) => {
            put_len(out, s.len() as u64);
            for m in s {
                put_string(out, m);
            }
        }
        (types::HASH_LISTPACK, Value::Hash(h)) => {
            let mut lp = Listpack::new();
            for (f, x) in h {
                lp.push(f);
                lp.push(x);
            }
            put_string(out, &lp.finish());
        }
        (_, Value::Hash(h)) => {
            put_len(out, h.len() as u64);
            for (f, x) in h {
                put_string(out, f);
                put_string(out, x);
            }
        }
        (types::ZSET_LISTPACK, Value::ZSet(z)) => put_string(out, &zset_listpack(z)),
        (_, Value::ZSet(z)) => {
            put_len(out, z.len() as u64);
            for (m, s) in z.iter().rev() {
                put_string(out, m);
                out.extend_from_slice(&s.to_le_bytes());
            }
        }
        (_, Value::Stream(_)) => return Err(RdbError::Unsupported("stream")),
    }
    Ok(())
}

/// `DEBUG OBJECT`'s quicklist figures for a list: node count and the listpacks' total bytes.
pub fn list_layout(l: &std::collections::VecDeque<bytes::Bytes>) -> (usize, usize) {
    let nodes = list_nodes(l.iter().map(|b| &b[..]));
    let bytes = nodes
        .iter()
        .map(|n| match n {
            ListNode::Packed(lp) => lp.bytes_len(),
            ListNode::Plain(e) => e.len(),
        })
        .sum();
    (nodes.len(), bytes)
}
