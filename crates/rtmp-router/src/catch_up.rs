//! [`CatchUp`]: what a player joining a live stream needs before the next message (metadata,
//! every track's configuration, the current GOP), kept within budgets.

use rtmp_chunk::RawMessage;
use rtmp_flv::{TrackConfigs, VideoKind, configured_tracks};

use crate::media::{Media, MediaKind};

/// The budgets of a [`CatchUp`] (the hub's come from its
/// [`HubConfig`](crate::HubConfig)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CatchUpLimits {
    /// Keep the current GOP (from its keyframe) for joining players.
    pub gop_cache: bool,
    /// The most payload bytes a GOP kept holds; a longer GOP is not kept.
    pub max_gop_bytes: usize,
    /// The most tracks whose configuration is kept.
    pub max_tracks: usize,
    /// The most payload bytes of configuration messages, all tracks together.
    pub max_header_bytes: usize,
    /// The largest metadata (onMetaData) payload kept.
    pub max_metadata_bytes: usize,
}

impl Default for CatchUpLimits {
    fn default() -> Self {
        Self {
            gop_cache: true,
            max_gop_bytes: 16 << 20,
            max_tracks: 32,
            max_header_bytes: 1 << 20,
            max_metadata_bytes: 256 << 10,
        }
    }
}

/// A stream went past one of its [`CatchUpLimits`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("more {what} than the limit of {limit}")]
pub struct OverLimit {
    /// What went over: "configured tracks", "configuration bytes", "metadata bytes".
    pub what: &'static str,
    /// The limit.
    pub limit: usize,
}

/// What a joining player gets first, in this order: the stream's metadata, the configuration
/// (sequence start, multichannel configuration) of every track, and the current GOP from its
/// keyframe. A router records each published message; a player that joins gets
/// [`CatchUp::iter`] before what comes next. The hub keeps one per stream, and so can a router
/// of an application's own.
///
/// ```
/// use rtmp_chunk::RawMessage;
/// use rtmp_router::{CatchUp, CatchUpLimits, SharedMedia};
///
/// let mut catch_up = CatchUp::new(CatchUpLimits::default());
/// for message in [
///     RawMessage::new(7, 0, 9, 1, vec![0x17, 0, 0, 0, 0, 1]), // AVC sequence start
///     RawMessage::new(7, 0, 9, 1, vec![0x17, 1, 0, 0, 0, 9]), // keyframe
///     RawMessage::new(7, 40, 9, 1, vec![0x27, 1, 0, 0, 0, 9]), // inter frame
///     RawMessage::new(7, 80, 9, 1, vec![0x17, 1, 0, 0, 0, 9]), // the next keyframe
/// ] {
///     let media = SharedMedia::new(message.clone(), 4096)?;
///     catch_up.record(&media, &message)?;
/// }
/// let times: Vec<u32> = catch_up.iter().map(|media| media.message().timestamp).collect();
/// assert_eq!(times, [0, 80]); // the sequence start, then the GOP from the last keyframe
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct CatchUp {
    limits: CatchUpLimits,
    metadata: Option<Media>,
    headers: TrackConfigs<Media>,
    gop: Vec<Media>,
    gop_bytes: usize,
    /// Whether the GOP kept started with a keyframe and still fits.
    gop_open: bool,
}

impl CatchUp {
    /// Nothing kept yet.
    pub fn new(limits: CatchUpLimits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    /// Keeps what a joining player needs of `media`, which was made of `message`. A message
    /// that takes the stream past a budget is not kept, and the error says which (the stream's
    /// publisher should be stopped).
    pub fn record(&mut self, media: &Media, message: &RawMessage) -> Result<(), OverLimit> {
        match media.kind() {
            MediaKind::Audio { .. } => {
                let tracks = configured_tracks(message.type_id, &message.payload);
                if tracks.is_empty() {
                    self.keep_in_gop(media, false);
                } else {
                    self.headers.set(tracks, media.clone());
                    self.check_headers()?;
                }
            }
            MediaKind::Video { kind, .. } => match kind {
                VideoKind::SequenceStart => {
                    let tracks = configured_tracks(message.type_id, &message.payload);
                    self.headers.set(tracks, media.clone());
                    self.check_headers()?;
                }
                VideoKind::Keyframe => self.keep_in_gop(media, true),
                VideoKind::Inter => self.keep_in_gop(media, false),
                VideoKind::Other => {}
            },
            MediaKind::Data => {
                if rtmp_message::data_name_is(&message.payload, rtmp_message::ON_METADATA) {
                    let limit = self.limits.max_metadata_bytes;
                    if message.payload.len() > limit {
                        return Err(OverLimit {
                            what: "metadata bytes",
                            limit,
                        });
                    }
                    self.metadata = Some(media.clone());
                }
            }
        }
        Ok(())
    }

    /// What a joining player gets first: metadata, track configurations, the GOP.
    pub fn iter(&self) -> impl Iterator<Item = &Media> {
        self.metadata
            .iter()
            .chain(self.headers.iter())
            .chain(&self.gop)
    }

    /// The configuration messages kept, by track (a recording's new segment needs them).
    pub fn headers(&self) -> &TrackConfigs<Media> {
        &self.headers
    }

    /// Forgets everything (the publisher left).
    pub fn clear(&mut self) {
        self.metadata = None;
        self.headers.clear();
        self.drop_gop(false);
    }

    fn drop_gop(&mut self, open: bool) {
        self.gop.clear();
        self.gop_bytes = 0;
        self.gop_open = open;
    }

    /// Adds coded media to the GOP; a keyframe starts a new one.
    fn keep_in_gop(&mut self, media: &Media, keyframe: bool) {
        if !self.limits.gop_cache {
            return;
        }
        if keyframe {
            self.drop_gop(true);
        }
        if !self.gop_open {
            return;
        }
        let len = media.chunked().payload_len();
        if self.gop_bytes + len > self.limits.max_gop_bytes {
            self.drop_gop(false);
            return;
        }
        self.gop_bytes += len;
        self.gop.push(media.clone());
    }

    fn check_headers(&self) -> Result<(), OverLimit> {
        let limits = &self.limits;
        if self.headers.track_count() > limits.max_tracks {
            return Err(OverLimit {
                what: "configured tracks",
                limit: limits.max_tracks,
            });
        }
        let bytes: usize = self
            .headers
            .iter()
            .map(|media| media.chunked().payload_len())
            .sum();
        if bytes > limits.max_header_bytes {
            return Err(OverLimit {
                what: "configuration bytes",
                limit: limits.max_header_bytes,
            });
        }
        Ok(())
    }
}
