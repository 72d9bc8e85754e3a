//! Viewers of other protocols than RTMP (HTTP-FLV, WebSocket-FLV, HLS), admitted by the
//! server in one place: [`Server::viewer`](crate::Server::viewer).
//!
//! A viewer is a connection of the server as an RTMP player is: the hooks decide on it with a
//! [`Client`] of the server's numbering, the router's play check, the rendition its query
//! asks for and the server's queue budget apply, and it is registered, so that
//! [`Server::stats`](crate::Server::stats) lists it with its [`Protocol`],
//! [`Server::close_connection`](crate::Server::close_connection) and
//! [`Server::drain`](crate::Server::drain) end it, and the hooks hear
//! [`on_play_started`](crate::Hooks::on_play_started) and
//! [`on_play_stopped`](crate::Hooks::on_play_stopped) (with its duration and bytes).

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use bytes::Bytes;
use rtmp_message::PublishType;
use rtmp_router::{
    BadTrack, CodecPolicy, FlvViewer, FlvViewerConfig, PlayError, Refusal, Rendition,
};
use rtmp_session::{StreamKey, StreamRequest};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::connection::Context;
use crate::hooks::{Client, Hooks, StreamEvent};
use crate::stats::{Entry, Registry, Request, Role};
use crate::writer::next_tick;

/// How a client reaches the server's streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Protocol {
    /// RTMP over TCP.
    Rtmp,
    /// RTMP over TLS.
    Rtmps,
    /// FLV in a chunked HTTP response.
    HttpFlv,
    /// FLV in WebSocket binary messages.
    WsFlv,
    /// HTTP Live Streaming: a session of playlist and segment requests.
    Hls,
}

impl Protocol {
    /// Its name in the API and metrics: `rtmp`, `rtmps`, `http-flv`, `ws-flv`, `hls`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Rtmp => "rtmp",
            Self::Rtmps => "rtmps",
            Self::HttpFlv => "http-flv",
            Self::WsFlv => "ws-flv",
            Self::Hls => "hls",
        }
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A viewer an HTTP stack asks the server to admit: the stream, the URL's query (a signed
/// name's token, `track=`, `audio_track=`), the client's address and its protocol.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ViewerRequest {
    /// The stream.
    pub key: StreamKey,
    /// The URL's query, given to the hooks as a stream name's query is.
    pub query: Option<String>,
    /// The client's address.
    pub peer: SocketAddr,
    /// How it reaches the server.
    pub protocol: Protocol,
    /// Start with the router's catch-up (from the last keyframe; default), or at the next
    /// keyframe.
    pub gop: bool,
    /// Which codecs the viewer gets, and in what form (default: as published).
    pub codecs: CodecPolicy,
}

impl ViewerRequest {
    /// A viewer of `key` from `peer` over `protocol`, with the URL's `query`.
    pub fn new(
        key: StreamKey,
        query: Option<String>,
        peer: SocketAddr,
        protocol: Protocol,
    ) -> Self {
        Self {
            key,
            query,
            peer,
            protocol,
            gop: true,
            codecs: CodecPolicy::AsPublished,
        }
    }
}

/// Why a viewer was not admitted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ViewerError {
    /// Nobody publishes the stream, nor waits for its publisher.
    #[error("{0} is not live")]
    NotLive(StreamKey),
    /// The hooks refused it.
    #[error("{}", .0.description)]
    Refused(Refusal),
    /// The query names a track that cannot be.
    #[error(transparent)]
    BadTrack(#[from] BadTrack),
    /// The router refused the play.
    #[error(transparent)]
    Play(#[from] PlayError),
}

impl ViewerError {
    /// The HTTP status that says it: 404, 403 or 400.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::NotLive(_) => 404,
            Self::BadTrack(_) => 400,
            Self::Refused(_) | Self::Play(_) => 403,
        }
    }
}

/// A viewer the server admitted ([`Server::viewer`](crate::Server::viewer)): the stream as
/// FLV bytes, shared with every other player of the stream, paced by the server's write tick
/// (what comes during a tick is taken together with [`ready`](Self::ready)). It is a
/// connection of the server until dropped.
pub struct Viewer<H: Hooks> {
    flv: FlvViewer,
    admitted: Admitted<H>,
    /// Rest until then before the next write, if set.
    next_write: Option<tokio::time::Instant>,
    /// Closed by the operator or a drain.
    ended: bool,
}

