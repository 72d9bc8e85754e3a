//! A stream's ring: each published message queued once, and read by every player that follows
//! the stream at a cursor of its own.
//!
//! The hub appends to the ring under the stream's lock; a player's writer takes what is past
//! its cursor once per write. So a message costs the fan-out one append, whatever the number of
//! players, and a write costs the writer one lock of the ring. What every cursor has passed
//! goes; past the ring's byte limit the oldest messages go whoever still needs them, and a
//! player that had not read them goes on from the next keyframe (or is disconnected, by the
//! hub's slow-player policy).
//!
//! Players whose codec policy converts or skips media keep a queue of their own (the converted
//! forms are theirs alone), as do the application's own players.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use crate::controls::PlayControls;
use crate::gate::KeyframeGate;
use crate::media::Media;
use crate::slow_player::SlowPlayerPolicy;
use crate::sync::lock;
use rtmp_chunk::MemoryBudget;

/// Bytes appended between two trims of what every cursor has passed.
const TRIM_EVERY: usize = 64 << 10;

/// A follower fell out of the ring under the disconnect policy.
#[derive(Debug, thiserror::Error)]
#[error("the player fell behind its stream by more than the queue holds")]
pub struct FellBehind;

/// One stream's published media, for its followers.
pub(crate) struct Ring {
    state: Mutex<State>,
    /// The most bytes held (media cost, as a player's queue counts it).
    limit: usize,
    policy: SlowPlayerPolicy,
    /// Messages followers lost: this stream's count, and the hub's of all streams.
    dropped: AtomicU64,
    /// Payload bytes followers took, all together.
    taken: AtomicU64,
    hub_dropped: Arc<AtomicU64>,
}

struct State {
    /// The sequence number of the first message held.
    first: u64,
    items: VecDeque<Media>,
    /// The bytes held, also counted in `budget`.
    bytes: usize,
    /// Trim once `bytes` reaches this.
    trim_at: usize,
    /// Every follower's cursor, for trimming.
    cursors: Vec<Arc<Cursor>>,
    /// Writers waiting for the next message.
    waiting: Vec<Waker>,
    /// Wake-ups of `waiting` so far: a follower registers once per wake-up.
    wakes: u64,
    budget: MemoryBudget,
}

impl State {
    /// The sequence number the next message will have.
    fn head(&self) -> u64 {
        self.first + self.items.len() as u64
    }

    fn pop(&mut self) {
        if let Some(media) = self.items.pop_front() {
            let cost = media.cost();
            self.bytes -= cost;
            self.budget.give_back(cost);
            self.first += 1;
        }
    }

    fn wake_all(&mut self) -> Vec<Waker> {
        if !self.waiting.is_empty() {
            self.wakes += 1;
        }
        std::mem::take(&mut self.waiting)
    }
}

impl Drop for State {
    fn drop(&mut self) {
        self.budget.give_back(self.bytes);
    }
}

/// A follower's position, shared by its reader (which moves `next`) and the ring (which trims
/// to the slowest `next` and sets `end` when the player leaves).
pub(crate) struct Cursor {
    /// The next sequence number to read.
    next: AtomicU64,
    /// Where the follower stops: the head when its player left, `u64::MAX` until then.
    end: AtomicU64,
}

