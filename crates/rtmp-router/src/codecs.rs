//! What each player receives of a stream's codecs and tracks, decided from what it announced
//! in connect (Enhanced RTMP v2 negotiation) and the [`Rendition`] it plays.
//!
//! A player of one rendition gets its video and audio track as a single-track stream: legacy
//! tags where the codec has a legacy form (H.264, AAC), single-track Enhanced RTMP tags
//! otherwise, and nothing of other tracks. Legacy-form media (H.264 as CodecID 7, AAC as
//! SoundFormat 10, and the other legacy ids) goes to every player: any RTMP player takes it.
//! Enhanced RTMP media goes whole to a player that listed each of its codecs; otherwise the
//! player gets it converted to the legacy form where the codec has one, and nothing where it
//! has none, and it is told once, in an onStatus. Conversions are made once per message and
//! form, whatever the number of players who need them.

use std::sync::Arc;

use rtmp_chunk::{RawMessage, type_id};
use rtmp_flv::{
    AudioCodec, AudioTag, Codec, Frame, LegacyAudioFormat, TrackLayout, VideoCodec, VideoTag,
};
use rtmp_session::{Capabilities, caps_ex};

use crate::media::{Media, MediaKind, SharedMedia};
use crate::rendition::Rendition;

/// Which codecs a player receives, and in what form.
///
/// Legacy-form media (H.264 as CodecID 7, AAC as SoundFormat 10, and the other legacy ids)
/// goes to every player. Under [`Announced`](Self::Announced), Enhanced RTMP media goes whole
/// to a player that listed each of its codecs; otherwise the player gets it converted to the
/// legacy form where the codec has one (H.264, AAC), and nothing where neither holds: it is
/// told once, in an onStatus. A player that did not announce multitrack plays one
/// [`Rendition`] of a multitrack stream, whatever it asked. Conversions are made once per
/// message, whatever the number of players who need them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum CodecPolicy {
    /// Everything as published: a player that announced nothing (ffmpeg 6.1 and later decode
    /// Enhanced RTMP, yet announce nothing when they play).
    #[default]
    AsPublished,
    /// Legacy codecs, and the Enhanced RTMP codecs (and multitrack) the player listed, as
    /// described above. A player that announced nothing gets an empty list
    /// by a server that gives such players legacy codecs only (`rtmp-server`'s
    /// `ServerConfig::legacy_for_unannounced`).
    Announced(Arc<Capabilities>),
}

impl CodecPolicy {
    /// The policy of legacy-only players: no Enhanced RTMP codec.
    pub fn legacy_only() -> Self {
        Self::Announced(Arc::new(Capabilities::default()))
    }
}

/// What a restricted player gets of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Whole,
    /// One track (`track`), as a legacy tag (`legacy`) or a single-track Enhanced RTMP tag.
    Track {
        track: u8,
        legacy: bool,
    },
    /// Nothing: the codec has no form the player takes.
    Skip(Codec),
    /// Nothing: the message carries no track of the player's rendition.
    Pass,
}

/// One message, with the conversions made of it so far: offer it to every player of a stream
/// through [`PlayerSlot::offer`](crate::PlayerSlot::offer), and each conversion is made once.
pub struct Conversions<'a> {
    media: &'a Media,
    chunk_size: u32,
    /// The message, taken out of its chunks on first need.
    message: Option<RawMessage>,
    /// The frames of an Enhanced RTMP message and the codecs of its tracks (parsed on first
    /// need).
    frames: Option<(Vec<Frame>, Vec<Codec>)>,
    /// The conversions made: one track, legacy or not, and what it gave.
    made: Vec<(u8, bool, Option<Media>)>,
}

/// What one player gets of a message.
pub(crate) enum Delivery {
    /// This media (the message itself, or a conversion).
    Media(Media),
    /// Nothing: the player does not take `codec`.
    Skip(Codec),
    /// Nothing: the message is not of the player's rendition.
    Pass,
}

impl<'a> Conversions<'a> {
    /// The conversions of `media` for players at `chunk_size`, none made yet: each is made
    /// when the first player that needs it is offered the message.
    pub fn new(media: &'a Media, chunk_size: u32) -> Self {
        Self {
            media,
            chunk_size,
            message: None,
            frames: None,
            made: Vec::new(),
        }
    }

