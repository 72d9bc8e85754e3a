//! Chunks to messages: [`ChunkDecoder`].

use bytes::{Buf, BytesMut};

use crate::budget::MemoryBudget;
use crate::header::{self, EXTENDED_TIMESTAMP, Fmt};
use crate::message::{DEFAULT_CHUNK_SIZE, MAX_CHUNK_SIZE, MAX_MESSAGE_LENGTH, RawMessage, type_id};
use crate::streams::ChunkStreams;

/// The most read-buffer capacity reserved ahead for an incomplete chunk.
const RESERVE_HINT_LIMIT: usize = 64 << 10;

/// Limits that keep a hostile peer from making the decoder hold unbounded memory.
///
/// Every limit is checked before the memory it guards is allocated; going over one is a
/// [`DecodeError`] and the connection should be closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecoderConfig {
    /// The largest message accepted (default 8 MiB; the wire format allows 16 MiB - 1).
    pub max_message_size: usize,
    /// The most payload bytes held in unfinished messages, all chunk streams together
    /// (default 16 MiB). A multi-chunk message is counted at its full length when it starts.
    pub max_partial_bytes: usize,
    /// The most chunk streams with an unfinished message at once (default 16).
    pub max_partial_messages: usize,
    /// The most chunk streams the peer may use over the connection (default 64; real peers use
    /// fewer than ten).
    pub max_chunk_streams: usize,
}

impl Default for DecoderConfig {
    fn default() -> Self {
        Self {
            max_message_size: 8 << 20,
            max_partial_bytes: 16 << 20,
            max_partial_messages: 16,
            max_chunk_streams: 64,
        }
    }
}

/// Why the chunk stream cannot be decoded. The connection should be closed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// A fmt 1, 2 or 3 chunk on a chunk stream that never had a fmt 0 header.
    #[error("chunk stream {chunk_stream_id} starts with a fmt {fmt} header instead of fmt 0")]
    MissingFirstHeader {
        /// The chunk stream.
        chunk_stream_id: u32,
        /// The header format received.
        fmt: u8,
    },
    /// A fmt 0, 1 or 2 chunk while a message on the same chunk stream is unfinished.
    #[error("fmt {fmt} header on chunk stream {chunk_stream_id} inside an unfinished message")]
    HeaderInsideMessage {
        /// The chunk stream.
        chunk_stream_id: u32,
        /// The header format received.
        fmt: u8,
    },
    /// A message longer than [`DecoderConfig::max_message_size`].
    #[error(
        "message of {length} bytes on chunk stream {chunk_stream_id} exceeds the limit of {limit}"
    )]
    MessageTooLarge {
        /// The chunk stream.
        chunk_stream_id: u32,
        /// The length the header claimed.
        length: usize,
        /// The limit.
        limit: usize,
    },
    /// Unfinished messages would hold more than [`DecoderConfig::max_partial_bytes`].
    #[error("unfinished messages would hold more than {limit} bytes")]
    TooManyPartialBytes {
        /// The limit.
        limit: usize,
    },
    /// The [`MemoryBudget`](crate::MemoryBudget) shared with other decoders has no room for a
    /// new unfinished message of this length.
    #[error("no room in the shared budget of {limit} bytes for a message of {length} bytes")]
    BudgetExhausted {
        /// The length the header claimed.
        length: usize,
        /// The shared limit.
        limit: usize,
    },
    /// More unfinished messages than [`DecoderConfig::max_partial_messages`].
    #[error("more than {limit} chunk streams with an unfinished message")]
    TooManyPartialMessages {
        /// The limit.
        limit: usize,
    },
    /// More chunk streams than [`DecoderConfig::max_chunk_streams`].
    #[error("more than {limit} chunk streams")]
    TooManyChunkStreams {
        /// The limit.
        limit: usize,
    },
    /// A Set Chunk Size outside 1..=0x7FFFFFFF.
    #[error("invalid chunk size {0}")]
    InvalidChunkSize(u32),
    /// A Set Chunk Size, Abort or Window Acknowledgement Size message shorter than 4 bytes.
    #[error("protocol control message of type {type_id} has {length} bytes, expected 4")]
    ShortControlMessage {
        /// The message type id.
        type_id: u8,
        /// Its length.
        length: usize,
    },
}

