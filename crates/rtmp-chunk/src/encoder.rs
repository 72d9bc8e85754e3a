//! Messages to chunks: [`ChunkEncoder`], and [`ChunkedMessage`] for chunking once and sending
//! the same bytes to many peers.

use bytes::{BufMut, Bytes, BytesMut};

use crate::header::{self, EXTENDED_TIMESTAMP, Fmt, MessageHeader};
use crate::message::{
    DEFAULT_CHUNK_SIZE, MAX_CHUNK_SIZE, MAX_CHUNK_STREAM_ID, MAX_MESSAGE_LENGTH, RawMessage,
    type_id,
};
use crate::streams::ChunkStreams;

/// Why a message cannot be chunked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// Chunk stream ids run from 2 to 65599.
    #[error("chunk stream id {0} is outside 2..=65599")]
    InvalidChunkStreamId(u32),
    /// The payload is longer than the 24-bit length field allows.
    #[error("message of {0} bytes is longer than 16 MiB - 1")]
    MessageTooLarge(usize),
    /// A Set Chunk Size outside 1..=0x7FFFFFFF, or one without its 4-byte value.
    #[error("invalid Set Chunk Size message")]
    InvalidChunkSize,
    /// A [`ChunkedMessage`] made for another chunk size than the encoder's.
    #[error("message chunked for size {chunked} sent on a connection with chunk size {current}")]
    ChunkSizeMismatch {
        /// The size the message was chunked with.
        chunked: u32,
        /// The encoder's chunk size.
        current: u32,
    },
}

/// What the encoder remembers about one chunk stream.
#[derive(Debug, Clone, Copy)]
struct OutboundStream {
    timestamp: u32,
    /// The delta of the last fmt 1/2/3 header; `None` after fmt 0, so that a fmt 3 header never
    /// follows a fmt 0 header for a new message (peers read that case differently).
    delta: Option<u32>,
    length: u32,
    type_id: u8,
    stream_id: u32,
}

/// Encodes [`RawMessage`]s into chunks, compressing headers per chunk stream.
///
/// The first message on a chunk stream, a change of message stream, and a timestamp that goes
/// backwards get a fmt 0 header; a change of length or type gets fmt 1; a new delta gets fmt 2;
/// a message like the previous one with the same delta gets fmt 3. Sending a Set Chunk Size
/// through the encoder changes its chunk size for the chunks after it.
#[derive(Debug)]
pub struct ChunkEncoder {
    chunk_size: u32,
    streams: ChunkStreams<OutboundStream>,
}

impl Default for ChunkEncoder {
    fn default() -> Self {
        Self {
            chunk_size: DEFAULT_CHUNK_SIZE,
            streams: ChunkStreams::default(),
        }
    }
}

impl ChunkEncoder {
    /// An encoder with the default chunk size of 128.
    pub fn new() -> Self {
        Self::default()
    }

    /// The chunk size in use.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Appends the chunks of `message` to `dst`, with one reservation for all of them.
    pub fn encode(&mut self, message: &RawMessage, dst: &mut BytesMut) -> Result<(), EncodeError> {
        let new_chunk_size = check(message)?;
        let previous = self.streams.get_mut(message.chunk_stream_id).copied();
        let (fmt, field) = choose_header(previous.as_ref(), message);
        write_chunks(dst, fmt, field, message, self.chunk_size);
        self.record(&Fields::of(message), fmt, field, new_chunk_size);
        Ok(())
    }

    /// Notes that `chunked` was sent by other means (for example a vectored write of
    /// [`ChunkedMessage::bytes`]), so that later headers on its chunk stream are relative to it.
    pub fn record_chunked(&mut self, chunked: &ChunkedMessage) -> Result<(), EncodeError> {
        if chunked.chunk_size != self.chunk_size {
            return Err(EncodeError::ChunkSizeMismatch {
                chunked: chunked.chunk_size,
                current: self.chunk_size,
            });
        }
        let header = &chunked.header;
        self.record(
            &Fields {
                chunk_stream_id: header.chunk_stream_id,
                timestamp: header.timestamp,
                length: chunked.payload_len,
                type_id: header.type_id,
                stream_id: header.stream_id,
            },
            Fmt::Full,
            header.timestamp,
            chunked.new_chunk_size,
        );
        Ok(())
    }

