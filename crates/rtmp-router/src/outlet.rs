//! A connection's outlet: the queues between what a connection driver's reader and the router
//! produce for a peer and the writer that sends it, and the order in which the writer takes
//! them.
//!
//! [`outlet`] makes the three ends. The reader keeps the [`Inlet`] (the connection's own
//! messages, and a [`PlayerHandle`] per play for the router) and the [`Notices`] the router
//! sends its players; the writer keeps the [`Outlet`] and fills a [`Batch`] from it for each
//! vectored write. Each own message goes after the media queued (or appended to a ring the
//! connection reads) before it, and never ahead of it; everything is bounded in bytes, against
//! the connection's limits and a [`MemoryBudget`] shared by a whole server.

use std::sync::Arc;
use std::task::Poll;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use rtmp_chunk::{ChunkEncoder, MemoryBudget, RawMessage};
use rtmp_session::PlayControl;

use crate::channel;
use crate::codecs::CodecPolicy;
use crate::controls::PlayControls;
use crate::media::Media;
use crate::player::{Notice, PlayerHandle, Stamped};
use crate::queue::{AnswerReceiver, AnswerSender, Item, MediaReceiver, MediaSender, answers};
use crate::ring::{FellBehind, Follower, Read};

/// The most buffers in one batch ...
const BATCH_MESSAGES: usize = 64;
/// ... and the most bytes.
const BATCH_BYTES: usize = 256 << 10;
/// Media messages taken off the queue under one lock (a batch may pass its limits by as many).
const TAKEN_AT_ONCE: usize = 16;
/// The most buffers a batch holds: a full batch and what may pass its limits.
pub const MAX_BATCH_BUFFERS: usize = BATCH_MESSAGES + TAKEN_AT_ONCE;
/// Buffers a resting batch keeps room for: a tick's worth of media (a 100 ms tick of 30 video
/// frames and 47 audio frames a second carries about 8, and often more). A backlog (a joining
/// player's catch-up) grows the list to [`BATCH_MESSAGES`]; the first small write after it
/// shrinks the list back, since every connection holds one (a player that stays behind keeps
/// writing large batches and keeps the room).
const BATCH_KEPT: usize = 16;

/// The three ends of a connection's queues: `media_bytes` for the media of its players
/// (chunked bytes plus 64 bytes per message) and `answer_bytes` for its own messages, both
/// also counted in `budget`.
pub fn outlet(
    media_bytes: usize,
    answer_bytes: usize,
    budget: MemoryBudget,
) -> (Inlet, Notices, Outlet) {
    let (answers_tx, answers_rx) = answers(answer_bytes, budget.clone());
    let (media_tx, media_rx) = MediaSender::channel(media_bytes, budget);
    let (notices_tx, notices_rx) = channel::unbounded();
    let inlet = Inlet {
        answers: answers_tx,
        media: media_tx,
        notices: notices_tx,
    };
    let outlet = Outlet {
        control: answers_rx,
        media: media_rx,
        taken: 0,
        followers: Vec::new(),
        held: None,
    };
    (inlet, Notices(notices_rx), outlet)
}

/// The reader's end of a connection's queues.
#[derive(Debug)]
pub struct Inlet {
    answers: AnswerSender,
    media: MediaSender,
    notices: channel::Sender<Stamped>,
}

impl Inlet {
    /// Queues one of the connection's own messages (an answer, a status, a ping), after the
    /// media queued for it so far. Always queued, even past the limit: a driver stops reading
    /// its peer while [`has_room`](Self::has_room) is false.
    pub fn send(&self, message: RawMessage) {
        self.answers.send(message, self.media.sent());
    }

    /// Whether the peer's input may be read further: false while the own messages fill their
    /// limit (or the server's budget is used up), so that a peer that does not read is not
    /// read either.
    pub fn has_room(&self) -> bool {
        self.answers.has_room()
    }

    /// Completes when the writer has taken an own message off the queue.
    pub async fn room(&self) {
        self.answers.room().await;
    }

