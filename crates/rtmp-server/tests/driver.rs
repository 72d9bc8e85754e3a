//! The tokio driver over in-memory pipes on a paused clock: time moves only when every task
//! waits, so timeouts of a minute take no time and happen exactly when they should.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use rtmp_chunk::ChunkEncoder;
use rtmp_handshake::{ClientHandshake, ClientHandshakeConfig};
use rtmp_message::StatusCode;
use rtmp_server::rtmp_client::{PlayEvent, RtmpUrl};
use rtmp_server::{ConnectionError, Server, ServerConfig};
use rtmp_session::{ClientSession, ClientSessionConfig};
use tokio::io::{AsyncWriteExt, DuplexStream};
use tokio::task::JoinHandle;
use tokio::time::Instant;

type Served = JoinHandle<Result<(), ConnectionError>>;

fn peer() -> SocketAddr {
    SocketAddr::from(([10, 0, 0, 2], 1935))
}

/// A pipe of `size` bytes each way, its server end served by `server`.
fn pipe(server: &Arc<Server>, size: usize) -> (DuplexStream, Served) {
    let (ours, theirs) = tokio::io::duplex(size);
    let server = server.clone();
    (
        ours,
        tokio::spawn(async move { server.serve_connection(theirs, peer()).await }),
    )
}

