//! `loadgen`: N RTMP players (or HTTP-FLV viewers) of one stream, for measuring a server
//! (ours or any other).
//!
//! Each player connects, plays, and decodes the chunk stream only until its first video frame
//! (time to first frame); from then on it counts bytes and sends acknowledgements, so that the
//! generator stays cheap next to the server it measures. With `--server-pid`, the server's CPU
//! time and resident memory are read from /proc around the measurement.
//!
//! ```text
//! cargo run --release --example loadgen -- --url rtmp://127.0.0.1:1935/live/test --players 100 --seconds 15 --server-pid PID
//! cargo run --release --example loadgen -- --url http://127.0.0.1:8081/live/test.flv --players 100
//! ```
//!
//! An `http://` URL makes each player an HTTP-FLV viewer (hyper's client), and a `ws://` URL
//! a WebSocket-FLV viewer (tokio-tungstenite): it reads FLV tags until its first video frame,
//! then counts bytes. An `http://` URL of an `.m3u8` makes it a Low-Latency HLS client doing
//! what hls.js does in low-latency mode, for each rendition on a connection of its own: it
//! asks for the hinted part (held until the part exists), then for the playlist that lists
//! it (a blocking reload), and so on; its first part is its first frame.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use clap::Parser;
use rtmp_chunk::{ChunkDecoder, ChunkEncoder, DecoderConfig, RawMessage, type_id};
use rtmp_handshake::{ClientHandshake, ClientHandshakeConfig, Progress};
use rtmp_message::{Command, Connect, Message as Typed, Play};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// N players of one RTMP stream, with throughput, time to first frame and server cost.
#[derive(Debug, Parser)]
struct Args {
    /// The stream: rtmp://HOST:PORT/APP/NAME, or http://HOST:PORT/APP/NAME.flv (or ws://).
    #[arg(long)]
    url: String,
    /// Number of players.
    #[arg(long, default_value_t = 100)]
    players: usize,
    /// Length of the measurement, after every player has its first frame (or 10 s).
    #[arg(long, default_value_t = 15)]
    seconds: u64,
    /// The server's process id, to read its CPU time and memory.
    #[arg(long)]
    server_pid: Option<u32>,
    /// The most bytes a player reads at once (players differ: 256 KiB for a bulk reader, a
    /// few KiB for ffmpeg-like ones).
    #[arg(long, default_value_t = 256 << 10)]
    read_size: usize,
    /// Milliseconds a player rests between reads (0: reads as soon as data is there).
    #[arg(long, default_value_t = 0)]
    read_interval_ms: u64,
    /// Acknowledge every this many bytes (0: never acknowledge).
    #[arg(long, default_value_t = 2_500_000)]
    ack_window: u64,
    /// Leave Nagle's algorithm on (players set TCP_NODELAY by default).
    #[arg(long)]
    no_nodelay: bool,
}

/// How a player reads.
#[derive(Debug, Clone, Copy)]
struct Kind {
    read_size: usize,
    read_interval: Duration,
    ack_window: u64,
    nodelay: bool,
}

#[derive(Default)]
struct Totals {
    bytes: AtomicU64,
    started: AtomicUsize,
    first_frames_ms: std::sync::Mutex<Vec<f64>>,
    failed: AtomicUsize,
}

fn parse_url(url: &str) -> Result<(SocketAddr, String, String), Error> {
    let rest = url
        .strip_prefix("rtmp://")
        .ok_or("the URL must start with rtmp://")?;
    let (host, path) = rest.split_once('/').ok_or("the URL has no app")?;
    let host = if host.contains(':') {
        host.to_owned()
    } else {
        format!("{host}:1935")
    };
    let (app, name) = path.rsplit_once('/').ok_or("the URL has no stream name")?;
    Ok((host.parse()?, app.to_owned(), name.to_owned()))
}

