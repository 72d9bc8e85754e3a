//! Attacks on a running server, each measured: the server's resident memory while the attack
//! lasts must stay within a bound, the attacker must be closed where a limit says so, and an
//! honest ffmpeg player of another stream must keep receiving it at its rate throughout.
//!
//! The server runs in a child process (this test binary again, with default settings but for
//! a 5 s write timeout), so that its resident memory is its own: the attackers live in this
//! process.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

mod common;

use std::time::{Duration, Instant};

use bytes::BytesMut;
use common::{LIMIT, RawClient, play_args, probe, publish_args, spawn, temp, wait};
use rtmp_chunk::ChunkEncoder;
use rtmp_message::{Command, Connect, Message as Rtmp, PublishType};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;

const CHILD: &str = "RTMP_ATTACK_SERVER";
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
const MIB: usize = 1 << 20;

/// The server side: a server with default settings (but a write timeout of 5 s and no
/// republish grace) on a free port, which it prints, until its standard input closes.
fn server_child() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut config = rtmp_server::ServerConfig::default();
        config.write_timeout = WRITE_TIMEOUT;
        // Players told of every publish and unpublish at once, the most a republish flood can
        // make the server say (within the default grace it says nothing).
        let mut hub = config.hub_settings();
        hub.republish_grace = Duration::ZERO;
        let listener =
            rtmp_server::system::bind_listener(([127, 0, 0, 1], 0).into(), config.listen_backlog)
                .unwrap();
        println!("port {}", listener.local_addr().unwrap().port());
        let server = rtmp_server::Server::with_router(
            config,
            rtmp_server::AcceptAll,
            rtmp_server::Hub::new(hub),
        );

        let stdin_closed = async {
            let _ = tokio::task::spawn_blocking(|| {
                use std::io::Read;
                let mut buf = [0u8; 16];
                while std::io::stdin().read(&mut buf).is_ok_and(|n| n > 0) {}
            })
            .await;
        };
        server.serve(listener, stdin_closed).await.unwrap();
    });
}

/// The server process and its memory.
struct Child {
    process: tokio::process::Child,
    port: u16,
}

impl Child {
    async fn start() -> Self {
        let mut process = tokio::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "attacks_are_bounded", "--nocapture"])
            .env(CHILD, "1")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdout = process.stdout.take().unwrap();
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let port = tokio::time::timeout(LIMIT, async {
            loop {
                let line = lines.next_line().await.unwrap().expect("no port printed");
                if let Some(port) = line.strip_prefix("port ") {
                    return port.parse().unwrap();
                }
            }
        })
        .await
        .unwrap();
        // Keep reading what the child's test harness prints (it notes tests running over 60 s),
        // so that it never writes to a closed pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self { process, port }
    }

    fn resident(&self) -> usize {
        let pid = self.process.id().unwrap();
        let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).unwrap();
        let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
        pages * 4096
    }

    fn url(&self, key: &str) -> String {
        format!("rtmp://127.0.0.1:{}/{key}", self.port)
    }
}

/// Samples the child's resident memory every 20 ms while `attack` runs; returns the peak
/// growth over the memory before it, and what `attack` returned.
async fn measured<T>(child: &Child, attack: impl std::future::Future<Output = T>) -> (usize, T) {
    let before = child.resident();
    let mut peak = before;
    tokio::pin!(attack);
    let mut every = tokio::time::interval(Duration::from_millis(20));
    let result = loop {
        tokio::select! {
            result = &mut attack => break result,
            _ = every.tick() => peak = peak.max(child.resident()),
        }
    };
    peak = peak.max(child.resident());
    (peak.saturating_sub(before), result)
}

fn connect_command() -> rtmp_chunk::RawMessage {
    let connect = Connect {
        transaction_id: 1.0,
        app: "live".into(),
        ..Connect::default()
    };
    Rtmp::Command(Command::Connect(Box::new(connect)))
        .to_chunk(3, 0, 0)
        .unwrap()
}

/// Writes `chunk` again and again for `length` (never reading), until the server stops taking
/// it; returns whether the server closed the connection within the time.
async fn flood(client: &mut RawClient, chunk: &[u8], length: Duration) -> bool {
    let end = Instant::now() + length;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        match tokio::time::timeout(left, client.stream.write_all(chunk)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return true,
            Err(_) => return false,
        }
    }
}