impl Ring {
    /// An empty ring holding at most `limit` bytes, counted in `budget` too.
    pub(crate) fn new(
        limit: usize,
        policy: SlowPlayerPolicy,
        budget: MemoryBudget,
        hub_dropped: Arc<AtomicU64>,
    ) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State {
                first: 0,
                items: VecDeque::new(),
                bytes: 0,
                trim_at: TRIM_EVERY,
                cursors: Vec::new(),
                waiting: Vec::new(),
                wakes: 0,
                budget,
            }),
            limit,
            policy,
            dropped: AtomicU64::new(0),
            taken: AtomicU64::new(0),
            hub_dropped,
        })
    }

    /// Appends `media` for the followers (nothing is kept when nobody follows), waking
    /// writers that wait for it.
    pub(crate) fn push(&self, media: Media) {
        let mut state = lock(&self.state);
        if state.cursors.is_empty() {
            return;
        }
        let cost = media.cost();
        // Taken whatever the server's budget says: the stream cannot wait, and the trim
        // below keeps the ring within its own limit.
        state.budget.take(cost);
        state.bytes += cost;
        state.items.push_back(media);
        if state.bytes >= state.trim_at || state.bytes > self.limit {
            self.trim(&mut state);
        }
        let waiting = state.wake_all();
        drop(state);
        waiting.into_iter().for_each(Waker::wake);
    }

    /// Drops what every cursor has passed, then the oldest past the limit.
    fn trim(&self, state: &mut State) {
        let head = state.head();
        let slowest = state
            .cursors
            .iter()
            .map(|cursor| cursor.next.load(Ordering::Acquire))
            .min()
            .unwrap_or(head);
        while state.first < slowest.min(head) {
            state.pop();
        }
        // The newest message stays, whatever its size.
        let first = state.first;
        while state.bytes > self.limit && state.items.len() > 1 {
            state.pop();
        }
        // What followers had not read yet is lost to them: counted now, as their writers may
        // not read for a while (a player that stopped reading).
        let lost: u64 = state
            .cursors
            .iter()
            .map(|cursor| {
                state.first
                    - cursor
                        .next
                        .load(Ordering::Acquire)
                        .clamp(first, state.first)
            })
            .sum();
        self.count_dropped(lost);
        state.trim_at = state.bytes + TRIM_EVERY;
    }

    /// A follower that reads from the next message on, for the player on message stream
    /// `stream_id` with `controls`.
    pub(crate) fn follow(
        self: &Arc<Self>,
        stream_id: u32,
        controls: Arc<PlayControls>,
        lagging: bool,
    ) -> Follower {
        let mut state = lock(&self.state);
        let head = state.head();
        let cursor = Arc::new(Cursor {
            next: AtomicU64::new(head),
            end: AtomicU64::new(u64::MAX),
        });
        state.cursors.push(cursor.clone());
        Follower {
            ring: self.clone(),
            cursor,
            next: head,
            stream_id,
            controls,
            gate: KeyframeGate::new(lagging),
            barrier: None,
            registered: None,
        }
    }

    /// Whether nobody follows the ring any more.
    pub(crate) fn is_unused(&self) -> bool {
        lock(&self.state).cursors.is_empty()
    }

    /// Ends `cursor` at the current head: its follower reads what was appended so far, then
    /// stops (its player left the stream).
    pub(crate) fn end(&self, cursor: &Cursor) {
        let mut state = lock(&self.state);
        cursor.end.store(state.head(), Ordering::Release);
        let waiting = state.wake_all();
        drop(state);
        waiting.into_iter().for_each(Waker::wake);
    }

    /// Payload bytes followers took so far, all together.
    pub(crate) fn taken(&self) -> u64 {
        self.taken.load(Ordering::Relaxed)
    }

    /// Messages followers lost by falling behind.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn count_dropped(&self, messages: u64) {
        if messages > 0 {
            self.dropped.fetch_add(messages, Ordering::Relaxed);
            self.hub_dropped.fetch_add(messages, Ordering::Relaxed);
        }
    }
}

/// A player's reading of a stream's ring, held by its connection's writer.
pub(crate) struct Follower {
    ring: Arc<Ring>,
    cursor: Arc<Cursor>,
    /// The next sequence number to read (the writer's copy of the cursor).
    next: u64,
    /// The player's message stream.
    stream_id: u32,
    controls: Arc<PlayControls>,
    /// No video until a keyframe.
    gate: KeyframeGate,
    /// Read up to here before the connection's next own message goes out.
    barrier: Option<u64>,
    /// The ring's wake-up count when this follower last registered to be woken.
    registered: Option<u64>,
}

impl std::fmt::Debug for Follower {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Follower")
            .field("next", &self.next)
            .field("stream_id", &self.stream_id)
            .finish_non_exhaustive()
    }
}

/// What a read left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Read {
    /// More may come (or is there, past the room given).
    Open,
    /// The player left and everything before was read: drop the follower.
    Ended,
}

impl Follower {
    /// The cursor the hub ends when the player leaves.
    pub(crate) fn cursor(&self) -> Arc<Cursor> {
        self.cursor.clone()
    }

