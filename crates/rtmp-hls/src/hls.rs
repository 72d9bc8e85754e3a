//! [`Hls`]: one stream's LL-HLS, fed with RTMP messages and asked for playlists and media.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use rtmp_chunk::RawMessage;
use rtmp_flv::av1::{self, obu_type};
use rtmp_flv::{AudioTag, Codec, Frame, FrameKind, VideoCodec, VideoTag};

use crate::answer::{self, AUDIO_TYPE, Answer, PLAYLIST_TYPE, Resource, Response, VIDEO_TYPE};
use crate::config::HlsConfig;
use crate::playlist::{self, Context};
use crate::rendition::{Kind, Rendition, Sample};
use crate::timeline::{Placed, Timeline};
use crate::track::{Setup, SkipReason, Skipped, supported};

/// Renditions one stream may have; further tracks are skipped.
const MAX_RENDITIONS: usize = 16;
/// Tracks remembered as skipped.
const MAX_SKIPPED: usize = 64;
/// A timestamp this far behind the previous one (ms) is a restart, not jitter.
const JUMP_BACK: i64 = 1_000;
/// A timestamp this far ahead of the previous one (ms) is a restart, not a pause.
const JUMP_AHEAD: i64 = 10_000;
/// Decode time left between the media before and after a restart (ms).
const REBASE_GAP: i64 = crate::timeline::LAST_SAMPLE_MAX;

/// Maps wrapping 32-bit RTMP timestamps to a monotonic 64-bit stream time in milliseconds.
#[derive(Debug, Default)]
struct Clock {
    last: Option<(u32, i64)>,
    end: i64,
    rebase: bool,
}

impl Clock {
    /// The stream time of `timestamp`, and whether it restarted the clock (a jump).
    fn map(&mut self, timestamp: u32) -> (i64, bool) {
        let (mapped, jumped) = match self.last {
            None => (i64::from(timestamp), false),
            Some((raw, mapped)) => {
                let delta = i64::from(timestamp.wrapping_sub(raw) as i32);
                if self.rebase || !(-JUMP_BACK..=JUMP_AHEAD).contains(&delta) {
                    (self.end + REBASE_GAP, !self.rebase)
                } else {
                    (mapped + delta, false)
                }
            }
        };
        self.rebase = false;
        self.last = Some((timestamp, mapped));
        self.end = self.end.max(mapped);
        (mapped, jumped)
    }
}

/// One stream's Low-Latency HLS: CMAF init sections, parts and segments and the playlists
/// that list them, all in memory, driven by [`Hls::push`] and read by [`Hls::answer`].
///
/// Every track is a rendition with its own media playlist; all share the segment and part
/// boundaries that the primary track (the first video track, or the first audio track of an
/// audio-only stream) sets.
#[derive(Debug)]
pub struct Hls {
    config: HlsConfig,
    timeline: Timeline,
    renditions: Vec<Rendition>,
    primary: Option<usize>,
    clock: Clock,
    skipped: Vec<Skipped>,
    malformed: u64,
    version: u64,
    ended: bool,
    /// Playlists written at the current version, shared by the requests that ask the same.
    written: std::sync::Mutex<Written>,
}

/// Which playlist: a rendition's (by index) or the multivariant (`None`), whether its older
/// segments are skipped, and the query carried into its URIs.
type PlaylistKey = (Option<usize>, bool, Option<String>);

/// The most playlists kept per version: past it (many carried queries), the rest are written
/// for each request.
const WRITTEN_PLAYLISTS: usize = 32;

/// Playlists written at `version`: every client of a stream asks for the same few after each
/// part, and they are written once.
#[derive(Debug, Default)]
struct Written {
    version: u64,
    playlists: Vec<(PlaylistKey, Bytes)>,
}

impl Hls {
    /// An empty stream.
    pub fn new(config: HlsConfig) -> Self {
        let timeline = Timeline::new(config.part_target_ms(), config.segment_target_ms());
        Self {
            config,
            timeline,
            renditions: Vec::new(),
            primary: None,
            clock: Clock::default(),
            skipped: Vec::new(),
            malformed: 0,
            version: 0,
            ended: false,
            written: std::sync::Mutex::default(),
        }
    }

    /// The playlist of `key` at the current version, written by `write` unless it was
    /// already.
    fn playlist(&self, key: PlaylistKey, write: impl FnOnce() -> String) -> Answer {
        let mut written = self
            .written
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if written.version != self.version {
            written.version = self.version;
            written.playlists.clear();
        }
        let body = match written.playlists.iter().find(|(known, _)| *known == key) {
            Some((_, body)) => body.clone(),
            None => {
                let body = Bytes::from(write());
                if written.playlists.len() < WRITTEN_PLAYLISTS {
                    written.playlists.push((key, body.clone()));
                }
                body
            }
        };
        Answer::Ready(Response {
            body,
            content_type: PLAYLIST_TYPE,
            immutable: false,
        })
    }

