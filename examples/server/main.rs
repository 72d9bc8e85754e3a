//! `server`: a live RTMP server that runs with no configuration.
//!
//! ```text
//! cargo run --release --example server -- [--config server.toml] [--listen 0.0.0.0:1935]
//!     [--http 127.0.0.1:8080] [--watch 0.0.0.0:8081] [--record DIR [--record-segment-secs N] [--record-segment-mb N]]
//!     [--tls-cert cert.pem --tls-key key.pem [--tls-listen 0.0.0.0:1936]]
//!     [--push rtmp://other-server]... [--pull rtmp://origin]
//!     [--max-connections N] [--max-connections-per-ip N] [--write-timeout-secs 20]
//! ```
//!
//! A flag overrides the same setting in the file; `config.rs` describes the file.

mod config;
mod http;
mod policy;
mod watch;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use clap::Parser;
use rtmp_cluster::{Cluster, ClusterConfig, ClusterDecisions};
use rtmp_hooks::{SignedUrls, WebhookConfig, Webhooks};
use rtmp_server::{
    HubConfig, Layered, RecordConfig, Recorder, Rendition, Server, StaticRelay, Takeover,
};

use crate::config::FileConfig;
use crate::policy::Policy;

/// A live video server (RTMP and RTMPS): encoders such as OBS or ffmpeg publish to
/// rtmp://HOST/APP/NAME, and players play the same address. Runs with no configuration;
/// optionally records to FLV files and serves a status page, a JSON API and Prometheus
/// metrics over HTTP.
#[derive(Debug, Parser)]
#[command(name = "rtmp-server", version, long_about = None)]
struct Args {
    /// A TOML file with any of these settings, and per-application ones (address lists,
    /// push and pull targets, recording). Flags override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address to listen on [default: 0.0.0.0:1935].
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Serve the status page (/), the JSON API (/api/...) and Prometheus metrics (/metrics)
    /// on this address [default: off].
    #[arg(long)]
    http: Option<SocketAddr>,
    /// The most HTTP connections at once; more are closed on arrival, and as many descriptors
    /// are kept from RTMP's default limit, so neither side can starve the other
    /// [default: 256].
    #[arg(long)]
    http_max_connections: Option<usize>,
    /// Serve every live stream to browsers and HTTP players on this address: HTTP-FLV and
    /// WebSocket-FLV at /APP/NAME.flv, Low-Latency HLS at /APP/NAME/index.m3u8, and a watch
    /// page at /watch/APP/NAME [default: off].
    #[arg(long)]
    watch: Option<SocketAddr>,
    /// Package every published stream as HLS from its start, not from its first request:
    /// the first playlist is answered at once [default: off].
    #[arg(long)]
    hls_always: bool,
    /// The most viewer connections at once (HTTP-FLV, WebSocket-FLV, watch pages)
    /// [default: 4096].
    #[arg(long)]
    watch_max_connections: Option<usize>,
    /// The most viewer connections at once from one IP address [default: 256].
    #[arg(long)]
    watch_max_connections_per_ip: Option<usize>,
    /// The bearer token the HTTP API and metrics require (`Authorization: Bearer TOKEN`; the
    /// status page takes it as /#token=TOKEN). Needed when --http is not a loopback address.
    #[arg(long)]
    http_token: Option<String>,
    /// Record every published stream to FLV files in this directory (DIR/APP/NAME-TIME.flv).
    #[arg(long)]
    record: Option<PathBuf>,
    /// With --record: start a new file at the first keyframe after this many seconds.
    #[arg(long)]
    record_segment_secs: Option<u64>,
    /// With --record: start a new file at the first keyframe after this many MiB.
    #[arg(long)]
    record_segment_mb: Option<u64>,
    /// With --record: of a multitrack stream, record this video track (with audio track 0)
    /// as a single-track file, rather than every track.
    #[arg(long)]
    record_track: Option<u8>,
    /// Chunk size sent to clients [default: 1024].
    #[arg(long)]
    chunk_size: Option<u32>,
    /// Do not keep the current GOP for players that join (they wait for the next keyframe).
    #[arg(long)]
    no_gop_cache: bool,
    /// Write tick in milliseconds: each player's media is written once per tick (fewer system
    /// calls and wake-ups; adds up to that much latency; 0 writes at once) [default: 100].
    #[arg(long)]
    write_interval_ms: Option<u64>,
    /// The longest a small write (under 8 KiB) waits for more, in milliseconds, from when
    /// its oldest media came; a low-bitrate stream then costs fewer system calls (0, or no
    /// more than the write tick: every tick writes) [default: 350].
    #[arg(long)]
    max_write_delay_ms: Option<u64>,
    /// Certificate chain (PEM) for RTMPS; with --tls-key, RTMPS is served on --tls-listen.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// Private key (PEM) for RTMPS.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Address for RTMPS [default: 0.0.0.0:1936].
    #[arg(long)]
    tls_listen: Option<SocketAddr>,
    /// Push every published stream to this server too (rtmp[s]://host[:port]; app/name is
    /// added). Repeatable.
    #[arg(long)]
    push: Vec<String>,
    /// Pull streams nobody publishes here from this origin (rtmp[s]://host[:port]) while
    /// someone plays them.
    #[arg(long)]
    pull: Option<String>,
    /// The most connections at once [default: the open-file limit, raised to its maximum at
    /// start, less 64, less the HTTP and viewer connections and the webhook's sockets].
    #[arg(long)]
    max_connections: Option<usize>,
    /// The most connections at once from one IP address [default: no limit of its own].
    #[arg(long)]
    max_connections_per_ip: Option<usize>,
    /// Close a client that accepts no bytes for this many seconds while data waits for it
    /// [default: 20].
    #[arg(long)]
    write_timeout_secs: Option<u64>,
    /// How long players wait, told nothing, for a publisher that left to come back; one
    /// back within it continues their stream [default: 10; 0: told at once].
    #[arg(long)]
    republish_grace_secs: Option<u64>,
    /// A publish of a key published already takes it over from a publisher that has sent no
    /// media for this many seconds (0: the newest publisher always wins) [default: 3]. Only
    /// a publisher with a signed name (--publish-secret), one the webhook accepted, or one
    /// from the old publisher's address may take a key over.
    #[arg(long)]
    takeover_after_secs: Option<u64>,
    /// A publish needs its stream name signed with this secret:
    /// NAME?expires=UNIX&token=HEX, HEX the hex of HMAC-SHA256(secret,
    /// "publish\nAPP\nNAME\nEXPIRES").
    /// Give it twice while one secret replaces another. Prefer the config file's [auth]:
    /// command lines are visible to other users.
    #[arg(long)]
    publish_secret: Vec<String>,
    /// A play needs its stream name signed with this secret (as for --publish-secret, with
    /// "play" for "publish"); a secret may not be both.
    #[arg(long)]
    play_secret: Vec<String>,
    /// POST each publish and play to this URL as JSON, to accept (2xx) or refuse; their ends
    /// and finished recordings are told to it too.
    #[arg(long)]
    webhook: Option<String>,
    /// Refuse a publish of a key published already, however silent its publisher.
    #[arg(long)]
    no_takeover: bool,
    /// The listen backlog [default: the kernel's cap, net.core.somaxconn].
    #[arg(long)]
    listen_backlog: Option<u32>,
    /// Join a cluster coordinated through this Redis (redis://host:port): one publisher per
    /// key across nodes, and keys published elsewhere pulled from their node.
    #[arg(long, requires = "node_url")]
    cluster: Option<String>,
    /// How other nodes reach this one (rtmp://host:port), with --cluster.
    #[arg(long)]
    node_url: Option<String>,
    /// With --cluster: how long a publisher's claim on its key lives unrenewed, in seconds
    /// (a dead node's keys are free again after it) [default: 10].
    #[arg(long)]
    cluster_lease_secs: Option<u64>,
    /// On SIGTERM, how long clients get to move to another node before the server stops, in
    /// seconds [default: 10].
    #[arg(long)]
    drain_secs: Option<u64>,
    /// How log lines are written: `text` for people, `json` (one object a line) for log
    /// collectors.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// Lines for people (colours on a terminal).
    Text,
    /// One JSON object a line: time, level, target, fields and spans.
    Json,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let logs = tracing_subscriber::fmt().with_env_filter(filter);
    match args.log_format {
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
            .init(),
        LogFormat::Json => logs.json().init(),
    }
    let file = match &args.config {
        Some(path) => match config::load(path) {
            Ok(file) => file,
            Err(error) => {
                eprintln!("error: {error}");
                std::process::exit(2);
            }
        },
        None => FileConfig::default(),
    };
    // As nginx's worker_rlimit_nofile: the connection limit follows the raised file limit.
    let files = match rtmp_server::system::raise_open_file_limit() {
        Ok(files) => {
            tracing::debug!(files, "open-file limit");
            Some(files)
        }
        Err(error) => {
            tracing::warn!(%error, "cannot raise the open-file limit");
            None
        }
    };
    run(args, file, files).await
}

