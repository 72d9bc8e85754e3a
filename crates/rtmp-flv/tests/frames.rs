//! One source, either form: the sample files are parsed into frames, muxed into the other tag
//! form (legacy H.264 into Enhanced RTMP `avc1`; Enhanced `hvc1` into legacy CodecID 12), written
//! as new FLV files, and decoded by ffmpeg 9 with every frame and no error. ffmpeg 9 comes from
//! `.ci/install-peers` (target/peers/ffmpeg9, or set RTMP_FFMPEG9); a missing one fails.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

#[path = "common/peers.rs"]
mod peers;

use std::path::Path;

use bytes::BytesMut;
use rtmp_flv::{
    AudioTag, Codec, FlvHeader, FlvReader, FlvTag, Frame, LegacyAudioFormat, TAG_AUDIO, TAG_SCRIPT,
    TAG_VIDEO, VideoCodec, VideoTag, parse_script_data, script_data,
};

/// Parses a sample into (tag type, frames) in file order, and its metadata tag data.
fn frames(name: &str) -> (Vec<(u8, Frame)>, FlvTag) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/media")
        .join(name);
    let (frames, metadata) = parse(&std::fs::read(path).unwrap());
    (frames, metadata.unwrap())
}

/// The frames of an FLV file (tag type, frame) in file order, and its script data tag.
fn parse(file: &[u8]) -> (Vec<(u8, Frame)>, Option<FlvTag>) {
    let mut reader = FlvReader::new();
    reader.push(file);
    let mut frames = Vec::new();
    let mut metadata = None;
    while let Some(tag) = reader.next_tag().unwrap() {
        match tag.tag_type {
            TAG_VIDEO => frames.extend(
                Frame::from_video(&VideoTag::parse(&tag.data).unwrap(), tag.timestamp)
                    .into_iter()
                    .map(|f| (TAG_VIDEO, f)),
            ),
            TAG_AUDIO => frames.extend(
                Frame::from_audio(&AudioTag::parse(&tag.data).unwrap(), tag.timestamp)
                    .into_iter()
                    .map(|f| (TAG_AUDIO, f)),
            ),
            TAG_SCRIPT => metadata = Some(tag),
            _ => {}
        }
    }
    (frames, metadata)
}

/// Writes frames as an FLV file, video in the chosen form, audio legacy where it can be.
fn write(frames: &[(u8, Frame)], metadata: &FlvTag, enhanced_video: bool) -> Vec<u8> {
    let mut out = BytesMut::new();
    FlvHeader::new(true, true).encode(&mut out);
    // Metadata is rewritten through the script data helpers.
    let (name, values) = parse_script_data(&metadata.data).unwrap();
    FlvTag::new(TAG_SCRIPT, 0, script_data(&name, &values).unwrap())
        .encode(&mut out)
        .unwrap();
    for (tag_type, frame) in frames {
        let data = if *tag_type == TAG_VIDEO {
            frame
                .to_video_tag(enhanced_video)
                .unwrap()
                .to_bytes()
                .unwrap()
        } else {
            frame
                .to_audio_tag(Some(LegacyAudioFormat::AAC))
                .unwrap()
                .to_bytes()
                .unwrap()
        };
        FlvTag::new(*tag_type, frame.dts, data)
            .encode(&mut out)
            .unwrap();
    }
    out.to_vec()
}
/// Decodes an FLV file with ffmpeg 9; returns decoded frames per stream.
fn decode(file: &[u8], label: &str) -> Vec<usize> {
    let path = std::env::temp_dir().join(format!(
        "rtmp-flv-frames-{}-{label}.flv",
        std::process::id()
    ));
    std::fs::write(&path, file).unwrap();
    let counts = peers::decode(&peers::ffmpeg9(), &[], &path);
    let _ = std::fs::remove_file(&path);
    counts
}

fn reparse(file: &[u8]) -> Vec<(u8, Frame)> {
    parse(file).0
}

fn coded(frames: &[(u8, Frame)], tag_type: u8) -> usize {
    frames
        .iter()
        .filter(|(t, f)| {
            *t == tag_type
                && matches!(
                    f.kind,
                    rtmp_flv::FrameKind::Key | rtmp_flv::FrameKind::Inter
                )
        })
        .count()
}

#[test]
fn legacy_h264_served_as_enhanced_rtmp() {
    let (frames, metadata) = frames("h264-aac.flv");
    assert!(
        frames
            .iter()
            .any(|(_, f)| f.codec == Codec::Video(VideoCodec::Avc))
    );
    let enhanced = write(&frames, &metadata, true);
    // The video tags really are in the enhanced form.
    let first_video = reparse(&enhanced);
    assert_eq!(first_video, frames);
    let mut reader = FlvReader::new();
    reader.push(&enhanced);
    let tags: Vec<FlvTag> = std::iter::from_fn(|| reader.next_tag().unwrap()).collect();
    assert!(
        tags.iter()
            .filter(|t| t.tag_type == TAG_VIDEO)
            .all(|t| t.data[0] & 0x80 != 0)
    );
    assert_eq!(
        decode(&enhanced, "avc1"),
        [coded(&frames, TAG_VIDEO), coded(&frames, TAG_AUDIO)]
    );
}

#[test]
fn enhanced_hevc_served_as_legacy_codec_12() {
    let (frames, metadata) = frames("hevc-aac-enhanced.flv");
    let legacy = write(&frames, &metadata, false);
    let mut reader = FlvReader::new();
    reader.push(&legacy);
    let tags: Vec<FlvTag> = std::iter::from_fn(|| reader.next_tag().unwrap()).collect();
    assert!(
        tags.iter()
            .filter(|t| t.tag_type == TAG_VIDEO)
            .all(|t| t.data[0] & 0x0F == 12)
    );
    assert_eq!(reparse(&legacy), frames);
    assert_eq!(
        decode(&legacy, "hevc12"),
        [coded(&frames, TAG_VIDEO), coded(&frames, TAG_AUDIO)]
    );
}

#[test]
fn av1_and_opus_frames_round_trip() {
    let (frames, metadata) = frames("av1-opus-enhanced.flv");
    let file = write(&frames, &metadata, true);
    assert_eq!(reparse(&file), frames);
    assert_eq!(
        decode(&file, "av1"),
        [coded(&frames, TAG_VIDEO), coded(&frames, TAG_AUDIO)]
    );
}
