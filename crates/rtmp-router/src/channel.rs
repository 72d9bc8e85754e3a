//! The unbounded channel between a connection's producers (its reader, the router) and its
//! consumer (its writer, or its reader for notices): a lock around a `VecDeque` and the
//! receiver's waker.
//!
//! Every connection holds three of these, so they are built for size: an idle channel is one
//! small allocation, its buffer grows only while items wait (a joining player's catch-up) and
//! shrinks back once drained. A channel may count the bytes it holds and refuse what would go
//! past a limit: the lock that guards the queue guards the count, so the hub's fan-out touches
//! one piece of each player's state per message. The server-wide budget is kept on top, by
//! [`crate::queue`].

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use crate::sync::lock;

/// Slots a drained channel keeps when it held few items: a larger buffer is given back once a
/// fill no longer needs it (after a joining player's catch-up), but not while fills keep
/// needing it (a player that is behind), which would reallocate on every drain.
const KEPT: usize = 8;

struct State<T> {
    items: VecDeque<T>,
    /// What an item costs in bytes (nothing for channels that do not count).
    cost: fn(&T) -> usize,
    /// The bytes the items hold.
    bytes: usize,
    /// Items queued so far.
    sent: u64,
    /// The most items held since the channel was last drained.
    high: usize,
    /// The receiver, waiting for an item.
    waker: Option<Waker>,
    senders: usize,
    receiving: bool,
}

type Shared<T> = Arc<Mutex<State<T>>>;

/// The sending side; cloning it adds a sender.
pub(crate) struct Sender<T> {
    shared: Shared<T>,
}

/// The receiving side.
pub(crate) struct Receiver<T> {
    shared: Shared<T>,
}

impl<T> std::fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}

impl<T> std::fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver").finish_non_exhaustive()
    }
}

/// Why [`Sender::try_send_within`] refused an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// It would go past the limit.
    Full,
    /// The receiver is gone.
    Closed,
}

/// A channel with no bound of its own that counts no bytes.
pub(crate) fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
    counted(|_| 0)
}

/// A channel that counts what its items cost (see [`Sender::try_send_within`]).
pub(crate) fn counted<T>(cost: fn(&T) -> usize) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Mutex::new(State {
        items: VecDeque::new(),
        cost,
        bytes: 0,
        sent: 0,
        high: 0,
        waker: None,
        senders: 1,
        receiving: true,
    }));
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared },
    )
}

impl<T> Sender<T> {
    /// Queues `item`, waking the receiver; gives it back when the receiver is gone.
    pub(crate) fn send(&self, item: T) -> Result<(), T> {
        self.try_send_within(item, usize::MAX)
            .map_err(|(item, _)| item)
    }

    /// Queues `item` if the bytes held stay within `limit` with it, waking the receiver.
    pub(crate) fn try_send_within(&self, item: T, limit: usize) -> Result<(), (T, Refusal)> {
        let mut state = lock(&self.shared);
        if !state.receiving {
            return Err((item, Refusal::Closed));
        }
        let cost = (state.cost)(&item);
        if state.bytes.saturating_add(cost) > limit {
            return Err((item, Refusal::Full));
        }
        state.bytes += cost;
        state.sent += 1;
        state.items.push_back(item);
        state.high = state.high.max(state.items.len());
        let waker = state.waker.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }

    /// Whether the receiver is gone.
    pub(crate) fn is_closed(&self) -> bool {
        !lock(&self.shared).receiving
    }

    /// The bytes the queued items hold.
    pub(crate) fn bytes(&self) -> usize {
        lock(&self.shared).bytes
    }

