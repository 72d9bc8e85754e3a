//! A connection's writer task: the connection's own messages and the shared media, several
//! per vectored system call, written on a tick shared by all connections. Each own message
//! carries the count of media queued before it, and never overtakes that media. A socket that
//! accepts nothing for the write timeout while bytes wait ends the task with
//! [`WriteStalled`].

use std::io::IoSlice;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::hub::Media;
use crate::queue::{AnswerReceiver, Item, MediaReceiver};
use crate::ring::{FellBehind, Follower, Read};
use bytes::{Bytes, BytesMut};
use rtmp_chunk::{ChunkEncoder, RawMessage};
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// The writing half of a connection's stream.
pub(crate) type WriteHalf = Box<dyn AsyncWrite + Send + Unpin>;

/// The most buffers in one vectored write ...
const BATCH_MESSAGES: usize = 64;
/// ... and the most bytes.
const BATCH_BYTES: usize = 256 << 10;
/// The most buffers handed to one vectored write: a full batch and what may pass its limits.
const SLICES_PER_WRITE: usize = BATCH_MESSAGES + TAKEN_AT_ONCE;
/// Media messages taken off the queue under one lock (a batch may pass its limits by as many).
const TAKEN_AT_ONCE: usize = 16;
/// Buffers a resting writer keeps room for: a tick's worth of media (a 100 ms tick of 30 video
/// frames and 47 audio frames a second carries about 8, and often more). A backlog (a joining
/// player's catch-up) grows the list to [`BATCH_MESSAGES`]; the first small write after it
/// shrinks the list back, since every connection holds one (a player that stays behind keeps
/// writing large batches and keeps the room).
const BATCH_KEPT: usize = 16;

/// The peer accepted no bytes for the write timeout while bytes waited for it.
#[derive(Debug, thiserror::Error)]
#[error("the peer accepted no bytes for {0:?}")]
pub struct WriteStalled(pub std::time::Duration);

/// The first tick (`epoch` plus a multiple of `period`) after `instant`'s tick: the tick
/// boundary that ends the period holding `instant`.
pub(crate) fn next_tick(
    epoch: tokio::time::Instant,
    period: Duration,
    instant: tokio::time::Instant,
) -> tokio::time::Instant {
    let period_nanos = period.as_nanos().max(1);
    let elapsed = instant.saturating_duration_since(epoch).as_nanos();
    let next = (elapsed / period_nanos + 1).saturating_mul(period_nanos);
    let offset = Duration::from_nanos(u64::try_from(next).unwrap_or(u64::MAX));
    // Past what the clock can hold: no wait rather than a panic.
    epoch.checked_add(offset).unwrap_or(instant)
}

/// The writer's side of a connection: its own messages (each stamped with the count of queue
/// items before it), its media queue, and the rings its players read.
struct Outbox {
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

impl Outbox {
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

    /// Fills `batch` with what is ready now, until it is full or nothing is ready: the held
    /// own message once the rings were read up to it, other own messages, queued items
    /// (several per lock of the queue), then the rings. Fails when a player fell out of its
    /// ring under the disconnect policy.
    fn fill(&mut self, batch: &mut Batch) -> Result<(), FellBehind> {
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
        Ok(())
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
                return std::task::Poll::Ready(());
            }
        }
        std::task::Poll::Pending
    })
    .await;
}

/// One buffer of a write: shared media as the hub chunked it (written from the shared bytes,
/// with no reference taken on them), or bytes encoded for this connection (boxed: they are
/// rare, and boxed they keep every slot of the list, which each connection holds, at 16
/// bytes).
enum Buffer {
    Shared(Media),
    Own(Box<Bytes>),
}

impl Buffer {
    fn bytes(&self) -> &[u8] {
        match self {
            Self::Shared(media) => media.chunked.bytes(),
            Self::Own(bytes) => bytes,
        }
    }
}

/// Buffers for one vectored write, and the chunk encoder's state.
struct Batch {
    encoder: ChunkEncoder,
    scratch: BytesMut,
    buffers: Vec<Buffer>,
    size: usize,
}

impl Batch {
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

    /// Adds `item` for the player on message stream `stream_id`.
    fn push_media(&mut self, item: Media, stream_id: u32) {
        // The shared bytes fit players on message stream 1 at the hub's chunk size: no copy.
        if stream_id == 1 && self.encoder.record_chunked(&item.chunked).is_ok() {
            self.size += item.chunked.bytes().len();
            self.buffers.push(Buffer::Shared(item));
            return;
        }
        let message = RawMessage {
            stream_id,
            ..item.message()
        };
        self.push_control(&message);
    }
}

