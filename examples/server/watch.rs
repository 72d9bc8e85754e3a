//! The viewer listener (`--watch ADDR`): every live stream for browsers and other HTTP players.
//!
//! - `GET /APP/NAME.flv`: the stream as HTTP-FLV (a chunked response that is an FLV file
//!   without end), open to pages of any origin (CORS);
//! - the same path with a WebSocket upgrade: WebSocket-FLV, the same bytes in binary frames.
//!   Such a viewer may send nothing that costs: a data message, or a frame over 125 bytes,
//!   closes the connection at its first frame (code 1008), pings and pongs more than 10 a
//!   second sustained (bursts of 20) too; its connection buffers 4 KiB to read and at most
//!   64 KiB to write, a larger tag going out in binary messages of 32 KiB (`ws_viewer.rs`);
//! - `GET /watch/APP/NAME`: a page that plays it with mpegts.js (served from here, with its
//!   licence, under `/player/`), shows how far behind live it is, and reconnects when the
//!   stream comes back.
//!
//! A viewer is a player of the router ([`FlvViewer`]): it starts at the last keyframe
//! (`?gop=0`: at the next one), skips to the next keyframe when it falls more than 2 s behind
//! the live edge, has a queue bounded in bytes with the RTMP players' slow-player policy, and
//! is closed when its socket accepts nothing for the write timeout. What comes during 100 ms
//! goes out in one vectored write of the shared tags, as for RTMP players. `?codecs=legacy`
//! gives a player that takes legacy tags only H.264 and AAC. Of a multitrack stream a viewer
//! gets one rendition: video track 0 and audio track 0, or those `?track=ID&audio_track=ID`
//! name. The hooks decide (`on_play`, with the
//! URL's query) as for RTMP players; an unknown stream is a 404.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use futures::SinkExt;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rtmp_server::message::PublishType;
use rtmp_server::router::{CodecPolicy, FlvViewer, FlvViewerConfig, Rendition};
use rtmp_server::{Client, Hooks, LogLimit, PerAddress, Server, StreamKey, StreamRequest};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::http::http1;
use crate::policy::Policy;
use rtmp_cluster::ClusterHooks;

/// How viewers reach a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// FLV in a chunked HTTP response.
    HttpFlv,
    /// FLV in WebSocket binary frames.
    WsFlv,
}

impl Protocol {
    /// The name in metrics and the API.
    pub fn name(self) -> &'static str {
        match self {
            Self::HttpFlv => "http-flv",
            Self::WsFlv => "ws-flv",
        }
    }
}

/// The viewers watching now, by stream and protocol.
#[derive(Debug, Default)]
pub struct Viewers {
    counts: Mutex<HashMap<(StreamKey, Protocol), usize>>,
}

impl Viewers {
    /// The viewers of `key` over `protocol`.
    pub fn of(&self, key: &StreamKey, protocol: Protocol) -> usize {
        let counts = self
            .counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        counts.get(&(key.clone(), protocol)).copied().unwrap_or(0)
    }

    /// Counts a viewer while the returned guard lives.
    fn watch(self: &Arc<Self>, key: &StreamKey, protocol: Protocol) -> Watching {
        let mut counts = self
            .counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *counts.entry((key.clone(), protocol)).or_default() += 1;
        metrics::gauge!("rtmp_viewers", "protocol" => protocol.name()).increment(1.0);
        Watching {
            viewers: self.clone(),
            key: key.clone(),
            protocol,
        }
    }
}

/// One viewer, counted until dropped.
struct Watching {
    viewers: Arc<Viewers>,
    key: StreamKey,
    protocol: Protocol,
}

impl Drop for Watching {
    fn drop(&mut self) {
        let mut counts = self
            .viewers
            .counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let entry = (self.key.clone(), self.protocol);
        if let Some(count) = counts.get_mut(&entry) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&entry);
            }
        }
        metrics::gauge!("rtmp_viewers", "protocol" => self.protocol.name()).decrement(1.0);
    }
}

/// What the viewer listener allows.
#[derive(Debug, Clone, Copy)]
pub struct WatchLimits {
    /// Connections open at once (default 4096); more are closed on arrival.
    pub max_connections: usize,
    /// Time allowed for a request head (default 10 s).
    pub header_timeout: Duration,
    /// A viewer whose socket accepts nothing for this long while bytes wait is closed
    /// (default 20 s, as RTMP players).
    pub write_timeout: Duration,
    /// Connections open at once from one IP address (default 256, a sixteenth of the
    /// connections): one address cannot take every viewer slot.
    pub max_connections_per_ip: usize,
}

