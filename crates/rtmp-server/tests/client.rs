//! Our client against real servers and players: it publishes to our server and to nginx-rtmp
//! while ffmpeg plays, and plays from both what ffmpeg publishes. Everything on 127.0.0.1,
//! every wait bounded.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

mod common;

use common::{
    LIMIT, Nginx, TestServer, play_args, probe, publish_args, publish_tags, record, sample_tags,
    spawn, temp, wait,
};
use rtmp_server::ServerConfig;

/// ffmpeg plays 4 s of `url` (it waits for the publisher) while our client publishes the 2 s
/// sample 4 times over. (ffmpeg 5.1 does not end its play when nginx's publisher leaves, so the
/// player is bounded by its own `-t`.)
async fn client_publishes_ffmpeg_plays(url: &str, file: &std::path::Path, enhanced: bool) {
    let mut args = play_args(url, file);
    let output = args.len() - 1;
    args.splice(output..output, ["-t".to_owned(), "4".to_owned()]);
    let ffmpeg = if enhanced {
        common::peers::ffmpeg9()
    } else {
        "ffmpeg".into()
    };
    let mut player = spawn(&ffmpeg, &args);
    // Let ffmpeg's play request arrive first, so it sees the stream from the start.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    tokio::time::timeout(LIMIT, publish_tags(url, &sample_tags(), 4, enhanced))
        .await
        .expect("publishing did not finish in time");
    let status = wait(&mut player).await;
    assert!(status.success(), "ffmpeg player: {status}");
    if enhanced {
        // Debian's ffprobe cannot read Enhanced RTMP FLV; ffmpeg 9 decodes it.
        let frames = common::peers::decode(&ffmpeg, &[], file);
        assert!(
            frames.iter().all(|&count| count >= 95),
            "decoded {frames:?}"
        );
        let _ = std::fs::remove_file(file);
        return;
    }
    let (video, audio, keyframe_first) = probe(file).await;
    assert!(keyframe_first);
    // 4 s at 25 fps; AAC at 44.1 kHz is 43 frames a second.
    assert!((95..=101).contains(&video), "video frames: {video}");
    assert!(audio >= 160, "audio frames: {audio}");
    let _ = std::fs::remove_file(file);
}

/// Our client plays while ffmpeg publishes 3 s; what it records decodes.
async fn ffmpeg_publishes_client_plays(url: &str, file: &std::path::Path) {
    let recorder = {
        let (url, file) = (url.to_owned(), file.to_owned());
        tokio::spawn(async move { record(&url, &file).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let mut publisher = spawn("ffmpeg", &publish_args(url, 3, "300k"));
    assert!(wait(&mut publisher).await.success());
    let (video, audio) = tokio::time::timeout(LIMIT, recorder)
        .await
        .expect("the player never finished")
        .unwrap();
    // 3 s at 25 fps, and AAC at 44.1 kHz (about 43 frames a second).
    assert!(video >= 70, "video messages: {video}");
    assert!(audio >= 100, "audio messages: {audio}");
    let (decoded_video, decoded_audio, keyframe_first) = probe(file).await;
    assert!(keyframe_first);
    assert!(
        decoded_video + 2 >= video,
        "{decoded_video} of {video} decoded"
    );
    assert!(decoded_audio > 0);
    let _ = std::fs::remove_file(file);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_publishes_to_our_server_and_ffmpeg_plays() {
    let server = TestServer::start(ServerConfig::default()).await;
    client_publishes_ffmpeg_plays(
        &server.url("live/ours"),
        &temp("client-pub-ours.flv"),
        false,
    )
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_plays_from_our_server() {
    let server = TestServer::start(ServerConfig::default()).await;
    ffmpeg_publishes_client_plays(&server.url("live/cam"), &temp("client-play-ours.flv")).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_publishes_to_nginx_and_ffmpeg_plays() {
    let nginx = Nginx::start().await;
    client_publishes_ffmpeg_plays(
        &nginx.url("live/ours"),
        &temp("client-pub-nginx.flv"),
        false,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_plays_from_nginx() {
    let nginx = Nginx::start().await;
    ffmpeg_publishes_client_plays(&nginx.url("live/cam"), &temp("client-play-nginx.flv")).await;
}

/// Frames sent with `send_frame` in Enhanced RTMP form (avc1, mp4a) reach ffmpeg 9 and decode.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_publishes_enhanced_frames_to_our_server_and_ffmpeg9_plays() {
    let server = TestServer::start(ServerConfig::default()).await;
    let file = temp("client-pub-enhanced.flv");
    client_publishes_ffmpeg_plays(&server.url("live/enhanced"), &file, true).await;
    server.stop().await;
}
