//! Players as a router sees them: handles to queue media and notices for a player, and the
//! feed of a player of the application's own.

use std::sync::Arc;

use rtmp_chunk::MemoryBudget;
use rtmp_flv::Codec;
use rtmp_session::StreamKey;

use crate::channel;
use crate::codecs::CodecPolicy;
use crate::controls::PlayControls;
use crate::media::{Media, MediaKind};
use crate::queue::{MediaReceiver, MediaSender, Refused};
use crate::rendition::Rendition;
use crate::ring::{Cursor, Ring};

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
/// the order the router gave them.
#[derive(Debug)]
pub struct PlayerFeed {
    media: MediaReceiver,
    notices: channel::Receiver<Stamped>,
    /// A notice waiting for the media queued before it.
    pending: Option<Stamped>,
    /// A media message taken off the queue and waiting for a notice given before it.
    held: Option<Media>,
    /// Media messages taken so far.
    taken: u64,
}

impl PlayerFeed {
    /// The next media message or notice, waiting for one; `None` once the router has let go
    /// of the player and everything was taken.
    pub async fn recv(&mut self) -> Option<Feed> {
        loop {
            if self.pending.is_none() {
                self.pending = self.notices.try_recv();
            }
            if let Some((_, stamp)) = &self.pending {
                // The media queued before the notice comes first.
                if self.taken < *stamp {
                    let media = match self.held.take() {
                        Some(media) => Some(media),
                        None => self.media.recv().await,
                    };
                    if let Some(media) = media {
                        return Some(self.deliver(media));
                    }
                }
                return self.pending.take().map(|(notice, _)| Feed::Notice(*notice));
            }
            if let Some(media) = self.held.take().or_else(|| self.media.try_recv()) {
                // A notice given since the look above, before this media, goes first.
                self.pending = self.notices.try_recv();
                if matches!(&self.pending, Some((_, stamp)) if self.taken >= *stamp) {
                    self.held = Some(media);
                    continue;
                }
                return Some(self.deliver(media));
            }
            tokio::select! {
                notice = self.notices.recv() => match notice {
                    Some(stamped) => self.pending = Some(stamped),
                    // No more notices: what is left is media.
                    None => return self.media.recv().await.map(|media| self.deliver(media)),
                },
                media = self.media.recv() => match media {
                    Some(media) => self.held = Some(media),
                    // No more media: what is left is notices.
                    None => return self.notices.recv().await.map(|(notice, _)| Feed::Notice(*notice)),
                },
            }
        }
    }

    /// Counts `media` as taken and hands it out.
    fn deliver(&mut self, media: Media) -> Feed {
        self.taken += 1;
        Feed::Media(media)
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
        }
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
