//! A cluster of three example servers and a Redis (`redis-server` from Debian) on loopback
//! ports: one publisher per key across nodes, playing from any node, a dead node's keys taken
//! over after the lease, draining with our client following, and Redis failing under live
//! streams.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

mod common;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{LIMIT, Process, curl, eventually, free_port, run, start_server, strings};

/// Seconds a publisher's claim lives unrenewed in these tests.
const LEASE: u64 = 3;

fn spawn(program: impl AsRef<std::ffi::OsStr>, args: &[String]) -> Process {
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("cannot run a peer: run .ci/install-peers");
    Process(child)
}

fn redis() -> (Process, u16) {
    let port = free_port();
    let process = spawn(
        "redis-server",
        &strings(&[
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]),
    );
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(start.elapsed() < LIMIT, "redis-server never listened");
        std::thread::sleep(Duration::from_millis(50));
    }
    (process, port)
}

/// A node of the cluster: its RTMP port, its HTTP address and its process.
struct Node {
    port: u16,
    http: String,
    process: Process,
}

impl Node {
    fn start(redis: u16) -> Self {
        let (port, http) = (free_port(), free_port());
        let process = start_server(
            &strings(&[
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--http",
                &format!("127.0.0.1:{http}"),
                "--cluster",
                &format!("redis://127.0.0.1:{redis}"),
                "--node-url",
                &format!("rtmp://127.0.0.1:{port}"),
                "--cluster-lease-secs",
                &LEASE.to_string(),
            ]),
            port,
        );
        Self {
            port,
            http: format!("http://127.0.0.1:{http}"),
            process,
        }
    }

    fn url(&self, key: &str) -> String {
        format!("rtmp://127.0.0.1:{}/{key}", self.port)
    }

    /// Whether someone publishes `live/name` here (a pull counts not: its publisher has no
    /// connection).
    fn publishes(&self, name: &str) -> bool {
        let (_, body) = curl("GET", &format!("{}/api/streams", self.http));
        let streams: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap_or_default();
        streams
            .iter()
            .any(|stream| stream["name"] == name && !stream["publisher"].is_null())
    }
}

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("rtmp-cluster-{}-{name}", std::process::id()))
}

/// ffmpeg arguments playing `url` for `seconds` into `file`.
fn play_args(url: &str, seconds: u32, file: &Path) -> Vec<String> {
    let seconds = seconds.to_string();
    let file = file.to_str().unwrap();
    strings(&[
        "-nostdin",
        "-loglevel",
        "error",
        "-y",
        "-i",
        url,
        "-t",
        &seconds,
        "-c",
        "copy",
        "-f",
        "flv",
        file,
    ])
}

/// ffmpeg playing `url` for `seconds` into `file`; whether it succeeded.
fn play(url: &str, seconds: u32, file: &Path) -> bool {
    run("ffmpeg", &play_args(url, seconds, file))
        .status
        .success()
}

/// Video frames ffprobe decodes in `file`, which is then removed.
fn video_frames(file: &Path) -> usize {
    let frames = common::frames(file, "v");
    let _ = std::fs::remove_file(file);
    frames
}

