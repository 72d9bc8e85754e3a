//! The fan-out path: one publisher's message shared with N players through the hub (chunked
//! once, one reference per player's queue), and the players' queues emptied as their writers
//! would, at N = 1, 100 and 1000.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rtmp_chunk::{MemoryBudget, RawMessage};
use rtmp_server::router::Feed;
use rtmp_server::{Hub, HubConfig, PlayerHandle, Router, StreamKey};

/// One second of a 4 Mbit/s stream at 30 fps: a 60 KB keyframe, then 15 KB inter frames.
fn frames() -> Vec<RawMessage> {
    (0..30u32)
        .map(|i| {
            let (first, len) = if i == 0 {
                (0x17, 60_000)
            } else {
                (0x27, 15_000)
            };
            let mut payload = vec![first, 1, 0, 0, 0];
            payload.resize(len, 0x55);
            RawMessage::new(6, i * 33, 9, 1, payload)
        })
        .collect()
}

fn fanout(c: &mut Criterion) {
    let frames = frames();
    let bytes: usize = frames.iter().map(|frame| frame.payload.len()).sum();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap_or_else(|error| panic!("no runtime: {error}"));
    let mut group = c.benchmark_group("fanout");
    group
        .measurement_time(Duration::from_secs(4))
        .sample_size(20);
    for players in [1usize, 100, 1000] {
        let hub = Hub::new(HubConfig::default());
        let key = StreamKey {
            app: "live".into(),
            name: "bench".into(),
        };
        let mut publisher = hub.publish(&key).unwrap_or_else(|error| panic!("{error}"));
        let budget = MemoryBudget::new(usize::MAX);
        let mut feeds = Vec::new();
        let mut playing = Vec::new();
        for _ in 0..players {
            let (handle, feed) = PlayerHandle::pair(64 << 20, budget.clone(), true);
            let play = hub.play(&key, handle);
            playing.push(play.unwrap_or_else(|error| panic!("{error}")));
            feeds.push(feed);
        }
        // Bytes delivered: every frame to every player.
        group.throughput(Throughput::Bytes((bytes * players) as u64));
        group.bench_with_input(BenchmarkId::new("share", players), &players, |b, _| {
            b.iter(|| {
                for frame in &frames {
                    publisher.send(black_box(frame)).unwrap_or_default();
                }
                // Each player's writer takes what was queued for it.
                runtime.block_on(async {
                    for feed in &mut feeds {
                        for _ in 0..frames.len() {
                            if let Some(Feed::Media(media)) = feed.recv().await {
                                black_box(media.chunked().bytes().len());
                            }
                        }
                    }
                });
            })
        });
    }
    group.finish();
}

criterion_group!(benches, fanout);
criterion_main!(benches);