impl Default for WatchLimits {
    fn default() -> Self {
        Self {
            max_connections: 4096,
            header_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(20),
            max_connections_per_ip: 256,
        }
    }
}

/// What the handlers share.
pub struct Watch {
    /// The RTMP server, whose router and hooks viewers go through.
    pub server: Server<ClusterHooks<Policy>>,
    /// The viewers now.
    pub viewers: Arc<Viewers>,
    /// Ids for viewers in the hooks' `Client`, apart from RTMP connections' ids.
    next_id: AtomicU64,
}

impl Watch {
    /// Viewers of `server`'s streams, counted in `viewers`.
    pub fn new(server: Server<ClusterHooks<Policy>>, viewers: Arc<Viewers>) -> Self {
        Self {
            server,
            viewers,
            next_id: AtomicU64::new(1 << 48),
        }
    }
}

type Shared = State<Arc<Watch>>;

/// Who sent a request.
#[derive(Debug, Clone, Copy)]
struct Peer(SocketAddr);

/// Serves viewers on `listener` until the process ends, within `limits`.
pub async fn serve(listener: tokio::net::TcpListener, watch: Arc<Watch>, limits: WatchLimits) {
    let app = router(watch);
    let per_address = PerAddress::default();
    let lines = LogLimit::new(Duration::from_secs(10));
    crate::http::accept(
        listener,
        limits.max_connections,
        "viewer",
        |stream, peer, permit| {
            let Some(slot) = per_address.try_add(peer.ip(), limits.max_connections_per_ip) else {
                drop(stream);
                if let Some(held_back) = lines.allow(peer.ip(), std::time::Instant::now()) {
                    tracing::warn!(
                        %peer,
                        held_back,
                        limit = limits.max_connections_per_ip,
                        "viewer connection refused: too many from its address"
                    );
                }
                return;
            };
            // A viewer that stops reading leaves writes waiting once 128 KiB wait in its socket,
            // and is closed by the write timeout, as an RTMP player is.
            rtmp_server::bound_unsent(&stream, Some(128 << 10), limits.write_timeout);
            let service = TowerToHyperService::new(app.clone().layer(Extension(Peer(peer))));
            let io = TokioIo::new(Stalling::new(stream, limits.write_timeout));
            tokio::spawn(async move {
                let builder = http1(limits.header_timeout);
                // Errors are the viewer's (gone, stalled, a broken request): nothing to report.
                let _ = builder.serve_connection(io, service).with_upgrades().await;
                drop((permit, slot));
            });
        },
    )
    .await;
}

fn router(watch: Arc<Watch>) -> Router {
    Router::new()
        .route("/watch/{app}/{name}", get(page))
        .route("/player/mpegts.js", get(player_script))
        .route("/player/LICENSE", get(player_license))
        .route("/{app}/{file}", get(flv))
        .with_state(watch)
}

/// A name part of a URL that may go into the page as it is: letters, digits, `-`, `_`, `.`.
fn plain(part: &str) -> bool {
    (1..=128).contains(&part.len())
        && !part.starts_with('.')
        && part
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.'))
}

async fn page(Path((app, name)): Path<(String, String)>) -> Response {
    if !plain(&app) || !plain(&name) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let html = include_str!("watch.html").replace("{{KEY}}", &format!("{app}/{name}"));
    Html(html).into_response()
}

async fn player_script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript"),
            (header::CACHE_CONTROL, "max-age=86400"),
        ],
        include_str!("player/mpegts.js"),
    )
}

async fn player_license() -> impl IntoResponse {
    let text = [
        include_str!("player/LICENSE"),
        include_str!("player/mpegts.js.LICENSE.txt"),
    ]
    .join("\n");
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text)
}

/// How a viewer asked to play: `gop=0`, `codecs=legacy` (and `track=`, `audio_track=`, read
/// from the raw query).
#[derive(Debug, serde::Deserialize)]
struct Options {
    gop: Option<String>,
    codecs: Option<String>,
}