    /// Feeds one router message (audio, video, data); `now` is when it arrived. Bodies that
    /// do not parse are counted ([`Hls::malformed`]) and skipped; other message types and
    /// data messages are ignored; so is everything after [`Hls::end`].
    pub fn push(&mut self, message: &RawMessage, now: SystemTime) {
        if self.ended {
            return;
        }
        let payload = &message.payload;
        let frames = match message.type_id {
            rtmp_flv::TAG_AUDIO => {
                AudioTag::parse(payload).map(|tag| Frame::from_audio(&tag, message.timestamp))
            }
            rtmp_flv::TAG_VIDEO => {
                VideoTag::parse(payload).map(|tag| Frame::from_video(&tag, message.timestamp))
            }
            _ => return,
        };
        let Ok(frames) = frames else {
            self.malformed += 1;
            return;
        };
        let mut changed = false;
        for frame in frames {
            changed |= match frame.kind {
                FrameKind::SequenceStart => self.configure(&frame),
                FrameKind::Key | FrameKind::Inter => self.sample(frame, now),
                FrameKind::SequenceEnd => false,
            };
        }
        changed |= self.enforce_budget();
        if changed {
            self.version += 1;
        }
    }

    /// The publisher left and may come back: the open segment is closed, and the next media
    /// starts a new segment marked `#EXT-X-DISCONTINUITY`, its decode times continuing after
    /// the old ones (they stay monotonic in every rendition).
    pub fn discontinuity(&mut self) {
        if self.ended {
            return;
        }
        self.clock.rebase = true;
        self.timeline.interrupt();
        self.drain(i64::MIN);
        self.version += 1;
    }

    /// The stream ended: the open part and segment are closed (with the media held), and the
    /// playlists get `#EXT-X-ENDLIST`.
    pub fn end(&mut self) {
        if self.ended {
            return;
        }
        self.timeline.interrupt();
        self.drain(i64::MAX);
        self.ended = true;
        self.version += 1;
    }

    /// Bytes held: init sections, segments, parts and samples waiting for their part.
    pub fn bytes(&self) -> usize {
        self.renditions.iter().map(Rendition::bytes).sum()
    }

    /// `#EXT-X-TARGETDURATION`: the longest segment so far (at least the segment target),
    /// rounded up to whole seconds.
    pub fn target_duration(&self) -> Duration {
        Duration::from_secs(self.target_seconds())
    }

    /// `PART-TARGET`: the longest part so far (at least the configured part target; parts
    /// end at the first sample at or past the target, so they run over it by up to a frame).
    pub fn part_target(&self) -> Duration {
        let millis = self.timeline.longest_part.max(self.config.part_target_ms());
        Duration::from_millis(u64::try_from(millis).unwrap_or(u64::MAX))
    }

    /// Increases at every change that can turn a [`Answer::Wait`] into something else (an init
    /// section, a part or segment made, a discontinuity, the end).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Tracks left out and why.
    pub fn skipped(&self) -> &[Skipped] {
        &self.skipped
    }

    /// Audio and video messages whose body did not parse.
    pub fn malformed(&self) -> u64 {
        self.malformed
    }

    /// Coded frames dropped: before the first keyframe, between a new configuration and the
    /// segment that uses it, at a non-primary video rendition's segment start until its
    /// keyframe, or for the memory budget.
    pub fn dropped(&self) -> u64 {
        self.renditions
            .iter()
            .map(|rendition| rendition.dropped)
            .sum()
    }

    /// Whether [`Hls::end`] was called.
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    fn target_seconds(&self) -> u64 {
        let millis = self
            .timeline
            .longest_segment
            .max(self.config.segment_target_ms());
        u64::try_from(millis).unwrap_or(0).div_ceil(1000).max(1)
    }

    fn skip(&mut self, track_id: u8, codec: Codec, reason: SkipReason) {
        let known = self
            .skipped
            .iter()
            .any(|s| s.track_id == track_id && s.codec == codec && s.reason == reason);
        if !known && self.skipped.len() < MAX_SKIPPED {
            self.skipped.push(Skipped {
                track_id,
                codec,
                reason,
            });
        }
    }

    fn find(&self, kind: Kind, track_id: u8) -> Option<usize> {
        self.renditions
            .iter()
            .position(|r| r.kind == kind && r.track_id == track_id)
    }

