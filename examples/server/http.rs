//! The example server's HTTP side (`--http ADDR`): a status page at `/`, a JSON API, and
//! `/metrics` in the Prometheus text format.
//!
//! | method and path | what |
//! | --- | --- |
//! | `GET /` | the status page: live streams, refreshed every 2 s |
//! | `GET /metrics` | Prometheus metrics |
//! | `GET /api/streams?limit=N&offset=M&published=B` | a page of streams: codecs, resolution, bitrates, players, uptime, publisher |
//! | `GET /api/connections?limit=N&offset=M` | a page of connections: address, application, bytes, streams |
//! | `GET /api/totals` | counts since start |
//! | `DELETE /api/connections/{id}` | closes a connection |
//! | `POST /api/drain` | drains the node (clients moved to another cluster node) |
//! | `DELETE /api/streams/{app}/{name}/publisher` | stops a stream's publisher |
//! | `POST /api/streams/{app}/{name}/recording` | starts recording a stream (with `--record`) |
//! | `DELETE /api/streams/{app}/{name}/recording` | stops recording it |
//!
//! The two lists answer a page: a JSON array (the items as before, one page of them) of at
//! most `limit` items (default [`DEFAULT_PAGE`], at most [`MAX_PAGE`]; a larger one is taken
//! as the maximum) from `offset` (default 0), in a fixed order (connections by id, streams by
//! application and name). The answer's `X-Total-Count` header gives how many items the whole
//! list holds, and a `Link: <...>; rel="next"` header the next page's address while there is
//! one. `published=true` lists only the streams someone publishes (`false`: only those played
//! and not published), and `X-Total-Count` then counts those. A query that is not numbers
//! (or `true`/`false`) gets 400. A text a client chose (application,
//! stream name) longer than [`MAX_TEXT_BYTES`] is cut there and ends with a marker
//! `…[LENGTH bytes #HASH]` (its full length and a hash of it, so two long names stay apart);
//! such a stream's `watch_path` is null. A stream lists at most [`MAX_LIST`] tracks and a
//! connection at most [`MAX_LIST`] streams (more than the defaults allow). So an answer stays
//! small whatever clients publish and play.
//!
//! `/metrics` has series of its own (`rtmp_stream_*`, labelled `app` and `name`) only for
//! published streams, at most [`MAX_STREAM_SERIES`] of them (the earliest published first);
//! `rtmp_stream_series_omitted` counts the published streams left out. Label values are cut as
//! above, at [`MAX_LABEL_BYTES`]. A stream's series read 0 at the first scrape after it is
//! no longer published (or no longer among those shown), and go at the recorder's idle
//! timeout for gauges (10 s) after that.
//!
//! With no API token set, every route answers only a request whose `Host` names this machine's
//! loopback (`localhost`, a name ending in `.localhost`, an address in `127.0.0.0/8`, `[::1]`;
//! a port or not): others get 403. A page on another site that rebinds its own name to
//! 127.0.0.1 (DNS rebinding) sends its own name as `Host`, so it can neither read the API nor
//! act through it. The status page is guarded too: it shows nothing without the API, and one
//! rule for the whole listener is easier to trust. A token set, `Host` is not checked: the
//! token is the guard (and the server listens beyond loopback only with one).
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

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Extension, Json};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use metrics_exporter_prometheus::PrometheusHandle;
use rtmp_server::system::LogLimit;
use rtmp_server::{
    ConnectionStats, Protocol, Recorder, Role, Server, StreamInfo, StreamKey, Totals, TrackStats,
};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::policy::Policy;
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
    /// The port of the watch listener, if it is on: the status page links each stream's
    /// watch page on it.
    pub watch_port: Option<u16>,
}

type Shared = State<Arc<Http>>;

/// Items a page of `/api/streams` or `/api/connections` holds when `limit` is not given.
pub const DEFAULT_PAGE: usize = 100;

/// The most items a page holds; a larger `limit` is taken as this.
pub const MAX_PAGE: usize = 1000;

/// The longest text a client chose (application, stream name) that the API repeats whole, in
/// bytes; a longer one is cut and marked ([`bounded`]).
pub const MAX_TEXT_BYTES: usize = 256;

/// The most tracks of a stream, and streams of a connection, that the API lists.
pub const MAX_LIST: usize = 64;

/// The most streams with series of their own in `/metrics`; the published streams past it
/// are counted in `rtmp_stream_series_omitted`.
pub const MAX_STREAM_SERIES: usize = 1000;

/// The longest label value in `/metrics`, in bytes; a longer one is cut and marked.
pub const MAX_LABEL_BYTES: usize = 128;

/// The pagination of a list (`?limit=N&offset=M`).
#[derive(Debug, Clone, Copy, Default, Deserialize)]
struct PageQuery {
    /// The most items to answer ([`DEFAULT_PAGE`] when not given, at most [`MAX_PAGE`]).
    limit: Option<usize>,
    /// How many items to skip (0 when not given).
    offset: Option<usize>,
}

