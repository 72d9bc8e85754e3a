//! The queues between a connection's reader (and the hub) and its writer, bounded in bytes:
//! each against its own limit and against a [`MemoryBudget`] shared by the whole server.
//!
//! - [`MediaSender`] / `MediaReceiver`: shared media for a player. A message that does not
//!   fit is refused at once, and the hub applies the slow-player policy.
//! - `AnswerSender` / `AnswerReceiver`: the connection's own messages (command answers,
//!   statuses, pings, acknowledgements). The protocol requires them, so they are always
//!   queued; when the queue is full the reader stops reading the peer until the writer has
//!   made room (backpressure), so a peer that never reads cannot make the server queue more.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rtmp_chunk::{MemoryBudget, RawMessage};
use tokio::sync::Notify;

use crate::channel;

use crate::media::{Media, OVERHEAD};
use crate::ring::Follower;

/// The answers a connection may have waiting whatever the server's budget: a publisher's
/// acknowledgements and ping answers are a few dozen bytes each, and one written a moment
/// later makes room again.
const ANSWER_FLOOR: usize = 4 << 10;

/// The bytes a connection's answer queue holds, against its limit and the server's budget
/// (a media queue counts its bytes in its channel, see [`MediaSender`]).
#[derive(Debug)]
struct Account {
    queued: AtomicUsize,
    limit: usize,
    server: MemoryBudget,
}

impl Account {
    fn new(limit: usize, server: MemoryBudget) -> Arc<Self> {
        Arc::new(Self {
            queued: AtomicUsize::new(0),
            limit,
            server,
        })
    }

    /// Takes `cost` whatever the limits.
    fn take(&self, cost: usize) {
        self.server.take(cost);
        self.queued.fetch_add(cost, Ordering::AcqRel);
    }

    fn give_back(&self, cost: usize) {
        self.server.give_back(cost);
        self.queued.fetch_sub(cost, Ordering::AcqRel);
    }

    /// Whether more may be queued: under this queue's limit, and under the server's once
    /// the queue holds [`ANSWER_FLOOR`] or more. A connection with a few answers waiting (a
    /// publisher's acknowledgements and ping answers) is read whatever the server's budget
    /// says, so that players that fill it never stop a publisher.
    fn has_room(&self) -> bool {
        let queued = self.queued.load(Ordering::Acquire);
        queued < self.limit && (queued < ANSWER_FLOOR || self.server.has_room(0))
    }

    /// The bytes queued, if past twice the limit.
    fn overflowing(&self) -> Option<usize> {
        let queued = self.queued.load(Ordering::Acquire);
        (queued > self.limit.saturating_mul(2)).then_some(queued)
    }
}

/// Why a player's queue did not take a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Its byte budget (or the server's) has no room: the player is behind.
    Full,
    /// The player's connection is gone.
    Closed,
}

/// The sending side of a player's media queue, bounded in bytes. It counts what it delivered,
/// so that the player's connection can order its own messages (statuses such as
/// UnpublishNotify) after the media queued before them.
#[derive(Debug, Clone)]
pub struct MediaSender {
    tx: channel::Sender<Item>,
    limit: usize,
    server: MemoryBudget,
}

/// The receiving side of a player's media queue; what it still holds goes back to the budgets
/// when it is dropped.
#[derive(Debug)]
pub struct MediaReceiver {
    rx: channel::Receiver<Item>,
    server: MemoryBudget,
    /// Bytes taken off the queue and not given back to the server's budget yet: a writer
    /// gives back a whole batch at once, after writing it (until then the bytes are held).
    owed: usize,
}

/// What a player's media queue carries.
#[derive(Debug)]
pub(crate) enum Item {
    /// A message for the player on its message stream.
    Media(Media, u32),
    /// From here on the player reads a stream's ring (after what was queued before).
    Follow(Box<Follower>),
}

fn item_cost(item: &Item) -> usize {
    match item {
        Item::Media(media, _) => media.cost(),
        Item::Follow(_) => OVERHEAD,
    }
}