/// The writer's clock: writes wait for the next multiple of `period` after `epoch`, and a
/// write that makes no progress for `timeout` ends the connection.
pub(crate) struct Ticks {
    /// The server's start: ticks are counted from here.
    pub(crate) epoch: tokio::time::Instant,
    /// The write interval; zero writes as soon as anything is queued.
    pub(crate) period: Duration,
    /// The longest the socket may accept nothing while bytes wait.
    pub(crate) timeout: Duration,
}

/// Writes the connection's own messages (ahead of media queued after them, never ahead of
/// media queued before them) and shared media, several per system call.
pub(crate) async fn write_loop(
    mut writer: WriteHalf,
    control: AnswerReceiver,
    media: MediaReceiver,
    ticks: Ticks,
    written: Arc<AtomicU64>,
) -> std::io::Result<()> {
    let mut outbox = Outbox {
        control,
        media,
        taken: 0,
        followers: Vec::new(),
        held: None,
    };
    let mut batch = Batch {
        encoder: ChunkEncoder::new(),
        scratch: BytesMut::new(),
        buffers: Vec::new(),
        size: 0,
    };
    loop {
        // Wait for something to write, unless something came while resting.
        if batch.buffers.is_empty() && outbox.held.is_none() {
            tokio::select! {
                biased;
                message = outbox.control.recv() => match message {
                    Some((message, stamp)) => outbox.hold(message, stamp, &mut batch),
                    None => break,
                },
                Some(item) = outbox.media.recv_on() => outbox.take_item(item, &mut batch),
                () = rings_ready(&mut outbox.followers) => {}
            }
        }
        outbox.fill(&mut batch).map_err(std::io::Error::other)?;
        // Whether the write stops at a batch limit with more to write.
        let backlog = batch.is_full() || outbox.held.is_some();
        write_all(&mut writer, &mut batch.buffers, ticks.timeout).await?;
        outbox.media.settle();
        written.fetch_add(batch.size as u64, Ordering::Relaxed);
        batch.size = 0;
        if backlog || ticks.period.is_zero() {
            continue;
        }
        // Coalesce: rest until the next tick, so that media arriving meanwhile shares one
        // system call and every connection writes on the same wake-up of the runtime. The
        // connection's own messages (command answers, pings) end the rest at once; a backlog
        // (the catch-up after joining, a player catching up) does not rest.
        let due = next_tick(ticks.epoch, ticks.period, tokio::time::Instant::now());
        tokio::select! {
            biased;
            message = outbox.control.recv() => match message {
                Some((message, stamp)) => outbox.hold(message, stamp, &mut batch),
                None => break,
            },
            () = tokio::time::sleep_until(due) => {}
        }
    }
    tokio::time::timeout(ticks.timeout, writer.shutdown())
        .await
        .map_err(|_| stalled(ticks.timeout))?
}

fn stalled(timeout: Duration) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::TimedOut, WriteStalled(timeout))
}

