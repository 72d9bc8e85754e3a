//! The example server's HTTP side (`--http ADDR`): a status page at `/`, a JSON API, and
//! `/metrics` in the Prometheus text format.
//!
//! | method and path | what |
//! | --- | --- |
//! | `GET /` | the status page: live streams, refreshed every 2 s |
//! | `GET /metrics` | Prometheus metrics |
//! | `GET /api/streams` | streams: codecs, resolution, bitrates, players, uptime, publisher |
//! | `GET /api/connections` | connections: address, application, bytes, streams |
//! | `GET /api/totals` | counts since start |
//! | `DELETE /api/connections/{id}` | closes a connection |
//! | `POST /api/drain` | drains the node (clients moved to another cluster node) |
//! | `DELETE /api/streams/{app}/{name}/publisher` | stops a stream's publisher |
//! | `POST /api/streams/{app}/{name}/recording` | starts recording a stream (with `--record`) |
//! | `DELETE /api/streams/{app}/{name}/recording` | stops recording it |
//!
//! The listener cannot hurt the RTMP side: it keeps at most [`HttpLimits::max_connections`]
//! connections (more are closed on arrival, so their descriptors stay free for RTMP), closes
//! one that sends no complete request head within [`HttpLimits::header_timeout`] (idle
//! keep-alive connections included) and every connection after [`HttpLimits::lifetime`], and
//! logs failed accepts at most every 10 s.
//!
//! Requests that change something (every method but GET and HEAD) are refused with 403 when
//! they come from another site (an `Origin` that is not this host, or `Sec-Fetch-Site:
//! cross-site`), and a POST must carry `Content-Type: application/json`, which a browser sends
//! to another site only after a preflight that this server never grants. Each operator action
//! is logged at INFO with the address and user agent that asked.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Extension, Json};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use metrics_exporter_prometheus::PrometheusHandle;
use rtmp_server::{
    ConnectionStats, LogLimit, Recorder, Role, Server, StreamInfo, StreamKey, Totals, TrackStats,
};
use serde_json::{Value, json};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::policy::Policy;
use crate::watch::{Protocol, Viewers};
use rtmp_cluster::{Cluster, ClusterHooks};

/// What the handlers share.
pub struct Http {
    /// The RTMP server.
    pub server: Server<ClusterHooks<Policy>>,
    /// The recorder, if recording is on.
    pub recorder: Arc<OnceLock<Recorder>>,
    /// Where metrics are rendered from.
    pub metrics: PrometheusHandle,
    /// The cluster, with --cluster.
    pub cluster: Option<Cluster>,
    /// The bearer token the API and metrics require, if set.
    pub api_token: Option<String>,
    /// Viewers of the watch listener, by stream and protocol.
    pub viewers: Arc<Viewers>,
    /// The port of the watch listener, if it is on: the status page links each stream's
    /// watch page on it.
    pub watch_port: Option<u16>,
}

type Shared = State<Arc<Http>>;

/// What the HTTP listener allows a client.
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    /// Connections open at once (default 256); more are closed on arrival.
    pub max_connections: usize,
    /// Time allowed for a request head, counted from when the connection opens or has
    /// answered the previous request (default 10 s).
    pub header_timeout: Duration,
    /// The longest a connection stays open, keep-alive included (default 60 s).
    pub lifetime: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            max_connections: 256,
            header_timeout: Duration::from_secs(10),
            lifetime: Duration::from_secs(60),
        }
    }
}

/// Who sent a request: the peer address, for the log of operator actions.
#[derive(Debug, Clone, Copy)]
struct Peer(SocketAddr);

/// Serves the HTTP side on `listener` until the process ends, within `limits`.
pub async fn serve(listener: tokio::net::TcpListener, http: Http, limits: HttpLimits) {
    let app = router(http);
    accept(
        listener,
        limits.max_connections,
        "HTTP",
        |stream, peer, permit| {
            let service = TowerToHyperService::new(app.clone().layer(Extension(Peer(peer))));
            tokio::spawn(async move {
                let builder = http1(limits.header_timeout);
                // Errors are the client's (a timeout, a broken request): nothing to report. A
                // connection lives at most `lifetime`, so that one that sends its body or reads
                // its answer a byte at a time gives its place back.
                let serving = builder.serve_connection(TokioIo::new(stream), service);
                let _ = tokio::time::timeout(limits.lifetime, serving).await;
                drop(permit);
            });
        },
    )
    .await;
}

/// An HTTP/1 connection builder: a request head within `header_timeout`, buffers of 64 KiB.
pub fn http1(header_timeout: Duration) -> hyper::server::conn::http1::Builder {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(64 * 1024);
    builder
}

