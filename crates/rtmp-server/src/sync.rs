//! The crate's one way to take a lock.

use std::sync::{Mutex, MutexGuard};

/// Locks `mutex`, using what a panicking holder left: the crate locks counters, tables of
/// connections and relays, which stay usable whatever step a panic interrupted.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
