//! Players as a router sees them: handles to queue media and notices for a player, and the
//! feed of a player of the application's own.

use std::collections::VecDeque;
use std::sync::Arc;

use rtmp_chunk::{DEFAULT_CHUNK_SIZE, MemoryBudget};
use rtmp_flv::Codec;
use rtmp_session::StreamKey;

use crate::channel;
use crate::codecs::CodecPolicy;
use crate::controls::PlayControls;
use crate::media::{Media, MediaKind};
use crate::queue::{Item, MediaReceiver, MediaSender, Refused};
use crate::rendition::Rendition;
use crate::ring::{Cursor, FellBehind, Follower, Read, Ring};

/// What a router tells a player besides media.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Notice {
    /// The publisher of `key` left (the player gets NetStream.Play.UnpublishNotify).
    Unpublished(StreamKey),
    /// A publisher started `key` (NetStream.Play.PublishNotify).
    Published(StreamKey),
    /// `key` cannot be played by this player any more (NetStream.Play.Failed with the reason).
    Failed(StreamKey, String),
    /// The player does not get `codec` of `key`: it has no form the player announced (see
    /// [`CodecPolicy`]). Told once per codec, in an onStatus at warning level.
    CodecSkipped(StreamKey, Codec),
}

/// A player as a router sees it: where its media goes and how to tell it things. Cloning it
/// gives another handle to the same player.
#[derive(Debug, Clone)]
pub struct PlayerHandle {
    media: MediaSender,
    notices: channel::Sender<Stamped>,
    enhanced: bool,
    /// The player's message stream on its connection.
    stream_id: u32,
    controls: Arc<PlayControls>,
    /// Which codecs the player gets, and in what form.
    codecs: CodecPolicy,
    /// Which tracks of a multitrack stream it gets.
    rendition: Rendition,
    /// Whether its writer can read a stream's ring instead of a queue of its own.
    reads_rings: bool,
    /// The chunk size its connection writes with.
    chunk_size: u32,
}

/// A notice with the count of media queued for the player before it, so that it never
/// overtakes that media. Boxed: notices are rare and large (a key, a reason), and boxed they
/// keep the slots of a player's notice queue small.
pub(crate) type Stamped = (Box<Notice>, u64);

/// Why a player did not take a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DeliverError {
    /// Its queue's byte budget (or the server's) has no room: it is behind.
    #[error("the player's queue is full")]
    Full,
    /// The player is gone.
    #[error("the player is gone")]
    Gone,
}

/// What a player of the application's own receives (see [`PlayerHandle::pair`]).
#[derive(Debug)]
#[non_exhaustive]
pub enum Feed {
    /// A media message, as every player of the stream gets it.
    Media(Media),
    /// Something about the stream.
    Notice(Notice),
}

/// The receiving side of a player of the application's own: its media and its notices, in
/// the order the router gave them. A feed whose handle was made to read rings (an FLV viewer)
/// reads its stream's ring once the router moves it there, as a server's connections do, so
/// that every such player's media is held once.
#[derive(Debug)]
pub struct PlayerFeed {
    media: MediaReceiver,
    notices: channel::Receiver<Stamped>,
    /// A notice waiting for the media queued before it.
    pending: Option<Stamped>,
    /// An item taken off the queue while waiting, not handed out yet.
    held: Option<Item>,
    /// Items of the queue handed out (or acted on) so far, which a notice's stamp counts.
    taken: u64,
    /// The ring read once the router said so, after what was queued before.
    follower: Option<Follower>,
    /// Read off the ring, not handed out yet.
    read: VecDeque<Media>,
    /// Whether the notice queue was closed (the router let go of the player).
    notices_closed: bool,
    /// Whether the media queue was closed and emptied.
    media_closed: bool,
}

/// Messages read off a ring at once: one lock of the ring per this many.
const READ_BATCH: usize = 32;