impl MediaSender {
    /// A media queue holding at most `limit` bytes (chunked bytes plus a small overhead per
    /// message), also counted in the server-wide `budget`.
    pub fn channel(limit: usize, budget: MemoryBudget) -> (Self, MediaReceiver) {
        let (tx, rx) = channel::counted(item_cost);
        let sender = Self {
            tx,
            limit,
            server: budget.clone(),
        };
        let receiver = MediaReceiver {
            rx,
            server: budget,
            owed: 0,
        };
        (sender, receiver)
    }

    /// Messages delivered into the queue so far.
    pub fn sent(&self) -> u64 {
        self.tx.sent()
    }

    /// Bytes queued now.
    pub fn queued_bytes(&self) -> usize {
        self.tx.bytes()
    }

    #[cfg(test)]
    pub(crate) fn try_send(&self, media: Media) -> Result<(), Refused> {
        self.try_send_on(media, 1)
    }

    /// Queues the start of reading a ring, whatever the limits (it is small, and once per
    /// play); false when the receiver is gone.
    pub(crate) fn follow(&self, follower: Follower) -> bool {
        self.server.take(OVERHEAD);
        let sent = self.tx.send(Item::Follow(Box::new(follower))).is_ok();
        if !sent {
            self.server.give_back(OVERHEAD);
        }
        sent
    }

    /// The server-wide budget the queue counts in.
    pub(crate) fn budget(&self) -> &MemoryBudget {
        &self.server
    }

    /// Queues `media` for the player's message stream `stream_id`.
    pub(crate) fn try_send_on(&self, media: Media, stream_id: u32) -> Result<(), Refused> {
        let cost = media.cost();
        if !self.server.try_take(cost) {
            return Err(if self.tx.is_closed() {
                Refused::Closed
            } else {
                Refused::Full
            });
        }
        match self
            .tx
            .try_send_within(Item::Media(media, stream_id), self.limit)
        {
            Ok(()) => Ok(()),
            Err((_, refusal)) => {
                self.server.give_back(cost);
                Err(match refusal {
                    channel::Refusal::Full => Refused::Full,
                    channel::Refusal::Closed => Refused::Closed,
                })
            }
        }
    }
}

impl MediaReceiver {
    /// The next item, waiting for one; its bytes stay counted in the server's budget until
    /// [`settle`](Self::settle).
    pub(crate) async fn recv_on(&mut self) -> Option<Item> {
        let received = self.rx.recv().await?;
        self.owed += item_cost(&received);
        Some(received)
    }

    /// The next message if one is queued.
    #[cfg(test)]
    pub(crate) fn try_recv(&mut self) -> Option<Media> {
        loop {
            let received = self.try_recv_on();
            self.settle();
            match received? {
                Item::Media(media, _) => return Some(media),
                Item::Follow(_) => {}
            }
        }
    }

    /// The next item if one is queued; its bytes stay counted in the server's budget until
    /// [`settle`](Self::settle).
    pub(crate) fn try_recv_on(&mut self) -> Option<Item> {
        let received = self.rx.try_recv()?;
        self.owed += item_cost(&received);
        Some(received)
    }

    /// Moves up to `slots.len()` queued items into `slots` under one lock, returning how many;
    /// their bytes stay counted in the server's budget until [`settle`](Self::settle).
    pub(crate) fn try_recv_many(&mut self, slots: &mut [Option<Item>]) -> usize {
        let taken = self.rx.try_recv_many(slots);
        self.owed += slots
            .iter()
            .take(taken)
            .flatten()
            .map(item_cost)
            .sum::<usize>();
        taken
    }

    /// Gives back the room a burst (a joining player's catch-up) grew the queue to, if it is
    /// empty: for a player that reads a ring from now on.
    pub(crate) fn shrink(&mut self) {
        self.rx.shrink();
    }

    /// Gives the bytes of the messages taken so far back to the server's budget: once per
    /// batch rather than once per message, since that budget is shared by every connection.
    pub(crate) fn settle(&mut self) {
        if self.owed > 0 {
            self.server.give_back(self.owed);
            self.owed = 0;
        }
    }
}

