//! One rendition (one track): its samples waiting for their part, its init sections, and the
//! parts and segments made of them along the shared [`Timeline`].

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use crate::cmaf::{self, FragmentSample, NON_SYNC_FLAGS, SYNC_FLAGS};
use crate::timeline::{PartRange, Timeline};
use crate::track::Setup;

/// Video or audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    /// A video track: a variant.
    Video,
    /// An audio track: an alternative rendition (or the variant of an audio-only stream).
    Audio,
}

/// A coded frame waiting for its part.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    /// Decode time in stream milliseconds.
    pub dts: i64,
    /// Composition offset in milliseconds.
    pub composition_time: i32,
    /// A keyframe (every audio frame is one).
    pub sync: bool,
    /// The configuration generation it was coded with.
    pub generation: u32,
    /// The coded data.
    pub data: Bytes,
}

/// A finished part.
#[derive(Debug, Clone)]
pub(crate) struct Part {
    /// `moof` + `mdat`.
    pub body: Bytes,
    /// Seconds.
    pub duration: f64,
    /// Starts with a sync sample.
    pub independent: bool,
}

/// A segment of this rendition, in progress or finished.
#[derive(Debug, Clone)]
pub(crate) struct Segment {
    /// The media sequence number.
    pub msn: u64,
    /// The configuration generation (the init section) it uses.
    pub generation: u32,
    /// Its parts (slices of `body` once finished).
    pub parts: Vec<Part>,
    /// The whole segment, once finished.
    pub body: Option<Bytes>,
}

impl Segment {
    /// Seconds.
    pub(crate) fn duration(&self) -> f64 {
        self.parts.iter().map(|part| part.duration).sum()
    }

    /// Bytes held.
    fn bytes(&self) -> usize {
        match &self.body {
            Some(body) => body.len(),
            None => self.parts.iter().map(|part| part.body.len()).sum(),
        }
    }
}

/// One track's rendition.
#[derive(Debug)]
pub(crate) struct Rendition {
    /// Video or audio.
    pub kind: Kind,
    /// The track id.
    pub track_id: u8,
    /// The current configuration.
    pub setup: Setup,
    /// The current configuration's generation (its init section is `init<generation>.mp4`).
    pub generation: u32,
    /// Init sections still referenced, by generation.
    inits: Vec<(u32, Bytes)>,
    pending: VecDeque<Sample>,
    pending_bytes: usize,
    last_dts: Option<i64>,
    /// The next part to make: segment number and part index.
    cursor: (u64, usize),
    /// Dropping until a sync sample (a non-primary video rendition entering a segment).
    need_key: bool,
    /// The decode time (in the timescale) after the last part made.
    next_decode: Option<u64>,
    /// Duration of the last sample made, in the timescale.
    last_duration: u32,
    sequence: u32,
    /// Segments of the window.
    pub segments: VecDeque<Segment>,
    /// Samples dropped (before the first segment, configuration changes, budget).
    pub dropped: u64,
}

impl Rendition {
    /// A rendition whose first segment will be `first_msn`.
    pub(crate) fn new(kind: Kind, track_id: u8, setup: Setup, first_msn: u64) -> Self {
        let inits = vec![(0, setup.init.clone())];
        Self {
            kind,
            track_id,
            setup,
            generation: 0,
            inits,
            pending: VecDeque::new(),
            pending_bytes: 0,
            last_dts: None,
            cursor: (first_msn, 0),
            need_key: false,
            next_decode: None,
            last_duration: 0,
            sequence: 0,
            segments: VecDeque::new(),
            dropped: 0,
        }
    }

    /// The name of its playlist and directory: `v<track>` or `a<track>`.
    pub(crate) fn name(&self) -> String {
        match self.kind {
            Kind::Video => format!("v{}", self.track_id),
            Kind::Audio => format!("a{}", self.track_id),
        }
    }

    /// A new configuration: a new generation and init section.
    pub(crate) fn reconfigure(&mut self, setup: Setup) {
        self.generation = self.generation.wrapping_add(1);
        self.inits.push((self.generation, setup.init.clone()));
        self.setup = setup;
    }

