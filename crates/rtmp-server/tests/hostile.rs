//! Misbehaving clients: each is closed, and a real publisher and player on the same server are
//! served throughout. A player that reads nothing does not stall anyone.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

mod common;

use std::time::Duration;

use common::{LIMIT, RawClient, TestServer, play_args, probe, publish_args, spawn, temp, wait};
use rtmp_server::{ServerConfig, StreamKey};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_clients_are_closed_and_others_keep_playing() {
    let mut config = ServerConfig::default();
    config.handshake_timeout = Duration::from_secs(1);
    let server = TestServer::start(config).await;
    let url = server.url("live/safe");
    let mut publisher = spawn("ffmpeg", &publish_args(&url, 4, "300k"));
    server.published("safe").await;
    let file = temp("safe.flv");
    let mut player = spawn("ffmpeg", &play_args(&url, &file));

    // Garbage after the handshake: a fmt 1 header on a chunk stream never started.
    let mut garbage = RawClient::connect(server.port, None).await;
    garbage
        .send_raw(&[0x43, 0xFF, 0xFF, 0xFF, 0x12, 0x34, 0x56, 0x99, 0xAB, 0xCD])
        .await;
    assert!(garbage.closed_by_server().await, "garbage was not refused");

    // A message claiming 16 MiB - 1 bytes.
    let mut oversized = RawClient::connect(server.port, None).await;
    oversized
        .send_raw(&[0x03, 0, 0, 0, 0xFF, 0xFF, 0xFF, 9, 1, 0, 0, 0])
        .await;
    assert!(
        oversized.closed_by_server().await,
        "an oversized message was accepted"
    );

    // 10 000 chunk streams.
    let mut streams = RawClient::connect(server.port, None).await;
    let mut bytes = Vec::new();
    for id in 64u32..10_064 {
        let id = id - 64;
        bytes.extend_from_slice(&[
            0x01,
            (id & 0xFF) as u8,
            (id >> 8) as u8,
            0,
            0,
            0,
            0,
            0,
            1,
            8,
            1,
            0,
            0,
            0,
            0xAF,
        ]);
    }
    streams.send_raw(&bytes).await;
    assert!(
        streams.closed_by_server().await,
        "10 000 chunk streams were accepted"
    );

    // Set Chunk Size 0.
    let mut zero = RawClient::connect(server.port, None).await;
    zero.send_raw(&[0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0, 0, 0, 0, 0])
        .await;
    assert!(
        zero.closed_by_server().await,
        "Set Chunk Size 0 was accepted"
    );

    // A flood of connections that never finish the handshake: each is closed by its timeout.
    let mut flood = Vec::new();
    for _ in 0..200 {
        flood.push(
            tokio::net::TcpStream::connect(("127.0.0.1", server.port))
                .await
                .unwrap(),
        );
    }
    for stream in &mut flood {
        use tokio::io::AsyncReadExt;
        let mut buf = [0u8; 16];
        let closed = tokio::time::timeout(LIMIT, stream.read(&mut buf))
            .await
            .expect("a silent connection stayed open");
        assert!(matches!(closed, Ok(0) | Err(_)));
    }

    assert!(wait(&mut publisher).await.success());
    assert!(wait(&mut player).await.success());
    let (video, audio, first_key) = probe(&file).await;
    let _ = std::fs::remove_file(&file);
    assert!(
        video >= 50 && audio >= 80 && first_key,
        "{video} video, {audio} audio frames"
    );
    // Nothing is left behind in the hub.
    tokio::time::timeout(LIMIT, async {
        while !server.router.keys().is_empty() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("streams were left in the hub");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_player_that_reads_nothing_stalls_nobody() {
    let mut config = ServerConfig::default();
    config.player_queue_bytes = 256 << 10;
    let server = TestServer::start(config).await;
    let url = server.url("live/busy");
    // Lossless 640x480 video: megabytes a second, more than socket buffers absorb.
    let mut args = publish_args(&url, 6, "20M");
    let position = args.iter().position(|arg| arg == "-b:v").unwrap();
    args.splice(position..position + 2, ["-qp".to_owned(), "0".to_owned()]);
    for arg in &mut args {
        if arg == "veryfast" {
            *arg = "ultrafast".into();
        }
        if arg.starts_with("testsrc2=") {
            *arg = "testsrc2=size=640x480:rate=25".into();
        }
    }
    let mut publisher = spawn("ffmpeg", &args);
    server.published("busy").await;
    let mut stalled = RawClient::connect(server.port, Some(4096)).await;
    stalled.play("live", "busy").await;
    let file = temp("busy.flv");
    let mut player = spawn("ffmpeg", &play_args(&url, &file));

    assert!(wait(&mut publisher).await.success());
    assert!(wait(&mut player).await.success());
    let key = StreamKey {
        app: "live".into(),
        name: "busy".into(),
    };
    let stats = server.router.stats(&key).unwrap_or_default();
    assert!(
        stats.dropped > 0,
        "the stalled player was never skipped ({} bytes published)",
        stats.bytes
    );
    let (video, _, first_key) = probe(&file).await;
    let _ = std::fs::remove_file(&file);
    assert!(
        video >= 100 && first_key,
        "the good player got {video} video frames"
    );
    drop(stalled);
    server.stop().await;
}