/// `GET /APP/NAME.flv`: HTTP-FLV, or WebSocket-FLV when upgraded.
async fn flv(
    State(watch): Shared,
    Path((app, file)): Path<(String, String)>,
    Query(options): Query<Options>,
    RawQuery(query): RawQuery,
    Extension(Peer(peer)): Extension<Peer>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let upgrade = upgrade.ok();
    let Some(name) = file.strip_suffix(".flv") else {
        return StatusCode::NOT_FOUND.into_response();
    };
    // The bounds of RTMP's names, so that nothing below repeats more than they allow.
    let limits = &watch.server.config().session;
    let query_len = query.as_deref().map_or(0, str::len);
    if app.len() > limits.max_app_bytes
        || name.len() > limits.max_name_bytes
        || query_len > limits.max_query_bytes
    {
        return (StatusCode::URI_TOO_LONG, "the stream name is too long\n").into_response();
    }
    let key = StreamKey {
        app,
        name: name.to_owned(),
    };
    let server = &watch.server;
    if !server.router().is_published(&key) {
        return (StatusCode::NOT_FOUND, format!("{key} is not live\n")).into_response();
    }
    let id = watch.next_id.fetch_add(1, Ordering::Relaxed);
    let request = StreamRequest {
        stream_id: 0,
        key: key.clone(),
        query,
        publish_type: PublishType::Live,
    };
    if let Err(refusal) = server
        .hooks()
        .on_play(&Client::new(id, peer, None), &request)
        .await
    {
        return (StatusCode::FORBIDDEN, format!("{refusal}\n")).into_response();
    }
    let mut config = FlvViewerConfig::default();
    config.rendition = match Rendition::from_query(request.query.as_deref(), false) {
        Ok(rendition) => rendition,
        Err(bad) => return (StatusCode::BAD_REQUEST, format!("{bad}\n")).into_response(),
    };
    config.gop = options.gop.as_deref() != Some("0");
    if options.codecs.as_deref() == Some("legacy") {
        config.codecs = CodecPolicy::legacy_only();
    }
    let viewer = match FlvViewer::play(&**server.router(), &key, config, server.queue_budget()) {
        Ok(viewer) => viewer,
        Err(error) => return (StatusCode::FORBIDDEN, format!("{error}\n")).into_response(),
    };
    tracing::debug!(%key, %peer, websocket = upgrade.is_some(), "viewer");
    match upgrade {
        Some(upgrade) => {
            let watching = watch.viewers.watch(&key, Protocol::WsFlv);
            limited(upgrade).on_upgrade(move |socket| send_frames(socket, viewer, watching))
        }
        None => {
            let watching = watch.viewers.watch(&key, Protocol::HttpFlv);
            let ticks = Ticks::new();
            let body = futures::stream::unfold(
                (viewer, watching, ticks),
                |(mut viewer, watching, mut ticks)| async {
                    let bytes = match viewer.ready() {
                        // Ready now: written with the rest of this tick's, in one writev of
                        // the shared tags.
                        Some(bytes) => bytes,
                        None => {
                            ticks.rest().await;
                            let bytes = viewer.next().await?;
                            ticks.wrote();
                            bytes
                        }
                    };
                    Some((Ok::<_, Infallible>(bytes), (viewer, watching, ticks)))
                },
            );
            (
                [
                    (header::CONTENT_TYPE, "video/x-flv"),
                    (header::CACHE_CONTROL, "no-cache"),
                    (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
                ],
                Body::from_stream(body),
            )
                .into_response()
        }
    }
}

#[path = "ws_viewer.rs"]
mod ws_viewer;

/// A WebSocket-FLV upgrade under the viewer's limits ([`ws_viewer`]): frames of at most 125
/// bytes and no data message from the viewer, a 4 KiB read buffer, and a write buffer that
/// holds at most a piece of FLV bytes beyond what waits for a flush.
fn limited(upgrade: WebSocketUpgrade) -> WebSocketUpgrade {
    upgrade
        .read_buffer_size(ws_viewer::READ_BUFFER)
        .write_buffer_size(ws_viewer::WRITE_BUFFER)
        .max_write_buffer_size(ws_viewer::MAX_WRITE_BUFFER)
        .max_frame_size(ws_viewer::MAX_FRAME)
        .max_message_size(ws_viewer::MAX_MESSAGE)
}

/// How long the close at the end may take: the viewer's last chance to read it.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// WebSocket-FLV: the stream in binary messages of at most [`ws_viewer::PIECE`] bytes (a larger
/// tag goes out in several, which players read as one byte stream), until the stream ends or
/// the viewer closes or breaks [`ws_viewer::Rule`]: any data message, or more pings and pongs
/// than it allows, and the viewer gets a close with code 1008 (policy) and is gone.
async fn send_frames(mut socket: WebSocket, mut viewer: FlvViewer, watching: Watching) {
    /// Queues `bytes` in pieces.
    async fn feed(socket: &mut WebSocket, mut bytes: bytes::Bytes) -> Result<(), axum::Error> {
        while bytes.len() > ws_viewer::PIECE {
            socket
                .feed(Message::Binary(bytes.split_to(ws_viewer::PIECE)))
                .await?;
        }
        socket.feed(Message::Binary(bytes)).await
    }

    let mut ticks = Ticks::new();
    let mut rule = ws_viewer::Rule::new(std::time::Instant::now());
    let refused = loop {
        tokio::select! {
            bytes = async {
                ticks.rest().await;
                viewer.next().await
            } => {
                let Some(bytes) = bytes else { break None };
                ticks.wrote();
                // This tick's tags go out together: queued, then flushed once.
                let mut queued = feed(&mut socket, bytes).await;
                while let (Ok(()), Some(more)) = (&queued, viewer.ready()) {
                    queued = feed(&mut socket, more).await;
                }
                if queued.is_err() || socket.flush().await.is_err() {
                    break None;
                }
            }
            received = socket.recv() => {
                let sent = match received {
                    Some(Ok(Message::Ping(_))) => ws_viewer::Sent::Ping,
                    Some(Ok(Message::Pong(_))) => ws_viewer::Sent::Pong,
                    Some(Ok(Message::Close(_))) | None => ws_viewer::Sent::Close,
                    // An empty message; any other, a frame over 125 bytes or a broken one is
                    // an error of the WebSocket layer (as a failed connection is: the close
                    // then fails too).
                    Some(Ok(Message::Text(_) | Message::Binary(_)) | Err(_)) => {
                        ws_viewer::Sent::Data
                    }
                };
                match rule.judge(sent, std::time::Instant::now()) {
                    ws_viewer::Verdict::Watching => {}
                    ws_viewer::Verdict::Closed => break None,
                    ws_viewer::Verdict::Refused(reason) => break Some(reason),
                }
            }
        }
    };
    // The viewer's close is answered, the end of the stream or a refusal told; a viewer that
    // does not read it loses it.
    let close = async {
        match refused {
            Some(reason) => {
                let frame = axum::extract::ws::CloseFrame {
                    code: axum::extract::ws::close_code::POLICY,
                    reason: reason.into(),
                };
                socket.send(Message::Close(Some(frame))).await
            }
            None => socket.close().await,
        }
    };
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, close).await;
    drop(watching);
}

