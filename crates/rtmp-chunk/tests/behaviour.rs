//! Protocol control, acknowledgements, zero-copy, and the limits that hostile input meets.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

use bytes::{Bytes, BytesMut};
use rtmp_chunk::{
    ChunkDecoder, ChunkEncoder, ChunkedMessage, DecodeError, DecoderConfig, EncodeError, RawMessage,
};

fn decoder() -> ChunkDecoder {
    ChunkDecoder::new(DecoderConfig::default())
}

fn encode(encoder: &mut ChunkEncoder, messages: &[RawMessage]) -> BytesMut {
    let mut out = BytesMut::new();
    for message in messages {
        encoder.encode(message, &mut out).unwrap();
    }
    out
}

#[test]
fn set_chunk_size_applies_to_the_next_chunk_in_each_direction() {
    let mut encoder = ChunkEncoder::new();
    let big = RawMessage::new(6, 0, 9, 1, vec![9; 3000]);
    let mut bytes = encode(
        &mut encoder,
        &[RawMessage::set_chunk_size(4096), big.clone()],
    );
    assert_eq!(encoder.chunk_size(), 4096);
    // Set Chunk Size: 12 + 4 bytes; the big message: one chunk of 12 + 3000 bytes.
    assert_eq!(bytes.len(), 16 + 12 + 3000);
    let mut decoder = decoder();
    let first = decoder.decode(&mut bytes).unwrap().unwrap();
    assert_eq!(first, RawMessage::set_chunk_size(4096));
    assert_eq!(decoder.chunk_size(), 4096);
    assert_eq!(decoder.decode(&mut bytes).unwrap().unwrap(), big);
}

#[test]
fn invalid_chunk_sizes_are_errors() {
    for size in [0u32, 0x8000_0000, 0xFFFF_FFFF] {
        let mut bytes = BytesMut::from(&[0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0][..]);
        bytes.extend_from_slice(&size.to_be_bytes());
        assert!(matches!(
            decoder().decode(&mut bytes),
            Err(DecodeError::InvalidChunkSize(s)) if s == size
        ));
        let mut out = BytesMut::new();
        assert!(matches!(
            ChunkEncoder::new().encode(&RawMessage::set_chunk_size(size), &mut out),
            Err(EncodeError::InvalidChunkSize)
        ));
    }
    let mut short = BytesMut::from(&[0x02, 0, 0, 0, 0, 0, 2, 1, 0, 0, 0, 0, 0, 1][..]);
    assert!(matches!(
        decoder().decode(&mut short),
        Err(DecodeError::ShortControlMessage {
            type_id: 1,
            length: 2
        })
    ));
}

#[test]
fn abort_drops_the_partial_message() {
    let mut encoder = ChunkEncoder::new();
    let mut bytes = encode(&mut encoder, &[RawMessage::new(7, 0, 9, 1, vec![1; 300])]);
    bytes.truncate(12 + 128); // only the first chunk
    let abort = encode(&mut encoder, &[RawMessage::abort(7)]);
    bytes.extend_from_slice(&abort);
    // A new message on chunk stream 7 after the abort (fmt 0 is allowed again).
    let next = RawMessage::new(7, 5, 8, 1, vec![2; 10]);
    bytes.extend_from_slice(&encode(
        &mut ChunkEncoder::new(),
        std::slice::from_ref(&next),
    ));
    let mut decoder = decoder();
    assert_eq!(
        decoder.decode(&mut bytes).unwrap().unwrap(),
        RawMessage::abort(7)
    );
    assert_eq!(decoder.decode(&mut bytes).unwrap().unwrap(), next);
}

#[test]
fn acknowledgement_is_due_per_window() {
    let mut encoder = ChunkEncoder::new();
    let mut bytes = encode(&mut encoder, &[RawMessage::window_ack_size(1000)]);
    let media = RawMessage::new(4, 0, 8, 1, vec![0; 100]);
    for _ in 0..20 {
        bytes.extend_from_slice(&encode(&mut encoder, std::slice::from_ref(&media)));
    }
    let total = bytes.len() as u64;
    let mut decoder = decoder();
    let mut acks = Vec::new();
    while decoder.decode(&mut bytes).unwrap().is_some() {
        acks.extend(decoder.take_acknowledgement());
    }
    assert_eq!(decoder.bytes_received(), total);
    // About one acknowledgement per 1000 bytes, each carrying the running byte count.
    assert_eq!(acks.len() as u64, total / 1000);
    assert!(acks.windows(2).all(|pair| pair[1] - pair[0] >= 1000));
    assert_eq!(decoder.take_acknowledgement(), None);
}

