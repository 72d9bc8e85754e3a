//! What each player receives of a stream's codecs, decided from what it announced in connect
//! (Enhanced RTMP v2 negotiation).
//!
//! Legacy-form media (H.264 as CodecID 7, AAC as SoundFormat 10, and the other legacy ids)
//! goes to every player: any RTMP player takes it. Enhanced RTMP media goes whole to a player
//! that listed each of its codecs (and multitrack, when it has several tracks). Otherwise the
//! player gets its default track converted: to the legacy form where the codec has one (H.264,
//! AAC), or in single-track Enhanced RTMP form where it listed the codec; and nothing where
//! neither holds, and it is told once, in an onStatus. Conversions are made once per message,
//! whatever the number of players who need them.

use std::sync::Arc;

use rtmp_chunk::{RawMessage, type_id};
use rtmp_flv::{AudioCodec, AudioTag, Codec, Frame, LegacyAudioFormat, VideoCodec, VideoTag};
use rtmp_session::{Capabilities, caps_ex};

use crate::media::{Media, MediaKind, SharedMedia};

/// Which codecs a player receives, and in what form.
///
/// Legacy-form media (H.264 as CodecID 7, AAC as SoundFormat 10, and the other legacy ids)
/// goes to every player. Under [`Announced`](Self::Announced), Enhanced RTMP media goes whole
/// to a player that listed each of its codecs (and multitrack, when it has several tracks);
/// otherwise the player gets its default track converted, to the legacy form where the codec
/// has one (H.264, AAC) or in single-track Enhanced RTMP form where it listed the codec, and
/// nothing where neither holds: it is told once, in an onStatus. Conversions are made once
/// per message, whatever the number of players who need them.
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
    /// The default track, as a legacy tag.
    Legacy,
    /// The default track, as a single-track Enhanced RTMP tag.
    Single,
    /// Nothing: the codec has no form the player takes.
    Skip(Codec),
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
    legacy: Option<Option<Media>>,
    single: Option<Option<Media>>,
}

/// What one player gets of a message.
pub(crate) enum Delivery {
    /// This media (the message itself, or a conversion).
    Media(Media),
    /// Nothing: the player does not take `codec`.
    Skip(Codec),
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
            legacy: None,
            single: None,
        }
    }

    /// The message as published.
    pub fn media(&self) -> &'a Media {
        self.media
    }

    /// What a player under `policy` gets.
    pub(crate) fn for_player(&mut self, policy: &CodecPolicy) -> Delivery {
        let CodecPolicy::Announced(announced) = policy else {
            return Delivery::Media(self.media.clone());
        };
        let form = self.form(announced);
        let converted = match form {
            Form::Whole => return Delivery::Media(self.media.clone()),
            Form::Skip(codec) => return Delivery::Skip(codec),
            Form::Legacy => self.converted(true),
            Form::Single => self.converted(false),
        };
        match converted {
            Some(media) => Delivery::Media(media),
            None => Delivery::Media(self.media.clone()),
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

    fn form(&mut self, announced: &Capabilities) -> Form {
        if !self.enhanced() {
            return Form::Whole;
        }
        let multitrack = announced.caps_ex & caps_ex::MULTITRACK != 0;
        let listed = |codec: Codec| {
            let (video, fourcc) = match codec {
                Codec::Video(codec) => (true, codec.fourcc()),
                Codec::Audio(codec) => (false, codec.fourcc()),
            };
            match fourcc.as_ref().map(|fourcc| std::str::from_utf8(fourcc)) {
                Some(Ok(fourcc)) if video => announced.has_video(fourcc),
                Some(Ok(fourcc)) => announced.has_audio(fourcc),
                _ => false,
            }
        };
        let (frames, codecs) = self.frames();
        let Some(first) = frames.first() else {
            // Metadata packets (colorInfo), command frames, multichannel configs: nothing a
            // decoder needs, and only for players that listed the codec.
            return match codecs.iter().find(|codec| !listed(**codec)) {
                Some(codec) => Form::Skip(*codec),
                None => Form::Whole,
            };
        };
        let several = frames.iter().any(|frame| frame.track_id != first.track_id);
        if frames.iter().all(|frame| listed(frame.codec)) && (!several || multitrack) {
            return Form::Whole;
        }
        let default = first.codec;
        if has_legacy_form(default) {
            Form::Legacy
        } else if listed(default) {
            Form::Single
        } else {
            Form::Skip(default)
        }
    }

    /// The default track's frames as one message: legacy or single-track Enhanced RTMP.
    fn converted(&mut self, legacy: bool) -> Option<Media> {
        let slot = if legacy { &self.legacy } else { &self.single };
        if let Some(done) = slot {
            return done.clone();
        }
        let message = self.message().clone();
        let chunk_size = self.chunk_size;
        let (frames, _) = self.frames();
        let track = frames.first().map(|frame| frame.track_id);
        let payload = frames
            .iter()
            .filter(|frame| Some(frame.track_id) == track)
            .map(|frame| {
                // The legacy form has no room for ModEx offsets.
                let offset = if legacy {
                    0
                } else {
                    frame.timestamp_offset_nanos
                };
                Frame {
                    timestamp_offset_nanos: offset,
                    ..frame.clone()
                }
            })
            .map(|frame| match frame.codec {
                Codec::Video(_) => frame.to_video_tag(!legacy).and_then(|tag| tag.to_bytes()),
                Codec::Audio(_) => frame
                    .to_audio_tag(legacy.then_some(LegacyAudioFormat::AAC))
                    .and_then(|tag| tag.to_bytes()),
            })
            .next()
            .and_then(Result::ok);
        let converted = payload.and_then(|payload| {
            SharedMedia::new(RawMessage { payload, ..message }, chunk_size).ok()
        });
        if legacy {
            self.legacy = Some(converted.clone());
        } else {
            self.single = Some(converted.clone());
        }
        converted
    }
}

/// Whether a codec has a legacy RTMP form every player takes.
fn has_legacy_form(codec: Codec) -> bool {
    matches!(
        codec,
        Codec::Video(VideoCodec::Avc) | Codec::Audio(AudioCodec::Aac)
    )
}