/// The webhook of the command line, or else of the file's `[webhook]`.
fn webhooks(
    args: &Args,
    file: &config::FileConfig,
) -> Result<Option<Arc<Webhooks>>, Box<dyn std::error::Error>> {
    let section = file.webhook.as_ref();
    let Some(url) = args
        .webhook
        .clone()
        .or(section.map(|section| section.url.clone()))
    else {
        return Ok(None);
    };
    let mut config = WebhookConfig::new(url);
    if let Some(secs) = section.and_then(|section| section.timeout_secs) {
        config.timeout = Duration::from_secs(secs.max(1));
    }
    if let Some(accept) = section.and_then(|section| section.accept_when_unreachable) {
        config.accept_when_unreachable = accept;
    }
    Ok(Some(Arc::new(Webhooks::new(config)?)))
}

/// The secrets of the command line, or else of the file's `[auth]`; none may be empty, and
/// none may sign both publishes and plays (the error names the problem, never the secret).
fn signed_urls(
    args: &Args,
    file: &config::FileConfig,
) -> Result<SignedUrls, Box<dyn std::error::Error>> {
    let auth = file.auth.as_ref();
    let pick = |flags: &Vec<String>, listed: Option<&config::Secrets>| {
        if flags.is_empty() {
            listed.map(config::Secrets::list).unwrap_or_default()
        } else {
            flags.clone()
        }
    };
    let publish = pick(&args.publish_secret, auth.map(|auth| &auth.publish_secret));
    let play = pick(&args.play_secret, auth.map(|auth| &auth.play_secret));
    let mut signed = SignedUrls::new();
    for secret in publish {
        signed = signed.publish_secret(secret);
    }
    for secret in play {
        signed = signed.play_secret(secret);
    }
    signed.validate().map_err(|error| {
        format!("{error} (--publish-secret, --play-secret, [auth] in the file)")
    })?;
    Ok(signed)
}

