//! Arbitrary message sequences into `rtmp_hls::Hls`: audio, video and data messages with
//! arbitrary timestamps and bodies, discontinuities, the end, and a GET of every name after
//! each step. Nothing may panic, and the bytes held stay within the budget (plus the init
//! sections of at most 16 renditions).
//!
//! Input: a list of steps, each an operation byte then its arguments. Operations 0-5: a
//! message of type 8, 9 or 18 with a 16-bit timestamp step (big-endian, signed: timestamps go
//! back too), a 16-bit length and that many payload bytes; 6: `discontinuity()`; 7: `end()`.
//! Every name is asked after every 16th step and at the end.
#![no_main]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use rtmp_chunk::RawMessage;
use rtmp_hls::{Answer, Hls, HlsConfig};

const MAX_BYTES: usize = 1 << 20;
/// What the init sections of 16 renditions may hold on top of the budget.
const INIT_SLACK: usize = 16 * (1 << 16) * 2;

fuzz_target!(|data: &[u8]| {
    let mut config = HlsConfig::default();
    config.max_bytes = MAX_BYTES;
    config.window = 3;
    let mut hls = Hls::new(config);
    let mut timestamp = 0u32;
    let mut input = data;
    let mut steps = 0u32;
    while let Some((&op, rest)) = input.split_first() {
        steps += 1;
        input = rest;
        match op % 8 {
            6 => hls.discontinuity(),
            7 => hls.end(),
            kind => {
                let Some((head, rest)) = input.split_at_checked(4) else {
                    break;
                };
                let step = i16::from_be_bytes([head[0], head[1]]);
                let length = usize::from(u16::from_be_bytes([head[2], head[3]])).min(rest.len());
                let (payload, rest) = rest.split_at(length);
                input = rest;
                timestamp = timestamp.wrapping_add_signed(i32::from(step));
                let type_id = [8, 9, 18][usize::from(kind % 3)];
                let message =
                    RawMessage::new(4, timestamp, type_id, 1, Bytes::copy_from_slice(payload));
                let now = UNIX_EPOCH + Duration::from_millis(u64::from(timestamp));
                hls.push(&message, now.max(SystemTime::UNIX_EPOCH));
            }
        }
        assert!(
            hls.bytes() <= MAX_BYTES + INIT_SLACK,
            "{} bytes held",
            hls.bytes()
        );
        if steps % 16 == 0 {
            ask_everything(&hls);
        }
    }
    ask_everything(&hls);
});

fn ask_everything(hls: &Hls) {
    let mut names = vec![
        "index.m3u8".to_owned(),
        "x".to_owned(),
        "v0/../a0.m3u8".to_owned(),
    ];
    for rendition in ["v0", "v1", "a0", "a1"] {
        names.push(format!("{rendition}.m3u8"));
        for generation in 0..2 {
            names.push(format!("{rendition}/init{generation}.mp4"));
        }
        for msn in 0..8 {
            names.push(format!("{rendition}/{msn}.m4s"));
            for part in 0..8 {
                names.push(format!("{rendition}/{msn}.{part}.m4s"));
            }
        }
    }
    let queries = [
        None,
        Some("_HLS_msn=3&_HLS_part=2"),
        Some("_HLS_msn=1&_HLS_skip=YES"),
        Some("_HLS_part=1"),
    ];
    for name in &names {
        for query in queries {
            if let Answer::Ready(response) = hls.answer(name, query, Some("t=1")) {
                assert!(!response.body.is_empty() || !name.ends_with(".m3u8"));
            }
        }
    }
}