    /// Appends the bytes of `chunked` to `dst` and records it.
    pub fn encode_chunked(
        &mut self,
        chunked: &ChunkedMessage,
        dst: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        self.record_chunked(chunked)?;
        dst.extend_from_slice(&chunked.bytes);
        Ok(())
    }

    fn record(&mut self, fields: &Fields, fmt: Fmt, field: u32, new_chunk_size: Option<u32>) {
        let state = OutboundStream {
            timestamp: fields.timestamp,
            delta: (fmt != Fmt::Full).then_some(field),
            length: fields.length,
            type_id: fields.type_id,
            stream_id: fields.stream_id,
        };
        *self
            .streams
            .get_or_insert_with(fields.chunk_stream_id, || state) = state;
        if let Some(size) = new_chunk_size {
            self.chunk_size = size;
        }
    }
}

/// The header fields of a message the encoder remembers.
struct Fields {
    chunk_stream_id: u32,
    timestamp: u32,
    length: u32,
    type_id: u8,
    stream_id: u32,
}

impl Fields {
    fn of(message: &RawMessage) -> Self {
        Self {
            chunk_stream_id: message.chunk_stream_id,
            timestamp: message.timestamp,
            length: message.payload.len() as u32,
            type_id: message.type_id,
            stream_id: message.stream_id,
        }
    }
}

/// A message chunked once — a fmt 0 header, then fmt 3 continuation chunks — in one shared
/// buffer, so that the same bytes can be written to any number of peers whose encoder uses the
/// same chunk size.
///
/// The payload is held once, inside the chunks: [`message`](Self::message) gives it back as a
/// slice of them when it fits in one chunk, and copies it out of the chunks otherwise.
///
/// ```
/// use rtmp_chunk::{ChunkEncoder, ChunkedMessage, RawMessage};
///
/// let video = RawMessage::new(6, 40, 9, 1, vec![7u8; 1000]);
/// let chunked = ChunkedMessage::new(video.clone(), 128).unwrap();
/// // For each player: write chunked.bytes() (a cheap clone of one buffer), then tell its
/// // encoder, so its next headers on chunk stream 6 are relative to this message.
/// let mut player = ChunkEncoder::new();
/// player.record_chunked(&chunked).unwrap();
/// assert_eq!(chunked.bytes().len(), 12 + 1000 + 7);
/// assert_eq!(chunked.message(), video);
/// ```
#[derive(Debug, Clone)]
pub struct ChunkedMessage {
    /// The message's header fields, with an empty payload.
    header: RawMessage,
    payload_len: u32,
    /// What a Set Chunk Size sets the chunk size to.
    new_chunk_size: Option<u32>,
    chunk_size: u32,
    bytes: Bytes,
}

impl ChunkedMessage {
    /// Chunks `message` for peers receiving with `chunk_size`. One allocation, of the exact size;
    /// the message's own payload is not kept.
    pub fn new(message: RawMessage, chunk_size: u32) -> Result<Self, EncodeError> {
        if !(1..=MAX_CHUNK_SIZE).contains(&chunk_size) {
            return Err(EncodeError::InvalidChunkSize);
        }
        let new_chunk_size = check(&message)?;
        let mut dst = BytesMut::new();
        write_chunks(&mut dst, Fmt::Full, message.timestamp, &message, chunk_size);
        Ok(Self {
            payload_len: message.payload.len() as u32,
            header: RawMessage {
                payload: Bytes::new(),
                ..message
            },
            new_chunk_size,
            chunk_size,
            bytes: dst.freeze(),
        })
    }

    /// The chunks, ready to write.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// The chunk size the message was chunked with.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// The length of the message's payload.
    pub fn payload_len(&self) -> usize {
        self.payload_len as usize
    }

    /// The message's header fields (chunk stream, timestamp, type, message stream) with an
    /// empty payload; [`message`](Self::message) has the payload too.
    pub fn header(&self) -> &RawMessage {
        &self.header
    }