    /// The init section of `generation`, if still held.
    pub(crate) fn init(&self, generation: u32) -> Option<&Bytes> {
        self.inits
            .iter()
            .find(|(held, _)| *held == generation)
            .map(|(_, init)| init)
    }

    /// Queues a coded frame; its decode time is kept monotonic.
    pub(crate) fn push(&mut self, mut sample: Sample) {
        if let Some(last) = self.last_dts {
            sample.dts = sample.dts.max(last);
        }
        self.last_dts = Some(sample.dts);
        sample.generation = self.generation;
        self.pending_bytes += sample.data.len();
        self.pending.push_back(sample);
    }

    /// The decode time of the newest queued or made sample.
    pub(crate) fn last_dts(&self) -> Option<i64> {
        self.last_dts
    }

    /// Drops queued samples until at most `limit` bytes are queued, oldest first.
    pub(crate) fn trim_pending(&mut self, limit: usize) {
        while self.pending_bytes > limit {
            let Some(sample) = self.pending.pop_front() else {
                break;
            };
            self.pending_bytes -= sample.data.len();
            self.dropped += 1;
        }
    }

    /// Bytes held: init sections, segments, parts and queued samples.
    pub(crate) fn bytes(&self) -> usize {
        self.inits.iter().map(|(_, init)| init.len()).sum::<usize>()
            + self.segments.iter().map(Segment::bytes).sum::<usize>()
            + self.pending_bytes
    }

    /// Whether a segment was completed (players start from one), even if it left the window.
    pub(crate) fn has_segment(&self) -> bool {
        self.segments.front().is_some_and(|first| first.msn > 0)
            || self.segments.iter().any(|segment| segment.body.is_some())
    }

    /// The last part made: its segment number and index.
    pub(crate) fn last_part(&self) -> Option<(u64, usize)> {
        let segment = self.segments.back()?;
        match segment.parts.len().checked_sub(1) {
            Some(index) => Some((segment.msn, index)),
            None => self
                .segments
                .iter()
                .rev()
                .nth(1)
                .map(|previous| (previous.msn, previous.parts.len().saturating_sub(1))),
        }
    }

    /// The next part to make: segment number and index.
    pub(crate) fn next_part(&self) -> (u64, usize) {
        self.cursor
    }

    /// The segment numbered `msn`, if held.
    pub(crate) fn segment(&self, msn: u64) -> Option<&Segment> {
        let first = self.segments.front()?.msn;
        self.segments
            .get(usize::try_from(msn.checked_sub(first)?).ok()?)
    }

    /// Forgets segments before `msn`, and init sections no segment uses any more.
    pub(crate) fn evict_before(&mut self, msn: u64) {
        while self
            .segments
            .front()
            .is_some_and(|segment| segment.msn < msn)
        {
            self.segments.pop_front();
        }
        if self.cursor.0 < msn {
            self.cursor = (msn, 0);
        }
        let current = self.generation;
        let segments = &self.segments;
        self.inits.retain(|(generation, _)| {
            *generation == current || segments.iter().any(|s| s.generation == *generation)
        });
    }

    /// Makes every part whose range is known and whose samples are all here (a sample at or
    /// past its end has arrived, media stops at its end, or it ends at or before
    /// `force_before`: the primary is far past it or the stream ended). Returns whether a part
    /// was made.
    pub(crate) fn drain(&mut self, timeline: &Timeline, primary: bool, force_before: i64) -> bool {
        let mut made = false;
        loop {
            let (msn, index) = self.cursor;
            if msn < timeline.first_msn() {
                self.cursor = (timeline.first_msn(), 0);
                continue;
            }
            match timeline.part(msn, index) {
                PartRange::NoSegment | PartRange::Open => break,
                PartRange::AfterLast => {
                    self.finish_segment(msn);
                    self.cursor = (msn + 1, 0);
                    made = true;
                }
                PartRange::Closed {
                    start,
                    end,
                    gap_after,
                } => {
                    let arrived = self.pending.back().is_some_and(|sample| sample.dts >= end);
                    if !(arrived || gap_after || end <= force_before) {
                        break;
                    }
                    if index == 0 {
                        self.start_segment(msn, primary);
                    }
                    self.make_part(start, end, gap_after);
                    self.cursor = (msn, index + 1);
                    made = true;
                }
            }
        }
        made
    }

