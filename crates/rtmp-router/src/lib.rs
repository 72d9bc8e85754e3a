//! The media router of an RTMP server, with no runtime: what happens to published media and
//! who gets it. A server driver (such as `rtmp-server`) calls a [`Router`] for each publish
//! and play; everything here is plain data and sync primitives, so a router can be tested, or
//! driven by another runtime, without tokio's scheduler, timers or sockets.
//!
//! # Layout
//!
//! - **Media**: [`SharedMedia`] (a [`Media`] is one shared) is a published message chunked
//!   once on message stream 1, made only by [`SharedMedia::new`]; [`MediaKind`] says what it
//!   is.
//! - **The seam**: [`Router`] with its halves [`Publishing`] and [`Playing`], the refusals
//!   ([`PublishError`], [`PlayError`], [`Refusal`]) and [`StreamStats`].
//! - **Players**: a [`PlayerHandle`] queues media and [`Notice`]s for one player, bounded in
//!   bytes; [`PlayerHandle::pair`] makes a player of the application's own with its
//!   [`PlayerFeed`].
//! - **Building blocks of a router**: [`CatchUp`] (metadata, track configurations and the
//!   GOP a joining player gets first) and [`PlayerSlot`] (a player's place in a fan-out, which
//!   applies its pause/seek/receive requests, its [`CodecPolicy`] and [`Rendition`] with
//!   [`Conversions`] shared by all players, and the [`SlowPlayerPolicy`]).
//! - **Renditions of a multitrack stream**: a [`Rendition`] says which tracks a player gets;
//!   players that cannot take multitrack get one video and one audio track as a single-track
//!   stream, from that track's keyframe, and [`TrackStats`] gives each track's figures.
//! - **The default router**: [`Hub`], streams by key with a GOP cache and a fan-out whose
//!   server players read each stream's ring in place.
//! - **FLV egress**: [`FlvViewer`] plays a stream as FLV bytes (header, catch-up, then tags
//!   as they come, each tag shared by every viewer) for HTTP-FLV and WebSocket-FLV behind any
//!   HTTP stack, with a live edge.
//! - **For connection drivers** ([`driver`]): [`driver::outlet`] makes the queues between a
//!   connection's reader and its writer ([`driver::Inlet`], [`driver::Notices`],
//!   [`driver::Outlet`]) and the order the writer takes them in, filling a [`driver::Batch`]
//!   for each vectored write. A server's own connections need them; a router or a player of
//!   the application's own does not.
//!
//! A router that plays something else than live streams, here one message to every player,
//! with the same catch-up and player policies as the hub:
//!
//! ```
//! use std::sync::Mutex;
//!
//! use rtmp_chunk::{MemoryBudget, RawMessage};
//! use rtmp_router::{
//!     CatchUp, CatchUpLimits, Conversions, Feed, PlayError, PlayerHandle, PlayerSlot, Playing,
//!     PublishError, Publishing, Router, SharedMedia, SlowPlayerPolicy,
//! };
//! use rtmp_session::StreamKey;
//!
//! /// Plays a station ident, a data message, to whoever asks; takes no publishers.
//! struct Ident {
//!     catch_up: Mutex<CatchUp>,
//! }
//!
//! struct Seat(StreamKey);
//!
//! impl Playing for Seat {
//!     fn key(&self) -> &StreamKey {
//!         &self.0
//!     }
//! }
//!
//! impl Router for Ident {
//!     fn publish(&self, key: &StreamKey) -> Result<Box<dyn Publishing>, PublishError> {
//!         Err(PublishError::Refused(format!("{key} is played from here only").into()))
//!     }
//!     fn play(&self, key: &StreamKey, player: PlayerHandle) -> Result<Box<dyn Playing>, PlayError> {
//!         let mut slot = PlayerSlot::new(player);
//!         slot.catch_up(self.catch_up.lock().unwrap().iter(), key, 4096);
//!         Ok(Box::new(Seat(key.clone())))
//!     }
//!     fn is_published(&self, _: &StreamKey) -> bool {
//!         true
//!     }
//!     fn is_played(&self, _: &StreamKey) -> bool {
//!         false
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let message = RawMessage::new(5, 0, 18, 1, b"\x02\x00\x0aonMetaData\x05".to_vec());
//! let mut catch_up = CatchUp::new(CatchUpLimits::default());
//! catch_up.record(&SharedMedia::new(message.clone(), 4096)?, &message)?;
//! let router = Ident { catch_up: Mutex::new(catch_up) };
//!
//! let key = StreamKey { app: "tv".into(), name: "ident".into() };
//! let (handle, mut feed) = PlayerHandle::pair(1 << 20, MemoryBudget::new(64 << 20), true);
//! let _seat = router.play(&key, handle)?;
//! let Some(Feed::Media(media)) = feed.recv().await else { panic!("no ident") };
//! assert_eq!(media.message().payload, message.payload);
//! # let _ = (Conversions::new, SlowPlayerPolicy::SkipToKeyframe);
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod catch_up;
mod channel;
mod codecs;
mod controls;
mod flv_viewer;
mod gate;
mod hub;
mod media;
mod outlet;
mod player;
mod queue;
mod refusal;
mod rendition;
mod ring;
mod router;
mod slot;
mod slow_player;
mod stats;
mod sync;

pub use catch_up::{CatchUp, CatchUpLimits, OverLimit};
pub use codecs::{CodecPolicy, Conversions};
pub use flv_viewer::{FlvViewer, FlvViewerConfig};
pub use hub::{Hub, HubConfig};
pub use media::{Media, MediaError, MediaKind, SharedMedia};
pub use player::{DeliverError, Feed, Notice, PlayerFeed, PlayerHandle};
pub use refusal::Refusal;
pub use rendition::{BadTrack, Rendition};

/// What a connection driver (a server's connections, as `rtmp-server`'s) needs beside the
/// router: the queues between its reader and its writer, and what a writer reading rings may
/// meet.
pub mod driver {
    pub use crate::outlet::{
        Batch, Inlet, MAX_BATCH_BUFFERS, Notices, Outlet, PlayerControls, outlet,
    };
    pub use crate::ring::FellBehind;
}
pub use router::{PlayError, Playing, PublishError, Publishing, Router};
pub use slot::{Offered, PlayerSlot};
pub use slow_player::SlowPlayerPolicy;
pub use stats::{StreamStats, TrackStats};

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
