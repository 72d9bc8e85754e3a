//! The two sides of an RTMP connection as plain state machines, with no runtime: no socket, no
//! clock, no task. Bytes are the caller's business (with `rtmp-handshake` and `rtmp-chunk`);
//! the sessions take whole chunk-stream messages in and give messages to send and events out.
//!
//! - [`ServerSession`]: connect, createStream, publish, play, deleteStream, keep-alive pings,
//!   and the Enhanced RTMP FourCC list in the connect result.
//! - [`ClientSession`]: connect (with a `fourCcList`), createStream, releaseStream/FCPublish,
//!   publish, play and the answers to them, pings and Set Peer Bandwidth answered.
//! - [`StreamKey`] (`app/name`, what publishers and players meet on) and [`RtmpUrl`]
//!   (`rtmp://` and `rtmps://`, with the app/stream split ffmpeg uses).
//!
//! The methods come in four kinds, as in quinn-proto's `Connection`:
//! - **handle**: what happened: [`ServerSession::handle_message`] for each decoded message,
//!   [`ServerSession::handle_timeout`] when the clock reaches [`ServerSession::poll_timeout`].
//! - **poll**: what to do: [`ServerSession::poll_send`] for messages to chunk and write,
//!   [`ServerSession::poll_event`] for requests the application decides on.
//! - **decide**: the application's answers to events: `accept_connect` / `reject_connect`,
//!   `accept_publish` / `reject_publish`, `accept_play` / `reject_play`.
//! - **tell**: what the application knows and the peer should: `unpublish_notify`,
//!   `publish_notify`, `connection_closed`.
//!
//! Time is an argument ([`std::time::Instant`]), so tests run on a simulated clock and any
//! runtime (or none) can drive a session. A server's driving loop, in memory:
//!
//! ```
//! use std::time::{Duration, Instant};
//! use rtmp_session::{ClientSession, ClientSessionConfig, ServerSession, SessionConfig, SessionEvent};
//!
//! let mut now = Instant::now();
//! let mut server = ServerSession::new(SessionConfig::default(), now);
//! let mut client = ClientSession::new(ClientSessionConfig::default());
//! client.connect("live", "rtmp://127.0.0.1/live").unwrap();
//!
//! // The network: whatever one side sends, the other handles (a real driver chunks the
//! // messages with rtmp-chunk and writes them to a socket).
//! for _ in 0..3 {
//!     while let Some(message) = client.poll_send() {
//!         server.handle_message(message).unwrap();
//!     }
//!     while let Some(event) = server.poll_event() {
//!         if let SessionEvent::Connect(request) = event {
//!             assert_eq!(request.app, "live");
//!             server.accept_connect().unwrap(); // decide
//!         }
//!     }
//!     while let Some(message) = server.poll_send() {
//!         client.handle_message(message).unwrap();
//!     }
//! }
//! // Keep-alive: the session says when it next needs the clock.
//! let due = server.poll_timeout().expect("a ping is scheduled once connected");
//! now += Duration::from_secs(30);
//! assert!(due <= now);
//! server.handle_timeout(now).unwrap();
//! assert!(server.poll_send().is_some(), "a ping request");
//! ```

#![forbid(unsafe_code)]

pub mod chunk_stream;
mod client;
mod negotiation;
mod server;
mod streams;
mod url;

pub use client::{ClientEvent, ClientSession, ClientSessionConfig, ClientSessionError};
pub use negotiation::{ANY_FOURCC, Capabilities, caps_ex, fourcc_flags};
/// AMF0 values: [`rtmp_amf0`], re-exported so that its version always matches.
pub use rtmp_amf0 as amf0;
/// The chunk stream layer: [`rtmp_chunk`], re-exported so that its version always matches.
pub use rtmp_chunk as chunk;
/// Typed RTMP messages: [`rtmp_message`], re-exported so that its version always matches.
pub use rtmp_message as message;
pub use server::{
    ConnectRequest, MAX_AGGREGATE_PARTS, PlayControl, ServerSession, SessionConfig, SessionError,
    SessionEvent, StreamKey, StreamRequest,
};
pub use url::{RtmpUrl, Scheme, UrlError};

/// The README's example, compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
