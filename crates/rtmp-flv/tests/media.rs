//! The sample files of tests/media (made by ffmpeg 5.1 and 9.0; tests/media/README.md has the
//! commands): read completely, every tag parsed, packet counts equal to what ffmpeg itself
//! demuxes, metadata equal to what ffmpeg reports, and every file written back byte for byte.
//!
//! The legacy files are checked with Debian's ffmpeg, the Enhanced RTMP ones with ffmpeg 9 from
//! the PyPI wheel imageio-ffmpeg, which `.ci/install-peers` unpacks to target/peers/ffmpeg9
//! (or set RTMP_FFMPEG9). A missing ffmpeg fails the test.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

#[path = "common/peers.rs"]
mod peers;

use std::path::{Path, PathBuf};
use std::process::Command;

use bytes::{Bytes, BytesMut};
use rtmp_amf0::Value;
use rtmp_flv::{
    AudioCodec, AudioPacket, AudioTag, FlvHeader, FlvReader, FlvTag, TAG_AUDIO, TAG_SCRIPT,
    TAG_VIDEO, VideoCodec, VideoKind, VideoPacket, VideoTag, peek_audio_sequence_start, peek_video,
};

fn media(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/media")
        .join(name)
}

/// Packets per stream index as ffmpeg demuxes `file`, and its stream description lines.
fn ffmpeg_view(ffmpeg: &Path, file: &Path) -> (Vec<usize>, String) {
    let output = Command::new(ffmpeg)
        .args(["-hide_banner", "-nostdin", "-i"])
        .arg(file)
        .args(["-map", "0", "-c", "copy", "-f", "framecrc", "-"])
        .output()
        .unwrap_or_else(|error| panic!("cannot run {}: {error}", ffmpeg.display()));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut counts = vec![0usize; 2];
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        if line.starts_with('#') {
            continue;
        }
        if let Some(index) = line
            .split(',')
            .next()
            .and_then(|s| s.trim().parse::<usize>().ok())
        {
            counts[index] += 1;
        }
    }
    let streams = String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter(|line| line.contains("Stream #0"))
        .collect::<Vec<_>>()
        .join("\n");
    (counts, streams)
}

struct Parsed {
    video_codec: VideoCodec,
    audio_codec: AudioCodec,
    video_frames: usize,
    audio_frames: usize,
    keyframes: usize,
    metadata: Value,
    rewritten: Bytes,
}

/// Reads `file` in pieces of `step` bytes, parses every tag, and writes the file back.
fn parse(file: &[u8], step: usize) -> Parsed {
    let mut reader = FlvReader::new();
    let mut tags = Vec::new();
    for piece in file.chunks(step) {
        reader.push(piece);
        while let Some(tag) = reader.next_tag().unwrap() {
            tags.push(tag);
        }
    }
    assert!(reader.is_at_end(), "{} bytes left", reader.buffered());
    let header = *reader.header().unwrap();
    let mut rewritten = BytesMut::new();
    FlvHeader::new(header.has_audio, header.has_video).encode(&mut rewritten);
    let mut parsed = Parsed {
        video_codec: VideoCodec::Legacy(0),
        audio_codec: AudioCodec::Legacy(0),
        video_frames: 0,
        audio_frames: 0,
        keyframes: 0,
        metadata: Value::Null,
        rewritten: Bytes::new(),
    };
    for tag in &tags {
        tag.encode(&mut rewritten).unwrap();
        match tag.tag_type {
            TAG_VIDEO => {
                let video = VideoTag::parse(&tag.data).unwrap();
                let track = &video.tracks()[0];
                parsed.video_codec = track.codec;
                if matches!(track.packet, VideoPacket::CodedFrames { .. }) {
                    parsed.video_frames += 1;
                }
                parsed.keyframes += usize::from(video.is_keyframe());
                // The cheap classification agrees with the full parse.
                let expected = if video.is_sequence_start() {
                    VideoKind::SequenceStart
                } else if video.is_keyframe() {
                    VideoKind::Keyframe
                } else if matches!(track.packet, VideoPacket::CodedFrames { .. }) {
                    VideoKind::Inter
                } else {
                    VideoKind::Other
                };
                assert_eq!(peek_video(&tag.data), (expected, video.enhanced));
                assert_eq!(video.to_bytes().unwrap(), tag.data, "video tag {video:?}");
            }
            TAG_AUDIO => {
                let audio = AudioTag::parse(&tag.data).unwrap();
                parsed.audio_codec = audio.tracks[0].codec;
                assert_eq!(
                    peek_audio_sequence_start(&tag.data),
                    audio.is_sequence_start()
                );
                if matches!(audio.tracks[0].packet, AudioPacket::CodedFrames(_)) {
                    parsed.audio_frames += 1;
                }
                assert_eq!(audio.to_bytes().unwrap(), tag.data, "audio tag {audio:?}");
            }
            TAG_SCRIPT => {
                let values = rtmp_amf0::decode_all(&tag.data).unwrap();
                assert_eq!(values[0], Value::from("onMetaData"));
                parsed.metadata = values[1].clone();
            }
            other => panic!("tag type {other}"),
        }
    }
    parsed.rewritten = rewritten.freeze();
    parsed
}