    fn start_segment(&mut self, msn: u64, primary: bool) {
        self.need_key = self.kind == Kind::Video && !primary;
        self.segments.push_back(Segment {
            msn,
            generation: self.generation,
            parts: Vec::new(),
            body: None,
        });
    }

    fn finish_segment(&mut self, msn: u64) {
        let Some(segment) = self.segments.back_mut().filter(|s| s.msn == msn) else {
            return;
        };
        let total = segment.parts.iter().map(|part| part.body.len()).sum();
        let mut body = BytesMut::with_capacity(total);
        for part in &segment.parts {
            body.extend_from_slice(&part.body);
        }
        let body = body.freeze();
        let mut offset = 0;
        for part in &mut segment.parts {
            let len = part.body.len();
            part.body = body.slice(offset..offset + len);
            offset += len;
        }
        segment.body = Some(body);
    }

    /// Ticks of `millis` in the timescale (rounded; negative times are 0).
    fn ticks(&self, millis: i64) -> u64 {
        let millis = u128::try_from(millis).unwrap_or(0);
        let ticks = (millis * u128::from(self.setup.timescale) + 500) / 1000;
        u64::try_from(ticks).unwrap_or(u64::MAX)
    }

    fn make_part(&mut self, start: i64, end: i64, gap_after: bool) {
        let mut samples = Vec::new();
        while self.pending.front().is_some_and(|sample| sample.dts < end) {
            let Some(sample) = self.pending.pop_front() else {
                break;
            };
            self.pending_bytes -= sample.data.len();
            samples.push(sample);
        }
        let Some(segment) = self.segments.back_mut() else {
            return;
        };
        let generation = segment.generation;
        let before = samples.len();
        samples.retain(|sample| sample.dts >= start && sample.generation == generation);
        if self.need_key {
            match samples.iter().position(|sample| sample.sync) {
                Some(first) => {
                    samples.drain(..first);
                    self.need_key = false;
                }
                None => samples.clear(),
            }
        }
        self.dropped += (before - samples.len()) as u64;
        // The decode time after the last sample: the next sample's when media goes on,
        // otherwise the part's end (or one more sample duration if that is not later).
        let next = if gap_after {
            None
        } else {
            self.pending.front().map(|sample| sample.dts)
        };
        let mut fragment_samples = Vec::with_capacity(samples.len());
        let mut iter = samples.iter().peekable();
        while let Some(sample) = iter.next() {
            let this = self.ticks(sample.dts);
            let duration = match iter.peek().map(|s| s.dts).or(next) {
                Some(following) => self.ticks(following).saturating_sub(this),
                None if end > sample.dts => self.ticks(end).saturating_sub(this),
                None => u64::from(self.last_duration),
            };
            let duration = u32::try_from(duration).unwrap_or(u32::MAX);
            self.last_duration = duration;
            let offset =
                i64::from(sample.composition_time) * i64::from(self.setup.timescale) / 1000;
            fragment_samples.push(FragmentSample {
                duration,
                flags: if sample.sync {
                    SYNC_FLAGS
                } else {
                    NON_SYNC_FLAGS
                },
                composition_offset: offset,
                data: sample.data.clone(),
            });
        }
        let base = match samples.first() {
            Some(first) => self.ticks(first.dts),
            None => self.next_decode.unwrap_or_else(|| self.ticks(start)),
        };
        let total: u64 = fragment_samples.iter().map(|s| u64::from(s.duration)).sum();
        self.next_decode = Some(base + total);
        let timescale = f64::from(self.setup.timescale.max(1));
        let duration = if samples.is_empty() {
            (end - start) as f64 / 1000.0
        } else {
            total as f64 / timescale
        };
        self.sequence = self.sequence.wrapping_add(1);
        // Only sizes past 4 GiB fail, which the budget rules out; the part stays listed.
        let body = cmaf::fragment(self.sequence, base, &fragment_samples).unwrap_or_default();
        let independent = match self.kind {
            Kind::Audio => true,
            Kind::Video => samples.first().is_some_and(|sample| sample.sync),
        };
        if let Some(segment) = self.segments.back_mut() {
            segment.parts.push(Part {
                body,
                duration,
                independent,
            });
        }
    }
}