    /// The message as published.
    pub fn media(&self) -> &'a Media {
        self.media
    }

    /// What a player of `rendition` that takes codecs as published gets of the message:
    /// the message, its rendition's track converted, or nothing. What the hub appends to the
    /// ring of each rendition its players read.
    ///
    /// ```
    /// use rtmp_chunk::RawMessage;
    /// use rtmp_router::{Conversions, Rendition, SharedMedia};
    ///
    /// // An AVC inter frame of video track 1, in Enhanced RTMP multitrack form.
    /// let payload = vec![0xA6, 0x01, b'a', b'v', b'c', b'1', 1, 0, 0, 0, 0, 0, 0, 1, 0x41];
    /// let media = SharedMedia::new(RawMessage::new(7, 40, 9, 1, payload), 4096)?;
    /// let mut conversions = Conversions::new(&media, 4096);
    /// // Track 0's players get nothing of it; track 1's get a legacy AVC inter frame.
    /// assert!(conversions.for_rendition(Rendition::first()).is_none());
    /// let legacy = conversions.for_rendition(Rendition::One { video: 1, audio: 0 }).unwrap();
    /// assert_eq!(legacy.message().payload[..2], [0x27, 0x01]);
    /// // A player of every track gets it as published.
    /// assert!(conversions.for_rendition(Rendition::All).is_some());
    /// # Ok::<(), rtmp_router::MediaError>(())
    /// ```
    pub fn for_rendition(&mut self, rendition: Rendition) -> Option<Media> {
        match self.for_player(&CodecPolicy::AsPublished, rendition) {
            Delivery::Media(media) => Some(media),
            Delivery::Skip(_) | Delivery::Pass => None,
        }
    }

    /// What a player under `policy` playing `rendition` gets. A player that did not announce
    /// multitrack (under [`CodecPolicy::Announced`]) gets the first rendition whatever it
    /// asked.
    pub(crate) fn for_player(&mut self, policy: &CodecPolicy, rendition: Rendition) -> Delivery {
        let rendition = effective_rendition(policy, rendition);
        let form = match rendition {
            Rendition::All => match policy {
                CodecPolicy::AsPublished => Form::Whole,
                CodecPolicy::Announced(announced) => self.form_of_all(announced),
            },
            Rendition::One { video, audio } => match self.media.kind() {
                MediaKind::Data => Form::Whole,
                MediaKind::Video { .. } => self.form_of_track(policy, video),
                MediaKind::Audio { .. } => self.form_of_track(policy, audio),
            },
        };
        match form {
            Form::Whole => Delivery::Media(self.media.clone()),
            Form::Skip(codec) => Delivery::Skip(codec),
            Form::Pass => Delivery::Pass,
            Form::Track { track, legacy } => match self.converted(track, legacy) {
                Some(media) => Delivery::Media(media),
                None => Delivery::Pass,
            },
        }
    }

    fn enhanced(&mut self) -> bool {
        match self.media.kind() {
            MediaKind::Video { enhanced, .. } => enhanced,
            // Audio is small: its payload is at hand.
            MediaKind::Audio { .. } => self
                .message()
                .payload
                .first()
                .is_some_and(|first| first >> 4 == 9),
            MediaKind::Data => false,
        }
    }

    fn message(&mut self) -> &RawMessage {
        self.message.get_or_insert_with(|| self.media.message())
    }

    /// The frames of the message, and the codecs of all its tracks (metadata packets
    /// included, which give no frame).
    fn frames(&mut self) -> (&[Frame], &[Codec]) {
        if self.frames.is_none() {
            let message = self.message().clone();
            let (frames, codecs) = match message.type_id {
                type_id::VIDEO => VideoTag::parse(&message.payload)
                    .map(|tag| {
                        let codecs = tag.tracks().iter().map(|t| Codec::Video(t.codec)).collect();
                        (Frame::from_video(&tag, message.timestamp), codecs)
                    })
                    .unwrap_or_default(),
                type_id::AUDIO => AudioTag::parse(&message.payload)
                    .map(|tag| {
                        let codecs = tag.tracks.iter().map(|t| Codec::Audio(t.codec)).collect();
                        (Frame::from_audio(&tag, message.timestamp), codecs)
                    })
                    .unwrap_or_default(),
                _ => Default::default(),
            };
            self.frames = Some((frames, codecs));
        }
        self.frames
            .as_ref()
            .map(|(frames, codecs)| (&frames[..], &codecs[..]))
            .unwrap_or_default()
    }

    /// The form of the message for a player of every track that listed what it takes.
    fn form_of_all(&mut self, announced: &Capabilities) -> Form {
        if !self.enhanced() {
            return Form::Whole;
        }
        if self.media.track_layout() == TrackLayout::Single {
            return self.form_of_single(announced);
        }
        let (_, codecs) = self.frames();
        match codecs.iter().find(|codec| !listed(announced, **codec)) {
            Some(codec) => Form::Skip(*codec),
            None => Form::Whole,
        }
    }

    /// The form of the message for a player of `track` (of the message's kind).
    fn form_of_track(&mut self, policy: &CodecPolicy, track: u8) -> Form {
        match self.media.track_layout() {
            TrackLayout::Single if track != 0 => return Form::Pass,
            TrackLayout::Single => {
                return match policy {
                    CodecPolicy::AsPublished => Form::Whole,
                    CodecPolicy::Announced(announced) if self.enhanced() => {
                        self.form_of_single(announced)
                    }
                    CodecPolicy::Announced(_) => Form::Whole,
                };
            }
            TrackLayout::One(id) if id != track => return Form::Pass,
            TrackLayout::One(_) | TrackLayout::Many => {}
        }
        // The track, out of its multitrack message.
        let (frames, _) = self.frames();
        let Some(codec) = frames
            .iter()
            .find(|frame| frame.track_id == track)
            .map(|frame| frame.codec)
        else {
            // Metadata packets and other tracks: nothing a single-track player needs.
            return Form::Pass;
        };
        let taken = match policy {
            CodecPolicy::AsPublished => true,
            CodecPolicy::Announced(announced) => listed(announced, codec),
        };
        if has_legacy_form(codec) {
            Form::Track {
                track,
                legacy: true,
            }
        } else if taken {
            Form::Track {
                track,
                legacy: false,
            }
        } else {
            Form::Skip(codec)
        }
    }

    /// The form of an Enhanced RTMP message of track 0 without multitrack, for a player that
    /// listed what it takes.
    fn form_of_single(&mut self, announced: &Capabilities) -> Form {
        let (frames, codecs) = self.frames();
        let Some(first) = frames.first() else {
            // Metadata packets (colorInfo), command frames, multichannel configs: nothing a
            // decoder needs, and only for players that listed the codec.
            return match codecs.iter().find(|codec| !listed(announced, **codec)) {
                Some(codec) => Form::Skip(*codec),
                None => Form::Whole,
            };
        };
        let codec = first.codec;
        if listed(announced, codec) {
            Form::Whole
        } else if has_legacy_form(codec) {
            Form::Track {
                track: 0,
                legacy: true,
            }
        } else {
            Form::Skip(codec)
        }
    }

    /// The frame of `track` as a single-track message of track 0: legacy or Enhanced RTMP.
    fn converted(&mut self, track: u8, legacy: bool) -> Option<Media> {
        if let Some((_, _, made)) = self
            .made
            .iter()
            .find(|(made_track, made_legacy, _)| (*made_track, *made_legacy) == (track, legacy))
        {
            return made.clone();
        }
        let message = self.message().clone();
        let chunk_size = self.chunk_size;
        let (frames, _) = self.frames();
        let payload = frames
            .iter()
            .find(|frame| frame.track_id == track)
            .map(|frame| Frame {
                track_id: 0,
                // The legacy form has no room for ModEx offsets.
                timestamp_offset_nanos: if legacy {
                    0
                } else {
                    frame.timestamp_offset_nanos
                },
                ..frame.clone()
            })
            .map(|frame| match frame.codec {
                Codec::Video(_) => frame.to_video_tag(!legacy).and_then(|tag| tag.to_bytes()),
                Codec::Audio(_) => frame
                    .to_audio_tag(legacy.then_some(LegacyAudioFormat::AAC))
                    .and_then(|tag| tag.to_bytes()),
            })
            .and_then(Result::ok);
        let converted = payload.and_then(|payload| {
            SharedMedia::new(RawMessage { payload, ..message }, chunk_size).ok()
        });
        self.made.push((track, legacy, converted.clone()));
        converted
    }
}