async fn player(
    address: SocketAddr,
    (app, name, url): (String, String, String),
    kind: Kind,
    totals: Arc<Totals>,
) -> Result<(), Error> {
    let start = Instant::now();
    let mut stream = TcpStream::connect(address).await?;
    stream.set_nodelay(kind.nodelay)?;
    let mut handshake = ClientHandshake::new(ClientHandshakeConfig::default());
    stream.write_all(&handshake.take_output()).await?;
    let mut buf = BytesMut::with_capacity(64 << 10);
    let leftover = loop {
        if stream.read_buf(&mut buf).await? == 0 {
            return Err("closed during the handshake".into());
        }
        let status = handshake.read(&buf.split())?;
        stream.write_all(&handshake.take_output()).await?;
        if let Progress::Done(done) = status {
            break done.leftover;
        }
    };
    buf.extend_from_slice(&leftover);
    let mut encoder = ChunkEncoder::new();
    let mut out = BytesMut::new();
    let tc_url = url.rsplit_once('/').map(|(base, _)| base.to_owned());
    let connect = Connect {
        transaction_id: 1.0,
        app,
        tc_url,
        ..Connect::default()
    };
    for (stream_id, command) in [
        (0, Command::Connect(Box::new(connect))),
        (
            0,
            Command::CreateStream {
                transaction_id: 2.0,
            },
        ),
        (1, Command::Play(Play::new(name))),
    ] {
        encoder.encode(
            &Typed::Command(command).to_chunk(3, 0, stream_id)?,
            &mut out,
        )?;
    }
    stream.write_all(&out.split()).await?;

    // Decode until the first coded video frame.
    let mut decoder = ChunkDecoder::new(DecoderConfig::default());
    'first: loop {
        while let Some(message) = decoder.decode(&mut buf)? {
            if message.type_id == type_id::VIDEO && message.payload.get(1) == Some(&1) {
                let elapsed = start.elapsed().as_secs_f64() * 1000.0;
                if let Ok(mut times) = totals.first_frames_ms.lock() {
                    times.push(elapsed);
                }
                break 'first;
            }
        }
        if stream.read_buf(&mut buf).await? == 0 {
            return Err("closed before the first video frame".into());
        }
    }
    totals.started.fetch_add(1, Ordering::Relaxed);
    // From here on: count bytes and acknowledge them.
    let window = kind.ack_window;
    let mut received = decoder.bytes_received() + buf.len() as u64;
    let mut acknowledged = received;
    let mut chunk = vec![0u8; kind.read_size.max(1)];
    loop {
        if !kind.read_interval.is_zero() {
            tokio::time::sleep(kind.read_interval).await;
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        received += n as u64;
        totals.bytes.fetch_add(n as u64, Ordering::Relaxed);
        if window > 0 && received - acknowledged >= window {
            acknowledged = received;
            encoder.encode(&RawMessage::acknowledgement(received as u32), &mut out)?;
            stream.write_all(&out.split()).await?;
        }
    }
}