/// Accepts connections on `listener` for ever, at most `max_connections` open at once (more
/// are closed on arrival), and hands each to `serve` with the permit it holds while open.
/// Failures and refusals are logged at most every 10 s per address, named by `what`.
pub async fn accept(
    listener: tokio::net::TcpListener,
    max_connections: usize,
    what: &str,
    mut serve: impl FnMut(tokio::net::TcpStream, SocketAddr, OwnedSemaphorePermit),
) {
    let open = Arc::new(Semaphore::new(max_connections));
    // Failed accepts have no address: they are counted under the unspecified one.
    let lines = LogLimit::new(Duration::from_secs(10));
    let unspecified = IpAddr::from([0, 0, 0, 0]);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                if let Some(held_back) = lines.allow(unspecified, Instant::now()) {
                    tracing::warn!(%error, held_back, "{what} accept failed");
                }
                // Out of descriptors: let connections end before trying again.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            drop(stream);
            if let Some(held_back) = lines.allow(peer.ip(), Instant::now()) {
                tracing::warn!(
                    %peer,
                    held_back,
                    limit = max_connections,
                    "{what} connection refused: too many open"
                );
            }
            continue;
        };
        serve(stream, peer, permit);
    }
}

/// Refuses requests that change something when they come from another site (see the module
/// docs).
async fn same_site_only(request: Request, next: Next) -> Response {
    if matches!(*request.method(), Method::GET | Method::HEAD) {
        return next.run(request).await;
    }
    let headers = request.headers();
    if let Some(reason) = cross_site(headers) {
        return (StatusCode::FORBIDDEN, reason).into_response();
    }
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.trim_start().starts_with("application/json"));
    if *request.method() == Method::POST && !json {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send Content-Type: application/json",
        )
            .into_response();
    }
    let peer = request
        .extensions()
        .get::<Peer>()
        .map(|Peer(peer)| peer.to_string())
        .unwrap_or_default();
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    let response = next.run(request).await;
    tracing::info!(
        %peer,
        agent,
        %method,
        path,
        status = response.status().as_u16(),
        "operator action"
    );
    response
}

/// Why a request is from another site, if it is.
fn cross_site(headers: &HeaderMap) -> Option<&'static str> {
    let text = |name| {
        headers
            .get(name)
            .and_then(|value: &header::HeaderValue| value.to_str().ok())
    };
    if text("sec-fetch-site") == Some("cross-site") {
        return Some("cross-site requests are refused");
    }
    let origin = text(header::ORIGIN.as_str())?;
    let host = text(header::HOST.as_str()).unwrap_or("");
    let origin_host = origin
        .split_once("://")
        .map_or(origin, |(_, rest)| rest)
        .trim_end_matches('/');
    (origin_host != host).then_some("requests from another origin are refused")
}

/// The routes, with the cross-site guard.
fn router(http: Http) -> axum::Router {
    axum::Router::new()
        .route("/", get(status_page))
        .route("/metrics", get(metrics))
        .route("/api/streams", get(streams))
        .route("/api/connections", get(connections))
        .route("/api/totals", get(totals))
        .route("/api/connections/{id}", delete(close_connection))
        .route("/api/drain", axum::routing::post(drain))
        .route(
            "/api/streams/{app}/{name}/publisher",
            delete(stop_publisher),
        )
        .route(
            "/api/streams/{app}/{name}/recording",
            axum::routing::post(start_recording).delete(stop_recording),
        )
        .layer(axum::middleware::from_fn(same_site_only))
        .layer(axum::middleware::from_fn_with_state(
            http.api_token.clone(),
            bearer_only,
        ))
        .with_state(Arc::new(http))
}

/// With a token set, refuses API and metrics requests that do not carry it
/// (`Authorization: Bearer TOKEN`). The status page itself loads without it; its script sends
/// the token it finds in the page's fragment (`/#token=TOKEN`), which browsers never send to
/// the server.
async fn bearer_only(
    State(token): State<Option<String>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(token) = token else {
        return next.run(request).await;
    };
    if request.uri().path() == "/" {
        return next.run(request).await;
    }
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or("");
    if same_secret(given.as_bytes(), token.as_bytes()) {
        next.run(request).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "send Authorization: Bearer TOKEN",
        )
            .into_response()
    }
}

/// Whether `given` is `secret`, in time that does not depend on where they differ.
fn same_secret(given: &[u8], secret: &[u8]) -> bool {
    let differ = given
        .iter()
        .zip(secret)
        .fold(0u8, |differ, (a, b)| differ | (a ^ b));
    given.len() == secret.len() && differ == 0
}

