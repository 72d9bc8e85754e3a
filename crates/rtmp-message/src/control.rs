//! Protocol control messages (types 1, 2, 3, 5, 6) and User Control events (type 4).

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{DecodeError, DecodeErrorKind};

/// The limit type of Set Peer Bandwidth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitType {
    /// 0: limit the output bandwidth to the window.
    Hard,
    /// 1: limit to the window or the current limit, whichever is smaller.
    Soft,
    /// 2: hard if the previous limit was hard, otherwise ignore.
    Dynamic,
    /// Any other value, kept as sent.
    Other(u8),
}

impl LimitType {
    /// The wire value.
    pub fn to_u8(self) -> u8 {
        match self {
            LimitType::Hard => 0,
            LimitType::Soft => 1,
            LimitType::Dynamic => 2,
            LimitType::Other(value) => value,
        }
    }

    /// The limit type of a wire value.
    pub fn from_u8(value: u8) -> Self {
        match value {
            0 => LimitType::Hard,
            1 => LimitType::Soft,
            2 => LimitType::Dynamic,
            other => LimitType::Other(other),
        }
    }
}

/// A User Control event (message type 4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserControl {
    /// 0: the stream with this id has become functional.
    StreamBegin(u32),
    /// 1: the playback of the stream is over.
    StreamEof(u32),
    /// 2: there is no more data on the stream.
    StreamDry(u32),
    /// 3: the client's buffer length for a stream.
    SetBufferLength {
        /// The message stream.
        stream_id: u32,
        /// Buffer length in milliseconds.
        millis: u32,
    },
    /// 4: the stream is a recorded stream.
    StreamIsRecorded(u32),
    /// 6: the server asks the client to answer with this timestamp.
    PingRequest(u32),
    /// 7: the client's answer to a ping request.
    PingResponse(u32),
    /// 31: the stream's buffer is empty (sent by some servers).
    BufferEmpty(u32),
    /// 32: the stream's buffer is full again (sent by some servers).
    BufferReady(u32),
    /// Any other event, kept as sent.
    Unknown {
        /// The event type.
        event_type: u16,
        /// The event data.
        data: Bytes,
    },
}

/// Reads the big-endian u32 at `at`, naming `field` if the body is too short.
pub(crate) fn u32_at(
    body: &[u8],
    at: usize,
    type_id: u8,
    field: &'static str,
) -> Result<u32, DecodeError> {
    let bytes: Option<[u8; 4]> = body.get(at..at + 4).and_then(|b| b.try_into().ok());
    bytes.map(u32::from_be_bytes).ok_or_else(|| {
        DecodeError::new(
            type_id,
            field,
            DecodeErrorKind::TooShort {
                needed: at + 4,
                length: body.len(),
            },
        )
    })
}

const USER_CONTROL: u8 = rtmp_chunk::type_id::USER_CONTROL;

impl UserControl {
    /// Decodes the body of a User Control message. Bytes after the event data are ignored.
    pub fn decode(body: &Bytes) -> Result<Self, DecodeError> {
        let event_type = match body.get(..2) {
            Some(&[high, low]) => u16::from_be_bytes([high, low]),
            _ => {
                return Err(DecodeError::new(
                    USER_CONTROL,
                    "event type",
                    DecodeErrorKind::TooShort {
                        needed: 2,
                        length: body.len(),
                    },
                ));
            }
        };
        let value = |field| u32_at(body, 2, USER_CONTROL, field);
        Ok(match event_type {
            0 => UserControl::StreamBegin(value("StreamBegin stream id")?),
            1 => UserControl::StreamEof(value("StreamEOF stream id")?),
            2 => UserControl::StreamDry(value("StreamDry stream id")?),
            3 => UserControl::SetBufferLength {
                stream_id: value("SetBufferLength stream id")?,
                millis: u32_at(body, 6, USER_CONTROL, "SetBufferLength length")?,
            },
            4 => UserControl::StreamIsRecorded(value("StreamIsRecorded stream id")?),
            6 => UserControl::PingRequest(value("PingRequest timestamp")?),
            7 => UserControl::PingResponse(value("PingResponse timestamp")?),
            31 => UserControl::BufferEmpty(value("BufferEmpty stream id")?),
            32 => UserControl::BufferReady(value("BufferReady stream id")?),
            _ => UserControl::Unknown {
                event_type,
                data: body.slice(2..),
            },
        })
    }

    /// The body of this event.
    pub fn encode(&self) -> Bytes {
        let mut body = BytesMut::with_capacity(10);
        let (event_type, values): (u16, &[u32]) = match self {
            UserControl::StreamBegin(id) => (0, std::slice::from_ref(id)),
            UserControl::StreamEof(id) => (1, std::slice::from_ref(id)),
            UserControl::StreamDry(id) => (2, std::slice::from_ref(id)),
            UserControl::SetBufferLength { stream_id, millis } => {
                body.put_u16(3);
                body.put_u32(*stream_id);
                body.put_u32(*millis);
                return body.freeze();
            }
            UserControl::StreamIsRecorded(id) => (4, std::slice::from_ref(id)),
            UserControl::PingRequest(time) => (6, std::slice::from_ref(time)),
            UserControl::PingResponse(time) => (7, std::slice::from_ref(time)),
            UserControl::BufferEmpty(id) => (31, std::slice::from_ref(id)),
            UserControl::BufferReady(id) => (32, std::slice::from_ref(id)),
            UserControl::Unknown { event_type, data } => {
                body.put_u16(*event_type);
                body.put_slice(data);
                return body.freeze();
            }
        };
        body.put_u16(event_type);
        values.iter().for_each(|value| body.put_u32(*value));
        body.freeze()
    }
}