    /// Items queued so far.
    pub(crate) fn sent(&self) -> u64 {
        lock(&self.shared).sent
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        lock(&self.shared).senders += 1;
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut state = lock(&self.shared);
        state.senders -= 1;
        let waker = (state.senders == 0).then(|| state.waker.take()).flatten();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// Takes the front item off, uncounting it. Once drained, a buffer more than twice the size
/// this fill needed (and past [`KEPT`] slots) shrinks.
fn pop<T>(state: &mut State<T>) -> Option<T> {
    let item = state.items.pop_front()?;
    state.bytes -= (state.cost)(&item);
    if state.items.is_empty() {
        let needed = state.high.max(KEPT);
        if state.items.capacity() > needed * 2 {
            state.items.shrink_to(KEPT);
        }
        state.high = 0;
    }
    Some(item)
}

impl<T> Receiver<T> {
    /// The next item if one is queued.
    pub(crate) fn try_recv(&mut self) -> Option<T> {
        pop(&mut lock(&self.shared))
    }

    /// Moves up to `slots.len()` queued items into `slots` under one lock, returning how many:
    /// a writer empties its queue with one lock per batch rather than one per item.
    pub(crate) fn try_recv_many(&mut self, slots: &mut [Option<T>]) -> usize {
        let mut state = lock(&self.shared);
        let mut taken = 0;
        for slot in slots.iter_mut() {
            let Some(item) = pop(&mut state) else { break };
            *slot = Some(item);
            taken += 1;
        }
        taken
    }

    /// Gives back the buffer's room beyond [`KEPT`] slots if nothing is queued: for a queue
    /// that a burst grew and that is to stay nearly empty from now on.
    pub(crate) fn shrink(&mut self) {
        let mut state = lock(&self.shared);
        if state.items.is_empty() && state.items.capacity() > KEPT {
            state.items.shrink_to(KEPT);
            state.high = 0;
        }
    }

    /// The next item, waiting for one; `None` once it is empty and every sender is gone.
    pub(crate) async fn recv(&mut self) -> Option<T> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        // One lock for the item or the waker: a writer polls this at each of its wake-ups.
        let mut state = lock(&self.shared);
        if let Some(item) = pop(&mut state) {
            return Poll::Ready(Some(item));
        }
        if state.senders == 0 {
            return Poll::Ready(None);
        }
        match &mut state.waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// Refuses further items; those queued stay to be taken.
    pub(crate) fn close(&mut self) {
        lock(&self.shared).receiving = false;
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let items = {
            let mut state = lock(&self.shared);
            state.receiving = false;
            state.waker = None;
            state.bytes = 0;
            std::mem::take(&mut state.items)
        };
        // Dropped outside the lock: an item's drop may do anything.
        drop(items);
    }
}

#[cfg(test)]
mod tests {
    use super::unbounded;
    use std::time::Duration;

    #[tokio::test]
    async fn items_arrive_in_order_and_wake_the_receiver() {
        let (tx, mut rx) = unbounded();
        let waiting = tokio::spawn(async move {
            let first = rx.recv().await;
            let second = rx.recv().await;
            (first, second, rx.recv().await)
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        tx.send(1).unwrap();
        let other = tx.clone();
        other.send(2).unwrap();
        drop((tx, other));
        let received = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .unwrap()
            .unwrap();
        // The last sender leaving ends the receiver's wait.
        assert_eq!(received, (Some(1), Some(2), None));
    }

    #[test]
    fn a_closed_or_dropped_receiver_refuses_items_and_drops_what_it_held() {
        let (tx, mut rx) = unbounded();
        let held = std::sync::Arc::new(());
        tx.send(held.clone()).unwrap();
        rx.close();
        assert!(tx.is_closed());
        assert!(tx.send(held.clone()).is_err());
        // What was queued before closing is still there.
        assert!(rx.try_recv().is_some());
        tx.send(held.clone()).unwrap_err();
        let (tx, rx) = unbounded();
        tx.send(held.clone()).unwrap();
        drop(rx);
        assert_eq!(std::sync::Arc::strong_count(&held), 1);
    }

    #[test]
    fn many_items_are_taken_in_order_under_one_lock() {
        let (tx, mut rx) = super::counted(|item: &u32| *item as usize);
        for item in 1..=5 {
            tx.send(item).unwrap();
        }
        let mut slots = [None; 3];
        assert_eq!(rx.try_recv_many(&mut slots), 3);
        assert_eq!(slots, [Some(1), Some(2), Some(3)]);
        assert_eq!(tx.bytes(), 4 + 5);
        let mut slots = [None; 3];
        assert_eq!(rx.try_recv_many(&mut slots), 2);
        assert_eq!(slots, [Some(4), Some(5), None]);
        assert_eq!((tx.bytes(), rx.try_recv_many(&mut slots)), (0, 0));
    }

    #[test]
    fn a_counted_channel_refuses_past_its_limit_and_uncounts_what_is_taken() {
        let (tx, mut rx) = super::counted(|item: &Vec<u8>| item.len());
        tx.try_send_within(vec![0; 60], 100).unwrap();
        let (refused, why) = tx.try_send_within(vec![0; 60], 100).unwrap_err();
        assert_eq!((refused.len(), why), (60, super::Refusal::Full));
        tx.try_send_within(vec![0; 40], 100).unwrap();
        assert_eq!((tx.bytes(), tx.sent()), (100, 2));
        assert_eq!(rx.try_recv().map(|item| item.len()), Some(60));
        assert_eq!(tx.bytes(), 40);
        drop(rx);
        assert_eq!(tx.bytes(), 0);
        let (_, why) = tx.try_send_within(vec![1], 100).unwrap_err();
        assert_eq!(why, super::Refusal::Closed);
    }

    #[test]
    fn a_drained_channel_gives_back_a_buffer_its_fills_no_longer_need() {
        let (tx, mut rx) = unbounded();
        let capacity = |rx: &super::Receiver<i32>| super::lock(&rx.shared).items.capacity();
        // A burst, then a fill that needs 3 slots: the burst's buffer goes.
        for item in 0..1000 {
            tx.send(item).unwrap();
        }
        while rx.try_recv().is_some() {}
        assert!(
            capacity(&rx) >= 1000,
            "the burst's own drain keeps what it needed"
        );
        for item in 0..3 {
            tx.send(item).unwrap();
        }
        while rx.try_recv().is_some() {}
        assert!(capacity(&rx) <= super::KEPT);
        // Fills that keep needing 40 slots keep them ...
        for _ in 0..3 {
            for item in 0..40 {
                tx.send(item).unwrap();
            }
            while rx.try_recv().is_some() {}
            assert!(capacity(&rx) >= 40);
        }
        // ... unless the receiver gives the room back, and only once it is drained.
        tx.send(1).unwrap();
        rx.shrink();
        assert!(capacity(&rx) >= 40);
        rx.try_recv();
        rx.shrink();
        assert!(capacity(&rx) <= super::KEPT);
    }
}
