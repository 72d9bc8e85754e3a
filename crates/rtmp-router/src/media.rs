//! The media vocabulary: a published message as every player receives it, chunked once on
//! message stream 1.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use rtmp_chunk::{ChunkedMessage, EncodeError, RawMessage, type_id};
use rtmp_flv::{
    FlvTag, TrackLayout, VideoKind, peek_audio_sequence_start, peek_track_layout, peek_video,
};
use rtmp_session::chunk_stream;

/// What a queued media message costs beyond its bytes: its slot, reference count and
/// bookkeeping.
pub(crate) const OVERHEAD: usize = 64;

/// What a shared media message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    /// Audio; `sequence_start` for a codec configuration.
    Audio {
        /// Whether this is the audio sequence start.
        sequence_start: bool,
    },
    /// Video of the given kind; `enhanced` when in Enhanced RTMP form.
    Video {
        /// Sequence start, keyframe, inter frame or other.
        kind: VideoKind,
        /// Whether the Enhanced RTMP header is used.
        enhanced: bool,
    },
    /// A data message (metadata or other).
    Data,
}

/// Why a message cannot be shared as media.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MediaError {
    /// Only audio (8), video (9) and data (15, 18) messages are media.
    #[error("message type {0} is not audio, video or data")]
    NotMedia(u8),
    /// The message cannot be chunked (a payload over 16 MiB, a chunk size out of range).
    #[error(transparent)]
    Chunk(#[from] EncodeError),
}

/// A message as every player receives it: classified, and chunked once on message stream 1
/// and the chunk stream of its kind (audio, video or data, as `rtmp_session::chunk_stream`
/// numbers them). It can only be built by [`SharedMedia::new`], which sets that addressing, so
/// no router can hand a player media on another message stream:
///
/// ```compile_fail
/// use rtmp_router::{MediaKind, SharedMedia};
/// # fn chunked() -> rtmp_chunk::ChunkedMessage { unimplemented!() }
/// // The fields are private: a message chunked for message stream 2 cannot be wrapped.
/// let media = SharedMedia { kind: MediaKind::Data, chunked: chunked() };
/// ```
#[derive(Debug)]
pub struct SharedMedia {
    kind: MediaKind,
    /// The tracks it carries (multitrack streams).
    tracks: TrackLayout,
    chunked: ChunkedMessage,
    /// When it was made: how far behind the live edge a viewer is.
    made: Instant,
    /// The message as an FLV tag, made for the first viewer that needs it and shared by all.
    flv_tag: OnceLock<Bytes>,
}

/// A shared media message: one allocation, shared by every player that gets it.
pub type Media = Arc<SharedMedia>;

impl SharedMedia {
    /// Shares an audio, video or data message chunked at `chunk_size` (the size players are
    /// told): its message stream becomes 1 and its chunk stream that of its kind, whatever the
    /// message carried; its type, timestamp and payload stay.
    ///
    /// ```
    /// use rtmp_chunk::RawMessage;
    /// use rtmp_router::{MediaKind, SharedMedia};
    ///
    /// // An AVC keyframe, as a publisher sent it on its message stream 7.
    /// let frame = RawMessage::new(4, 40, 9, 7, vec![0x17, 1, 0, 0, 0]);
    /// let media = SharedMedia::new(frame, 4096)?;
    /// assert!(matches!(media.kind(), MediaKind::Video { .. }));
    /// let message = media.message();
    /// assert_eq!((message.stream_id, message.chunk_stream_id), (1, 7));
    /// assert_eq!(message.timestamp, 40);
    /// # Ok::<(), rtmp_router::MediaError>(())
    /// ```
    pub fn new(message: RawMessage, chunk_size: u32) -> Result<Media, MediaError> {
        let (kind, chunk_stream_id) = match message.type_id {
            type_id::AUDIO => (
                MediaKind::Audio {
                    sequence_start: peek_audio_sequence_start(&message.payload),
                },
                chunk_stream::AUDIO,
            ),
            type_id::VIDEO => {
                let (kind, enhanced) = peek_video(&message.payload);
                (MediaKind::Video { kind, enhanced }, chunk_stream::VIDEO)
            }
            type_id::DATA_AMF0 | type_id::DATA_AMF3 => (MediaKind::Data, chunk_stream::STREAM),
            other => return Err(MediaError::NotMedia(other)),
        };
        let tracks = peek_track_layout(message.type_id, &message.payload);
        let message = RawMessage {
            chunk_stream_id,
            stream_id: 1,
            ..message
        };
        let chunked = ChunkedMessage::new(message, chunk_size)?;
        Ok(Arc::new(Self {
            kind,
            tracks,
            chunked,
            made: Instant::now(),
            flv_tag: OnceLock::new(),
        }))
    }

