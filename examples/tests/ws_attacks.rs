//! WebSocket-FLV viewers that send what costs, against the example server (a child process
//! with `--watch` and `--http`), while ffmpeg publishes `live/cam` and two honest viewers
//! watch it throughout: ffmpeg over HTTP-FLV and a WebSocket client that only reads.
//!
//! The hostile viewers write RFC 6455 frames by hand (a client's frames are masked) on a plain
//! TCP socket after the upgrade: data messages of every form, frame headers announcing more
//! than a viewer may send, fragmented messages of many MiB that never end, and floods of pings
//! and pongs. Each must be closed promptly, and the server's peak resident memory is measured
//! (`VmHWM` after resetting it, against `VmRSS` before). Apart, headless Chromium plays the
//! watch page over the WebSocket, on a 720p stream whose keyframes span several messages.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{
    Browser, MIB, Memory, Process, curl, eventually, frames, free_port, mib, publish_args,
    start_server, stream_field, strings,
};
use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

/// Opcodes of RFC 6455 §5.2.
const CONTINUATION: u8 = 0x0;
const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xA;

/// The close code the server gives a viewer that broke its rule (policy).
const POLICY: u16 = 1008;

/// The mask of every hand-made frame (any key will do).
const MASK: [u8; 4] = [0x37, 0xFA, 0x21, 0x3D];

/// The header of a client frame: FIN, the opcode, the mask bit and key, and `len` in its
/// shortest form (the payload follows, masked with [`MASK`]).
fn client_header(opcode: u8, fin: bool, len: u64) -> Vec<u8> {
    let mut out = vec![(u8::from(fin) << 7) | opcode];
    match len {
        0..=125 => out.push(0x80 | len as u8),
        126..=0xFFFF => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(0x80 | 127);
            out.extend_from_slice(&len.to_be_bytes());
        }
    }
    out.extend_from_slice(&MASK);
    out
}

/// A whole client frame.
fn client_frame(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
    let mut out = client_header(opcode, fin, payload.len() as u64);
    out.extend(
        payload
            .iter()
            .enumerate()
            .map(|(at, byte)| byte ^ MASK[at % 4]),
    );
    out
}

/// A server frame: its opcode and payload.
struct Frame {
    opcode: u8,
    payload: Vec<u8>,
}

/// The first server frame in `buf` and its length, once it is all there.
fn parse_frame(buf: &[u8]) -> Option<(Frame, usize)> {
    let (&first, &second) = (buf.first()?, buf.get(1)?);
    assert_eq!(second & 0x80, 0, "a server frame is masked");
    let (len, header) = match second & 0x7F {
        126 => (
            u64::from(u16::from_be_bytes(buf.get(2..4)?.try_into().unwrap())),
            4,
        ),
        127 => (u64::from_be_bytes(buf.get(2..10)?.try_into().unwrap()), 10),
        len => (u64::from(len), 2),
    };
    let end = header + usize::try_from(len).unwrap();
    let payload = buf.get(header..end)?.to_vec();
    let frame = Frame {
        opcode: first & 0x0F,
        payload,
    };
    Some((frame, end))
}

/// How a connection ended, seen from the client.
#[derive(Debug, Default)]
struct Ending {
    /// After how long the server closed (a close frame, the end of the stream or a reset);
    /// `None`: it did not within the limit.
    after: Option<Duration>,
    /// The code of the server's close frame, if one came.
    code: Option<u16>,
    /// Pongs received.
    pongs: usize,
    /// FLV bytes received in binary frames.
    flv: usize,
}

/// A WebSocket-FLV viewer by hand over a blocking socket.
struct Raw {
    stream: TcpStream,
    /// Bytes received and not yet parsed.
    buf: Vec<u8>,
}