/// The header fields a chunk stream remembers for the chunks that omit them.
#[derive(Debug, Default, Clone, Copy)]
struct HeaderState {
    /// Absolute timestamp of the current (or last) message.
    timestamp: u32,
    /// The delta a fmt 3 header starting a new message adds. After a fmt 0 header this is the
    /// header's timestamp field, as ffmpeg and librtmp read it.
    delta: u32,
    length: u32,
    type_id: u8,
    stream_id: u32,
    /// The extended timestamp field of the last fmt 0/1/2 header, if it had one: fmt 3 chunks
    /// that follow are expected to repeat it.
    extended: Option<u32>,
}

/// What the decoder remembers about one chunk stream.
#[derive(Debug, Default)]
struct InboundStream {
    header: HeaderState,
    /// Payload received so far of an unfinished message.
    partial: BytesMut,
    /// Payload bytes still to come; zero when no message is unfinished.
    remaining: u32,
}

/// Decodes a chunk stream into whole [`RawMessage`]s.
///
/// Sans-IO: [`decode`](Self::decode) takes a buffer of received bytes and consumes whole
/// chunks from it. A message that arrives in one chunk is a zero-copy slice of that buffer; one
/// split over several chunks is copied once into a buffer of its exact length.
///
/// The decoder applies the protocol control messages that change how it reads, as soon as each
/// is complete, and still returns them: Set Chunk Size (for the next chunk), Abort Message
/// (drops the partial message) and Window Acknowledgement Size (see
/// [`take_acknowledgement`](Self::take_acknowledgement)).
///
/// Choices where peers disagree:
/// - A fmt 3 chunk that starts a new message right after a fmt 0 header adds the fmt 0 header's
///   timestamp field as the delta, as ffmpeg and librtmp do.
/// - After a header with an extended timestamp, a fmt 3 chunk is expected to repeat the 4-byte
///   field; when the next 4 bytes differ from it, the peer is taken to have omitted it. The
///   decision waits until those 4 bytes have arrived.
#[derive(Debug)]
pub struct ChunkDecoder {
    config: DecoderConfig,
    chunk_size: u32,
    streams: ChunkStreams<InboundStream>,
    partial_bytes: usize,
    partial_messages: usize,
    /// Where `partial_bytes` are also counted, with other decoders.
    budget: Option<Charge>,
    bytes_received: u64,
    ack_window: u32,
    unacknowledged: u64,
}

impl Default for ChunkDecoder {
    fn default() -> Self {
        Self::new(DecoderConfig::default())
    }
}

/// A decoder's share of a [`MemoryBudget`]: what it holds beyond `free_bytes`.
#[derive(Debug)]
struct Charge {
    budget: MemoryBudget,
    free_bytes: usize,
    /// What the budget holds for this decoder now.
    charged: usize,
}

impl Charge {
    /// Takes or gives back so that the budget holds what `partial_bytes` need; false (and
    /// nothing changed) when the budget has no room.
    fn set(&mut self, partial_bytes: usize) -> bool {
        let due = partial_bytes.saturating_sub(self.free_bytes);
        if due > self.charged {
            if !self.budget.try_take(due - self.charged) {
                return false;
            }
        } else {
            self.budget.give_back(self.charged - due);
        }
        self.charged = due;
        true
    }
}

/// A parsed chunk header, before anything is committed.
struct Chunk {
    chunk_stream_id: u32,
    /// Header bytes (basic, message, extended).
    header_len: usize,
    /// Payload bytes in this chunk.
    payload_len: usize,
    /// Header fields of a new message; `None` for a continuation.
    starts: Option<HeaderState>,
}

impl ChunkDecoder {
    /// A decoder with the given limits and the default chunk size of 128.
    pub fn new(config: DecoderConfig) -> Self {
        Self {
            config,
            chunk_size: DEFAULT_CHUNK_SIZE,
            streams: ChunkStreams::default(),
            partial_bytes: 0,
            partial_messages: 0,
            budget: None,
            bytes_received: 0,
            ack_window: 0,
            unacknowledged: 0,
        }
    }

