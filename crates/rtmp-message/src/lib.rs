//! Typed RTMP messages, between the chunk stream's raw [`rtmp_chunk::RawMessage`] and application
//! logic.
//!
//! [`Message::decode`] types the body of a raw message by its type id; [`Message::encode`] and
//! [`Message::to_chunk`] go back. Header fields (timestamp, message stream, chunk stream) stay on
//! the raw message. Audio and video payloads are passed through untouched (the `rtmp-flv` crate
//! interprets them); aggregates can be split with [`split_aggregate`].
//!
//! Decoding is lenient where real peers differ (missing optional arguments, numbers sent as
//! strings, a missing publish type) and strict where a guess would be dangerous (a publish or
//! play without a stream name, a deleteStream without a stream id). Errors name the message
//! type and the field.
//!
//! ```
//! use rtmp_message::{Command, Message, Status};
//!
//! // The answers a server sends to `publish("test", "live")` on stream 1:
//! let raw = Message::Command(Command::on_status(Status::publish_start("test")))
//!     .to_chunk(5, 0, 1)
//!     .unwrap();
//! assert_eq!(raw.type_id, 20);
//!
//! let Message::Command(Command::OnStatus { status, .. }) = Message::decode(&raw).unwrap() else {
//!     panic!("not an onStatus");
//! };
//! assert_eq!(status.code.as_str(), "NetStream.Publish.Start");
//! ```

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod aggregate;
mod command;
mod control;
mod data;
mod error;

use bytes::{BufMut, Bytes, BytesMut};
use rtmp_amf0::Value;
use rtmp_chunk::type_id;

pub use aggregate::split_aggregate;
pub use command::{Command, Connect, Level, Play, PublishType, Response, Status, StatusCode};
pub use control::{LimitType, UserControl};
pub use data::{Data, ON_METADATA, SAMPLE_ACCESS, SET_DATA_FRAME, data_name_is};
pub use error::{DecodeError, DecodeErrorKind, EncodeError};
/// AMF0 values: [`rtmp_amf0`], re-exported so that its version always matches.
pub use rtmp_amf0 as amf0;
/// The chunk stream layer: [`rtmp_chunk`], re-exported so that its version always matches.
pub use rtmp_chunk as chunk;

/// A typed RTMP message body.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Message {
    /// 1: Set Chunk Size.
    SetChunkSize(u32),
    /// 2: Abort Message for a chunk stream.
    Abort {
        /// The chunk stream whose partial message is dropped.
        chunk_stream_id: u32,
    },
    /// 3: Acknowledgement.
    Acknowledgement {
        /// Bytes received so far, modulo 2^32.
        sequence_number: u32,
    },
    /// 4: a User Control event.
    UserControl(UserControl),
    /// 5: Window Acknowledgement Size.
    WindowAckSize(u32),
    /// 6: Set Peer Bandwidth.
    SetPeerBandwidth {
        /// The window in bytes.
        window: u32,
        /// How to apply it.
        limit: LimitType,
    },
    /// 8: audio, untouched.
    Audio(Bytes),
    /// 9: video, untouched.
    Video(Bytes),
    /// 18: an AMF0 data message.
    Data(Data),
    /// 15: an AMF3 data message (format byte 0, then AMF0 values, as peers send it).
    DataAmf3(Data),
    /// 20: an AMF0 command.
    Command(Command),
    /// 17: an AMF3 command (format byte 0, then AMF0 values).
    CommandAmf3(Command),
    /// 22: an aggregate, untouched (see [`split_aggregate`]).
    Aggregate(Bytes),
    /// Any other type (shared objects 16 and 19, unknown ids), kept as sent.
    Other {
        /// The message type id.
        type_id: u8,
        /// The body.
        payload: Bytes,
    },
}

fn amf0_body(type_id: u8, payload: &Bytes) -> Result<Vec<Value>, DecodeError> {
    let body = match type_id {
        type_id::DATA_AMF3 | type_id::COMMAND_AMF3 => match payload.first() {
            Some(0) => payload.get(1..).unwrap_or_default(),
            Some(&other) => {
                return Err(DecodeError::new(
                    type_id,
                    "format byte",
                    DecodeErrorKind::Amf3Format(other),
                ));
            }
            None => {
                return Err(DecodeError::new(
                    type_id,
                    "format byte",
                    DecodeErrorKind::Missing,
                ));
            }
        },
        _ => payload,
    };
    rtmp_amf0::decode_all(body)
        .map_err(|error| DecodeError::new(type_id, "AMF0 body", error.into()))
}

impl Message {
    /// Types the body of `raw` by its type id.
    pub fn decode(raw: &rtmp_chunk::RawMessage) -> Result<Self, DecodeError> {
        Self::decode_body(raw.type_id, &raw.payload)
    }