impl Raw {
    /// Connects to the viewer listener on `port` and upgrades `/live/cam.flv`.
    fn upgrade(port: u16) -> Self {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let request = format!(
            "GET /live/cam.flv HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).unwrap();
        let mut buf = Vec::new();
        let start = Instant::now();
        let end = loop {
            if let Some(at) = buf.windows(4).position(|window| window == b"\r\n\r\n") {
                break at + 4;
            }
            assert!(start.elapsed() < common::LIMIT, "no answer to the upgrade");
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk) {
                Ok(0) => panic!("the server closed before upgrading"),
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(error) if is_timeout(&error) => {}
                Err(error) => panic!("upgrade: {error}"),
            }
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        buf.drain(..end);
        Self { stream, buf }
    }

    /// Sends `bytes`; whether the server took them.
    fn send(&mut self, bytes: &[u8]) -> bool {
        self.stream.write_all(bytes).is_ok()
    }

    /// The next frame from the server, or `None` once the connection ended (or `deadline`
    /// passed, which [`Raw::ended`] tells apart).
    fn next_frame(&mut self, deadline: Instant) -> Option<Frame> {
        let mut chunk = vec![0u8; 64 << 10];
        loop {
            if let Some((frame, len)) = parse_frame(&self.buf) {
                self.buf.drain(..len);
                return Some(frame);
            }
            if Instant::now() >= deadline {
                return None;
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(error) if is_timeout(&error) => {}
                Err(_) => return None,
            }
        }
    }

    /// Reads until the server closes, at most `limit` from `since`.
    fn ended(&mut self, since: Instant, limit: Duration) -> Ending {
        let deadline = since + limit;
        let mut ending = Ending::default();
        loop {
            match self.next_frame(deadline) {
                Some(frame) => match frame.opcode {
                    BINARY | CONTINUATION => ending.flv += frame.payload.len(),
                    PONG => ending.pongs += 1,
                    CLOSE => {
                        ending.code = frame
                            .payload
                            .get(..2)
                            .map(|code| u16::from_be_bytes([code[0], code[1]]));
                        ending.after = Some(since.elapsed());
                        return ending;
                    }
                    _ => {}
                },
                None if Instant::now() < deadline => {
                    ending.after = Some(since.elapsed());
                    return ending;
                }
                None => return ending,
            }
        }
    }
}

fn is_timeout(error: &std::io::Error) -> bool {
    matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("rtmp-ws-attacks-{}-{name}", std::process::id()))
}

/// What the honest WebSocket viewer got.
struct Watched {
    bytes: Vec<u8>,
    /// The longest time between two messages.
    longest_gap: Duration,
    /// How long it watched.
    watched: Duration,
}

/// An honest WebSocket-FLV viewer of `url` (tokio-tungstenite), reading until `stop`.
fn honest_websocket(url: String, stop: Arc<AtomicBool>) -> JoinHandle<Watched> {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let (mut socket, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
            let start = Instant::now();
            let mut last = start;
            let mut longest_gap = Duration::ZERO;
            let mut bytes = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let next = tokio::time::timeout(Duration::from_millis(200), socket.next()).await;
                match next {
                    Ok(Some(Ok(Message::Binary(data)))) => {
                        longest_gap = longest_gap.max(last.elapsed());
                        last = Instant::now();
                        bytes.extend_from_slice(&data);
                    }
                    Ok(Some(Ok(_))) | Err(_) => {}
                    Ok(Some(Err(_)) | None) => break,
                }
            }
            longest_gap = longest_gap.max(last.elapsed());
            let _ = socket.send(Message::Close(None)).await;
            Watched {
                bytes,
                longest_gap,
                watched: start.elapsed(),
            }
        })
    })
}

/// A hostile viewer: upgrades, then `write` sends what it likes on a clone of the socket
/// (returning the bytes the server took) while the viewer reads until the server closes.
/// Its ending, counted from the first byte written, and the bytes written.
fn hostile(
    port: u16,
    limit: Duration,
    write: impl FnOnce(TcpStream, Instant) -> u64 + Send + 'static,
) -> JoinHandle<(Ending, u64)> {
    let mut raw = Raw::upgrade(port);
    let writer = raw.stream.try_clone().unwrap();
    writer
        .set_write_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    std::thread::spawn(move || {
        let start = Instant::now();
        let sender = std::thread::spawn(move || write(writer, start + limit));
        let ending = raw.ended(start, limit);
        // The server is gone: the writer's next write fails, or its deadline passes.
        let _ = raw.stream.shutdown(std::net::Shutdown::Both);
        (ending, sender.join().unwrap())
    })
}