fn check(name: &str, ffmpeg: &Path, video: VideoCodec, audio: AudioCodec, description: &[&str]) {
    let path = media(name);
    let file = std::fs::read(&path).unwrap();
    let parsed = parse(&file, usize::MAX);
    assert_eq!(parsed.rewritten, file, "{name} written back differs");
    // The same tags, whatever pieces the bytes arrive in.
    let in_pieces = parse(&file, 777);
    assert_eq!(in_pieces.video_frames, parsed.video_frames);
    assert_eq!(
        (parsed.video_codec, parsed.audio_codec),
        (video, audio),
        "{name}"
    );

    let (packets, streams) = ffmpeg_view(ffmpeg, &path);
    assert_eq!(
        packets,
        [parsed.video_frames, parsed.audio_frames],
        "{name}: {streams}"
    );
    for fragment in description {
        assert!(
            streams.contains(fragment),
            "{name}: ffmpeg says {streams}, expected {fragment}"
        );
    }
    // Two seconds at 25 fps with a GOP of 25: two keyframes.
    assert_eq!(parsed.keyframes, 2, "{name}");
    assert_eq!(
        parsed.metadata.get("width").and_then(Value::as_f64),
        Some(320.0)
    );
    assert_eq!(
        parsed.metadata.get("height").and_then(Value::as_f64),
        Some(240.0)
    );
}

#[test]
fn h264_aac() {
    check(
        "h264-aac.flv",
        Path::new("ffmpeg"),
        VideoCodec::Avc,
        AudioCodec::Aac,
        &["h264", "320x240", "44100 Hz, mono"],
    );
}

#[test]
fn h264_g711_alaw() {
    check(
        "h264-pcma.flv",
        Path::new("ffmpeg"),
        VideoCodec::Avc,
        AudioCodec::G711ALaw,
        &["pcm_alaw", "8000 Hz, mono"],
    );
}

#[test]
fn h264_g711_mulaw() {
    check(
        "h264-pcmu.flv",
        Path::new("ffmpeg"),
        VideoCodec::Avc,
        AudioCodec::G711MuLaw,
        &["pcm_mulaw", "8000 Hz, mono"],
    );
}

#[test]
fn hevc_aac_enhanced() {
    check(
        "hevc-aac-enhanced.flv",
        &peers::ffmpeg9(),
        VideoCodec::Hevc,
        AudioCodec::Aac,
        &["hevc (Main)", "320x240", "aac (LC), 44100 Hz, mono"],
    );
}

#[test]
fn av1_opus_enhanced() {
    check(
        "av1-opus-enhanced.flv",
        &peers::ffmpeg9(),
        VideoCodec::Av1,
        AudioCodec::Opus,
        &["av1", "320x240", "opus, 48000 Hz, mono"],
    );
}

#[test]
fn vp9_aac_enhanced() {
    check(
        "vp9-aac-enhanced.flv",
        &peers::ffmpeg9(),
        VideoCodec::Vp9,
        AudioCodec::Aac,
        &["vp9 (Profile 0)", "320x240", "aac (LC), 44100 Hz, mono"],
    );
}

#[test]
fn damaged_files_give_typed_errors() {
    let file = std::fs::read(media("h264-aac.flv")).unwrap();
    let mut reader = FlvReader::new();
    let mut damaged = file.clone();
    // Corrupt the PreviousTagSize after the first tag.
    let first_size = u32::from_be_bytes([0, damaged[14], damaged[15], damaged[16]]) as usize;
    damaged[13 + 11 + first_size] ^= 0xFF;
    reader.push(&damaged);
    assert!(reader.next_tag().unwrap().is_some());
    assert!(matches!(
        reader.next_tag(),
        Err(rtmp_flv::Error::PreviousTagSize { .. })
    ));
    let mut reader = FlvReader::new();
    reader.push(b"FLX\x01\x05\0\0\0\x09");
    assert!(reader.next_tag().is_err());
    // A tag claiming more than the limit is refused from its header, before its data.
    let mut big = BytesMut::new();
    FlvTag::new(9, 0, vec![0u8; 2000].into())
        .encode(&mut big)
        .unwrap();
    let mut reader = FlvReader::new().with_max_tag_size(1000);
    reader.push(&file[..13]);
    reader.push(&big[..11]);
    assert!(matches!(
        reader.next_tag(),
        Err(rtmp_flv::Error::TooLarge { value: 2000, .. })
    ));
    // Within the limit, the same header just waits for its data.
    let mut reader = FlvReader::new().with_max_tag_size(2000);
    reader.push(&file[..13]);
    reader.push(&big[..11]);
    assert_eq!(reader.next_tag().unwrap(), None);
}
