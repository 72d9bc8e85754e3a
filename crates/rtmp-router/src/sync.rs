//! The crate's one way to take a lock.

use std::sync::{Mutex, MutexGuard};

/// Locks `mutex`, using what a panicking holder left: every state the crate locks (queues,
/// cursors, a stream's players and figures) stays usable whatever step a panic interrupted,
/// and losing one stream's consistency matters less than losing the whole server.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
