//! Enhanced RTMP through the server: ffmpeg 9 publishes HEVC/AAC and AV1/Opus (the sample files
//! of rtmp-flv, copied in real time) and ffmpeg 9 plays each back and decodes it, while a legacy
//! player of an H.264 stream next to them is unaffected. With the refusal policy on, a legacy
//! ffmpeg 5.1 player of the HEVC stream gets NetStream.Play.Failed and gives up.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

mod common;

use std::path::Path;

use common::{TestServer, play_args, publish_args, spawn, temp, wait};
use rtmp_flv::{AudioCodec, VideoCodec};
use rtmp_server::ServerConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg9_publishes_and_plays_hevc_and_av1() {
    let server = TestServer::start(ServerConfig::default()).await;
    let streams = [
        ("hevc", "hevc-aac-enhanced.flv"),
        ("av1", "av1-opus-enhanced.flv"),
    ];
    let mut publishers = Vec::new();
    for (name, file) in streams {
        publishers.push(spawn(
            common::peers::ffmpeg9(),
            &common::publish_sample(&server.url(&format!("live/{name}")), file, 1),
        ));
    }
    let mut legacy_publisher = spawn("ffmpeg", &publish_args(&server.url("live/h264"), 4, "300k"));
    for (name, _) in streams {
        server.published(name).await;
    }
    server.published("h264").await;
    // Per-stream figures name the codecs, whatever the tag form.
    let codecs = |name: &str| {
        let stats = server.router.stats(&common::key(name)).unwrap();
        (stats.video_codec, stats.audio_codec)
    };
    assert_eq!(
        codecs("hevc"),
        (Some(VideoCodec::Hevc), Some(AudioCodec::Aac))
    );
    assert_eq!(
        codecs("av1"),
        (Some(VideoCodec::Av1), Some(AudioCodec::Opus))
    );
    assert_eq!(
        codecs("h264"),
        (Some(VideoCodec::Avc), Some(AudioCodec::Aac))
    );
    common::eventually("a bitrate is measured", || {
        server
            .router
            .stats(&common::key("h264"))
            .is_some_and(|stats| stats.bitrate > 100_000)
    })
    .await;
    let files: Vec<_> = streams
        .iter()
        .map(|(name, _)| temp(&format!("e-{name}.flv")))
        .collect();
    let mut players: Vec<_> = streams
        .iter()
        .zip(&files)
        .map(|((name, _), file)| {
            spawn(
                common::peers::ffmpeg9(),
                &play_args(&server.url(&format!("live/{name}")), file),
            )
        })
        .collect();
    let legacy_file = temp("e-h264.flv");
    let mut legacy_player = spawn("ffmpeg", &play_args(&server.url("live/h264"), &legacy_file));
    for child in publishers.iter_mut().chain(players.iter_mut()) {
        assert!(wait(child).await.success());
    }
    assert!(wait(&mut legacy_publisher).await.success());
    assert!(wait(&mut legacy_player).await.success());
    for file in files.iter().chain([&legacy_file]) {
        // Debian's ffprobe cannot read the enhanced files: decode with ffmpeg 9 instead.
        let ffmpeg = if file == &legacy_file {
            "ffmpeg".into()
        } else {
            common::peers::ffmpeg9()
        };
        let video_frames = common::peers::decode(&ffmpeg, &[], file)[0];
        let _ = std::fs::remove_file(file);
        assert!(
            video_frames >= 25,
            "{}: {video_frames} frames",
            file.display()
        );
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_player_of_enhanced_video_is_told_when_refusal_is_on() {
    let config = ServerConfig::default();
    let mut hub = config.hub_settings();
    hub.refuse_unannounced_enhanced = true;
    let server = TestServer::start_hub(config, hub).await;
    let url = server.url("live/hevc");
    let mut publisher = spawn(
        common::peers::ffmpeg9(),
        &common::publish_sample(&url, "hevc-aac-enhanced.flv", 2),
    );
    server.published("hevc").await;
    let file = temp("refused.flv");
    let mut legacy = spawn("ffmpeg", &play_args(&url, &file));
    // NetStream.Play.Failed: ffmpeg gives up at once instead of waiting for video.
    let status = wait(&mut legacy).await;
    let _ = std::fs::remove_file(&file);
    assert!(
        !status.success(),
        "the legacy player was served enhanced video"
    );
    publisher.kill().await.unwrap();
    server.stop().await;
}

/// What ffmpeg 9 says of `file`'s streams, and what decoding all of them prints at -v error.
async fn streams_and_decode_errors(file: &Path) -> (String, String) {
    let ffmpeg9 = common::peers::ffmpeg9();
    let info = tokio::process::Command::new(&ffmpeg9)
        .args(["-hide_banner", "-i"])
        .arg(file)
        .output()
        .await
        .unwrap();
    let decoded = tokio::process::Command::new(&ffmpeg9)
        .args(["-v", "error", "-i"])
        .arg(file)
        .args(["-map", "0", "-f", "null", "-"])
        .output()
        .await
        .unwrap();
    (
        String::from_utf8_lossy(&info.stderr).into_owned(),
        String::from_utf8_lossy(&decoded.stderr).into_owned(),
    )
}

/// Our client announces multitrack: joining late, it gets every track of a stream of two
/// video renditions and two audio tracks, each configured, and what it saved decodes in
/// ffmpeg 9 without an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_player_gets_every_track_of_a_multitrack_stream() {
    let server = TestServer::start(ServerConfig::default()).await;
    let url = server.url("live/multitrack");
    let publisher_args = common::multitrack_args(&url, 8);
    let mut publisher = spawn(common::peers::ffmpeg9(), &publisher_args);
    server.published("multitrack").await;
    // Join well after the tracks' sequence starts went by.
    tokio::time::sleep(std::time::Duration::from_millis(3500)).await;
    let file = temp("multitrack.flv");
    let (video, audio) = common::record(&url, &file).await;
    assert!(video > 0 && audio > 0);
    assert!(wait(&mut publisher).await.success());
    let (streams, errors) = streams_and_decode_errors(&file).await;
    let _ = std::fs::remove_file(&file);
    assert!(
        streams.contains("320x240") && streams.contains("160x120"),
        "both video renditions configured: {streams}"
    );
    assert!(
        streams.contains("44100 Hz") && streams.contains("48000 Hz"),
        "both audio tracks configured: {streams}"
    );
    assert!(errors.is_empty(), "decode errors: {errors}");
    server.stop().await;
}

/// Under the legacy-only option, ffmpeg 5.1 (which cannot decode Enhanced RTMP) plays an
/// HEVC stream's audio without a single decode error; the HEVC video is skipped for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_5_1_plays_the_audio_of_an_hevc_stream_under_the_legacy_only_option() {
    let mut config = ServerConfig::default();
    config.legacy_for_unannounced = true;
    let server = TestServer::start(config).await;
    let url = server.url("live/hevc");
    let mut publisher = spawn(
        common::peers::ffmpeg9(),
        &common::publish_sample(&url, "hevc-aac-enhanced.flv", 3),
    );
    server.published("hevc").await;
    let player = tokio::process::Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-nostdin",
            "-i",
            &url,
            "-t",
            "3",
            "-map",
            "0",
            "-f",
            "null",
            "-",
        ])
        .output();
    let output = tokio::time::timeout(common::LIMIT, player)
        .await
        .expect("ffmpeg 5.1 did not finish")
        .unwrap();
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{log}");
    assert!(log.contains("Audio: aac"), "{log}");
    assert!(
        !log.contains("Video:"),
        "no video stream for a legacy player: {log}"
    );
    let errors: Vec<&str> = log
        .lines()
        .filter(|line| line.to_lowercase().contains("error"))
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    publisher.kill().await.unwrap();
    server.stop().await;
}