    /// A decoder like [`new`](Self::new) whose unfinished messages are also counted in
    /// `budget`, shared with other decoders, beyond the first `free_bytes` it holds: a message
    /// that would take the budget past its limit is refused with
    /// [`DecodeError::BudgetExhausted`] before anything is allocated. Ordinary messages (under
    /// `free_bytes`) never touch the budget, so peers holding large messages cannot starve
    /// the others of it. What the decoder holds goes back to the budget as messages complete
    /// or abort, and when it is dropped.
    ///
    /// ```
    /// use rtmp_chunk::{ChunkDecoder, DecodeError, DecoderConfig, MemoryBudget};
    ///
    /// let budget = MemoryBudget::new(80_000);
    /// let config = DecoderConfig::default();
    /// let mut first = ChunkDecoder::with_budget(config.clone(), budget.clone(), 10_000);
    /// let mut second = ChunkDecoder::with_budget(config, budget.clone(), 10_000);
    /// // A fmt 0 chunk of a 60 000-byte video message: the first 128 bytes arrive.
    /// let mut start = vec![0x06, 0, 0, 0, 0x00, 0xEA, 0x60, 9, 1, 0, 0, 0];
    /// start.extend_from_slice(&[0; 128]);
    /// assert!(first.decode(&mut start.as_slice().into()).unwrap().is_none());
    /// assert_eq!(budget.used(), 50_000);
    /// // The same from a second connection would pass the shared limit (50 000 more).
    /// let refused = second.decode(&mut start.as_slice().into());
    /// assert!(matches!(refused, Err(DecodeError::BudgetExhausted { .. })));
    /// drop(first);
    /// assert_eq!(budget.used(), 0);
    /// ```
    pub fn with_budget(config: DecoderConfig, budget: MemoryBudget, free_bytes: usize) -> Self {
        let mut decoder = Self::new(config);
        decoder.budget = Some(Charge {
            budget,
            free_bytes,
            charged: 0,
        });
        decoder
    }

    /// Brings what the shared budget holds for this decoder in line with `partial_bytes`;
    /// false (and nothing changed) when the budget has no room.
    fn charge(budget: &mut Option<Charge>, partial_bytes: usize) -> bool {
        budget
            .as_mut()
            .is_none_or(|charge| charge.set(partial_bytes))
    }

    /// Replaces the limits, for example to allow larger messages once a peer has been
    /// accepted. Unfinished messages already held stay; the new limits apply to what follows.
    pub fn set_limits(&mut self, config: DecoderConfig) {
        self.config = config;
    }

    /// The limits in force.
    pub fn limits(&self) -> &DecoderConfig {
        &self.config
    }

    /// The chunk size the peer sends with.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Sets the incoming chunk size, as a received Set Chunk Size does.
    pub fn set_chunk_size(&mut self, size: u32) -> Result<(), DecodeError> {
        if !(1..=MAX_CHUNK_SIZE).contains(&size) {
            return Err(DecodeError::InvalidChunkSize(size));
        }
        self.chunk_size = size;
        Ok(())
    }

    /// Total bytes of chunks consumed so far.
    pub fn bytes_received(&self) -> u64 {
        self.bytes_received
    }

    /// Sets the acknowledgement window, as a received Window Acknowledgement Size does.
    pub fn set_ack_window(&mut self, window: u32) {
        self.ack_window = window;
    }

    /// The sequence number to send in an Acknowledgement, once a window's worth of bytes has
    /// arrived since the last one; `None` before that or when no window is set. The sequence
    /// number is the count of bytes received, modulo 2^32.
    pub fn take_acknowledgement(&mut self) -> Option<u32> {
        if self.ack_window == 0 || self.unacknowledged < u64::from(self.ack_window) {
            return None;
        }
        self.unacknowledged = 0;
        Some((self.bytes_received & 0xFFFF_FFFF) as u32)
    }

    /// Decodes the next whole message from `src`, consuming the chunks it used.
    ///
    /// Returns `Ok(None)` when `src` holds no complete message; the bytes of an incomplete chunk
    /// stay in `src` for the next call, and capacity for the rest of that chunk is reserved.
    pub fn decode(&mut self, src: &mut BytesMut) -> Result<Option<RawMessage>, DecodeError> {
        loop {
            let Some(chunk) = self.parse_chunk(src)? else {
                return Ok(None);
            };
            let consumed = chunk.header_len + chunk.payload_len;
            self.bytes_received += consumed as u64;
            self.unacknowledged += consumed as u64;
            if let Some(message) = self.commit(chunk, src)? {
                self.apply_control(&message)?;
                return Ok(Some(message));
            }
        }
    }