    /// The message. Its payload is a slice of the chunks when it fits in one chunk, and a copy
    /// taken out of them otherwise.
    pub fn message(&self) -> RawMessage {
        let chunk_size = self.chunk_size as usize;
        let len = self.payload_len();
        let extended_len = if self.header.timestamp >= EXTENDED_TIMESTAMP {
            4
        } else {
            0
        };
        let basic_len = header::basic_header_len(self.header.chunk_stream_id);
        let first_header = basic_len + Fmt::Full.message_header_len() + extended_len;
        let payload = if len <= chunk_size {
            self.bytes.slice(first_header.min(self.bytes.len())..)
        } else {
            let mut payload = BytesMut::with_capacity(len);
            let mut rest = self.bytes.get(first_header..).unwrap_or_default();
            let continuation = basic_len + extended_len;
            loop {
                let take = (len - payload.len()).min(chunk_size).min(rest.len());
                let (piece, after) = rest.split_at(take);
                payload.extend_from_slice(piece);
                if payload.len() >= len || after.len() <= continuation {
                    break;
                }
                rest = after.get(continuation..).unwrap_or_default();
            }
            payload.freeze()
        };
        RawMessage {
            payload,
            ..self.header.clone()
        }
    }
}

/// Checks the fields of `message`; returns the new chunk size if it is a Set Chunk Size.
fn check(message: &RawMessage) -> Result<Option<u32>, EncodeError> {
    if !(2..=MAX_CHUNK_STREAM_ID).contains(&message.chunk_stream_id) {
        return Err(EncodeError::InvalidChunkStreamId(message.chunk_stream_id));
    }
    if message.payload.len() > MAX_MESSAGE_LENGTH {
        return Err(EncodeError::MessageTooLarge(message.payload.len()));
    }
    if message.type_id != type_id::SET_CHUNK_SIZE {
        return Ok(None);
    }
    match message.control_value() {
        Some(size) if (1..=MAX_CHUNK_SIZE).contains(&size) => Ok(Some(size)),
        _ => Err(EncodeError::InvalidChunkSize),
    }
}

/// The header format for `message` and the value of its timestamp field (absolute for fmt 0,
/// a delta otherwise).
fn choose_header(previous: Option<&OutboundStream>, message: &RawMessage) -> (Fmt, u32) {
    let Some(previous) = previous else {
        return (Fmt::Full, message.timestamp);
    };
    if previous.stream_id != message.stream_id || message.timestamp < previous.timestamp {
        return (Fmt::Full, message.timestamp);
    }
    let delta = message.timestamp - previous.timestamp;
    let same_shape =
        previous.length as usize == message.payload.len() && previous.type_id == message.type_id;
    match (same_shape, previous.delta) {
        (true, Some(previous_delta)) if previous_delta == delta => (Fmt::Continuation, delta),
        (true, _) => (Fmt::DeltaOnly, delta),
        (false, _) => (Fmt::SameStream, delta),
    }
}

/// Writes `message` as chunks of `chunk_size`: the first with header `fmt` and timestamp field
/// `field`, the rest fmt 3. Every chunk repeats an extended timestamp, as ffmpeg, librtmp and
/// Flash expect.
fn write_chunks(dst: &mut BytesMut, fmt: Fmt, field: u32, message: &RawMessage, chunk_size: u32) {
    let payload = &message.payload[..];
    let chunk_size = chunk_size as usize;
    let basic_len = header::basic_header_len(message.chunk_stream_id);
    let extended = field >= EXTENDED_TIMESTAMP;
    let extended_len = if extended { 4 } else { 0 };
    let chunks = payload.len().div_ceil(chunk_size).max(1);
    dst.reserve(fmt.message_header_len() + payload.len() + chunks * (basic_len + extended_len));
    let fields = MessageHeader {
        timestamp: field,
        length: payload.len() as u32,
        type_id: message.type_id,
        stream_id: message.stream_id,
    };
    let mut pieces = payload.chunks(chunk_size);
    header::put_basic_header(dst, fmt, message.chunk_stream_id);
    header::put_message_header(dst, fmt, field, &fields);
    if extended {
        dst.put_u32(field);
    }
    dst.put_slice(pieces.next().unwrap_or_default());
    for piece in pieces {
        header::put_basic_header(dst, Fmt::Continuation, message.chunk_stream_id);
        if extended {
            dst.put_u32(field);
        }
        dst.put_slice(piece);
    }
}
