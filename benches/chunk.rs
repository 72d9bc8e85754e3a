//! Chunk stream decode and encode throughput at chunk sizes 128, 4096 and 65536, beside a plain
//! memcpy of the same bytes as the physical reference.

use std::hint::black_box;
use std::time::Duration;

use bytes::BytesMut;
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rtmp_benches::{chunk_stream, media_mix};
use rtmp_chunk::{ChunkDecoder, ChunkEncoder, DecoderConfig, RawMessage};

const CHUNK_SIZES: [u32; 3] = [128, 4096, 65_536];

fn chunk(c: &mut Criterion) {
    let messages = media_mix(300);
    let mut group = c.benchmark_group("chunk");
    group
        .measurement_time(Duration::from_secs(4))
        .sample_size(30);

    let reference = chunk_stream(&messages, 4096);
    group.throughput(Throughput::Bytes(reference.len() as u64));
    group.bench_function("memcpy", |b| {
        let mut dst = vec![0u8; reference.len()];
        b.iter(|| {
            dst.copy_from_slice(black_box(&reference));
            black_box(&dst);
        })
    });

    for chunk_size in CHUNK_SIZES {
        let stream = chunk_stream(&messages, chunk_size);
        group.throughput(Throughput::Bytes(stream.len() as u64));
        group.bench_with_input(
            BenchmarkId::new("decode", chunk_size),
            &stream,
            |b, stream| {
                b.iter_batched(
                    || BytesMut::from(&stream[..]),
                    |mut src| {
                        let mut decoder = ChunkDecoder::new(DecoderConfig::default());
                        while let Ok(Some(message)) = decoder.decode(&mut src) {
                            black_box(message);
                        }
                    },
                    BatchSize::LargeInput,
                )
            },
        );
        group.bench_with_input(
            BenchmarkId::new("encode", chunk_size),
            &messages,
            |b, messages| {
                b.iter_batched(
                    || BytesMut::with_capacity(stream.len()),
                    |mut dst| {
                        let mut encoder = ChunkEncoder::new();
                        let set = RawMessage::set_chunk_size(chunk_size);
                        let all = std::iter::once(&set).chain(messages.iter());
                        for message in all {
                            if encoder.encode(message, &mut dst).is_err() {
                                break;
                            }
                        }
                        black_box(dst)
                    },
                    BatchSize::LargeInput,
                )
            },
        );
    }
    group.finish();
}

criterion_group!(benches, chunk);
criterion_main!(benches);
