//! LZF as Redis uses it for RDB strings (`rdbcompression yes`): [`compress`] produces the
//! same bytes as Redis's `lzf_c.c` built with Redis's settings (`HLOG 16`, `VERY_FAST 1`,
//! `ULTRA_FAST 0`), so a DUMP payload is byte-identical to redis-server's; [`decompress`]
//! accepts any valid LZF stream of a declared length.
//!
//! Redis leaves the hash table uninitialised (`INIT_HTAB 0`); a stale slot can only name a
//! position whose three bytes equal the current ones if that trigram already occurred (and
//! was hashed) earlier in the same input, which overwrites the slot first, so a zeroed table
//! gives the same output. Format:
//!
//! ```text
//! 000LLLLL <L+1 bytes>        literal run of 1..32 bytes
//! LLLooooo oooooooo           back reference, length L+2 (L < 7), offset o+1
//! 111ooooo LLLLLLLL oooooooo  back reference, length L+9, offset o+1
//! ```

const HLOG: u32 = 16;
const HSIZE: usize = 1 << HLOG;
const MAX_LIT: usize = 1 << 5;
const MAX_OFF: usize = 1 << 13;
const MAX_REF: usize = (1 << 8) + (1 << 3);

/// The largest expansion factor of a valid stream: a 3-byte back reference yields at most
/// `MAX_REF + 1` bytes. A declared length beyond `input * MAX_EXPANSION` cannot be right.
pub const MAX_EXPANSION: usize = 89;

#[inline]
fn idx(h: u32) -> usize {
    ((h >> (3 * 8 - HLOG)).wrapping_sub(h.wrapping_mul(5)) as usize) & (HSIZE - 1)
}

/// `lzf_compress(input, len, out, out_len)`: the compressed bytes, or `None` when they do not
/// fit in `out_len` bytes (Redis then stores the string uncompressed).
pub fn compress(input: &[u8], out_len: usize) -> Option<Vec<u8>> {
    let in_len = input.len();
    if in_len == 0 || out_len == 0 {
        return None;
    }
    // One spare byte: Redis allocates `out_len + 1` and a run header may sit just past the end.
    let mut out = vec![0u8; out_len + 1];
    let mut htab = vec![0u32; HSIZE];
    let mut ip = 0usize;
    let mut op = 1usize; // start run
    let mut lit = 0usize;
    let mut hval: u32 = if in_len >= 2 {
        (u32::from(input[0]) << 8) | u32::from(input[1])
    } else {
        0
    };
    while ip + 2 < in_len {
        hval = (hval << 8) | u32::from(input[ip + 2]);
        let slot = idx(hval);
        let r = htab[slot] as usize;
        htab[slot] = ip as u32;
        let matched = r != 0
            && r < ip
            && ip - r - 1 < MAX_OFF
            && input[r + 2] == input[ip + 2]
            && input[r] == input[ip]
            && input[r + 1] == input[ip + 1];
        if matched {
            let off = ip - r - 1;
            let mut len = 2usize;
            let maxlen = (in_len - ip - len).min(MAX_REF);
            if op + 3 + 1 >= out_len && op - usize::from(lit == 0) + 3 + 1 >= out_len {
                return None;
            }
            out[op - lit - 1] = (lit as u8).wrapping_sub(1); // stop run
            op -= usize::from(lit == 0); // undo run if length is zero
                                         // lzf_c.c's loop, unrolled part included: it may count past `maxlen` by up to two
                                         // bytes when `maxlen` is 17 (all within the input), and so must this.
            let mut done = false;
            if maxlen > 16 {
                for _ in 0..16 {
                    len += 1;
                    if input[r + len] != input[ip + len] {
                        done = true;
                        break;
                    }
                }
            }
            if !done {
                loop {
                    len += 1;
                    if !(len < maxlen && input[r + len] == input[ip + len]) {
                        break;
                    }
                }
            }
            len -= 2; // octets - 1
            ip += 1;
            if len < 7 {
                out[op] = ((off >> 8) + (len << 5)) as u8;
                op += 1;
            } else {
                out[op] = ((off >> 8) + (7 << 5)) as u8;
                out[op + 1] = (len - 7) as u8;
                op += 2;
            }
            out[op] = off as u8;
            op += 1;
            lit = 0;
            op += 1; // start run
            ip += len + 1;
            if ip + 2 >= in_len {
                break;
            }
            // VERY_FAST: hash the last two positions of the match.
            ip -= 2;
            hval = (u32::from(input[ip]) << 8) | u32::from(input[ip + 1]);
            hval = (hval << 8) | u32::from(input[ip + 2]);
            htab[idx(hval)] = ip as u32;
            ip += 1;
            hval = (hval << 8) | u32::from(input[ip + 2]);
            htab[idx(hval)] = ip as u32;
            ip += 1;
        } else {
            if op >= out_len {
                return None;
            }
            lit += 1;
            out[op] = input[ip];
            op += 1;
            ip += 1;
            if lit == MAX_LIT {
                out[op - lit - 1] = (lit - 1) as u8;
                lit = 0;
                op += 1;
            }
        }
    }
    if op + 3 > out_len {
        return None;
    }
    while ip < in_len {
        lit += 1;
        out[op] = input[ip];
        op += 1;
        ip += 1;
        if lit == MAX_LIT {
            out[op - lit - 1] = (lit - 1) as u8;
            lit = 0;
            op += 1;
        }
    }
    out[op - lit - 1] = (lit as u8).wrapping_sub(1); // end run
    op -= usize::from(lit == 0);
    out.truncate(op);
    Some(out)
}