    /// A sequence start: a new rendition, or a new configuration of one.
    fn configure(&mut self, frame: &Frame) -> bool {
        let kind = kind_of(frame.codec);
        if !supported(frame.codec) {
            self.skip(frame.track_id, frame.codec, SkipReason::UnsupportedCodec);
            return false;
        }
        let index = self.find(kind, frame.track_id);
        if let Some(rendition) = index.and_then(|index| self.renditions.get(index))
            && rendition.setup.config == frame.data
        {
            return false;
        }
        if index.is_none() && self.renditions.len() >= MAX_RENDITIONS {
            self.skip(frame.track_id, frame.codec, SkipReason::TooManyTracks);
            return false;
        }
        let setup = match Setup::of(frame) {
            Ok(setup) => setup,
            Err(reason) => {
                self.skip(frame.track_id, frame.codec, reason);
                return false;
            }
        };
        match index.and_then(|index| self.renditions.get_mut(index)) {
            Some(rendition) => {
                rendition.reconfigure(setup);
                self.timeline.request_cut();
            }
            None => {
                let first = self.timeline.next_msn();
                let rendition = Rendition::new(kind, frame.track_id, setup, first);
                self.renditions.push(rendition);
            }
        }
        true
    }

    /// A coded frame: placed on the timeline if the primary's, queued, and parts made.
    fn sample(&mut self, frame: Frame, now: SystemTime) -> bool {
        let kind = kind_of(frame.codec);
        let Some(index) = self.find(kind, frame.track_id) else {
            if !supported(frame.codec) {
                self.skip(frame.track_id, frame.codec, SkipReason::UnsupportedCodec);
            }
            return false;
        };
        let (dts, jumped) = self.clock.map(frame.dts);
        let mut changed = false;
        if jumped {
            self.timeline.interrupt();
            changed |= self.drain(i64::MIN);
        }
        let primary = *self.primary.get_or_insert_with(|| {
            self.renditions
                .iter()
                .position(|r| r.kind == Kind::Video)
                .unwrap_or(index)
        });
        let Some(rendition) = self.renditions.get_mut(index) else {
            return changed;
        };
        // Decode times never go back; the primary's strictly advance, so that a sample that
        // cuts a part or segment is the first of it.
        let step = i64::from(index == primary);
        let dts = rendition
            .last_dts()
            .map_or(dts, |last| dts.max(last + step));
        let sync = kind == Kind::Audio || frame.kind == FrameKind::Key;
        if index == primary && self.timeline.place(dts, sync, now) == Placed::Dropped {
            rendition.dropped += 1;
            return changed;
        }
        let data = match frame.codec {
            Codec::Video(VideoCodec::Av1) => without_temporal_delimiter(frame.data),
            _ => frame.data,
        };
        rendition.push(Sample {
            dts,
            composition_time: frame.composition_time,
            sync,
            generation: 0,
            data,
        });
        rendition.trim_pending(self.config.max_bytes / 8);
        let lag = self.config.segment_target_ms().max(1000);
        let force_before = self.timeline.latest.map_or(i64::MIN, |latest| latest - lag);
        changed | self.drain(force_before)
    }

    /// Makes the parts that can be made; parts ending at or before `force_before` are made
    /// with the samples at hand. Then keeps the window. Returns whether anything was made.
    fn drain(&mut self, force_before: i64) -> bool {
        let mut made = false;
        for (index, rendition) in self.renditions.iter_mut().enumerate() {
            let primary = self.primary == Some(index);
            made |= rendition.drain(&self.timeline, primary, force_before);
        }
        while self.timeline.closed() > self.config.window.max(1) {
            self.evict();
        }
        made
    }

    fn evict(&mut self) {
        self.timeline.evict();
        let first = self.timeline.first_msn();
        for rendition in &mut self.renditions {
            rendition.evict_before(first);
        }
    }

    /// Drops the oldest segments (or closes the open one, or drops waiting samples) until the
    /// stream holds at most `max_bytes`.
    fn enforce_budget(&mut self) -> bool {
        let mut changed = false;
        while self.bytes() > self.config.max_bytes {
            changed = true;
            if self.timeline.closed() > 0 {
                self.evict();
            } else if self.timeline.is_open() {
                self.timeline.interrupt();
                self.drain(i64::MIN);
            } else {
                for rendition in &mut self.renditions {
                    rendition.trim_pending(0);
                }
                break;
            }
        }
        changed
    }

