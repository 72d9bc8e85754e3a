//! The RTMP chunk stream: whole [`Message`]s in, chunks out, and back.
//!
//! [`ChunkDecoder`] and [`ChunkEncoder`] are sans-IO state machines over `BytesMut`; they also
//! implement `tokio_util::codec::{Decoder, Encoder}`, and [`ChunkCodec`] joins them for `Framed`.
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
//! Framing a `TcpStream` after the handshake (see the `rtmp-handshake` crate):
//!
//! ```no_run
//! use futures::{SinkExt, StreamExt};
//! use rtmp_chunk::{ChunkCodec, Message};
//! use tokio_util::codec::Framed;
//!
//! # async fn run(stream: tokio::net::TcpStream, leftover: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
//! let mut framed = Framed::new(stream, ChunkCodec::new());
//! framed.read_buffer_mut().extend_from_slice(leftover); // bytes that followed C2
//! framed.send(Message::window_ack_size(2_500_000)).await?;
//! while let Some(message) = framed.next().await {
//!     let message = message?;
//!     println!("type {} on stream {}: {} bytes", message.type_id, message.stream_id, message.payload.len());
//!     if let Some(sequence) = framed.codec_mut().decoder.take_acknowledgement() {
//!         framed.send(Message::acknowledgement(sequence)).await?;
//!     }
//! }
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

mod budget;
mod codec;
mod decoder;
mod encoder;
mod header;
mod message;
mod streams;

pub use budget::MemoryBudget;
pub use codec::ChunkCodec;
pub use decoder::{ChunkDecoder, DecodeError, DecoderConfig};
pub use encoder::{ChunkEncoder, ChunkedMessage, EncodeError};
pub use message::{
    CONTROL_CHUNK_STREAM, DEFAULT_CHUNK_SIZE, MAX_CHUNK_SIZE, MAX_CHUNK_STREAM_ID,
    MAX_MESSAGE_LENGTH, Message, type_id,
};
