//! Cheap classification of audio and video payloads, for servers that must recognise
//! keyframes and sequence headers on every message without building a parsed tag.

use bytes::Bytes;

use crate::audio::{AudioPacket, AudioTag};
use crate::file::{TAG_AUDIO, TAG_VIDEO};
use crate::video::{FrameType, VideoPacket, VideoTag};

/// What a video payload is, as far as forwarding is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VideoKind {
    /// A sequence start (decoder configuration): keep it for players that join later.
    SequenceStart,
    /// Coded data of a keyframe: a player can start here.
    Keyframe,
    /// Other coded data.
    Inter,
    /// Anything else (end of sequence, metadata, command frames, unparseable data).
    Other,
}

/// Classifies a video payload. The legacy and plain enhanced forms are read from their first
/// bytes; multitrack and ModEx forms are parsed fully.
pub fn peek_video(payload: &Bytes) -> (VideoKind, bool) {
    let (Some(&first), second) = (payload.first(), payload.get(1).copied()) else {
        return (VideoKind::Other, false);
    };
    let enhanced = first & 0x80 != 0;
    let frame_type = (first >> 4) & if enhanced { 0x07 } else { 0x0F };
    let keyframe = matches!(frame_type, 1 | 4);
    let kind = if !enhanced {
        match (first & 0x0F, second) {
            (7 | 12, Some(0)) => VideoKind::SequenceStart,
            (7 | 12, Some(1)) | (2..=6, Some(_)) if frame_type != 5 => coded(keyframe),
            _ => VideoKind::Other,
        }
    } else {
        match first & 0x0F {
            _ if frame_type == 5 => VideoKind::Other,
            0 | 5 => VideoKind::SequenceStart,
            1 | 3 => coded(keyframe),
            6 | 7 => match VideoTag::parse(payload) {
                Ok(tag) if tag.is_sequence_start() => VideoKind::SequenceStart,
                Ok(tag) if tag.is_keyframe() => VideoKind::Keyframe,
                Ok(tag) if tag.frame_type != FrameType::Command && !tag.tracks().is_empty() => {
                    VideoKind::Inter
                }
                _ => VideoKind::Other,
            },
            _ => VideoKind::Other,
        }
    };
    (kind, enhanced)
}

fn coded(keyframe: bool) -> VideoKind {
    if keyframe {
        VideoKind::Keyframe
    } else {
        VideoKind::Inter
    }
}

/// Whether an audio payload is a sequence start (AAC AudioSpecificConfig, Opus head, ...).
pub fn peek_audio_sequence_start(payload: &Bytes) -> bool {
    match (payload.first(), payload.get(1)) {
        (Some(&first), second) if first >> 4 == 10 => second == Some(&0),
        (Some(&first), _) if first >> 4 == 9 => match first & 0x0F {
            0 => true,
            5 | 7 => AudioTag::parse(payload).is_ok_and(|tag| tag.is_sequence_start()),
            _ => false,
        },
        _ => false,
    }
}

/// Which tracks an audio or video payload carries, as far as picking one track of a
/// multitrack stream goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrackLayout {
    /// No multitrack header: the payload carries track 0 only (legacy and plain Enhanced RTMP
    /// forms, and anything unparseable).
    Single,
    /// A multitrack payload with one track, of this id.
    One(u8),
    /// A multitrack payload with several tracks.
    Many,
}

/// The multitrack packet type of the Enhanced RTMP audio and video headers.
const AUDIO_MULTITRACK: u8 = 5;
const VIDEO_MULTITRACK: u8 = 6;

