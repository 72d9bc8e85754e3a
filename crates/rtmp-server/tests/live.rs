//! Real encoders and players against the server on 127.0.0.1: ffmpeg publishes, ffmpeg and
//! rtmpdump play, ffprobe checks what they saved. Peers from `.ci/install-peers`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

mod common;

use std::time::Duration;

use common::{TestServer, play_args, probe, publish_args, spawn, strings, temp, wait};
use rtmp_server::ServerConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_ffmpeg_players_and_rtmpdump_receive_a_publish() {
    let server = TestServer::start(ServerConfig::default()).await;
    let url = server.url("live/three");
    let mut publisher = spawn("ffmpeg", &publish_args(&url, 5, "300k"));
    server.published("three").await;
    let files = [
        temp("three-a.flv"),
        temp("three-b.flv"),
        temp("three-c.flv"),
    ];
    let mut players = [
        spawn("ffmpeg", &play_args(&url, &files[0])),
        spawn("ffmpeg", &play_args(&url, &files[1])),
        spawn(
            "rtmpdump",
            &strings(&["-q", "--live", "-r", &url, "-o", files[2].to_str().unwrap()]),
        ),
    ];
    assert!(wait(&mut publisher).await.success());
    for (player, name) in players.iter_mut().zip(["ffmpeg a", "ffmpeg b", "rtmpdump"]) {
        // Players end when the publisher leaves (UnpublishNotify / StreamEOF).
        let status = wait(player).await;
        // rtmpdump reports a live stream that ended on UnpublishNotify as complete (0) or
        // incomplete (2) depending on timing inside librtmp; what it saved is checked below.
        let ok = status.success() || (name == "rtmpdump" && status.code() == Some(2));
        assert!(ok, "{name} ended with {status}");
    }
    for file in &files {
        let (video, audio, first_key) = probe(file).await;
        let _ = std::fs::remove_file(file);
        // Joined while publishing: at least the last four seconds, from a keyframe.
        assert!(
            (100..=126).contains(&video),
            "{}: {video} video frames",
            file.display()
        );
        assert!(audio >= 150, "{}: {audio} audio frames", file.display());
        assert!(
            first_key,
            "{}: first video packet is not a keyframe",
            file.display()
        );
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn player_before_publisher_republish_and_second_publisher() {
    let server = TestServer::start(ServerConfig::default()).await;
    let url = server.url("live/again");
    let file = temp("again.flv");
    // The player comes first and waits.
    let mut player = spawn("ffmpeg", &play_args(&url, &file));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut first = spawn("ffmpeg", &publish_args(&url, 3, "300k"));
    server.published("again").await;
    // A second publisher of the same key is refused and gives up.
    let mut intruder = spawn("ffmpeg", &publish_args(&url, 3, "300k"));
    assert!(
        !wait(&mut intruder).await.success(),
        "a second publisher was accepted"
    );
    assert!(wait(&mut first).await.success());
    assert!(wait(&mut player).await.success());
    let (video, _, first_key) = probe(&file).await;
    let _ = std::fs::remove_file(&file);
    assert!(video >= 70, "{video} video frames");
    assert!(first_key);
    // Republishing the key after the first publisher left works.
    let mut second = spawn("ffmpeg", &publish_args(&url, 1, "300k"));
    assert!(wait(&mut second).await.success());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_player_starts_with_the_cached_gop() {
    let server = TestServer::start(ServerConfig::default()).await;
    let url = server.url("live/late");
    let mut publisher = spawn("ffmpeg", &publish_args(&url, 4, "300k"));
    server.published("late").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let file = temp("late.flv");
    let mut player = spawn("ffmpeg", &play_args(&url, &file));
    assert!(wait(&mut publisher).await.success());
    assert!(wait(&mut player).await.success());
    let (video, _, first_key) = probe(&file).await;
    let _ = std::fs::remove_file(&file);
    assert!(
        first_key,
        "the late player's first video packet is not a keyframe"
    );
    assert!(video >= 25, "{video} video frames");
    server.stop().await;
}
