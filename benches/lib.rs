//! Shared inputs for the workspace benchmarks.

use bytes::{Bytes, BytesMut};
use rtmp_chunk::{ChunkEncoder, RawMessage, type_id};

/// A deterministic pseudo-random sequence (xorshift), so every run measures the same input.
#[derive(Debug)]
pub struct Sequence(u64);

impl Sequence {
    /// A sequence from a non-zero seed.
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    /// A value in `low..high`.
    pub fn in_range(&mut self, low: usize, high: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        low + (self.0 % (high - low) as u64) as usize
    }
}

/// A realistic mix of `count` messages, by count 90% video of 4-60 KiB, 9% audio of 200-400
/// bytes and 1% protocol control, with timestamps as a 25 fps stream has them.
pub fn media_mix(count: usize) -> Vec<RawMessage> {
    let mut sequence = Sequence::new(0x5EED);
    (0..count)
        .map(|i| {
            let timestamp = (i as u32) * 40 / 10;
            match sequence.in_range(0, 100) {
                0..=89 => {
                    let len = sequence.in_range(4 << 10, 60 << 10);
                    RawMessage::new(
                        6,
                        timestamp,
                        type_id::VIDEO,
                        1,
                        Bytes::from(vec![0x27; len]),
                    )
                }
                90..=98 => {
                    let len = sequence.in_range(200, 400);
                    RawMessage::new(
                        4,
                        timestamp,
                        type_id::AUDIO,
                        1,
                        Bytes::from(vec![0xAF; len]),
                    )
                }
                _ => RawMessage::acknowledgement(i as u32),
            }
        })
        .collect()
}

/// The chunk stream of `messages` at `chunk_size`, starting with the Set Chunk Size that
/// announces it.
pub fn chunk_stream(messages: &[RawMessage], chunk_size: u32) -> Bytes {
    let mut encoder = ChunkEncoder::new();
    let mut out = BytesMut::new();
    let all =
        std::iter::once(RawMessage::set_chunk_size(chunk_size)).chain(messages.iter().cloned());
    for message in all {
        if let Err(error) = encoder.encode(&message, &mut out) {
            panic!("benchmark input does not encode: {error}");
        }
    }
    out.freeze()
}
