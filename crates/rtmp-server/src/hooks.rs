//! [`Hooks`]: where an application decides who may connect, publish and play, and watches
//! what happens. Every method has a default that accepts or does nothing.

use std::future::Future;
use std::net::SocketAddr;

use rtmp_amf0::Value;

use rtmp_session::{ConnectRequest, RtmpUrl, StreamKey, StreamRequest};

/// Decisions and observations of the application. A refusal's text reaches the client in
/// its onStatus description.
///
/// ```
/// use rtmp_server::{Hooks, StreamRequest};
/// use std::net::SocketAddr;
///
/// /// Only publishers with `?token=secret` may publish.
/// struct TokenCheck;
///
/// impl Hooks for TokenCheck {
///     async fn on_publish(&self, _peer: SocketAddr, request: &StreamRequest) -> Result<(), String> {
///         match request.query.as_deref() {
///             Some("token=secret") => Ok(()),
///             _ => Err("a valid token is needed".into()),
///         }
///     }
/// }
/// ```
pub trait Hooks: Send + Sync + 'static {
    /// A TCP connection arrived (before the handshake): return false to close it, e.g. for a
    /// blocklist or a rate limit.
    fn on_connection(&self, peer: SocketAddr) -> impl Future<Output = bool> + Send {
        let _ = peer;
        async { true }
    }

    /// A client asks to connect to an app.
    fn on_connect(
        &self,
        peer: SocketAddr,
        request: &ConnectRequest,
    ) -> impl Future<Output = Result<(), String>> + Send {
        let _ = (peer, request);
        async { Ok(()) }
    }

    /// A client asks to publish a stream.
    fn on_publish(
        &self,
        peer: SocketAddr,
        request: &StreamRequest,
    ) -> impl Future<Output = Result<(), String>> + Send {
        let _ = (peer, request);
        async { Ok(()) }
    }

    /// A client asks to play a stream.
    fn on_play(
        &self,
        peer: SocketAddr,
        request: &StreamRequest,
    ) -> impl Future<Output = Result<(), String>> + Send {
        let _ = (peer, request);
        async { Ok(()) }
    }

    /// Remote servers to push `key` to when a publisher starts it here (full URLs, stream
    /// name included). Each push reconnects with backoff until the local publisher stops.
    fn push_targets(&self, key: &StreamKey) -> impl Future<Output = Vec<RtmpUrl>> + Send {
        let _ = key;
        async { Vec::new() }
    }

    /// Where to pull `key` from when a player asks for it and nobody publishes it here (an
    /// edge server). The pull stops when the last player leaves.
    fn pull_source(&self, key: &StreamKey) -> impl Future<Output = Option<RtmpUrl>> + Send {
        let _ = key;
        async { None }
    }

    /// A publisher sent metadata.
    fn on_metadata(&self, key: &StreamKey, metadata: &Value) {
        let _ = (key, metadata);
    }

    /// A publisher sent audio, video or data (for recorders and transcoders; keep it quick).
    fn on_media(&self, key: &StreamKey, message: &rtmp_chunk::Message) {
        let _ = (key, message);
    }

    /// A publisher stopped.
    fn on_unpublish(&self, key: &StreamKey) {
        let _ = key;
    }

    /// A player stopped.
    fn on_play_stop(&self, key: &StreamKey) {
        let _ = key;
    }

    /// A connection closed, with the reason when it failed.
    fn on_disconnect(&self, peer: SocketAddr, error: Option<&str>) {
        let _ = (peer, error);
    }
}

/// Hooks that accept everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct AcceptAll;

impl Hooks for AcceptAll {}
