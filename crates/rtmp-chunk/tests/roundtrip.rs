//! Property tests: sequences of messages with chunk size changes round-trip through encoder and
//! decoder at every split of the input, and chunks of different chunk streams interleaved by an
//! independent reference chunker (written here from the specification) decode to the same
//! messages.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

use bytes::BytesMut;
use proptest::prelude::*;
use rtmp_chunk::{ChunkDecoder, ChunkEncoder, DecoderConfig, RawMessage};

/// Feeds `bytes` to a decoder in pieces of `step` bytes and collects the messages.
fn decode_in_pieces(bytes: &[u8], step: usize) -> Vec<RawMessage> {
    let mut decoder = ChunkDecoder::new(DecoderConfig::default());
    let mut src = BytesMut::new();
    let mut messages = Vec::new();
    for piece in bytes.chunks(step.max(1)) {
        src.extend_from_slice(piece);
        while let Some(message) = decoder.decode(&mut src).unwrap() {
            messages.push(message);
        }
    }
    assert!(src.is_empty());
    messages
}

fn message() -> impl Strategy<Value = RawMessage> {
    (
        prop_oneof![3u32..10, 3u32..400, Just(65_599u32)],
        prop_oneof![0u32..1000, any::<u32>(), 0xFF_FFF0u32..0x100_0010],
        prop_oneof![Just(8u8), Just(9u8), Just(18u8), Just(20u8)],
        0u32..3,
        prop::collection::vec(any::<u8>(), 0..700),
    )
        .prop_map(
            |(chunk_stream_id, timestamp, type_id, stream_id, payload)| {
                RawMessage::new(chunk_stream_id, timestamp, type_id, stream_id, payload)
            },
        )
}

/// Media messages, with a Set Chunk Size here and there.
fn sequence() -> impl Strategy<Value = Vec<RawMessage>> {
    prop::collection::vec(
        prop_oneof![
            8 => message(),
            1 => prop_oneof![1u32..300, Just(4096u32), Just(0x7FFF_FFFF)].prop_map(RawMessage::set_chunk_size),
        ],
        1..40,
    )
}

/// Timestamps that rise like a real stream's on each chunk stream.
fn rising(mut messages: Vec<RawMessage>) -> Vec<RawMessage> {
    let mut clock = 0u32;
    for message in &mut messages {
        clock = clock.wrapping_add(message.timestamp % 50);
        message.timestamp = clock;
    }
    messages
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn chunked_messages_give_their_message_back(
        payload in prop::collection::vec(any::<u8>(), 0..3000),
        chunk_size in 1u32..1500,
        chunk_stream_id in prop_oneof![Just(2u32), 3u32..64, 64u32..400, 400u32..65_600],
        timestamp in prop_oneof![Just(0u32), 0u32..0x00FF_FFFF, 0x00FF_FFFFu32..=u32::MAX],
    ) {
        // Every header size: 1-, 2- and 3-byte basic headers, with and without an extended
        // timestamp; the payload is held only inside the chunks and must come back whole.
        let message = RawMessage::new(chunk_stream_id, timestamp, 9, 1, payload);
        let chunked = rtmp_chunk::ChunkedMessage::new(message.clone(), chunk_size).unwrap();
        prop_assert_eq!(chunked.payload_len(), message.payload.len());
        prop_assert_eq!(chunked.message(), message.clone());
        let mut bytes = BytesMut::from(&chunked.bytes()[..]);
        let mut decoder = ChunkDecoder::new(DecoderConfig::default());
        decoder.set_chunk_size(chunk_size).unwrap();
        prop_assert_eq!(decoder.decode(&mut bytes).unwrap(), Some(message));
    }

    #[test]
    fn sequences_round_trip_at_any_split(messages in sequence(), step in prop_oneof![Just(1usize), 1usize..64, 64usize..5000]) {
        for messages in [messages.clone(), rising(messages)] {
            let mut encoder = ChunkEncoder::new();
            let mut bytes = BytesMut::new();
            for message in &messages {
                encoder.encode(message, &mut bytes).unwrap();
            }
            prop_assert_eq!(decode_in_pieces(&bytes, step), messages);
        }
    }

    #[test]
    fn interleaved_chunk_streams_decode(
        payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..1000), 1..8),
        order in prop::collection::vec(any::<prop::sample::Index>(), 0..200),
        chunk_size in 1u32..300,
    ) {
        // One message per chunk stream, all in flight at once.
        let messages: Vec<RawMessage> = payloads
            .into_iter()
            .enumerate()
            .map(|(i, payload)| RawMessage::new(3 + i as u32 * 61, i as u32 * 7, 9, 1, payload))
            .collect();
        let mut queues: Vec<std::collections::VecDeque<Vec<u8>>> = messages
            .iter()
            .map(|message| reference_chunks(message, chunk_size as usize).into())
            .collect();
        let mut bytes = RawMessage::set_chunk_size(chunk_size).payload.to_vec();
        bytes.splice(0..0, [0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0]);
        // Take chunks from the queues in the arbitrary order, then drain what is left.
        let mut finished = Vec::new();
        let streams = queues.len();
        let picks = order
            .iter()
            .map(|index| index.index(streams))
            .chain((0..streams).cycle().take(streams * 20_000));
        for pick in picks {
            if let Some(chunk) = queues[pick].pop_front() {
                bytes.extend_from_slice(&chunk);
                if queues[pick].is_empty() {
                    finished.push(messages[pick].clone());
                }
            }
            if queues.iter().all(|queue| queue.is_empty()) {
                break;
            }
        }
        let decoded = decode_in_pieces(&bytes, 97);
        prop_assert_eq!(&decoded[0], &RawMessage::set_chunk_size(chunk_size));
        prop_assert_eq!(&decoded[1..], &finished[..]);
    }
}

/// The chunks of `message` as the specification lays them out: a fmt 0 chunk, then fmt 3
/// chunks, each with a basic header for the chunk stream id. (Timestamps stay below 0xFFFFFF.)
fn reference_chunks(message: &RawMessage, chunk_size: usize) -> Vec<Vec<u8>> {
    let basic = |fmt: u8| -> Vec<u8> {
        let id = message.chunk_stream_id;
        match id {
            2..=63 => vec![fmt << 6 | id as u8],
            64..=319 => vec![fmt << 6, (id - 64) as u8],
            _ => vec![
                fmt << 6 | 1,
                ((id - 64) % 256) as u8,
                ((id - 64) / 256) as u8,
            ],
        }
    };
    let length = message.payload.len() as u32;
    let mut first = basic(0);
    first.extend_from_slice(&message.timestamp.to_be_bytes()[1..]);
    first.extend_from_slice(&length.to_be_bytes()[1..]);
    first.push(message.type_id);
    first.extend_from_slice(&message.stream_id.to_le_bytes());
    let mut pieces = message.payload.chunks(chunk_size);
    first.extend_from_slice(pieces.next().unwrap_or_default());
    let mut chunks = vec![first];
    for piece in pieces {
        let mut chunk = basic(3);
        chunk.extend_from_slice(piece);
        chunks.push(chunk);
    }
    chunks
}
