//! The chunk decoder fed arbitrary bytes, with or without a chunk size set beforehand; every
//! decoded message must encode and decode to itself.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use rtmp_chunk::{ChunkDecoder, ChunkEncoder, DecoderConfig};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, input)) = data.split_first() else {
        return;
    };
    let mut decoder = ChunkDecoder::new(DecoderConfig::default());
    if mode & 1 == 1 {
        let _ = decoder.set_chunk_size(u32::from(mode) * 37 + 1);
    }
    let mut src = BytesMut::from(input);
    let mut encoder = ChunkEncoder::new();
    let mut check = ChunkDecoder::new(DecoderConfig {
        max_message_size: 1 << 24,
        ..DecoderConfig::default()
    });
    let mut out = BytesMut::new();
    while let Ok(Some(message)) = decoder.decode(&mut src) {
        if message.chunk_stream_id < 2 || encoder.encode(&message, &mut out).is_err() {
            continue;
        }
        if let Ok(Some(again)) = check.decode(&mut out) {
            assert_eq!(again, message);
        }
    }
});
