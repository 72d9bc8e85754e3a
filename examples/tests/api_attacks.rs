//! Attacks on the example server's HTTP side (a child process with `--http`, on loopback):
//! hundreds of RTMP connections that play and publish long-named streams, after which the
//! lists and `/metrics` must answer quickly and stay small; and requests that name another
//! site as their `Host`, as a page does after rebinding its name to 127.0.0.1 (DNS
//! rebinding), with and without an API token.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

mod common;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command as Program;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use common::{Process, eventually, free_port, start_server, strings};
use rtmp_chunk::{ChunkDecoder, ChunkEncoder, DecoderConfig, RawMessage};
use rtmp_message::{Command, Connect, Message, Play, PublishType};
use serde_json::Value;

/// Connections that each play [`STREAMS`] streams nobody publishes (they wait: the attack).
const PLAYING: usize = 200;

/// Connections that each publish [`STREAMS`] streams: more streams than `/metrics` shows.
const PUBLISHING: usize = 130;

/// Message streams per connection (the server's default limit).
const STREAMS: u32 = 8;

/// The longest text the API repeats whole, and its marker's longest (`…[N bytes #HASH]`).
const MAX_TEXT: usize = 256;
const MARKER: usize = 48;

/// The most per-stream series `/metrics` has, and the longest label value it repeats whole.
const MAX_SERIES: usize = 1000;
const MAX_LABEL: usize = 128;

/// An RTMP client by hand over a blocking socket.
struct Raw {
    stream: TcpStream,
    encoder: ChunkEncoder,
    decoder: ChunkDecoder,
    received: BytesMut,
}

impl Raw {
    /// Connects, completes the handshake, connects to `live` and creates `streams` message
    /// streams (numbered 1, 2, ... by the server).
    fn connected(port: u16, streams: u32) -> Self {
        use rtmp_handshake::{ClientHandshake, ClientHandshakeConfig, Progress};
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let mut handshake = ClientHandshake::new(ClientHandshakeConfig::default());
        stream.write_all(&handshake.take_output()).unwrap();
        let mut buf = [0u8; 4096];
        let mut received = BytesMut::new();
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            assert!(Instant::now() < end, "the handshake did not end");
            let n = match stream.read(&mut buf) {
                Ok(n) => n,
                Err(error) if is_timeout(&error) => continue,
                Err(error) => panic!("the handshake failed: {error}"),
            };
            assert!(n > 0, "the server closed during the handshake");
            let progress = handshake.read(&buf[..n]).unwrap();
            stream.write_all(&handshake.take_output()).unwrap();
            if let Progress::Done(done) = progress {
                received.extend_from_slice(&done.leftover);
                break;
            }
        }
        let mut client = Self {
            stream,
            encoder: ChunkEncoder::new(),
            decoder: ChunkDecoder::new(DecoderConfig::default()),
            received,
        };
        let connect = Connect {
            transaction_id: 1.0,
            app: "live".into(),
            ..Connect::default()
        };
        let mut messages = vec![
            RawMessage::set_chunk_size(65536),
            Message::Command(Command::Connect(Box::new(connect)))
                .to_chunk(3, 0, 0)
                .unwrap(),
        ];
        for stream in 0..streams {
            let create = Command::CreateStream {
                transaction_id: f64::from(stream + 2),
            };
            messages.push(Message::Command(create).to_chunk(3, 0, 0).unwrap());
        }
        assert!(client.send(&messages));
        client
    }

    /// Sends messages; whether the server took them.
    fn send(&mut self, messages: &[RawMessage]) -> bool {
        let mut out = BytesMut::new();
        for message in messages {
            self.encoder.encode(message, &mut out).unwrap();
        }
        self.stream.write_all(&out).is_ok()
    }

    /// Plays `names`, one on each message stream from 1.
    fn play(&mut self, names: &[String]) -> bool {
        let plays: Vec<RawMessage> = (1..)
            .zip(names)
            .map(|(stream, name)| {
                Message::Command(Command::Play(Play::new(name.as_str())))
                    .to_chunk(8, 0, stream)
                    .unwrap()
            })
            .collect();
        self.send(&plays)
    }

    /// Publishes `names`, one on each message stream from 1.
    fn publish(&mut self, names: &[String]) -> bool {
        let publishes: Vec<RawMessage> = (1..)
            .zip(names)
            .map(|(stream, name)| {
                let publish = Command::Publish {
                    transaction_id: 0.0,
                    name: name.clone(),
                    publish_type: PublishType::Live,
                };
                Message::Command(publish).to_chunk(8, 0, stream).unwrap()
            })
            .collect();
        self.send(&publishes)
    }

    /// Reads command messages until `want` of them contain `code`, one contains `failure`,
    /// `limit` passes or the connection ends; how many contained `code`.
    fn count(&mut self, code: &str, failure: &str, want: usize, limit: Duration) -> usize {
        let end = Instant::now() + limit;
        let mut seen = 0;
        let mut buf = vec![0u8; 65536];
        let contains = |payload: &[u8], text: &str| {
            payload
                .windows(text.len())
                .any(|window| window == text.as_bytes())
        };
        while Instant::now() < end {
            while let Ok(Some(message)) = self.decoder.decode(&mut self.received) {
                if matches!(message.type_id, 17 | 20) {
                    if contains(&message.payload, failure) {
                        return seen;
                    }
                    if contains(&message.payload, code) {
                        seen += 1;
                    }
                }
            }
            if seen >= want {
                return seen;
            }
            match self.stream.read(&mut buf) {
                Ok(0) => return seen,
                Ok(n) => self.received.extend_from_slice(&buf[..n]),
                Err(error) if is_timeout(&error) => {}
                Err(_) => return seen,
            }
        }
        seen
    }
}

