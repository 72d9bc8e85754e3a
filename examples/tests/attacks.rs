//! Single-message attacks on the example server (a child process with default settings and
//! `--http`), each measured: the server's peak resident memory during the attack, and whether
//! it answers in time. Meanwhile ffmpeg publishes and plays another stream, which must arrive
//! at its rate throughout.
//!
//! The hostile messages are built by hand from the specifications: AMF3 reference tables
//! (`shared/specs/amf3.md`) and Enhanced RTMP v2 multitrack video (`enhanced-rtmp.md`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use common::{MIB, Memory, Process, frames, free_port, mib, publish_args, start_server, strings};
use rtmp_chunk::{ChunkDecoder, ChunkEncoder, DecoderConfig, RawMessage};
use rtmp_message::{Command, Connect, Message, PublishType};

/// A U29 in its variable-length form (AMF3).
fn u29(value: u32) -> Vec<u8> {
    match value {
        0..0x80 => vec![value as u8],
        0x80..0x4000 => vec![(value >> 7) as u8 | 0x80, value as u8 & 0x7F],
        0x4000..0x20_0000 => vec![
            (value >> 14) as u8 | 0x80,
            (value >> 7) as u8 | 0x80,
            value as u8 & 0x7F,
        ],
        _ => vec![
            (value >> 22) as u8 | 0x80,
            (value >> 15) as u8 | 0x80,
            (value >> 8) as u8 | 0x80,
            value as u8,
        ],
    }
}

/// An AMF0 string.
fn amf0_string(text: &str) -> Vec<u8> {
    let mut out = BytesMut::new();
    rtmp_server::amf0::encode_all([&rtmp_server::amf0::Value::from(text)], &mut out).unwrap();
    out.to_vec()
}

/// AMF3: an array of `count` dense strings, the first `len` bytes inline (string 0), every
/// other one a reference to it.
fn amf3_string_bomb(len: usize, count: u32) -> Vec<u8> {
    let mut out = vec![0x09];
    out.extend(u29(count << 1 | 1));
    out.push(0x01);
    out.push(0x06);
    out.extend(u29((len as u32) << 1 | 1));
    out.resize(out.len() + len, b's');
    for _ in 1..count {
        out.extend_from_slice(&[0x06, 0x00]);
    }
    out
}

/// AMF3: `objects` objects of one class whose `sealed` member names are all references to
/// the class name (`len` bytes), the traits themselves referenced after the first object.
fn amf3_traits_bomb(len: usize, sealed: u32, objects: u32) -> Vec<u8> {
    let mut out = vec![0x09];
    out.extend(u29(objects << 1 | 1));
    out.push(0x01);
    out.push(0x0A);
    out.extend(u29(sealed << 4 | 0b0011));
    out.extend(u29((len as u32) << 1 | 1));
    out.resize(out.len() + len, b'c');
    out.extend(std::iter::repeat_n(0x00, sealed as usize));
    out.extend(std::iter::repeat_n(0x01, sealed as usize));
    for _ in 1..objects {
        out.extend_from_slice(&[0x0A, 0x01]);
        out.extend(std::iter::repeat_n(0x01, sealed as usize));
    }
    out
}

/// AMF3: an array of `items` integers (entry 1), wrapped in `levels` arrays that each hold 64
/// references to the one inside it.
fn amf3_nested_bomb(items: u32, levels: u32) -> Vec<u8> {
    let mut out = vec![0x09];
    out.extend(u29((levels + 1) << 1 | 1));
    out.push(0x01);
    out.push(0x09);
    out.extend(u29(items << 1 | 1));
    out.push(0x01);
    for item in 0..items {
        out.push(0x04);
        out.push((item % 100) as u8);
    }
    for level in 0..levels {
        out.push(0x09);
        out.extend(u29(64 << 1 | 1));
        out.push(0x01);
        for _ in 0..64 {
            out.push(0x09);
            out.extend(u29((level + 1) << 1));
        }
    }
    out
}

/// A connect command (type 20) whose command object switches to AMF3 for `amf3`.
fn hostile_connect(amf3: &[u8]) -> RawMessage {
    let mut payload = amf0_string("connect");
    payload.push(0x00);
    payload.extend_from_slice(&1.0f64.to_be_bytes());
    payload.push(0x11);
    payload.extend_from_slice(amf3);
    RawMessage::new(3, 0, 20, 0, payload)
}