impl PageQuery {
    /// The page's limit, as answered.
    fn limit(self) -> usize {
        self.limit.unwrap_or(DEFAULT_PAGE).min(MAX_PAGE)
    }

    /// The page's offset.
    fn offset(self) -> usize {
        self.offset.unwrap_or(0)
    }
}

/// Which streams `/api/streams` lists (`?published=true|false`; all when not given).
#[derive(Debug, Clone, Copy, Default, Deserialize)]
struct StreamFilter {
    /// Only the published streams (true), or only those played and not published (false).
    published: Option<bool>,
}

/// The label values of the per-stream series the last scrape of `/metrics` set, so that the
/// next one can set to 0 those of streams no longer shown.
#[derive(Debug, Default)]
struct StreamSeries(Mutex<HashSet<[String; 2]>>);

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

/// The routes, with the guards: the loopback `Host` (without a token), the token (with
/// one), and the cross-site one. `/healthz` and `/readyz`, which load balancers and container
/// platforms ask, need none: they say nothing but alive and ready.
fn router(http: Http) -> axum::Router {
    let http = Arc::new(http);
    let probes = axum::Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(http.clone());
    let guarded = axum::Router::new()
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
        .layer(axum::middleware::from_fn_with_state(
            http.api_token.is_some(),
            loopback_host_only,
        ))
        .layer(Extension(Arc::new(StreamSeries::default())))
        .with_state(http);
    probes.merge(guarded)
}

/// `GET /healthz`: the process answers.
async fn healthz() -> &'static str {
    "alive\n"
}

/// `GET /readyz`: the server takes new clients (its listeners are bound before this one
/// serves), unless it is draining (503).
async fn readyz(State(http): Shared) -> Response {
    if http.server.is_draining() {
        return (StatusCode::SERVICE_UNAVAILABLE, "draining\n").into_response();
    }
    "ready\n".into_response()
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

/// Without an API token (`token_set` false), refuses every request whose `Host` is not a
/// loopback name or address, so that a page on another site cannot reach the API by
/// rebinding its name to 127.0.0.1 (see the module docs).
async fn loopback_host_only(
    State(token_set): State<bool>,
    request: Request,
    next: Next,
) -> Response {
    if token_set {
        return next.run(request).await;
    }
    let loopback = request
        .headers()
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .is_some_and(is_loopback_host);
    if loopback {
        next.run(request).await
    } else {
        (
            StatusCode::FORBIDDEN,
            "without an API token, only requests to localhost or a loopback address are answered",
        )
            .into_response()
    }
}

/// Whether a `Host` header value names the loopback: `localhost` or a name ending in
/// `.localhost` (any case, a final dot allowed), an IPv4 address in 127.0.0.0/8, or an IPv6
/// loopback address in brackets (`[::1]`, or IPv4-mapped 127.x), each with a port or not.
fn is_loopback_host(host: &str) -> bool {
    // The host and the port, if one is given: `[v6]:port` or `name:port`.
    let (name, port) = match host.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((address, "")) => (address, None),
            Some((address, after)) => match after.strip_prefix(':') {
                Some(port) => (address, Some(port)),
                None => return false,
            },
            None => return false,
        },
        None => match host.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        },
    };
    let port_ok = port.is_none_or(|port| {
        port.bytes().all(|byte| byte.is_ascii_digit()) && port.parse::<u16>().is_ok()
    });
    if !port_ok {
        return false;
    }
    if host.starts_with('[') {
        return name.parse::<Ipv6Addr>().is_ok_and(|address| {
            address.is_loopback() || address.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        });
    }
    if let Ok(address) = name.parse::<Ipv4Addr>() {
        return address.is_loopback();
    }
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    let label_ok = |label: &str| {
        !label.is_empty()
            && label
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
    };
    name == "localhost"
        || name
            .strip_suffix(".localhost")
            .is_some_and(|sub| sub.split('.').all(label_ok))
}

