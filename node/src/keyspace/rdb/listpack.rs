//! Listpacks (Redis 7.0's `listpack.c` format): [`Listpack`] builds one byte for byte as
//! Redis's `lpAppend` does; [`parse`] reads and validates one from an untrusted blob.
//!
//! Layout: `total_bytes:u32le num_elements:u16le entry* 0xff`. An entry is an encoding byte
//! (with its data) followed by its backlen (the entry's encoded size in 1..=5 bytes, 7 bits
//! per byte, read right to left). A string that is a canonical 64-bit integer (Redis's
//! `string2ll` rules) is stored as an integer in the smallest width that holds it.

use bytes::Bytes;

use super::RdbError;
use crate::resp::parse_i64;

const HEADER: usize = 6;
const EOF: u8 = 0xff;
/// `num_elements` saturates here: the count is then unknown and must be walked.
const NUM_UNKNOWN: u16 = u16::MAX;

/// One listpack element as read back: Redis keeps integers as integers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LpValue {
    Int(i64),
    Str(Bytes),
}

impl LpValue {
    /// The element as the string a command sees (integers in decimal).
    pub fn into_bytes(self) -> Bytes {
        match self {
            LpValue::Int(i) => Bytes::from(i.to_string()),
            LpValue::Str(b) => b,
        }
    }
}

/// A listpack under construction, appended to as `lpAppend` / `lpAppendInteger` do.
pub struct Listpack {
    buf: Vec<u8>,
    count: usize,
}

impl Default for Listpack {
    fn default() -> Self {
        Listpack::new()
    }
}

fn backlen_size(l: usize) -> usize {
    match l {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    }
}

fn push_backlen(buf: &mut Vec<u8>, l: usize) {
    let l = l as u64;
    match backlen_size(l as usize) {
        1 => buf.push(l as u8),
        2 => buf.extend_from_slice(&[(l >> 7) as u8, ((l & 127) | 128) as u8]),
        3 => buf.extend_from_slice(&[
            (l >> 14) as u8,
            (((l >> 7) & 127) | 128) as u8,
            ((l & 127) | 128) as u8,
        ]),
        4 => buf.extend_from_slice(&[
            (l >> 21) as u8,
            (((l >> 14) & 127) | 128) as u8,
            (((l >> 7) & 127) | 128) as u8,
            ((l & 127) | 128) as u8,
        ]),
        _ => buf.extend_from_slice(&[
            (l >> 28) as u8,
            (((l >> 21) & 127) | 128) as u8,
            (((l >> 14) & 127) | 128) as u8,
            (((l >> 7) & 127) | 128) as u8,
            ((l & 127) | 128) as u8,
        ]),
    }
}

/// The encoded size (encoding byte(s) + data, without backlen) of an integer entry.
fn int_entry(v: i64, out: &mut Vec<u8>) {
    if (0..=127).contains(&v) {
        out.push(v as u8);
    } else if (-4096..=4095).contains(&v) {
        let u = if v < 0 { (1i64 << 13) + v } else { v } as u64;
        out.extend_from_slice(&[((u >> 8) as u8) | 0xc0, (u & 0xff) as u8]);
    } else if (-32768..=32767).contains(&v) {
        out.push(0xf1);
        out.extend_from_slice(&(v as i16).to_le_bytes());
    } else if (-8_388_608..=8_388_607).contains(&v) {
        out.push(0xf2);
        out.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
    } else if (i64::from(i32::MIN)..=i64::from(i32::MAX)).contains(&v) {
        out.push(0xf3);
        out.extend_from_slice(&(v as i32).to_le_bytes());
    } else {
        out.push(0xf4);
        out.extend_from_slice(&v.to_le_bytes());
    }
}

fn str_entry(s: &[u8], out: &mut Vec<u8>) {
    let n = s.len();
    if n < 64 {
        out.push(0x80 | n as u8);
    } else if n < 4096 {
        out.extend_from_slice(&[((n >> 8) as u8) | 0xe0, (n & 0xff) as u8]);
    } else {
        out.push(0xf0);
        out.extend_from_slice(&(n as u32).to_le_bytes());
    }
    out.extend_from_slice(s);
}

impl Listpack {
    pub fn new() -> Listpack {
        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(&[0; HEADER]);
        Listpack { buf, count: 0 }
    }

    /// `lpAppend`: a canonical integer string is stored as an integer.
    pub fn push(&mut self, s: &[u8]) {
        match parse_i64(s) {
            Some(v) => self.push_int(v),
            None => self.push_entry(|out| str_entry(s, out)),
        }
    }

    /// `lpAppendInteger`.
    pub fn push_int(&mut self, v: i64) {
        self.push_entry(|out| int_entry(v, out));
    }

    fn push_entry(&mut self, f: impl FnOnce(&mut Vec<u8>)) {
        let start = self.buf.len();
        f(&mut self.buf);
        let l = self.buf.len() - start;
        push_backlen(&mut self.buf, l);
        self.count += 1;
    }

    /// `lpBytes`: the size the finished listpack has (terminator included).
    pub fn bytes_len(&self) -> usize {
        self.buf.len() + 1
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The finished blob (header filled in, terminator appended).
    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push(EOF);
        let total = self.buf.len() as u32;
        let num = u16::try_from(self.count).unwrap_or(NUM_UNKNOWN);
        self.buf[0..4].copy_from_slice(&total.to_le_bytes());
        self.buf[4..6].copy_from_slice(&num.to_le_bytes());
        self.buf
    }
}

