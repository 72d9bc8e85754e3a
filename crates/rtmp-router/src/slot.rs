//! [`PlayerSlot`]: one player's place in a router's fan-out, with the policies every router
//! applies the same way.

use rtmp_flv::Codec;
use rtmp_session::StreamKey;

use crate::codecs::{Conversions, Delivery};
use crate::gate::{KeyframeGate, is_keyframe};
use crate::media::Media;
use crate::player::{DeliverError, Notice, PlayerHandle};
use crate::slow_player::SlowPlayerPolicy;

/// What became of a message offered to a [`PlayerSlot`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Offered {
    /// Queued for the player.
    Delivered,
    /// Not for the player: paused, audio or video switched off, or a codec it does not take.
    Passed,
    /// Dropped: the player is behind (its queue is full, or it waits for a keyframe). Under
    /// [`SlowPlayerPolicy::Disconnect`], a full queue also means `remove` (the router should
    /// drop the slot, which ends the player's connection).
    Dropped {
        /// Whether the router should remove the player.
        remove: bool,
    },
    /// The player is gone: remove it.
    Gone,
}

/// A player as a fan-out keeps it: its handle, and what the fan-out knows of it. Offering it
/// each message applies the player's requests (pause, receiveAudio/receiveVideo, seek: from
/// the next keyframe), its codec policy (conversions shared by all the players offered the
/// same [`Conversions`]; a codec it does not get is told once) and the slow-player policy (a
/// player behind gets no video until a keyframe that fits). The hub keeps its players so; a
/// router of an application's own gets the same behaviour by doing the same.
///
/// ```
/// use rtmp_chunk::{MemoryBudget, RawMessage};
/// use rtmp_router::{Conversions, Offered, PlayerHandle, PlayerSlot, SharedMedia, SlowPlayerPolicy};
/// use rtmp_session::StreamKey;
///
/// let key = StreamKey { app: "vod".into(), name: "film".into() };
/// let (handle, _feed) = PlayerHandle::pair(1 << 20, MemoryBudget::new(64 << 20), true);
/// let mut slot = PlayerSlot::new(handle);
/// let frame = SharedMedia::new(RawMessage::new(7, 0, 9, 1, vec![0x17, 1, 0, 0, 0]), 4096)?;
/// let offered = slot.offer(&mut Conversions::new(&frame, 4096), &key, SlowPlayerPolicy::SkipToKeyframe);
/// assert_eq!(offered, Offered::Delivered);
/// # Ok::<(), rtmp_router::MediaError>(())
/// ```
#[derive(Debug)]
pub struct PlayerSlot {
    handle: PlayerHandle,
    /// No video until a keyframe.
    gate: KeyframeGate,
    /// Codecs the player was told it does not get.
    told: Vec<Codec>,
}

impl PlayerSlot {
    /// A player joining a fan-out.
    pub fn new(handle: PlayerHandle) -> Self {
        Self {
            handle,
            gate: KeyframeGate::default(),
            told: Vec::new(),
        }
    }

    /// The player's handle.
    pub fn handle(&self) -> &PlayerHandle {
        &self.handle
    }

    /// Queues what a joining player gets first (a [`CatchUp`](crate::CatchUp)'s messages of
    /// `key`, from [`CatchUp::iter_for`](crate::CatchUp::iter_for) the player's
    /// [`rendition`](PlayerHandle::rendition)), each in the form its codec policy and
    /// rendition give. A player that got no keyframe (nothing fit, or no GOP was kept) waits
    /// for one.
    pub fn catch_up<'a>(
        &mut self,
        messages: impl IntoIterator<Item = &'a Media>,
        key: &StreamKey,
        chunk_size: u32,
    ) {
        let mut keyframe = false;
        for media in messages {
            let mut conversions = Conversions::new(media, chunk_size);
            let Some(media) = self.form(&mut conversions, key) else {
                continue;
            };
            let kind = media.kind();
            if !self.gate.admits(kind) {
                continue;
            }
            if self.handle.deliver(media).is_err() {
                self.gate.close();
            } else {
                keyframe |= is_keyframe(kind);
                self.gate.passed(kind);
            }
        }
        if !keyframe {
            self.gate.close();
        }
    }

    /// Offers the message of `conversions` (published on `key`) to the player.
    pub fn offer(
        &mut self,
        conversions: &mut Conversions<'_>,
        key: &StreamKey,
        policy: SlowPlayerPolicy,
    ) -> Offered {
        let kind = conversions.media().kind();
        // A player that goes on (or seeked) starts again from a keyframe.
        if self.handle.take_resync() {
            self.gate.close();
        }
        if !self.handle.wants(kind) {
            return Offered::Passed;
        }
        // Other renditions' media passes by before the player is found behind.
        let Some(media) = self.form(conversions, key) else {
            return Offered::Passed;
        };
        // A lagging player gets no video until a keyframe (sequence headers always pass).
        if !self.gate.admits(kind) {
            return Offered::Dropped { remove: false };
        }
        match self.handle.deliver(media) {
            Ok(()) => {
                self.gate.passed(kind);
                Offered::Delivered
            }
            Err(DeliverError::Full) => {
                self.gate.close();
                Offered::Dropped {
                    remove: policy == SlowPlayerPolicy::Disconnect,
                }
            }
            Err(_) => Offered::Gone,
        }
    }

    /// Forgets that the player is behind: a new publisher starts with a keyframe.
    pub fn restart(&mut self) {
        self.gate.open();
    }

    /// Whether the player waits for a keyframe.
    pub(crate) fn is_lagging(&self) -> bool {
        self.gate.is_closed()
    }

    /// What the player gets of the message under its codec policy and rendition; `None` when
    /// it gets nothing (it is told once per codec it does not take).
    fn form(&mut self, conversions: &mut Conversions<'_>, key: &StreamKey) -> Option<Media> {
        match conversions.for_player(self.handle.codecs(), self.handle.rendition()) {
            Delivery::Media(media) => Some(media),
            Delivery::Pass => None,
            Delivery::Skip(codec) => {
                if !self.told.contains(&codec) {
                    self.told.push(codec);
                    self.handle.notify(Notice::CodecSkipped(key.clone(), codec));
                }
                None
            }
        }
    }
}