impl Drop for MediaReceiver {
    fn drop(&mut self) {
        self.rx.close();
        while self.try_recv_on().is_some() {}
        self.settle();
    }
}

/// A connection's own message for the writer, with the count of media queued before it.
/// Boxed, so that the channel's blocks of slots stay small: these are few (answers,
/// statuses, acknowledgements), unlike media.
pub(crate) type Queued = (Box<RawMessage>, u64);

fn answer_cost(message: &RawMessage) -> usize {
    message.payload.len() + OVERHEAD
}

/// The sending side of a connection's own messages.
#[derive(Debug)]
pub(crate) struct AnswerSender {
    tx: channel::Sender<Queued>,
    account: Arc<Account>,
    room: Arc<Notify>,
}

/// The writer's side of a connection's own messages.
#[derive(Debug)]
pub(crate) struct AnswerReceiver {
    rx: channel::Receiver<Queued>,
    account: Arc<Account>,
    room: Arc<Notify>,
}

/// A queue for a connection's own messages of `limit` bytes, also counted in `budget`.
pub(crate) fn answers(limit: usize, budget: MemoryBudget) -> (AnswerSender, AnswerReceiver) {
    let (tx, rx) = channel::unbounded();
    let account = Account::new(limit, budget);
    let room = Arc::new(Notify::new());
    let sender = AnswerSender {
        tx,
        account: account.clone(),
        room: room.clone(),
    };
    (sender, AnswerReceiver { rx, account, room })
}

impl AnswerSender {
    /// Queues `message` after `stamp` media messages, even past the limit (see
    /// [`has_room`](Self::has_room)).
    pub(crate) fn send(&self, message: RawMessage, stamp: u64) {
        let cost = answer_cost(&message);
        self.account.take(cost);
        if self.tx.send((Box::new(message), stamp)).is_err() {
            self.account.give_back(cost);
        }
    }

    /// Whether the peer's input may be read further: false while the queue (or the server's
    /// budget) is full.
    pub(crate) fn has_room(&self) -> bool {
        self.account.has_room()
    }

    /// The bytes queued, if past twice the limit. Answers to the peer's own input stop at
    /// the limit, since the peer is then not read; only what the server sends on its own
    /// (statuses about other connections' streams) goes on past it, and a peer that leaves
    /// that much of it unread is to be closed.
    pub(crate) fn overflowing(&self) -> Option<usize> {
        self.account.overflowing()
    }

    /// Completes when the writer has taken something off the queue.
    pub(crate) async fn room(&self) {
        self.room.notified().await;
    }
}

impl AnswerReceiver {
    fn taken(&self, queued: Queued) -> Queued {
        self.account.give_back(answer_cost(&queued.0));
        self.room.notify_one();
        queued
    }

    /// The next message, waiting for one; `None` once the sender is gone.
    pub(crate) async fn recv(&mut self) -> Option<Queued> {
        let queued = self.rx.recv().await?;
        Some(self.taken(queued))
    }

    /// The next message if one is queued.
    pub(crate) fn try_recv(&mut self) -> Option<Queued> {
        let queued = self.rx.try_recv()?;
        Some(self.taken(queued))
    }
}

impl Drop for AnswerReceiver {
    fn drop(&mut self) {
        self.rx.close();
        while self.try_recv().is_some() {}
    }
}

#[cfg(test)]
mod tests {
    use super::{MediaSender, Refused, answers};
    use crate::SharedMedia;
    use rtmp_chunk::{MemoryBudget, RawMessage, type_id};

    fn video(len: usize) -> crate::Media {
        let message = RawMessage::new(6, 0, type_id::VIDEO, 1, vec![0x27; len]);
        SharedMedia::new(message, 4096).unwrap()
    }