/// An AMF3 command (type 17): format byte 0, then a call of `foo` with an AMF3 argument.
fn hostile_call(amf3: &[u8]) -> RawMessage {
    let mut payload = vec![0x00];
    payload.extend(amf0_string("foo"));
    payload.push(0x00);
    payload.extend_from_slice(&0.0f64.to_be_bytes());
    payload.push(0x05);
    payload.push(0x11);
    payload.extend_from_slice(amf3);
    RawMessage::new(3, 0, 17, 0, payload)
}

/// A multitrack video sequence start (one codec, AVC) of `tracks` tracks with the given ids,
/// each a configuration record of `config_len` bytes.
fn multitrack_sequence_start(ids: impl Iterator<Item = u8>, config_len: usize) -> RawMessage {
    // ExHeader video, packet type Multitrack (6); ManyTracks (1 << 4) | SequenceStart (0).
    let mut payload = vec![0x80 | 0x10 | 6, 0x10, b'a', b'v', b'c', b'1'];
    for id in ids {
        payload.push(id);
        payload.extend_from_slice(&(config_len as u32).to_be_bytes()[1..]);
        let mut config = vec![1, 0x64, 0, 0x1F, 0xFF, 0xE0, 0];
        config.resize(config_len, 0);
        payload.extend(config);
    }
    RawMessage::new(6, 0, 9, 1, payload)
}

/// A client by hand over a blocking socket.
struct Raw {
    stream: TcpStream,
    encoder: ChunkEncoder,
    decoder: ChunkDecoder,
    received: BytesMut,
}

impl Raw {
    /// Connects and completes the handshake.
    fn connect(port: u16) -> Self {
        use rtmp_handshake::{ClientHandshake, ClientHandshakeConfig, Progress};
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut handshake = ClientHandshake::new(ClientHandshakeConfig::default());
        stream.write_all(&handshake.take_output()).unwrap();
        let mut buf = [0u8; 4096];
        let mut received = BytesMut::new();
        loop {
            let n = stream.read(&mut buf).unwrap();
            assert!(n > 0, "the server closed during the handshake");
            let status = handshake.read(&buf[..n]).unwrap();
            stream.write_all(&handshake.take_output()).unwrap();
            if let Progress::Done(done) = status {
                received.extend_from_slice(&done.leftover);
                break;
            }
        }
        Self {
            stream,
            encoder: ChunkEncoder::new(),
            decoder: ChunkDecoder::new(DecoderConfig::default()),
            received,
        }
    }

    /// Sends messages; whether the server took them (it may close the connection first).
    fn send(&mut self, messages: &[RawMessage]) -> bool {
        let mut out = BytesMut::new();
        for message in messages {
            self.encoder.encode(message, &mut out).unwrap();
        }
        self.stream.write_all(&out).is_ok()
    }

    /// Sends connect (app `live`) with a large chunk size, then createStream.
    fn connected(port: u16) -> Self {
        let mut client = Self::connect(port);
        let connect = Connect {
            transaction_id: 1.0,
            app: "live".into(),
            ..Connect::default()
        };
        let create = Command::CreateStream {
            transaction_id: 2.0,
        };
        assert!(
            client.send(&[
                RawMessage::set_chunk_size(65536),
                Message::Command(Command::Connect(Box::new(connect)))
                    .to_chunk(3, 0, 0)
                    .unwrap(),
                Message::Command(create).to_chunk(3, 0, 0).unwrap(),
            ])
        );
        client
    }

    /// Reads until a command or data message contains `text`, or `limit` passes, or the
    /// connection ends; whether it came.
    fn wait_for(&mut self, text: &str, limit: Duration) -> bool {
        let end = Instant::now() + limit;
        let mut buf = vec![0u8; 65536];
        while Instant::now() < end {
            while let Ok(Some(message)) = self.decoder.decode(&mut self.received) {
                let payload = &message.payload;
                if matches!(message.type_id, 17..=20)
                    && payload
                        .windows(text.len())
                        .any(|window| window == text.as_bytes())
                {
                    return true;
                }
            }
            match self.stream.read(&mut buf) {
                Ok(0) => return false,
                Ok(n) => self.received.extend_from_slice(&buf[..n]),
                Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(error) if error.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => return false,
            }
        }
        false
    }