/// Encodes `message` `count` times with a fresh encoder state per call.
fn repeated(message: &rtmp_chunk::RawMessage, count: usize) -> Vec<u8> {
    let mut encoder = rtmp_chunk::ChunkEncoder::new();
    let mut out = BytesMut::new();
    for _ in 0..count {
        encoder.encode(message, &mut out).unwrap();
    }
    out.to_vec()
}

/// Handshake, then a flood of Ping Requests without connect, never reading.
async fn ping_flood(port: u16) {
    let mut client = RawClient::connect(port, Some(4096)).await;
    let ping = rtmp_chunk::RawMessage::new(2, 0, 4, 0, vec![0, 6, 0, 0, 0, 1]);
    flood(&mut client, &repeated(&ping, 4096), Duration::from_secs(5)).await;
}

/// connect, then a flood of createStream, never reading.
async fn create_stream_flood(port: u16) {
    let mut client = RawClient::connect(port, Some(4096)).await;
    client.send(&[connect_command()]).await;
    let create = Rtmp::Command(Command::CreateStream {
        transaction_id: 2.0,
    })
    .to_chunk(3, 0, 0)
    .unwrap();
    flood(
        &mut client,
        &repeated(&create, 2048),
        Duration::from_secs(5),
    )
    .await;
}

/// A publisher by hand: connect and createStream (chunks of 64 KiB), then `first` on message
/// stream 1. Its answers are read and dropped meanwhile, like a real publisher's. Returns
/// its writing half, its encoder and the reading task.
async fn raw_publisher(
    port: u16,
    first: &[Command],
) -> (OwnedWriteHalf, ChunkEncoder, tokio::task::JoinHandle<()>) {
    let mut client = RawClient::connect(port, None).await;
    let create = Command::CreateStream {
        transaction_id: 2.0,
    };
    let mut messages = vec![
        rtmp_chunk::RawMessage::set_chunk_size(65536),
        connect_command(),
        Rtmp::Command(create).to_chunk(3, 0, 0).unwrap(),
    ];
    for command in first {
        messages.push(Rtmp::Command(command.clone()).to_chunk(3, 0, 1).unwrap());
    }
    client.send(&messages).await;
    let (mut read, write) = client.stream.into_split();
    let reader = tokio::spawn(async move {
        let mut buf = vec![0u8; 65536];
        while read.read(&mut buf).await.is_ok_and(|n| n > 0) {}
    });
    (write, client.encoder, reader)
}

/// Whether the server ends `stream` within `limit`, reading (and dropping) what it sends.
async fn ends_within(stream: &mut tokio::net::TcpStream, limit: Duration) -> bool {
    let mut buf = vec![0u8; 65536];
    tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return true,
                Ok(_) => {}
            }
        }
    })
    .await
    .unwrap_or(false)
}