fn is_timeout(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

/// `start` followed by `x` up to `len` bytes, then `end`.
fn long_name(start: &str, len: usize, end: &str) -> String {
    let pad = len.saturating_sub(start.len() + end.len());
    format!("{start}{}{end}", "x".repeat(pad))
}

/// The longest stream name the server plays, of 4 KiB and 256 bytes (the session's own limit
/// may refuse the longer).
fn longest_name(port: u16) -> usize {
    for len in [4096, 256] {
        let mut client = Raw::connected(port, 1);
        assert!(client.play(&[long_name("probe", len, "")]));
        let started = client.count(
            "NetStream.Play.Start",
            "NetStream.Play.Failed",
            1,
            Duration::from_secs(10),
        );
        if started == 1 {
            return len;
        }
    }
    panic!("the server plays no stream of 256 bytes");
}

/// An HTTP answer, as curl saw it.
struct Answer {
    code: u16,
    headers: String,
    body: String,
    seconds: f64,
}

impl Answer {
    /// The value of header `name` (lowercase), if any.
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }

    /// `X-Total-Count`.
    fn total(&self) -> usize {
        self.header("x-total-count")
            .and_then(|total| total.parse().ok())
            .unwrap_or_else(|| panic!("no X-Total-Count in {}", self.headers))
    }

    /// The body as a JSON array.
    fn items(&self) -> Vec<Value> {
        serde_json::from_str(&self.body).unwrap_or_else(|error| {
            panic!(
                "{error}: {}",
                self.body.chars().take(300).collect::<String>()
            )
        })
    }
}

/// A request with curl (at most 10 s), with extra `headers` and, for a POST, a JSON body.
fn request(method: &str, url: &str, headers: &[String]) -> Answer {
    let mut args = strings(&["-s", "-m", "10", "-D", "-", "-X", method]);
    args.extend(strings(&["-w", "\n%{http_code} %{time_total}"]));
    for header in headers {
        args.extend(["-H".to_owned(), header.clone()]);
    }
    if method == "POST" {
        args.extend(strings(&[
            "-H",
            "Content-Type: application/json",
            "-d",
            "{}",
        ]));
    }
    args.push(url.to_owned());
    // curl ends within its own time limit; its output may be larger than a pipe holds.
    let output = Program::new("curl")
        .args(&args)
        .output()
        .unwrap_or_else(|error| panic!("cannot run curl ({error}): run .ci/install-peers"));
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (answer, trailer) = text.rsplit_once('\n').unwrap();
    let (code, seconds) = trailer.split_once(' ').unwrap();
    let (headers, body) = answer.split_once("\r\n\r\n").unwrap_or((answer, ""));
    Answer {
        code: code.parse().unwrap_or(0),
        headers: headers.to_owned(),
        body: body.to_owned(),
        seconds: seconds.parse().unwrap_or(f64::NAN),
    }
}