impl PlayerFeed {
    /// The next media message or notice, waiting for one; `None` once the router has let go
    /// of the player and everything was taken.
    pub async fn recv(&mut self) -> Option<Feed> {
        loop {
            if self.pending.is_none()
                && !self.notices_closed
                && let Some(stamped) = self.notices.try_recv()
            {
                self.hold_notice(stamped);
            }
            if self.notice_is_due() {
                return self.pending.take().map(|(notice, _)| Feed::Notice(*notice));
            }
            match self.try_media() {
                Ok(Some(media)) => return Some(Feed::Media(media)),
                Ok(None) => {}
                // Fell out of its ring under the disconnect policy: the player is let go.
                Err(FellBehind) => return None,
            }
            if self.pending.is_some() {
                if self.media_closed && self.follower.is_none() {
                    // No more media: the notice is next.
                    return self.pending.take().map(|(notice, _)| Feed::Notice(*notice));
                }
                // Waiting for media queued before the notice.
                let follower = &mut self.follower;
                tokio::select! {
                    item = self.media.recv_on(), if !self.media_closed => match item {
                        Some(item) => self.held = Some(item),
                        None => self.media_closed = true,
                    },
                    () = ring_ready(follower) => {}
                }
                continue;
            }
            if self.media_closed && self.follower.is_none() && self.notices_closed {
                return None;
            }
            let follower = &mut self.follower;
            tokio::select! {
                notice = self.notices.recv(), if !self.notices_closed => match notice {
                    Some(stamped) => self.hold_notice(stamped),
                    None => self.notices_closed = true,
                },
                item = self.media.recv_on(), if !self.media_closed => match item {
                    Some(item) => self.held = Some(item),
                    None => self.media_closed = true,
                },
                () = ring_ready(follower) => {}
            }
        }
    }

    /// Keeps `stamped` until the media before it was handed out; a ring being read is read
    /// up to where it is now first.
    fn hold_notice(&mut self, stamped: Stamped) {
        if let Some(follower) = &mut self.follower {
            follower.set_barrier();
        }
        self.pending = Some(stamped);
    }

    /// Whether the pending notice goes next: the media queued before it was handed out.
    fn notice_is_due(&self) -> bool {
        let Some((_, stamp)) = &self.pending else {
            return false;
        };
        // What is still queued (or held) was queued after it.
        self.taken >= *stamp
            && self.read.is_empty()
            && self.follower.as_ref().is_none_or(Follower::reached_barrier)
    }

    /// The next media message ready now: what was read off the ring, then the ring, then the
    /// queue (a notice's turn counts queue items only).
    fn try_media(&mut self) -> Result<Option<Media>, FellBehind> {
        loop {
            if let Some(media) = self.read.pop_front() {
                return Ok(Some(media));
            }
            if let Some(follower) = &mut self.follower {
                let read = &mut self.read;
                let outcome = follower.read(|media, _| {
                    read.push_back(media);
                    read.len() < READ_BATCH
                })?;
                if outcome == Read::Ended {
                    self.follower = None;
                }
                if let Some(media) = self.read.pop_front() {
                    return Ok(Some(media));
                }
            }
            let item = match self.held.take() {
                Some(item) => Some(item),
                None => self.media.try_recv_on(),
            };
            self.media.settle();
            let Some(item) = item else {
                return Ok(None);
            };
            if let Some((_, stamp)) = &self.pending
                && self.taken >= *stamp
            {
                // Queued after the notice: it waits its turn.
                self.held = Some(item);
                return Ok(None);
            }
            self.taken += 1;
            match item {
                Item::Media(media, _) => return Ok(Some(media)),
                Item::Follow(follower) => {
                    let mut follower = *follower;
                    if self.pending.is_some() {
                        follower.set_barrier();
                    }
                    self.follower = Some(follower);
                }
            }
        }
    }
}

/// Ready when `follower` has something to read (or ended); never without one.
async fn ring_ready(follower: &mut Option<Follower>) {
    match follower {
        Some(follower) => std::future::poll_fn(|cx| follower.poll_ready_any_waker(cx)).await,
        None => std::future::pending().await,
    }
}