/// Writes every buffer of `batch` with vectored writes, then empties it. Each write must make
/// progress within `timeout`.
async fn write_all(
    writer: &mut WriteHalf,
    batch: &mut Vec<Buffer>,
    timeout: Duration,
) -> std::io::Result<()> {
    let buffers = batch.len();
    // The first buffer not written whole, and how much of it was.
    let (mut first, mut offset) = (0, 0);
    while first < batch.len() {
        let pending = batch.get(first..).unwrap_or_default();
        let write = std::future::poll_fn(|cx| {
            // Built on the stack of each poll: no allocation per write, and nothing added to
            // the task's state that every connection holds.
            let mut slices = [IoSlice::new(&[]); SLICES_PER_WRITE];
            let mut count = 0;
            for (slice, buffer) in slices.iter_mut().zip(pending) {
                let bytes = buffer.bytes();
                // The first buffer may be partly written already.
                let skip = if count == 0 { offset } else { 0 };
                *slice = IoSlice::new(bytes.get(skip..).unwrap_or_default());
                count += 1;
            }
            let slices = slices.get(..count).unwrap_or_default();
            Pin::new(&mut *writer).poll_write_vectored(cx, slices)
        });
        let mut written = tokio::time::timeout(timeout, write)
            .await
            .map_err(|_| stalled(timeout))??;
        if written == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        while let Some(buffer) = batch.get(first) {
            let left = buffer.bytes().len() - offset;
            if written < left {
                offset += written;
                break;
            }
            written -= left;
            (first, offset) = (first + 1, 0);
        }
    }
    batch.clear();
    if buffers <= BATCH_KEPT && batch.capacity() > BATCH_KEPT {
        batch.shrink_to(BATCH_KEPT);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{Ticks, WriteStalled, next_tick, write_loop};
    use crate::hub::{Media, MediaKind, SharedMedia, SlowPlayerPolicy};
    use crate::queue::{AnswerSender, MediaSender, answers};
    use crate::ring::Ring;
    use bytes::BytesMut;
    use rtmp_chunk::{
        ChunkDecoder, ChunkedMessage, DecoderConfig, MemoryBudget, RawMessage, type_id,
    };
    use std::sync::Arc;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, DuplexStream};
    use tokio::time::Instant;

    const TICK: Duration = Duration::from_millis(50);

    fn audio(timestamp: u32) -> Media {
        audio_of(timestamp, 4)
    }

    fn audio_of(timestamp: u32, len: usize) -> Media {
        let mut payload = vec![0xAF, 1];
        payload.resize(len.max(2), 7);
        let message = RawMessage::new(4, timestamp, type_id::AUDIO, 1, payload);
        Arc::new(SharedMedia {
            kind: MediaKind::Audio {
                sequence_start: false,
            },
            chunked: ChunkedMessage::new(message, 128).unwrap(),
        })
    }

    /// The writer's peer: decodes what it wrote.
    struct Peer {
        socket: DuplexStream,
        decoder: ChunkDecoder,
        buf: BytesMut,
    }

    impl Peer {
        /// The next message, if one arrives within `wait` (of the paused test clock).
        async fn next(&mut self, wait: Duration) -> Option<RawMessage> {
            loop {
                if let Some(message) = self.decoder.decode(&mut self.buf).unwrap() {
                    return Some(message);
                }
                let read = tokio::time::timeout(wait, self.socket.read_buf(&mut self.buf));
                assert!(read.await.ok()?.unwrap() > 0, "the writer closed");
            }
        }
    }

    type Writer = tokio::task::JoinHandle<std::io::Result<()>>;

    /// A writer on a paused clock whose ticks start now, over a pipe of `pipe` bytes, and its
    /// peer.
    fn writer(pipe: usize) -> (AnswerSender, MediaSender, Peer, Writer) {
        let (ours, theirs) = tokio::io::duplex(pipe);
        let budget = MemoryBudget::new(64 << 20);
        let (control, control_rx) = answers(64 << 10, budget.clone());
        let (media, media_rx) = MediaSender::channel(1 << 20, budget);
        let ticks = Ticks {
            epoch: Instant::now(),
            period: TICK,
            timeout: WRITE_TIMEOUT,
        };
        let task = tokio::spawn(write_loop(
            Box::new(ours),
            control_rx,
            media_rx,
            ticks,
            Arc::default(),
        ));
        let peer = Peer {
            socket: theirs,
            decoder: ChunkDecoder::new(DecoderConfig::default()),
            buf: BytesMut::new(),
        };
        (control, media, peer, task)
    }

    const WRITE_TIMEOUT: Duration = Duration::from_secs(20);

    #[tokio::test(start_paused = true)]
    async fn a_peer_that_accepts_nothing_is_dropped_after_the_write_timeout() {
        let start = Instant::now();
        let (control, media, mut peer, task) = writer(4096);
        // More than the pipe holds; the peer reads a little, then nothing.
        for timestamp in 0..8 {
            media.try_send(audio_of(timestamp, 2000)).unwrap();
        }
        let mut some = [0u8; 1000];
        peer.socket.read_exact(&mut some).await.unwrap();
        let error = tokio::time::timeout(WRITE_TIMEOUT * 2, task)
            .await
            .expect("the writer kept waiting")
            .unwrap()
            .unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::TimedOut);
        assert!(
            error
                .get_ref()
                .is_some_and(|inner| inner.is::<WriteStalled>())
        );
        // Counted from the last progress, not from the start.
        assert!(start.elapsed() >= WRITE_TIMEOUT);
        drop(control);
    }

    #[tokio::test(start_paused = true)]
    async fn media_waits_for_the_tick_and_own_messages_do_not() {
        let start = Instant::now();
        let (control, media, mut peer, _task) = writer(1 << 20);
        let short = Duration::from_millis(5);

        // Nothing written yet: the first message goes at once.
        media.try_send(audio(0)).unwrap();
        assert_eq!(peer.next(short).await.unwrap().timestamp, 0);

        // The writer now rests until the tick at 50 ms: media waits ...
        media.try_send(audio(20)).unwrap();
        media.try_send(audio(40)).unwrap();
        assert!(peer.next(short).await.is_none());
        // ... until an own message queued after it ends the rest: the media first, in order.
        let stamp = 3; // the three media messages queued before it
        control.send(RawMessage::acknowledgement(7), stamp);
        assert_eq!(peer.next(short).await.unwrap().timestamp, 20);
        assert_eq!(peer.next(short).await.unwrap().timestamp, 40);
        let ack = peer.next(short).await.unwrap();
        assert_eq!(ack.type_id, type_id::ACKNOWLEDGEMENT);
        assert!(start.elapsed() < TICK);

        // Media queued while resting again goes out on a tick boundary, not before.
        media.try_send(audio(60)).unwrap();
        assert_eq!(peer.next(TICK * 2).await.unwrap().timestamp, 60);
        let elapsed = start.elapsed();
        assert!(elapsed >= TICK);
        assert_eq!(elapsed.as_millis() % TICK.as_millis(), 0, "{elapsed:?}");

        // Closing the control channel ends the writer, which shuts its side down.
        drop(control);
        let mut rest = Vec::new();
        peer.socket.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn writes_cut_anywhere_by_a_small_pipe_deliver_every_message_whole_and_in_order() {
        // A pipe of 777 bytes takes each write in pieces that end inside messages.
        let (control, media, mut peer, _task) = writer(777);
        for timestamp in 0..40 {
            media
                .try_send(audio_of(timestamp, 300 + 37 * timestamp as usize))
                .unwrap();
        }
        control.send(RawMessage::acknowledgement(9), 40);
        for timestamp in 0..40 {
            let message = peer.next(TICK * 4).await.expect("a message");
            assert_eq!(message.timestamp, timestamp);
            assert_eq!(message.payload.len(), 300 + 37 * timestamp as usize);
        }
        let ack = peer.next(TICK * 4).await.unwrap();
        assert_eq!(ack.type_id, type_id::ACKNOWLEDGEMENT);
    }

    #[tokio::test(start_paused = true)]
    async fn a_ring_is_read_after_what_was_queued_before_it_and_before_own_messages_after_it() {
        let (control, media, mut peer, _task) = writer(1 << 20);
        let policy = SlowPlayerPolicy::SkipToKeyframe;
        let ring = Ring::new(1 << 20, policy, MemoryBudget::new(1 << 30), Arc::default());
        let short = Duration::from_millis(5);
        // The catch-up in the queue, then the ring from where the player started following.
        media.try_send(audio(0)).unwrap();
        assert!(media.follow(ring.follow(1, Arc::default(), false)));
        ring.push(audio(20));
        ring.push(audio(40));
        // An own message queued now goes after the ring's media appended before it.
        control.send(RawMessage::acknowledgement(7), media.sent());
        for timestamp in [0, 20, 40] {
            assert_eq!(peer.next(short).await.unwrap().timestamp, timestamp);
        }
        let ack = peer.next(short).await.unwrap();
        assert_eq!(ack.type_id, type_id::ACKNOWLEDGEMENT);
        // The ring's next message goes on the tick.
        ring.push(audio(60));
        assert!(peer.next(short).await.is_none());
        assert_eq!(peer.next(TICK * 2).await.unwrap().timestamp, 60);
    }

    #[test]
    fn ticks_fall_on_multiples_of_the_period() {
        let epoch = Instant::now();
        let period = Duration::from_millis(50);
        let ms = |n| epoch + Duration::from_millis(n);
        assert_eq!(next_tick(epoch, period, epoch), ms(50));
        assert_eq!(next_tick(epoch, period, ms(1)), ms(50));
        assert_eq!(next_tick(epoch, period, ms(49)), ms(50));
        assert_eq!(next_tick(epoch, period, ms(50)), ms(100));
        assert_eq!(next_tick(epoch, period, ms(1234)), ms(1250));
        // Two connections that wrote at different moments of one tick wake together.
        assert_eq!(
            next_tick(epoch, period, ms(1201)),
            next_tick(epoch, period, ms(1249))
        );
    }

    #[test]
    fn degenerate_periods_do_not_panic() {
        let epoch = Instant::now();
        let later = epoch + Duration::from_secs(3);
        // A zero period (never used for waiting) and a period past the clock's range.
        assert!(next_tick(epoch, Duration::ZERO, later) > later);
        assert!(next_tick(epoch, Duration::MAX, later) > later);
        assert!(next_tick(epoch, Duration::from_secs(1), epoch) > epoch);
        // An instant before the epoch counts as the epoch.
        let before = epoch.checked_sub(Duration::from_millis(5)).unwrap_or(epoch);
        assert_eq!(
            next_tick(epoch, Duration::from_millis(10), before),
            epoch + Duration::from_millis(10)
        );
    }
}
