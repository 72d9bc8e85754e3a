//! [`MemoryBudget`]: a count of bytes shared by many holders, with a limit.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Bytes that many holders (decoders of every connection, queues) draw from together, so that a
/// server can cap what all its connections hold at once, not only each one.
///
/// Clones share the count. A holder takes bytes before it allocates them and gives them back
/// when it frees them; a [`ChunkDecoder`](crate::ChunkDecoder) given a budget does this for the
/// unfinished messages it holds, and gives back what it still holds when dropped.
///
/// ```
/// use rtmp_chunk::MemoryBudget;
///
/// let budget = MemoryBudget::new(1000);
/// let other = budget.clone();
/// assert!(budget.try_take(600));
/// assert!(!other.try_take(600)); // 1200 would pass the limit
/// other.give_back(600);
/// assert_eq!(budget.used(), 0);
/// ```
#[derive(Debug, Clone)]
pub struct MemoryBudget {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    used: AtomicUsize,
    limit: usize,
}

impl MemoryBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                used: AtomicUsize::new(0),
                limit,
            }),
        }
    }

    /// Takes `bytes` if they fit under the limit; false (and nothing taken) otherwise.
    pub fn try_take(&self, bytes: usize) -> bool {
        let limit = self.inner.limit;
        self.inner
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|&total| total <= limit)
            })
            .is_ok()
    }

    /// Takes `bytes` even past the limit, for bytes that must be held anyway (an answer the
    /// protocol requires); [`has_room`](Self::has_room) then says no until enough is given
    /// back, so that holders can stop taking more work.
    pub fn take(&self, bytes: usize) {
        let _ = self
            .inner
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                Some(used.saturating_add(bytes))
            });
    }

    /// Gives back `bytes` taken before.
    pub fn give_back(&self, bytes: usize) {
        // Saturating, so that a holder's mistake cannot wrap the count around.
        let _ = self
            .inner
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                Some(used.saturating_sub(bytes))
            });
    }

    /// Bytes taken now, by all holders.
    pub fn used(&self) -> usize {
        self.inner.used.load(Ordering::Acquire)
    }

    /// The limit.
    pub fn limit(&self) -> usize {
        self.inner.limit
    }

    /// Whether `bytes` more would fit now.
    pub fn has_room(&self, bytes: usize) -> bool {
        self.used().saturating_add(bytes) <= self.inner.limit
    }
}