/// Decompresses `input` into exactly `out_len` bytes; `None` for a malformed stream (a run or
/// a reference past either end, or a different total length). Allocates `out_len` only after
/// checking it against [`MAX_EXPANSION`].
pub fn decompress(input: &[u8], out_len: usize) -> Option<Vec<u8>> {
    if out_len > input.len().saturating_mul(MAX_EXPANSION) {
        return None;
    }
    let mut out: Vec<u8> = Vec::with_capacity(out_len);
    let mut ip = 0usize;
    while ip < input.len() {
        let ctrl = usize::from(input[ip]);
        ip += 1;
        if ctrl < 32 {
            let n = ctrl + 1;
            let run = input.get(ip..ip + n)?;
            if out.len() + n > out_len {
                return None;
            }
            out.extend_from_slice(run);
            ip += n;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                len += usize::from(*input.get(ip)?);
                ip += 1;
            }
            len += 2;
            let lo = usize::from(*input.get(ip)?);
            ip += 1;
            let back = ((ctrl & 0x1f) << 8) + lo + 1;
            if back > out.len() || out.len() + len > out_len {
                return None;
            }
            let start = out.len() - back;
            // Byte by byte: the reference may overlap what it produces.
            for i in 0..len {
                let b = out[start + i];
                out.push(b);
            }
        }
    }
    (out.len() == out_len).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(data: &[u8]) {
        if let Some(c) = compress(data, data.len().saturating_sub(4)) {
            assert_eq!(decompress(&c, data.len()).as_deref(), Some(data));
        }
    }

    #[test]
    fn known_outputs_of_redis() {
        // redis-server 7.0: DUMP of SET k <30 x 'a'> carries the LZF blob
        // 01 61 61 e0 11 00 01 61 61 (no reference to position 0, one long reference, the
        // last two bytes as literals).
        let a = vec![b'a'; 30];
        let c = compress(&a, 26).expect("compressible");
        assert_eq!(
            c,
            vec![0x01, b'a', b'a', 0xe0, 0x11, 0x00, 0x01, b'a', b'a']
        );
        assert_eq!(decompress(&c, 30), Some(a));
    }

    #[test]
    fn roundtrips_and_refuses_bad_streams() {
        roundtrip(b"hello hello hello hello hello world");
        let mut x = 12345u64;
        let mut v = Vec::new();
        for i in 0..20000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            v.push(if i % 3 == 0 {
                (x >> 60) as u8
            } else {
                b'a' + (i % 7) as u8
            });
        }
        roundtrip(&v);
        roundtrip(&[7u8; 5000]);
        // Random data does not compress.
        let rnd: Vec<u8> = (0..64u64)
            .map(|i| (i.wrapping_mul(0x9e3779b97f4a7c15) >> 56) as u8)
            .collect();
        assert!(compress(&rnd, 60).is_none());
        assert_eq!(decompress(&[0x05, b'a'], 6), None);
        assert_eq!(decompress(&[0x20, 0x00], 3), None);
        assert_eq!(decompress(&[0x00, b'a'], 2), None);
        assert_eq!(decompress(&[0x00], 1 << 40), None);
    }
}
