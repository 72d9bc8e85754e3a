//! [`Hooks`]: where an application decides who may connect, publish and play, and watches
//! what happens. Every method has a default that accepts or does nothing.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use rtmp_amf0::Value;
use rtmp_router::Refusal;
use rtmp_session::{ConnectRequest, RtmpUrl, StreamKey, StreamRequest};

use crate::error::ConnectionError;

/// The client a decision is about: its connection, its address, and the connect request the
/// server accepted from it (`None` while connect itself is decided).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Client {
    /// The connection's id (as in the server's log spans and [`StreamEvent`]).
    pub connection: u64,
    /// The client's address.
    pub peer: SocketAddr,
    /// What it connected with: the app and its query, the tcUrl, the whole command.
    pub connect: Option<Arc<ConnectRequest>>,
}

impl Client {
    /// A client that did not come through RTMP (an HTTP-FLV viewer, say), for asking the
    /// hooks about it: its connection id (of the application's numbering), its address and
    /// the connect request, if it made one.
    pub fn new(connection: u64, peer: SocketAddr, connect: Option<Arc<ConnectRequest>>) -> Self {
        Self {
            connection,
            peer,
            connect,
        }
    }
}

/// A publish or play the server accepted: which connection, from where, on which message
/// stream, and the key. Each `…_started` event is followed by its `…_stopped` with the same
/// fields.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamEvent {
    /// The connection's id (as in the server's log spans).
    pub connection: u64,
    /// The client's address.
    pub peer: SocketAddr,
    /// The message stream the client used.
    pub stream_id: u32,
    /// `app/name`.
    pub key: StreamKey,
    /// In a `…_stopped` event, how long the publish or play lasted (zero when it starts).
    pub duration: std::time::Duration,
    /// In a `…_stopped` event, the bytes the connection received (a publisher) or sent (a
    /// player) in its life so far (zero when it starts).
    pub bytes: u64,
}

/// Decisions and observations of the application. Decisions come before the server acts;
/// events come after, in pairs (`on_publish_started` then `on_publish_stopped`, and the same
/// for play), and `on_disconnect` last.
///
/// ```
/// use rtmp_server::{Client, Hooks, Refusal, StreamEvent, StreamRequest};
///
/// /// Only publishers with `?token=secret` may publish; publishes are logged.
/// struct TokenCheck;
///
/// impl Hooks for TokenCheck {
///     async fn on_publish(&self, _client: &Client, request: &StreamRequest) -> Result<(), Refusal> {
///         match request.query.as_deref() {
///             Some("token=secret") => Ok(()),
///             _ => Err("a valid token is needed".into()),
///         }
///     }
///
///     fn on_publish_started(&self, event: &StreamEvent) {
///         println!("connection {} publishes {} from {}", event.connection, event.key, event.peer);
///     }
/// }
/// ```
pub trait Hooks: Send + Sync + 'static {
    /// A TCP connection arrived (before the handshake; `client.connect` is `None`): return
    /// false to close it, e.g. for a blocklist or a rate limit.
    fn on_connection(&self, client: &Client) -> impl Future<Output = bool> + Send {
        let _ = client;
        async { true }
    }

    /// A client asks to connect to an app.
    fn on_connect(
        &self,
        client: &Client,
        request: &ConnectRequest,
    ) -> impl Future<Output = Result<(), Refusal>> + Send {
        let _ = (client, request);
        async { Ok(()) }
    }

    /// A client asks to publish a stream.
    fn on_publish(
        &self,
        client: &Client,
        request: &StreamRequest,
    ) -> impl Future<Output = Result<(), Refusal>> + Send {
        let _ = (client, request);
        async { Ok(()) }
    }

    /// A client asks to play a stream.
    fn on_play(
        &self,
        client: &Client,
        request: &StreamRequest,
    ) -> impl Future<Output = Result<(), Refusal>> + Send {
        let _ = (client, request);
        async { Ok(()) }
    }

    /// Whether these hooks, having accepted `request` in [`on_publish`](Self::on_publish),
    /// authenticated its client for that key (a signed name checked against a secret, an
    /// endpoint that decided): such a publisher may take the key over from a silent one
    /// ([`ServerConfig::takeover`](crate::ServerConfig::takeover)). Without it, only a
    /// publisher from the same address as the silent one may, so that a stranger cannot
    /// take a stream whose encoder paused. Default: false.
    fn authenticates_publish(&self, client: &Client, request: &StreamRequest) -> bool {
        let _ = (client, request);
        false
    }

    /// Remote servers to push `key` to when a publisher starts it here (full URLs, stream
    /// name included). Each push reconnects with backoff until the local publisher stops.
    fn push_targets(&self, key: &StreamKey) -> impl Future<Output = Vec<RtmpUrl>> + Send {
        let _ = key;
        async { Vec::new() }
    }

    /// Where to pull `key` from when a player asks for it and nobody publishes it here (an
    /// edge server). The pull stops when the last player leaves. When the source fails, the
    /// pull asks again before each retry, so that it follows a stream that moved (and waits
    /// while this returns `None`).
    fn pull_source(&self, key: &StreamKey) -> impl Future<Output = Option<RtmpUrl>> + Send {
        let _ = key;
        async { None }
    }

    /// A publish was accepted (by the hooks and the router).
    fn on_publish_started(&self, event: &StreamEvent) {
        let _ = event;
    }

    /// A publisher sent metadata.
    fn on_metadata(&self, key: &StreamKey, metadata: &Value) {
        let _ = (key, metadata);
    }

    /// A publisher sent audio, video or data. It runs on the publisher's reader, so keep it
    /// quick; to record or transcode, take media from a [`Router`](crate::Router) instead.
    fn on_media(&self, key: &StreamKey, message: &rtmp_chunk::RawMessage) {
        let _ = (key, message);
    }

    /// A publish ended (deleteStream, FCUnpublish, or the connection closed).
    fn on_publish_stopped(&self, event: &StreamEvent) {
        let _ = event;
    }

    /// The publisher in `event` took its key over from connection `replaced`, which was
    /// closed (see [`ServerConfig::takeover`](crate::ServerConfig::takeover)). Comes once the
    /// new publisher has the key, before its `on_publish_started`; the replaced one's
    /// `on_publish_stopped` comes too, in any order with these.
    fn on_publish_taken_over(&self, replaced: u64, event: &StreamEvent) {
        let _ = (replaced, event);
    }

    /// A play was accepted (by the hooks and the router).
    fn on_play_started(&self, event: &StreamEvent) {
        let _ = event;
    }

    /// A play ended.
    fn on_play_stopped(&self, event: &StreamEvent) {
        let _ = event;
    }

    /// A connection closed, with the error that ended it, if any.
    fn on_disconnect(&self, client: &Client, error: Option<&ConnectionError>) {
        let _ = (client, error);
    }
}

/// Hooks that accept everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct AcceptAll;

impl Hooks for AcceptAll {}