    /// What it is.
    pub fn kind(&self) -> MediaKind {
        self.kind
    }

    /// The tracks it carries: track 0 alone, unless in Enhanced RTMP multitrack form.
    pub fn track_layout(&self) -> TrackLayout {
        self.tracks
    }

    /// The one track it carries, if it carries one: 0 for ordinary media, the track's id for
    /// a multitrack message of one track; `None` for several tracks.
    pub(crate) fn single_track(&self) -> Option<u8> {
        match self.tracks {
            TrackLayout::Single => Some(0),
            TrackLayout::One(track_id) => Some(track_id),
            TrackLayout::Many => None,
        }
    }

    /// The chunked bytes, for players on message stream 1 at the chunk size it was made with.
    pub fn chunked(&self) -> &ChunkedMessage {
        &self.chunked
    }

    /// The message (on message stream 1), taken back out of the chunks: the chunks are the
    /// only copy of the payload held.
    pub fn message(&self) -> RawMessage {
        self.chunked.message()
    }

    /// When the media was made (when the router received it, for a publisher's message).
    pub fn made(&self) -> Instant {
        self.made
    }

    /// The message as an FLV tag followed by its PreviousTagSize, as an FLV file or an
    /// HTTP-FLV stream carries it: made once, for the first viewer that asks, and shared by
    /// every other.
    pub fn flv_tag(&self) -> Bytes {
        self.flv_tag
            .get_or_init(|| {
                let message = self.message();
                let mut tag = BytesMut::new();
                // A message is at most 16 MiB, as a tag's data may be.
                let tag_data = FlvTag::new(message.type_id, message.timestamp, message.payload);
                if tag_data.encode(&mut tag).is_err() {
                    return Bytes::new();
                }
                tag.freeze()
            })
            .clone()
    }

    /// What the media costs in a player's queue or a stream's ring: its chunked bytes and a
    /// small overhead.
    pub(crate) fn cost(&self) -> usize {
        self.chunked.bytes().len() + OVERHEAD
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)] // test code

    use rtmp_chunk::RawMessage;

    use super::{MediaError, MediaKind, SharedMedia};

    #[test]
    fn media_always_goes_on_message_stream_1_and_the_chunk_stream_of_its_kind() {
        for (type_id, chunk_stream) in [(8, 6), (9, 7), (18, 5), (15, 5)] {
            for stream_id in [0, 1, 2, 77] {
                let message = RawMessage::new(3, 10, type_id, stream_id, vec![0xaf, 0, 0x12]);
                let media = SharedMedia::new(message, 128).unwrap();
                let back = media.message();
                assert_eq!((back.stream_id, back.chunk_stream_id), (1, chunk_stream));
                assert_eq!(back.payload.as_ref(), [0xaf, 0, 0x12]);
            }
        }
    }

    #[test]
    fn commands_and_control_messages_are_not_media() {
        for type_id in [1, 4, 5, 17, 20, 22] {
            let message = RawMessage::new(3, 0, type_id, 1, vec![2, 0, 0]);
            assert!(matches!(
                SharedMedia::new(message, 128),
                Err(MediaError::NotMedia(id)) if id == type_id
            ));
        }
        let audio = SharedMedia::new(RawMessage::new(4, 0, 8, 1, vec![0xaf, 0]), 128).unwrap();
        assert_eq!(
            audio.kind(),
            MediaKind::Audio {
                sequence_start: true
            }
        );
    }
}