    /// Whether the server closes the connection within `limit` (what it sends is dropped).
    fn closed_within(&mut self, limit: Duration) -> bool {
        let end = Instant::now() + limit;
        let mut buf = vec![0u8; 65536];
        while Instant::now() < end {
            match self.stream.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(error)
                    if matches!(
                        error.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return true,
            }
        }
        false
    }

    /// Publishes `live/NAME` (after [`connected`](Self::connected)).
    fn publish(&mut self, name: &str) -> bool {
        let publish = Command::Publish {
            transaction_id: 3.0,
            name: name.into(),
            publish_type: PublishType::Live,
        };
        self.send(&[Message::Command(publish).to_chunk(4, 0, 1).unwrap()])
            && self.wait_for("NetStream.Publish.Start", Duration::from_secs(10))
    }
}

/// The status code of a `text/plain` POST to `url`, as a form or a page of `origin` (another
/// site) may send without asking first.
fn plain_post(url: &str, origin: Option<&str>) -> String {
    let mut args = strings(&["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST"]);
    if let Some(origin) = origin {
        args.extend(strings(&["-H", &format!("Origin: {origin}")]));
    }
    args.extend(strings(&[
        "-H",
        "Content-Type: text/plain",
        "-d",
        "drain",
        url,
    ]));
    String::from_utf8_lossy(&common::run("curl", &args).stdout).into_owned()
}

/// Whether this machine has an established TCP connection from local port `local` to port
/// `remote` on 127.0.0.1 (`/proc/net/tcp`).
fn established(local: u16, remote: u16) -> bool {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let port = |address: &str| {
        let hex = address.rsplit(':').next().unwrap_or("");
        u16::from_str_radix(hex, 16).unwrap_or(0)
    };
    table.lines().skip(1).any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        fields.len() > 3
            && port(fields[1]) == local
            && port(fields[2]) == remote
            && fields[3] == "01"
    })
}

/// Opens `count` HTTP connections that send nothing; returns them.
fn idle_http(port: u16, count: usize) -> Vec<TcpStream> {
    (0..count)
        .filter_map(|_| TcpStream::connect(("127.0.0.1", port)).ok())
        .collect()
}