    /// Types a body of message type `type_id`.
    pub fn decode_body(type_id: u8, payload: &Bytes) -> Result<Self, DecodeError> {
        let value = |field| control::u32_at(payload, 0, type_id, field);
        Ok(match type_id {
            type_id::SET_CHUNK_SIZE => Message::SetChunkSize(value("chunk size")?),
            type_id::ABORT => Message::Abort {
                chunk_stream_id: value("chunk stream id")?,
            },
            type_id::ACKNOWLEDGEMENT => Message::Acknowledgement {
                sequence_number: value("sequence number")?,
            },
            type_id::USER_CONTROL => Message::UserControl(UserControl::decode(payload)?),
            type_id::WINDOW_ACK_SIZE => Message::WindowAckSize(value("window size")?),
            type_id::SET_PEER_BANDWIDTH => Message::SetPeerBandwidth {
                window: value("window size")?,
                limit: match payload.get(4) {
                    Some(&limit) => LimitType::from_u8(limit),
                    None => {
                        return Err(DecodeError::new(
                            type_id,
                            "limit type",
                            DecodeErrorKind::TooShort {
                                needed: 5,
                                length: payload.len(),
                            },
                        ));
                    }
                },
            },
            type_id::AUDIO => Message::Audio(payload.clone()),
            type_id::VIDEO => Message::Video(payload.clone()),
            type_id::DATA_AMF0 => {
                Message::Data(Data::from_values(amf0_body(type_id, payload)?, type_id)?)
            }
            type_id::DATA_AMF3 => {
                Message::DataAmf3(Data::from_values(amf0_body(type_id, payload)?, type_id)?)
            }
            type_id::COMMAND_AMF0 => Message::Command(Command::from_values(
                &amf0_body(type_id, payload)?,
                type_id,
            )?),
            type_id::COMMAND_AMF3 => Message::CommandAmf3(Command::from_values(
                &amf0_body(type_id, payload)?,
                type_id,
            )?),
            type_id::AGGREGATE => Message::Aggregate(payload.clone()),
            other => Message::Other {
                type_id: other,
                payload: payload.clone(),
            },
        })
    }

    /// The message type id.
    pub fn type_id(&self) -> u8 {
        match self {
            Message::SetChunkSize(_) => type_id::SET_CHUNK_SIZE,
            Message::Abort { .. } => type_id::ABORT,
            Message::Acknowledgement { .. } => type_id::ACKNOWLEDGEMENT,
            Message::UserControl(_) => type_id::USER_CONTROL,
            Message::WindowAckSize(_) => type_id::WINDOW_ACK_SIZE,
            Message::SetPeerBandwidth { .. } => type_id::SET_PEER_BANDWIDTH,
            Message::Audio(_) => type_id::AUDIO,
            Message::Video(_) => type_id::VIDEO,
            Message::Data(_) => type_id::DATA_AMF0,
            Message::DataAmf3(_) => type_id::DATA_AMF3,
            Message::Command(_) => type_id::COMMAND_AMF0,
            Message::CommandAmf3(_) => type_id::COMMAND_AMF3,
            Message::Aggregate(_) => type_id::AGGREGATE,
            Message::Other { type_id, .. } => *type_id,
        }
    }

    /// The body of this message. Media and unknown bodies are returned without copying.
    pub fn encode(&self) -> Result<Bytes, EncodeError> {
        let u32_body = |value: u32| Bytes::copy_from_slice(&value.to_be_bytes());
        let amf0 = |prefix: Option<u8>, values: Vec<Value>| -> Result<Bytes, EncodeError> {
            let len = values.iter().map(Value::encoded_len).sum::<usize>() + 1;
            let mut body = BytesMut::with_capacity(len);
            if let Some(prefix) = prefix {
                body.put_u8(prefix);
            }
            rtmp_amf0::encode_all(&values, &mut body)?;
            Ok(body.freeze())
        };
        Ok(match self {
            Message::SetChunkSize(size) => u32_body(*size),
            Message::Abort { chunk_stream_id } => u32_body(*chunk_stream_id),
            Message::Acknowledgement { sequence_number } => u32_body(*sequence_number),
            Message::UserControl(event) => event.encode(),
            Message::WindowAckSize(size) => u32_body(*size),
            Message::SetPeerBandwidth { window, limit } => {
                let mut body = BytesMut::with_capacity(5);
                body.put_u32(*window);
                body.put_u8(limit.to_u8());
                body.freeze()
            }
            Message::Audio(payload)
            | Message::Video(payload)
            | Message::Aggregate(payload)
            | Message::Other { payload, .. } => payload.clone(),
            Message::Data(data) => amf0(None, data.to_values())?,
            Message::DataAmf3(data) => amf0(Some(0), data.to_values())?,
            Message::Command(command) => amf0(None, command.to_values())?,
            Message::CommandAmf3(command) => amf0(Some(0), command.to_values())?,
        })
    }

    /// A raw message for the chunk stream, with the given header fields.
    pub fn to_chunk(
        &self,
        chunk_stream_id: u32,
        timestamp: u32,
        stream_id: u32,
    ) -> Result<rtmp_chunk::RawMessage, EncodeError> {
        Ok(rtmp_chunk::RawMessage {
            chunk_stream_id,
            timestamp,
            type_id: self.type_id(),
            stream_id,
            payload: self.encode()?,
        })
    }
}

impl From<Command> for Message {
    fn from(command: Command) -> Self {
        Message::Command(command)
    }
}

impl From<Data> for Message {
    fn from(data: Data) -> Self {
        Message::Data(data)
    }
}

impl From<UserControl> for Message {
    fn from(event: UserControl) -> Self {
        Message::UserControl(event)
    }
}

/// The README's example, compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
