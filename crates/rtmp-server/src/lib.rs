//! A live RTMP server on tokio, composed of the workspace's sans-IO crates.
//!
//! - [`ServerSession`]: one connection's protocol logic, sans-IO (connect, createStream,
//!   publish, play, deleteStream, keep-alive, Enhanced RTMP negotiation).
//! - [`Hub`]: streams by `app/name`, one publisher each, players waiting or joining mid-stream,
//!   GOP cache, and fan-out of messages chunked once into shared bytes, with bounded queues
//!   and a slow-player policy.
//! - [`Server`] (built with [`Server::builder`]): the listeners (RTMP, and RTMPS with the `tls`
//!   feature), handshake, timeouts, connection limits, vectored writes on a write tick shared
//!   by all players, and graceful shutdown, with [`Hooks`] for authentication, routing,
//!   recording and relays.
//! - [`client`]: publish to and play from any RTMP(S) server; [`ClientSession`](client::ClientSession)
//!   is its sans-IO core.
//! - Relays: [`Hooks::push_targets`] and [`Hooks::pull_source`] forward streams to other
//!   servers and fetch them from an origin, reconnecting with [`Backoff`]; [`StaticRelay`] is
//!   a ready-made configuration.
//! - [`tls`]: TLS settings from PEM files (feature `tls`, on by default).
//!
//! See the `server`, `publish` and `play` examples for complete programs.

mod builder;
mod connection;
mod hooks;
mod hub;
mod limits;
mod memory;
mod queue;
mod relay;
mod router;
mod server;
mod writer;

pub use builder::{ListeningServer, ServerBuilder};
pub use connection::ConnectionError;
pub use hooks::{AcceptAll, Hooks, Refusal, StreamEvent};
pub use hub::{
    Hub, HubConfig, HubPublisher, Media, MediaKind, SharedMedia, SlowPlayerPolicy, StreamStats,
    Subscription,
};
#[cfg(unix)]
pub use limits::raise_open_file_limit;
pub use queue::{MediaReceiver, MediaSender};
pub use relay::{Backoff, RelayConfig, StaticRelay};
pub use router::{
    DeliverError, Notice, PlayError, PlayerHandle, Playing, PublishError, Publishing, Router,
};
/// The client, which relays use: [`rtmp_client`], re-exported.
pub use rtmp_client as client;
/// RTMPS settings from PEM files (feature `tls`): [`rtmp_client::tls`], re-exported.
#[cfg(feature = "tls")]
pub use rtmp_client::tls;
pub use rtmp_session::{
    ConnectRequest, RtmpUrl, ServerSession, SessionConfig, SessionError, SessionEvent, StreamKey,
    StreamRequest,
};
pub use server::{Server, ServerConfig, bind_listener};
pub use writer::WriteStalled;