impl PlayerHandle {
    /// A player of the application's own (a recorder, a transcoder, a link to another
    /// machine): the handle to give [`Router::play`](crate::Router::play) and the feed it fills. Its queue holds at
    /// most `queue_bytes`, counted in `budget` too (a server's, in `rtmp-server`, is
    /// `Server::queue_budget`); what does not fit is dropped by the router's slow-player
    /// policy, so a slow consumer never stalls the publisher.
    ///
    /// ```no_run
    /// use rtmp_chunk::MemoryBudget;
    /// use rtmp_router::{Feed, PlayerHandle, Router};
    /// use rtmp_session::StreamKey;
    ///
    /// # async fn run(router: &dyn Router, key: StreamKey) {
    /// let budget = MemoryBudget::new(256 << 20);
    /// let (handle, mut feed) = PlayerHandle::pair(16 << 20, budget, true);
    /// let _playing = router.play(&key, handle).expect("the hub takes every player");
    /// while let Some(Feed::Media(media)) = feed.recv().await {
    ///     let message = media.message();
    ///     println!("{} bytes at {} ms", message.payload.len(), message.timestamp);
    /// }
    /// # }
    /// ```
    pub fn pair(queue_bytes: usize, budget: MemoryBudget, enhanced: bool) -> (Self, PlayerFeed) {
        let (media, media_rx) = MediaSender::channel(queue_bytes, budget);
        let (notices, notices_rx) = channel::unbounded();
        let feed = PlayerFeed {
            media: media_rx,
            notices: notices_rx,
            pending: None,
            held: None,
            taken: 0,
            follower: None,
            read: VecDeque::new(),
            notices_closed: false,
            media_closed: false,
        };
        let handle = Self::new(media, notices, enhanced, 1, Arc::default());
        (handle, feed)
    }

    pub(crate) fn new(
        media: MediaSender,
        notices: channel::Sender<Stamped>,
        enhanced: bool,
        stream_id: u32,
        controls: Arc<PlayControls>,
    ) -> Self {
        Self {
            media,
            notices,
            enhanced,
            stream_id,
            controls,
            codecs: CodecPolicy::AsPublished,
            rendition: Rendition::All,
            reads_rings: false,
            chunk_size: DEFAULT_CHUNK_SIZE,
        }
    }

    /// The handle of a player whose connection writes chunks of `chunk_size` bytes (a server
    /// gives its connections the session's chunk size).
    pub fn with_chunk_size(mut self, chunk_size: u32) -> Self {
        self.chunk_size = chunk_size;
        self
    }

    /// The chunk size the player's connection writes with (128, the protocol's default,
    /// unless its driver said otherwise). Media chunked at this size
    /// ([`SharedMedia::new`](crate::SharedMedia::new)) is written as it is; media chunked at
    /// another size is chunked again for this player by its writer, at a copy per message.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// The handle with `codecs` as its codec policy (players of the application's own get
    /// everything as published by default).
    pub fn with_codecs(mut self, codecs: CodecPolicy) -> Self {
        self.codecs = codecs;
        self
    }

    /// Which codecs the player gets, and in what form (from what it announced in connect).
    pub fn codecs(&self) -> &CodecPolicy {
        &self.codecs
    }

    /// The handle with `rendition` as the tracks the player gets of a multitrack stream
    /// (players of the application's own get every track by default; a server gives its
    /// connections the rendition they asked for).
    pub fn with_rendition(mut self, rendition: Rendition) -> Self {
        self.rendition = rendition;
        self
    }

    /// Which tracks of a multitrack stream the player gets.
    pub fn rendition(&self) -> Rendition {
        self.rendition
    }

    /// Whether the player wants media of `kind` now: not while paused, nor audio or video it
    /// switched off (receiveAudio/receiveVideo). Sequence starts and data always pass, so
    /// that a player that goes on can decode.
    pub fn wants(&self, kind: MediaKind) -> bool {
        self.controls.wants(kind)
    }

    /// Whether the player asked to go on from the next keyframe (after an unpause, a seek or
    /// video switched back on): true once per request.
    pub fn take_resync(&self) -> bool {
        self.controls.take_resync()
    }

    /// The handle of a player whose writer can read a stream's ring (the server's own
    /// connections).
    pub(crate) fn reading_rings(mut self) -> Self {
        self.reads_rings = true;
        self
    }

