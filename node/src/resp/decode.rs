//! Incremental RESP2 decoder. OWNED BY THE RESP HELPER: replace this stub.

use bytes::{Bytes, BytesMut};

/// Parser limits; every length read from the wire is checked against these before any
/// allocation is sized from it.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest bulk string accepted (`proto-max-bulk-len`, default 512 MiB).
    pub max_bulk_len: u64,
    /// Largest multibulk element count (1,048,576, as Redis).
    pub max_multibulk_len: u64,
    /// Largest unparsed query buffer per client (`client-query-buffer-limit`, default 1 GiB).
    pub max_query_buffer: u64,
    /// Longest inline command line (64 KiB, Redis's PROTO_INLINE_MAX_SIZE).
    pub max_inline_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bulk_len: 512 * 1024 * 1024,
            max_multibulk_len: 1024 * 1024,
            max_query_buffer: 1024 * 1024 * 1024,
            max_inline_len: 64 * 1024,
        }
    }
}

/// A protocol violation. The connection replies with `-{message}` and closes.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    /// The exact Redis reply text without the leading `-`, e.g.
    /// `ERR Protocol error: invalid multibulk length`.
    #[error("{0}")]
    Protocol(String),
}

/// Resumable command decoder for one connection.
#[derive(Debug, Default)]
pub struct Decoder {
    limits: Limits,
}

impl Decoder {
    pub fn new(limits: Limits) -> Decoder {
        Decoder { limits }
    }

    /// Takes one complete command (argv) off the front of `buf`, `Ok(None)` if more bytes are
    /// needed.
    pub fn decode_command(&mut self, _buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, DecodeError> {
        let _ = self.limits;
        unimplemented!("resp decoder")
    }
}