#[test]
fn single_messages_cannot_take_the_server_down() {
    // This process holds many sockets at once.
    let files = rtmp_server::system::raise_open_file_limit().unwrap();
    let (port, http_port) = (free_port(), free_port());
    let server: Process = start_server(
        &strings(&[
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--http",
            &format!("127.0.0.1:{http_port}"),
        ]),
        port,
    );
    let memory = Memory(server.0.id());
    // A client that sends request after request and never reads an answer: the server's
    // writes stop with megabytes queued. It holds one of the HTTP side's places until the
    // connection's life (60 s) is over.
    let slow_reader = TcpStream::connect(("127.0.0.1", http_port)).unwrap();
    let mut requests = slow_reader.try_clone().unwrap();
    std::thread::spawn(move || {
        let request = b"GET /api/totals HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".repeat(20_000);
        // Fails once the server closes the connection.
        let _ = requests.write_all(&request);
    });
    let slow_since = Instant::now();
    let url = format!("rtmp://127.0.0.1:{port}/live/safe");
    let honest_seconds = 40;
    let publisher = Process(
        std::process::Command::new("ffmpeg")
            .args(publish_args(&url, honest_seconds))
            .stdin(std::process::Stdio::null())
            .spawn()
            .expect("ffmpeg runs (.ci/install-peers)"),
    );
    std::thread::sleep(Duration::from_secs(2));
    let file = std::env::temp_dir().join(format!("attacked-{}.flv", std::process::id()));
    let mut player = Process(
        std::process::Command::new("ffmpeg")
            .args([
                "-nostdin",
                "-loglevel",
                "error",
                "-y",
                "-i",
                &url,
                "-c",
                "copy",
            ])
            .args(["-t", &(honest_seconds - 6).to_string()])
            .arg(&file)
            .stdin(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let played_from = Instant::now();
    std::thread::sleep(Duration::from_secs(2));
    eprintln!("baseline {:.1} MiB", mib(memory.resident()));

    // AMF3 references in the connect command, before connect is accepted (messages are
    // limited to 64 KiB then): six connections at once, each with one message.
    for (what, bomb) in [
        ("string references", amf3_string_bomb(30_000, 16_000)),
        ("traits references", amf3_traits_bomb(20_000, 10_000, 3)),
    ] {
        assert!(bomb.len() < 64 * 1024 - 64, "{}", bomb.len());
        let (growth, closed) = memory.growth(|| {
            let mut clients: Vec<Raw> = (0..6).map(|_| Raw::connect(port)).collect();
            for client in &mut clients {
                client.send(&[hostile_connect(&bomb)]);
            }
            clients
                .iter_mut()
                .map(|client| client.closed_within(Duration::from_secs(5)))
                .filter(|closed| *closed)
                .count()
        });
        eprintln!(
            "AMF3 {what} before connect, 6 connections: +{:.1} MiB, {closed} closed",
            mib(growth)
        );
        assert!(growth <= 64 * MIB, "{what}: +{growth} bytes");
        assert_eq!(closed, 6, "{what}: a connection survived its bomb");
    }

    let settled = memory.resident();
    // After connect: a call of nearly 1 MiB (the largest command decoded) whose argument
    // nests references to a large array; then one of 8 MiB, past what is decoded at all.
    let nested = amf3_nested_bomb(200_000, 60);
    assert!(nested.len() < MIB - 64, "{}", nested.len());
    let (growth, closed) = memory.growth(|| {
        let mut client = Raw::connected(port);
        client.send(&[hostile_call(&nested)]);
        client.closed_within(Duration::from_secs(5))
    });
    eprintln!(
        "AMF3 nested references after connect, {} KiB: +{:.1} MiB, closed: {closed}",
        nested.len() / 1024,
        mib(growth)
    );
    assert!(growth <= 256 * MIB, "nested references: +{growth} bytes");
    assert!(closed);
    let large = amf3_traits_bomb(1_000_000, 2_000_000, 2);
    let (growth, closed) = memory.growth(|| {
        let mut client = Raw::connected(port);
        client.send(&[hostile_call(&large)]);
        client.closed_within(Duration::from_secs(5))
    });
    eprintln!(
        "AMF3 call of {:.1} MiB after connect: +{:.1} MiB, closed: {closed}",
        mib(large.len()),
        mib(growth)
    );
    assert!(growth <= 256 * MIB, "an 8 MiB call: +{growth} bytes");
    assert!(closed);
    // What those calls took is given back (the server trims every 5 s when it holds much
    // more free memory than it did).
    let until = Instant::now() + Duration::from_secs(12);
    while memory.resident() > settled + 16 * MIB && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(500));
    }
    let kept = memory.resident().saturating_sub(settled);
    eprintln!("kept after the calls: +{:.1} MiB", mib(kept));
    assert!(kept <= 16 * MIB, "+{kept} bytes kept after the calls");

    // A multitrack sequence start of 1 MiB naming tracks 0-7 over and over: answered at once
    // (a createStream right after it is answered within a second).
    let repeated = multitrack_sequence_start((0..200_000u32).map(|id| (id % 8) as u8), 2);
    let mut publisher_by_hand = Raw::connected(port);
    assert!(publisher_by_hand.publish("repeated"));
    let sent = Instant::now();
    let create = Command::CreateStream {
        transaction_id: 9.0,
    };
    publisher_by_hand.send(&[
        repeated,
        Message::Command(create).to_chunk(3, 0, 0).unwrap(),
    ]);
    assert!(publisher_by_hand.wait_for("_result", Duration::from_secs(10)));
    let answered = sent.elapsed();
    eprintln!("1 MiB of repeated track ids: the next command answered after {answered:?}");
    assert!(answered < Duration::from_secs(1), "{answered:?}");
    drop(publisher_by_hand);

    // 255 multitrack sequence starts of 64 KiB (track ids 0-254): refused once past the
    // stream's budget (32 tracks, 1 MiB of configuration), and a late player gets no more.
    let (growth, rejected) = memory.growth(|| {
        let mut client = Raw::connected(port);
        assert!(client.publish("tracks"));
        for id in 0..=254u8 {
            if !client.send(&[multitrack_sequence_start(std::iter::once(id), 64 * 1024)]) {
                break;
            }
        }
        client.wait_for("NetStream.Publish.Rejected", Duration::from_secs(10))
    });
    eprintln!(
        "255 track configurations of 64 KiB: +{:.1} MiB, rejected: {rejected}",
        mib(growth)
    );
    assert!(rejected, "the publisher was not refused past the budget");
    assert!(growth <= 64 * MIB, "track configurations: +{growth} bytes");

    // Idle HTTP connections, as many as this process can hold: RTMP clients are still served.
    let count = usize::try_from(files.saturating_sub(1000))
        .unwrap_or(20_000)
        .min(20_000);
    let (growth, (idle, served)) = memory.growth(|| {
        let idle = idle_http(http_port, count);
        let served = (0..10)
            .filter(|_| {
                let mut client = Raw::connected(port);
                client.wait_for("NetConnection.Connect.Success", Duration::from_secs(5))
            })
            .count();
        (idle, served)
    });
    eprintln!(
        "{} idle HTTP connections: {served} of 10 RTMP clients served, +{:.1} MiB",
        idle.len(),
        mib(growth)
    );
    assert!(idle.len() >= count / 2, "only {} connected", idle.len());
    assert_eq!(served, 10);
    drop(idle);
    assert_eq!(
        common::curl("GET", &format!("http://127.0.0.1:{http_port}/api/totals")).0,
        200,
        "the API answers again once the idle connections are gone"
    );

    // A drain sent as a page on another site would send it: refused, and publishing goes on.
    let drain = format!("http://127.0.0.1:{http_port}/api/drain");
    assert_eq!(plain_post(&drain, Some("http://elsewhere.example")), "403");
    assert_eq!(plain_post(&drain, None), "415");
    assert!(Raw::connected(port).publish("after-drain"));

    // The slow reader's place was given back once its life was over.
    std::thread::sleep(Duration::from_secs(63).saturating_sub(slow_since.elapsed()));
    // The server's side of it: the client's may stay open while the server's goodbye waits
    // behind answers the client never reads.
    let local = slow_reader.local_addr().unwrap().port();
    assert!(
        !established(http_port, local),
        "a client that reads no answer still holds its HTTP connection after 63 s"
    );
    drop(slow_reader);

    // The honest player got the stream at its rate throughout.
    let end = Instant::now() + Duration::from_secs(u64::from(honest_seconds) + 30);
    while player.0.try_wait().unwrap().is_none() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(200));
    }
    let played = played_from.elapsed().as_secs_f64();
    drop(publisher);
    let video = frames(&file, "v");
    let _ = std::fs::remove_file(&file);
    eprintln!("honest player: {video} video frames in {played:.0} s");
    let expected = 25.0 * (f64::from(honest_seconds) - 6.0);
    assert!(
        video as f64 >= expected * 0.9,
        "{video} video frames, expected about {expected}"
    );
    drop(server);
}

#[test]
fn a_publish_loop_writes_a_few_log_lines() {
    let port = free_port();
    let log = std::env::temp_dir().join(format!("publish-loop-{}.log", std::process::id()));
    let server = Process(
        std::process::Command::new(common::server_binary())
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env("RUST_LOG", "info")
            .stdin(std::process::Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(start.elapsed() < Duration::from_secs(20), "no listener");
        std::thread::sleep(Duration::from_millis(50));
    }
    let loops = 100;
    for round in 0..loops {
        let mut client = Raw::connected(port);
        assert!(client.publish(&format!("loop{round}")), "round {round}");
    }
    // The last unpublish is logged (or held back) before the server stops.
    std::thread::sleep(Duration::from_millis(500));
    drop(server);
    let text = std::fs::read_to_string(&log).unwrap();
    let _ = std::fs::remove_file(&log);
    let lines = text
        .lines()
        .filter(|line| line.contains("publishing"))
        .count();
    eprintln!("{loops} publishes and unpublishes: {lines} lines");
    // A burst of 8 of each, then one a period.
    assert!((2..=20).contains(&lines), "{lines} lines:\n{text}");
}