    /// Marks the current head: [`reached_barrier`](Self::reached_barrier) holds once it is
    /// read. A connection's own message taken now goes out after the media appended before it.
    pub(crate) fn set_barrier(&mut self) {
        self.barrier = Some(lock(&self.ring.state).head());
    }

    /// Whether everything before the barrier was read (or there is none).
    pub(crate) fn reached_barrier(&self) -> bool {
        let end = self.cursor.end.load(Ordering::Acquire);
        self.barrier
            .is_none_or(|barrier| self.next >= barrier.min(end))
    }

    /// Takes the messages past the cursor (only up to the barrier while one is set), giving
    /// each the player gets (after pause, receiveAudio/receiveVideo and keyframe
    /// resynchronisation) to `take` with the player's message stream, until `take` says it
    /// has no more room. Fails when the player fell out of the ring under the disconnect
    /// policy.
    pub(crate) fn read(
        &mut self,
        mut take: impl FnMut(Media, u32) -> bool,
    ) -> Result<Read, FellBehind> {
        let Self {
            ring,
            cursor,
            next,
            stream_id,
            controls,
            gate,
            barrier,
            ..
        } = self;
        let state = lock(&ring.state);
        // Fell out of the ring: the trim counted what was lost.
        if *next < state.first {
            if ring.policy == SlowPlayerPolicy::Disconnect {
                return Err(FellBehind);
            }
            *next = state.first;
            gate.close();
        }
        let end = cursor.end.load(Ordering::Acquire);
        let until = state.head().min(end).min(barrier.unwrap_or(u64::MAX));
        let (mut skipped, mut taken) = (0, 0);
        let start = usize::try_from(*next - state.first).unwrap_or(usize::MAX);
        for media in state.items.range(start.min(state.items.len())..) {
            if *next >= until {
                break;
            }
            *next += 1;
            match admit(media, controls, gate) {
                Admit::Yes => {
                    taken += media.chunked().payload_len() as u64;
                    if !take(media.clone(), *stream_id) {
                        break;
                    }
                }
                Admit::Skipped => skipped += 1,
                Admit::No => {}
            }
        }
        // Stored under the lock, so that a trim never counts what was just read as lost.
        cursor.next.store(*next, Ordering::Release);
        drop(state);
        ring.count_dropped(skipped);
        if taken > 0 {
            ring.taken.fetch_add(taken, Ordering::Relaxed);
        }
        if self.reached_barrier() {
            self.barrier = None;
        }
        Ok(if self.next >= end {
            Read::Ended
        } else {
            Read::Open
        })
    }

    /// Ready when there is something to read, or the follower ended; otherwise the task is
    /// woken by the next append (or the end).
    pub(crate) fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = lock(&self.ring.state);
        let end = self.cursor.end.load(Ordering::Acquire);
        if self.next != state.head().min(end) || self.next >= end {
            return Poll::Ready(());
        }
        // Once per wake-up of the ring: a connection's writer polls with its task's waker
        // alone.
        if self.registered != Some(state.wakes) {
            state.waiting.push(cx.waker().clone());
            self.registered = Some(state.wakes);
        }
        Poll::Pending
    }

    /// As [`poll_ready`](Self::poll_ready), for a reader polled with more than one waker (a
    /// feed asked what is ready now with a waker that wakes nobody, then awaited): it
    /// registers `cx`'s waker at every poll that finds nothing.
    pub(crate) fn poll_ready_any_waker(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.registered = None;
        self.poll_ready(cx)
    }
}

/// Whether a player with `controls` gets `media`, as the hub decides for a player with a
/// queue of its own: its controls, then the keyframe gate.
fn admit(media: &Media, controls: &PlayControls, gate: &mut KeyframeGate) -> Admit {
    // A player that paused or switched a kind of media off gets none; one that goes on (or
    // seeked) starts again from a keyframe.
    if controls.take_resync() {
        gate.close();
    }
    let kind = media.kind();
    if !controls.wants(kind) {
        return Admit::No;
    }
    if !gate.admits(kind) {
        return Admit::Skipped;
    }
    gate.passed(kind);
    Admit::Yes
}

enum Admit {
    Yes,
    /// Video skipped until a keyframe: counted as dropped.
    Skipped,
    /// Media the player switched off or paused.
    No,
}