impl<H: Hooks> std::fmt::Debug for Viewer<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Viewer")
            .field("id", &self.admitted.event.connection)
            .field("key", &self.admitted.event.key)
            .finish_non_exhaustive()
    }
}

/// A viewer of any protocol once admitted: one of the server's connections, with the stream
/// it plays, until dropped (then unregistered, and the hooks hear that its play stopped).
pub(crate) struct Admitted<H: Hooks> {
    pub(crate) context: Arc<Context<H>>,
    pub(crate) entry: Arc<Entry>,
    pub(crate) event: StreamEvent,
}

impl<H: Hooks> Admitted<H> {
    /// Decides on `request` as on an RTMP play: the stream must be live (or awaited), the
    /// query's rendition valid, the router willing and the hooks agreeing. Registers the
    /// viewer once all said yes; `play` (the router's part, if any) runs before that.
    pub(crate) async fn admit<T>(
        context: Arc<Context<H>>,
        request: ViewerRequest,
        play: impl FnOnce(&Context<H>, Rendition) -> Result<T, ViewerError>,
    ) -> Result<(Self, T), ViewerError> {
        let key = request.key;
        // A stream whose publisher is restarting has players waiting for it: a viewer waits
        // with them, as an RTMP player does.
        let router = &context.router;
        if !router.is_published(&key) && !router.is_played(&key) {
            return Err(ViewerError::NotLive(key));
        }
        let id = context.next_id.fetch_add(1, Ordering::Relaxed);
        let client = Client::new(id, request.peer, None);
        let stream = StreamRequest {
            stream_id: 0,
            key: key.clone(),
            query: request.query,
            publish_type: PublishType::Live,
        };
        let refused = |counted: ViewerError| {
            Registry::count(&context.registry.plays_refused);
            counted
        };
        // What the server can refuse itself is refused before the hooks are asked, so that
        // a play they accepted is one that starts.
        let rendition = Rendition::from_query(stream.query.as_deref(), false)
            .map_err(|bad| refused(bad.into()))?;
        context
            .router
            .check_play(&key, true)
            .map_err(|error| refused(error.into()))?;
        if let Err(refusal) = decide(&context, client, stream).await {
            return Err(refused(ViewerError::Refused(refusal)));
        }
        let played = play(&context, rendition).map_err(refused)?;
        let entry = context.registry.enter(id, request.peer, request.protocol);
        entry.started(0, &key, Role::Player);
        let event = StreamEvent {
            connection: id,
            peer: request.peer,
            stream_id: 0,
            key,
            duration: Duration::ZERO,
            bytes: 0,
        };
        context.hooks.on_play_started(&event);
        Ok((
            Self {
                context,
                entry,
                event,
            },
            played,
        ))
    }

    /// Counts `bytes` sent to the viewer.
    pub(crate) fn count(&self, bytes: usize) {
        self.entry
            .bytes_out
            .fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Whether the operator closed the viewer or drained the server since last asked.
    pub(crate) fn is_closed(&self) -> bool {
        let ends =
            |request: &Request| matches!(request, Request::Close | Request::Reconnect { .. });
        self.entry.take_requests().iter().any(ends)
    }
}

impl<H: Hooks> Drop for Admitted<H> {
    fn drop(&mut self) {
        let mut event = self.event.clone();
        event.duration = self.entry.stopped(0, Role::Player);
        event.bytes = self.entry.bytes_out.load(Ordering::Relaxed);
        self.context
            .registry
            .unregister(event.connection, &self.entry);
        self.context.hooks.on_play_stopped(&event);
    }
}

impl<H: Hooks> Viewer<H> {
    /// Admits `request` on behalf of the server whose `context` this is.
    pub(crate) async fn admit(
        context: Arc<Context<H>>,
        request: ViewerRequest,
    ) -> Result<Self, ViewerError> {
        let key = request.key.clone();
        let (gop, codecs) = (request.gop, request.codecs.clone());
        let (admitted, flv) = Admitted::admit(context, request, |context, rendition| {
            let mut config = FlvViewerConfig::default();
            config.queue_bytes = context.config.player_queue_bytes;
            config.gop = gop;
            config.codecs = codecs;
            config.rendition = rendition;
            Ok(FlvViewer::play(
                &*context.router,
                &key,
                config,
                context.queued.clone(),
            )?)
        })
        .await?;
        Ok(Self {
            flv,
            admitted,
            next_write: None,
            ended: false,
        })
    }

