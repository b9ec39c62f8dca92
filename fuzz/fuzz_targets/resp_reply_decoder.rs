//! Fuzzes the reply decoder (`sdr_resp::ReplyDecoder`, `decode_frame`) and the encoder.
//!
//! Input: `mode u8 | ...`.
//! - mode even: `split_seed u16 | bytes` — arbitrary bytes under the default or tiny
//!   [`ReplyLimits`], whole and in chunks. Asserts: no panic; both ways give the same frames
//!   (chunking can only make a buffer-limit error come earlier); every frame is within the
//!   limits (depth, bulk and array lengths); `decode_frame` (one-shot) agrees with the
//!   streaming decoder; re-encoding a decoded frame decodes back to it (after the encoder's
//!   CR/LF sanitising of simple strings and errors).
//! - mode odd: the rest drives `arbitrary` to build a `Frame`; asserts that what the encoder
//!   writes decodes back to the same frame (CR/LF in simple strings and errors become spaces;
//!   a frame nested deeper than the depth limit is refused, never mis-decoded).
#![no_main]

use arbitrary::{Result as AResult, Unstructured};
use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use sdr_resp::reply::decode_frame_with;
use sdr_resp::reply::MAX_REPLY_DEPTH;
use sdr_resp::{decode_frame, Frame, Protocol, ReplyDecoder, ReplyLimits};

struct Outcome {
    frames: Vec<Frame>,
    failed: bool,
}

fn run<'a>(limits: ReplyLimits, chunks: impl Iterator<Item = &'a [u8]>) -> Outcome {
    let mut d = ReplyDecoder::new(limits);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            match d.decode(&mut buf) {
                Ok(Some(f)) => {
                    check(&limits, &f);
                    frames.push(f);
                }
                Ok(None) => break,
                Err(_) => {
                    return Outcome {
                        frames,
                        failed: true,
                    }
                }
            }
        }
    }
    Outcome {
        frames,
        failed: false,
    }
}

/// Depth and sizes of `f` are within `limits` (iteratively: no recursion on input).
fn check(limits: &ReplyLimits, f: &Frame) {
    let mut stack = vec![(f, 0usize)];
    while let Some((f, depth)) = stack.pop() {
        match f {
            Frame::Bulk(b) => assert!(b.len() as u64 <= limits.max_bulk_len),
            Frame::Array(items) => {
                assert!(
                    depth < limits.max_depth,
                    "array nested beyond the depth limit"
                );
                assert!(items.len() as u64 <= limits.max_array_len);
                stack.extend(items.iter().map(|i| (i, depth + 1)));
            }
            Frame::Simple(s) | Frame::Error(s) => {
                // Lossy UTF-8: an invalid byte becomes a 3-byte U+FFFD.
                assert!(s.len() <= 3 * limits.max_line_len);
                assert!(!s.contains("\r\n"));
            }
            Frame::Map(pairs) => {
                assert!(
                    depth < limits.max_depth,
                    "map nested beyond the depth limit"
                );
                assert!(2 * pairs.len() as u64 <= limits.max_array_len);
                for (k, v) in pairs {
                    stack.push((k, depth + 1));
                    stack.push((v, depth + 1));
                }
            }
            Frame::Set(items) | Frame::Push(items) => {
                assert!(
                    depth < limits.max_depth,
                    "set nested beyond the depth limit"
                );
                assert!(items.len() as u64 <= limits.max_array_len);
                stack.extend(items.iter().map(|i| (i, depth + 1)));
            }
            Frame::Verbatim { text, .. } => assert!(text.len() as u64 <= limits.max_bulk_len),
            Frame::BigNumber(s) => assert!(s.len() <= 3 * limits.max_line_len),
            Frame::Integer(_)
            | Frame::Null
            | Frame::NullArray
            | Frame::Double(_)
            | Frame::Boolean(_) => {}
            // Encoder-only shapes (the node builds them; the decoder reads plain arrays and
            // maps), so a decoded frame is never one of these.
            Frame::Pairs(_) | Frame::ArrayMap(_) => panic!("the decoder built {f:?}"),
        }
    }
}

/// The RESP3 bytes of `f`: frames are compared by their wire form, so a NaN double equals
/// itself and RESP2's two nils (both `_` in RESP3, decoded as `Null`) compare equal.
fn wire(f: &Frame) -> Vec<u8> {
    encode(f).to_vec()
}

fn wires(fs: &[Frame]) -> Vec<Vec<u8>> {
    fs.iter().map(wire).collect()
}