fn get(url: &str) -> Answer {
    request("GET", url, &[])
}

/// A GET that must answer 200 within 5 s (and is measured).
fn timed(url: &str) -> Answer {
    let answer = get(url);
    eprintln!(
        "GET {url}: {} in {:.3} s, {} bytes",
        answer.code,
        answer.seconds,
        answer.body.len()
    );
    assert_eq!(answer.code, 200, "{url}: {}", answer.body);
    assert!(answer.seconds < 5.0, "{url} took {} s", answer.seconds);
    answer
}

/// The value of the `name` label of a Prometheus sample line.
fn name_label(line: &str) -> Option<&str> {
    let rest = line.split_once("name=\"")?.1;
    rest.split_once('"').map(|(name, _)| name)
}

#[test]
fn thousands_of_long_named_streams_leave_the_api_small_and_quick() {
    rtmp_server::system::raise_open_file_limit().unwrap();
    let (port, http_port) = (free_port(), free_port());
    let _server = start_server(
        &strings(&[
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--http",
            &format!("127.0.0.1:{http_port}"),
        ]),
        port,
    );
    let http = format!("http://127.0.0.1:{http_port}");
    let len = longest_name(port);
    eprintln!("stream names of {len} bytes");

    // A stream published before the attack: /metrics shows the earliest published first.
    let mut honest = Raw::connected(port, 1);
    assert!(honest.publish(&["honest".to_owned()]));
    assert_eq!(
        honest.count(
            "Publish.Start",
            "Publish.BadName",
            1,
            Duration::from_secs(10)
        ),
        1
    );

    // Players of streams nobody publishes (they wait), then publishers of streams whose
    // names differ only in their last bytes, past the label length (they must stay apart in
    // /metrics). Every connection sends at once; the answers are read afterwards.
    let started = Instant::now();
    let mut clients = Vec::new();
    for connection in 0..PLAYING {
        let mut client = Raw::connected(port, STREAMS);
        let names: Vec<String> = (0..STREAMS)
            .map(|stream| long_name(&format!("played-{connection}-{stream}-"), len, ""))
            .collect();
        assert!(client.play(&names));
        clients.push(client);
    }
    for connection in 0..PUBLISHING {
        let mut client = Raw::connected(port, STREAMS);
        let names: Vec<String> = (0..STREAMS)
            .map(|stream| long_name("published-", len, &format!("-{connection}-{stream}")))
            .collect();
        assert!(client.publish(&names));
        clients.push(client);
    }
    for (connection, client) in clients.iter_mut().enumerate() {
        let (started, failed) = if connection < PLAYING {
            ("NetStream.Play.Start", "NetStream.Play.Failed")
        } else {
            ("NetStream.Publish.Start", "NetStream.Publish.BadName")
        };
        let count = client.count(started, failed, STREAMS as usize, Duration::from_secs(10));
        assert_eq!(
            count, STREAMS as usize,
            "connection {connection}: {started}"
        );
    }
    let played = PLAYING * STREAMS as usize;
    let published = PUBLISHING * STREAMS as usize + 1;
    eprintln!(
        "{} connections play {played} streams and publish {published}, in {:.1} s",
        clients.len() + 1,
        started.elapsed().as_secs_f64()
    );
    // The probes' connections go in a moment.
    eventually("the API counts every stream and connection", || {
        get(&format!("{http}/api/streams?limit=0")).total() == played + published
            && get(&format!("{http}/api/connections?limit=0")).total() == clients.len() + 1
    });

    // The streams: a page of the default length, each text bounded.
    let page = timed(&format!("{http}/api/streams"));
    let items = page.items();
    assert_eq!(page.total(), played + published);
    assert_eq!(items.len(), 100);
    let item_bound = 2 * (MAX_TEXT + MARKER) + 2048;
    assert!(
        page.body.len() <= items.len() * item_bound,
        "{} bytes for {} streams",
        page.body.len(),
        items.len()
    );
    for item in &items {
        let name = item["name"].as_str().unwrap();
        assert!(name.len() <= MAX_TEXT + MARKER, "{} bytes", name.len());
        if len > MAX_TEXT {
            assert!(name.contains(&format!("…[{len} bytes #")), "{name}");
            assert!(item["watch_path"].is_null());
        }
    }
    assert_eq!(
        page.header("link"),
        Some("</api/streams?offset=100&limit=100>; rel=\"next\"")
    );
    // The largest page, and the published streams page by page, following the links.
    let largest = timed(&format!("{http}/api/streams?limit=5000"));
    assert_eq!(largest.items().len(), 1000);
    assert!(largest.body.len() <= 1000 * item_bound);
    let mut next = Some("/api/streams?published=true&limit=1000".to_owned());
    let mut names = HashSet::new();
    let mut pages = 0;
    while let Some(path) = next.take() {
        let page = timed(&format!("{http}{path}"));
        assert_eq!(page.total(), published);
        for item in page.items() {
            assert!(!item["publisher"].is_null(), "{item}");
            names.insert(item["name"].as_str().unwrap().to_owned());
        }
        next = page
            .header("link")
            .and_then(|link| link.strip_prefix('<'))
            .and_then(|link| link.split_once('>'))
            .map(|(path, _)| path.to_owned());
        pages += 1;
        assert!(pages <= 2, "more pages than the streams fill");
    }
    assert_eq!(names.len(), published, "every published stream, once");
    let unpublished = get(&format!("{http}/api/streams?published=false&limit=1"));
    assert_eq!(unpublished.total(), played);
    assert!(unpublished.items()[0]["publisher"].is_null());
    let beyond = get(&format!("{http}/api/streams?offset={}", played + published));
    assert!(beyond.items().is_empty() && beyond.header("link").is_none());
    assert_eq!(get(&format!("{http}/api/streams?limit=many")).code, 400);

    // The connections.
    let page = timed(&format!("{http}/api/connections"));
    let items = page.items();
    assert_eq!(page.total(), clients.len() + 1);
    assert_eq!(items.len(), 100);
    let connection_bound = STREAMS as usize * (MAX_TEXT + MARKER + 64) + 512;
    assert!(
        page.body.len() <= items.len() * connection_bound,
        "{} bytes for {} connections",
        page.body.len(),
        items.len()
    );
    for item in &items {
        for stream in item["streams"].as_array().unwrap() {
            let name = stream["name"].as_str().unwrap();
            assert!(name.len() <= MAX_TEXT + MARKER, "{} bytes", name.len());
        }
    }
    let last = get(&format!("{http}/api/connections?offset=300&limit=1000"));
    assert_eq!(last.items().len(), clients.len() + 1 - 300);

    // The metrics: series of the published streams only, as many as shown at most, each
    // label bounded, and the earliest published among them.
    let metrics = timed(&format!("{http}/metrics"));
    let series: Vec<&str> = metrics
        .body
        .lines()
        .filter(|line| line.starts_with("rtmp_stream_publishing{"))
        .collect();
    assert_eq!(series.len(), MAX_SERIES);
    let labels: HashSet<&str> = series.iter().filter_map(|line| name_label(line)).collect();
    assert_eq!(labels.len(), MAX_SERIES, "two streams share a series");
    assert!(labels.contains("honest"));
    assert!(labels.iter().all(|name| !name.starts_with("played")));
    assert!(labels.iter().all(|name| name.len() <= MAX_LABEL + MARKER));
    if len > MAX_LABEL {
        let marker = format!("…[{len} bytes #");
        assert_eq!(
            labels.iter().filter(|name| name.contains(&marker)).count(),
            MAX_SERIES - 1,
            "every long name is cut and marked"
        );
    }
    assert!(
        metrics
            .body
            .lines()
            .any(|line| line == format!("rtmp_stream_series_omitted {}", published - MAX_SERIES)),
        "no rtmp_stream_series_omitted"
    );
    let longest_line = metrics.body.lines().map(str::len).max().unwrap_or(0);
    assert!(longest_line <= 512, "a line of {longest_line} bytes");
    assert!(
        metrics.body.len() <= 6 * MAX_SERIES * 512 + 64 * 1024,
        "{} bytes of metrics",
        metrics.body.len()
    );

    // A stream no longer published reads 0 at the next scrape.
    drop(honest);
    eventually("the honest stream's series reads 0", || {
        get(&format!("{http}/metrics")).body.lines().any(|line| {
            line.starts_with("rtmp_stream_publishing{")
                && line.contains("name=\"honest\"")
                && line.ends_with(" 0")
        })
    });

    // The server is still alive, its RTMP side too.
    assert_eq!(get(&format!("{http}/api/totals")).code, 200);
    let mut late = Raw::connected(port, 0);
    assert_eq!(
        late.count(
            "NetConnection.Connect.Success",
            "NetConnection.Connect.Rejected",
            1,
            Duration::from_secs(10)
        ),
        1
    );
    drop(clients);
}

