//! Attacks on the example server's Low-Latency HLS (`--watch`), while ffmpeg publishes
//! `live/cam` and an honest ffmpeg reads `index.m3u8` (its frames are counted by ffprobe):
//!
//! - thousands of blocking playlist requests (`_HLS_msn`/`_HLS_part`) held at once on raw
//!   sockets: the server's peak resident memory (`VmHWM` after resetting it), that each is
//!   answered (200, or 503 once held for three target durations) and that its descriptors
//!   come back;
//! - names and queries outside the scheme (`../`, huge numbers, leading zeros, parts far
//!   ahead or long gone, `_HLS_part` alone, names and queries past RTMP's bounds): 400, 404
//!   or 414, never another 5xx, and no growth;
//! - sessions (address, stream and query) opened by the thousand with distinct queries from
//!   many loopback addresses: 64 per address, 10 000 in all, then 503; each ends after its
//!   quiet spell and the API lists none;
//! - what a hostile client makes the server keep: slowloris heads of blocking requests,
//!   pipelined segment requests never read, streams that do not exist asked for again and
//!   again (no packaging starts), and a session the operator closed (403 from its next
//!   request on).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{
    LIMIT, MIB, Memory, Process, curl, eventually, frames, free_port, mib, publish_args, run,
    start_server, strings,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::Semaphore;

/// The attacks run one at a time: each measures the server's memory and the honest reader,
/// which another attack on the same two cores would disturb.
static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The example server (viewer listener limits raised so that one address can open
/// thousands of connections), ffmpeg publishing `live/cam`.
struct Setup {
    watch: u16,
    http: String,
    server: Process,
    _publisher: Process,
}

impl Setup {
    fn start(seconds: u32) -> Self {
        let (rtmp, watch, http) = (free_port(), free_port(), free_port());
        let args = strings(&[
            "--listen",
            &format!("127.0.0.1:{rtmp}"),
            "--watch",
            &format!("127.0.0.1:{watch}"),
            "--http",
            &format!("127.0.0.1:{http}"),
            "--watch-max-connections",
            "12000",
            "--watch-max-connections-per-ip",
            "12000",
        ]);
        let server = start_server(&args, rtmp);
        let publisher = Command::new("ffmpeg")
            .args(publish_args(
                &format!("rtmp://127.0.0.1:{rtmp}/live/cam"),
                seconds,
            ))
            .stdin(Stdio::null())
            .spawn()
            .expect("ffmpeg runs (.ci/install-peers)");
        let setup = Self {
            watch,
            http: format!("http://127.0.0.1:{http}"),
            server,
            _publisher: Process(publisher),
        };
        let url = format!("{}/live/cam/v0.m3u8", setup.base());
        eventually("the media playlist is served", || {
            let (status, body) = curl("GET", &url);
            status == 200 && body.contains("#EXT-X-PART:")
        });
        setup
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.watch)
    }

    fn memory(&self) -> Memory {
        Memory(self.server.0.id())
    }

    /// Descriptors the server holds open now.
    fn descriptors(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.server.0.id()))
            .map(Iterator::count)
            .unwrap_or(0)
    }

    /// The next part of the video playlist: the segment in progress and its next part.
    fn next_part(&self) -> (u64, u64) {
        let (status, playlist) = curl("GET", &format!("{}/live/cam/v0.m3u8", self.base()));
        assert_eq!(status, 200, "{playlist}");
        let parsed = m3u8_rs::parse_media_playlist_res(playlist.as_bytes())
            .unwrap_or_else(|error| panic!("not a media playlist ({error:?}): {playlist}"));
        let next = parsed.media_sequence + parsed.segments.len() as u64;
        let tail = playlist.rsplit("#EXTINF").next().unwrap_or_default();
        (next, tail.matches("#EXT-X-PART:").count() as u64)
    }

    /// The HLS sessions the API lists, each with its address (every page; pages small enough
    /// for [`curl`]'s pipe, which is read only once curl ends).
    fn hls_sessions(&self) -> Vec<(u64, String)> {
        let mut found = Vec::new();
        for page in 0.. {
            let url = format!(
                "{}/api/connections?limit={PAGE}&offset={}",
                self.http,
                page * PAGE
            );
            let (status, body) = curl("GET", &url);
            assert_eq!(status, 200, "{body}");
            let list: serde_json::Value = serde_json::from_str(&body).unwrap();
            let list = list.as_array().unwrap();
            found.extend(
                list.iter()
                    .filter(|connection| connection["protocol"] == "hls")
                    .map(|connection| {
                        (
                            connection["id"].as_u64().unwrap(),
                            connection["address"]
                                .as_str()
                                .unwrap_or_default()
                                .to_owned(),
                        )
                    }),
            );
            if list.len() < PAGE {
                break;
            }
        }
        found
    }
}

