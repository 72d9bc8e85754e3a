//! Process and address limits: the open-file limit that bounds how many connections a server
//! can hold, connections counted per peer address, and log lines an attacker cannot multiply.

use crate::sync::lock;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// File descriptors kept aside from connections: listeners, log files, relays, recordings.
const FD_HEADROOM: u64 = 64;

/// Raises the soft limit on open files to the hard limit (as nginx's `worker_rlimit_nofile`
/// does) and returns the new soft limit. Call it once at start, before
/// [`ServerConfig::default`](crate::ServerConfig::default), which sizes the connection limit
/// from it. Where there is no such limit (Windows), an `Unsupported` error.
pub fn raise_open_file_limit() -> std::io::Result<u64> {
    #[cfg(unix)]
    return raise_unix_limit();
    #[cfg(not(unix))]
    return Err(std::io::ErrorKind::Unsupported.into());
}

#[cfg(unix)]
fn raise_unix_limit() -> std::io::Result<u64> {
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

/// The listen backlog when none is set: the kernel's own cap (`net.core.somaxconn`, 4096 on
/// Linux 5.4 and later), or 1024 where it cannot be read.
pub(crate) fn default_listen_backlog() -> u32 {
    std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|text| text.trim().parse::<u32>().ok())
        .map_or(1024, |most| most.clamp(128, 65_535))
}

/// Connections per peer address, with a limit: what a server counts its RTMP connections
/// in, and what other listeners of a program (an HTTP viewer listener) can count theirs in.
///
/// ```
/// use rtmp_server::system::PerAddress;
///
/// let per = PerAddress::default();
/// let peer = [192, 0, 2, 7].into();
/// let first = per.try_add(peer, 1).expect("under the limit");
/// assert!(per.try_add(peer, 1).is_none());
/// drop(first);
/// assert!(per.try_add(peer, 1).is_some());
/// ```
#[derive(Debug, Clone, Default)]
pub struct PerAddress {
    counts: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// A connection counted against its address while it lives.
#[derive(Debug)]
pub struct AddressSlot {
    counts: Arc<Mutex<HashMap<IpAddr, usize>>>,
    address: IpAddr,
}

impl PerAddress {
    /// Counts a connection from `address`, unless it already has `limit`.
    pub fn try_add(&self, address: IpAddr, limit: usize) -> Option<AddressSlot> {
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

/// Limits log lines per peer address and per network: a burst of lines, then one per
/// `period`, counting what it held back so that the next line can say how many. Routine
/// events that a client can repeat at will (a refusal, a publish and its end) go through one,
/// so that a client in a loop cannot fill the log. An address's network (its IPv4 /24, its
/// IPv6 /48, what one client is usually given) has a budget of its own of four times the
/// burst, so that a client with many addresses cannot fill it either.
///
/// ```
/// use std::net::IpAddr;
/// use std::time::{Duration, Instant};
/// use rtmp_server::system::LogLimit;
///
/// let limit = LogLimit::new(Duration::from_secs(10)).with_burst(2);
/// let peer: IpAddr = [127, 0, 0, 1].into();
/// let now = Instant::now();
/// assert_eq!(limit.allow(peer, now), Some(0));
/// assert_eq!(limit.allow(peer, now), Some(0));
/// assert_eq!(limit.allow(peer, now), None); // held back
/// // A period later, one more line, which says that one was held back.
/// assert_eq!(limit.allow(peer, now + Duration::from_secs(10)), Some(1));
/// ```
#[derive(Debug)]
pub struct LogLimit {
    period: Duration,
    burst: u32,
    seen: Mutex<Seen>,
}

/// The buckets of addresses and of networks.
#[derive(Debug, Default)]
struct Seen {
    addresses: HashMap<IpAddr, Bucket>,
    networks: HashMap<IpAddr, Bucket>,
}

/// One address's (or network's) lines: how many may go now (as of `at`), and how many were
/// held back (counted for addresses only).
#[derive(Debug)]
struct Bucket {
    at: Instant,
    tokens: u32,
    held: u64,
}

impl Bucket {
    /// Earns the tokens of the periods since `at` (at most `burst`); then whether a token
    /// is left.
    fn refill(&mut self, now: Instant, period: Duration, burst: u32) -> bool {
        let periods = now.saturating_duration_since(self.at).as_nanos() / period.as_nanos().max(1);
        if periods > 0 {
            let earned = u32::try_from(periods).unwrap_or(u32::MAX);
            self.tokens = self.tokens.saturating_add(earned).min(burst);
            self.at = now;
        }
        self.tokens > 0
    }
}

/// Addresses (and networks) remembered at most; past this the table keeps only the recent
/// ones, or starts over.
const LOG_KEYS: usize = 4096;

/// How many of an address's lines its network may log at once.
const NETWORK_BURSTS: u32 = 4;

/// The network of `address`: its IPv4 /24 or its IPv6 /48.
fn network(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            IpAddr::from([a, b, c, 0])
        }
        IpAddr::V6(v6) => {
            let mut segments = v6.segments();
            segments.iter_mut().skip(3).for_each(|segment| *segment = 0);
            IpAddr::from(segments)
        }
    }
}

/// The bucket of `key` in `table`, which forgets idle keys (or everything) once it holds
/// [`LOG_KEYS`].
fn bucket(
    table: &mut HashMap<IpAddr, Bucket>,
    key: IpAddr,
    now: Instant,
    burst: u32,
    idle: Duration,
) -> &mut Bucket {
    if table.len() >= LOG_KEYS && !table.contains_key(&key) {
        // Keys idle long enough to have a full burst again are as good as new.
        table.retain(|_, bucket| now.saturating_duration_since(bucket.at) < idle);
        if table.len() >= LOG_KEYS {
            table.clear();
        }
    }
    table.entry(key).or_insert(Bucket {
        at: now,
        tokens: burst,
        held: 0,
    })
}

impl LogLimit {
    /// One line per `period` for each address.
    pub fn new(period: Duration) -> Self {
        Self {
            period,
            burst: 1,
            seen: Mutex::new(Seen::default()),
        }
    }