    /// The bytes of own messages queued, if past twice the limit: only what is sent on the
    /// connection's own (statuses about other connections' streams) goes past the limit, and a
    /// peer that leaves that much unread is to be closed.
    pub fn overflowing(&self) -> Option<usize> {
        self.answers.overflowing()
    }

    /// A player on message stream `stream_id` of this connection: the handle to give the
    /// router, which reads the stream's ring where it can (the hub's fast path), and the
    /// controls where its requests (pause, seek, receiveAudio/receiveVideo) go.
    pub fn player(
        &self,
        stream_id: u32,
        enhanced: bool,
        codecs: CodecPolicy,
    ) -> (PlayerHandle, PlayerControls) {
        let controls = Arc::new(PlayControls::default());
        let handle = PlayerHandle::new(
            self.media.clone(),
            self.notices.clone(),
            enhanced,
            stream_id,
            controls.clone(),
        )
        .with_codecs(codecs)
        .reading_rings();
        (handle, PlayerControls(controls))
    }
}

/// Where a player's requests about its stream go (see [`Inlet::player`]).
#[derive(Debug, Clone)]
pub struct PlayerControls(Arc<PlayControls>);

impl PlayerControls {
    /// Applies a request of the player's: the router's fan-out and the writer's ring reading
    /// follow it from the next message.
    pub fn apply(&self, control: PlayControl) {
        self.0.apply(control);
    }
}

/// What the router tells a connection's players, in the order given.
#[derive(Debug)]
pub struct Notices(channel::Receiver<Stamped>);

impl Notices {
    /// The next notice, waiting for one. A driver answers it with its own messages, which
    /// [`Inlet::send`] orders after the media queued before them.
    pub async fn recv(&mut self) -> Option<Notice> {
        self.0.recv().await.map(|(notice, _)| *notice)
    }
}

/// The writer's end of a connection's queues: own messages (each after the media queued
/// before it), the media queue, and the rings the connection's players read.
#[derive(Debug)]
pub struct Outlet {
    control: AnswerReceiver,
    media: MediaReceiver,
    /// Items taken from the media queue so far.
    taken: u64,
    /// The streams' rings this connection's players read.
    followers: Vec<Follower>,
    /// An own message waiting for the followers to read what their rings held when it was
    /// taken.
    held: Option<Box<RawMessage>>,
}

impl Outlet {
    /// Waits for something to write and adds it to `batch`; false once the [`Inlet`] is gone
    /// and every own message was taken (the writer then ends).
    pub async fn ready(&mut self, batch: &mut Batch) -> bool {
        if !batch.buffers.is_empty() || self.held.is_some() {
            return true;
        }
        tokio::select! {
            biased;
            message = self.control.recv() => match message {
                Some((message, stamp)) => self.hold(message, stamp, batch),
                None => return false,
            },
            Some(item) = self.media.recv_on() => self.take_item(item, batch),
            () = rings_ready(&mut self.followers) => {}
        }
        true
    }

    /// Waits for an own message only (a writer resting until its next tick); false once the
    /// [`Inlet`] is gone.
    pub async fn own_message(&mut self, batch: &mut Batch) -> bool {
        match self.control.recv().await {
            Some((message, stamp)) => {
                self.hold(message, stamp, batch);
                true
            }
            None => false,
        }
    }

    /// Fills `batch` with what is ready now, until it is full or nothing is ready: the held
    /// own message once the rings were read up to it, other own messages, queued media
    /// (several per lock of the queue), then the rings. True when it stopped at a limit with
    /// more to write (a backlog, written at once rather than on the next tick). Fails when a
    /// player fell out of its ring under the disconnect policy.
    pub fn fill(&mut self, batch: &mut Batch) -> Result<bool, FellBehind> {
        while !batch.is_full() {
            if let Some(message) = self.held.take() {
                // The rings are read up to the marks unless the batch fills first: then the
                // rest, and the message, after this write.
                self.read_rings(batch)?;
                if batch.is_full() && !self.followers.iter().all(Follower::reached_barrier) {
                    self.held = Some(message);
                    break;
                }
                batch.push_control(&message);
                batch.own = true;
                continue;
            }
            if let Some((message, stamp)) = self.control.try_recv() {
                self.hold(message, stamp, batch);
                continue;
            }
            let mut slots: [Option<Item>; TAKEN_AT_ONCE] = Default::default();
            if self.media.try_recv_many(&mut slots) > 0 {
                for item in slots.into_iter().flatten() {
                    self.take_item(item, batch);
                }
                continue;
            }
            if !self.read_rings(batch)? {
                break;
            }
        }
        Ok(batch.is_full() || self.held.is_some())
    }

