//! Real clients complete the handshake against our server state machine: ffmpeg (complex C1,
//! signed C2 when playing, echoed C2 when publishing) and rtmpdump (simple). Each test listens
//! on 127.0.0.1, drives `ServerHandshake` over the socket, and waits for the client's first
//! chunk, which can only come after the client accepted S1/S2 and sent C2.
//!
//! The peers come from Debian (`apt-get install -y ffmpeg rtmpdump`); a missing peer fails the
//! test rather than skipping it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

use std::process::Stdio;
use std::time::Duration;

use rtmp_handshake::{
    Completed, HandshakeKind, Progress, Schema, ServerHandshake, ServerHandshakeConfig,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};

const LIMIT: Duration = Duration::from_secs(30);

/// Accepts one connection, runs the handshake with C2 verification on, and returns the result
/// with the first 16 bytes of the chunk stream.
async fn handshake_one(listener: TcpListener) -> (Completed, Vec<u8>) {
    let (mut stream, _) = listener.accept().await.unwrap();
    let mut handshake = ServerHandshake::new(ServerHandshakeConfig {
        verify_c2: true,
        ..ServerHandshakeConfig::default()
    });
    let mut buf = [0u8; 4096];
    let completed = loop {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "client closed during the handshake");
        let status = handshake.read(&buf[..n]).unwrap();
        stream.write_all(&handshake.take_output()).await.unwrap();
        if let Progress::Done(completed) = status {
            break completed;
        }
    };
    let mut chunks = completed.leftover.to_vec();
    while chunks.len() < 16 {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "client closed before sending its first chunk");
        chunks.extend_from_slice(&buf[..n]);
    }
    (completed, chunks)
}

fn spawn(program: &str, args: &[String]) -> Child {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|error| {
            panic!("cannot run {program} ({error}); install it: apt-get install -y ffmpeg rtmpdump")
        })
}

/// Runs `program` against a fresh listener and returns what the server saw.
async fn against(program: &str, args: impl Fn(&str) -> Vec<String>) -> (Completed, Vec<u8>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "rtmp://127.0.0.1:{}/app/stream",
        listener.local_addr().unwrap().port()
    );
    let mut child = spawn(program, &args(&url));
    let result = tokio::time::timeout(LIMIT, handshake_one(listener))
        .await
        .unwrap_or_else(|_| panic!("{program} did not finish the handshake within {LIMIT:?}"));
    child.kill().await.unwrap();
    result
}

/// The first chunk of every RTMP client is `connect`: fmt 0 on chunk stream 3, message type 20
/// (AMF0 command), and a body that starts with the AMF0 string "connect".
fn assert_connect_chunk(chunks: &[u8]) {
    assert_eq!(chunks[0], 0x03, "fmt 0, chunk stream 3");
    assert_eq!(chunks[7], 20, "AMF0 command message");
    assert_eq!(&chunks[12..16], &[0x02, 0x00, 0x07, b'c']);
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|arg| arg.to_string()).collect()
}

#[tokio::test]
async fn ffmpeg_player_completes_a_complex_handshake() {
    let (completed, chunks) = against("ffmpeg", |url| {
        strings(&[
            "-nostdin",
            "-loglevel",
            "quiet",
            "-i",
            url,
            "-f",
            "null",
            "-",
        ])
    })
    .await;
    assert_eq!(completed.kind, HandshakeKind::Complex(Schema::DigestFirst));
    assert_eq!(completed.peer_version, 0x0900_7C02);
    assert_connect_chunk(&chunks);
}

#[tokio::test]
async fn ffmpeg_publisher_completes_a_complex_handshake() {
    let (completed, chunks) = against("ffmpeg", |url| {
        strings(&[
            "-nostdin",
            "-loglevel",
            "quiet",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=64x64",
            "-t",
            "1",
            "-f",
            "flv",
            url,
        ])
    })
    .await;
    assert_eq!(completed.kind, HandshakeKind::Complex(Schema::DigestFirst));
    assert_connect_chunk(&chunks);
}

#[tokio::test]
async fn rtmpdump_completes_a_simple_handshake() {
    let (completed, chunks) = against("rtmpdump", |url| {
        strings(&["-q", "--live", "-r", url, "-o", "/dev/null"])
    })
    .await;
    assert_eq!(completed.kind, HandshakeKind::Simple);
    assert_eq!(completed.peer_version, 0);
    assert_connect_chunk(&chunks);
}
