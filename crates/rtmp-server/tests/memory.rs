//! Memory returns to its baseline after waves of hostile clients (half-sent large messages,
//! thousands of chunk streams, connections that never finish the handshake). Each wave holds
//! about 40 MiB at its peak.
//!
//! glibc's allocator keeps freed memory in per-thread arenas, which would hide whether the
//! server released its buffers. So the test runs itself again as a child process with one
//! arena and a fixed mmap threshold (`MALLOC_ARENA_MAX=1`, `MALLOC_MMAP_THRESHOLD_`): large
//! buffers then go back to the system when freed, and resident memory shows what is still
//! held.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

mod common;

use std::time::Duration;

use common::{LIMIT, RawClient, TestServer};
use rtmp_server::ServerConfig;
use tokio::io::AsyncReadExt;

/// Resident memory of this process in bytes (Linux).
fn resident() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// One wave: 40 clients each sending 1 MiB of a message announced at 8 MiB - 1 (held until
/// their idle timeout), 20 clients opening 5 000 chunk streams, 300 silent connections.
async fn wave(port: u16) {
    let mut held = Vec::new();
    for _ in 0..40 {
        let mut client = RawClient::connect(port, None).await;
        let mut bytes = vec![0x04, 0, 0, 0, 0x7F, 0xFF, 0xFF, 9, 1, 0, 0, 0];
        // Chunk size 128: 1 MiB of payload in 8192 chunks with fmt 3 headers.
        for _ in 0..8192 {
            bytes.extend_from_slice(&[0xAB; 128]);
            bytes.push(0xC4);
        }
        client.send_raw(&bytes).await;
        held.push(client);
    }
    let mut many = Vec::new();
    for _ in 0..20 {
        let mut client = RawClient::connect(port, None).await;
        let mut bytes = Vec::new();
        for id in 0u32..5_000 {
            bytes.extend_from_slice(&[0x01, (id & 0xFF) as u8, (id >> 8) as u8]);
            bytes.extend_from_slice(&[0, 0, 0, 0, 0, 1, 8, 1, 0, 0, 0, 0xAF]);
        }
        client.send_raw(&bytes).await;
        many.push(client);
    }
    let mut silent = Vec::new();
    for _ in 0..300 {
        silent.push(
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap(),
        );
    }
    // Every one of them is closed by the server (limits, idle and handshake timeouts).
    for mut client in held.into_iter().chain(many) {
        assert!(client.closed_by_server().await);
    }
    for mut stream in silent {
        let mut buf = [0u8; 16];
        let read = tokio::time::timeout(LIMIT, stream.read(&mut buf)).await;
        assert!(
            matches!(read, Ok(Ok(0) | Err(_))),
            "a silent connection stayed open"
        );
    }
}

const CHILD: &str = "RTMP_MEMORY_TEST_CHILD";

#[test]
fn memory_returns_to_baseline_after_hostile_waves() {
    if std::env::var_os(CHILD).is_some() {
        return child();
    }
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "memory_returns_to_baseline_after_hostile_waves",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .env("MALLOC_ARENA_MAX", "1")
        .env("MALLOC_MMAP_THRESHOLD_", "131072")
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&output.stderr);
    eprintln!("{log}");
    assert!(output.status.success(), "the measuring child failed: {log}");
    assert!(log.contains("resident:"), "the child did not measure");
}

fn child() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(measure());
}

async fn measure() {
    let mut config = ServerConfig::default();
    config.handshake_timeout = Duration::from_millis(500);
    config.idle_timeout = Duration::from_secs(1);
    let server = TestServer::start(config).await;
    let baseline = resident();
    let mut after = Vec::new();
    for _ in 0..3 {
        wave(server.port).await;
        // Give closing connections a moment to drop their buffers.
        tokio::time::sleep(Duration::from_millis(300)).await;
        after.push(resident());
    }
    let mib = |bytes: usize| bytes as f64 / f64::from(1 << 20);
    eprintln!(
        "resident: baseline {:.1} MiB, after waves {:?} MiB",
        mib(baseline),
        after
            .iter()
            .map(|&bytes| format!("{:.1}", mib(bytes)))
            .collect::<Vec<_>>()
    );
    assert!(
        after[2] <= after[0] + (4 << 20),
        "memory grows wave after wave: {after:?}"
    );
    assert!(
        after[2] <= baseline + (16 << 20),
        "memory stays above its baseline: {baseline} -> {after:?}"
    );
    assert!(server.router.keys().is_empty());
    server.stop().await;
}