/// Publishes `live/big` by hand: 4 MiB keyframes at 5 a second, for `length`.
async fn big_frames(port: u16, length: Duration) {
    let publish = Command::Publish {
        transaction_id: 3.0,
        name: "big".into(),
        publish_type: PublishType::Live,
    };
    let (mut write, mut encoder, reader) = raw_publisher(port, &[publish]).await;
    let mut header = vec![
        0x17, 0x00, 0, 0, 0, 0x01, 0x64, 0x00, 0x1F, 0xFF, 0xE1, 0, 0,
    ];
    let mut out = BytesMut::new();
    let sequence = rtmp_chunk::RawMessage::new(6, 0, 9, 1, std::mem::take(&mut header));
    encoder.encode(&sequence, &mut out).unwrap();
    write.write_all(&out).await.unwrap();
    let start = Instant::now();
    let mut frame = 0u32;
    while start.elapsed() < length {
        let mut payload = vec![0x17, 0x01, 0, 0, 0];
        payload.resize(4 * MIB, 0x42);
        let message = rtmp_chunk::RawMessage::new(6, frame * 200, 9, 1, payload);
        out.clear();
        encoder.encode(&message, &mut out).unwrap();
        if write.write_all(&out).await.is_err() {
            break;
        }
        frame += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(write);
    reader.abort();
}

/// 50 players of `live/flip` that never read, and a publisher that publishes and unpublishes
/// it as fast as the server takes it for `length` (reading its own answers): each turn tells
/// every player twice. Returns how many of the players the server closed.
async fn republish_flood(port: u16, length: Duration) -> usize {
    let mut players = Vec::new();
    for _ in 0..50 {
        let mut player = RawClient::connect(port, Some(4096)).await;
        player.play("live", "flip").await;
        players.push(player);
    }
    let (mut write, mut encoder, reader) = raw_publisher(port, &[]).await;
    let mut turn = Vec::new();
    let mut out = BytesMut::new();
    for _ in 0..256 {
        let publish = Command::Publish {
            transaction_id: 0.0,
            name: "flip".into(),
            publish_type: PublishType::Live,
        };
        let close = Command::CloseStream {
            transaction_id: 0.0,
        };
        turn.push(Rtmp::Command(publish).to_chunk(4, 0, 1).unwrap());
        turn.push(Rtmp::Command(close).to_chunk(4, 0, 1).unwrap());
    }
    let start = Instant::now();
    while start.elapsed() < length {
        out.clear();
        for message in &turn {
            encoder.encode(message, &mut out).unwrap();
        }
        if write.write_all(&out).await.is_err() {
            break;
        }
    }
    drop(write);
    reader.abort();
    let mut closed = 0;
    for mut player in players {
        // A closed player reads to its end at once; an open one has more waiting.
        closed += usize::from(ends_within(&mut player.stream, Duration::from_millis(200)).await);
    }
    closed
}

/// A player of `live/big` that never reads, but sends an Acknowledgement every second so that
/// it is never idle; returns how long the server took to close it after it started playing.
async fn stuck_player(port: u16) -> Option<Duration> {
    let mut client = RawClient::connect(port, Some(4096)).await;
    client.play("live", "big").await;
    let start = Instant::now();
    let ack = repeated(&rtmp_chunk::RawMessage::acknowledgement(0), 1);
    // It never reads a byte. Once the server has closed its socket (with unread bytes in
    // it), the kernel answers the next Acknowledgement with a reset and the one after fails.
    while start.elapsed() < LIMIT {
        if client.stream.write_all(&ack).await.is_err() {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    None
}

/// The kernel's TCP memory, all sockets of the machine together (`/proc/net/sockstat`).
fn kernel_tcp_memory() -> usize {
    let sockstat = std::fs::read_to_string("/proc/net/sockstat").unwrap();
    let line = sockstat
        .lines()
        .find(|line| line.starts_with("TCP:"))
        .unwrap();
    let mut fields = line.split_whitespace();
    let pages: usize = fields
        .by_ref()
        .skip_while(|field| *field != "mem")
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    pages * 4096
}

/// `count` players of `live/NAME` that never read (4 KiB receive buffers) but stay active
/// (an Acknowledgement every second): the peak growth of the kernel's TCP memory, and how many
/// of them the server closed within `limit`.
async fn stuck_players(port: u16, name: &str, count: usize, limit: Duration) -> (usize, usize) {
    let before = kernel_tcp_memory();
    let mut players = Vec::new();
    for _ in 0..count {
        let mut player = RawClient::connect(port, Some(4096)).await;
        player.play("live", name).await;
        players.push(player);
    }
    let ack = repeated(&rtmp_chunk::RawMessage::acknowledgement(0), 1);
    let start = Instant::now();
    let mut peak = before;
    let mut closed = vec![false; count];
    while start.elapsed() < limit && closed.iter().any(|closed| !closed) {
        for (player, closed) in players.iter_mut().zip(&mut closed) {
            // Once the server has closed a socket with unread bytes in it, the kernel answers
            // the next write with a reset and the one after fails.
            if !*closed && player.stream.write_all(&ack).await.is_err() {
                *closed = true;
            }
        }
        peak = peak.max(kernel_tcp_memory());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let closed = closed.iter().filter(|closed| **closed).count();
    (peak.saturating_sub(before), closed)
}

/// `count` TCP connects at once, none of which sends anything: how long until all are
/// established.
async fn raw_connects(port: u16, count: usize) -> (Vec<tokio::net::TcpStream>, Duration) {
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..count {
        tasks.spawn(async move { tokio::net::TcpStream::connect(("127.0.0.1", port)).await });
    }
    let mut streams = Vec::new();
    while let Some(stream) = tasks.join_next().await {
        streams.push(stream.unwrap().unwrap());
    }
    (streams, start.elapsed())
}

/// 20 connections each holding two unfinished messages announced at 8 MiB - 1 (after a
/// connect, so the full message size applies); returns how many the server closed.
async fn partial_holders(port: u16) -> usize {
    let mut held = Vec::new();
    for _ in 0..20 {
        let mut client = RawClient::connect(port, None).await;
        client.send(&[connect_command()]).await;
        let mut bytes = Vec::new();
        for chunk_stream in [4u8, 5] {
            bytes.extend_from_slice(&[chunk_stream, 0, 0, 0, 0x7F, 0xFF, 0xFF, 9, 1, 0, 0, 0]);
            bytes.extend_from_slice(&[0xAB; 128]);
        }
        client.send_raw(&bytes).await;
        held.push(client);
    }
    let mut checks = tokio::task::JoinSet::new();
    for mut client in held {
        // Open connections have answers to read and then stay silent; closed ones end.
        checks.spawn(async move { ends_within(&mut client.stream, Duration::from_secs(3)).await });
    }
    let mut closed = 0;
    while let Some(ended) = checks.join_next().await {
        closed += usize::from(ended.unwrap());
    }
    closed
}

/// `count` connections at once, each through the handshake's first half (the server then
/// holds a connection waiting for C2); returns them and how long it took.
async fn connect_burst(port: u16, count: usize) -> (Vec<tokio::net::TcpStream>, Duration) {
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..count {
        tasks.spawn(async move {
            let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap();
            let mut c0c1 = vec![3u8];
            c0c1.resize(1537, 0);
            stream.write_all(&c0c1).await.unwrap();
            let mut s0s1s2 = vec![0u8; 3073];
            stream.read_exact(&mut s0s1s2).await.unwrap();
            stream
        });
    }
    let mut streams = Vec::new();
    while let Some(stream) = tasks.join_next().await {
        streams.push(stream.unwrap());
    }
    let took = start.elapsed();
    assert_eq!(streams.len(), count);
    (streams, took)
}

#[test]
fn attacks_are_bounded() {
    if std::env::var_os(CHILD).is_some() {
        return server_child();
    }
    // This process holds thousands of client sockets at once.
    let files = rtmp_server::system::raise_open_file_limit().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // Idle connections: as many as both processes' file limits allow, up to 15 000.
    let idle = usize::try_from(files.saturating_sub(2000))
        .unwrap_or(15_000)
        .min(15_000);
    runtime.block_on(attacks(idle));
}

async fn attacks(idle: usize) {
    let child = Child::start().await;
    let honest_seconds = 80;
    let url = child.url("live/safe");
    let mut publisher = spawn("ffmpeg", &publish_args(&url, honest_seconds, "300k"));
    // The player joins once the stream is on.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let file = temp("attacked.flv");
    let mut player = spawn("ffmpeg", &play_args(&url, &file));
    let playing_from = Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let baseline = child.resident();
    let mib = |bytes: usize| bytes as f64 / MIB as f64;
    eprintln!("baseline {:.1} MiB", mib(baseline));

    let (growth, closed) = measured(&child, republish_flood(child.port, WRITE_TIMEOUT / 2)).await;
    eprintln!(
        "republish flood: {closed} of 50 stuck players closed, +{:.1} MiB",
        mib(growth)
    );
    // Each stuck player holds at most twice 64 KiB of statuses, plus its socket buffers.
    assert!(growth <= 32 * MIB, "republish flood grew {growth} bytes");
    assert_eq!(
        closed, 50,
        "stuck players left open under a republish flood"
    );

    let (growth, ()) = measured(&child, ping_flood(child.port)).await;
    eprintln!("ping flood: +{:.1} MiB", mib(growth));
    assert!(growth <= 64 * MIB, "ping flood grew {growth} bytes");

    let (growth, ()) = measured(&child, create_stream_flood(child.port)).await;
    eprintln!("createStream flood: +{:.1} MiB", mib(growth));
    assert!(growth <= 64 * MIB, "createStream flood grew {growth} bytes");

    let (growth, closed_after) = measured(&child, async {
        let publishing = tokio::spawn(big_frames(child.port, WRITE_TIMEOUT * 3));
        tokio::time::sleep(Duration::from_millis(500)).await;
        let closed_after = stuck_player(child.port).await;
        publishing.abort();
        closed_after
    })
    .await;
    eprintln!(
        "stuck player on 4 MiB frames: +{:.1} MiB, closed after {closed_after:?}",
        mib(growth)
    );
    let closed_after = closed_after.expect("the stuck player was never closed");
    assert!(growth <= 128 * MIB, "stuck player grew {growth} bytes");
    // Closed by the write timeout (plus the time its socket buffers took to fill).
    assert!(
        closed_after <= WRITE_TIMEOUT * 3,
        "closed after {closed_after:?}"
    );

    // Players that never read, on the honest stream: what waits for them stays in the
    // server's ring, not in the kernel, and the write timeout closes every one.
    let (kernel, closed) = stuck_players(child.port, "safe", 200, WRITE_TIMEOUT * 4).await;
    eprintln!(
        "200 players that never read: {closed} closed, kernel TCP memory +{:.1} MiB",
        mib(kernel)
    );
    assert_eq!(closed, 200, "stuck players left open");
    assert!(kernel <= 64 * MIB, "kernel TCP memory grew {kernel} bytes");

    // A burst of connects is taken faster than it arrives, and the server still answers.
    let (streams, took) = raw_connects(child.port, 3000).await;
    let answered = tokio::time::timeout(LIMIT, async {
        let mut client = RawClient::connect(child.port, None).await;
        client.play("live", "safe").await;
        let mut buf = [0u8; 4096];
        client.stream.read(&mut buf).await.is_ok_and(|n| n > 0)
    })
    .await
    .unwrap_or(false);
    eprintln!("3000 connects at once: established in {took:?}, then a player answered: {answered}");
    drop(streams);
    assert!(answered);
    assert!(
        took < Duration::from_millis(500),
        "3000 connects took {took:?}"
    );

    let (growth, closed) = measured(&child, partial_holders(child.port)).await;
    eprintln!(
        "partial messages: {closed} of 20 holders closed, +{:.1} MiB",
        mib(growth)
    );
    // 256 MiB of budget holds 17 of the 20 connections' pairs of 8 MiB messages (the first
    // MiB of each is free).
    assert!(
        (3..=5).contains(&closed),
        "{closed} holders closed by the 256 MiB budget"
    );

    let (growth, (streams, took)) = measured(&child, connect_burst(child.port, 5000)).await;
    eprintln!(
        "5000 connects at once: all served in {took:?}, +{:.1} MiB",
        mib(growth)
    );
    drop(streams);
    let (growth, (streams, took)) = measured(&child, connect_burst(child.port, idle)).await;
    eprintln!(
        "{idle} idle connections: opened in {took:?}, +{:.1} MiB",
        mib(growth)
    );
    let peak = child.resident();
    drop(streams);
    // Memory goes back to the system once the connections have ended (glibc keeps it in its
    // arenas otherwise: 240 MiB above the baseline, measured 2026-11-26). What stays varies
    // from run to run with where the allocations still alive sit in the heap: 3-13 MiB above
    // the baseline when run alone, and up to 35 MiB in a full workspace run on a loaded
    // machine (2026-12-08), so the bound leaves room for that and still catches the 240.
    let returned = baseline + 48 * MIB;
    let mut after = peak;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        after = child.resident();
        if after <= returned {
            break;
        }
    }
    eprintln!(
        "after the attacks: {:.1} MiB (peak {:.1} MiB)",
        mib(after),
        mib(peak)
    );
    assert!(
        after <= returned,
        "memory stayed at {after} bytes after the attacks (baseline {baseline})"
    );

    // The honest player received the stream at its rate throughout.
    assert!(wait(&mut publisher).await.success());
    assert!(wait(&mut player).await.success());
    let played = playing_from.elapsed().as_secs_f64();
    let (video, audio, first_key) = probe(&file).await;
    let _ = std::fs::remove_file(&file);
    eprintln!("honest player: {video} video and {audio} audio frames in {played:.0} s");
    assert!(first_key);
    // 25 frames a second while the publisher lasted after the player joined.
    let expected = 25.0 * (f64::from(honest_seconds) - 3.0);
    assert!(
        video as f64 >= expected * 0.9,
        "{video} video frames, expected about {expected}"
    );
    drop(child);
}
