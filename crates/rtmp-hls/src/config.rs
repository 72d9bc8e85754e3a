//! [`HlsConfig`]: part and segment targets, the window and the memory budget of one stream.

use std::time::Duration;

/// How one stream is cut into parts and segments, and how much of it is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HlsConfig {
    /// The part target: a part ends at the first sample of the primary track at or after this
    /// long since the part started (default 200 ms).
    pub part_target: Duration,
    /// The segment target: a segment ends at the first keyframe of the primary track at or after
    /// this long since the segment started (default 2 s).
    pub segment_target: Duration,
    /// Finished segments kept (and listed) per rendition (default 7, at least 1).
    pub window: usize,
    /// Bytes held for the stream, all renditions together, beyond which the oldest segments are
    /// dropped early (default 64 MiB).
    pub max_bytes: usize,
}

impl Default for HlsConfig {
    fn default() -> Self {
        Self {
            part_target: Duration::from_millis(200),
            segment_target: Duration::from_secs(2),
            window: 7,
            max_bytes: 64 << 20,
        }
    }
}

impl HlsConfig {
    /// The part target in milliseconds, at least 1.
    pub(crate) fn part_target_ms(&self) -> i64 {
        millis(self.part_target).max(1)
    }

    /// The segment target in milliseconds, at least the part target.
    pub(crate) fn segment_target_ms(&self) -> i64 {
        millis(self.segment_target).max(self.part_target_ms())
    }
}

/// A duration in whole milliseconds, saturated to `i64`.
pub(crate) fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