/// Which tracks an audio or video payload (`tag_type` [`TAG_AUDIO`] or [`TAG_VIDEO`])
/// carries. The multitrack header is read from its first bytes; a ModEx prefix, which moves
/// it, is parsed fully.
///
/// ```
/// use bytes::Bytes;
/// use rtmp_flv::{TAG_VIDEO, TrackLayout, peek_track_layout};
///
/// // A legacy AVC inter frame: track 0.
/// let legacy = Bytes::from_static(&[0x27, 0x01, 0, 0, 0]);
/// assert_eq!(peek_track_layout(TAG_VIDEO, &legacy), TrackLayout::Single);
/// // An inter frame of track 1 in Enhanced RTMP multitrack form: frame type 2, packet type
/// // Multitrack (6); OneTrack with CodedFrames (1); FourCC avc1; track id 1.
/// let track_1 = Bytes::from_static(&[0xA6, 0x01, b'a', b'v', b'c', b'1', 0x01, 0, 0, 0]);
/// assert_eq!(peek_track_layout(TAG_VIDEO, &track_1), TrackLayout::One(1));
/// ```
pub fn peek_track_layout(tag_type: u8, payload: &Bytes) -> TrackLayout {
    let Some(&first) = payload.first() else {
        return TrackLayout::Single;
    };
    let (enhanced, multitrack) = match tag_type {
        TAG_VIDEO => (first & 0x80 != 0, VIDEO_MULTITRACK),
        TAG_AUDIO => (first >> 4 == 9, AUDIO_MULTITRACK),
        _ => return TrackLayout::Single,
    };
    let packet_type = first & 0x0F;
    if !enhanced {
        return TrackLayout::Single;
    }
    if packet_type == multitrack {
        return match (payload.get(1).map(|byte| byte >> 4), payload.get(6)) {
            (Some(0), Some(&track_id)) => TrackLayout::One(track_id),
            (Some(1 | 2), _) => TrackLayout::Many,
            _ => TrackLayout::Single,
        };
    }
    if packet_type != crate::track::MOD_EX {
        return TrackLayout::Single;
    }
    let (layout, first_track) = match tag_type {
        TAG_VIDEO => match VideoTag::parse(payload) {
            Ok(tag) => (tag.multitrack, tag.tracks().first().map(|t| t.track_id)),
            Err(_) => (None, None),
        },
        _ => match AudioTag::parse(payload) {
            Ok(tag) => (tag.multitrack, tag.tracks.first().map(|t| t.track_id)),
            Err(_) => (None, None),
        },
    };
    match (layout, first_track) {
        (Some(crate::MultitrackType::OneTrack), Some(track_id)) => TrackLayout::One(track_id),
        (Some(_), _) => TrackLayout::Many,
        (None, _) => TrackLayout::Single,
    }
}

/// One track's decoder configuration carried by a message: a sequence start, or (audio) a
/// multichannel config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TrackConfig {
    /// [`TAG_AUDIO`] or [`TAG_VIDEO`].
    pub tag_type: u8,
    /// A multichannel config rather than a sequence start.
    pub multichannel: bool,
    /// The track (0 without multitrack).
    pub track_id: u8,
}

/// A set of [`TrackConfig`]s as bits: membership in constant time, whatever the number of
/// tracks a message names.
#[derive(Default)]
struct TrackSet([u64; 24]);

impl TrackSet {
    /// The bit of a track: 512 per tag type (audio, video, other), 256 per multichannel flag.
    fn bit(track: &TrackConfig) -> (usize, u64) {
        let kind = match track.tag_type {
            TAG_AUDIO => 0,
            TAG_VIDEO => 1,
            _ => 2,
        };
        let index =
            kind * 512 + usize::from(track.multichannel) * 256 + usize::from(track.track_id);
        (index / 64, 1 << (index % 64))
    }

    /// Adds a track; whether it was new.
    fn insert(&mut self, track: &TrackConfig) -> bool {
        let (word, mask) = Self::bit(track);
        match self.0.get_mut(word) {
            Some(bits) if *bits & mask == 0 => {
                *bits |= mask;
                true
            }
            _ => false,
        }
    }

    fn contains(&self, track: &TrackConfig) -> bool {
        let (word, mask) = Self::bit(track);
        self.0.get(word).is_some_and(|bits| bits & mask != 0)
    }
}

/// The tracks in the order first named, each once.
fn distinct(mut tracks: Vec<TrackConfig>) -> Vec<TrackConfig> {
    let mut seen = TrackSet::default();
    tracks.retain(|track| seen.insert(track));
    tracks
}

/// The tracks whose decoder configuration an audio or video payload carries (several for a
/// multitrack message), or none for ordinary media. What a server keeps for players that
/// join later, and a publisher sends again after reconnecting. Ordinary frames are told
/// apart from their first bytes; configuration messages, which are rare or small, are parsed.
/// A track named more than once is listed once, so the list holds at most 512 tracks whatever
/// the message.
///
/// ```
/// use bytes::Bytes;
/// use rtmp_flv::{TAG_AUDIO, TAG_VIDEO, TrackConfig, configured_tracks};
///
/// let aac_config = Bytes::from_static(&[0xAF, 0x00, 0x12, 0x10]);
/// let track = TrackConfig { tag_type: TAG_AUDIO, multichannel: false, track_id: 0 };
/// assert_eq!(configured_tracks(TAG_AUDIO, &aac_config), [track]);
/// let inter_frame = Bytes::from_static(&[0x27, 0x01, 0, 0, 0]);
/// assert!(configured_tracks(TAG_VIDEO, &inter_frame).is_empty());
/// ```
pub fn configured_tracks(tag_type: u8, payload: &Bytes) -> Vec<TrackConfig> {
    distinct(configured_tracks_named(tag_type, payload))
}

