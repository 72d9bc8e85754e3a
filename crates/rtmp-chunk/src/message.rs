//! Whole RTMP messages as the chunk stream carries them, and the protocol control messages that
//! the codec itself applies.

use bytes::Bytes;

/// RawMessage type ids the codec acts on, and the other well-known ones.
pub mod type_id {
    /// 1: Set Chunk Size (u32, top bit zero). Applied by the decoder and the encoder.
    pub const SET_CHUNK_SIZE: u8 = 1;
    /// 2: Abort Message (u32 chunk stream id). Applied by the decoder.
    pub const ABORT: u8 = 2;
    /// 3: Acknowledgement (u32 sequence number).
    pub const ACKNOWLEDGEMENT: u8 = 3;
    /// 4: User Control.
    pub const USER_CONTROL: u8 = 4;
    /// 5: Window Acknowledgement Size (u32). Applied by the decoder.
    pub const WINDOW_ACK_SIZE: u8 = 5;
    /// 6: Set Peer Bandwidth (u32 window, u8 limit type).
    pub const SET_PEER_BANDWIDTH: u8 = 6;
    /// 8: audio.
    pub const AUDIO: u8 = 8;
    /// 9: video.
    pub const VIDEO: u8 = 9;
    /// 15: AMF3 data.
    pub const DATA_AMF3: u8 = 15;
    /// 17: AMF3 command.
    pub const COMMAND_AMF3: u8 = 17;
    /// 18: AMF0 data.
    pub const DATA_AMF0: u8 = 18;
    /// 20: AMF0 command.
    pub const COMMAND_AMF0: u8 = 20;
    /// 22: aggregate.
    pub const AGGREGATE: u8 = 22;
}

/// The chunk stream reserved for protocol control messages.
pub const CONTROL_CHUNK_STREAM: u32 = 2;

/// The largest chunk stream id a basic header can carry.
pub const MAX_CHUNK_STREAM_ID: u32 = 65_599;

/// The largest message length the 24-bit length field can carry.
pub const MAX_MESSAGE_LENGTH: usize = 0xFF_FFFF;

/// The largest valid chunk size (the top bit of Set Chunk Size must be zero).
pub const MAX_CHUNK_SIZE: u32 = 0x7FFF_FFFF;

/// The chunk size both directions start with.
pub const DEFAULT_CHUNK_SIZE: u32 = 128;

/// One RTMP message: the unit the chunk stream splits into chunks and joins back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawMessage {
    /// The chunk stream it travels on (2 for protocol control, 3..=65599 otherwise).
    pub chunk_stream_id: u32,
    /// Milliseconds; wraps around at 2^32.
    pub timestamp: u32,
    /// The message type id (see [`type_id`]).
    pub type_id: u8,
    /// The message stream id (0 for the connection, otherwise a stream from createStream).
    pub stream_id: u32,
    /// The body. Decoding hands out a slice of the read buffer where it can.
    pub payload: Bytes,
}

impl RawMessage {
    /// A message with the given header fields and payload.
    pub fn new(
        chunk_stream_id: u32,
        timestamp: u32,
        type_id: u8,
        stream_id: u32,
        payload: impl Into<Bytes>,
    ) -> Self {
        Self {
            chunk_stream_id,
            timestamp,
            type_id,
            stream_id,
            payload: payload.into(),
        }
    }

    fn control(type_id: u8, value: u32) -> Self {
        Self::new(
            CONTROL_CHUNK_STREAM,
            0,
            type_id,
            0,
            Bytes::copy_from_slice(&value.to_be_bytes()),
        )
    }

    /// Set Chunk Size: chunks sent after this one carry up to `size` bytes of payload.
    pub fn set_chunk_size(size: u32) -> Self {
        Self::control(type_id::SET_CHUNK_SIZE, size)
    }

    /// Abort Message: the peer drops the partial message of `chunk_stream_id`.
    pub fn abort(chunk_stream_id: u32) -> Self {
        Self::control(type_id::ABORT, chunk_stream_id)
    }

    /// Acknowledgement of `sequence_number` bytes received so far.
    pub fn acknowledgement(sequence_number: u32) -> Self {
        Self::control(type_id::ACKNOWLEDGEMENT, sequence_number)
    }

    /// Window Acknowledgement Size: the peer acknowledges every `size` bytes.
    pub fn window_ack_size(size: u32) -> Self {
        Self::control(type_id::WINDOW_ACK_SIZE, size)
    }

    /// The first four payload bytes as a big-endian u32, for the control messages that carry one.
    pub fn control_value(&self) -> Option<u32> {
        let bytes: [u8; 4] = self.payload.get(..4)?.try_into().ok()?;
        Some(u32::from_be_bytes(bytes))
    }
}
