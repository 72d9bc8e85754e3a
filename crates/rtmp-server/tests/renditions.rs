//! A multitrack stream of two video renditions, published by ffmpeg 9 as OBS's Enhanced
//! Broadcasting does (640x360 as track 0, 320x180 as track 1 in Enhanced RTMP multitrack
//! form, AAC): every player gets a rendition it can play. ffmpeg 5.1, which knows nothing of
//! multitrack, decodes one 640x360 stream; ffmpeg 9 asks for track 1; our client announcing
//! multitrack gets both; a late joiner of each rendition starts at its own keyframe.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{TestServer, spawn, wait};
use rtmp_flv::{Frame, FrameKind, TrackInfo, VideoTag};
use rtmp_server::ServerConfig;
use rtmp_server::rtmp_client::{self as client, ClientConfig, PlayEvent};
use rtmp_server::session::{Capabilities, caps_ex};

/// What an ffmpeg player decoded of `url` in 3 s: its log (stream list, errors) and the frames
/// it decoded, from its last progress line.
async fn decode(ffmpeg: impl AsRef<std::ffi::OsStr>, url: &str) -> (String, u64) {
    let player = tokio::process::Command::new(ffmpeg)
        .args([
            "-hide_banner",
            "-nostdin",
            "-i",
            url,
            "-t",
            "3",
            "-map",
            "0",
        ])
        .args(["-f", "null", "-"])
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(common::LIMIT, player)
        .await
        .expect("the player did not finish")
        .unwrap();
    let log = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{log}");
    let frames = log
        .rsplit("frame=")
        .next()
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|count| count.parse().ok())
        .unwrap_or(0);
    (log, frames)
}

/// The input's video streams, as ffmpeg listed them.
fn video_streams(log: &str) -> Vec<&str> {
    let input = log.split("Output #0").next().unwrap_or_default();
    input
        .lines()
        .filter(|line| line.contains("Stream #") && line.contains("Video:"))
        .collect()
}

fn errors(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|line| line.to_lowercase().contains("error"))
        .collect()
}

