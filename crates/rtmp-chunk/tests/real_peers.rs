//! Chunk streams recorded from real peers (see fixtures/README.md): ffmpeg 5.1 publishing three
//! seconds of H.264/AAC to nginx-rtmp, and nginx-rtmp serving ffmpeg a play session. Every byte
//! after the handshake must decode, in one piece and one byte at a time.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

use bytes::BytesMut;
use rtmp_amf0::Value;
use rtmp_chunk::{ChunkDecoder, ChunkEncoder, DecoderConfig, RawMessage, type_id};

/// C0+C1+C2 (or S0+S1+S2) at the start of each recording.
const HANDSHAKE: usize = 1 + 2 * 1536;

const FFMPEG_PUBLISH: &[u8] = include_bytes!("fixtures/ffmpeg-publish.c2s.bin");
const NGINX_TO_PUBLISHER: &[u8] = include_bytes!("fixtures/ffmpeg-publish.s2c.bin");
const FFMPEG_PLAY: &[u8] = include_bytes!("fixtures/ffmpeg-play.c2s.bin");
const NGINX_TO_PLAYER: &[u8] = include_bytes!("fixtures/ffmpeg-play.s2c.bin");

/// Decodes a recording in pieces of `step` bytes; returns the messages and the final decoder.
fn decode(recording: &[u8], step: usize) -> (Vec<RawMessage>, ChunkDecoder) {
    let mut decoder = ChunkDecoder::new(DecoderConfig::default());
    let mut src = BytesMut::new();
    let mut messages = Vec::new();
    for piece in recording[HANDSHAKE..].chunks(step) {
        src.extend_from_slice(piece);
        while let Some(message) = decoder.decode(&mut src).unwrap() {
            messages.push(message);
        }
    }
    assert!(src.is_empty(), "{} bytes did not decode", src.len());
    assert_eq!(
        decoder.bytes_received(),
        (recording.len() - HANDSHAKE) as u64
    );
    (messages, decoder)
}

fn command_name(message: &RawMessage) -> String {
    let values = rtmp_amf0::decode_all(&message.payload).unwrap();
    values[0].as_str().unwrap().to_owned()
}

fn count(messages: &[RawMessage], type_id: u8) -> usize {
    messages.iter().filter(|m| m.type_id == type_id).count()
}

#[test]
fn ffmpeg_publish_session_decodes_completely() {
    let (messages, decoder) = decode(FFMPEG_PUBLISH, usize::MAX);
    // ffmpeg raised its chunk size to 4096 right after connect; the decoder followed.
    assert_eq!(decoder.chunk_size(), 4096);
    let commands: Vec<String> = messages
        .iter()
        .filter(|m| m.type_id == type_id::COMMAND_AMF0)
        .map(command_name)
        .collect();
    assert_eq!(
        commands,
        [
            "connect",
            "releaseStream",
            "FCPublish",
            "createStream",
            "publish",
            "FCUnpublish",
            "deleteStream"
        ]
    );
    // Three seconds at 25 fps: an AVC sequence header and 76 frames; an AAC sequence header and
    // 131 frames of 1024 samples at 44.1 kHz.
    assert_eq!(count(&messages, type_id::VIDEO), 77);
    assert_eq!(count(&messages, type_id::AUDIO), 132);
    let video: Vec<&RawMessage> = messages
        .iter()
        .filter(|m| m.type_id == type_id::VIDEO)
        .collect();
    assert_eq!(
        &video[0].payload[..2],
        &[0x17, 0x00],
        "AVC keyframe, sequence header"
    );
    assert!(
        video
            .windows(2)
            .all(|pair| pair[0].timestamp <= pair[1].timestamp)
    );
    assert_eq!(video.last().unwrap().timestamp, 2960);
    let metadata = messages
        .iter()
        .find(|m| m.type_id == type_id::DATA_AMF0)
        .unwrap();
    let values = rtmp_amf0::decode_all(&metadata.payload).unwrap();
    assert_eq!(values[1], Value::from("onMetaData"));
    assert_eq!(values[2].get("width").and_then(Value::as_f64), Some(320.0));
}

#[test]
fn nginx_play_session_decodes_completely() {
    let (messages, _) = decode(NGINX_TO_PLAYER, usize::MAX);
    assert_eq!(messages[0], RawMessage::window_ack_size(5_000_000));
    assert_eq!(count(&messages, type_id::USER_CONTROL), 2);
    assert_eq!(count(&messages, type_id::VIDEO), 42);
    assert_eq!(count(&messages, type_id::AUDIO), 101);
    let first_video = messages
        .iter()
        .find(|m| m.type_id == type_id::VIDEO)
        .unwrap();
    assert_eq!(&first_video.payload[..2], &[0x17, 0x00]);
    let (messages, _) = decode(NGINX_TO_PUBLISHER, usize::MAX);
    assert_eq!(count(&messages, type_id::COMMAND_AMF0), 4);
    let (messages, _) = decode(FFMPEG_PLAY, usize::MAX);
    assert_eq!(command_name(&messages[0]), "connect");
}

#[test]
fn recordings_decode_the_same_one_byte_at_a_time() {
    for recording in [FFMPEG_PUBLISH, NGINX_TO_PLAYER] {
        assert_eq!(decode(recording, 1).0, decode(recording, usize::MAX).0);
        assert_eq!(decode(recording, 1000).0, decode(recording, usize::MAX).0);
    }
}

#[test]
fn real_messages_round_trip_through_our_encoder() {
    let (messages, _) = decode(FFMPEG_PUBLISH, usize::MAX);
    let mut encoder = ChunkEncoder::new();
    let mut bytes = BytesMut::new();
    for message in &messages {
        encoder.encode(message, &mut bytes).unwrap();
    }
    let mut decoder = ChunkDecoder::new(DecoderConfig::default());
    for message in &messages {
        assert_eq!(decoder.decode(&mut bytes).unwrap().as_ref(), Some(message));
    }
    assert!(bytes.is_empty());
}
