//! Byte-exact chunk vectors, written out by hand from the specification's layouts.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

use bytes::BytesMut;
use rtmp_chunk::{ChunkDecoder, ChunkEncoder, DecoderConfig, RawMessage};

fn encode_all(messages: &[RawMessage]) -> Vec<u8> {
    let mut encoder = ChunkEncoder::new();
    let mut out = BytesMut::new();
    for message in messages {
        encoder.encode(message, &mut out).unwrap();
    }
    out.to_vec()
}

fn decode_all(bytes: &[u8]) -> Vec<RawMessage> {
    let mut decoder = ChunkDecoder::new(DecoderConfig::default());
    let mut src = BytesMut::from(bytes);
    let mut messages = Vec::new();
    while let Some(message) = decoder.decode(&mut src).unwrap() {
        messages.push(message);
    }
    assert!(src.is_empty(), "{} bytes left undecoded", src.len());
    messages
}

/// Encodes `messages`, compares with `bytes`, and decodes `bytes` back to `messages`.
fn check(messages: &[RawMessage], bytes: &[u8]) {
    assert_eq!(encode_all(messages), bytes);
    assert_eq!(decode_all(bytes), messages);
}

#[test]
fn fmt0_then_fmt1_fmt2_fmt3() {
    let messages = [
        RawMessage::new(4, 1000, 8, 1, vec![0xAA; 3]),
        // Other length: fmt 1 with delta 20.
        RawMessage::new(4, 1020, 8, 1, vec![0xBB; 2]),
        // Same shape, new delta 30: fmt 2.
        RawMessage::new(4, 1050, 8, 1, vec![0xCC; 2]),
        // Same shape, same delta: fmt 3.
        RawMessage::new(4, 1080, 8, 1, vec![0xDD; 2]),
    ];
    #[rustfmt::skip]
    let bytes = [
        0x04, 0x00, 0x03, 0xE8, 0x00, 0x00, 0x03, 0x08, 0x01, 0x00, 0x00, 0x00, 0xAA, 0xAA, 0xAA,
        0x44, 0x00, 0x00, 0x14, 0x00, 0x00, 0x02, 0x08, 0xBB, 0xBB,
        0x84, 0x00, 0x00, 0x1E, 0xCC, 0xCC,
        0xC4, 0xDD, 0xDD,
    ];
    check(&messages, &bytes);
}

#[test]
fn fmt3_never_follows_fmt0_for_a_new_message() {
    // Same shape with a delta equal to the first timestamp: fmt 2, not the ambiguous fmt 3.
    let messages = [
        RawMessage::new(3, 10, 9, 1, vec![1]),
        RawMessage::new(3, 20, 9, 1, vec![2]),
    ];
    check(
        &messages,
        &[0x03, 0, 0, 10, 0, 0, 1, 9, 1, 0, 0, 0, 1, 0x83, 0, 0, 10, 2],
    );
}

#[test]
fn fmt3_after_fmt0_adds_the_fmt0_timestamp_field() {
    // As ffmpeg reads (and writes) it: the fmt 0 timestamp field acts as the delta.
    let bytes = [0x03, 0, 0, 10, 0, 0, 1, 9, 1, 0, 0, 0, 1, 0xC3, 2];
    let messages = decode_all(&bytes);
    assert_eq!(messages[1], RawMessage::new(3, 20, 9, 1, vec![2]));
}

#[test]
fn stream_change_and_backwards_timestamp_use_fmt0() {
    let messages = [
        RawMessage::new(5, 100, 8, 1, vec![1]),
        RawMessage::new(5, 100, 8, 2, vec![2]),
        RawMessage::new(5, 50, 8, 2, vec![3]),
    ];
    let bytes = encode_all(&messages);
    assert_eq!(bytes[0] >> 6, 0);
    assert_eq!(bytes[13] >> 6, 0);
    assert_eq!(bytes[26] >> 6, 0);
    assert_eq!(decode_all(&bytes), messages);
}

#[test]
fn basic_header_sizes_at_their_edges() {
    for (id, header) in [
        (63u32, &[0x3F][..]),
        (64, &[0x00, 0x00][..]),
        (319, &[0x00, 0xFF][..]),
        (320, &[0x01, 0x00, 0x01][..]),
        (65_599, &[0x01, 0xFF, 0xFF][..]),
    ] {
        // 200 bytes at chunk size 128: the continuation chunk repeats the basic header as fmt 3.
        let message = RawMessage::new(id, 0, 20, 0, vec![7; 200]);
        let bytes = encode_all(std::slice::from_ref(&message));
        assert_eq!(&bytes[..header.len()], header, "id {id}");
        let continuation = header.len() + 11 + 128;
        assert_eq!(bytes[continuation], header[0] | 0xC0, "id {id}");
        assert_eq!(
            &bytes[continuation + 1..continuation + header.len()],
            &header[1..]
        );
        assert_eq!(bytes.len(), 2 * header.len() + 11 + 200);
        assert_eq!(decode_all(&bytes), [message]);
    }
}

