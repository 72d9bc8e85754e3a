//! The server side of a complex handshake, from ffmpeg's recorded C0+C1 to the end of C2.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use rtmp_handshake::{ServerHandshake, ServerHandshakeConfig};

const FFMPEG_C0C1: &[u8] =
    include_bytes!("../crates/rtmp-handshake/tests/fixtures/ffmpeg-c0c1.bin");

fn handshake(c: &mut Criterion) {
    c.bench_function("handshake/server_complex", |b| {
        b.iter(|| {
            let mut server = ServerHandshake::new(ServerHandshakeConfig::default());
            let _ = server.read(black_box(FFMPEG_C0C1));
            let s1 = server.take_output().slice(1..1537);
            black_box(server.read(&s1))
        })
    });
}

criterion_group!(benches, handshake);
criterion_main!(benches);
