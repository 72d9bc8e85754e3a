//! The boundaries every rendition of a stream shares: segments and their parts, numbered and
//! timed by the primary track, in milliseconds of the stream's (monotonic) decode time.

use std::collections::VecDeque;
use std::time::SystemTime;

/// The longest the primary's last sample is taken to last when media stops (ms).
pub(crate) const LAST_SAMPLE_MAX: i64 = 100;

/// One segment's boundaries.
#[derive(Debug, Clone)]
pub(crate) struct SegmentTimes {
    /// The media sequence number.
    pub msn: u64,
    /// Where each part starts; the first is the segment's start.
    pub parts: Vec<i64>,
    /// Where the segment ends, once closed.
    pub end: Option<i64>,
    /// Whether media stopped at its end (discontinuity, budget, end of stream) rather than
    /// going on in the next segment.
    pub gap_after: bool,
    /// Whether `#EXT-X-DISCONTINUITY` comes before it.
    pub discontinuity: bool,
    /// When its first sample arrived.
    pub program_date_time: SystemTime,
}

impl SegmentTimes {
    /// The segment's start.
    pub(crate) fn start(&self) -> i64 {
        self.parts.first().copied().unwrap_or_default()
    }
}

/// The range of one part, as far as it is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PartRange {
    /// The segment does not exist (yet, or any more).
    NoSegment,
    /// The segment is closed and has fewer parts.
    AfterLast,
    /// The part is not cut yet (or not started).
    Open,
    /// The part's range.
    Closed {
        /// Its first millisecond.
        start: i64,
        /// The millisecond after it.
        end: i64,
        /// Whether media stops at its end.
        gap_after: bool,
    },
}

/// Whether a primary sample opened or continued a segment, or is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Placed {
    /// It belongs to the open segment.
    Kept,
    /// No segment is open and it cannot open one: dropped.
    Dropped,
}

/// The segments of the window and the one in progress.
#[derive(Debug)]
pub(crate) struct Timeline {
    segments: VecDeque<SegmentTimes>,
    next_msn: u64,
    open: bool,
    part_target: i64,
    segment_target: i64,
    /// The next segment gets `#EXT-X-DISCONTINUITY`.
    discontinuity_pending: bool,
    /// The next primary keyframe starts a new segment, whatever its length.
    cut_requested: bool,
    /// Discontinuities that slid out of the window.
    evicted_discontinuities: u64,
    /// The longest segment and part so far, in milliseconds.
    pub longest_segment: i64,
    pub longest_part: i64,
    /// The decode time of the primary's newest sample.
    pub latest: Option<i64>,
    /// The step between the primary's two newest samples.
    step: i64,
}

impl Timeline {
    /// An empty timeline.
    pub(crate) fn new(part_target: i64, segment_target: i64) -> Self {
        Self {
            segments: VecDeque::new(),
            next_msn: 0,
            open: false,
            part_target,
            segment_target,
            discontinuity_pending: false,
            cut_requested: false,
            evicted_discontinuities: 0,
            longest_segment: 0,
            longest_part: 0,
            latest: None,
            step: 0,
        }
    }

    /// Places a sample of the primary track: cuts a part when it is at or past the part
    /// target, a segment when it is a sync sample at or past the segment target (or a cut was
    /// requested). Without an open segment, only a sync sample opens one.
    pub(crate) fn place(&mut self, dts: i64, sync: bool, now: SystemTime) -> Placed {
        if !self.open {
            if !sync {
                return Placed::Dropped;
            }
            self.open_segment(dts, now);
            return Placed::Kept;
        }
        if let Some(latest) = self.latest {
            self.step = dts - latest;
        }
        self.latest = Some(dts);
        let Some(segment) = self.segments.back_mut() else {
            return Placed::Dropped;
        };
        let start = segment.start();
        let part_start = segment.parts.last().copied().unwrap_or(start);
        // The first segment ends at the first keyframe a part after its start: players
        // (ffmpeg, hls.js) start from a complete segment, and the stream's first one is then
        // ready a GOP after the router's catch-up rather than a segment target later.
        let target = if segment.msn == 0 {
            self.part_target
        } else {
            self.segment_target
        };
        if sync && (dts - start >= target || self.cut_requested) {
            self.longest_part = self.longest_part.max(dts - part_start);
            self.close(dts, false);
            self.open_segment(dts, now);
        } else if dts - part_start >= self.part_target {
            self.longest_part = self.longest_part.max(dts - part_start);
            segment.parts.push(dts);
        }
        Placed::Kept
    }