/// What our client saw of `url` over 2 s: the video track ids of its frames, the size of each
/// track's configuration, and the kind of the first coded frame of each track.
async fn receive(
    url: &str,
    multitrack: bool,
) -> (BTreeSet<u8>, Vec<(u8, u32, u32)>, Vec<FrameKind>) {
    // Our client announces every codec and multitrack by default: here H.264 and AAC, with
    // or without multitrack.
    let mut config = ClientConfig::default();
    let caps_ex = if multitrack { caps_ex::MULTITRACK } else { 0 };
    config.session.capabilities = Some(Capabilities::client(&["avc1", "mp4a"], caps_ex));
    let mut player = client::play(url, config).await.unwrap();
    let (mut tracks, mut sizes, mut firsts) = (BTreeSet::new(), Vec::new(), Vec::new());
    let mut coded = BTreeSet::new();
    let until = tokio::time::Instant::now() + Duration::from_secs(2);
    while let Ok(Ok(Some(event))) = tokio::time::timeout_at(until, player.next_event()).await {
        let PlayEvent::Media(message) = event else {
            continue;
        };
        if message.type_id != 9 {
            continue;
        }
        let tag = VideoTag::parse(&message.payload).unwrap();
        for frame in Frame::from_video(&tag, message.timestamp) {
            tracks.insert(frame.track_id);
            match frame.kind {
                FrameKind::SequenceStart => {
                    let info = TrackInfo::of(&frame).unwrap();
                    sizes.push((frame.track_id, info.width.unwrap(), info.height.unwrap()));
                }
                kind if coded.insert(frame.track_id) => firsts.push(kind),
                _ => {}
            }
        }
    }
    (tracks, sizes, firsts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_player_gets_a_rendition_it_can_play() {
    let server = TestServer::start(ServerConfig::default()).await;
    let url = server.url("live/renditions");
    let mut publisher = spawn(common::peers::ffmpeg9(), &common::renditions_args(&url, 9));
    server.published("renditions").await;
    // Every player joins late, a GOP into the stream.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let second = format!("{url}?track=1");
    let (legacy, chosen, first_ours, second_ours, all_ours) = tokio::join!(
        decode("ffmpeg", &url),
        decode(common::peers::ffmpeg9(), &second),
        receive(&url, false),
        receive(&second, false),
        receive(&url, true),
    );

    // ffmpeg 5.1: one 640x360 H.264 stream and the audio, decoded without an error.
    let (log, frames) = legacy;
    let videos = video_streams(&log);
    assert_eq!(videos.len(), 1, "{log}");
    assert!(
        videos[0].contains("h264") && videos[0].contains("640x360"),
        "{log}"
    );
    assert!(log.contains("Audio: aac"), "{log}");
    assert!(errors(&log).is_empty(), "{log}");
    assert!(frames >= 50, "{frames} frames decoded: {log}");
    eprintln!("ffmpeg 5.1 decoded {frames} frames of {}", videos[0].trim());

    // ffmpeg 9 asking for track 1: the 320x180 one only.
    let (log, frames) = chosen;
    let videos = video_streams(&log);
    assert_eq!(videos.len(), 1, "{log}");
    assert!(videos[0].contains("320x180"), "{log}");
    assert!(errors(&log).is_empty(), "{log}");
    assert!(frames >= 50, "{frames} frames decoded: {log}");
    eprintln!("ffmpeg 9 decoded {frames} frames of {}", videos[0].trim());

    // Our client, late: each rendition as track 0 of its own size, from a keyframe.
    for ((tracks, sizes, firsts), size) in [(first_ours, (640, 360)), (second_ours, (320, 180))] {
        assert_eq!(tracks, BTreeSet::from([0]));
        assert_eq!(sizes, [(0, size.0, size.1)]);
        assert_eq!(firsts, [FrameKind::Key]);
    }
    // Announcing multitrack: both tracks, as published, each from its keyframe.
    let (tracks, mut sizes, firsts) = all_ours;
    sizes.sort();
    assert_eq!(tracks, BTreeSet::from([0, 1]));
    assert_eq!(sizes, [(0, 640, 360), (1, 320, 180)]);
    assert_eq!(firsts, [FrameKind::Key, FrameKind::Key]);

    // The figures of each rendition.
    let stats = server.router.stats(&common::key("renditions")).unwrap();
    let video: Vec<_> = stats.tracks.iter().filter(|track| track.video).collect();
    assert_eq!(video.len(), 2, "{:?}", stats.tracks);
    for (track, width) in video.iter().zip([640, 320]) {
        assert_eq!(track.width, Some(width));
        assert!(track.bitrate > 0 && track.frames > 25, "{track:?}");
    }
    assert!(wait(&mut publisher).await.success());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_track_id_that_cannot_be_is_refused_with_a_reason() {
    let server = TestServer::start(ServerConfig::default()).await;
    let url = format!("{}?track=300", server.url("live/renditions"));
    let mut player = client::play(&url, ClientConfig::default()).await;
    let refused = match &mut player {
        Err(error) => error.to_string(),
        Ok(player) => format!("{:?}", player.next_event().await),
    };
    assert!(refused.contains("track=300"), "{refused}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_player_may_ask_for_every_track_with_track_all() {
    let server = TestServer::start(ServerConfig::default()).await;
    let url = server.url("live/tracks");
    // ffmpeg 9 publishing H.264 and two AAC tracks (the second in multitrack form).
    let mut args = common::publish_args(&url, 10, "300k");
    let duration = args.iter().position(|arg| arg == "-t").unwrap();
    let extra = common::strings(&["-f", "lavfi", "-i", "sine=frequency=880:sample_rate=48000"]);
    args.splice(duration..duration, extra);
    let pix_fmt = args.iter().position(|arg| arg == "-pix_fmt").unwrap();
    let maps = common::strings(&["-map", "0:v", "-map", "1:a", "-map", "2:a"]);
    args.splice(pix_fmt..pix_fmt, maps);
    let mut publisher = spawn(common::peers::ffmpeg9(), &args);
    server.published("tracks").await;
    // ffmpeg 9 announces nothing in connect: without the query it gets one rendition.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let every = format!("{url}?track=all");
    let (all, one) = tokio::join!(
        decode(common::peers::ffmpeg9(), &every),
        decode(common::peers::ffmpeg9(), &url),
    );
    let count = |log: &str, kind: &str| {
        let input = log.split("Output #0").next().unwrap_or_default();
        input
            .lines()
            .filter(|line| line.contains("Stream #") && line.contains(kind))
            .count()
    };
    let (log, frames) = all;
    eprintln!(
        "track=all, 3 s late: {} video and {} audio streams, {frames} frames",
        count(&log, "Video:"),
        count(&log, "Audio:")
    );
    assert_eq!(count(&log, "Video:"), 1, "{log}");
    assert_eq!(count(&log, "Audio:"), 2, "{log}");
    assert!(errors(&log).is_empty(), "{log}");
    assert!(frames >= 50, "{frames} frames decoded: {log}");
    let (log, _) = one;
    assert_eq!(count(&log, "Audio:"), 1, "{log}");
    assert!(wait(&mut publisher).await.success());
    server.stop().await;
}