    /// Tells the outlet that `batch` was written: the media it held goes back to the budgets,
    /// and the batch is emptied for the next write.
    pub fn written(&mut self, batch: &mut Batch) {
        self.media.settle();
        let buffers = batch.buffers.len();
        batch.buffers.clear();
        batch.size = 0;
        batch.oldest = None;
        batch.own = false;
        if buffers <= BATCH_KEPT && batch.buffers.capacity() > BATCH_KEPT {
            batch.buffers.shrink_to(BATCH_KEPT);
        }
    }

    /// Adds a media queue item: a message to the batch, or a ring to read from now on.
    fn take_item(&mut self, item: Item, batch: &mut Batch) {
        self.taken += 1;
        match item {
            Item::Media(media, stream_id) => batch.push_media(media, stream_id),
            Item::Follow(follower) => {
                // Usually the only one: no room for more (every connection holds this list).
                self.followers.reserve_exact(1);
                self.followers.push(*follower);
                // The queue carried the catch-up before it, and little from now on.
                self.media.shrink();
            }
        }
    }

    /// Takes an own message: it goes after the queue items before `stamp` and after the ring
    /// media appended before now, never ahead of them.
    fn hold(&mut self, message: Box<RawMessage>, stamp: u64, batch: &mut Batch) {
        while self.taken < stamp {
            let Some(item) = self.media.try_recv_on() else {
                break;
            };
            self.take_item(item, batch);
        }
        for follower in &mut self.followers {
            follower.set_barrier();
        }
        self.held = Some(message);
    }

    /// Adds what the rings hold past each follower's cursor, while the batch has room;
    /// followers whose players left are dropped once read. True when something was added.
    fn read_rings(&mut self, batch: &mut Batch) -> Result<bool, FellBehind> {
        let before = batch.buffers.len();
        let mut index = 0;
        while let Some(follower) = self.followers.get_mut(index) {
            if batch.is_full() {
                break;
            }
            let read = follower.read(|media, stream_id| {
                batch.push_media(media, stream_id);
                !batch.is_full()
            })?;
            match read {
                Read::Open => index += 1,
                Read::Ended => drop(self.followers.swap_remove(index)),
            }
        }
        Ok(batch.buffers.len() > before)
    }
}

/// Ready when one of `followers` has something to read (or ended).
async fn rings_ready(followers: &mut [Follower]) {
    std::future::poll_fn(|cx| {
        for follower in followers.iter_mut() {
            if follower.poll_ready(cx).is_ready() {
                return Poll::Ready(());
            }
        }
        Poll::Pending
    })
    .await;
}

/// One buffer of a write: shared media as the router chunked it (written from the shared
/// bytes, with no reference taken on them), or bytes encoded for this connection (boxed: they
/// are rare, and boxed they keep every slot of the list, which each connection holds, at 16
/// bytes).
#[derive(Debug)]
enum Buffer {
    Shared(Media),
    Own(Box<Bytes>),
}

impl Buffer {
    fn bytes(&self) -> &[u8] {
        match self {
            Self::Shared(media) => media.chunked().bytes(),
            Self::Own(bytes) => bytes,
        }
    }
}

/// The buffers of one vectored write, and the connection's chunk encoder state.
#[derive(Debug, Default)]
pub struct Batch {
    encoder: ChunkEncoder,
    scratch: BytesMut,
    buffers: Vec<Buffer>,
    size: usize,
    /// When the router received the oldest shared media of the batch.
    oldest: Option<Instant>,
    /// Whether the batch holds a message of the connection's own (an answer, a ping).
    own: bool,
    /// Media messages chunked again since last taken: the router chunked them at a size
    /// other than the connection's.
    rechunked: u64,
}