/// Connections of a page of `/api/connections` (about 180 bytes each).
const PAGE: usize = 250;

/// An honest reader: ffmpeg reading `index.m3u8` for `seconds` of media into a file, in a
/// thread; [`Honest::frames`] waits for it and counts the video frames ffprobe decodes.
struct Honest {
    file: PathBuf,
    reader: std::thread::JoinHandle<std::process::Output>,
}

impl Honest {
    fn read(setup: &Setup, seconds: u32, name: &str) -> Self {
        let file = std::env::temp_dir().join(format!(
            "rtmp-hls-attacks-{}-{name}.mkv",
            std::process::id()
        ));
        let args = strings(&[
            "-nostdin",
            "-loglevel",
            "error",
            "-y",
            "-i",
            &format!("{}/live/cam/index.m3u8", setup.base()),
            "-t",
            &seconds.to_string(),
            "-c",
            "copy",
            file.to_str().unwrap(),
        ]);
        let reader = std::thread::spawn(move || run("ffmpeg", &args));
        Self { file, reader }
    }

    /// Video frames read.
    fn frames(self) -> usize {
        let output = self.reader.join().unwrap();
        assert!(
            output.status.success(),
            "the honest reader failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let video = frames(&self.file, "v");
        let _ = std::fs::remove_file(&self.file);
        video
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A TCP connection to the viewer listener from the loopback address `ip`.
async fn connect_from(ip: [u8; 4], port: u16) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((ip, 0)))?;
    socket
        .connect(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
}

/// A request head for `target`, the connection closed after it.
fn head(target: &str) -> String {
    format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
}

/// The status of the answer read to its end from `stream` (0: closed without one).
async fn status_of(stream: &mut TcpStream) -> u16 {
    let mut answer = Vec::new();
    let read = tokio::time::timeout(LIMIT, stream.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "an answer never ended");
    let text = String::from_utf8_lossy(&answer[..answer.len().min(64)]).into_owned();
    text.strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

/// GET `target` from `ip` on a connection of its own: the status (0: no answer).
async fn get_from(ip: [u8; 4], port: u16, target: &str) -> u16 {
    let Ok(mut stream) = connect_from(ip, port).await else {
        return 0;
    };
    if stream.write_all(head(target).as_bytes()).await.is_err() {
        return 0;
    }
    status_of(&mut stream).await
}

/// How many of each status.
fn tally(statuses: impl IntoIterator<Item = u16>) -> BTreeMap<u16, usize> {
    let mut counts = BTreeMap::new();
    for status in statuses {
        *counts.entry(status).or_default() += 1;
    }
    counts
}

/// The blocking requests sent, each on a connection of its own from one address (the
/// listener's caps raised). On a two-core machine the debug server accepts some 450 a second
/// and answers each within about a segment, so 10 000 take some 20 s and about 1 200 are held
/// at once (not 10 000: connecting them all first takes longer than the server's 10 s head
/// timeout allows).
const HELD: usize = 10_000;

#[test]
fn thousands_of_blocking_requests_held_at_once_stay_small() {
    let _heavy = HEAVY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let setup = Setup::start(60);
    let honest = Honest::read(&setup, 8, "blocking");
    std::thread::sleep(Duration::from_secs(1));
    let memory = setup.memory();
    let descriptors = setup.descriptors();
    let runtime = runtime();
    let before = memory.start();
    // Each connection sends at once a blocking request, for the next part or for the last
    // part of the segment after it (held about a segment longer), as a thread follows the
    // playlist; the most held at once is counted.
    let next = Arc::new(std::sync::Mutex::new(setup.next_part()));
    let done = Arc::new(AtomicBool::new(false));
    let follower = {
        let (next, done) = (next.clone(), done.clone());
        let base = setup.base();
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                let (status, playlist) = curl("GET", &format!("{base}/live/cam/v0.m3u8"));
                if status == 200
                    && let Ok(parsed) = m3u8_rs::parse_media_playlist_res(playlist.as_bytes())
                {
                    let msn = parsed.media_sequence + parsed.segments.len() as u64;
                    let tail = playlist.rsplit("#EXTINF").next().unwrap_or_default();
                    *next.lock().unwrap() = (msn, tail.matches("#EXT-X-PART:").count() as u64);
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    };
    let held = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let statuses = runtime.block_on(async {
        let limit = Arc::new(Semaphore::new(512));
        let tasks: Vec<_> = (0..HELD)
            .map(|at| {
                let (limit, next) = (limit.clone(), next.clone());
                let (held, most) = (held.clone(), most.clone());
                let port = setup.watch;
                tokio::spawn(async move {
                    let permit = limit.acquire().await.unwrap();
                    let mut stream = connect_from([127, 0, 0, 1], port).await.unwrap();
                    drop(permit);
                    let (msn, part) = *next.lock().unwrap();
                    let target = if at % 2 == 0 {
                        format!("/live/cam/v0.m3u8?_HLS_msn={msn}&_HLS_part={part}")
                    } else {
                        format!("/live/cam/v0.m3u8?_HLS_msn={}&_HLS_part=4", msn + 1)
                    };
                    stream.write_all(head(&target).as_bytes()).await.unwrap();
                    let now = held.fetch_add(1, Ordering::Relaxed) + 1;
                    most.fetch_max(now, Ordering::Relaxed);
                    let status = status_of(&mut stream).await;
                    held.fetch_sub(1, Ordering::Relaxed);
                    status
                })
            })
            .collect();
        let mut statuses = Vec::with_capacity(HELD);
        for task in tasks {
            statuses.push(task.await.unwrap());
        }
        statuses
    });
    done.store(true, Ordering::Relaxed);
    follower.join().unwrap();
    let opened = most.load(Ordering::Relaxed);
    let took = started.elapsed();
    let peak = memory.peak_above(before);
    let counts = tally(statuses);
    eprintln!(
        "{HELD} blocking requests (the next part, the last of the segment after) in {took:?}, \
         at most {opened} held at once: {counts:?}; server RSS {:.1} MiB before, peak {:.1} \
         MiB above it; descriptors {descriptors} before",
        mib(before),
        mib(peak)
    );
    assert!(opened >= 100, "only {opened} requests were held at once");
    assert!(
        counts.keys().all(|status| [200, 503].contains(status)),
        "a blocking request got neither its playlist nor 503: {counts:?}"
    );
    assert!(
        counts.get(&200).copied().unwrap_or(0) >= HELD / 2,
        "most blocking requests were not answered: {counts:?}"
    );
    assert!(
        peak < 200 * MIB,
        "{HELD} blocking requests took {:.1} MiB",
        mib(peak)
    );
    eventually("the server's descriptors come back", || {
        setup.descriptors() <= descriptors + 8
    });
    eprintln!(
        "after: RSS {:.1} MiB, descriptors {}",
        mib(memory.resident()),
        setup.descriptors()
    );
    let video = honest.frames();
    eprintln!("the honest reader read {video} video frames meanwhile");
    assert!(video >= 150, "the honest reader read {video} video frames");
    assert!(memory.alive());
}

#[test]
fn names_and_queries_outside_the_scheme_get_4xx_and_cost_nothing() {
    let _heavy = HEAVY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let setup = Setup::start(60);
    let memory = setup.memory();
    let runtime = runtime();
    let port = setup.watch;
    let before = memory.start();
    let mut seen = BTreeMap::new();
    for round in 0..20 {
        // The live edge moves on: the names relative to it are made anew each round.
        let (msn, part) = setup.next_part();
        let long_query = format!("?token={}", "q".repeat(1100));
        let long_name = "n".repeat(300);
        let long_app = "a".repeat(200);
        let long_path = format!("v0/{}.m4s", "1".repeat(100));
        let cases: Vec<(String, &[u16])> = vec![
            (format!("v0.m3u8?_HLS_msn={}", msn + 3), &[400]),
            (
                format!("v0.m3u8?_HLS_msn={}&_HLS_part=0", msn + 1000),
                &[400],
            ),
            // A part past the segment's last waits for the next segment's first (by design).
            (
                format!("v0.m3u8?_HLS_msn={msn}&_HLS_part=999999"),
                &[200, 400, 503],
            ),
            ("v0.m3u8?_HLS_part=1".to_owned(), &[400]),
            ("v0.m3u8?_HLS_msn=-1".to_owned(), &[400]),
            ("v0.m3u8?_HLS_msn=01".to_owned(), &[400]),
            ("v0.m3u8?_HLS_msn=18446744073709551615".to_owned(), &[400]),
            (
                "v0.m3u8?_HLS_msn=99999999999999999999999".to_owned(),
                &[400],
            ),
            (
                format!("v0.m3u8?_HLS_msn={msn}&_HLS_part=18446744073709551616"),
                &[400],
            ),
            ("v0.m3u8?_HLS_skip=NO".to_owned(), &[400]),
            ("v0.m3u8?_HLS_msn=&_HLS_part=".to_owned(), &[400]),
            ("v0.m3u8?_HLS_skip=YES".to_owned(), &[200]),
            // Long gone, never made, and far ahead parts and segments.
            ("v0/99999999999999999999.m4s".to_owned(), &[400]),
            ("v0/18446744073709551615.m4s".to_owned(), &[400, 404]),
            ("v0/0.99999999999999999999.m4s".to_owned(), &[400]),
            (format!("v0/{}.0.m4s", msn + 1000), &[400, 404]),
            (format!("v0/{}.m4s", msn + 1000), &[400, 404]),
            ("v0/00.m4s".to_owned(), &[400]),
            ("v0/0.00.m4s".to_owned(), &[400]),
            ("v0/init01.mp4".to_owned(), &[400]),
            ("v0/init7.mp4".to_owned(), &[404]),
            ("v255.m3u8".to_owned(), &[404]),
            ("v256.m3u8".to_owned(), &[400]),
            ("v00.m3u8".to_owned(), &[400]),
            ("x.m3u8".to_owned(), &[400]),
            ("../v0.m3u8".to_owned(), &[400, 404]),
            ("..%2F..%2Fetc%2Fpasswd".to_owned(), &[400, 404]),
            ("v0/../../../etc/passwd".to_owned(), &[400, 404]),
            ("v0/%00.m4s".to_owned(), &[400, 404]),
            ("v0.m3u8%00".to_owned(), &[400, 404]),
            ("index.m3u8/".to_owned(), &[400, 404]),
            (long_path, &[404]),
            (format!("index.m3u8{long_query}"), &[414]),
            (
                format!(
                    "v0.m3u8?_HLS_msn={msn}&_HLS_part={part}&pad={}",
                    "p".repeat(1100)
                ),
                &[414],
            ),
        ];
        for (path, allowed) in &cases {
            let target = format!("/live/cam/{path}");
            let status = runtime.block_on(get_from([127, 0, 0, 9], port, &target));
            assert!(
                allowed.contains(&status),
                "GET {target} (round {round}): {status}, not one of {allowed:?}"
            );
            *seen.entry(status).or_insert(0) += 1;
        }
        for target in [
            format!("/live/{long_name}/index.m3u8"),
            format!("/{long_app}/cam/index.m3u8"),
            format!("/live/{long_name}/v0.m3u8?_HLS_msn=1&_HLS_part=0"),
        ] {
            let status = runtime.block_on(get_from([127, 0, 0, 9], port, &target));
            assert_eq!(status, 414, "GET {target}");
        }
        for target in ["/live/c%01m/index.m3u8", "/live/cam%0A/index.m3u8"] {
            let status = runtime.block_on(get_from([127, 0, 0, 9], port, target));
            assert!([400, 404].contains(&status), "GET {target}: {status}");
        }
    }
    let peak = memory.peak_above(before);
    eprintln!(
        "{} bad requests: {seen:?}; server RSS {:.1} MiB, peak {:.1} MiB above it",
        seen.values().sum::<usize>() + 20 * 5,
        mib(before),
        mib(peak)
    );
    assert!(peak < 32 * MIB, "bad requests took {:.1} MiB", mib(peak));
    assert!(memory.alive());
    // They opened one session, from their address.
    let sessions = setup.hls_sessions();
    let from_attacker = sessions
        .iter()
        .filter(|(_, address)| address.starts_with("127.0.0.9:"))
        .count();
    assert!(from_attacker <= 1, "{sessions:?}");
}

#[test]
fn sessions_by_the_thousand_are_capped_and_end_when_quiet() {
    let _heavy = HEAVY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let setup = Setup::start(60);
    let memory = setup.memory();
    let runtime = runtime();
    let port = setup.watch;
    // The honest reader's session opens first: it keeps its place past the caps.
    let honest = Honest::read(&setup, 8, "sessions");
    std::thread::sleep(Duration::from_secs(1));
    let before = memory.start();
    // One address, a thousand distinct queries: 64 sessions, then 503.
    let one = runtime.block_on(async {
        let mut statuses = Vec::new();
        for at in 0..1000 {
            statuses
                .push(get_from([127, 0, 0, 3], port, &format!("/live/cam/v0.m3u8?x={at}")).await);
        }
        tally(statuses)
    });
    eprintln!("1000 queries from one address: {one:?}");
    assert_eq!(one.get(&200), Some(&64), "{one:?}");
    assert_eq!(one.get(&503), Some(&936), "{one:?}");
    // 160 addresses, 64 queries each: 10 000 sessions in all (the honest one among them).
    let many = runtime.block_on(async {
        let limit = Arc::new(Semaphore::new(64));
        let tasks: Vec<_> = (0..160u32)
            .flat_map(|host| (0..64u32).map(move |query| (host, query)))
            .map(|(host, query)| {
                let limit = limit.clone();
                tokio::spawn(async move {
                    let _permit = limit.acquire().await.unwrap();
                    let ip = [127, 0, 1 + (host / 200) as u8, 1 + (host % 200) as u8];
                    get_from(ip, port, &format!("/live/cam/a0.m3u8?y={query}")).await
                })
            })
            .collect();
        let mut statuses = Vec::new();
        for task in tasks {
            statuses.push(task.await.unwrap());
        }
        tally(statuses)
    });
    let open = setup.hls_sessions().len();
    let peak = memory.peak_above(before);
    eprintln!(
        "10 240 queries from 160 addresses: {many:?}; {open} HLS sessions listed; server RSS \
         {:.1} MiB, peak {:.1} MiB above it",
        mib(before),
        mib(peak)
    );
    assert!(
        many.keys().all(|status| [200, 503].contains(status)),
        "{many:?}"
    );
    assert!(
        (9_900..=10_000).contains(&open),
        "{open} sessions open, the cap is 10 000"
    );
    assert!(
        peak < 150 * MIB,
        "10 000 sessions took {:.1} MiB",
        mib(peak)
    );
    let video = honest.frames();
    eprintln!("the honest reader read {video} video frames meanwhile");
    assert!(video >= 150, "the honest reader read {video} video frames");
    // Quiet for the session's 10 s (and a tick): every session ends.
    let quiet = Instant::now();
    eventually("every quiet HLS session ends", || {
        setup.hls_sessions().is_empty()
    });
    eprintln!(
        "no HLS session listed {:.1} s after the last request; RSS {:.1} MiB",
        quiet.elapsed().as_secs_f64(),
        mib(memory.resident())
    );
    // Their places are given back.
    let again = runtime.block_on(get_from([127, 0, 0, 3], port, "/live/cam/v0.m3u8?x=again"));
    assert_eq!(again, 200);
}

#[test]
fn slow_heads_unread_segments_and_missing_streams_are_not_kept() {
    let _heavy = HEAVY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let setup = Setup::start(60);
    let memory = setup.memory();
    let runtime = runtime();
    let port = setup.watch;
    let honest = Honest::read(&setup, 10, "kept");
    std::thread::sleep(Duration::from_secs(2));
    let descriptors = setup.descriptors();
    let before = memory.start();
    let (msn, _) = setup.next_part();
    let segment = format!("/live/cam/v0/{}.m4s", msn.saturating_sub(1));
    assert_eq!(
        runtime.block_on(get_from([127, 0, 0, 5], port, &segment)),
        200
    );
    let (slow, unread) = runtime.block_on(async {
        // Slowloris: a blocking request's head, a byte now and then; it never ends.
        let mut slow = Vec::new();
        for _ in 0..1000 {
            let mut stream = connect_from([127, 0, 0, 4], port).await.unwrap();
            stream
                .write_all(b"GET /live/cam/v0.m3u8?_HLS_msn=")
                .await
                .unwrap();
            slow.push(stream);
        }
        // Readers that never read: 200 connections, each with 200 pipelined requests for a
        // segment (about 40 KB each: 1.6 GB asked for in all).
        let mut unread = Vec::new();
        let pipelined = format!("GET {segment} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").repeat(200);
        for _ in 0..200 {
            let mut stream = connect_from([127, 0, 0, 5], port).await.unwrap();
            let _ = stream.write_all(pipelined.as_bytes()).await;
            unread.push(stream);
        }
        // Streams that do not exist, asked for again and again, blocking or not.
        let mut missing = Vec::new();
        for at in 0..2000 {
            let target = if at % 2 == 0 {
                format!("/live/ghost{}/index.m3u8", at % 50)
            } else {
                format!("/live/ghost{}/v0.m3u8?_HLS_msn=5&_HLS_part=1", at % 50)
            };
            missing.push(get_from([127, 0, 0, 6], port, &target).await);
            if at % 100 == 0 {
                for stream in &mut slow {
                    let _ = stream.write_all(b"1").await;
                }
            }
        }
        let missing = tally(missing);
        eprintln!("2000 requests for 50 streams that do not exist: {missing:?}");
        assert_eq!(missing.get(&404), Some(&2000), "{missing:?}");
        (slow, unread)
    });
    let peak = memory.peak_above(before);
    let held = setup.descriptors();
    eprintln!(
        "1000 slowloris heads, 200 connections with 200 unread segments each, 2000 requests \
         for missing streams: server RSS {:.1} MiB, peak {:.1} MiB above it; descriptors \
         {descriptors} before, {held} meanwhile",
        mib(before),
        mib(peak)
    );
    assert!(peak < 100 * MIB, "they took {:.1} MiB", mib(peak));
    // No packaging started for a missing stream, no session opened for one.
    let (_, streams) = curl("GET", &format!("{}/api/streams", setup.http));
    assert!(!streams.contains("ghost"), "{streams}");
    let sessions = setup.hls_sessions();
    assert!(
        sessions
            .iter()
            .all(|(_, address)| !address.starts_with("127.0.0.6:")),
        "{sessions:?}"
    );
    // The server ends the slow heads (its head timeout) and the readers that never read (its
    // write timeout): its descriptors come back while the attackers' sockets stay open.
    eventually(
        "the server closes the slow heads and the unread connections",
        || setup.descriptors() <= descriptors + 8,
    );
    eprintln!(
        "the server closed them all; RSS {:.1} MiB, descriptors {}",
        mib(memory.resident()),
        setup.descriptors()
    );
    drop((slow, unread));
    let video = honest.frames();
    eprintln!("the honest reader read {video} video frames meanwhile");
    assert!(video >= 150, "the honest reader read {video} video frames");
    assert!(memory.alive());
}

#[test]
fn a_session_the_operator_closed_is_refused_from_its_next_request() {
    let _heavy = HEAVY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let setup = Setup::start(40);
    let runtime = runtime();
    let port = setup.watch;
    let target = "/live/cam/v0.m3u8?who=victim";
    assert_eq!(
        runtime.block_on(get_from([127, 0, 0, 7], port, target)),
        200
    );
    let sessions = setup.hls_sessions();
    let (id, _) = sessions
        .iter()
        .find(|(_, address)| address.starts_with("127.0.0.7:"))
        .unwrap_or_else(|| panic!("the session is not listed: {sessions:?}"));
    let (status, _) = curl("DELETE", &format!("{}/api/connections/{id}", setup.http));
    assert_eq!(status, 204);
    // At once, and while it keeps asking (blocking or not).
    for _ in 0..5 {
        assert_eq!(
            runtime.block_on(get_from([127, 0, 0, 7], port, target)),
            403
        );
        let (msn, part) = setup.next_part();
        let blocking = format!("{target}&_HLS_msn={msn}&_HLS_part={part}");
        assert_eq!(
            runtime.block_on(get_from([127, 0, 0, 7], port, &blocking)),
            403
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        setup
            .hls_sessions()
            .iter()
            .all(|(_, address)| !address.starts_with("127.0.0.7:")),
        "the closed session is still listed"
    );
    // Another client of the same address is not refused.
    assert_eq!(
        runtime.block_on(get_from(
            [127, 0, 0, 7],
            port,
            "/live/cam/v0.m3u8?who=other"
        )),
        200
    );
}