async fn status_page() -> Html<&'static str> {
    Html(include_str!("status.html"))
}

fn stream_json(stream: &StreamInfo, recording: bool, http: &Http) -> Value {
    let media = stream.media.as_ref();
    let publisher = stream
        .publisher
        .map(|(id, peer)| json!({ "connection": id, "address": peer }));
    let uptime = media.map_or(0.0, |media| media.uptime.as_secs_f64());
    json!({
        "app": stream.key.app,
        "name": stream.key.name,
        "publisher": publisher,
        "players": stream.players,
        "uptime_secs": uptime,
        "video_codec": media.and_then(|media| media.video_codec).map(|codec| codec.to_string()),
        "audio_codec": media.and_then(|media| media.audio_codec).map(|codec| codec.to_string()),
        "width": media.and_then(|media| media.width),
        "height": media.and_then(|media| media.height),
        "frame_rate": media.and_then(|media| media.frame_rate),
        "audio_sample_rate": media.and_then(|media| media.audio_sample_rate),
        "audio_channels": media.and_then(|media| media.audio_channels),
        "bitrate_in": media.map_or(0, |media| media.bitrate),
        "bitrate_out": media.map_or(0, |media| media.bitrate_out),
        "bytes_in": media.map_or(0, |media| media.bytes),
        "bytes_out": media.map_or(0, |media| media.bytes_out),
        "dropped_frames": media.map_or(0, |media| media.dropped),
        "recording": recording,
        "viewers_http_flv": http.viewers.of(&stream.key, Protocol::HttpFlv),
        "viewers_ws_flv": http.viewers.of(&stream.key, Protocol::WsFlv),
        "watch_port": http.watch_port,
        "watch_path": format!("/watch/{}/{}", stream.key.app, stream.key.name),
        "tracks": media.map_or_else(Vec::new, |media| media.tracks.iter().map(track_json).collect()),
    })
}

/// One track of a stream (one rendition of a multitrack stream's video, or an audio track).
fn track_json(track: &TrackStats) -> Value {
    json!({
        "kind": if track.video { "video" } else { "audio" },
        "id": track.id,
        "codec": track.codec.map(|codec| codec.to_string()),
        "width": track.width,
        "height": track.height,
        "frame_rate": track.frame_rate,
        "sample_rate": track.sample_rate,
        "channels": track.channels,
        "bitrate": track.bitrate,
        "frames": track.frames,
        "players": track.players,
    })
}

fn connection_json(connection: &ConnectionStats) -> Value {
    let streams: Vec<Value> = connection
        .streams
        .iter()
        .map(|(key, role)| {
            let role = match role {
                Role::Publisher => "publish",
                _ => "play",
            };
            json!({ "app": key.app, "name": key.name, "role": role })
        })
        .collect();
    json!({
        "id": connection.id,
        "address": connection.peer,
        "app": connection.app,
        "uptime_secs": connection.uptime.as_secs_f64(),
        "bytes_in": connection.bytes_in,
        "bytes_out": connection.bytes_out,
        "streams": streams,
    })
}

fn totals_json(totals: &Totals) -> Value {
    json!({
        "bytes_in": totals.bytes_in,
        "bytes_out": totals.bytes_out,
        "connections": totals.connections,
        "connections_refused": totals.connections_refused,
        "publishes_refused": totals.publishes_refused,
        "plays_refused": totals.plays_refused,
        "dropped_frames": totals.dropped_frames,
    })
}

async fn streams(State(http): Shared) -> Json<Value> {
    let recording = http
        .recorder
        .get()
        .map(Recorder::recording)
        .unwrap_or_default();
    let streams: Vec<Value> = http
        .server
        .stats()
        .streams
        .iter()
        .map(|stream| stream_json(stream, recording.contains(&stream.key), &http))
        .collect();
    Json(Value::Array(streams))
}

async fn connections(State(http): Shared) -> Json<Value> {
    let stats = http.server.stats();
    Json(Value::Array(
        stats.connections.iter().map(connection_json).collect(),
    ))
}

async fn totals(State(http): Shared) -> Json<Value> {
    Json(totals_json(&http.server.stats().totals))
}

/// Drains the node: publishes refused, clients asked to reconnect to another node (with a
/// cluster) or to come back later.
async fn drain(State(http): Shared) -> Response {
    match &http.cluster {
        Some(cluster) => match cluster.drain().await {
            Some((target, asked)) => {
                Json(json!({ "target": target, "asked": asked })).into_response()
            }
            None => (StatusCode::CONFLICT, "no other node is live").into_response(),
        },
        None => Json(json!({ "target": null, "asked": http.server.drain(None) })).into_response(),
    }
}