    /// Lets `burst` lines (at least one) through at once before the limit applies.
    #[must_use]
    pub fn with_burst(mut self, burst: u32) -> Self {
        self.burst = burst.max(1);
        self
    }

    /// `Some(lines held back since the last one)` when a line about `address` may be logged
    /// at `now`; `None` when it is held back (by its address's limit or its network's).
    pub fn allow(&self, address: IpAddr, now: Instant) -> Option<u64> {
        let mut seen = lock(&self.seen);
        let Seen {
            addresses,
            networks,
        } = &mut *seen;
        let (period, burst) = (self.period, self.burst);
        let network_burst = burst.saturating_mul(NETWORK_BURSTS);
        let by_address = bucket(addresses, address, now, burst, period.saturating_mul(burst));
        let address_ok = by_address.refill(now, period, burst);
        let by_network = bucket(
            networks,
            network(address),
            now,
            network_burst,
            period.saturating_mul(network_burst),
        );
        let network_ok = by_network.refill(now, period, network_burst);
        if !(address_ok && network_ok) {
            // Counted against the address, whose next line says how many of its own went.
            if let Some(by_address) = addresses.get_mut(&address) {
                by_address.held += 1;
            }
            return None;
        }
        by_network.tokens -= 1;
        let by_address = addresses.get_mut(&address)?;
        by_address.tokens -= 1;
        Some(std::mem::take(&mut by_address.held))
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
    fn a_network_of_many_addresses_is_limited_as_a_whole() {
        let limit = LogLimit::new(Duration::from_secs(10));
        let now = Instant::now();
        // One line each from the first four addresses of a /48, then none from the rest.
        let allowed = (0..1000u16)
            .map(|host| IpAddr::from([0x2001, 0xdb8, 7, host, 0, 0, 0, 1]))
            .filter(|peer| limit.allow(*peer, now).is_some())
            .count();
        assert_eq!(allowed, 4);
        // Another network is not held back by it, and neither is an IPv4 /24's neighbour.
        assert!(
            limit
                .allow(IpAddr::from([0x2001, 0xdb8, 8, 0, 0, 0, 0, 1]), now)
                .is_some()
        );
        let allowed = (1..=255u8)
            .filter(|host| limit.allow([10, 0, 0, *host].into(), now).is_some())
            .count();
        assert_eq!(allowed, 4);
        assert!(limit.allow([10, 0, 1, 1].into(), now).is_some());
    }

    #[test]
    fn a_burst_goes_through_then_one_line_a_period() {
        let limit = LogLimit::new(Duration::from_secs(10)).with_burst(3);
        let peer: IpAddr = [127, 0, 0, 1].into();
        let now = Instant::now();
        let allowed = (0..100)
            .filter(|_| limit.allow(peer, now).is_some())
            .count();
        assert_eq!(allowed, 3);
        assert_eq!(limit.allow(peer, now + Duration::from_secs(10)), Some(97));
        assert_eq!(limit.allow(peer, now + Duration::from_secs(11)), None);
        // Idle long enough: the whole burst again.
        let later = now + Duration::from_secs(60);
        let allowed = (0..10)
            .filter(|_| limit.allow(peer, later).is_some())
            .count();
        assert_eq!(allowed, 3);
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