/// What the encoder makes of `f`: CR and LF in simple strings and errors become spaces.
fn sanitized(f: &Frame) -> Frame {
    let clean = |s: &str| s.replace(['\r', '\n'], " ");
    match f {
        Frame::Simple(s) => Frame::Simple(clean(s)),
        Frame::Error(s) => Frame::Error(clean(s)),
        Frame::Array(items) => Frame::Array(items.iter().map(sanitized).collect()),
        Frame::Set(items) => Frame::Set(items.iter().map(sanitized).collect()),
        Frame::Push(items) => Frame::Push(items.iter().map(sanitized).collect()),
        Frame::Map(pairs) => Frame::Map(
            pairs
                .iter()
                .map(|(k, v)| (sanitized(k), sanitized(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn depth(f: &Frame) -> usize {
    match f {
        Frame::Array(items) | Frame::Set(items) | Frame::Push(items) => {
            1 + items.iter().map(depth).max().unwrap_or(0)
        }
        Frame::Map(pairs) => {
            1 + pairs
                .iter()
                .map(|(k, v)| depth(k).max(depth(v)))
                .max()
                .unwrap_or(0)
        }
        _ => 0,
    }
}

fn encode(f: &Frame) -> BytesMut {
    let mut out = BytesMut::new();
    f.encode_as(Protocol::Resp3, &mut out);
    out
}

fn tiny() -> ReplyLimits {
    ReplyLimits {
        max_bulk_len: 16,
        max_array_len: 6,
        max_depth: 4,
        max_line_len: 24,
        max_total: 128,
    }
}

fn chunk_lens(seed: u16, total: usize) -> Vec<usize> {
    let mut x = u32::from(seed) | 0x1_0000;
    let mut out = Vec::new();
    let mut left = total;
    while left > 0 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let n = match x % 4 {
            0 => 1,
            1 => 1 + (x >> 8) as usize % 4,
            2 => 1 + (x >> 8) as usize % 32,
            _ => 1 + (x >> 8) as usize % 512,
        }
        .min(left);
        out.push(n);
        left -= n;
    }
    out
}

fn bytes_input(mode: u8, data: &[u8]) {
    if data.len() < 2 {
        return;
    }
    let seed = u16::from_le_bytes([data[0], data[1]]);
    let data = &data[2..];
    let limits = if mode & 2 == 0 {
        ReplyLimits::default()
    } else {
        tiny()
    };
    let whole = run(limits, std::iter::once(data));
    let lens = chunk_lens(seed, data.len());
    let mut at = 0;
    let chunked = run(
        limits,
        lens.iter().map(|&n| {
            let c = &data[at..at + n];
            at += n;
            c
        }),
    );
    if !chunked.failed {
        assert!(!whole.failed, "whole input failed but chunked did not");
        assert_eq!(
            wires(&whole.frames),
            wires(&chunked.frames),
            "chunked decode differs"
        );
    } else {
        let k = chunked.frames.len().min(whole.frames.len());
        assert_eq!(
            wires(&whole.frames[..k]),
            wires(&chunked.frames[..k]),
            "chunked decode differs"
        );
        if whole.failed {
            assert!(chunked.frames.len() <= whole.frames.len());
        }
    }
    // One-shot decoding frame by frame agrees with the streaming decoder.
    let mut buf = BytesMut::from(data);
    for (i, expect) in whole.frames.iter().enumerate() {
        match decode_frame_with(&mut buf, limits) {
            Ok(Some(f)) => assert_eq!(wire(&f), wire(expect), "decode_frame differs at frame {i}"),
            other => panic!("decode_frame gave {other:?} where the decoder gave frame {i}"),
        }
    }
    // Re-encoding a decoded frame gives bytes that decode back to it.
    for f in &whole.frames {
        let mut enc = encode(f);
        let back = decode_frame(&mut enc).expect("re-encoded frame must decode");
        assert_eq!(back.as_ref().map(wire), Some(wire(&sanitized(f))));
        assert!(enc.is_empty());
    }
}

fn gen_string(u: &mut Unstructured) -> AResult<String> {
    let s: String = u.arbitrary()?;
    Ok(s.chars().take(64).collect())
}

/// An arbitrary frame, built iteratively-bounded: depth at most `left`.
fn gen_frame(u: &mut Unstructured, left: usize) -> AResult<Frame> {
    Ok(match u.int_in_range(0u8..=6)? {
        0 => Frame::Simple(gen_string(u)?),
        1 => Frame::Error(gen_string(u)?),
        2 => Frame::Integer(u.arbitrary()?),
        3 => {
            let n = u.int_in_range(0usize..=300)?;
            let b = u.bytes(n.min(u.len()))?;
            Frame::Bulk(Bytes::copy_from_slice(b))
        }
        4 => Frame::Null,
        5 => Frame::NullArray,
        _ if left == 0 => Frame::Null,
        _ => {
            let n = u.int_in_range(0usize..=5)?;
            let mut items = Vec::with_capacity(n);
            for _ in 0..n {
                items.push(gen_frame(u, left - 1)?);
            }
            Frame::Array(items)
        }
    })
}

fn frame_input(data: &[u8]) {
    let mut u = Unstructured::new(data);
    // Occasionally wrap in a deep chain of arrays to cross the depth limit.
    let extra = u.int_in_range(0usize..=80).unwrap_or(0);
    let Ok(mut f) = gen_frame(&mut u, 6) else {
        return;
    };
    if u.arbitrary::<bool>().unwrap_or(false) {
        for _ in 0..extra {
            f = Frame::Array(vec![f]);
        }
    }
    let mut enc = encode(&f);
    let total = enc.len();
    let got = decode_frame(&mut enc);
    if depth(&f) > MAX_REPLY_DEPTH {
        assert!(got.is_err(), "frame deeper than the limit decoded");
    } else {
        let got = got.expect("a frame within the limits decodes");
        assert_eq!(
            got.as_ref().map(wire),
            Some(wire(&sanitized(&f))),
            "round trip failed"
        );
        assert!(enc.is_empty());
        // Every strict prefix is "need more", never an error or a different frame.
        let full = encode(&f);
        for cut in [0, 1, total / 2, total.saturating_sub(1)] {
            if cut < total {
                let mut p = BytesMut::from(&full[..cut]);
                assert_eq!(decode_frame(&mut p), Ok(None), "prefix of {cut} bytes");
            }
        }
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&mode, rest)) = input.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        bytes_input(mode, rest);
    } else {
        frame_input(rest);
    }
});