    /// Answers a GET of `path` (relative to the stream's directory) with its query string.
    ///
    /// Names: `index.m3u8` (multivariant), `<r>.m3u8` (media playlist of rendition `<r>`:
    /// `v<track id>` for video, `a<track id>` for audio), `<r>/init<n>.mp4` (init section of
    /// configuration `n`), `<r>/<msn>.m4s` (segment), `<r>/<msn>.<part>.m4s` (part).
    /// `_HLS_msn`, `_HLS_part` and `_HLS_skip` are read from `query`; `carry`, if given, is
    /// appended as the query of every URI the playlists list.
    pub fn answer(&self, path: &str, query: Option<&str>, carry: Option<&str>) -> Answer {
        let Some(resource) = answer::resource(path) else {
            return Answer::BadRequest;
        };
        let Some(blocking) = answer::blocking(query) else {
            return Answer::BadRequest;
        };
        let context = Context {
            timeline: &self.timeline,
            renditions: &self.renditions,
            ended: self.ended,
            target_duration: self.target_seconds(),
            part_target: self.part_target().as_secs_f64(),
            carry,
        };
        let (name, resource) = match resource {
            Resource::Multivariant => {
                // Listed once every rendition has a complete segment to start from.
                let ready =
                    !self.renditions.is_empty() && self.renditions.iter().all(|r| r.has_segment());
                return if !ready {
                    if self.ended {
                        Answer::NotFound
                    } else {
                        Answer::Wait
                    }
                } else {
                    self.playlist((None, false, carry.map(str::to_owned)), || {
                        playlist::multivariant(&context)
                    })
                };
            }
            Resource::Playlist(name)
            | Resource::Init(name, _)
            | Resource::Segment(name, _)
            | Resource::Part(name, _, _) => (name, resource),
        };
        let Some(index) = self.renditions.iter().position(|r| r.name() == name) else {
            return Answer::NotFound;
        };
        let Some(rendition) = self.renditions.get(index) else {
            return Answer::NotFound;
        };
        let media = |body: &Bytes| {
            Answer::Ready(Response {
                body: body.clone(),
                content_type: match rendition.kind {
                    Kind::Video => VIDEO_TYPE,
                    Kind::Audio => AUDIO_TYPE,
                },
                immutable: true,
            })
        };
        let (next_msn, next_part) = rendition.next_part();
        let soon = |msn: u64| {
            if msn > next_msn + 1 {
                Answer::BadRequest
            } else if self.ended {
                Answer::NotFound
            } else {
                Answer::Wait
            }
        };
        match resource {
            Resource::Init(_, generation) => {
                rendition.init(generation).map_or(Answer::NotFound, media)
            }
            Resource::Segment(_, msn) => match rendition.segment(msn) {
                Some(segment) => match &segment.body {
                    Some(body) => media(body),
                    None => soon(msn),
                },
                None if msn >= next_msn => soon(msn),
                None => Answer::NotFound,
            },
            Resource::Part(_, msn, part) => {
                match rendition
                    .segment(msn)
                    .and_then(|segment| segment.parts.get(part))
                {
                    Some(found) => media(&found.body),
                    None if (msn, part) == (next_msn, next_part) => soon(msn),
                    None if msn > next_msn + 1 => Answer::BadRequest,
                    None => Answer::NotFound,
                }
            }
            _ => {
                if let Some(msn) = blocking.msn
                    && msn > next_msn + 1
                {
                    return Answer::BadRequest;
                }
                let Some(last) = rendition.last_part().filter(|_| rendition.has_segment()) else {
                    return if self.ended {
                        self.playlist(
                            (Some(index), blocking.skip, carry.map(str::to_owned)),
                            || playlist::media(&context, index, blocking.skip),
                        )
                    } else {
                        Answer::Wait
                    };
                };
                let first_held = rendition.segments.front().map_or(0, |s| s.msn);
                // Part P of M, or (when M has fewer parts) the first part of M + 1; without
                // P, all of M.
                let held = |msn: u64| {
                    msn < first_held
                        || last.0 > msn
                        || match blocking.part {
                            Some(part) => last.0 == msn && last.1 >= part,
                            None => rendition.segment(msn).is_some_and(|s| s.body.is_some()),
                        }
                };
                match blocking.msn {
                    Some(msn) if !self.ended && !held(msn) => Answer::Wait,
                    _ => self.playlist(
                        (Some(index), blocking.skip, carry.map(str::to_owned)),
                        || playlist::media(&context, index, blocking.skip),
                    ),
                }
            }
        }
    }
}

fn kind_of(codec: Codec) -> Kind {
    match codec {
        Codec::Video(_) => Kind::Video,
        Codec::Audio(_) => Kind::Audio,
    }
}

/// AV1 samples in MP4 carry no temporal delimiter: a leading one is sliced off.
fn without_temporal_delimiter(data: Bytes) -> Bytes {
    let delimiter = match av1::obus(&data).next() {
        Some(Ok(obu)) if obu.obu_type == obu_type::TEMPORAL_DELIMITER => obu.data.len(),
        _ => 0,
    };
    data.slice(delimiter..)
}