#[test]
fn single_chunk_messages_are_not_copied() {
    let mut bytes = encode(
        &mut ChunkEncoder::new(),
        &[RawMessage::new(4, 0, 8, 1, vec![3; 100])],
    );
    let range = bytes.as_ptr() as usize..bytes.as_ptr() as usize + bytes.len();
    let message = decoder().decode(&mut bytes).unwrap().unwrap();
    assert!(range.contains(&(message.payload.as_ptr() as usize)));
}

#[test]
fn chunked_message_bytes_decode_and_compress_later_headers() {
    let first = RawMessage::new(6, 40, 9, 1, Bytes::from(vec![4u8; 1000]));
    let chunked = ChunkedMessage::new(first.clone(), 128).unwrap();
    let mut encoder = ChunkEncoder::new();
    let mut bytes = BytesMut::new();
    encoder.encode_chunked(&chunked, &mut bytes).unwrap();
    // The next message on the same chunk stream is relative to the shared one: fmt 2.
    let second = RawMessage::new(6, 80, 9, 1, vec![5u8; 1000]);
    let before = bytes.len();
    encoder.encode(&second, &mut bytes).unwrap();
    assert_eq!(bytes[before] >> 6, 2);
    let mut decoder = decoder();
    assert_eq!(decoder.decode(&mut bytes).unwrap().unwrap(), first);
    assert_eq!(decoder.decode(&mut bytes).unwrap().unwrap(), second);
    // Shared bytes made for another chunk size are refused.
    let other = ChunkedMessage::new(first, 4096).unwrap();
    assert!(matches!(
        encoder.record_chunked(&other),
        Err(EncodeError::ChunkSizeMismatch {
            chunked: 4096,
            current: 128
        })
    ));
}

#[test]
fn encoder_rejects_bad_fields() {
    let mut out = BytesMut::new();
    let mut encoder = ChunkEncoder::new();
    for id in [0, 1, 65_600] {
        assert!(matches!(
            encoder.encode(&RawMessage::new(id, 0, 8, 1, vec![]), &mut out),
            Err(EncodeError::InvalidChunkStreamId(i)) if i == id
        ));
    }
    let huge = RawMessage::new(3, 0, 9, 1, vec![0; 0x100_0000]);
    assert!(matches!(
        encoder.encode(&huge, &mut out),
        Err(EncodeError::MessageTooLarge(_))
    ));
    assert!(out.is_empty());
}

#[test]
fn first_chunk_must_be_fmt0() {
    for first in [0x43u8, 0x83, 0xC3] {
        let mut bytes = BytesMut::from(&[first, 0, 0, 0, 0, 0, 1, 8, 0, 0, 0, 0][..]);
        assert!(matches!(
            decoder().decode(&mut bytes),
            Err(DecodeError::MissingFirstHeader {
                chunk_stream_id: 3,
                ..
            })
        ));
    }
}

#[test]
fn new_header_inside_a_message_is_an_error() {
    let mut bytes = encode(
        &mut ChunkEncoder::new(),
        &[RawMessage::new(3, 0, 9, 1, vec![0; 200])],
    );
    bytes.truncate(12 + 128);
    bytes.extend_from_slice(&[0x83, 0, 0, 1]);
    assert!(matches!(
        decoder().decode(&mut bytes),
        Err(DecodeError::HeaderInsideMessage {
            chunk_stream_id: 3,
            fmt: 2
        })
    ));
}

#[test]
fn oversized_message_is_refused_from_its_header() {
    // A header claiming 16 MiB - 1: refused before any payload arrives or is allocated.
    let mut bytes = BytesMut::from(&[0x03, 0, 0, 0, 0xFF, 0xFF, 0xFF, 9, 1, 0, 0, 0][..]);
    assert!(matches!(
        decoder().decode(&mut bytes),
        Err(DecodeError::MessageTooLarge {
            length: 0xFF_FFFF,
            ..
        })
    ));
}