fn bad() -> RdbError {
    RdbError::BadFormat
}

/// Reads every element of an untrusted listpack blob, checking the header's total size and
/// count, each entry's backlen and the terminator (Redis's deep integrity check). Allocates
/// only per element actually present.
pub fn parse(lp: &[u8]) -> Result<Vec<LpValue>, RdbError> {
    if lp.len() < HEADER + 1 {
        return Err(bad());
    }
    let total = u32::from_le_bytes([lp[0], lp[1], lp[2], lp[3]]) as usize;
    let num = u16::from_le_bytes([lp[4], lp[5]]);
    if total != lp.len() || lp[lp.len() - 1] != EOF {
        return Err(bad());
    }
    let end = lp.len() - 1;
    let mut p = HEADER;
    let mut out = Vec::new();
    let take = |p: usize, n: usize| -> Result<&[u8], RdbError> {
        lp.get(p..p.checked_add(n).ok_or_else(bad)?)
            .filter(|_| p + n <= end)
            .ok_or_else(bad)
    };
    while p < end {
        let b = lp[p];
        let (value, size) = if b & 0x80 == 0 {
            (LpValue::Int(i64::from(b & 0x7f)), 1)
        } else if b & 0xc0 == 0x80 {
            let n = usize::from(b & 0x3f);
            (LpValue::Str(Bytes::copy_from_slice(take(p + 1, n)?)), 1 + n)
        } else if b & 0xe0 == 0xc0 {
            let lo = take(p + 1, 1)?[0];
            let u = (u64::from(b & 0x1f) << 8) | u64::from(lo);
            let v = if u >= 1 << 12 {
                u as i64 - (1 << 13)
            } else {
                u as i64
            };
            (LpValue::Int(v), 2)
        } else if b & 0xf0 == 0xe0 {
            let lo = take(p + 1, 1)?[0];
            let n = (usize::from(b & 0x0f) << 8) | usize::from(lo);
            (LpValue::Str(Bytes::copy_from_slice(take(p + 2, n)?)), 2 + n)
        } else {
            match b {
                0xf0 => {
                    let l = take(p + 1, 4)?;
                    let n = u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize;
                    (LpValue::Str(Bytes::copy_from_slice(take(p + 5, n)?)), 5 + n)
                }
                0xf1 => {
                    let d = take(p + 1, 2)?;
                    (LpValue::Int(i64::from(i16::from_le_bytes([d[0], d[1]]))), 3)
                }
                0xf2 => {
                    let d = take(p + 1, 3)?;
                    let v = i32::from_le_bytes([0, d[0], d[1], d[2]]) >> 8;
                    (LpValue::Int(i64::from(v)), 4)
                }
                0xf3 => {
                    let d = take(p + 1, 4)?;
                    (
                        LpValue::Int(i64::from(i32::from_le_bytes([d[0], d[1], d[2], d[3]]))),
                        5,
                    )
                }
                0xf4 => {
                    let d = take(p + 1, 8)?;
                    let mut a = [0u8; 8];
                    a.copy_from_slice(d);
                    (LpValue::Int(i64::from_le_bytes(a)), 9)
                }
                _ => return Err(bad()),
            }
        };
        // The backlen must encode exactly `size`.
        let bl = backlen_size(size);
        let got = take(p + size, bl)?;
        let mut want = Vec::with_capacity(5);
        push_backlen(&mut want, size);
        if got != &want[..] {
            return Err(bad());
        }
        p += size + bl;
        out.push(value);
    }
    if num != NUM_UNKNOWN && usize::from(num) != out.len() {
        return Err(bad());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_redis_bytes() {
        // redis-server 7.0: RPUSH l a b 1 2 300 → the listpack in DUMP l.
        let mut lp = Listpack::new();
        for e in ["a", "b", "1", "2", "300"] {
            lp.push(e.as_bytes());
        }
        let want = b"\x14\x00\x00\x00\x05\x00\x81a\x02\x81b\x02\x01\x01\x02\x01\xc1,\x02\xff";
        assert_eq!(lp.finish(), want.to_vec());
    }

    #[test]
    fn every_width_roundtrips() {
        let ints = [
            0i64,
            127,
            128,
            -1,
            -4096,
            4095,
            4096,
            -4097,
            32767,
            -32768,
            32768,
            8_388_607,
            -8_388_608,
            8_388_608,
            i64::from(i32::MAX),
            i64::from(i32::MIN),
            i64::MAX,
            i64::MIN,
        ];
        let mut lp = Listpack::new();
        let strs = [
            vec![b'x'; 63],
            vec![b'y'; 64],
            vec![b'z'; 4095],
            vec![b'w'; 4096],
            b"007".to_vec(),
        ];
        for i in ints {
            lp.push_int(i);
        }
        for s in &strs {
            lp.push(s);
        }
        let blob = lp.finish();
        let got = parse(&blob).expect("valid");
        let mut want: Vec<LpValue> = ints.iter().map(|&i| LpValue::Int(i)).collect();
        want.extend(strs.iter().map(|s| LpValue::Str(Bytes::copy_from_slice(s))));
        assert_eq!(got, want);
        // Every truncation or corruption of the header is refused, never a panic.
        for cut in 0..blob.len() {
            assert!(parse(&blob[..cut]).is_err());
        }
        let mut bad = blob.clone();
        bad[4] ^= 1;
        assert!(parse(&bad).is_err());
    }
}