impl Batch {
    /// An empty batch, for a connection whose peer takes chunks of 128 bytes (the protocol's
    /// default); own messages that change the chunk size are followed.
    pub fn new() -> Self {
        Self::default()
    }

    /// The buffer at `index`, in the order they are to be written.
    pub fn buffer(&self, index: usize) -> Option<&[u8]> {
        self.buffers.get(index).map(Buffer::bytes)
    }

    /// How many buffers the batch holds (at most [`MAX_BATCH_BUFFERS`]).
    pub fn len(&self) -> usize {
        self.buffers.len()
    }

    /// Whether the batch holds nothing.
    pub fn is_empty(&self) -> bool {
        self.buffers.is_empty()
    }

    /// The bytes the batch holds.
    pub fn size(&self) -> usize {
        self.size
    }

    /// When the router received the oldest media the batch holds (for a writer that lets a
    /// small batch wait for more, within a bound).
    pub fn oldest_media(&self) -> Option<Instant> {
        self.oldest
    }

    /// Whether the batch holds a message of the connection's own (a command answer, a
    /// status, a ping): such a batch is written at once.
    pub fn has_own_message(&self) -> bool {
        self.own
    }

    /// Media messages chunked again for this connection since the last call, because the
    /// router chunked them at another size than the connection's (see
    /// [`PlayerHandle::chunk_size`]): each costs a copy. A driver reports them, so that the
    /// mismatch is seen.
    pub fn take_rechunked(&mut self) -> u64 {
        std::mem::take(&mut self.rechunked)
    }

    fn is_full(&self) -> bool {
        self.buffers.len() >= BATCH_MESSAGES || self.size >= BATCH_BYTES
    }

    fn push_control(&mut self, message: &RawMessage) {
        if self.encoder.encode(message, &mut self.scratch).is_err() {
            return;
        }
        let bytes = self.scratch.split().freeze();
        self.size += bytes.len();
        self.buffers.push(Buffer::Own(Box::new(bytes)));
    }

