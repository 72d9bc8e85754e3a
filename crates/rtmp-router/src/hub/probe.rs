//! What the hub reads of a stream for its figures: rates over one second, the video's size
//! from metadata, and codecs from configuration records.

use std::time::{Duration, Instant};

use bytes::Bytes;
use rtmp_chunk::RawMessage;
use rtmp_flv::{Codec, Frame, FrameKind, TrackInfo, VideoKind};

use crate::media::{Media, MediaKind};
use crate::stats::TrackStats;

/// Bits per second in and out over windows of one second.
#[derive(Debug, Default)]
pub(super) struct Meter {
    start: Option<Instant>,
    bytes_in: u64,
    bytes_out: u64,
}

impl Meter {
    /// Counts bytes received and queued at `now`; returns both rates when a window closes.
    pub(super) fn add(
        &mut self,
        bytes_in: u64,
        bytes_out: u64,
        now: Instant,
    ) -> Option<(u64, u64)> {
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
    Frame::of_tag(type_id, payload, 0)
        .first()
        .map(|frame| (frame.codec, TrackInfo::of(frame)))
}

/// Each track's figures, measured over windows of one second.
#[derive(Debug, Default)]
pub(super) struct TrackMeters {
    tracks: Vec<TrackMeter>,
}

#[derive(Debug)]
struct TrackMeter {
    stats: TrackStats,
    start: Option<Instant>,
    bytes: u64,
    frames: u64,
}

impl TrackMeters {
    /// The meter of a track, made if fewer than `limit` are kept.
    fn track(&mut self, video: bool, id: u8, limit: usize) -> Option<&mut TrackMeter> {
        let index = match self
            .tracks
            .iter()
            .position(|meter| (meter.stats.video, meter.stats.id) == (video, id))
        {
            Some(index) => index,
            None if self.tracks.len() < limit => {
                self.tracks.push(TrackMeter {
                    stats: TrackStats::new(video, id),
                    start: None,
                    bytes: 0,
                    frames: 0,
                });
                self.tracks.len() - 1
            }
            None => return None,
        };
        self.tracks.get_mut(index)
    }

    /// Counts a message received at `now`: its bytes to its track, and a frame for coded
    /// media. A message of several tracks (rare) is parsed to count each.
    pub(super) fn count(
        &mut self,
        media: &Media,
        message: &RawMessage,
        now: Instant,
        limit: usize,
    ) {
        let (video, coded) = match media.kind() {
            MediaKind::Video { kind, .. } => {
                (true, matches!(kind, VideoKind::Keyframe | VideoKind::Inter))
            }
            MediaKind::Audio { sequence_start } => (false, !sequence_start),
            MediaKind::Data => return,
        };
        let frames = u64::from(coded);
        let Some(id) = media.single_track() else {
            for frame in Frame::of_tag(message.type_id, &message.payload, message.timestamp) {
                if let Some(meter) = self.track(video, frame.track_id, limit) {
                    meter.add(frame.data.len() as u64, frames, now);
                }
            }
            return;
        };
        if let Some(meter) = self.track(video, id, limit) {
            meter.add(message.payload.len() as u64, frames, now);
        }
    }

    /// Reads the codec and properties of each track a sequence start configures.
    pub(super) fn configure(&mut self, message: &RawMessage, limit: usize) {
        for frame in Frame::of_tag(message.type_id, &message.payload, message.timestamp) {
            if frame.kind != FrameKind::SequenceStart {
                continue;
            }
            let video = matches!(frame.codec, Codec::Video(_));
            let Some(meter) = self.track(video, frame.track_id, limit) else {
                continue;
            };
            let stats = &mut meter.stats;
            stats.codec = Some(frame.codec);
            if let Some(info) = TrackInfo::of(&frame) {
                if info.width.is_some() {
                    (stats.width, stats.height) = (info.width, info.height);
                }
                stats.sample_rate = info.sample_rate.or(stats.sample_rate);
                stats.channels = info.channels.or(stats.channels);
            }
        }
    }

    /// Takes each video track's size from onMetaData where its configuration did not tell:
    /// `videoTrackIdInfoMap` (Enhanced RTMP v2) by track id, and `width`/`height` for track 0.
    pub(super) fn metadata(&mut self, payload: &Bytes, limit: usize) {
        let Ok((_, values)) = rtmp_flv::parse_script_data(payload) else {
            return;
        };
        let Some(object) = values.iter().find_map(object_of) else {
            return;
        };
        let mut sizes = vec![(0, pixels(object, "width"), pixels(object, "height"))];
        if let Some(map) = object.get("videoTrackIdInfoMap").and_then(object_of) {
            for (key, info) in map.iter() {
                let (Ok(id), Some(info)) = (key.parse::<u8>(), object_of(info)) else {
                    continue;
                };
                sizes.push((id, pixels(info, "width"), pixels(info, "height")));
            }
        }
        for (id, width, height) in sizes {
            if let (Some(meter), Some(_)) = (self.track(true, id, limit), width) {
                let stats = &mut meter.stats;
                if stats.width.is_none() {
                    (stats.width, stats.height) = (width, height);
                }
            }
        }
    }

    /// Each track's figures, video tracks first, by id.
    pub(super) fn snapshot(&self) -> Vec<TrackStats> {
        let mut tracks: Vec<TrackStats> = self
            .tracks
            .iter()
            .map(|meter| meter.stats.clone())
            .collect();
        tracks.sort_by_key(|track| (!track.video, track.id));
        tracks
    }
}

impl TrackMeter {
    fn add(&mut self, bytes: u64, frames: u64, now: Instant) {
        let start = *self.start.get_or_insert(now);
        self.bytes += bytes;
        self.frames += frames;
        self.stats.frames += frames;
        let elapsed = now.duration_since(start);
        if elapsed < Duration::from_secs(1) {
            return;
        }
        let millis = (elapsed.as_millis() as u64).max(1);
        self.stats.bitrate = self.bytes * 8000 / millis;
        self.stats.frame_rate = (self.stats.video && self.frames > 0)
            .then(|| (self.frames * 1000) as f64 / millis as f64);
        (self.start, self.bytes, self.frames) = (Some(now), 0, 0);
    }
}

fn object_of(value: &rtmp_amf0::Value) -> Option<&rtmp_amf0::Object> {
    match value {
        rtmp_amf0::Value::Object(object) | rtmp_amf0::Value::EcmaArray(object) => Some(object),
        _ => None,
    }
}

/// A size in pixels, if the object has a plausible one under `name`.
fn pixels(object: &rtmp_amf0::Object, name: &str) -> Option<u32> {
    match object.get(name) {
        Some(rtmp_amf0::Value::Number(number)) if (1.0..=65536.0).contains(number) => {
            Some(*number as u32)
        }
        _ => None,
    }
}
