//! Fuzzes `sdr_resp::Decoder` (client commands) with arbitrary bytes arriving in arbitrary
//! chunk splits, under the default limits, the pre-authentication limits and a set of tiny
//! limits (so every limit check is reachable with small inputs).
//!
//! Input: `mode u8 | split_seed u16 | bytes`.
//! Asserts: no panic; every decoded command is non-empty and within the limits in force
//! (a command over the multibulk limits can only have come from an inline line, so it must
//! fit in `max_inline_len`); decoding the whole input at once and decoding it chunk by chunk
//! yield the same commands (chunking can only make an error come earlier, never later, and
//! never change a command).
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use sdr_resp::command::{UNAUTHENTICATED_MAX_BULK, UNAUTHENTICATED_MAX_MULTIBULK};
use sdr_resp::{Decoder, Limits};

/// Commands decoded, and whether decoding stopped on an error.
struct Outcome {
    cmds: Vec<Vec<Bytes>>,
    failed: bool,
}

fn decoder(limits: Limits, unauth: bool) -> Decoder {
    let mut d = Decoder::new(limits);
    d.set_unauthenticated(unauth);
    d
}

/// Feeds `chunks` one after the other, draining every complete command after each.
fn run<'a>(limits: Limits, unauth: bool, chunks: impl Iterator<Item = &'a [u8]>) -> Outcome {
    let mut d = decoder(limits, unauth);
    let mut buf = BytesMut::new();
    let mut cmds = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            match d.decode_command(&mut buf) {
                Ok(Some(argv)) => {
                    check(&limits, unauth, &argv);
                    cmds.push(argv);
                }
                Ok(None) => break,
                Err(e) => {
                    // The error reply must be one line (it is sent before closing).
                    let f = e.to_frame();
                    let mut out = BytesMut::new();
                    f.encode(&mut out);
                    assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1);
                    return Outcome { cmds, failed: true };
                }
            }
        }
    }
    Outcome {
        cmds,
        failed: false,
    }
}

fn check(limits: &Limits, unauth: bool, argv: &[Bytes]) {
    assert!(!argv.is_empty(), "empty argv returned");
    let (max_mb, max_bulk) = if unauth {
        (
            (UNAUTHENTICATED_MAX_MULTIBULK as u64).min(limits.max_multibulk_len),
            (UNAUTHENTICATED_MAX_BULK as u64).min(limits.max_bulk_len),
        )
    } else {
        (limits.max_multibulk_len, limits.max_bulk_len)
    };
    let total: u64 = argv.iter().map(|a| a.len() as u64).sum();
    assert!(
        total <= limits.max_query_buffer,
        "command over the query buffer limit"
    );
    let within_multibulk =
        argv.len() as u64 <= max_mb && argv.iter().all(|a| a.len() as u64 <= max_bulk);
    if !within_multibulk {
        // Only an inline command can exceed the multibulk limits, and its whole line (one
        // separator at least between arguments) was bounded by max_inline_len.
        assert!(
            total + argv.len() as u64 - 1 <= limits.max_inline_len as u64,
            "command of {} args / {total} bytes exceeds every limit",
            argv.len()
        );
    }
}

fn tiny() -> Limits {
    Limits {
        max_bulk_len: 16,
        max_multibulk_len: 4,
        max_query_buffer: 96,
        max_inline_len: 24,
    }
}

/// Chunk lengths from a small xorshift generator: many 1-byte chunks and some larger ones.
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

fuzz_target!(|input: &[u8]| {
    if input.len() < 3 {
        return;
    }
    let mode = input[0];
    let seed = u16::from_le_bytes([input[1], input[2]]);
    let data = &input[3..];
    let limits = if mode & 1 == 0 {
        Limits::default()
    } else {
        tiny()
    };
    let unauth = mode & 2 != 0;

    let whole = run(limits, unauth, std::iter::once(data));
    let lens = chunk_lens(seed, data.len());
    let mut at = 0;
    let chunked = run(
        limits,
        unauth,
        lens.iter().map(|&n| {
            let c = &data[at..at + n];
            at += n;
            c
        }),
    );

    if !chunked.failed {
        assert!(!whole.failed, "whole input failed but chunked did not");
        assert_eq!(whole.cmds, chunked.cmds, "chunked decode differs");
    } else {
        // Chunking may hit a buffer limit earlier (less look-ahead); what it decoded before
        // must be a prefix of the whole-input decode.
        assert!(chunked.cmds.len() <= whole.cmds.len() || whole.failed);
        let k = chunked.cmds.len().min(whole.cmds.len());
        assert_eq!(whole.cmds[..k], chunked.cmds[..k], "chunked decode differs");
        if whole.failed {
            assert!(
                chunked.cmds.len() <= whole.cmds.len(),
                "chunked decoded past the whole-input error"
            );
        }
    }
});
