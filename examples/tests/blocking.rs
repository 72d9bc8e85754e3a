//! The `blocking` example, a server with no async runtime, against real peers: ffmpeg
//! publishes to it and rtmpdump plays from it; ffprobe checks what rtmpdump saved.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

#[path = "../blocking.rs"]
mod blocking;
mod common;

use common::frames;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(60);

/// Kills the peer when dropped, so that a failing test leaves nothing running.
struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(program: &str, args: &[&str]) -> Peer {
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot run {program} ({error}): run .ci/install-peers"));
    Peer(child)
}

/// Waits (bounded) for the peer to end; its exit code.
fn wait(peer: &mut Peer) -> Option<i32> {
    let start = Instant::now();
    while start.elapsed() < LIMIT {
        if let Some(status) = peer.0.try_wait().unwrap() {
            return status.code();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("a peer did not finish in time");
}

#[test]
fn ffmpeg_publishes_and_rtmpdump_plays_without_a_runtime() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // The accept loop runs for the rest of the test process.
    std::thread::spawn(move || blocking::serve(listener));
    let url = format!("rtmp://127.0.0.1:{port}/live/blocking");
    let args = common::publish_args(&url, 5);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut publisher = spawn("ffmpeg", &args);

    std::thread::sleep(Duration::from_secs(1));
    let file = std::env::temp_dir().join(format!("rtmp-blocking-{}.flv", std::process::id()));
    let mut player = spawn(
        "rtmpdump",
        &["-q", "--live", "-r", &url, "-o", file.to_str().unwrap()],
    );
    assert_eq!(wait(&mut publisher), Some(0), "ffmpeg failed to publish");
    // rtmpdump ends when the stream's publisher leaves (complete or incomplete: 0 or 2).
    let code = wait(&mut player);
    assert!(matches!(code, Some(0 | 2)), "rtmpdump ended with {code:?}");
    let (video, audio) = (frames(&file, "v"), frames(&file, "a"));
    let _ = std::fs::remove_file(&file);
    // Joined a second in: at least three of the five seconds, from the cached GOP.
    assert!(video >= 75, "{video} video frames decoded");
    assert!(audio >= 100, "{audio} audio frames decoded");
}
