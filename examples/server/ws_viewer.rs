//! What a WebSocket-FLV viewer may send, and what its connection buffers: the numbers and the
//! rule in one place, for the viewer listener (`watch.rs`, which sets them on the upgrade and
//! judges every message with [`Rule`]) and for the property test and the fuzz target that feed
//! a WebSocket of the same configuration arbitrary bytes (`examples/tests/ws_input.rs` and
//! `fuzz/fuzz_targets/ws_viewer_input.rs`, which include this file).
//!
//! A viewer has nothing to send but a close, and pongs (or pings). Every frame of it is a
//! control frame, whose payload RFC 6455 caps at 125 bytes, so a frame announcing more is
//! refused at its header; a data message (text or binary, fragmented or not) is refused at its
//! first frame that carries a byte, and an empty one as soon as it is complete, so that no
//! reassembly buffer ever holds a byte of the viewer's (a message of empty fragments without
//! end holds nothing, and costs what reading its bytes costs). Pings and pongs together are
//! allowed at [`CONTROL_RATE`] a second sustained, in bursts of [`CONTROL_BURST`]; past that
//! the connection is refused. A refused viewer gets a close frame with code 1008 (policy) and
//! the connection ends.

use std::time::{Duration, Instant};

/// The largest frame payload a viewer may send: 125 bytes, the most a control frame holds
/// (RFC 6455 §5.5). A header announcing more ends the connection before a byte of the
/// payload is read.
pub const MAX_FRAME: usize = 125;

/// The largest data message a viewer may send: none. A data frame that carries a byte ends
/// the connection as soon as it is read, the first of a fragmented message included.
pub const MAX_MESSAGE: usize = 0;

/// Bytes read from a viewer's socket at once, in a buffer allocated for the connection's
/// life: 4 KiB (the default, 128 KiB, would cost 512 MiB at 4096 viewers). A viewer's own
/// frames are 139 bytes at most (a control frame and its masked header).
pub const READ_BUFFER: usize = 4 << 10;

/// FLV bytes queued for a viewer before they are written without waiting for a flush: 32 KiB,
/// so that a tick's small tags go out in one write, and a large one in writes of 32 KiB or
/// more.
pub const WRITE_BUFFER: usize = 32 << 10;

/// The largest binary message of FLV bytes: 32 KiB. A larger tag (a keyframe can be hundreds
/// of KiB) goes out in several messages, which players read as one byte stream; a viewer's
/// write buffer then never holds more than [`MAX_WRITE_BUFFER`], whatever the publisher
/// sends.
pub const PIECE: usize = 32 << 10;

/// The most a viewer's write buffer holds: what is queued below [`WRITE_BUFFER`], one
/// [`PIECE`] with its frame header, and a control frame (a pong or the close), 64 KiB and a
/// little (its allocation, a vector that grows by doubling, may reach twice that). A write is
/// only queued once what was queued before has gone out or is below `WRITE_BUFFER`, so the
/// server's own messages always fit.
pub const MAX_WRITE_BUFFER: usize = WRITE_BUFFER + PIECE + 256;

/// Pings and pongs a viewer may send a second, sustained.
pub const CONTROL_RATE: u32 = 10;

/// Pings and pongs a viewer may send at once, beyond the sustained rate.
pub const CONTROL_BURST: u32 = 20;

/// What a viewer sent, as the rule sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// A text or binary message (only an empty one can arrive whole; any other is an error
    /// of the WebSocket layer, which the listener treats the same).
    Data,
    /// A ping, which the WebSocket layer answers with a pong.
    Ping,
    /// A pong: the listener sends no pings, so it is unsolicited.
    Pong,
    /// A close frame, or the end of the connection.
    Close,
}

/// What becomes of a viewer after what it sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// It goes on watching.
    Watching,
    /// It closed: the listener answers the close and ends.
    Closed,
    /// It broke the rule, for this reason (the close frame's text): the listener closes
    /// with code 1008.
    Refused(&'static str),
}

/// The close frame's text for a data message.
pub const NO_DATA: &str = "a viewer sends no data";

/// The close frame's text for too many pings or pongs.
pub const TOO_MANY_PINGS: &str = "too many pings";

/// The rule one viewer is held to: the rate of its pings and pongs, a generic cell rate
/// algorithm (a token bucket told as the time by which the bucket is full again).
#[derive(Debug, Clone)]
pub struct Rule {
    /// When the viewer's pings and pongs so far are paid for at the sustained rate.
    paid_until: Instant,
}

impl Rule {
    /// A viewer that joined at `now`, with its whole burst to spend.
    pub fn new(now: Instant) -> Self {
        Self { paid_until: now }
    }

    /// Judges what the viewer sent at `now`.
    pub fn judge(&mut self, sent: Sent, now: Instant) -> Verdict {
        match sent {
            Sent::Data => Verdict::Refused(NO_DATA),
            Sent::Close => Verdict::Closed,
            Sent::Ping | Sent::Pong => {
                let interval = Duration::from_secs(1) / CONTROL_RATE;
                let burst = interval * CONTROL_BURST;
                match self.paid_until.max(now).checked_add(interval) {
                    Some(paid_until) if paid_until.saturating_duration_since(now) <= burst => {
                        self.paid_until = paid_until;
                        Verdict::Watching
                    }
                    _ => Verdict::Refused(TOO_MANY_PINGS),
                }
            }
        }
    }
}