    fn open_segment(&mut self, dts: i64, now: SystemTime) {
        let discontinuity = std::mem::take(&mut self.discontinuity_pending)
            || std::mem::take(&mut self.cut_requested);
        self.segments.push_back(SegmentTimes {
            msn: self.next_msn,
            parts: vec![dts],
            end: None,
            gap_after: false,
            discontinuity,
            program_date_time: now,
        });
        self.next_msn += 1;
        self.open = true;
        self.latest = Some(dts);
    }

    /// Closes the open segment at `end` (not before its last part's start); `gap` when media
    /// does not go on from there.
    pub(crate) fn close(&mut self, end: i64, gap: bool) {
        if !self.open {
            return;
        }
        self.open = false;
        if let Some(segment) = self.segments.back_mut() {
            let end = end.max(segment.parts.last().copied().unwrap_or(end));
            segment.end = Some(end);
            segment.gap_after = gap;
            self.longest_segment = self.longest_segment.max(end - segment.start());
        }
    }

    /// Closes the open segment with media stopping after the primary's last sample (lasting
    /// as long as the step before it, from 1 ms to [`LAST_SAMPLE_MAX`]): the next segment is
    /// a discontinuity.
    pub(crate) fn interrupt(&mut self) {
        if !self.segments.is_empty() {
            self.discontinuity_pending = true;
        }
        // A stream of one sample has no step: it lasts a millisecond, so that it is kept.
        let end = self.latest.unwrap_or_default() + self.step.clamp(1, LAST_SAMPLE_MAX);
        self.close(end, true);
    }

    /// A new configuration: the next primary keyframe starts a new segment, a discontinuity.
    pub(crate) fn request_cut(&mut self) {
        if !self.segments.is_empty() {
            self.cut_requested = true;
        }
    }

    /// Whether a segment is open.
    pub(crate) fn is_open(&self) -> bool {
        self.open
    }

    /// The number the next segment to open will have.
    pub(crate) fn next_msn(&self) -> u64 {
        self.next_msn
    }

    /// The first segment of the window.
    pub(crate) fn first_msn(&self) -> u64 {
        self.segments
            .front()
            .map_or(self.next_msn, |segment| segment.msn)
    }

    /// The segment numbered `msn`, if in the window.
    pub(crate) fn get(&self, msn: u64) -> Option<&SegmentTimes> {
        let index = msn.checked_sub(self.first_msn())?;
        self.segments.get(usize::try_from(index).ok()?)
    }

    /// Closed segments in the window.
    pub(crate) fn closed(&self) -> usize {
        self.segments.len() - usize::from(self.open)
    }

    /// Drops the oldest segment.
    pub(crate) fn evict(&mut self) {
        if let Some(segment) = self.segments.pop_front() {
            self.evicted_discontinuities += u64::from(segment.discontinuity);
            if self.segments.is_empty() {
                self.open = false;
            }
        }
    }

    /// The discontinuity sequence number of segment `msn`'s predecessor in a playlist that
    /// starts at `msn` (`#EXT-X-DISCONTINUITY-SEQUENCE`).
    pub(crate) fn discontinuity_sequence(&self, msn: u64) -> u64 {
        self.evicted_discontinuities
            + self
                .segments
                .iter()
                .filter(|segment| segment.msn < msn && segment.discontinuity)
                .count() as u64
    }

    /// The range of part `index` of segment `msn`.
    pub(crate) fn part(&self, msn: u64, index: usize) -> PartRange {
        let Some(segment) = self.get(msn) else {
            return PartRange::NoSegment;
        };
        let Some(&start) = segment.parts.get(index) else {
            return if segment.end.is_some() {
                PartRange::AfterLast
            } else {
                PartRange::Open
            };
        };
        let last = index + 1 == segment.parts.len();
        let end = if last {
            segment.end
        } else {
            segment.parts.get(index + 1).copied()
        };
        match end {
            Some(end) => PartRange::Closed {
                start,
                end,
                gap_after: last && segment.gap_after,
            },
            None => PartRange::Open,
        }
    }
}
