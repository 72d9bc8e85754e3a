//! Encoders that come back, with real peers: ffmpeg stops publishing and starts again a second
//! later while an ffmpeg 5.1 player and a raw player stay connected; an encoder whose
//! connection goes silent is taken over by a new ffmpeg publishing the same key.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

mod common;

use std::time::{Duration, Instant};

use common::{RawClient, TestServer, play_args, probe, publish_args, spawn, temp, wait};
use rtmp_chunk::{ChunkDecoder, DecoderConfig, RawMessage};
use rtmp_message::{Command, Connect, Message, PublishType};
use rtmp_server::{Hooks, ServerConfig, StreamEvent};
use tokio::io::AsyncReadExt;

/// Reads what `player` is sent until the connection ends or `limit` passes: the timestamps of
/// its video messages, in order.
async fn video_timestamps(mut player: RawClient, limit: Duration) -> Vec<u32> {
    let mut decoder = ChunkDecoder::new(DecoderConfig::default());
    let mut received = bytes::BytesMut::new();
    let mut buf = vec![0u8; 65536];
    let mut timestamps = Vec::new();
    let _ = tokio::time::timeout(limit, async {
        loop {
            while let Ok(Some(message)) = decoder.decode(&mut received) {
                if message.type_id == 9 {
                    timestamps.push(message.timestamp);
                }
            }
            match player.stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    timestamps
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn players_ride_through_a_publisher_restart() {
    let config = ServerConfig::default();
    let mut hub = config.hub_settings();
    hub.republish_grace = Duration::from_secs(3);
    let server = TestServer::start_hub(config, hub).await;
    let url = server.url("live/restart");
    let mut first = spawn("ffmpeg", &publish_args(&url, 5, "300k"));
    server.published("restart").await;
    let file = temp("restart.flv");
    let mut player = spawn("ffmpeg", &play_args(&url, &file));
    let mut raw = RawClient::connect(server.port, None).await;
    raw.play("live", "restart").await;
    let raw = tokio::spawn(video_timestamps(raw, Duration::from_secs(40)));
    assert!(wait(&mut first).await.success());
    // Gone for a second, then back: an encoder restarting.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut second = spawn("ffmpeg", &publish_args(&url, 5, "300k"));
    assert!(wait(&mut second).await.success());
    // The players are told once the grace is over, and ffmpeg stops then.
    assert!(wait(&mut player).await.success());

    let (video, audio, first_key) = probe(&file).await;
    let _ = std::fs::remove_file(&file);
    eprintln!("ffmpeg 5.1 across the restart: {video} video, {audio} audio frames");
    assert!(first_key);
    // Both publishers' frames (25 a second), not only the first's.
    assert!(video >= 180, "{video} video frames");
    let timestamps = raw.await.unwrap();
    let steps_back = timestamps
        .windows(2)
        .filter(|pair| pair[1] < pair[0])
        .count();
    eprintln!(
        "raw player: {} video messages, {} to {} ms, {steps_back} steps back",
        timestamps.len(),
        timestamps.first().unwrap_or(&0),
        timestamps.last().unwrap_or(&0)
    );
    assert!(
        timestamps.len() >= 180,
        "{} video messages",
        timestamps.len()
    );
    assert_eq!(steps_back, 0, "{timestamps:?}");
    server.stop().await;
}

/// A publisher of `live/NAME` by hand that sends a sequence header and one keyframe, then
/// nothing, keeping its connection open.
async fn silent_publisher(port: u16, name: &str) -> RawClient {
    let mut client = RawClient::connect(port, None).await;
    let connect = Connect {
        transaction_id: 1.0,
        app: "live".into(),
        ..Connect::default()
    };
    let commands = [
        (0, Command::Connect(Box::new(connect))),
        (
            0,
            Command::CreateStream {
                transaction_id: 2.0,
            },
        ),
        (
            1,
            Command::Publish {
                transaction_id: 3.0,
                name: name.into(),
                publish_type: PublishType::Live,
            },
        ),
    ];
    let mut messages: Vec<RawMessage> = commands
        .into_iter()
        .map(|(stream, command)| Message::Command(command).to_chunk(3, 0, stream).unwrap())
        .collect();
    let header = vec![0x17, 0, 0, 0, 0, 0x01, 0x64, 0x00, 0x1F, 0xFF, 0xE1, 0, 0];
    messages.push(RawMessage::new(6, 0, 9, 1, header));
    messages.push(RawMessage::new(
        6,
        0,
        9,
        1,
        vec![0x17, 1, 0, 0, 0, 0, 0, 0, 1, 0x65],
    ));
    client.send(&messages).await;
    client
}

/// Notes each takeover: the replaced connection and the new one.
#[derive(Default)]
struct Takeovers(std::sync::Arc<std::sync::Mutex<Vec<(u64, u64)>>>);

impl Hooks for Takeovers {
    fn on_publish_taken_over(&self, replaced: u64, event: &StreamEvent) {
        self.0.lock().unwrap().push((replaced, event.connection));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_encoder_takes_over_from_one_gone_silent() {
    let takeovers = Takeovers::default();
    let told = takeovers.0.clone();
    let server = TestServer::start_with(ServerConfig::default(), takeovers, None).await;
    let mut silent = silent_publisher(server.port, "taken").await;
    common::eventually("the silent publisher is on", || {
        server
            .router
            .stats(&common::key("taken"))
            .is_some_and(|stats| stats.publishing)
    })
    .await;
    let mut raw = RawClient::connect(server.port, None).await;
    raw.play("live", "taken").await;
    let raw = tokio::spawn(video_timestamps(raw, Duration::from_secs(20)));
    // Silent past the default 3 s: the next publisher of the key takes it over.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let url = server.url("live/taken");
    let started = Instant::now();
    let mut encoder = spawn("ffmpeg", &publish_args(&url, 4, "300k"));
    // The silent publisher sent two video messages; the new encoder's frames follow them.
    common::eventually("the new encoder publishes", || {
        server
            .router
            .stats(&common::key("taken"))
            .is_some_and(|stats| stats.publishing && stats.video_frames > 10)
    })
    .await;
    let took = started.elapsed();
    eprintln!("the new encoder published after {took:?}");
    assert!(
        silent.closed_by_server().await,
        "the silent publisher stays"
    );
    assert!(wait(&mut encoder).await.success(), "the new encoder failed");
    let told = told.lock().unwrap().clone();
    assert!(
        told.len() == 1 && told[0].0 != told[0].1,
        "the hooks were told {told:?}"
    );
    let timestamps = raw.await.unwrap();
    eprintln!("the player got {} video messages", timestamps.len());
    // The silent publisher's keyframe, then the new encoder's stream (25 frames a second).
    assert!(
        timestamps.len() >= 60,
        "{} video messages",
        timestamps.len()
    );
    assert!(timestamps.windows(2).all(|pair| pair[1] >= pair[0]));
    server.stop().await;
}