/// Every other Enhanced RTMP codec ffmpeg 9 writes, through the server and back: VP9, VVC,
/// FLAC, AC-3 and E-AC-3. The stream figures read each configuration, and what a player saved
/// decodes in ffmpeg 9 without an error, every track with frames.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg9_round_trips_vp9_vvc_flac_ac3_and_eac3() {
    let server = TestServer::start(ServerConfig::default()).await;
    // (name, file, video codec, audio codec, width, audio sample rate)
    let streams = [
        (
            "vp9",
            "vp9-aac-enhanced.flv",
            VideoCodec::Vp9,
            AudioCodec::Aac,
            44_100,
        ),
        (
            "vvc",
            "vvc-aac-enhanced.flv",
            VideoCodec::Vvc,
            AudioCodec::Aac,
            48_000,
        ),
        (
            "flac",
            "h264-flac-enhanced.flv",
            VideoCodec::Avc,
            AudioCodec::Flac,
            48_000,
        ),
        (
            "ac3",
            "h264-ac3-enhanced.flv",
            VideoCodec::Avc,
            AudioCodec::Ac3,
            48_000,
        ),
        (
            "eac3",
            "h264-eac3-enhanced.flv",
            VideoCodec::Avc,
            AudioCodec::Eac3,
            48_000,
        ),
    ];
    let mut publishers = Vec::new();
    for (name, file, ..) in streams {
        let url = server.url(&format!("live/{name}"));
        publishers.push(spawn(
            common::peers::ffmpeg9(),
            &common::publish_sample(&url, file, 1),
        ));
    }
    for (name, _, video, audio, rate) in streams {
        server.published(name).await;
        common::eventually("the audio configuration is read", || {
            server
                .router
                .stats(&common::key(name))
                .is_some_and(|stats| stats.audio_sample_rate.is_some())
        })
        .await;
        let stats = server.router.stats(&common::key(name)).unwrap();
        assert_eq!(
            (stats.video_codec, stats.audio_codec),
            (Some(video), Some(audio)),
            "{name}"
        );
        assert_eq!(
            (stats.audio_sample_rate, stats.audio_channels),
            (Some(rate), Some(1)),
            "{name}"
        );
        assert_eq!(stats.width, Some(320), "{name}");
    }
    let files: Vec<_> = streams
        .iter()
        .map(|(name, ..)| temp(&format!("rt-{name}.flv")))
        .collect();
    let mut players: Vec<_> = streams
        .iter()
        .zip(&files)
        .map(|((name, ..), file)| {
            spawn(
                common::peers::ffmpeg9(),
                &play_args(&server.url(&format!("live/{name}")), file),
            )
        })
        .collect();
    for child in publishers.iter_mut().chain(players.iter_mut()) {
        assert!(wait(child).await.success());
    }
    for file in &files {
        let frames = common::peers::decode(&common::peers::ffmpeg9(), &[], file);
        let _ = std::fs::remove_file(file);
        assert!(
            frames.len() == 2 && frames.iter().all(|&count| count > 10),
            "{}: {frames:?}",
            file.display()
        );
    }
    server.stop().await;
}