/// The tracks a configuration message names, as often as it names them.
fn configured_tracks_named(tag_type: u8, payload: &Bytes) -> Vec<TrackConfig> {
    let config = |multichannel, track_id| TrackConfig {
        tag_type,
        multichannel,
        track_id,
    };
    match tag_type {
        TAG_VIDEO => {
            if peek_video(payload).0 != VideoKind::SequenceStart {
                return Vec::new();
            }
            let tracks: Vec<TrackConfig> = VideoTag::parse(payload)
                .map(|tag| {
                    tag.tracks()
                        .iter()
                        .filter(|track| matches!(track.packet, VideoPacket::SequenceStart(_)))
                        .map(|track| config(false, track.track_id))
                        .collect()
                })
                .unwrap_or_default();
            // A sequence start the parser does not know still configures track 0.
            if tracks.is_empty() {
                vec![config(false, 0)]
            } else {
                tracks
            }
        }
        TAG_AUDIO => {
            let sequence_start = peek_audio_sequence_start(payload);
            // Enhanced multichannel config, multitrack and ModEx packets may configure too.
            let may_configure = payload
                .first()
                .is_some_and(|first| first >> 4 == 9 && matches!(first & 0x0F, 4 | 5 | 7));
            if !sequence_start && !may_configure {
                return Vec::new();
            }
            let tracks: Vec<TrackConfig> = AudioTag::parse(payload)
                .map(|tag| {
                    tag.tracks
                        .iter()
                        .filter_map(|track| match track.packet {
                            AudioPacket::SequenceStart(_) => Some(config(false, track.track_id)),
                            AudioPacket::MultichannelConfig(_) => {
                                Some(config(true, track.track_id))
                            }
                            _ => None,
                        })
                        .collect()
                })
                .unwrap_or_default();
            if sequence_start && tracks.is_empty() {
                vec![config(false, 0)]
            } else {
                tracks
            }
        }
        _ => Vec::new(),
    }
}

/// The latest configuration message of each track (see [`configured_tracks`]), for whoever
/// sends them again: a server to a player that joins, a recorder to a new file, a publisher
/// after it reconnects. A message that configures several tracks is kept once, until every
/// one of them is configured by later messages. Keeping a message costs time linear in the
/// tracks it and the kept ones configure.
///
/// ```
/// use bytes::Bytes;
/// use rtmp_flv::{TAG_AUDIO, TrackConfigs, configured_tracks};
///
/// let mut configs = TrackConfigs::default();
/// for config in [[0xAF, 0x00, 0x12, 0x10], [0xAF, 0x00, 0x11, 0x90]] {
///     let config = Bytes::copy_from_slice(&config);
///     configs.set(configured_tracks(TAG_AUDIO, &config), config);
/// }
/// // The second AAC config replaced the first: one track, one config.
/// assert_eq!(configs.iter().collect::<Vec<_>>(), [&Bytes::from_static(&[0xAF, 0x00, 0x11, 0x90])]);
/// ```
#[derive(Debug, Clone)]
pub struct TrackConfigs<T> {
    kept: Vec<(Vec<TrackConfig>, T)>,
}

impl<T> Default for TrackConfigs<T> {
    fn default() -> Self {
        Self { kept: Vec::new() }
    }
}

impl<T> TrackConfigs<T> {
    /// Keeps `message` as the configuration of `tracks`, in place of what configured them
    /// before. Nothing is kept for no track.
    pub fn set(&mut self, tracks: Vec<TrackConfig>, message: T) {
        let tracks = distinct(tracks);
        if tracks.is_empty() {
            return;
        }
        let mut new = TrackSet::default();
        for track in &tracks {
            new.insert(track);
        }
        for (configured, _) in &mut self.kept {
            configured.retain(|track| !new.contains(track));
        }
        self.kept.retain(|(configured, _)| !configured.is_empty());
        self.kept.push((tracks, message));
    }

    /// How many tracks are configured.
    pub fn track_count(&self) -> usize {
        self.kept.iter().map(|(tracks, _)| tracks.len()).sum()
    }

