//! AMF0 decode and encode of real payloads: ffmpeg's connect command and its onMetaData.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rtmp_amf0::{decode_all, encode_all};

const PAYLOADS: [(&str, &[u8]); 2] = [
    (
        "connect",
        include_bytes!("../crates/rtmp-amf0/tests/fixtures/ffmpeg-play-connect.amf0"),
    ),
    (
        "onMetaData",
        include_bytes!("../crates/rtmp-amf0/tests/fixtures/ffmpeg-publish-metadata.amf0"),
    ),
];

fn amf0(c: &mut Criterion) {
    let mut group = c.benchmark_group("amf0");
    for (name, bytes) in PAYLOADS {
        let Ok(values) = decode_all(bytes) else {
            panic!("fixture {name} does not decode");
        };
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_with_input(BenchmarkId::new("decode", name), bytes, |b, bytes| {
            b.iter(|| black_box(decode_all(black_box(bytes))))
        });
        group.bench_with_input(BenchmarkId::new("encode", name), &values, |b, values| {
            let mut out = Vec::with_capacity(bytes.len());
            b.iter(|| {
                out.clear();
                black_box(encode_all(black_box(values), &mut out))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, amf0);
criterion_main!(benches);