/// Handshake, connect, createStream and play `name` written to `pipe`; nothing is read after
/// the handshake.
async fn play_without_reading(pipe: &mut DuplexStream, name: &str) {
    let mut handshake = ClientHandshake::new(ClientHandshakeConfig::default());
    rtmp_handshake::drive(pipe, &mut handshake).await.unwrap();
    let mut session = ClientSession::new(ClientSessionConfig::default());
    session.connect("live", "rtmp://memory/live").unwrap();
    session.create_stream().unwrap();
    session.play(1, name).unwrap();
    let mut encoder = ChunkEncoder::new();
    let mut out = BytesMut::new();
    while let Some(message) = session.poll_send() {
        encoder.encode(&message, &mut out).unwrap();
    }
    pipe.write_all(&out).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_silent_client_is_closed_at_the_idle_timeout() {
    let mut config = ServerConfig::default();
    config.idle_timeout = Duration::from_secs(60);
    let server = Arc::new(Server::new(config));
    let (mut ours, served) = pipe(&server, 1 << 20);
    let start = Instant::now();
    let mut handshake = ClientHandshake::new(ClientHandshakeConfig::default());
    rtmp_handshake::drive(&mut ours, &mut handshake)
        .await
        .unwrap();
    // Nothing more is sent; the server's pings pile up unread in the pipe.
    let result = served.await.unwrap();
    assert!(matches!(result, Err(ConnectionError::Idle)), "{result:?}");
    let waited = start.elapsed();
    assert!(
        waited > Duration::from_secs(60) && waited <= Duration::from_secs(62),
        "closed after {waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_player_that_never_reads_is_closed_at_the_write_timeout() {
    let mut config = ServerConfig::default();
    config.write_timeout = Duration::from_secs(20);
    config.idle_timeout = Duration::from_secs(3600);
    let server = Arc::new(Server::new(config));
    let url = RtmpUrl::parse("rtmp://memory/live/stuck").unwrap();
    let mut publisher = common::in_memory(&server, &url)
        .await
        .publish(&url.stream)
        .await
        .unwrap();
    // A 16 KiB pipe: it fills at once and the player never empties it.
    let (mut stuck, served) = pipe(&server, 16 << 10);
    play_without_reading(&mut stuck, "stuck").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut keyframe = vec![0x17u8; 50_000];
    keyframe[1] = 1; // AVC coded frames
    let keyframe = bytes::Bytes::from(keyframe);
    let frame = bytes::Bytes::from(vec![0x27u8; 50_000]);
    let mut timestamp = 0;
    // Publish a frame every 40 ms, a keyframe first, until the server gives up on the player.
    let result = loop {
        tokio::time::sleep(Duration::from_millis(40)).await;
        let frame = if timestamp == 0 { &keyframe } else { &frame };
        publisher
            .send_message(9, timestamp, frame.clone())
            .await
            .unwrap();
        timestamp += 40;
        if served.is_finished() {
            break served.await.unwrap();
        }
    };
    assert!(
        matches!(result, Err(ConnectionError::WriteTimeout(_))),
        "{result:?}"
    );
    // The publisher kept going all along; the player went at the timeout after the pipe
    // filled with the first frames.
    assert!(
        (20_000..=21_000).contains(&timestamp),
        "closed after {timestamp} ms of publishing"
    );
    drop(stuck);
}

#[tokio::test(start_paused = true)]
async fn unpublish_notify_follows_the_last_frames() {
    let server = Arc::new(Server::new(ServerConfig::default()));
    let url = RtmpUrl::parse("rtmp://memory/live/order").unwrap();
    let mut player = common::in_memory(&server, &url)
        .await
        .play(&url.stream)
        .await
        .unwrap();
    let mut publisher = common::in_memory(&server, &url)
        .await
        .publish(&url.stream)
        .await
        .unwrap();
    for timestamp in (0..100).map(|i| i * 40) {
        let frame = vec![if timestamp == 0 { 0x17 } else { 0x27 }, 1, 0, 0, 0, 7];
        publisher
            .send_message(9, timestamp, frame.into())
            .await
            .unwrap();
    }
    publisher.finish().await.unwrap();
    let mut media = 0;
    loop {
        match player.next_event().await.unwrap() {
            Some(PlayEvent::Media(_)) => media += 1,
            Some(PlayEvent::Status(status)) if status.code == StatusCode::PlayUnpublishNotify => {
                break;
            }
            Some(_) => {}
            None => panic!("the stream ended without UnpublishNotify"),
        }
    }
    assert_eq!(media, 100, "every frame came before UnpublishNotify");
}

/// When the first `count` keep-alive pings (User Control event 6) reach `ours`, counted from
/// `start`; everything else the server sends is read past.
async fn pings(ours: &mut DuplexStream, start: Instant, count: usize) -> Vec<Duration> {
    use tokio::io::AsyncReadExt;
    let mut decoder = rtmp_chunk::ChunkDecoder::new(rtmp_chunk::DecoderConfig::default());
    let mut buf = BytesMut::new();
    let mut pings = Vec::new();
    while pings.len() < count {
        while let Some(message) = decoder.decode(&mut buf).unwrap() {
            if message.type_id == 4 && message.payload.get(..2) == Some(&[0, 6]) {
                pings.push(start.elapsed());
            }
            if message.type_id == 1 {
                let size = u32::from_be_bytes(message.payload[..4].try_into().unwrap());
                decoder.set_chunk_size(size).unwrap();
            }
        }
        let read = tokio::time::timeout(Duration::from_secs(60), ours.read_buf(&mut buf)).await;
        assert!(read.expect("a ping within a minute").unwrap() > 0);
    }
    pings.truncate(count);
    pings
}

#[tokio::test(start_paused = true)]
async fn a_connected_client_is_pinged_at_the_interval_not_only_at_the_idle_timeout() {
    let mut config = ServerConfig::default();
    config.idle_timeout = Duration::from_secs(3600);
    let server = Arc::new(Server::new(config));
    let (mut ours, _served) = pipe(&server, 1 << 20);
    let start = Instant::now();
    play_without_reading(&mut ours, "pinged").await;
    let pings = pings(&mut ours, start, 2).await;
    // The session pings every 30 s once connected.
    for (ping, after) in pings.iter().zip([30, 60]) {
        let after = Duration::from_secs(after);
        assert!(
            *ping >= after && *ping <= after + Duration::from_secs(1),
            "{pings:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_zero_ping_interval_pings_once_a_second_rather_than_spinning() {
    let mut config = ServerConfig::default();
    config.idle_timeout = Duration::from_secs(3600);
    config.session.ping_interval = Some(Duration::ZERO);
    let server = Arc::new(Server::new(config));
    let (mut ours, _served) = pipe(&server, 1 << 20);
    let start = Instant::now();
    play_without_reading(&mut ours, "pinged").await;
    // On a paused clock a reader that spun would never let time move: the test would hang.
    let pings = pings(&mut ours, start, 4).await;
    let gaps: Vec<Duration> = pings.windows(2).map(|pair| pair[1] - pair[0]).collect();
    assert!(
        gaps.iter().all(|gap| *gap >= Duration::from_secs(1)),
        "{pings:?}"
    );
}
