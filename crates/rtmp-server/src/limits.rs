//! Process and address limits: the open-file limit that bounds how many connections a server
//! can hold, connections counted per peer address, and log lines an attacker cannot multiply.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// File descriptors kept aside from connections: listeners, log files, relays, recordings.
const FD_HEADROOM: u64 = 64;

/// Raises the soft limit on open files to the hard limit (as nginx's `worker_rlimit_nofile`
/// does) and returns the new soft limit. Call it once at start, before
/// [`ServerConfig::default`](crate::ServerConfig::default), which sizes the connection limit
/// from it.
#[cfg(unix)]
pub fn raise_open_file_limit() -> std::io::Result<u64> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        setrlimit(
            Resource::Nofile,
            rustix::process::Rlimit {
                current: limit.maximum,
                maximum: limit.maximum,
            },
        )?;
    }
    Ok(getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX))
}

/// The soft limit on open files (`None` when unlimited or unknown).
fn open_file_limit() -> Option<u64> {
    #[cfg(unix)]
    return rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
    #[cfg(not(unix))]
    return None;
}

/// The default connection limit: the open-file limit less some headroom, at most `cap`.
pub(crate) fn default_max_connections(cap: usize) -> usize {
    match open_file_limit() {
        Some(files) => usize::try_from(files.saturating_sub(FD_HEADROOM))
            .unwrap_or(cap)
            .clamp(1, cap),
        None => cap,
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Connections per peer address, with a limit.
#[derive(Debug, Clone, Default)]
pub(crate) struct PerAddress {
    counts: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// A connection counted against its address while it lives.
#[derive(Debug)]
pub(crate) struct AddressSlot {
    counts: Arc<Mutex<HashMap<IpAddr, usize>>>,
    address: IpAddr,
}

impl PerAddress {
    /// Counts a connection from `address`, unless it already has `limit`.
    pub(crate) fn try_add(&self, address: IpAddr, limit: usize) -> Option<AddressSlot> {
        let mut counts = lock(&self.counts);
        let count = counts.entry(address).or_insert(0);
        if *count >= limit {
            return None;
        }
        *count += 1;
        Some(AddressSlot {
            counts: self.counts.clone(),
            address,
        })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut counts = lock(&self.counts);
        if let Some(count) = counts.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.address);
            }
        }
    }
}

/// Lets a log line through at most once per `period` for each key (and once per period for
/// everything when keys pile up), counting what it held back.
#[derive(Debug)]
pub(crate) struct LogLimit {
    period: Duration,
    seen: Mutex<HashMap<IpAddr, (Instant, u64)>>,
}

/// Keys remembered at most; past this the table starts over.
const LOG_KEYS: usize = 4096;

impl LogLimit {
    pub(crate) fn new(period: Duration) -> Self {
        Self {
            period,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// `Some(lines held back since the last one)` when a line about `key` may be logged now.
    pub(crate) fn allow(&self, key: IpAddr, now: Instant) -> Option<u64> {
        let mut seen = lock(&self.seen);
        if seen.len() >= LOG_KEYS {
            seen.retain(|_, (last, _)| now.duration_since(*last) < self.period);
            if seen.len() >= LOG_KEYS {
                seen.clear();
            }
        }
        match seen.get_mut(&key) {
            Some((last, held)) if now.duration_since(*last) < self.period => {
                *held += 1;
                None
            }
            Some((last, held)) => {
                *last = now;
                Some(std::mem::take(held))
            }
            None => {
                seen.insert(key, (now, 0));
                Some(0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{LogLimit, PerAddress, default_max_connections};
    use std::net::IpAddr;
    use std::time::{Duration, Instant};

    #[test]
    fn addresses_are_counted_and_released() {
        let per = PerAddress::default();
        let one: IpAddr = [127, 0, 0, 1].into();
        let two: IpAddr = [127, 0, 0, 2].into();
        let a = per.try_add(one, 2).unwrap();
        let _b = per.try_add(one, 2).unwrap();
        assert!(per.try_add(one, 2).is_none());
        assert!(per.try_add(two, 2).is_some());
        drop(a);
        assert!(per.try_add(one, 2).is_some());
    }

    #[test]
    fn log_lines_are_limited_per_key() {
        let limit = LogLimit::new(Duration::from_secs(10));
        let peer: IpAddr = [127, 0, 0, 1].into();
        let now = Instant::now();
        assert_eq!(limit.allow(peer, now), Some(0));
        for _ in 0..5 {
            assert_eq!(limit.allow(peer, now + Duration::from_secs(1)), None);
        }
        assert_eq!(limit.allow([127, 0, 0, 9].into(), now), Some(0));
        assert_eq!(limit.allow(peer, now + Duration::from_secs(11)), Some(5));
    }

    #[test]
    fn the_connection_limit_leaves_headroom_under_the_file_limit() {
        let limit = default_max_connections(1 << 30);
        let files = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
        if let Some(files) = files {
            assert_eq!(limit as u64, files.saturating_sub(64).max(1));
        }
        // A cap under the file limit (or with none) is what applies.
        assert_eq!(default_max_connections(10), 10);
    }
}
