//! The viewer listener (`--watch ADDR`): every live stream for browsers and other HTTP players.
//!
//! - `GET /APP/NAME.flv`: the stream as HTTP-FLV (a chunked response that is an FLV file
//!   without end), open to pages of any origin (CORS);
//! - the same path with a WebSocket upgrade: WebSocket-FLV, the same bytes in binary frames.
//!   Such a viewer may send nothing that costs: a data message, or a frame over 125 bytes,
//!   closes the connection at its first frame (code 1008), pings and pongs more than 10 a
//!   second sustained (bursts of 20) too; its connection buffers 4 KiB to read and at most
//!   64 KiB to write, a larger tag going out in binary messages of 32 KiB (`ws_viewer.rs`);
//! - `GET /APP/NAME/index.m3u8`: Low-Latency HLS (CMAF parts and segments, blocking playlist
//!   reloads, delta updates), and plain HLS from the same segments for players that ask for no
//!   part; each client is a session of the server's ([`Hls`]), open to pages of any origin;
//! - `GET /watch/APP/NAME`: a page that plays it with mpegts.js (served from here, with its
//!   licence, under `/player/`), shows how far behind live it is, and reconnects when the
//!   stream comes back. Where the browser has no Media Source Extensions (Safari on older
//!   iPhones) it plays HLS natively; `?hls=1` plays HLS with hls.js (also under `/player/`).
//!
//! A viewer is admitted by the server as an RTMP player is ([`Server::viewer`]): the hooks
//! decide (`on_play`, with the URL's query), it is one of the server's connections (listed by
//! the API with its protocol, closed by `DELETE /api/connections/ID` and by a drain, told to
//! the webhook as `play` and `play_done`), and it writes on the server's write tick. It is a
//! player of the router: it starts at the last keyframe
//! (`?gop=0`: at the next one), skips to the next keyframe when it falls more than 2 s behind
//! the live edge, has a queue bounded in bytes with the RTMP players' slow-player policy, and
//! is closed when its socket accepts nothing for the write timeout. What comes during a tick
//! goes out in one vectored write of the shared tags, as for RTMP players. `?codecs=legacy`
//! gives a player that takes legacy tags only H.264 and AAC. Of a multitrack stream a viewer
//! gets one rendition: video track 0 and audio track 0, or those `?track=ID&audio_track=ID`
//! name (`?track=all`: every track). An unknown stream is a 404, a refusal a 403.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
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
use rtmp_server::router::CodecPolicy;
use rtmp_server::system::{AddressSlot, LogLimit, PerAddress, WriteTimeout, bound_unsent};
use rtmp_server::{Hls, Protocol, Server, StreamKey, Viewer, ViewerRequest};
use tokio::sync::OwnedSemaphorePermit;

use crate::http::http1;
use crate::policy::Policy;
use rtmp_cluster::ClusterHooks;

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
    /// The RTMP server, which admits viewers as it does RTMP players.
    pub server: Server<ClusterHooks<Policy>>,
    /// The server's HLS.
    pub hls: Hls<ClusterHooks<Policy>>,
}

type Shared = State<Arc<Watch>>;

/// Who sent a request.
#[derive(Debug, Clone, Copy)]
struct Peer(SocketAddr);

/// A connection's places among the listener's connections and its address's, held while
/// anything serves it: the connection, and after a WebSocket upgrade the viewer's task, which
/// outlives the HTTP connection's future.
#[derive(Clone)]
struct Places {
    _held: Arc<(OwnedSemaphorePermit, AddressSlot)>,
}

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
            bound_unsent(&stream, Some(128 << 10), limits.write_timeout);
            let places = Places {
                _held: Arc::new((permit, slot)),
            };
            let service = app
                .clone()
                .layer(Extension(Peer(peer)))
                .layer(Extension(places.clone()));
            let service = TowerToHyperService::new(service);
            let io = TokioIo::new(WriteTimeout::new(stream, limits.write_timeout));
            tokio::spawn(async move {
                let builder = http1(limits.header_timeout);
                // Errors are the viewer's (gone, stalled, a broken request): nothing to report.
                let _ = builder.serve_connection(io, service).with_upgrades().await;
                drop(places);
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
        .route("/player/hls.js", get(hls_script))
        .route("/player/hls.js.LICENSE", get(hls_license))
        .route("/{app}/{file}", get(flv))
        .route("/{app}/{name}/{*path}", get(hls))
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

async fn hls_script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript"),
            (header::CACHE_CONTROL, "max-age=86400"),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        ],
        include_str!("player/hls.min.js"),
    )
}

