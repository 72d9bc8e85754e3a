//! [`CatchUp`]: what a player joining a live stream needs before the next message (metadata,
//! every track's configuration, the current GOP), kept within budgets.

use std::collections::VecDeque;

use rtmp_chunk::RawMessage;
use rtmp_flv::{Frame, FrameKind, TrackConfigs, VideoKind, VideoTag, configured_tracks};

use crate::media::{Media, MediaKind};
use crate::rendition::Rendition;

/// The budgets of a [`CatchUp`] (the hub's come from its
/// [`HubConfig`](crate::HubConfig)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CatchUpLimits {
    /// Keep the current GOP (from its keyframe) of each video track for joining players.
    pub gop_cache: bool,
    /// The most payload bytes the GOPs kept hold, all tracks together; past it, the track
    /// whose GOP is oldest is not kept until its next keyframe.
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
/// keyframe (of a multitrack stream, each video track's GOP from that track's keyframe). A
/// router records each published message; a player that joins gets [`CatchUp::iter`] (or
/// [`CatchUp::iter_for`] its rendition) before what comes next. The hub keeps one per stream, and so can a router
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
    /// Coded media from the oldest kept keyframe on: each video track's current GOP is in it.
    gop: VecDeque<Media>,
    /// The sequence number of the first message of `gop`.
    gop_first: u64,
    gop_bytes: usize,
    /// Each video track whose GOP is kept, with its keyframe's sequence number.
    starts: Vec<(u8, u64)>,
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
                    self.keep_coded(media, None);
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
                VideoKind::Keyframe => self.keep_keyframe(media, message),
                VideoKind::Inter => self.keep_coded(media, media.single_track()),
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

    /// What a joining player of every track gets first: metadata, track configurations, and
    /// each video track's GOP from its keyframe (what came before a track's keyframe is left
    /// out for that track).
    pub fn iter(&self) -> impl Iterator<Item = &Media> {
        self.iter_for(Rendition::All)
    }

    /// What a joining player of `rendition` gets first: metadata, track configurations, and
    /// the GOP of its video track from that track's keyframe (for [`Rendition::All`], as
    /// [`iter`](Self::iter)). The player's [`PlayerSlot`](crate::PlayerSlot) leaves out what
    /// is not of its rendition.
    pub fn iter_for(&self, rendition: Rendition) -> impl Iterator<Item = &Media> {
        let end = self.gop_first + self.gop.len() as u64;
        let from = match rendition.video_track() {
            Some(track) => self.start_of(track).unwrap_or(end),
            None => self
                .starts
                .iter()
                .map(|(_, start)| *start)
                .min()
                .unwrap_or(end),
        };
        let skip = usize::try_from(from - self.gop_first).unwrap_or(usize::MAX);
        let gop = self
            .gop
            .iter()
            .zip(self.gop_first..)
            .skip(skip)
            .filter(move |(media, sequence)| {
                // Of every track: a track's frames before its keyframe are of no use.
                let MediaKind::Video { kind, .. } = media.kind() else {
                    return true;
                };
                if rendition != Rendition::All || kind == VideoKind::Keyframe {
                    return true;
                }
                match media.single_track() {
                    Some(track) => self.start_of(track).is_some_and(|start| start <= *sequence),
                    None => true,
                }
            })
            .map(|(media, _)| media);
        self.metadata.iter().chain(self.headers.iter()).chain(gop)
    }

    /// The configuration messages kept, by track (a recording's new segment needs them).
    pub fn headers(&self) -> &TrackConfigs<Media> {
        &self.headers
    }

    /// Forgets everything (the publisher left).
    pub fn clear(&mut self) {
        self.metadata = None;
        self.headers.clear();
        self.starts.clear();
        self.trim();
    }

    /// Where the GOP kept of `track` starts.
    fn start_of(&self, track: u8) -> Option<u64> {
        self.starts
            .iter()
            .find(|(kept, _)| *kept == track)
            .map(|(_, start)| *start)
    }

    /// A keyframe: its tracks' GOPs start here.
    fn keep_keyframe(&mut self, media: &Media, message: &RawMessage) {
        if !self.limits.gop_cache {
            return;
        }
        let sequence = self.gop_first + self.gop.len() as u64;
        let tracks = match media.single_track() {
            Some(track) => vec![track],
            // Several tracks (rare): those with a keyframe in it.
            None => VideoTag::parse(&message.payload)
                .map(|tag| {
                    Frame::from_video(&tag, 0)
                        .iter()
                        .filter(|frame| frame.kind == FrameKind::Key)
                        .map(|frame| frame.track_id)
                        .collect()
                })
                .unwrap_or_default(),
        };
        let room = self.limits.max_tracks;
        for track in tracks {
            let count = self.starts.len();
            match self.starts.iter_mut().find(|(kept, _)| *kept == track) {
                Some((_, start)) => *start = sequence,
                None if count < room => self.starts.push((track, sequence)),
                None => {}
            }
        }
        // What only the previous GOPs needed goes before the budget counts the keyframe.
        self.trim();
        self.keep(media);
    }

    /// Coded media other than a keyframe: kept while a GOP is, and for a video frame of one
    /// track (`track`), while that track's is.
    fn keep_coded(&mut self, media: &Media, track: Option<u8>) {
        if !self.limits.gop_cache || self.starts.is_empty() {
            return;
        }
        if let (MediaKind::Video { .. }, Some(track)) = (media.kind(), track)
            && self.start_of(track).is_none()
        {
            return;
        }
        self.keep(media);
    }

    /// Appends to the GOP; past its budget, the track whose GOP is oldest is no longer kept.
    fn keep(&mut self, media: &Media) {
        self.gop_bytes += media.chunked().payload_len();
        self.gop.push_back(media.clone());
        while self.gop_bytes > self.limits.max_gop_bytes && !self.starts.is_empty() {
            if let Some(oldest) = self
                .starts
                .iter()
                .enumerate()
                .min_by_key(|(_, (_, start))| *start)
                .map(|(index, _)| index)
            {
                self.starts.swap_remove(oldest);
            }
            self.trim();
        }
    }

    /// Drops what no kept track's GOP needs.
    fn trim(&mut self) {
        let end = self.gop_first + self.gop.len() as u64;
        let keep_from = self
            .starts
            .iter()
            .map(|(_, start)| *start)
            .min()
            .unwrap_or(end);
        while self.gop_first < keep_from {
            let Some(media) = self.gop.pop_front() else {
                break;
            };
            self.gop_bytes -= media.chunked().payload_len();
            self.gop_first += 1;
        }
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
