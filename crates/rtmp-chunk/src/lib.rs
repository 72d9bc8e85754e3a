//! The RTMP chunk stream: whole [`RawMessage`]s in, chunks out, and back.
//!
//! [`ChunkDecoder`] and [`ChunkEncoder`] are sans-IO state machines over `BytesMut`, with no
//! runtime. With the `tokio-util` feature (on by default) they also implement
//! `tokio_util::codec::{Decoder, Encoder}`, and `ChunkCodec` joins them for `Framed`.
//!
//! - Basic headers of 1, 2 and 3 bytes (chunk stream ids 2..=65599), message headers of fmt 0-3,
//!   timestamp deltas, extended timestamps (also on fmt 3 chunks, tolerating peers that omit
//!   them), and timestamps that wrap at 2^32.
//! - Set Chunk Size applies to the very next chunk in its direction, Abort Message drops a
//!   partial message, and the decoder tells when an Acknowledgement is due.
//! - Zero-copy: a message received in one chunk is a slice of the read buffer; one received in
//!   several is copied once. [`ChunkedMessage`] chunks a message once into shared bytes that a
//!   server writes to every player.
//! - Hostile input is bounded by [`DecoderConfig`]: message size, bytes held in partial
//!   messages, and chunk stream counts, all checked before allocating; a [`MemoryBudget`]
//!   shared by the decoders of many connections caps what they hold together.
//!
//! Without a runtime: feed the decoder what the transport gave, take whole messages out.
//!
//! ```
//! use bytes::BytesMut;
//! use rtmp_chunk::{ChunkDecoder, ChunkEncoder, DecoderConfig, RawMessage};
//!
//! let mut wire = BytesMut::new();
//! ChunkEncoder::new().encode(&RawMessage::new(4, 40, 8, 1, vec![0xAF; 300]), &mut wire).unwrap();
//! let mut decoder = ChunkDecoder::new(DecoderConfig::default());
//! let mut received = BytesMut::new();
//! received.extend_from_slice(&wire[..100]); // a partial read: no message yet
//! assert!(decoder.decode(&mut received).unwrap().is_none());
//! received.extend_from_slice(&wire[100..]);
//! let message = decoder.decode(&mut received).unwrap().unwrap();
//! assert_eq!((message.timestamp, message.payload.len()), (40, 300));
//! ```
//!
//! Framing a `TcpStream` after the handshake (see the `rtmp-handshake` crate), with the
//! `tokio-util` feature. `leftover` holds the bytes that came after C2 in the handshake's last
//! read; [`ChunkCodec::framed`](crate::ChunkCodec::framed) decodes them before reading more:
//!
//! ```no_run
//! # #[cfg(feature = "tokio-util")]
//! # mod example {
//! use futures::{SinkExt, StreamExt};
//! use rtmp_chunk::{ChunkCodec, RawMessage};
//!
//! # async fn run(stream: tokio::net::TcpStream, leftover: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
//! let mut framed = ChunkCodec::new().framed(stream, leftover);
//! framed.send(RawMessage::window_ack_size(2_500_000)).await?;
//! while let Some(message) = framed.next().await {
//!     let message = message?;
//!     println!("type {} on stream {}: {} bytes", message.type_id, message.stream_id, message.payload.len());
//!     if let Some(sequence) = framed.codec_mut().decoder.take_acknowledgement() {
//!         framed.send(RawMessage::acknowledgement(sequence)).await?;
//!     }
//! }
//! # Ok(())
//! # }
//! # }
//! ```

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod budget;
#[cfg(feature = "tokio-util")]
mod codec;
mod decoder;
mod encoder;
mod header;
mod message;
mod streams;

pub use budget::MemoryBudget;
#[cfg(feature = "tokio-util")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio-util")))]
pub use codec::{ChunkCodec, CodecError};
pub use decoder::{ChunkDecoder, DecodeError, DecoderConfig};
pub use encoder::{ChunkEncoder, ChunkedMessage, EncodeError};
pub use message::{
    CONTROL_CHUNK_STREAM, DEFAULT_CHUNK_SIZE, MAX_CHUNK_SIZE, MAX_CHUNK_STREAM_ID,
    MAX_MESSAGE_LENGTH, RawMessage, type_id,
};

/// The README's example, compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