/// The server with `--http` (and `extra` flags); its RTMP and HTTP ports.
fn server_with_http(extra: &[&str]) -> (Process, u16, u16) {
    let (port, http_port) = (free_port(), free_port());
    let mut args = strings(&[
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--http",
        &format!("127.0.0.1:{http_port}"),
    ]);
    args.extend(strings(extra));
    let server = start_server(&args, port);
    eventually("the HTTP side listens", || {
        TcpStream::connect(("127.0.0.1", http_port)).is_ok()
    });
    (server, port, http_port)
}

#[test]
fn without_a_token_only_requests_to_a_loopback_host_are_answered() {
    let (_server, port, http_port) = server_with_http(&[]);
    let base = format!("http://127.0.0.1:{http_port}");
    let drain = format!("{base}/api/drain");
    // A page of evil.example whose name now resolves to 127.0.0.1: its own name as Host and
    // as Origin (the same site, as far as the Origin check can tell).
    let rebound = [
        "Host: evil.example".to_owned(),
        "Origin: http://evil.example".to_owned(),
    ];
    let refused = request("POST", &drain, &rebound);
    eprintln!("a rebound drain: {} {}", refused.code, refused.body);
    assert_eq!(refused.code, 403);
    for path in [
        "/",
        "/metrics",
        "/api/streams",
        "/api/connections",
        "/api/totals",
    ] {
        let answer = request("GET", &format!("{base}{path}"), &rebound[..1]);
        assert_eq!(answer.code, 403, "GET {path} for evil.example");
    }
    for host in [
        "evil.example".to_owned(),
        format!("evil.example:{http_port}"),
        "localhost.evil.example".to_owned(),
        "127.0.0.1.nip.io".to_owned(),
        "0.0.0.0".to_owned(),
        "[::2]".to_owned(),
        format!("127.0.0.1:{http_port}x"),
        format!("127.0.0.1:+{http_port}"),
        ".localhost".to_owned(),
        String::new(),
    ] {
        let answer = request(
            "GET",
            &format!("{base}/api/totals"),
            &[format!("Host: {host}")],
        );
        assert_eq!(answer.code, 403, "Host: {host:?}");
    }
    // No Host at all.
    let answer = request("GET", &format!("{base}/api/totals"), &["Host:".to_owned()]);
    assert!(matches!(answer.code, 400 | 403), "no Host: {}", answer.code);
    for host in [
        format!("127.0.0.1:{http_port}"),
        "127.0.0.1".to_owned(),
        "127.1.2.3".to_owned(),
        format!("localhost:{http_port}"),
        "LocalHost.".to_owned(),
        format!("status.localhost:{http_port}"),
        format!("[::1]:{http_port}"),
        "[::ffff:127.0.0.1]".to_owned(),
    ] {
        let answer = request(
            "GET",
            &format!("{base}/api/totals"),
            &[format!("Host: {host}")],
        );
        assert_eq!(answer.code, 200, "Host: {host:?}");
    }
    // Nothing was drained: publishing works; then the operator on this machine drains.
    assert!(publishes(port, "before"), "drained by a rebound page");
    let local = [
        format!("Host: 127.0.0.1:{http_port}"),
        format!("Origin: http://127.0.0.1:{http_port}"),
    ];
    let drained = request("POST", &drain, &local);
    eprintln!("a local drain: {} {}", drained.code, drained.body);
    assert_eq!(drained.code, 200, "{}", drained.body);
    assert!(
        !publishes(port, "after"),
        "a drained server refuses publishes"
    );
}