    /// How many messages are kept.
    pub fn len(&self) -> usize {
        self.kept.len()
    }

    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.kept.is_empty()
    }

    /// The messages kept, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.kept.iter().map(|(_, message)| message)
    }

    /// Forgets everything (a new publisher starts afresh).
    pub fn clear(&mut self) {
        self.kept.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_track_ids_cost_linear_time_and_are_kept_once() {
        // A multitrack video sequence start (one codec, many tracks): 100 000 tracks, every
        // one with id 7 or 8, each an AVC config of 5 bytes.
        let mut payload = vec![0x90 | 6, 0x10, b'a', b'v', b'c', b'1'];
        for index in 0..100_000u32 {
            payload.extend_from_slice(&[7 + (index % 2) as u8, 0, 0, 5, 1, 0x64, 0, 0x1F, 0xFF]);
        }
        let payload = Bytes::from(payload);
        let tracks = configured_tracks(TAG_VIDEO, &payload);
        assert_eq!(
            tracks
                .iter()
                .map(|track| track.track_id)
                .collect::<Vec<_>>(),
            [7, 8]
        );
        let mut configs = TrackConfigs::default();
        for round in 0..1000 {
            configs.set(tracks.clone(), round);
            configs.set(vec![tracks[0]; 10_000], round);
        }
        assert_eq!((configs.len(), configs.track_count()), (2, 2));
    }

    #[test]
    fn track_layouts_of_every_form() {
        use crate::{AudioCodec, Codec, Frame, FrameKind, VideoCodec};
        let frame = |codec, track_id, timestamp_offset_nanos| Frame {
            codec,
            track_id,
            kind: FrameKind::Inter,
            dts: 0,
            composition_time: 0,
            timestamp_offset_nanos,
            data: Bytes::from_static(&[0, 0, 0, 1, 0x41]),
        };
        let video = |track, nanos| {
            frame(Codec::Video(VideoCodec::Hevc), track, nanos)
                .to_video_tag(true)
                .and_then(|tag| tag.to_bytes())
                .unwrap()
        };
        let audio = |track, nanos| {
            frame(Codec::Audio(AudioCodec::Opus), track, nanos)
                .to_audio_tag(None)
                .and_then(|tag| tag.to_bytes())
                .unwrap()
        };
        assert_eq!(
            peek_track_layout(TAG_VIDEO, &video(0, 0)),
            TrackLayout::Single
        );
        assert_eq!(
            peek_track_layout(TAG_VIDEO, &video(3, 0)),
            TrackLayout::One(3)
        );
        // A ModEx prefix moves the multitrack header: parsed.
        assert_eq!(
            peek_track_layout(TAG_VIDEO, &video(4, 1000)),
            TrackLayout::One(4)
        );
        assert_eq!(
            peek_track_layout(TAG_AUDIO, &audio(0, 0)),
            TrackLayout::Single
        );
        assert_eq!(
            peek_track_layout(TAG_AUDIO, &audio(2, 0)),
            TrackLayout::One(2)
        );
        assert_eq!(
            peek_track_layout(TAG_AUDIO, &audio(5, 999)),
            TrackLayout::One(5)
        );
        // ManyTracks (1) and ManyTracksManyCodecs (2), whatever follows.
        for layout in [0x11, 0x21] {
            let many = Bytes::copy_from_slice(&[0x96, layout, b'a', b'v', b'c', b'1', 1]);
            assert_eq!(peek_track_layout(TAG_VIDEO, &many), TrackLayout::Many);
        }
        // Short, legacy, script and empty payloads.
        for (tag_type, data) in [
            (TAG_VIDEO, &[0x96, 0x01, b'a'][..]),
            (TAG_AUDIO, &[0xAF, 0x01, 0x21][..]),
            (18, &[0x96, 0x01, b'a', b'v', b'c', b'1', 1][..]),
            (TAG_VIDEO, &[][..]),
        ] {
            let data = Bytes::copy_from_slice(data);
            assert_eq!(peek_track_layout(tag_type, &data), TrackLayout::Single);
        }
    }

    #[test]
    fn legacy_and_enhanced_forms() {
        let cases: [(&[u8], VideoKind, bool); 7] = [
            (&[0x17, 0x00, 0, 0, 0, 1], VideoKind::SequenceStart, false),
            (&[0x17, 0x01, 0, 0, 0], VideoKind::Keyframe, false),
            (&[0x27, 0x01, 0, 0, 0], VideoKind::Inter, false),
            (&[0x17, 0x02, 0, 0, 0], VideoKind::Other, false),
            (
                &[0x90, b'h', b'v', b'c', b'1'],
                VideoKind::SequenceStart,
                true,
            ),
            (&[0x93, b'a', b'v', b'0', b'1'], VideoKind::Keyframe, true),
            (
                &[0xA1, b'h', b'v', b'c', b'1', 0, 0, 0],
                VideoKind::Inter,
                true,
            ),
        ];
        for (data, kind, enhanced) in cases {
            assert_eq!(
                peek_video(&Bytes::copy_from_slice(data)),
                (kind, enhanced),
                "{data:02x?}"
            );
        }
        assert!(peek_audio_sequence_start(&Bytes::from_static(&[
            0xAF, 0x00, 0x12, 0x08
        ])));
        assert!(!peek_audio_sequence_start(&Bytes::from_static(&[
            0xAF, 0x01, 0x21
        ])));
        assert!(peek_audio_sequence_start(&Bytes::from_static(b"\x90Opus")));
        assert!(!peek_audio_sequence_start(&Bytes::from_static(&[
            0x72, 0x55
        ])));
    }
}
