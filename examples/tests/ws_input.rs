//! Arbitrary bytes as the viewer's side of a WebSocket-FLV connection, read by a server-side
//! WebSocket of the viewer listener's configuration and judged by its rule (`ws_harness`):
//! the numbers and the rule are the listener's own (`examples/server/ws_viewer.rs`, included
//! here), the WebSocket layer is tungstenite's, whose frame and message code is the same in
//! the 0.28 this test has and the 0.29 behind axum.
//!
//! A property test (random inputs from a seed: `WS_INPUT_SEED`, `WS_INPUT_CASES`): frames of
//! every opcode, length form and flag, masked or not, truncated or announcing up to 2^64
//! bytes, floods of pings, pongs and empty fragments, and plain garbage, delivered in reads of
//! any size, while the server writes FLV tags of up to 600 KiB to a viewer that takes them
//! slowly. Whatever comes, nothing panics, no data message gets through, pings are answered at
//! the rule's rate at most, the server's own messages always fit its write buffer, and the
//! heap the connection holds stays within a bound that does not grow with what was read. A
//! counting global allocator (per thread, so that other tests do not disturb it) measures it.
//! The fuzz target `ws_viewer_input` (fuzz/) runs the same harness on the fuzzer's inputs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

mod ws_harness;
#[path = "../server/ws_viewer.rs"]
mod ws_viewer;

use std::time::{Duration, Instant};

use tokio_tungstenite::tungstenite as ws_layer;
use ws_harness::{
    HELD_BOUND, HELD_BOUND_READING, Random, check, fuzz_one, hostile_input, listener_config, plain,
    serve, tolerated_input,
};
use ws_layer::protocol::WebSocketConfig;
use ws_viewer::{Rule, Sent, Verdict};

#[test]
fn what_a_viewer_sends_holds_a_bounded_heap() {
    let seed = std::env::var("WS_INPUT_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or(0x5EED_2026_1208_u64);
    let cases: u32 = std::env::var("WS_INPUT_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(300);
    let mut random = Random(seed);
    let (mut most, mut most_reading, mut read, mut longest) = (0usize, 0usize, 0usize, 0usize);
    let mut endings = std::collections::BTreeMap::<String, u32>::new();
    for case in 0..cases {
        // Mostly small inputs, some of several MiB.
        let budget = if random.one_in(10) {
            random.size(6 << 20) + 1
        } else {
            random.size(64 << 10) + 1
        };
        // A third of the viewers keep to the rule for most of their input (at its pace), then
        // break it; the others send anything, as fast as it goes.
        let (input, pace) = if random.one_in(3) {
            let mut input = tolerated_input(&mut random, budget);
            input.extend(hostile_input(&mut random, 1024));
            let interval = Duration::from_secs(1) / ws_viewer::CONTROL_RATE;
            (input, interval)
        } else {
            (hostile_input(&mut random, budget), Duration::ZERO)
        };
        let writing = !random.one_in(4);
        let run = serve(&input, listener_config(), writing, pace, &mut random);
        read += run.consumed;
        longest = longest.max(run.consumed);
        check(&run, writing, &format!("case {case} (seed {seed})"));
        if writing {
            most = most.max(run.peak);
        } else {
            most_reading = most_reading.max(run.peak);
        }
        let kind = run.ending.split(':').next().unwrap_or_default().to_owned();
        *endings.entry(kind).or_default() += 1;
    }
    eprintln!(
        "{cases} connections (seed {seed}), {:.1} MiB read (at most {:.1} MiB by one): at most {} \
         KiB held while the server wrote (bound {} KiB), {} KiB while it only read (bound {} \
         KiB); endings {endings:?}",
        read as f64 / f64::from(1 << 20),
        longest as f64 / f64::from(1 << 20),
        most >> 10,
        HELD_BOUND >> 10,
        most_reading >> 10,
        HELD_BOUND_READING >> 10,
    );
}

/// The measurement sees what a WebSocket holds: the same fragmented message under
/// tungstenite's defaults (64 MiB messages, 16 MiB frames) holds all of it, under the
/// listener's limits nothing.
#[test]
fn a_fragmented_message_is_refused_at_its_first_frame() {
    let mut input = plain(0x2, false, &[7; 100]);
    let fragment = plain(0x0, false, &[7; 100]);
    while input.len() < 4 << 20 {
        input.extend_from_slice(&fragment);
    }
    let mut random = Random(1);
    let defaults = serve(
        &input,
        WebSocketConfig::default(),
        false,
        Duration::ZERO,
        &mut random,
    );
    let limited = serve(
        &input,
        listener_config(),
        false,
        Duration::ZERO,
        &mut random,
    );
    eprintln!(
        "a 4 MiB fragmented message: {} KiB held under the defaults ({}), {} KiB under the \
         listener's limits ({})",
        defaults.peak >> 10,
        defaults.ending,
        limited.peak >> 10,
        limited.ending
    );
    assert!(defaults.peak > 3 << 20, "{defaults:?}");
    assert!(limited.peak <= HELD_BOUND_READING, "{limited:?}");
    assert_eq!(limited.ending, format!("refused: {}", ws_viewer::NO_DATA));
}

/// Plain random bytes, as the fuzz target takes them (a seed, then the input).
#[test]
fn random_bytes_as_the_fuzz_target_takes_them() {
    let mut random = Random(7);
    for _ in 0..2000 {
        let len = random.size(4096);
        let mut data = Vec::new();
        random.bytes(len, &mut data);
        fuzz_one(&data);
    }
}

#[test]
fn the_rule() {
    let start = Instant::now();
    let interval = Duration::from_secs(1) / ws_viewer::CONTROL_RATE;
    // A burst, all at once: the next is refused.
    let mut rule = Rule::new(start);
    for _ in 0..ws_viewer::CONTROL_BURST {
        assert_eq!(rule.judge(Sent::Ping, start), Verdict::Watching);
    }
    assert_eq!(
        rule.judge(Sent::Pong, start),
        Verdict::Refused(ws_viewer::TOO_MANY_PINGS)
    );
    // The sustained rate, for a minute: never refused.
    let mut rule = Rule::new(start);
    for tick in 0..600 {
        assert_eq!(
            rule.judge(Sent::Ping, start + interval * tick),
            Verdict::Watching
        );
    }
    // A little more than the rate: refused once the burst is spent.
    let mut rule = Rule::new(start);
    let faster = interval * 9 / 10;
    let refused = (0..1000)
        .position(|tick| rule.judge(Sent::Pong, start + faster * tick) != Verdict::Watching)
        .unwrap();
    assert!((150..=250).contains(&refused), "refused after {refused}");
    // Data, at once; a close ends.
    let mut rule = Rule::new(start);
    assert_eq!(
        rule.judge(Sent::Data, start),
        Verdict::Refused(ws_viewer::NO_DATA)
    );
    assert_eq!(rule.judge(Sent::Close, start), Verdict::Closed);
}