    /// Parses the chunk at the start of `src` without changing any state; `None` if it is not
    /// complete yet.
    fn parse_chunk(&mut self, src: &mut BytesMut) -> Result<Option<Chunk>, DecodeError> {
        let Some(basic) = header::basic_header(src) else {
            return Ok(None);
        };
        let chunk_stream_id = basic.chunk_stream_id;
        let fields_at = basic.len;
        let Some(fields) =
            header::message_header(basic.fmt, src.get(fields_at..).unwrap_or_default())
        else {
            return Ok(None);
        };
        let mut header_len = fields_at + basic.fmt.message_header_len();
        let previous = self.previous_header(chunk_stream_id, basic.fmt)?;

        let starts = match (basic.fmt, previous) {
            (Fmt::Continuation, Some((previous, remaining))) => {
                if let Some(expected) = previous.extended {
                    match header::extended_timestamp(src, header_len) {
                        None => return Ok(None),
                        Some(value) if value == expected => header_len += 4,
                        // The peer omitted the extended timestamp: these bytes are payload.
                        Some(_) => {}
                    }
                }
                (remaining == 0).then_some(HeaderState {
                    timestamp: previous.timestamp.wrapping_add(previous.delta),
                    ..previous
                })
            }
            (fmt, previous) => {
                let mut field = fields.timestamp;
                let mut extended = None;
                if field == EXTENDED_TIMESTAMP {
                    let Some(value) = header::extended_timestamp(src, header_len) else {
                        return Ok(None);
                    };
                    header_len += 4;
                    field = value;
                    extended = Some(value);
                }
                Some(match (fmt, previous) {
                    (Fmt::SameStream, Some((previous, _))) => HeaderState {
                        timestamp: previous.timestamp.wrapping_add(field),
                        delta: field,
                        length: fields.length,
                        type_id: fields.type_id,
                        extended,
                        ..previous
                    },
                    (Fmt::DeltaOnly, Some((previous, _))) => HeaderState {
                        timestamp: previous.timestamp.wrapping_add(field),
                        delta: field,
                        extended,
                        ..previous
                    },
                    // Fmt 0 (previous_header has rejected fmt 1/2/3 without a previous header).
                    _ => HeaderState {
                        timestamp: field,
                        delta: field,
                        length: fields.length,
                        type_id: fields.type_id,
                        stream_id: fields.stream_id,
                        extended,
                    },
                })
            }
        };

        let remaining = match (&starts, previous) {
            (Some(header), _) => {
                let length = header.length as usize;
                if length > self.config.max_message_size.min(MAX_MESSAGE_LENGTH) {
                    return Err(DecodeError::MessageTooLarge {
                        chunk_stream_id,
                        length,
                        limit: self.config.max_message_size,
                    });
                }
                length
            }
            (None, Some((_, remaining))) => remaining as usize,
            (None, None) => 0,
        };
        let payload_len = remaining.min(self.chunk_size as usize);
        let needed = header_len + payload_len;
        if src.len() < needed {
            // A hint for the reader, capped so that the buffer grows with what actually arrives
            // rather than with what a header claims.
            src.reserve((needed - src.len()).min(RESERVE_HINT_LIMIT));
            return Ok(None);
        }
        Ok(Some(Chunk {
            chunk_stream_id,
            header_len,
            payload_len,
            starts,
        }))
    }

    /// The header state of `chunk_stream_id` and the payload bytes its unfinished message still
    /// needs, after checking that a chunk of `fmt` may come next.
    fn previous_header(
        &mut self,
        chunk_stream_id: u32,
        fmt: Fmt,
    ) -> Result<Option<(HeaderState, u32)>, DecodeError> {
        let Some(stream) = self.streams.get_mut(chunk_stream_id) else {
            if fmt != Fmt::Full {
                return Err(DecodeError::MissingFirstHeader {
                    chunk_stream_id,
                    fmt: fmt as u8,
                });
            }
            if self.streams.len() >= self.config.max_chunk_streams {
                return Err(DecodeError::TooManyChunkStreams {
                    limit: self.config.max_chunk_streams,
                });
            }
            return Ok(None);
        };
        if stream.remaining > 0 && fmt != Fmt::Continuation {
            return Err(DecodeError::HeaderInsideMessage {
                chunk_stream_id,
                fmt: fmt as u8,
            });
        }
        Ok(Some((stream.header, stream.remaining)))
    }