/// Whether the server at `port` lets a client publish `live/NAME`.
fn publishes(port: u16, name: &str) -> bool {
    let mut client = Raw::connected(port, 1);
    client.publish(&[name.to_owned()])
        && client.count(
            "NetStream.Publish.Start",
            "NetStream.Publish.BadName",
            1,
            Duration::from_secs(10),
        ) == 1
}

#[test]
fn with_a_token_any_host_with_the_bearer_is_answered() {
    let token = "secret-api-token";
    let (_server, port, http_port) = server_with_http(&["--http-token", token]);
    let base = format!("http://127.0.0.1:{http_port}");
    let bearer = format!("Authorization: Bearer {token}");
    let elsewhere = "Host: rtmp.example".to_owned();
    for path in [
        "/metrics",
        "/api/streams",
        "/api/connections",
        "/api/totals",
    ] {
        let url = format!("{base}{path}");
        assert_eq!(
            request("GET", &url, std::slice::from_ref(&elsewhere)).code,
            401,
            "{path}"
        );
        let answer = request("GET", &url, &[elsewhere.clone(), bearer.clone()]);
        assert_eq!(answer.code, 200, "{path}");
    }
    assert_eq!(
        request("GET", &format!("{base}/"), std::slice::from_ref(&elsewhere)).code,
        200
    );
    let drain = format!("{base}/api/drain");
    let without = request("POST", &drain, std::slice::from_ref(&elsewhere));
    assert_eq!(without.code, 401);
    assert!(publishes(port, "before"));
    let with = request(
        "POST",
        &drain,
        &[elsewhere, "Origin: http://rtmp.example".to_owned(), bearer],
    );
    eprintln!("a drain with the token: {} {}", with.code, with.body);
    assert_eq!(with.code, 200, "{}", with.body);
    assert!(!publishes(port, "after"));
}