async fn hls_license() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        include_str!("player/hls.js.LICENSE"),
    )
}

/// The stream a viewer's URL names, within RTMP's bounds on names (so that nothing below
/// repeats more than they allow): 414 past them, 400 for a control character (a forged log
/// line), as RTMP refuses them.
fn stream_key(
    server: &Server<ClusterHooks<Policy>>,
    app: String,
    name: &str,
    query: Option<&str>,
) -> Result<StreamKey, (StatusCode, &'static str)> {
    let limits = &server.config().session;
    let query_len = query.map_or(0, str::len);
    if app.len() > limits.max_app_bytes
        || name.len() > limits.max_name_bytes
        || query_len > limits.max_query_bytes
    {
        return Err((StatusCode::URI_TOO_LONG, "the stream name is too long\n"));
    }
    if app.chars().chain(name.chars()).any(char::is_control) {
        return Err((
            StatusCode::BAD_REQUEST,
            "the stream name holds a control character\n",
        ));
    }
    Ok(StreamKey {
        app,
        name: name.to_owned(),
    })
}

/// The longest path below a stream that HLS names (`v0/1234567.12.m4s` and the like).
const MAX_HLS_PATH: usize = 64;

/// `GET /APP/NAME/PATH`: Low-Latency HLS, `index.m3u8` being the multivariant playlist. Each
/// client is a viewer of the server ([`Hls::get`]).
async fn hls(
    State(watch): Shared,
    Path((app, name, path)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    Extension(Peer(peer)): Extension<Peer>,
) -> Response {
    if path.len() > MAX_HLS_PATH {
        return StatusCode::NOT_FOUND.into_response();
    }
    let key = match stream_key(&watch.server, app, &name, query.as_deref()) {
        Ok(key) => key,
        Err(refused) => return refused.into_response(),
    };
    let reply = watch.hls.get(&key, &path, query.as_deref(), peer).await;
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (
        status,
        [
            (header::CACHE_CONTROL, reply.cache_control),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        ],
        reply.body,
    )
        .into_response();
    if let Some(content_type) = reply.content_type {
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static(content_type),
        );
    }
    response
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
    Extension(places): Extension<Places>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let upgrade = upgrade.ok();
    let Some(name) = file.strip_suffix(".flv") else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let key = match stream_key(&watch.server, app, name, query.as_deref()) {
        Ok(key) => key,
        Err(refused) => return refused.into_response(),
    };
    let protocol = match upgrade {
        Some(_) => Protocol::WsFlv,
        None => Protocol::HttpFlv,
    };
    let mut request = ViewerRequest::new(key, query, peer, protocol);
    request.gop = options.gop.as_deref() != Some("0");
    if options.codecs.as_deref() == Some("legacy") {
        request.codecs = CodecPolicy::legacy_only();
    }
    let viewer = match watch.server.viewer(request).await {
        Ok(viewer) => viewer,
        Err(refused) => {
            let status =
                StatusCode::from_u16(refused.http_status()).unwrap_or(StatusCode::FORBIDDEN);
            return (status, format!("{refused}\n")).into_response();
        }
    };
    tracing::debug!(key = %viewer.key(), %peer, %protocol, "viewer");
    match upgrade {
        // The upgraded viewer keeps the connection's places until it ends.
        Some(upgrade) => limited(upgrade).on_upgrade(move |socket| async move {
            send_frames(socket, viewer).await;
            drop(places);
        }),
        None => {
            // What is ready after a tick's wait goes out with it, in one vectored write of the
            // shared tags.
            let body = futures::stream::unfold(viewer, |mut viewer| async {
                let bytes = match viewer.ready() {
                    Some(bytes) => bytes,
                    None => viewer.next().await?,
                };
                Some((Ok::<_, Infallible>(bytes), viewer))
            });
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
async fn send_frames(mut socket: WebSocket, mut viewer: Viewer<ClusterHooks<Policy>>) {
    /// Queues `bytes` in pieces.
    async fn feed(socket: &mut WebSocket, mut bytes: bytes::Bytes) -> Result<(), axum::Error> {
        while bytes.len() > ws_viewer::PIECE {
            socket
                .feed(Message::Binary(bytes.split_to(ws_viewer::PIECE)))
                .await?;
        }
        socket.feed(Message::Binary(bytes)).await
    }

    let mut rule = ws_viewer::Rule::new(std::time::Instant::now());
    let refused = loop {
        tokio::select! {
            bytes = viewer.next() => {
                let Some(bytes) = bytes else { break None };
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
}