async fn run(
    args: Args,
    file: FileConfig,
    files: Option<u64>,
) -> Result<(), Box<dyn std::error::Error>> {
    let http_limits = http::HttpLimits {
        max_connections: args
            .http_max_connections
            .or(file.http_max_connections)
            .unwrap_or(http::HttpLimits::default().max_connections)
            .max(1),
        ..http::HttpLimits::default()
    };
    let http_address = args.http.or(file.http);
    let watch_address = args.watch.or(file.watch);
    let watch_limits = watch::WatchLimits {
        max_connections: args
            .watch_max_connections
            .or(file.watch_max_connections)
            .unwrap_or(watch::WatchLimits::default().max_connections),
        max_connections_per_ip: args
            .watch_max_connections_per_ip
            .or(file.watch_max_connections_per_ip)
            .unwrap_or(watch::WatchLimits::default().max_connections_per_ip)
            .max(1),
        write_timeout: Duration::from_secs(
            args.write_timeout_secs
                .or(file.write_timeout_secs)
                .unwrap_or(20),
        ),
        ..watch::WatchLimits::default()
    };
    let api_token = args.http_token.clone().or(file.api_token.clone());
    if api_token.as_deref().is_some_and(str::is_empty) {
        return Err("the HTTP token (--http-token, api_token) is empty".into());
    }
    if let (Some(address), None) = (http_address, &api_token)
        && !address.ip().is_loopback()
    {
        return Err(format!(
                "--http {address} is not a loopback address: set --http-token (or api_token) so that the API asks who is calling"
            )
            .into());
    }
    let recorder = Arc::new(OnceLock::new());
    let cluster = match (
        args.cluster.clone().or(file.cluster.clone()),
        args.node_url.clone().or(file.node_url.clone()),
    ) {
        (Some(redis), Some(node_url)) => {
            let mut config = ClusterConfig::new(redis, node_url);
            if let Some(secs) = args.cluster_lease_secs.or(file.cluster_lease_secs) {
                config.lease = Duration::from_secs(secs.max(1));
            }
            let cluster = Cluster::connect(config).await?;
            tracing::info!(node = cluster.node_url(), "joined the cluster");
            Some(cluster)
        }
        (Some(_), None) => return Err("--cluster needs --node-url".into()),
        _ => None,
    };
    let webhooks = webhooks(&args, &file)?;
    let policy = Policy::new(
        StaticRelay {
            push: if args.push.is_empty() {
                file.push.clone().unwrap_or_default()
            } else {
                args.push.clone()
            },
            pull: args.pull.clone().or(file.pull.clone()),
        },
        file.apps.clone(),
        recorder.clone(),
        signed_urls(&args, &file)?,
        webhooks.clone(),
    );
    let chunk_size = args.chunk_size.or(file.chunk_size).unwrap_or(1024);
    let mut hub = HubConfig::default();
    hub.chunk_size = chunk_size;
    hub.gop_cache = !args.no_gop_cache && file.gop_cache.unwrap_or(true);
    if let Some(secs) = args.republish_grace_secs.or(file.republish_grace_secs) {
        hub.republish_grace = Duration::from_secs(secs);
    }
    let mut builder = Server::builder()
        .listen(
            args.listen
                .or(file.listen)
                .unwrap_or(([0, 0, 0, 0], 1935).into()),
        )
        .chunk_size(chunk_size)
        .hub(hub)
        .write_timeout(Duration::from_secs(
            args.write_timeout_secs
                .or(file.write_timeout_secs)
                .unwrap_or(20),
        ))
        .hooks(Layered::new(policy, ClusterDecisions::new(cluster.clone())));
    if let Some(backlog) = args.listen_backlog.or(file.listen_backlog) {
        builder = builder.listen_backlog(backlog);
    }
    if args.no_takeover || file.takeover == Some(false) {
        builder = builder.takeover(Takeover::Never);
    } else if let Some(secs) = args.takeover_after_secs.or(file.takeover_after_secs) {
        builder = builder.takeover(match secs {
            0 => Takeover::Always,
            secs => Takeover::WhenIdle(Duration::from_secs(secs)),
        });
    }
    if let Some(ms) = args.write_interval_ms.or(file.write_interval_ms) {
        builder = builder.write_interval(Duration::from_millis(ms));
    }
    if let Some(ms) = args.max_write_delay_ms.or(file.max_write_delay_ms) {
        builder = builder.write_merge(8 << 10, Duration::from_millis(ms));
    }
    // The webhook's connections to its endpoint, at most.
    let hook_sockets = webhooks
        .as_ref()
        .map_or(0, |webhooks| webhooks.config().max_sockets());
    if let Some(most) = args.max_connections.or(file.max_connections) {
        builder = builder.max_connections(most);
    } else if let (Some(files), true) = (
        files,
        http_address.is_some() || watch_address.is_some() || hook_sockets > 0,
    ) {
        // The HTTP sides' and the webhook's descriptors are kept from RTMP's share, as the
        // headroom is.
        let http = http_address.map_or(0, |_| http_limits.max_connections);
        let viewers = watch_address.map_or(0, |_| watch_limits.max_connections);
        let reserved = 64 + (http + viewers + hook_sockets) as u64;
        let most = usize::try_from(files.saturating_sub(reserved)).unwrap_or(usize::MAX);
        builder = builder.max_connections(most.clamp(1, 100_000));
    }
    if let Some(most) = args.max_connections_per_ip.or(file.max_connections_per_ip) {
        builder = builder.max_connections_per_ip(most);
    }
    let tls = match (&args.tls_cert, &args.tls_key, &file.tls) {
        (Some(cert), Some(key), _) => Some((cert.clone(), key.clone(), None)),
        (_, _, Some(tls)) => Some((tls.cert.clone(), tls.key.clone(), tls.listen)),
        _ => None,
    };
    if let Some((cert, key, listen)) = tls {
        let address = args
            .tls_listen
            .or(listen)
            .unwrap_or(([0, 0, 0, 0], 1936).into());
        builder = builder.listen_tls(address, rtmp_server::tls::server_config(&cert, &key)?);
    }
    let listening = builder.bind().await?;
    let record = match (&args.record, &file.record) {
        (Some(dir), file) => Some((
            dir.clone(),
            args.record_segment_secs
                .or(file.as_ref().and_then(|file| file.segment_secs)),
            args.record_segment_mb
                .or(file.as_ref().and_then(|file| file.segment_mb)),
            args.record_track
                .or(file.as_ref().and_then(|file| file.track)),
        )),
        (None, Some(file)) => Some((
            file.dir.clone(),
            args.record_segment_secs.or(file.segment_secs),
            args.record_segment_mb.or(file.segment_mb),
            args.record_track.or(file.track),
        )),
        (None, None) => None,
    };
    if let Some((dir, secs, mb, track)) = record {
        let server = listening.server();
        let mut config = RecordConfig::new(&dir);
        config.segment_duration = secs.map(Duration::from_secs);
        config.segment_bytes = mb.map(|mb| mb << 20);
        if let Some(video) = track {
            config.rendition = Rendition::One { video, audio: 0 };
        }
        let mut files = Recorder::new(server.router().clone(), server.queue_budget(), config);
        if let Some(webhooks) = webhooks.clone() {
            files = files.on_finished(move |key, path| webhooks.recorded(key, path));
        }
        let _ = recorder.set(files);
        tracing::info!(dir = %dir.display(), "recording every published stream");
    }
    let addresses = listening.local_addrs();
    let port = addresses.first().map_or(1935, |address| address.port());
    for (index, address) in addresses.iter().enumerate() {
        let scheme = if index == 0 { "rtmp" } else { "rtmps" };
        tracing::info!("listening on {scheme}://{address}");
    }
    let server = listening.server().clone();
    if let Some(cluster) = &cluster {
        cluster.attach(&server);
    }
    let mut watch_port = None;
    if let Some(address) = watch_address {
        let listener = tokio::net::TcpListener::bind(address).await?;
        let local = listener.local_addr()?;
        watch_port = Some(local.port());
        tracing::info!("watch pages on http://{local}/watch/APP/NAME");
        let mut hls = rtmp_server::HlsSettings::default();
        hls.always = args.hls_always;
        let watch = Arc::new(watch::Watch {
            hls: rtmp_server::Hls::new(server.clone(), hls),
            server: server.clone(),
        });
        tokio::spawn(watch::serve(listener, watch, watch_limits));
    }
    if let Some(address) = http_address {
        let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
            .idle_timeout(
                metrics_util::MetricKindMask::GAUGE,
                Some(Duration::from_secs(10)),
            )
            .install_recorder()?;
        http::describe_metrics();
        let listener = http::bind(address).await?;
        tracing::info!("status page on http://{}", listener.local_addr()?);
        let state = http::Http {
            server,
            recorder: recorder.clone(),
            metrics,
            cluster: cluster.clone(),
            api_token,
            watch_port,
        };
        tokio::spawn(async move {
            http::serve(listener, state, http_limits).await;
        });
    }
    println!(
        "Publish: ffmpeg -re -f lavfi -i testsrc2=size=1280x720:rate=30 -f lavfi -i sine -c:v libx264 -g 60 -c:a aac -f flv rtmp://127.0.0.1:{port}/live/test"
    );
    println!("Play:    ffplay rtmp://127.0.0.1:{port}/live/test");
    let grace = Duration::from_secs(args.drain_secs.or(file.drain_secs).unwrap_or(10));
    let stopping = listening.server().clone();
    listening
        .run(async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                () = terminated() => {
                    // SIGTERM: clients move to another node first, then the server stops.
                    if let Some(cluster) = &cluster {
                        cluster.drain().await;
                    } else {
                        stopping.drain(None);
                    }
                    let deadline = tokio::time::Instant::now() + grace;
                    while stopping.connections() > 0 && tokio::time::Instant::now() < deadline {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
            tracing::info!("shutting down");
        })
        .await?;
    Ok(())
}

/// Waits for SIGTERM (never, where there are no signals).
async fn terminated() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut terminate) = signal(SignalKind::terminate()) {
            terminate.recv().await;
            return;
        }
    }
    std::future::pending::<()>().await;
}