    /// Whether the player can read a stream's ring: its writer can, and it takes the media
    /// as published.
    pub(crate) fn can_follow(&self) -> bool {
        self.reads_rings && matches!(self.codecs, CodecPolicy::AsPublished)
    }

    /// A follower of `ring` for this player, if it can read one: its writer reads the ring
    /// from here on, after what was queued for it before. `lagging` carries over (no video
    /// until a keyframe).
    pub(crate) fn follow(&self, ring: &Arc<Ring>, lagging: bool) -> Option<Arc<Cursor>> {
        if !self.can_follow() {
            return None;
        }
        let follower = ring.follow(self.stream_id, self.controls.clone(), lagging);
        let cursor = follower.cursor();
        self.media.follow(follower).then_some(cursor)
    }

    /// The server-wide budget the player's queue counts in.
    pub(crate) fn budget(&self) -> &MemoryBudget {
        self.media.budget()
    }

    /// Queues `media` for the player, if its byte budget has room; never waits.
    pub fn deliver(&self, media: Media) -> Result<(), DeliverError> {
        self.media
            .try_send_on(media, self.stream_id)
            .map_err(|refused| match refused {
                Refused::Full => DeliverError::Full,
                Refused::Closed => DeliverError::Gone,
            })
    }

    /// Tells the player something, after the media queued for it so far; false when the
    /// player is gone.
    pub fn notify(&self, notice: Notice) -> bool {
        self.notices
            .send((Box::new(notice), self.media.sent()))
            .is_ok()
    }

    /// Whether the player announced Enhanced RTMP in its connect.
    pub fn enhanced(&self) -> bool {
        self.enhanced
    }

    /// Bytes queued for the player now.
    pub fn queued_bytes(&self) -> usize {
        self.media.queued_bytes()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)] // test code

    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    use rtmp_chunk::{MemoryBudget, RawMessage};

    use super::{Feed, Notice, PlayerHandle};
    use crate::SharedMedia;
    use rtmp_session::StreamKey;

    fn media(timestamp: u32) -> crate::Media {
        SharedMedia::new(
            RawMessage::new(6, timestamp, 9, 1, vec![0x27, 1, 0, 0, 0]),
            4096,
        )
        .unwrap()
    }

    fn unpublished() -> Notice {
        Notice::Unpublished(StreamKey {
            app: "live".into(),
            name: "a".into(),
        })
    }

    /// What the feed gives in order: media timestamps, and `None` for a notice.
    fn order(feed: Option<Feed>) -> Option<u32> {
        match feed.expect("the feed is open") {
            Feed::Media(media) => Some(media.message().timestamp),
            Feed::Notice(_) => None,
        }
    }

    #[tokio::test]
    async fn a_feed_gives_notices_after_the_media_queued_before_them() {
        let (handle, mut feed) = PlayerHandle::pair(1 << 20, MemoryBudget::new(usize::MAX), true);
        handle.deliver(media(1)).unwrap();
        handle.notify(unpublished());
        handle.deliver(media(2)).unwrap();
        handle.notify(unpublished());
        let mut got = Vec::new();
        for _ in 0..4 {
            got.push(order(feed.recv().await));
        }
        assert_eq!(got, [Some(1), None, Some(2), None]);
    }

    #[test]
    fn a_waiting_feed_woken_by_a_notice_and_media_gives_the_notice_first() {
        // The feed waits on both queues at once and polls them in a random order: whichever
        // it finds first, the notice was given first.
        for _ in 0..64 {
            let (handle, mut feed) =
                PlayerHandle::pair(1 << 20, MemoryBudget::new(usize::MAX), true);
            let mut context = Context::from_waker(Waker::noop());
            let mut receiving = pin!(feed.recv());
            assert!(receiving.as_mut().poll(&mut context).is_pending());
            handle.notify(unpublished());
            handle.deliver(media(1)).unwrap();
            let Poll::Ready(first) = receiving.as_mut().poll(&mut context) else {
                panic!("both were queued");
            };
            assert_eq!(order(first), None);
        }
    }
}
