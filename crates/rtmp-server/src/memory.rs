//! Giving memory back to the system after many connections have ended, after many handshakes
//! have been done (a storm of players joining frees their handshake buffers together), or once
//! the allocator holds much more free memory than it did (a large message decoded and dropped).
//!
//! glibc's allocator keeps what threads free in their arenas and returns it only from the top
//! of each heap, so after thousands of connections end the server keeps their memory.
//! `malloc_trim` hands every free page of every arena back. Measured 2026-11-26 with the
//! attack test (`tests/attacks.rs`: floods, a stuck player, 20 000 connections; resident
//! memory 8-14 MiB before, about 250 MiB at the peak), what stays after the connections end:
//!
//! | allocator | after |
//! | --- | --- |
//! | glibc | 252 MiB, for good |
//! | jemalloc (tikv-jemallocator) | 236 MiB, then 58 MiB after its 10 s decay |
//! | mimalloc | 225 MiB, for good |
//! | glibc with this trim | 10-21 MiB over five runs (baseline 8.1-8.3) |

use std::sync::atomic::{AtomicUsize, Ordering};

/// Connections that must have ended (or handshakes finished) since the last trim before
/// another is worth it.
pub(crate) const TRIM_AFTER_CLOSED: usize = 1000;

/// Growth of the free memory the allocator holds, over the least it held since the last trim,
/// past which a trim is due.
pub(crate) const TRIM_AFTER_HELD: usize = 16 << 20;

/// The least free memory the allocator held since the last trim (process-wide, as the
/// allocator is).
static HELD_LOW: AtomicUsize = AtomicUsize::new(usize::MAX);

/// Decides, tick by tick, when to give memory back: once [`TRIM_AFTER_CLOSED`] connections or
/// more have ended since the last trim, and once more on the next tick if any ended meanwhile,
/// since a burst of closes may straddle a tick.
#[derive(Debug, Default)]
pub(crate) struct Release {
    /// The last tick trimmed after a burst.
    after_burst: bool,
}

impl Release {
    /// Whether to trim now; takes the count of connections ended since the last trim.
    pub(crate) fn due(&mut self, closed: &AtomicUsize) -> bool {
        let after_burst = self.after_burst;
        let mut burst = false;
        let due = closed
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |closed| {
                burst = closed >= TRIM_AFTER_CLOSED;
                (burst || (after_burst && closed > 0)).then_some(0)
            })
            .is_ok();
        self.after_burst = due && burst;
        due
    }
}

/// Whether free memory `held` now is [`TRIM_AFTER_HELD`] or more over the least held since the
/// last trim (`low`, lowered to `held` when less).
fn grew(low: &AtomicUsize, held: usize) -> bool {
    let least = low.fetch_min(held, Ordering::Relaxed).min(held);
    held - least >= TRIM_AFTER_HELD
}

/// Trims when `burst` (many connections ended) or when the free memory the allocator holds has
/// grown past [`TRIM_AFTER_HELD`]. Blocking: walks the allocator's arenas.
pub(crate) fn release(burst: bool) {
    if burst || held().is_some_and(|held| grew(&HELD_LOW, held)) {
        trim();
    }
}

/// Returns free memory to the system where the allocator keeps it (glibc); nothing elsewhere.
pub(crate) fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own arenas under their locks and takes no
    // pointer from us; it is safe to call from any thread at any time.
    #[allow(unsafe_code)]
    unsafe {
        libc::malloc_trim(0);
    }
    // Trimmed pages stay in the allocator's free lists: what it holds now is the new low.
    if let Some(held) = held() {
        HELD_LOW.store(held, Ordering::Relaxed);
    }
}

/// The free memory the allocator holds in its arenas (glibc); `None` elsewhere.
fn held() -> Option<usize> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallinfo2 only reads glibc's own arenas under their locks and returns a
        // plain struct; it is safe to call from any thread at any time.
        #[allow(unsafe_code)]
        let info = unsafe { libc::mallinfo2() };
        Some(info.fordblks)
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    None
}

#[cfg(test)]
mod tests {
    use super::{Release, TRIM_AFTER_CLOSED, TRIM_AFTER_HELD, grew};
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn trims_after_a_burst_of_closes_and_once_more_for_its_tail() {
        let closed = AtomicUsize::new(0);
        let mut release = Release::default();
        closed.store(10, Ordering::Relaxed);
        assert!(!release.due(&closed), "a few closes are not worth a trim");
        closed.fetch_add(TRIM_AFTER_CLOSED, Ordering::Relaxed);
        assert!(release.due(&closed));
        assert_eq!(closed.load(Ordering::Relaxed), 0);
        // The tail of the burst, after the tick: one more trim.
        closed.store(300, Ordering::Relaxed);
        assert!(release.due(&closed));
        // Steady churn after that does not trim on every tick.
        closed.store(5, Ordering::Relaxed);
        assert!(!release.due(&closed));
        assert!(!release.due(&closed));
        // Nothing closed after a burst's trim: no second trim.
        closed.store(TRIM_AFTER_CLOSED, Ordering::Relaxed);
        assert!(release.due(&closed));
        assert!(!release.due(&closed));
    }

    #[test]
    fn trims_when_free_memory_grows_past_its_low() {
        let low = AtomicUsize::new(usize::MAX);
        assert!(!grew(&low, 50 << 20), "the first look only sets the low");
        assert!(!grew(&low, 20 << 20));
        assert_eq!(low.load(Ordering::Relaxed), 20 << 20);
        assert!(!grew(&low, 20 * (1 << 20) + TRIM_AFTER_HELD - 1));
        assert!(grew(&low, 20 * (1 << 20) + TRIM_AFTER_HELD));
    }

    /// Resident memory of this process.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn resident() -> usize {
        let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
        let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
        pages * 4096
    }

    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn free_memory_the_allocator_holds_is_given_back() {
        super::release(false);
        // 128 MiB in small blocks, one in 32 kept so that what is freed cannot merge into
        // the top of the heap, where the allocator would give it back by itself. Other tests
        // allocate meanwhile: half is what must come back.
        let mut blocks: Vec<Vec<u8>> = (0..131_072).map(|i| vec![i as u8 | 1; 1024]).collect();
        let kept: Vec<Vec<u8>> = blocks.iter_mut().step_by(32).map(std::mem::take).collect();
        drop(blocks);
        let before = resident();
        super::release(false);
        let after = resident();
        assert!(
            before.saturating_sub(after) >= 64 << 20,
            "{before} bytes resident before, {after} after"
        );
        drop(kept);
    }
}