#[test]
fn extended_timestamps_at_their_edges() {
    // 0xFFFFFE fits the 24-bit field; 0xFFFFFF and above use the extended field.
    let message = RawMessage::new(3, 0xFF_FFFE, 9, 1, vec![0]);
    check(
        std::slice::from_ref(&message),
        &[0x03, 0xFF, 0xFF, 0xFE, 0, 0, 1, 9, 1, 0, 0, 0, 0],
    );
    for timestamp in [0xFF_FFFFu32, 0x100_0000] {
        let message = RawMessage::new(3, timestamp, 9, 1, vec![5; 130]);
        let mut bytes = vec![0x03, 0xFF, 0xFF, 0xFF, 0, 0, 130, 9, 1, 0, 0, 0];
        bytes.extend_from_slice(&timestamp.to_be_bytes());
        bytes.extend_from_slice(&[5; 128]);
        // The fmt 3 continuation repeats the extended timestamp.
        bytes.push(0xC3);
        bytes.extend_from_slice(&timestamp.to_be_bytes());
        bytes.extend_from_slice(&[5; 2]);
        check(std::slice::from_ref(&message), &bytes);
    }
}

#[test]
fn extended_timestamp_omitted_on_continuation_is_tolerated() {
    // A peer that does not repeat the extended timestamp on fmt 3 chunks. (The decoder needs
    // the 4 bytes after the basic header to tell, so the tail here is longer than that.)
    let mut bytes = vec![
        0x03, 0xFF, 0xFF, 0xFF, 0, 0, 200, 9, 1, 0, 0, 0, 0x01, 0x00, 0x00, 0x00,
    ];
    bytes.extend_from_slice(&[5; 128]);
    bytes.push(0xC3);
    bytes.extend_from_slice(&[6; 72]);
    let messages = decode_all(&bytes);
    assert_eq!(messages[0].timestamp, 0x100_0000);
    assert_eq!(messages[0].payload.len(), 200);
    assert_eq!(&messages[0].payload[126..130], &[5, 5, 6, 6]);
}

#[test]
fn extended_delta_on_fmt3_new_message() {
    // fmt 2 with an extended delta, then a fmt 3 message repeating that delta and its field.
    let delta = 0x100_0000u32;
    let messages = [
        RawMessage::new(3, 0, 9, 1, vec![1]),
        RawMessage::new(3, delta, 9, 1, vec![2]),
        RawMessage::new(3, 2 * delta, 9, 1, vec![3]),
    ];
    let bytes = encode_all(&messages);
    let mut tail = vec![0x83, 0xFF, 0xFF, 0xFF];
    tail.extend_from_slice(&delta.to_be_bytes());
    tail.push(2);
    tail.push(0xC3);
    tail.extend_from_slice(&delta.to_be_bytes());
    tail.push(3);
    assert_eq!(&bytes[13..], &tail[..]);
    assert_eq!(decode_all(&bytes), messages);
}

#[test]
fn timestamps_wrap_at_2_pow_32() {
    // A fmt 2 delta that carries the timestamp past u32::MAX.
    let mut bytes = vec![0x03, 0xFF, 0xFF, 0xFF, 0, 0, 1, 9, 1, 0, 0, 0];
    bytes.extend_from_slice(&0xFFFF_FFF0u32.to_be_bytes());
    bytes.push(1);
    bytes.extend_from_slice(&[0x83, 0, 0, 0x20, 2]);
    let messages = decode_all(&bytes);
    assert_eq!(messages[0].timestamp, 0xFFFF_FFF0);
    assert_eq!(messages[1].timestamp, 0x10);
    // The encoder writes a wrapped timestamp as a fmt 0 absolute value, which decodes the same.
    let wrapped = [
        RawMessage::new(3, 0xFFFF_FFF0, 9, 1, vec![1]),
        RawMessage::new(3, 0x10, 9, 1, vec![2]),
    ];
    assert_eq!(decode_all(&encode_all(&wrapped)), wrapped);
}

#[test]
fn zero_length_message() {
    check(
        &[RawMessage::new(3, 0, 8, 1, Vec::new())],
        &[0x03, 0, 0, 0, 0, 0, 0, 8, 1, 0, 0, 0],
    );
}