impl Drop for Follower {
    fn drop(&mut self) {
        let mut state = lock(&self.ring.state);
        state
            .cursors
            .retain(|cursor| !Arc::ptr_eq(cursor, &self.cursor));
        // Nobody reads what is held any more.
        if state.cursors.is_empty() {
            while !state.items.is_empty() {
                state.pop();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Follower, Read, Ring, TRIM_EVERY};
    use crate::controls::PlayControls;
    use crate::{Media, SharedMedia, SlowPlayerPolicy};
    use rtmp_chunk::{MemoryBudget, RawMessage, type_id};
    use rtmp_flv::VideoKind;
    use rtmp_session::PlayControl;
    use std::sync::Arc;
    use std::time::Duration;

    fn video(timestamp: u32, kind: VideoKind, len: usize) -> Media {
        let first = if kind == VideoKind::Keyframe {
            0x17
        } else {
            0x27
        };
        let mut payload = vec![first, 1, 0, 0, 0];
        payload.resize(len, 0x55);
        let message = RawMessage::new(6, timestamp, type_id::VIDEO, 1, payload);
        SharedMedia::new(message, 4096).unwrap()
    }

    fn key(timestamp: u32) -> Media {
        video(timestamp, VideoKind::Keyframe, 1000)
    }

    fn inter(timestamp: u32) -> Media {
        video(timestamp, VideoKind::Inter, 1000)
    }

    fn audio(timestamp: u32) -> Media {
        let message = RawMessage::new(4, timestamp, type_id::AUDIO, 1, vec![0xAF, 1, 7, 7]);
        SharedMedia::new(message, 4096).unwrap()
    }

    fn ring(limit: usize, policy: SlowPlayerPolicy) -> (Arc<Ring>, MemoryBudget) {
        let budget = MemoryBudget::new(1 << 30);
        (
            Ring::new(limit, policy, budget.clone(), Arc::default()),
            budget,
        )
    }

    fn follow(ring: &Arc<Ring>) -> Follower {
        ring.follow(1, Arc::default(), false)
    }

    /// The timestamps a follower reads now, and what the read left.
    fn read(follower: &mut Follower) -> (Vec<u32>, Read) {
        let mut got = Vec::new();
        let left = follower
            .read(|media, stream_id| {
                assert_eq!(stream_id, 1);
                got.push(media.message().timestamp);
                true
            })
            .unwrap();
        (got, left)
    }

    fn timestamps(follower: &mut Follower) -> Vec<u32> {
        read(follower).0
    }

    #[test]
    fn followers_read_from_where_they_joined_each_at_its_own_pace() {
        let (ring, budget) = ring(1 << 20, SlowPlayerPolicy::SkipToKeyframe);
        // Nobody follows: nothing is kept.
        ring.push(key(0));
        assert_eq!(budget.used(), 0);
        let mut first = follow(&ring);
        ring.push(inter(40));
        ring.push(inter(80));
        let mut second = follow(&ring);
        ring.push(key(120));
        assert_eq!(timestamps(&mut first), [40, 80, 120]);
        assert_eq!(timestamps(&mut second), [120]);
        ring.push(audio(140));
        assert_eq!(timestamps(&mut second), [140]);
        assert_eq!(timestamps(&mut first), [140]);
        assert!(timestamps(&mut first).is_empty());
        // The last follower gone, nothing is held.
        drop((first, second));
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn what_every_follower_read_is_trimmed_and_its_bytes_given_back() {
        let (ring, budget) = ring(16 << 20, SlowPlayerPolicy::SkipToKeyframe);
        let (mut fast, mut slow) = (follow(&ring), follow(&ring));
        let frame = 10_000;
        let count = 3 * TRIM_EVERY / frame;
        for timestamp in 0..count as u32 {
            ring.push(video(timestamp, VideoKind::Inter, frame));
            timestamps(&mut fast);
        }
        // The slow follower holds everything since it joined.
        assert!(budget.used() >= count * frame);
        assert_eq!(timestamps(&mut slow).len(), count);
        for timestamp in 0..(TRIM_EVERY / frame) as u32 + 2 {
            ring.push(video(timestamp, VideoKind::Inter, frame));
            timestamps(&mut fast);
            timestamps(&mut slow);
        }
        assert!(budget.used() <= TRIM_EVERY + 2 * frame, "{}", budget.used());
        assert_eq!(ring.dropped(), 0);
        drop(ring);
        drop((fast, slow));
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn a_follower_left_behind_goes_on_from_the_next_keyframe_and_its_loss_is_counted() {
        // Room for about three frames of 1000 bytes.
        let (ring, _budget) = ring(3500, SlowPlayerPolicy::SkipToKeyframe);
        let (mut behind, mut keeping_up) = (follow(&ring), follow(&ring));
        ring.push(key(0));
        assert_eq!(timestamps(&mut keeping_up), [0]);
        for timestamp in [40, 80, 120, 160] {
            ring.push(inter(timestamp));
            assert_eq!(timestamps(&mut keeping_up), [timestamp]);
        }
        // The ring kept the newest three: the two oldest were lost to the follower behind,
        // counted when they went, and it skips video up to the next keyframe.
        assert_eq!(ring.dropped(), 2);
        ring.push(audio(170));
        assert_eq!(timestamps(&mut behind), [170]);
        assert_eq!(ring.dropped(), 2 + 3, "the three inter frames skipped");
        ring.push(inter(200));
        ring.push(key(240));
        ring.push(inter(280));
        assert_eq!(timestamps(&mut behind), [240, 280]);
        assert_eq!(timestamps(&mut keeping_up), [170, 200, 240, 280]);
    }

    #[test]
    fn under_the_disconnect_policy_a_follower_left_behind_fails() {
        let (ring, _budget) = ring(2500, SlowPlayerPolicy::Disconnect);
        let mut behind = follow(&ring);
        for timestamp in [0, 40, 80, 120] {
            ring.push(inter(timestamp));
        }
        assert!(behind.read(|_, _| true).is_err());
    }

    #[test]
    fn a_follower_whose_player_left_reads_up_to_then_and_ends() {
        let (ring, _budget) = ring(1 << 20, SlowPlayerPolicy::SkipToKeyframe);
        let mut follower = follow(&ring);
        ring.push(key(0));
        ring.end(&follower.cursor());
        ring.push(inter(40));
        assert_eq!(read(&mut follower), (vec![0], Read::Ended));
    }

    #[test]
    fn a_barrier_stops_reading_at_the_head_it_marked() {
        let (ring, _budget) = ring(1 << 20, SlowPlayerPolicy::SkipToKeyframe);
        let mut follower = follow(&ring);
        ring.push(key(0));
        ring.push(inter(40));
        follower.set_barrier();
        assert!(!follower.reached_barrier());
        ring.push(inter(80));
        assert_eq!(timestamps(&mut follower), [0, 40]);
        assert!(follower.reached_barrier());
        assert_eq!(timestamps(&mut follower), [80]);
    }

    #[test]
    fn a_paused_player_gets_nothing_and_goes_on_from_a_keyframe() {
        let (ring, _budget) = ring(1 << 20, SlowPlayerPolicy::SkipToKeyframe);
        let controls = Arc::new(PlayControls::default());
        let mut follower = ring.follow(1, controls.clone(), false);
        controls.apply(PlayControl::Pause(true));
        ring.push(audio(0));
        ring.push(inter(40));
        assert!(timestamps(&mut follower).is_empty());
        controls.apply(PlayControl::Pause(false));
        ring.push(audio(60));
        ring.push(inter(80));
        ring.push(key(120));
        assert_eq!(timestamps(&mut follower), [60, 120]);
        // Video off: audio only.
        controls.apply(PlayControl::ReceiveVideo(false));
        ring.push(audio(140));
        ring.push(key(160));
        assert_eq!(timestamps(&mut follower), [140]);
    }

    #[tokio::test]
    async fn a_waiting_writer_is_woken_by_the_next_message() {
        let (ring, _budget) = ring(1 << 20, SlowPlayerPolicy::SkipToKeyframe);
        let mut follower = follow(&ring);
        let waiting = tokio::spawn(async move {
            std::future::poll_fn(|cx| follower.poll_ready(cx)).await;
            timestamps(&mut follower)
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished());
        ring.push(key(0));
        let read = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("the writer was not woken")
            .unwrap();
        assert_eq!(read, [0]);
    }
}