    /// Adds `media` for the player on message stream `stream_id`.
    fn push_media(&mut self, media: Media, stream_id: u32) {
        // The shared bytes fit players on message stream 1 at the router's chunk size: no
        // copy.
        let made = media.made();
        self.oldest = Some(self.oldest.map_or(made, |oldest| oldest.min(made)));
        if stream_id == 1 && self.encoder.record_chunked(media.chunked()).is_ok() {
            self.size += media.chunked().bytes().len();
            self.buffers.push(Buffer::Shared(media));
            return;
        }
        if stream_id == 1 {
            self.rechunked += 1;
        }
        let message = RawMessage {
            stream_id,
            ..media.message()
        };
        self.push_control(&message);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)] // test code

    use bytes::BytesMut;
    use rtmp_chunk::{ChunkDecoder, DecoderConfig, MemoryBudget, RawMessage, type_id};
    use rtmp_session::StreamKey;

    use super::{Batch, outlet};
    use crate::{CodecPolicy, Hub, HubConfig, Router};

    /// The peer of a connection: what its writer wrote, decoded (a timestamp per message,
    /// `None` for an acknowledgement).
    struct Peer {
        decoder: ChunkDecoder,
        bytes: BytesMut,
    }

    impl Peer {
        fn read(&mut self, batch: &Batch) -> Vec<Option<u32>> {
            for index in 0..batch.len() {
                self.bytes.extend_from_slice(batch.buffer(index).unwrap());
            }
            let mut messages = Vec::new();
            while let Some(message) = self.decoder.decode(&mut self.bytes).unwrap() {
                let media = message.type_id != type_id::ACKNOWLEDGEMENT;
                messages.push(media.then_some(message.timestamp));
            }
            messages
        }
    }

    fn video(timestamp: u32, keyframe: bool) -> RawMessage {
        let first = if keyframe { 0x17 } else { 0x27 };
        RawMessage::new(7, timestamp, type_id::VIDEO, 1, vec![first, 1, 0, 0, 0, 9])
    }

    #[test]
    fn a_ring_is_read_after_the_catch_up_and_before_own_messages_queued_after_its_media() {
        let (inlet, _notices, mut outlet) = outlet(1 << 20, 64 << 10, MemoryBudget::new(1 << 30));
        let config = HubConfig {
            chunk_size: 128,
            ..HubConfig::default()
        };
        let hub = Hub::new(config);
        let key = StreamKey {
            app: "live".into(),
            name: "a".into(),
        };
        let mut publisher = hub.publish(&key).unwrap();
        publisher.send(&video(0, true)).unwrap();
        // The catch-up (the keyframe) goes in the queue, then the player reads the ring.
        let (handle, _controls) = inlet.player(1, true, CodecPolicy::AsPublished);
        let _subscription = hub.play(&key, handle).unwrap();
        publisher.send(&video(20, false)).unwrap();
        publisher.send(&video(40, false)).unwrap();
        // An own message goes after the ring's media appended before the writer takes it
        // (never ahead of media published before it) ...
        inlet.send(RawMessage::acknowledgement(7));
        publisher.send(&video(60, false)).unwrap();
        let mut batch = Batch::new();
        let mut peer = Peer {
            decoder: ChunkDecoder::new(DecoderConfig::default()),
            bytes: BytesMut::new(),
        };
        assert!(!outlet.fill(&mut batch).unwrap(), "no backlog");
        assert_eq!(
            peer.read(&batch),
            [Some(0), Some(20), Some(40), Some(60), None]
        );
        outlet.written(&mut batch);
        assert!(batch.is_empty());
        // ... and before what the ring gets after that.
        inlet.send(RawMessage::acknowledgement(8));
        outlet.fill(&mut batch).unwrap();
        publisher.send(&video(80, false)).unwrap();
        outlet.fill(&mut batch).unwrap();
        assert_eq!(peer.read(&batch), [None, Some(80)]);
        assert_eq!(
            batch.take_rechunked(),
            0,
            "the hub chunked at the connection's size"
        );
    }

    #[test]
    fn media_chunked_at_another_size_is_chunked_again_whole_and_counted() {
        let (inlet, _notices, mut outlet) = outlet(1 << 20, 64 << 10, MemoryBudget::new(1 << 30));
        // The hub chunks at 1024 bytes; the connection still writes the protocol's 128.
        let hub = Hub::new(HubConfig::default());
        let key = StreamKey {
            app: "live".into(),
            name: "b".into(),
        };
        let mut publisher = hub.publish(&key).unwrap();
        let (handle, _controls) = inlet.player(1, true, CodecPolicy::AsPublished);
        assert_eq!(handle.chunk_size(), 128);
        let _subscription = hub.play(&key, handle).unwrap();
        let frames: Vec<RawMessage> = (0..3u8)
            .map(|n| {
                let mut payload = vec![if n == 0 { 0x17 } else { 0x27 }, 1, 0, 0, 0];
                payload.extend((0..3000u32).map(|byte| (byte % 251) as u8 ^ n));
                RawMessage::new(7, 40 * u32::from(n), type_id::VIDEO, 1, payload)
            })
            .collect();
        for frame in &frames {
            publisher.send(frame).unwrap();
        }
        let mut batch = Batch::new();
        outlet.fill(&mut batch).unwrap();
        let mut bytes = BytesMut::new();
        for index in 0..batch.len() {
            bytes.extend_from_slice(batch.buffer(index).unwrap());
        }
        let mut decoder = ChunkDecoder::new(DecoderConfig::default());
        let received: Vec<RawMessage> =
            std::iter::from_fn(|| decoder.decode(&mut bytes).unwrap()).collect();
        assert_eq!(received.len(), frames.len());
        for (got, sent) in received.iter().zip(&frames) {
            assert_eq!(
                (got.timestamp, &got.payload),
                (sent.timestamp, &sent.payload)
            );
        }
        assert_eq!(batch.take_rechunked(), 3);
        assert_eq!(batch.take_rechunked(), 0, "taken once");
    }
}