#[test]
fn health_probes_need_no_token_say_nothing_and_readyz_follows_a_drain() {
    let token = "secret-api-token";
    let (_server, _port, http_port) = server_with_http(&["--http-token", token]);
    let base = format!("http://127.0.0.1:{http_port}");
    // A load balancer's probe, from any host and without the token.
    let elsewhere = ["Host: rtmp.example".to_owned()];
    let alive = request("GET", &format!("{base}/healthz"), &elsewhere);
    assert_eq!((alive.code, alive.body.as_str()), (200, "alive\n"));
    let ready = request("GET", &format!("{base}/readyz"), &elsewhere);
    assert_eq!((ready.code, ready.body.as_str()), (200, "ready\n"));
    // Nothing else is open without the token.
    assert_eq!(
        request("GET", &format!("{base}/api/totals"), &elsewhere).code,
        401
    );
    let drained = request(
        "POST",
        &format!("{base}/api/drain"),
        &[
            "Host: rtmp.example".to_owned(),
            "Origin: http://rtmp.example".to_owned(),
            format!("Authorization: Bearer {token}"),
        ],
    );
    assert_eq!(drained.code, 200, "{}", drained.body);
    let draining = request("GET", &format!("{base}/readyz"), &elsewhere);
    assert_eq!((draining.code, draining.body.as_str()), (503, "draining\n"));
    // Still alive while draining.
    assert_eq!(
        request("GET", &format!("{base}/healthz"), &elsewhere).code,
        200
    );
}

#[test]
fn json_logs_are_one_object_a_line() {
    let port = free_port();
    let mut child = std::process::Command::new(common::server_binary())
        .args(strings(&[
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--log-format",
            "json",
        ]))
        .env("RUST_LOG", "info")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _server = common::Process(child);
    // The first lines say where it listens, each a JSON object with a level and a message.
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let first = lines.next().unwrap().unwrap();
    let line: serde_json::Value =
        serde_json::from_str(&first).unwrap_or_else(|error| panic!("{error}: {first}"));
    assert_eq!(line["level"], "INFO", "{first}");
    assert!(line["fields"]["message"].is_string(), "{first}");
    assert!(line["timestamp"].is_string(), "{first}");
}