/// Writes `chunk` over and over until a write fails, `total` bytes went or `deadline`
/// passed; the bytes written.
fn write_repeatedly(mut stream: TcpStream, chunk: &[u8], total: u64, deadline: Instant) -> u64 {
    let mut written = 0u64;
    while written < total && Instant::now() < deadline {
        match stream.write(chunk) {
            Ok(0) => break,
            Ok(n) => written += n as u64,
            Err(error) if is_timeout(&error) => {}
            Err(_) => break,
        }
    }
    written
}

/// Begins a binary message of `len` bytes and sends as much of it as the server takes until
/// `deadline`: in one fragment announced whole (`whole`), else in fragments of 125 bytes. The
/// bytes written.
fn unfinished(mut stream: TcpStream, whole: bool, len: u64, deadline: Instant) -> u64 {
    let (first, rest) = if whole {
        (client_header(BINARY, false, len), vec![0x55; 64 << 10])
    } else {
        (
            client_frame(BINARY, false, &[0x55; 125]),
            client_frame(CONTINUATION, false, &[0x55; 125]).repeat(500),
        )
    };
    if stream.write_all(&first).is_err() {
        return 0;
    }
    first.len() as u64 + write_repeatedly(stream, &rest, len, deadline)
}

#[test]
fn websocket_viewers_send_nothing_that_costs() {
    let (rtmp, watch, http) = (free_port(), free_port(), free_port());
    let mut args = strings(&["--listen", &format!("127.0.0.1:{rtmp}")]);
    args.extend(strings(&["--watch", &format!("127.0.0.1:{watch}")]));
    args.extend(strings(&["--http", &format!("127.0.0.1:{http}")]));
    let server = start_server(&args, rtmp);
    let memory = Memory(server.0.id());
    let honest_seconds = 45;
    let _publisher = Process(
        Command::new("ffmpeg")
            .args(publish_args(
                &format!("rtmp://127.0.0.1:{rtmp}/live/cam"),
                honest_seconds + 15,
            ))
            .stdin(Stdio::null())
            .spawn()
            .expect("ffmpeg runs (.ci/install-peers)"),
    );
    let api = format!("http://127.0.0.1:{http}");
    eventually("the stream is live", || {
        curl("GET", &format!("{api}/api/streams"))
            .1
            .contains("\"cam\"")
    });

    // The honest viewers: ffmpeg over HTTP-FLV, and a WebSocket client that only reads.
    let played = temp("http.flv");
    let player_seconds = honest_seconds - 10;
    let mut player = Process(
        Command::new("ffmpeg")
            .args(["-nostdin", "-loglevel", "error", "-y", "-i"])
            .arg(format!("http://127.0.0.1:{watch}/live/cam.flv"))
            .args(["-c", "copy", "-t", &player_seconds.to_string()])
            .arg(&played)
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let player_start = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = honest_websocket(format!("ws://127.0.0.1:{watch}/live/cam.flv"), stop.clone());
    eventually("the honest viewers are counted", || {
        stream_field(&api, "viewers_ws_flv") == 1 && stream_field(&api, "viewers_http_flv") == 1
    });
    std::thread::sleep(Duration::from_secs(1));
    eprintln!("baseline {:.1} MiB", mib(memory.status("VmRSS:")));

    // (c) One message each: closed at once with a close frame, code 1008 (policy).
    let gib = 1u64 << 30;
    let single: [(&str, Vec<u8>); 8] = [
        ("a text message", client_frame(TEXT, true, b"hello")),
        ("an empty text message", client_frame(TEXT, true, b"")),
        ("a binary message", client_frame(BINARY, true, &[7; 100])),
        (
            "the first fragment of a binary message",
            client_frame(BINARY, false, &[7; 10]),
        ),
        (
            "an empty first fragment, then a fragment of 10 bytes",
            [
                client_frame(TEXT, false, b""),
                client_frame(CONTINUATION, false, b"0123456789"),
            ]
            .concat(),
        ),
        (
            "a frame header announcing 1 GiB",
            client_header(BINARY, true, gib),
        ),
        (
            "a fragment header announcing 1 GiB",
            client_header(BINARY, false, gib),
        ),
        (
            "a ping header announcing 126 bytes",
            client_header(PING, true, 126),
        ),
    ];
    for (what, bytes) in single {
        let mut raw = Raw::upgrade(watch);
        let sent = Instant::now();
        assert!(raw.send(&bytes), "{what}: not sent");
        let ending = raw.ended(sent, Duration::from_secs(5));
        eprintln!(
            "{what}: closed after {:?} with code {:?} ({} FLV bytes before)",
            ending.after, ending.code, ending.flv
        );
        assert!(ending.after.is_some(), "{what}: not closed");
        assert_eq!(ending.code, Some(POLICY), "{what}");
        assert!(ending.after.unwrap() < Duration::from_secs(2), "{what}");
    }
    // An honest close is answered with the same code.
    let mut raw = Raw::upgrade(watch);
    assert!(raw.send(&client_frame(CLOSE, true, &1000u16.to_be_bytes())));
    let ending = raw.ended(Instant::now(), Duration::from_secs(5));
    assert_eq!(ending.code, Some(1000), "the close is answered");

    // Pings at 5 a second for 4 s: each answered, the viewer stays.
    let mut raw = Raw::upgrade(watch);
    let start = Instant::now();
    let (mut pings, mut pongs) = (0, 0);
    while start.elapsed() < Duration::from_secs(4) {
        assert!(raw.send(&client_frame(PING, true, b"still here")));
        pings += 1;
        let deadline = Instant::now() + Duration::from_millis(200);
        while let Some(frame) = raw.next_frame(deadline) {
            assert_ne!(
                frame.opcode, CLOSE,
                "a viewer pinging 5 times a second was closed"
            );
            if frame.opcode == PONG {
                assert_eq!(frame.payload, b"still here");
                pongs += 1;
            }
        }
    }
    eprintln!("{pings} pings at 5 a second: {pongs} pongs, not closed");
    assert!(pongs + 1 >= pings, "{pongs} pongs of {pings} pings");
    drop(raw);

    // (b) Floods of pings (reading the pongs) and of unsolicited pongs, as fast as they go.
    for (what, opcode) in [("pings", PING), ("pongs", PONG)] {
        let flood = client_frame(opcode, true, b"1234").repeat(2000);
        let attacker = hostile(watch, Duration::from_secs(10), move |stream, deadline| {
            write_repeatedly(stream, &flood, u64::MAX, deadline)
        });
        let (ending, written) = attacker.join().unwrap();
        eprintln!(
            "a flood of {what}: {} sent, {} pongs, closed after {:?} with code {:?}",
            written / 10,
            ending.pongs,
            ending.after,
            ending.code
        );
        let after = ending.after.expect("a flood is closed");
        assert!(
            after < Duration::from_secs(3),
            "a flood of {what}: {after:?}"
        );
        assert!(ending.pongs <= 100, "{} pongs", ending.pongs);
    }

    // (a) 48 viewers each begin a binary message of 63 MiB and never finish it: half in one
    // fragment announced whole, half in fragments of 125 bytes; each writes as fast as the
    // server takes it.
    let attackers = 48;
    let message = 63 * MIB as u64;
    let (growth, endings) = memory.growth(|| {
        let handles: Vec<_> = (0..attackers)
            .map(|index| {
                hostile(watch, Duration::from_secs(10), move |stream, deadline| {
                    unfinished(stream, index % 2 == 0, message, deadline)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().unwrap())
            .collect::<Vec<_>>()
    });
    let written: u64 = endings.iter().map(|(_, written)| written).sum();
    let slowest = endings
        .iter()
        .map(|(ending, _)| ending.after.unwrap_or(Duration::MAX))
        .max()
        .unwrap();
    let with_code = endings
        .iter()
        .filter(|(ending, _)| ending.code == Some(POLICY))
        .count();
    let late = endings
        .iter()
        .filter(|(ending, _)| {
            ending
                .after
                .is_none_or(|after| after > Duration::from_secs(3))
        })
        .count();
    eprintln!(
        "{attackers} viewers beginning a 63 MiB binary message: {:.1} MiB written in all, the \
         slowest closed after {slowest:?} ({with_code} saw the close frame, the others a reset), \
         peak +{:.1} MiB",
        mib(written as usize),
        mib(growth)
    );
    assert_eq!(late, 0, "viewers not closed within 3 s");
    assert!(growth <= 64 * MIB, "+{growth} bytes");
    eventually("every hostile viewer is gone", || {
        stream_field(&api, "viewers_ws_flv") == 1
    });

    // (d) The honest viewers got the stream at its rate throughout.
    let end = player_start + Duration::from_secs(u64::from(player_seconds) + 30);
    while player.0.try_wait().unwrap().is_none() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(200));
    }
    let player_took = player_start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let watched = watcher.join().unwrap();
    let video = frames(&played, "v");
    let _ = std::fs::remove_file(&played);
    eprintln!("HTTP-FLV player: {video} video frames of {player_seconds} s in {player_took:.1} s");
    let expected = 25.0 * f64::from(player_seconds);
    assert!(
        video as f64 >= expected * 0.9,
        "{video} video frames, expected about {expected}"
    );
    assert_eq!(
        &watched.bytes[..3],
        b"FLV",
        "the WebSocket viewer's first bytes"
    );
    let file = temp("ws.flv");
    std::fs::write(&file, &watched.bytes).unwrap();
    let video = frames(&file, "v");
    let _ = std::fs::remove_file(&file);
    let seconds = watched.watched.as_secs_f64();
    eprintln!(
        "WebSocket viewer: {} bytes, {video} video frames in {seconds:.1} s, longest gap {:?}",
        watched.bytes.len(),
        watched.longest_gap
    );
    assert!(
        video as f64 >= 25.0 * seconds * 0.9,
        "{video} video frames in {seconds:.1} s"
    );
    assert!(
        watched.longest_gap < Duration::from_secs(2),
        "{:?}",
        watched.longest_gap
    );
    drop(server);
}

/// The watch page over the WebSocket (`?ws=1`) plays a 720p stream of 4 Mbit/s (and AAC) in
/// Chromium: its keyframes, far larger than a binary message, arrive in several, which
/// mpegts.js reads as one byte stream.
#[test]
fn chromium_plays_the_watch_page_over_the_websocket() {
    let (rtmp, watch, http) = (free_port(), free_port(), free_port());
    let mut args = strings(&["--listen", &format!("127.0.0.1:{rtmp}")]);
    args.extend(strings(&["--watch", &format!("127.0.0.1:{watch}")]));
    args.extend(strings(&["--http", &format!("127.0.0.1:{http}")]));
    let _server = start_server(&args, rtmp);
    let mut publish = strings(&["-nostdin", "-loglevel", "error", "-re", "-f", "lavfi", "-i"]);
    publish.extend(strings(&[
        "testsrc2=size=1280x720:rate=25",
        "-f",
        "lavfi",
        "-i",
        "sine",
        "-t",
        "60",
        "-pix_fmt",
        "yuv420p",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-b:v",
        "4M",
        "-g",
        "50",
        "-c:a",
        "aac",
        "-f",
        "flv",
        &format!("rtmp://127.0.0.1:{rtmp}/live/cam"),
    ]));
    let _publisher = Process(
        Command::new("ffmpeg")
            .args(&publish)
            .stdin(Stdio::null())
            .spawn()
            .expect("ffmpeg runs (.ci/install-peers)"),
    );
    let api = format!("http://127.0.0.1:{http}");
    eventually("the stream is live", || {
        curl("GET", &format!("{api}/api/streams"))
            .1
            .contains("\"cam\"")
    });
    let browser = Browser::open(&format!("http://127.0.0.1:{watch}/watch/live/cam?ws=1"));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let state = "JSON.stringify({ state: document.body.dataset.state || '', \
        time: document.getElementById('video').currentTime, \
        frames: document.getElementById('video').getVideoPlaybackQuality().totalVideoFrames })";
    let start = Instant::now();
    let mut first = None;
    loop {
        let now = match browser.evaluate(&runtime, state) {
            serde_json::Value::String(text) => serde_json::from_str(&text).unwrap(),
            _ => serde_json::Value::Null,
        };
        let time = now["time"].as_f64().unwrap_or(0.0);
        if time > 0.0 && first.is_none() {
            first = Some(time);
        }
        if first.is_some_and(|at| time > at + 3.0) && now["frames"].as_u64().unwrap_or(0) > 50 {
            eprintln!("Chromium plays over the WebSocket: {now}");
            assert_eq!(now["state"], "playing");
            break;
        }
        assert!(
            start.elapsed() < common::LIMIT,
            "the page does not play: {now}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(
        stream_field(&api, "viewers_ws_flv"),
        1,
        "the page watches over the WebSocket"
    );
}
