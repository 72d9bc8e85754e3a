//! A live RTMP server on tokio, built on the workspace's sans-IO crates (`rtmp-session` for
//! each connection's protocol logic, `rtmp-client` for relays).
//!
//! ```no_run
//! use rtmp_server::{Client, Hooks, Refusal, Server, StreamEvent, StreamRequest};
//!
//! /// Publishing needs `?key=secret`; every publish is logged.
//! struct Auth;
//!
//! impl Hooks for Auth {
//!     async fn on_publish(&self, _: &Client, request: &StreamRequest) -> Result<(), Refusal> {
//!         match request.query.as_deref() {
//!             Some("key=secret") => Ok(()),
//!             _ => Err("a publishing key is needed".into()),
//!         }
//!     }
//!
//!     fn on_publish_started(&self, event: &StreamEvent) {
//!         println!("{} publishes {}", event.peer, event.key);
//!     }
//! }
//!
//! # async fn run() -> std::io::Result<()> {
//! let server = Server::builder()
//!     .listen("0.0.0.0:1935".parse().unwrap())
//!     .hooks(Auth)
//!     .bind()
//!     .await?;
//! server.run(async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```
//!
//! - [`Server`] (built with [`Server::builder`]): listeners (RTMP, and RTMPS with the `tls`
//!   feature), or [`Server::serve_connection`] over any byte stream; the handshake, timeouts
//!   (handshake, idle, write progress), connection limits, byte budgets (docs/limits.md),
//!   vectored writes on a write tick shared by all players, and graceful shutdown.
//! - [`Router`]: what happens to published media and play requests. The default, [`Hub`],
//!   keeps streams by `app/name` with one publisher each, players waiting or joining
//!   mid-stream, a GOP cache, and fans out each message chunked once into shared bytes, with
//!   queues bounded in bytes and a slow-player policy.
//! - [`Hooks`]: decisions (with a typed [`Refusal`]) and lifecycle events
//!   ([`StreamEvent`] pairs, disconnects with their [`ConnectionError`]).
//! - Relays: [`Hooks::push_targets`] and [`Hooks::pull_source`] forward streams to other
//!   servers and fetch them from an origin, reconnecting with [`Backoff`]; [`StaticRelay`] is
//!   a ready-made configuration.
//!
//! - Operations: [`Server::stats`] (connections, streams with codecs, resolution, bitrates and
//!   uptime, totals), [`Server::close_connection`] and [`Server::stop_publisher`]; a
//!   [`Recorder`] writes streams to FLV files, in segments, as a player of the router.
//!
//! See the `server` (with a TOML config, recording, a status page, a JSON API and Prometheus
//! metrics) and `blocking` examples for complete programs.

#![cfg_attr(docsrs, feature(doc_cfg))]

mod builder;
mod config;
mod connection;
mod error;
#[cfg(feature = "hls")]
mod hls;
mod hooks;
mod layered;
mod limits;
mod memory;
mod relay;
mod server;
mod stats;
mod sync;
mod viewer;
mod writer;

pub use builder::{ListeningServer, ServerBuilder};
pub use config::{ServerConfig, Takeover};
pub use error::ConnectionError;
/// HTTP Live Streaming of the server's streams (feature `hls`): the packaging is
/// [`rtmp_hls`], re-exported.
#[cfg(feature = "hls")]
pub use hls::{Hls, HlsReply, HlsSettings};
pub use hooks::{AcceptAll, Client, Hooks, StreamEvent};
pub use layered::Layered;
pub use relay::{Backoff, RelayConfig, StaticRelay};
/// AMF0 values: [`rtmp_amf0`], re-exported so that its version always matches.
pub use rtmp_amf0 as amf0;
/// The chunk stream layer: [`rtmp_chunk`], re-exported so that its version always matches.
pub use rtmp_chunk as chunk;
pub use rtmp_chunk::{MemoryBudget, RawMessage};
/// The client crate, which relays use: [`rtmp_client`], re-exported (under its own name, so
/// that it is not taken for [`Client`], the peer the hooks decide about).
pub use rtmp_client;
/// RTMPS settings from PEM files (feature `tls`): [`rtmp_client::tls`], re-exported.
#[cfg(feature = "tls")]
pub use rtmp_client::tls;
/// FLV tags, frames and codec configuration records: [`rtmp_flv`], re-exported so that its version always matches.
pub use rtmp_flv as flv;
/// The handshake: [`rtmp_handshake`], re-exported so that its version always matches.
pub use rtmp_handshake as handshake;
#[cfg(feature = "hls")]
pub use rtmp_hls;
/// Typed RTMP messages: [`rtmp_message`], re-exported so that its version always matches.
pub use rtmp_message as message;
/// Recording to FLV files (feature `record`): [`rtmp_record`], re-exported.
#[cfg(feature = "record")]
pub use rtmp_record::{RecordConfig, RecordError, Recorder};
/// The media router: [`rtmp_router`], re-exported so that its version always matches.
pub use rtmp_router as router;
/// The router seam at the root; what a router of the application's own is built with
/// (catch-up, conversions, slots, shared media, feeds) is under [`router`].
pub use rtmp_router::{
    CodecPolicy, Hub, HubConfig, PlayError, PlayerHandle, Playing, PublishError, Publishing,
    Refusal, Rendition, Router, SlowPlayerPolicy, StreamStats, TrackStats,
};
/// The sans-IO sessions: [`rtmp_session`], re-exported so that its version always matches.
pub use rtmp_session as session;
pub use rtmp_session::{ConnectRequest, RtmpUrl, SessionConfig, StreamKey, StreamRequest};
pub use server::Server;

/// The system around a server: descriptors, sockets and log lines, for the application's
/// own listeners beside it (an HTTP viewer listener, say) as for the server's.
pub mod system {
    pub use crate::limits::{AddressSlot, LogLimit, PerAddress, raise_open_file_limit};
    pub use crate::server::{bind_listener, bound_unsent};
    pub use crate::viewer::WriteTimeout;
}
pub use stats::{ConnectionStats, Role, ServerStats, StreamInfo, Totals};
pub use viewer::{Protocol, Viewer, ViewerError, ViewerRequest};

/// The README's example, compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