/// Viewers write what came during a tick together, as RTMP players do: one system call per
/// tick rather than one per message, for at most a tick of added latency.
const TICK: Duration = Duration::from_millis(100);

/// When a viewer writes next.
struct Ticks {
    /// Rest until then before the next write, if set.
    next: Option<tokio::time::Instant>,
}

impl Ticks {
    fn new() -> Self {
        Self { next: None }
    }

    /// Waits for the tick after the last write.
    async fn rest(&mut self) {
        if let Some(next) = self.next.take() {
            tokio::time::sleep_until(next).await;
        }
    }

    /// A write began: once what is ready is written, the viewer rests until the next tick (a
    /// viewer catching up always finds more ready, and does not rest). Ticks fall on
    /// multiples of `TICK` from the first viewer's, so that every viewer writes on the same
    /// wake-up of the runtime.
    fn wrote(&mut self) {
        static EPOCH: std::sync::OnceLock<tokio::time::Instant> = std::sync::OnceLock::new();
        let epoch = *EPOCH.get_or_init(tokio::time::Instant::now);
        let now = tokio::time::Instant::now();
        let tick = TICK.as_millis();
        let next = (now.duration_since(epoch).as_millis() / tick + 1) * tick;
        let offset = Duration::from_millis(u64::try_from(next).unwrap_or(u64::MAX));
        self.next = epoch.checked_add(offset);
    }
}

/// A socket whose writes fail once it has accepted nothing for a while with bytes waiting:
/// a viewer that stopped reading goes, as an RTMP player does.
struct Stalling<S> {
    inner: S,
    timeout: Duration,
    /// When the pending write gives up, while one is pending.
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<S> Stalling<S> {
    fn new(inner: S, timeout: Duration) -> Self {
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
        cx: &mut Context<'_>,
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
        ready!(deadline.as_mut().poll(cx));
        Poll::Ready(Err(std::io::ErrorKind::TimedOut.into()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Stalling<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Stalling<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.timed(cx, result)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.timed(cx, result)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let result = Pin::new(&mut self.inner).poll_flush(cx);
        self.timed(cx, result)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