    #[test]
    fn media_queues_are_bounded_in_bytes_and_give_back_what_they_held() {
        let server = MemoryBudget::new(1 << 20);
        let (sender, mut receiver) = MediaSender::channel(100_000, server.clone());
        // Four 30 000-byte messages fit under 100 000 bytes with their headers; a fifth not.
        for _ in 0..3 {
            assert_eq!(sender.try_send(video(30_000)), Ok(()));
        }
        assert_eq!(sender.try_send(video(30_000)), Err(Refused::Full));
        assert_eq!(sender.sent(), 3);
        assert!(server.used() > 90_000);
        // Taking one makes room; small messages still fit meanwhile.
        assert!(receiver.try_recv().is_some());
        assert_eq!(sender.try_send(video(30_000)), Ok(()));
        // Dropping the receiver gives everything back and closes the queue.
        drop(receiver);
        assert_eq!(server.used(), 0);
        assert_eq!(sender.queued_bytes(), 0);
        assert_eq!(sender.try_send(video(10)), Err(Refused::Closed));
    }

    #[test]
    fn a_writer_gives_a_batch_back_once_it_is_written() {
        let server = MemoryBudget::new(1 << 20);
        let (sender, mut receiver) = MediaSender::channel(100_000, server.clone());
        for _ in 0..3 {
            sender.try_send(video(30_000)).unwrap();
        }
        // Taken for a batch, not written yet: off the queue, still in the server's budget.
        while receiver.try_recv_on().is_some() {}
        assert_eq!(sender.queued_bytes(), 0);
        assert!(server.used() > 90_000);
        receiver.settle();
        assert_eq!(server.used(), 0);
        assert_eq!(sender.try_send(video(30_000)), Ok(()));
        // Dropped with a batch owed: everything goes back.
        assert!(receiver.try_recv_on().is_some());
        drop(receiver);
        assert_eq!(server.used(), 0);
    }

    #[test]
    fn the_server_budget_bounds_every_queue_together() {
        let server = MemoryBudget::new(50_000);
        let (first, _first_rx) = MediaSender::channel(40_000, server.clone());
        let (second, _second_rx) = MediaSender::channel(40_000, server.clone());
        assert_eq!(first.try_send(video(30_000)), Ok(()));
        // Under its own limit, over the server's.
        assert_eq!(second.try_send(video(30_000)), Err(Refused::Full));
        assert_eq!(second.try_send(video(10_000)), Ok(()));
    }

    #[tokio::test]
    async fn answers_are_always_queued_but_report_when_full() {
        let server = MemoryBudget::new(1 << 20);
        let (sender, mut receiver) = answers(1000, server.clone());
        assert!(sender.has_room());
        for sequence in 0..20 {
            sender.send(RawMessage::acknowledgement(sequence), 0);
        }
        assert!(!sender.has_room(), "20 answers of 68 bytes exceed 1000");
        assert_eq!(sender.overflowing(), None, "1360 bytes are not twice 1000");
        for sequence in 0..10 {
            sender.send(RawMessage::acknowledgement(sequence), 0);
        }
        assert_eq!(sender.overflowing(), Some(30 * 68));
        // The writer taking one wakes a reader waiting for room.
        let (_, _) = receiver.recv().await.unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(1), sender.room())
            .await
            .unwrap();
        while receiver.try_recv().is_some() {}
        assert!(sender.has_room());
        assert_eq!(sender.overflowing(), None);
        assert_eq!(server.used(), 0);
    }

    #[test]
    fn a_full_server_budget_stops_reading_only_connections_with_many_answers_waiting() {
        let server = MemoryBudget::new(1000);
        let (media, _media_rx) = MediaSender::channel(1 << 20, server.clone());
        // Players fill the server's budget.
        assert_eq!(media.try_send(video(2000)), Err(Refused::Full));
        server.take(1000);
        let (publisher, _receiver) = answers(64 << 10, server.clone());
        // A publisher's acknowledgements and ping answers still go: it is read on.
        for sequence in 0..50 {
            publisher.send(RawMessage::acknowledgement(sequence), 0);
        }
        assert!(
            publisher.has_room(),
            "50 answers of 68 bytes are under the floor"
        );
        // Past the floor, the server's budget counts again.
        for sequence in 0..20 {
            publisher.send(RawMessage::acknowledgement(sequence), 0);
        }
        assert!(!publisher.has_room());
    }
}
