//! RESP2: frames, the streaming decoder, the encoder.
//!
//! - [`frame`]: the [`Frame`] value type and its wire encoding.
//! - [`decode`]: the incremental parser over `BytesMut` (multibulk, inline, limits).

pub mod decode;
pub mod frame;

pub use decode::{DecodeError, Decoder, Limits};
pub use frame::Frame;
