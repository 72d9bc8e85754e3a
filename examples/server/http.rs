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

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{delete, get};
use metrics_exporter_prometheus::PrometheusHandle;
use rtmp_server::{ConnectionStats, Recorder, Role, Server, StreamInfo, StreamKey, Totals};
use serde_json::{Value, json};

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
}

type Shared = State<Arc<Http>>;

/// Serves the HTTP side on `listener` until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, http: Http) -> std::io::Result<()> {
    let app = axum::Router::new()
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
        .with_state(Arc::new(http));
    axum::serve(listener, app).await
}

async fn status_page() -> Html<&'static str> {
    Html(include_str!("status.html"))
}

fn stream_json(stream: &StreamInfo, recording: bool) -> Value {
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
        .map(|stream| stream_json(stream, recording.contains(&stream.key)))
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