    /// The viewer's id among the server's connections.
    pub fn id(&self) -> u64 {
        self.admitted.event.connection
    }

    /// The stream it plays.
    pub fn key(&self) -> &StreamKey {
        &self.admitted.event.key
    }

    /// The next bytes to send: the FLV header, then a tag at a time, each written at the
    /// server's next write tick after the last write. `None` once the stream ended, or the
    /// operator closed the viewer or drained the server.
    pub async fn next(&mut self) -> Option<Bytes> {
        if self.ended {
            return None;
        }
        let entry = self.admitted.entry.clone();
        let bytes = loop {
            let next_write = self.next_write;
            tokio::select! {
                biased;
                () = entry.wake.notified() => {
                    // A close or a drain: a viewer cannot move elsewhere on its own, so it
                    // ends (its player reconnects to whichever node serves the stream).
                    if self.admitted.is_closed() {
                        self.ended = true;
                        return None;
                    }
                }
                bytes = async {
                    if let Some(next) = next_write {
                        tokio::time::sleep_until(next).await;
                    }
                    self.flv.next().await
                } => break bytes,
            }
        };
        let Some(bytes) = bytes else {
            self.ended = true;
            return None;
        };
        let context = &self.admitted.context;
        let interval = context.config.write_interval;
        if !interval.is_zero() {
            let now = tokio::time::Instant::now();
            self.next_write = Some(next_tick(context.epoch, interval, now));
        }
        self.admitted.count(bytes.len());
        Some(bytes)
    }

    /// What [`next`](Self::next) would give at once, within the same tick: `None` when
    /// nothing is ready now. A writer takes what is ready after each `next`, and sends it
    /// together.
    pub fn ready(&mut self) -> Option<Bytes> {
        if self.ended {
            return None;
        }
        let bytes = self.flv.ready()?;
        self.admitted.count(bytes.len());
        Some(bytes)
    }
}

/// Asks the hooks about a viewer's play on a task of its own: a viewer whose request is
/// dropped while the hooks decide (its client left) does not leave them with a play they
/// accepted and never hear the end of. Such a play starts and stops at once for them.
async fn decide<H: Hooks>(
    context: &Arc<Context<H>>,
    client: Client,
    play: StreamRequest,
) -> Result<(), Refusal> {
    let (answer, answered) = tokio::sync::oneshot::channel();
    let context = context.clone();
    tokio::spawn(async move {
        let decision = context.hooks.on_play(&client, &play).await;
        let accepted = decision.is_ok();
        if answer.send(decision).is_err() && accepted {
            let event = StreamEvent {
                connection: client.connection,
                peer: client.peer,
                stream_id: 0,
                key: play.key,
                duration: Duration::ZERO,
                bytes: 0,
            };
            context.hooks.on_play_started(&event);
            context.hooks.on_play_stopped(&event);
        }
    });
    // The task always answers unless the runtime is shutting down.
    answered
        .await
        .unwrap_or_else(|_| Err("the server is stopping".into()))
}

/// A socket whose writes fail once it has accepted nothing for `timeout` while bytes wait:
/// a viewer that stopped reading goes, as an RTMP player does
/// ([`ServerConfig::write_timeout`](crate::ServerConfig::write_timeout)). Wrap a viewer's
/// socket in it before handing it to an HTTP stack.
#[derive(Debug)]
pub struct WriteTimeout<S> {
    inner: S,
    timeout: Duration,
    /// When the pending write gives up, while one is pending.
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<S> WriteTimeout<S> {
    /// `inner`, whose writes fail after `timeout` without progress.
    pub fn new(inner: S, timeout: Duration) -> Self {
        Self {
            inner,
            timeout,
            deadline: None,
        }
    }

    /// `result` of a write: progress disarms the deadline; waiting arms it, and fails once
    /// it passed.
    fn timed<T>(
        &mut self,
        cx: &mut TaskContext<'_>,
        result: Poll<std::io::Result<T>>,
    ) -> Poll<std::io::Result<T>> {
        if result.is_ready() {
            self.deadline = None;
            return result;
        }
        let timeout = self.timeout;
        let deadline = self
            .deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        std::task::ready!(deadline.as_mut().poll(cx));
        Poll::Ready(Err(std::io::ErrorKind::TimedOut.into()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WriteTimeout<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WriteTimeout<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.timed(cx, result)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.timed(cx, result)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        let result = Pin::new(&mut self.inner).poll_flush(cx);
        self.timed(cx, result)
    }

    fn poll_shutdown(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
