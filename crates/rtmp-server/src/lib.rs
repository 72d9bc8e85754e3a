//! A live RTMP server on tokio, composed of the workspace's sans-IO crates.
//!
//! - [`ServerSession`]: one connection's protocol logic, sans-IO (connect, createStream,
//!   publish, play, deleteStream, keep-alive, Enhanced RTMP negotiation).
//! - [`Hub`]: streams by `app/name`, one publisher each, players waiting or joining mid-stream,
//!   GOP cache, and fan-out of messages chunked once into shared bytes, with bounded queues
//!   and a slow-player policy.
//! - [`Server`]: the listener, handshake, timeouts, connection limits, vectored batched writes
//!   and graceful shutdown, with [`Hooks`] for authentication, routing and recording.
//!
//! See the `server` example for a complete program.

mod builder;
pub mod client;
mod connection;
mod hooks;
mod hub;
mod relay;
mod server;
mod session;
#[cfg(feature = "tls")]
pub mod tls;
mod transport;

pub use builder::{ListeningServer, ServerBuilder};
pub use connection::ConnectionError;
pub use hooks::{AcceptAll, Hooks};
pub use hub::{
    Hub, HubConfig, Media, MediaKind, MediaSender, Notice, PlayError, PublishError, Publisher,
    SharedMedia, SlowPlayerPolicy, StreamStats, Subscription,
};
pub use relay::{Backoff, RelayConfig, StaticRelay};
pub use server::{Server, ServerConfig};
pub use session::{
    ConnectRequest, ServerSession, SessionConfig, SessionError, SessionEvent, StreamKey,
    StreamRequest,
};
pub use transport::Transport;