#[test]
fn one_publisher_per_key_plays_anywhere_and_moves_when_its_node_dies() {
    let (mut redis, redis_port) = redis();
    let (a, b, c) = (
        Node::start(redis_port),
        Node::start(redis_port),
        Node::start(redis_port),
    );

    // Published on A, played from B: B pulls it from A.
    let _publisher = spawn("ffmpeg", &common::publish_args(&a.url("live/one"), 60));
    eventually("A publishes live/one", || a.publishes("one"));
    let file = temp("b.flv");
    assert!(play(&b.url("live/one"), 3, &file));
    assert!(video_frames(&file) > 25, "played from B");

    // A second publisher of the key, on B, is refused.
    let second = run("ffmpeg", &common::publish_args(&b.url("live/one"), 2));
    assert!(
        !second.status.success(),
        "a second publisher of live/one was accepted"
    );

    // A dies. A player on C waits; after the lease the key is published on B, and C plays it.
    drop(a);
    let waiting_file = temp("c.flv");
    let waiting = spawn("ffmpeg", &play_args(&c.url("live/one"), 3, &waiting_file));
    std::thread::sleep(Duration::from_secs(LEASE + 1));
    let _republisher = spawn("ffmpeg", &common::publish_args(&b.url("live/one"), 60));
    eventually("B publishes live/one", || b.publishes("one"));
    let mut waiting = waiting;
    let start = Instant::now();
    while waiting.0.try_wait().unwrap().is_none() {
        assert!(
            start.elapsed() < LIMIT,
            "the player on C never got the stream"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        video_frames(&waiting_file) > 25,
        "C plays the stream from its new node"
    );

    // Redis stops: what is served goes on, and a new publish is accepted locally.
    drop(redis.0.kill());
    let file = temp("b-after.flv");
    assert!(play(&b.url("live/one"), 2, &file));
    assert!(
        video_frames(&file) > 10,
        "B's stream plays on without Redis"
    );
    let _local = spawn("ffmpeg", &common::publish_args(&c.url("live/alone"), 60));
    let file = temp("c-alone.flv");
    assert!(play(&c.url("live/alone"), 2, &file));
    assert!(
        video_frames(&file) > 10,
        "a publish without Redis is served locally"
    );
    drop((b, c));
}

/// ffmpeg encoding into our client (`publish -`), which publishes to `node`'s `live/NAME`.
fn ffmpeg_through_our_client(node: &Node, name: &str) -> (Process, Process) {
    let mut args = common::publish_args("-", 120);
    // Not to a URL: FLV on standard output, for our client.
    let out = args.iter().position(|arg| arg == "-").unwrap();
    args[out] = "pipe:1".into();
    let mut ffmpeg = Command::new("ffmpeg")
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("cannot run ffmpeg: run .ci/install-peers");
    let pipe = ffmpeg.stdout.take().unwrap();
    let publish = common::server_binary().with_file_name("publish");
    let client = Command::new(publish)
        .args(["-", &node.url(&format!("live/{name}"))])
        .env("RUST_LOG", "warn")
        .stdin(Stdio::from(pipe))
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    (Process(ffmpeg), Process(client))
}

#[test]
fn a_drained_node_sends_our_publisher_to_another() {
    let (_redis, redis_port) = redis();
    let (a, b) = (Node::start(redis_port), Node::start(redis_port));
    let _publishing = ffmpeg_through_our_client(&a, "moving");
    eventually("A publishes live/moving", || a.publishes("moving"));
    let (code, body) = curl("POST", &format!("{}/api/drain", a.http));
    assert_eq!(code, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["target"], format!("rtmp://127.0.0.1:{}", b.port));
    assert_eq!(answer["asked"], 1);
    // Our client follows the reconnect request to B.
    eventually("the publisher moves to B", || {
        b.publishes("moving") && !a.publishes("moving")
    });
    let file = temp("moved.flv");
    assert!(play(&b.url("live/moving"), 2, &file));
    assert!(video_frames(&file) > 10);
    // A refuses new publishers while draining.
    let refused = run("ffmpeg", &common::publish_args(&a.url("live/late"), 1));
    assert!(!refused.status.success());
    drop(a.process);
}

#[test]
fn sigterm_moves_clients_to_another_node_then_stops() {
    let (_redis, redis_port) = redis();
    let (mut a, b) = (Node::start(redis_port), Node::start(redis_port));
    let _publishing = ffmpeg_through_our_client(&a, "leaving");
    eventually("A publishes live/leaving", || a.publishes("leaving"));
    let pid = a.process.0.id().to_string();
    assert!(run("kill", &strings(&["-TERM", &pid])).status.success());
    eventually("the publisher moves to B", || b.publishes("leaving"));
    // A stops once its clients left (well before its 10 s grace).
    let start = Instant::now();
    while a.process.0.try_wait().unwrap().is_none() {
        assert!(start.elapsed() < LIMIT, "A did not stop");
        std::thread::sleep(Duration::from_millis(100));
    }
    let file = temp("left.flv");
    assert!(play(&b.url("live/leaving"), 2, &file));
    assert!(video_frames(&file) > 10);
}