/// An HTTP-FLV viewer of `url`: reads FLV tags until the first coded video frame, then
/// counts bytes.
async fn viewer(url: &str, kind: Kind, totals: Arc<Totals>) -> Result<(), Error> {
    use http_body_util::BodyExt;

    let start = Instant::now();
    let uri: hyper::Uri = url.parse()?;
    let authority = uri.authority().ok_or("the URL has no host")?.clone();
    let stream = TcpStream::connect(authority.as_str()).await?;
    stream.set_nodelay(kind.nodelay)?;
    let io = hyper_util::rt::TokioIo::new(stream);
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await?;
    tokio::spawn(connection);
    let request = hyper::Request::get(uri.path())
        .header(hyper::header::HOST, authority.as_str())
        .body(http_body_util::Empty::<bytes::Bytes>::new())?;
    let mut body = sender.send_request(request).await?.into_body();
    let mut reader = rtmp_flv::FlvReader::new();
    loop {
        let Some(frame) = body.frame().await.transpose()? else {
            return Err("the response ended before the first video frame".into());
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        reader.push(&data);
        if first_video_frame(&mut reader, start, &totals)? {
            break;
        }
    }
    totals.started.fetch_add(1, Ordering::Relaxed);
    while let Some(frame) = body.frame().await.transpose()? {
        if let Ok(data) = frame.into_data() {
            totals.bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
        }
        if !kind.read_interval.is_zero() {
            tokio::time::sleep(kind.read_interval).await;
        }
    }
    Ok(())
}

/// An HTTP/1.1 connection to `authority`, and a GET on it.
struct Http {
    sender: hyper::client::conn::http1::SendRequest<http_body_util::Empty<bytes::Bytes>>,
    authority: String,
}

impl Http {
    async fn connect(authority: &str) -> Result<Self, Error> {
        let stream = TcpStream::connect(authority).await?;
        stream.set_nodelay(true)?;
        let io = hyper_util::rt::TokioIo::new(stream);
        let (sender, connection) = hyper::client::conn::http1::handshake(io).await?;
        tokio::spawn(connection);
        Ok(Self {
            sender,
            authority: authority.to_owned(),
        })
    }

    /// The status and body of `GET path`.
    async fn get(&mut self, path: &str) -> Result<(u16, bytes::Bytes), Error> {
        use http_body_util::BodyExt;
        let request = hyper::Request::get(path)
            .header(hyper::header::HOST, self.authority.as_str())
            .body(http_body_util::Empty::<bytes::Bytes>::new())?;
        let response = self.sender.send_request(request).await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }
}

/// The URI of the part a media playlist hints, and its segment and part numbers.
fn hinted_part(playlist: &str) -> Option<(String, u64, u64)> {
    const HINT: &str = "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"";
    let start = playlist.find(HINT)? + HINT.len();
    let uri = playlist.get(start..)?.split('"').next()?;
    let name = uri
        .split('?')
        .next()?
        .rsplit('/')
        .next()?
        .strip_suffix(".m4s")?;
    let (msn, part) = name.split_once('.')?;
    Some((uri.to_owned(), msn.parse().ok()?, part.parse().ok()?))
}

/// A Low-Latency HLS client of `url` (a multivariant playlist): every rendition read part by
/// part, as hls.js does in low-latency mode.
async fn hls_client(url: &str, totals: Arc<Totals>) -> Result<(), Error> {
    let start = Instant::now();
    let uri: hyper::Uri = url.parse()?;
    let authority = uri.authority().ok_or("the URL has no host")?.to_string();
    let base = uri
        .path()
        .rsplit_once('/')
        .ok_or("no directory")?
        .0
        .to_owned();
    let mut http = Http::connect(&authority).await?;
    let (status, index) = http.get(uri.path()).await?;
    if status != 200 {
        return Err(format!("the multivariant playlist: {status}").into());
    }
    drop(http);
    let index = String::from_utf8_lossy(&index).into_owned();
    // The variant (a URI line) and the audio alternatives (URI="..." attributes).
    let mut playlists: Vec<String> = index
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .take(1)
        .map(str::to_owned)
        .collect();
    playlists.extend(
        index
            .lines()
            .filter(|l| l.starts_with("#EXT-X-MEDIA:"))
            .filter_map(|l| {
                let at = l.find("URI=\"")? + 5;
                Some(l.get(at..)?.split('"').next()?.to_owned())
            }),
    );
    let first = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut renditions = tokio::task::JoinSet::new();
    for playlist in playlists {
        let (authority, base, totals, first) = (
            authority.clone(),
            base.clone(),
            totals.clone(),
            first.clone(),
        );
        renditions.spawn(async move {
            let mut http = Http::connect(&authority).await?;
            let path = format!("{base}/{playlist}");
            let (_, text) = http.get(&path).await?;
            let mut hint = hinted_part(&String::from_utf8_lossy(&text));
            loop {
                let (uri, msn, part) = hint.ok_or("no part hinted")?;
                let (status, body) = http.get(&format!("{base}/{uri}")).await?;
                if status != 200 {
                    return Err::<(), Error>(format!("a part: {status}").into());
                }
                if !first.swap(true, Ordering::Relaxed) {
                    let elapsed = start.elapsed().as_secs_f64() * 1000.0;
                    if let Ok(mut times) = totals.first_frames_ms.lock() {
                        times.push(elapsed);
                    }
                    totals.started.fetch_add(1, Ordering::Relaxed);
                }
                totals.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
                let separator = if playlist.contains('?') { '&' } else { '?' };
                let blocking = format!("{path}{separator}_HLS_msn={msn}&_HLS_part={part}");
                let (_, text) = http.get(&blocking).await?;
                totals.bytes.fetch_add(text.len() as u64, Ordering::Relaxed);
                hint = hinted_part(&String::from_utf8_lossy(&text));
            }
        });
    }
    while let Some(ended) = renditions.join_next().await {
        ended??;
    }
    Ok(())
}

/// Notes the first coded video frame among the FLV tags `reader` holds: whether it came.
fn first_video_frame(
    reader: &mut rtmp_flv::FlvReader,
    start: Instant,
    totals: &Totals,
) -> Result<bool, Error> {
    while let Some(tag) = reader.next_tag()? {
        if tag.tag_type == type_id::VIDEO && tag.data.get(1) == Some(&1) {
            let elapsed = start.elapsed().as_secs_f64() * 1000.0;
            if let Ok(mut times) = totals.first_frames_ms.lock() {
                times.push(elapsed);
            }
            return Ok(true);
        }
    }
    Ok(false)
}

/// A WebSocket-FLV viewer of `url` (`ws://`): reads FLV tags from binary messages until the
/// first coded video frame, then counts bytes.
async fn ws_viewer(url: &str, totals: Arc<Totals>) -> Result<(), Error> {
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::Message;

    let start = Instant::now();
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await?;
    let mut reader = rtmp_flv::FlvReader::new();
    loop {
        let Some(message) = socket.next().await.transpose()? else {
            return Err("the socket closed before the first video frame".into());
        };
        if let Message::Binary(data) = message {
            reader.push(&data);
            if first_video_frame(&mut reader, start, &totals)? {
                break;
            }
        }
    }
    totals.started.fetch_add(1, Ordering::Relaxed);
    while let Some(message) = socket.next().await.transpose()? {
        if let Message::Binary(data) = message {
            totals.bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
        }
    }
    Ok(())
}

/// What a process has cost so far.
#[derive(Debug, Clone, Copy)]
struct Cost {
    /// CPU seconds in user space ...
    user: f64,
    /// ... and in the kernel.
    system: f64,
    /// Resident bytes.
    rss: u64,
}

/// What process `pid` has cost so far, from /proc.
fn process_cost(pid: u32) -> Option<Cost> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let user: u64 = fields.get(11)?.parse().ok()?;
    let system: u64 = fields.get(12)?.parse().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kib: u64 = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    // The kernel reports CPU time in clock ticks of 1/100 s on Linux.
    Some(Cost {
        user: user as f64 / 100.0,
        system: system as f64 / 100.0,
        rss: rss_kib * 1024,
    })
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(index).copied().unwrap_or(f64::NAN)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args = Args::parse();
    let viewer_url = args
        .url
        .strip_prefix("http://")
        .or_else(|| args.url.strip_prefix("ws://"));
    let (address, app, name) = match viewer_url {
        Some(rest) => {
            let host = rest.split('/').next().unwrap_or_default();
            let address = tokio::net::lookup_host(host)
                .await?
                .next()
                .ok_or("no address")?;
            (address, String::new(), String::new())
        }
        None => parse_url(&args.url)?,
    };
    let totals = Arc::new(Totals::default());
    let kind = Kind {
        read_size: args.read_size,
        read_interval: Duration::from_millis(args.read_interval_ms),
        ack_window: args.ack_window,
        nodelay: !args.no_nodelay,
    };
    let before_players = args.server_pid.and_then(process_cost);
    for _ in 0..args.players {
        let totals = totals.clone();
        let names = (app.clone(), name.clone(), args.url.clone());
        let url = args.url.clone();
        tokio::spawn(async move {
            let played = if url.starts_with("http://") && url.ends_with(".m3u8") {
                hls_client(&url, totals.clone()).await
            } else if url.starts_with("http://") {
                viewer(&url, kind, totals.clone()).await
            } else if url.starts_with("ws://") {
                ws_viewer(&url, totals.clone()).await
            } else {
                player(address, names, kind, totals.clone()).await
            };
            if played.is_err() {
                totals.failed.fetch_add(1, Ordering::Relaxed);
            }
        });
        // Spread the connects a little so the listen backlog is not the thing measured.
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
    let ready_by = Instant::now() + Duration::from_secs(10);
    while totals.started.load(Ordering::Relaxed) + totals.failed.load(Ordering::Relaxed)
        < args.players
        && Instant::now() < ready_by
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let with_players = args.server_pid.and_then(process_cost);
    let bytes_before = totals.bytes.load(Ordering::Relaxed);
    let window = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    let elapsed = window.elapsed().as_secs_f64();
    let bytes = totals.bytes.load(Ordering::Relaxed) - bytes_before;
    let after = args.server_pid.and_then(process_cost);

    let mut firsts = totals
        .first_frames_ms
        .lock()
        .map(|t| t.clone())
        .unwrap_or_default();
    firsts.sort_by(f64::total_cmp);
    let gigabytes = bytes as f64 / 1e9;
    println!(
        "players: {} playing, {} failed",
        totals.started.load(Ordering::Relaxed),
        totals.failed.load(Ordering::Relaxed)
    );
    println!(
        "delivered: {:.1} MB/s ({:.2} Gbit/s) over {elapsed:.1} s",
        bytes as f64 / elapsed / 1e6,
        bytes as f64 * 8.0 / elapsed / 1e9
    );
    println!(
        "first video frame: median {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(&firsts, 0.5),
        percentile(&firsts, 0.99),
        firsts.last().copied().unwrap_or(f64::NAN)
    );
    if let (Some(before), Some(with), Some(after)) = (before_players, with_players, after) {
        let (user, system) = (after.user - with.user, after.system - with.system);
        println!(
            "server: {:.3} CPU-seconds per GB delivered ({:.3} cores; user {:.3}, system {:.3} per GB)",
            (user + system) / gigabytes,
            (user + system) / elapsed,
            user / gigabytes,
            system / gigabytes
        );
        let players = args.players.max(1) as f64;
        println!(
            "server memory: {:.1} MiB with players, {:.1} KiB per player",
            with.rss as f64 / 1048576.0,
            (with.rss as f64 - before.rss as f64) / players / 1024.0
        );
    }
    Ok(())
}
