//! What the hub reads of a stream for its figures: rates over one second, the video's size
//! from metadata, and codecs from configuration records.

use std::time::{Duration, Instant};

use bytes::Bytes;
use rtmp_chunk::type_id;
use rtmp_flv::{AudioTag, Codec, Frame, TrackInfo, VideoTag};

/// Bits per second in and out over windows of one second.
#[derive(Debug, Default)]
pub(super) struct Meter {
    start: Option<Instant>,
    bytes_in: u64,
    bytes_out: u64,
}

impl Meter {
    /// Counts bytes received and queued; returns both rates when a window closes.
    pub(super) fn add(&mut self, bytes_in: u64, bytes_out: u64) -> Option<(u64, u64)> {
        let now = Instant::now();
        let start = *self.start.get_or_insert(now);
        self.bytes_in += bytes_in;
        self.bytes_out += bytes_out;
        let elapsed = now.duration_since(start);
        if elapsed < Duration::from_secs(1) {
            return None;
        }
        let millis = (elapsed.as_millis() as u64).max(1);
        let rates = (
            self.bytes_in * 8000 / millis,
            self.bytes_out * 8000 / millis,
        );
        *self = Self {
            start: Some(now),
            ..Self::default()
        };
        Some(rates)
    }
}

/// The video's width, height and frame rate in an onMetaData payload.
pub(super) fn video_size(payload: &Bytes) -> (Option<u32>, Option<u32>, Option<f64>) {
    let Ok((_, values)) = rtmp_flv::parse_script_data(payload) else {
        return (None, None, None);
    };
    // `@setDataFrame` messages carry the name first, then the object.
    let Some(object) = values.iter().find_map(|value| match value {
        rtmp_amf0::Value::Object(object) | rtmp_amf0::Value::EcmaArray(object) => Some(object),
        _ => None,
    }) else {
        return (None, None, None);
    };
    let number = |name: &str| match object.get(name) {
        Some(rtmp_amf0::Value::Number(number)) if number.is_finite() => Some(*number),
        _ => None,
    };
    let pixels = |name: &str| {
        number(name)
            .filter(|number| (1.0..=65536.0).contains(number))
            .map(|number| number as u32)
    };
    (
        pixels("width"),
        pixels("height"),
        number("framerate").filter(|rate| *rate > 0.0),
    )
}

/// The codec of an audio or video payload, and what its configuration (or, for AC-3, its
/// frame header) tells; parsed only when not known yet or when a new sequence starts (rare,
/// so the full parser is affordable).
pub(super) fn codec_of(type_id: u8, payload: &Bytes) -> Option<(Codec, Option<TrackInfo>)> {
    let frames = match type_id {
        type_id::VIDEO => VideoTag::parse(payload).map(|tag| Frame::from_video(&tag, 0)),
        _ => AudioTag::parse(payload).map(|tag| Frame::from_audio(&tag, 0)),
    };
    frames
        .ok()?
        .first()
        .map(|frame| (frame.codec, TrackInfo::of(frame)))
}
