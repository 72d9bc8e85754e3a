//! The builder: settings by name, listeners bound (port chosen by the system), served until
//! shutdown; our client publishes and plays through it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

mod common;

use std::time::Duration;

use bytes::Bytes;
use rtmp_server::Server;
use rtmp_server::rtmp_client::{self as client, ClientConfig, PlayEvent};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_built_server_serves_until_shutdown() {
    let server = Server::builder()
        .listen("127.0.0.1:0".parse().unwrap())
        .listen("127.0.0.1:0".parse().unwrap())
        .chunk_size(4096)
        .keep_alive(Some(Duration::from_secs(5)))
        .idle_timeout(Duration::from_secs(20))
        .max_connections(64)
        .max_message_size(1 << 20)
        .bind()
        .await
        .unwrap();
    let ports: Vec<u16> = server.local_addrs().iter().map(|a| a.port()).collect();
    assert_eq!(ports.len(), 2);
    let hub = server.server().router().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));
    // Publish on one address, play on the other: one hub.
    let url = |port: u16| format!("rtmp://127.0.0.1:{port}/live/built");
    let mut publisher = client::publish(&url(ports[0]), ClientConfig::default())
        .await
        .unwrap();
    let header = Bytes::from_static(&[0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1F, 0xFF, 0xE0, 0]);
    publisher.send_video(0, header).await.unwrap();
    common::eventually("the publish reaches the hub", || {
        hub.stats(&common::key("built"))
            .is_some_and(|stats| stats.video_frames == 1)
    })
    .await;
    let mut player = client::play(&url(ports[1]), ClientConfig::default())
        .await
        .unwrap();
    let first = tokio::time::timeout(common::LIMIT, player.next_event())
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(first, Some(PlayEvent::Media(m)) if m.type_id == 9));
    // A message over the configured limit closes the publisher's connection.
    let _ = publisher
        .send_video(40, Bytes::from(vec![0x27; 2 << 20]))
        .await;
    common::eventually("the oversized publisher is gone", || {
        !hub.stats(&common::key("built"))
            .is_some_and(|stats| stats.publishing)
    })
    .await;
    drop(player);
    let _ = stop.send(());
    tokio::time::timeout(common::LIMIT, running)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