#[test]
fn ten_thousand_chunk_streams_are_refused() {
    let mut bytes = BytesMut::new();
    let mut encoder = ChunkEncoder::new();
    for id in 3..10_003 {
        encoder
            .encode(&RawMessage::new(id, 0, 8, 1, vec![1]), &mut bytes)
            .unwrap();
    }
    let mut decoder = decoder();
    let mut decoded = 0;
    let error = loop {
        match decoder.decode(&mut bytes) {
            Ok(Some(_)) => decoded += 1,
            Ok(None) => panic!("all chunk streams accepted"),
            Err(error) => break error,
        }
    };
    assert_eq!(decoded, 64);
    assert!(matches!(
        error,
        DecodeError::TooManyChunkStreams { limit: 64 }
    ));
}

#[test]
fn partial_message_limits() {
    let config = DecoderConfig {
        max_partial_bytes: 1000,
        max_partial_messages: 2,
        ..DecoderConfig::default()
    };
    // Three unfinished 200-byte messages: the third is one too many.
    let mut bytes = BytesMut::new();
    for id in 3..6 {
        let mut one = encode(
            &mut ChunkEncoder::new(),
            &[RawMessage::new(id, 0, 9, 1, vec![0; 200])],
        );
        one.truncate(12 + 128);
        bytes.extend_from_slice(&one);
    }
    assert!(matches!(
        ChunkDecoder::new(config.clone()).decode(&mut bytes),
        Err(DecodeError::TooManyPartialMessages { limit: 2 })
    ));
    // One unfinished 1001-byte message is over the byte limit.
    let mut big = encode(
        &mut ChunkEncoder::new(),
        &[RawMessage::new(3, 0, 9, 1, vec![0; 1001])],
    );
    assert!(matches!(
        ChunkDecoder::new(config.clone()).decode(&mut big),
        Err(DecodeError::TooManyPartialBytes { limit: 1000 })
    ));
    // Finished messages give their bytes back: many 600-byte messages in a row decode.
    let message = RawMessage::new(3, 0, 9, 1, vec![0; 600]);
    let mut encoder = ChunkEncoder::new();
    let mut many = encode(&mut encoder, &vec![message; 10]);
    let mut decoder = ChunkDecoder::new(config);
    for _ in 0..10 {
        assert!(decoder.decode(&mut many).unwrap().is_some());
    }
}

#[test]
fn a_claimed_length_does_not_size_the_read_buffer() {
    // At a huge chunk size, a header claiming 8 MiB with no payload yet reserves only a bounded
    // amount of read buffer.
    let mut decoder = decoder();
    decoder.set_chunk_size(0x7FFF_FFFF).unwrap();
    let mut bytes = BytesMut::from(&[0x03, 0, 0, 0, 0x7F, 0xFF, 0xFF, 9, 1, 0, 0, 0][..]);
    assert!(decoder.decode(&mut bytes).unwrap().is_none());
    assert!(
        bytes.capacity() < 1 << 20,
        "reserved {} bytes",
        bytes.capacity()
    );
}

#[test]
fn aborted_messages_can_be_restarted_without_limit_errors() {
    // Start a large message, abort it, and repeat: the limits see every abort's bytes returned.
    let config = DecoderConfig {
        max_partial_bytes: 10_000,
        ..DecoderConfig::default()
    };
    let mut decoder = ChunkDecoder::new(config);
    let mut encoder = ChunkEncoder::new();
    for round in 0..50u32 {
        let mut start = BytesMut::new();
        ChunkEncoder::new()
            .encode(&RawMessage::new(3, round, 9, 1, vec![0; 9_000]), &mut start)
            .unwrap();
        start.truncate(12 + 128);
        let mut bytes = start;
        bytes.extend_from_slice(&encode(&mut encoder, &[RawMessage::abort(3)]));
        assert!(decoder.decode(&mut bytes).unwrap().is_some());
        assert!(bytes.is_empty());
    }
}