/// `text` when it is at most `max` bytes; else its start, cut on a character boundary at
/// most `max` bytes in, and a marker with its full length and a hash of it (FNV-1a, 64 bits),
/// so that two long texts with the same start stay apart: `start…[70000 bytes #0123abcd4567ef89]`.
fn bounded(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let start = text.get(..end).unwrap_or("");
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    Cow::Owned(format!("{start}…[{} bytes #{hash:016x}]", text.len()))
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

/// One stream of `/api/streams`, its texts bounded (see the module docs).
fn stream_json(stream: &StreamInfo, recording: bool, viewers: &Viewers, http: &Http) -> Value {
    let media = stream.media.as_ref();
    let publisher = stream
        .publisher
        .map(|(id, peer)| json!({ "connection": id, "address": peer }));
    let uptime = media.map_or(0.0, |media| media.uptime.as_secs_f64());
    let app = bounded(&stream.key.app, MAX_TEXT_BYTES);
    let name = bounded(&stream.key.name, MAX_TEXT_BYTES);
    // A cut name leads nowhere.
    let watch_path = matches!((&app, &name), (Cow::Borrowed(_), Cow::Borrowed(_)))
        .then(|| format!("/watch/{app}/{name}"));
    json!({
        "app": app,
        "name": name,
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
        "viewers_http_flv": viewers.of(&stream.key, Protocol::HttpFlv),
        "viewers_ws_flv": viewers.of(&stream.key, Protocol::WsFlv),
        "viewers_hls": viewers.of(&stream.key, Protocol::Hls),
        "watch_port": http.watch_port,
        "watch_path": watch_path,
        "tracks": media.map_or_else(Vec::new, |media| {
            media.tracks.iter().take(MAX_LIST).map(track_json).collect()
        }),
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

/// One connection of `/api/connections`, its texts bounded (see the module docs).
fn connection_json(connection: &ConnectionStats) -> Value {
    let streams: Vec<Value> = connection
        .streams
        .iter()
        .take(MAX_LIST)
        .map(|(key, role)| {
            let role = match role {
                Role::Publisher => "publish",
                _ => "play",
            };
            json!({
                "app": bounded(&key.app, MAX_TEXT_BYTES),
                "name": bounded(&key.name, MAX_TEXT_BYTES),
                "role": role,
            })
        })
        .collect();
    json!({
        "id": connection.id,
        "address": connection.peer,
        "protocol": connection.protocol.name(),
        "app": connection.app.as_deref().map(|app| bounded(app, MAX_TEXT_BYTES)),
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

/// A page of a list: the items as a JSON array, the list's length in `X-Total-Count`, and
/// the next page's address (at `path`, with `filter` added to its query) in `Link` while there
/// is one.
fn page_response(
    path: &str,
    filter: &str,
    page: PageQuery,
    total: usize,
    items: Vec<Value>,
) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(
        HeaderName::from_static("x-total-count"),
        HeaderValue::from(total),
    );
    let next = page.offset().saturating_add(items.len());
    if !items.is_empty() && next < total {
        let link = format!(
            "<{path}?offset={next}&limit={}{filter}>; rel=\"next\"",
            page.limit()
        );
        if let Ok(link) = HeaderValue::try_from(link) {
            headers.insert(header::LINK, link);
        }
    }
    (headers, Json(Value::Array(items))).into_response()
}

/// Viewers of each stream by protocol, from the server's connections.
struct Viewers(HashMap<(StreamKey, Protocol), usize>);

impl Viewers {
    fn of_connections(connections: &[ConnectionStats]) -> Self {
        let mut counts = HashMap::new();
        for connection in connections {
            for (key, _) in &connection.streams {
                *counts
                    .entry((key.clone(), connection.protocol))
                    .or_default() += 1;
            }
        }
        Self(counts)
    }

    /// The viewers of `key` over `protocol`.
    fn of(&self, key: &StreamKey, protocol: Protocol) -> usize {
        self.0.get(&(key.clone(), protocol)).copied().unwrap_or(0)
    }
}

/// A page of the streams (see the module docs).
async fn streams(
    State(http): Shared,
    Query(page): Query<PageQuery>,
    Query(filter): Query<StreamFilter>,
) -> Response {
    let stats = http.server.stats();
    let viewers = Viewers::of_connections(&stats.connections);
    let matching: Vec<&StreamInfo> = stats
        .streams
        .iter()
        .filter(|stream| {
            filter
                .published
                .is_none_or(|published| stream.publisher.is_some() == published)
        })
        .collect();
    let recording: HashSet<StreamKey> = http
        .recorder
        .get()
        .map(Recorder::recording)
        .unwrap_or_default()
        .into_iter()
        .collect();
    let items = matching
        .iter()
        .skip(page.offset())
        .take(page.limit())
        .map(|stream| {
            let recording = recording.contains(&stream.key);
            stream_json(stream, recording, &viewers, &http)
        })
        .collect();
    let filter = filter
        .published
        .map_or(String::new(), |published| format!("&published={published}"));
    page_response("/api/streams", &filter, page, matching.len(), items)
}

/// A page of the connections (see the module docs).
async fn connections(State(http): Shared, Query(page): Query<PageQuery>) -> Response {
    let stats = http.server.stats();
    let items = stats
        .connections
        .iter()
        .skip(page.offset())
        .take(page.limit())
        .map(connection_json)
        .collect();
    page_response("/api/connections", "", page, stats.connections.len(), items)
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
    rtmp_hooks::describe_metrics();
    describe_gauge!("rtmp_connections", "Connections open now");
    describe_gauge!("rtmp_streams", "Streams published or played now");
    describe_gauge!(
        "rtmp_viewers",
        "Viewers of the watch listener now, by protocol (http-flv, ws-flv, hls: sessions)"
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
    describe_gauge!(
        "rtmp_stream_series_omitted",
        "Published streams without series of their own (past the most shown)"
    );
}

/// The per-stream gauges, in the order they are set.
const STREAM_GAUGES: [&str; 5] = [
    "rtmp_stream_players",
    "rtmp_stream_publishing",
    "rtmp_stream_bitrate_in_bits_per_second",
    "rtmp_stream_bitrate_out_bits_per_second",
    "rtmp_stream_uptime_seconds",
];

/// Sets the per-stream gauges of the published streams, at most [`MAX_STREAM_SERIES`] of
/// them (the earliest published first, so that streams published later cannot push out
/// those already shown), and sets to 0 the series of the streams the last scrape showed
/// and this one does not; they then go at the recorder's idle timeout. Played streams that
/// nobody publishes get no series at all.
fn set_stream_gauges(streams: &[StreamInfo], shown: &StreamSeries) {
    let mut published: Vec<&StreamInfo> = streams
        .iter()
        .filter(|stream| stream.publisher.is_some())
        .collect();
    published.sort_by(|a, b| {
        a.published_at
            .cmp(&b.published_at)
            .then_with(|| a.key.cmp(&b.key))
    });
    let omitted = published.len().saturating_sub(MAX_STREAM_SERIES);
    metrics::gauge!("rtmp_stream_series_omitted").set(omitted as f64);
    let mut now = HashSet::with_capacity(published.len().min(MAX_STREAM_SERIES));
    for stream in published.into_iter().take(MAX_STREAM_SERIES) {
        let values = [
            bounded(&stream.key.app, MAX_LABEL_BYTES).into_owned(),
            bounded(&stream.key.name, MAX_LABEL_BYTES).into_owned(),
        ];
        let labels = [("app", values[0].clone()), ("name", values[1].clone())];
        let media = stream.media.as_ref();
        let figures = [
            stream.players as f64,
            1.0,
            media.map_or(0.0, |media| media.bitrate as f64),
            media.map_or(0.0, |media| media.bitrate_out as f64),
            media.map_or(0.0, |media| media.uptime.as_secs_f64()),
        ];
        for (name, value) in STREAM_GAUGES.into_iter().zip(figures) {
            metrics::gauge!(name, &labels).set(value);
        }
        now.insert(values);
    }
    let mut last = shown
        .0
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    for [app, name] in last.difference(&now) {
        let labels = [("app", app.clone()), ("name", name.clone())];
        for name in STREAM_GAUGES {
            metrics::gauge!(name, &labels).set(0.0);
        }
    }
    *last = now;
}

/// The Prometheus text: the server's figures, and series of their own for the published
/// streams (see [`set_stream_gauges`]).
async fn metrics(State(http): Shared, Extension(shown): Extension<Arc<StreamSeries>>) -> Response {
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
    for protocol in [Protocol::HttpFlv, Protocol::WsFlv, Protocol::Hls] {
        let count = stats
            .connections
            .iter()
            .filter(|connection| connection.protocol == protocol)
            .count();
        metrics::gauge!("rtmp_viewers", "protocol" => protocol.name()).set(count as f64);
    }
    set_stream_gauges(&stats.streams, &shown);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_text_is_cut_on_a_character_boundary_and_marked() {
        assert_eq!(bounded("short", 8), "short");
        let long = "é".repeat(200);
        let cut = bounded(&long, 255);
        assert!(cut.starts_with(&"é".repeat(127)), "{cut}");
        assert!(cut.contains("…[400 bytes #"), "{cut}");
        assert!(cut.len() <= 255 + 48);
        // Two texts with the same start stay apart.
        let (a, b) = ("x".repeat(300) + "a", "x".repeat(300) + "b");
        assert_ne!(bounded(&a, 256), bounded(&b, 256));
    }

    #[test]
    fn loopback_hosts_are_told_from_others() {
        for host in [
            "localhost",
            "LOCALHOST:8080",
            "localhost.",
            "status.localhost:80",
            "127.0.0.1",
            "127.255.0.9:8080",
            "[::1]",
            "[::1]:8080",
            "[0:0:0:0:0:0:0:1]",
            "[::ffff:127.0.0.1]:8080",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "",
            "evil.example",
            "localhost.evil.example",
            "evil.localhost.example",
            ".localhost",
            "a..localhost",
            "127.0.0.1.nip.io",
            "128.0.0.1",
            "0.0.0.0",
            "::1",
            "[::2]",
            "[::1]x",
            "[::1",
            "localhost:",
            "localhost:+80",
            "localhost:65536",
            "127.0.0.1:80:80",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }
}