/// The rendition a player under `policy` gets when it asks for `rendition`: a player that did
/// not announce multitrack gets the first rendition rather than every track.
pub(crate) fn effective_rendition(policy: &CodecPolicy, rendition: Rendition) -> Rendition {
    match (rendition, policy) {
        (Rendition::All, CodecPolicy::Announced(announced))
            if announced.caps_ex & caps_ex::MULTITRACK == 0 =>
        {
            Rendition::first()
        }
        (rendition, _) => rendition,
    }
}

/// Whether the player listed `codec` in its connect.
fn listed(announced: &Capabilities, codec: Codec) -> bool {
    let (video, fourcc) = match codec {
        Codec::Video(codec) => (true, codec.fourcc()),
        Codec::Audio(codec) => (false, codec.fourcc()),
    };
    match fourcc.as_ref().map(|fourcc| std::str::from_utf8(fourcc)) {
        Some(Ok(fourcc)) if video => announced.has_video(fourcc),
        Some(Ok(fourcc)) => announced.has_audio(fourcc),
        _ => false,
    }
}

/// Whether a codec has a legacy RTMP form every player takes.
fn has_legacy_form(codec: Codec) -> bool {
    matches!(
        codec,
        Codec::Video(VideoCodec::Avc) | Codec::Audio(AudioCodec::Aac)
    )
}