    /// Applies a complete chunk: updates the chunk stream and returns a finished message.
    fn commit(
        &mut self,
        chunk: Chunk,
        src: &mut BytesMut,
    ) -> Result<Option<RawMessage>, DecodeError> {
        let stream = self
            .streams
            .get_or_insert_with(chunk.chunk_stream_id, InboundStream::default);
        if let Some(header) = chunk.starts {
            stream.header = header;
            if chunk.payload_len == header.length as usize {
                // The whole message is in this chunk: hand out a slice of the read buffer.
                src.advance(chunk.header_len);
                let payload = src.split_to(chunk.payload_len).freeze();
                return Ok(Some(RawMessage {
                    chunk_stream_id: chunk.chunk_stream_id,
                    timestamp: header.timestamp,
                    type_id: header.type_id,
                    stream_id: header.stream_id,
                    payload,
                }));
            }
            let length = header.length as usize;
            if self.partial_messages >= self.config.max_partial_messages {
                return Err(DecodeError::TooManyPartialMessages {
                    limit: self.config.max_partial_messages,
                });
            }
            if self.partial_bytes + length > self.config.max_partial_bytes {
                return Err(DecodeError::TooManyPartialBytes {
                    limit: self.config.max_partial_bytes,
                });
            }
            if !Self::charge(&mut self.budget, self.partial_bytes + length) {
                return Err(DecodeError::BudgetExhausted {
                    length,
                    limit: self
                        .budget
                        .as_ref()
                        .map_or(0, |charge| charge.budget.limit()),
                });
            }
            self.partial_messages += 1;
            self.partial_bytes += length;
            stream.partial.reserve(length);
            stream.remaining = header.length;
        }
        src.advance(chunk.header_len);
        if let Some(payload) = src.get(..chunk.payload_len) {
            stream.partial.extend_from_slice(payload);
        }
        src.advance(chunk.payload_len);
        stream.remaining -= chunk.payload_len as u32;
        if stream.remaining > 0 {
            return Ok(None);
        }
        self.partial_messages -= 1;
        self.partial_bytes -= stream.header.length as usize;
        let header = stream.header;
        let payload = stream.partial.split().freeze();
        // Giving back never fails.
        Self::charge(&mut self.budget, self.partial_bytes);
        Ok(Some(RawMessage {
            chunk_stream_id: chunk.chunk_stream_id,
            timestamp: header.timestamp,
            type_id: header.type_id,
            stream_id: header.stream_id,
            payload,
        }))
    }

    /// Applies Set Chunk Size, Abort Message and Window Acknowledgement Size.
    fn apply_control(&mut self, message: &RawMessage) -> Result<(), DecodeError> {
        if !matches!(
            message.type_id,
            type_id::SET_CHUNK_SIZE | type_id::ABORT | type_id::WINDOW_ACK_SIZE
        ) {
            return Ok(());
        }
        let value = message
            .control_value()
            .ok_or(DecodeError::ShortControlMessage {
                type_id: message.type_id,
                length: message.payload.len(),
            })?;
        match message.type_id {
            type_id::SET_CHUNK_SIZE => self.set_chunk_size(value)?,
            type_id::ABORT => self.abort(value),
            _ => self.set_ack_window(value),
        }
        Ok(())
    }

    /// Drops the unfinished message of `chunk_stream_id`, if any.
    fn abort(&mut self, chunk_stream_id: u32) {
        if let Some(stream) = self.streams.get_mut(chunk_stream_id)
            && stream.remaining > 0
        {
            stream.remaining = 0;
            // Free the buffer, not just its contents: its bytes no longer count as held.
            stream.partial = BytesMut::new();
            self.partial_messages -= 1;
            self.partial_bytes -= stream.header.length as usize;
            Self::charge(&mut self.budget, self.partial_bytes);
        }
    }
}

impl Drop for ChunkDecoder {
    fn drop(&mut self) {
        Self::charge(&mut self.budget, 0);
    }
}