async fn close_connection(State(http): Shared, Path(id): Path<u64>) -> StatusCode {
    if http.server.close_connection(id) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    }
}

async fn stop_publisher(
    State(http): Shared,
    Path((app, name)): Path<(String, String)>,
) -> StatusCode {
    if http.server.stop_publisher(&StreamKey { app, name }) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    }
}

async fn start_recording(
    State(http): Shared,
    Path((app, name)): Path<(String, String)>,
) -> Response {
    let Some(recorder) = http.recorder.get() else {
        return (
            StatusCode::CONFLICT,
            "recording is off (start the server with --record DIR)",
        )
            .into_response();
    };
    match recorder.start(&StreamKey { app, name }) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => (StatusCode::CONFLICT, error.to_string()).into_response(),
    }
}

async fn stop_recording(
    State(http): Shared,
    Path((app, name)): Path<(String, String)>,
) -> StatusCode {
    match http.recorder.get() {
        Some(recorder) if recorder.stop(&StreamKey { app, name }) => StatusCode::NO_CONTENT,
        _ => StatusCode::NOT_FOUND,
    }
}

/// Describes the metrics once, at start.
pub fn describe_metrics() {
    use metrics::{Unit, describe_counter, describe_gauge};
    describe_gauge!("rtmp_connections", "Connections open now");
    describe_gauge!("rtmp_streams", "Streams published or played now");
    describe_gauge!(
        "rtmp_viewers",
        "Viewers of the watch listener now, by protocol (http-flv, ws-flv)"
    );
    describe_counter!(
        "rtmp_received_bytes_total",
        Unit::Bytes,
        "Bytes read from clients"
    );
    describe_counter!(
        "rtmp_sent_bytes_total",
        Unit::Bytes,
        "Bytes written to clients"
    );
    describe_counter!("rtmp_accepted_connections_total", "Connections accepted");
    describe_counter!("rtmp_refused_connections_total", "Connections refused");
    describe_counter!("rtmp_refused_publishes_total", "Publishes refused");
    describe_counter!("rtmp_refused_plays_total", "Plays refused");
    describe_counter!(
        "rtmp_dropped_frames_total",
        "Media messages dropped for slow players"
    );
    describe_gauge!("rtmp_stream_players", "Players of the stream");
    describe_gauge!(
        "rtmp_stream_publishing",
        "1 while someone publishes the stream"
    );
    describe_gauge!(
        "rtmp_stream_bitrate_in_bits_per_second",
        "Bits per second from the publisher"
    );
    describe_gauge!(
        "rtmp_stream_bitrate_out_bits_per_second",
        "Bits per second to players"
    );
    describe_gauge!(
        "rtmp_stream_uptime_seconds",
        Unit::Seconds,
        "How long the publisher has been on"
    );
}

async fn metrics(State(http): Shared) -> Response {
    let stats = http.server.stats();
    let totals = &stats.totals;
    metrics::gauge!("rtmp_connections").set(stats.connections.len() as f64);
    metrics::gauge!("rtmp_streams").set(stats.streams.len() as f64);
    metrics::counter!("rtmp_received_bytes_total").absolute(totals.bytes_in);
    metrics::counter!("rtmp_sent_bytes_total").absolute(totals.bytes_out);
    metrics::counter!("rtmp_accepted_connections_total").absolute(totals.connections);
    metrics::counter!("rtmp_refused_connections_total").absolute(totals.connections_refused);
    metrics::counter!("rtmp_refused_publishes_total").absolute(totals.publishes_refused);
    metrics::counter!("rtmp_refused_plays_total").absolute(totals.plays_refused);
    metrics::counter!("rtmp_dropped_frames_total").absolute(totals.dropped_frames);
    for stream in &stats.streams {
        let labels = [
            ("app", stream.key.app.clone()),
            ("name", stream.key.name.clone()),
        ];
        metrics::gauge!("rtmp_stream_players", &labels).set(stream.players as f64);
        metrics::gauge!("rtmp_stream_publishing", &labels).set(if stream.publisher.is_some() {
            1.0
        } else {
            0.0
        });
        if let Some(media) = &stream.media {
            metrics::gauge!("rtmp_stream_bitrate_in_bits_per_second", &labels)
                .set(media.bitrate as f64);
            metrics::gauge!("rtmp_stream_bitrate_out_bits_per_second", &labels)
                .set(media.bitrate_out as f64);
            metrics::gauge!("rtmp_stream_uptime_seconds", &labels).set(media.uptime.as_secs_f64());
        }
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        http.metrics.render(),
    )
        .into_response()
}

/// Binds the HTTP listener.
pub async fn bind(address: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(address).await
}
