//! `sdr-resp`: the RESP2 and RESP3 wire protocol, shared by `sdr-node` (server side), `sdr-harness` and
//! `sdr-loadgen` (client side). The harness depends on this crate, never on the node, so it
//! stays a black-box client.
//!
//! Module map (each module uses only those above it):
//!
//! - [`error_code`]: the error-reply contract — every code a node sends and its class
//!   (no effect / unknown outcome / redirect), and [`error_code::classify`].
//! - [`frame`]: [`Frame`], the value type (RESP2 and RESP3), [`Protocol`]; its encoder (RESP3
//!   native or downgraded to RESP2 as Redis 7 does) (never a CR/LF inside a simple string
//!   or error), the error constructors, and [`encode_command`] for clients.
//! - [`redirect`]: `-MOVED` / `-ASK` built and parsed once.
//! - [`command`]: the streaming decoder of client commands with its [`Limits`], Redis's
//!   integer syntax ([`parse_i64`]) and inline-command splitting.
//! - [`reply`]: the streaming decoder of replies with size and depth limits.
//!
//! Every decoder checks a length read from the wire before sizing anything from it, and none
//! recurses on input.

pub mod command;
pub mod error_code;
pub mod frame;
pub mod redirect;
pub mod reply;

pub use command::{parse_i64, split_args, DecodeError, Decoder, Limits, RESERVE_AHEAD};
pub use error_code::{classify, ErrorClass, ErrorCode};
pub use frame::{encode_command, format_double, Frame, Protocol};
pub use redirect::{Redirect, RedirectKind};
pub use reply::{decode_frame, ReplyDecoder, ReplyLimits};
