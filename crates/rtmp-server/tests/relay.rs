//! Relays between servers with real peers: an origin pushing to our server and to nginx-rtmp,
//! an edge pulling on demand, and pushes to servers that fail, which retry and then end
//! without leaving tasks behind. Everything on 127.0.0.1, every wait bounded.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

mod common;

use std::time::Duration;

use common::{
    Nginx, TestServer, eventually, key, play_args, probe, publish_args, spawn, temp, wait,
};
use rtmp_server::{RelayConfig, ServerConfig, StaticRelay};

/// ffmpeg arguments playing `seconds` of `url` into `file` (bounded by ffmpeg itself, as
/// nginx keeps players waiting after the publisher leaves).
fn play_for(url: &str, file: &std::path::Path, seconds: u32) -> Vec<String> {
    let mut args = play_args(url, file);
    let output = args.len() - 1;
    args.splice(output..output, ["-t".to_owned(), seconds.to_string()]);
    args
}

async fn assert_decodes(file: &std::path::Path) {
    let (video, audio, keyframe_first) = probe(file).await;
    assert!(keyframe_first, "{}", file.display());
    // 3 s at 25 fps.
    assert!(video >= 70, "{}: {video} video frames", file.display());
    assert!(audio > 0, "{}: no audio", file.display());
    let _ = std::fs::remove_file(file);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origin_pushes_to_our_server_and_to_nginx() {
    let nginx = Nginx::start().await;
    let b = TestServer::start(ServerConfig::default()).await;
    let relay = StaticRelay {
        push: vec![
            format!("rtmp://127.0.0.1:{}", b.port),
            format!("rtmp://127.0.0.1:{}", nginx.port),
        ],
        pull: None,
    };
    let a = TestServer::start_with(ServerConfig::default(), relay, None).await;
    let (on_b, on_nginx) = (temp("push-b.flv"), temp("push-nginx.flv"));
    let mut player_b = spawn("ffmpeg", &play_for(&b.url("live/cam"), &on_b, 3));
    let mut player_nginx = spawn("ffmpeg", &play_for(&nginx.url("live/cam"), &on_nginx, 3));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut publisher = spawn("ffmpeg", &publish_args(&a.url("live/cam"), 8, "300k"));
    assert!(wait(&mut player_b).await.success());
    assert!(wait(&mut player_nginx).await.success());
    assert!(wait(&mut publisher).await.success());
    assert_decodes(&on_b).await;
    assert_decodes(&on_nginx).await;
    // The publisher left: both pushes end.
    eventually("pushes end", || (a.relays)() == 0).await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_pulls_from_origin_while_someone_plays() {
    let origin = TestServer::start(ServerConfig::default()).await;
    let relay = StaticRelay {
        push: Vec::new(),
        pull: Some(format!("rtmp://127.0.0.1:{}", origin.port)),
    };
    let edge = TestServer::start_with(ServerConfig::default(), relay, None).await;
    let mut publisher = spawn("ffmpeg", &publish_args(&origin.url("live/cam"), 20, "300k"));
    origin.published("cam").await;
    assert_eq!((edge.relays)(), 0, "nothing is pulled before a player asks");
    let file = temp("pull-edge.flv");
    let mut player = spawn("ffmpeg", &play_for(&edge.url("live/cam"), &file, 3));
    eventually("the edge pulls", || {
        origin
            .router
            .stats(&key("cam"))
            .is_some_and(|stats| stats.players == 1)
    })
    .await;
    assert!(wait(&mut player).await.success());
    assert_decodes(&file).await;
    // The last player left: the pull stops, the origin loses its player.
    eventually("the pull stops", || (edge.relays)() == 0).await;
    eventually("the origin loses the edge", || {
        origin
            .router
            .stats(&key("cam"))
            .is_some_and(|stats| stats.players == 0)
    })
    .await;
    assert!(edge.router.keys().is_empty());
    publisher.start_kill().unwrap();
    let _ = wait(&mut publisher).await;
    origin.stop().await;
    edge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_to_failing_servers_retry_then_end() {
    // One target refuses connections; the other accepts and never answers.
    let refused = common::free_port();
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let accepted = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let relay = StaticRelay {
        push: vec![
            format!("rtmp://127.0.0.1:{refused}"),
            format!("rtmp://127.0.0.1:{silent_port}"),
        ],
        pull: None,
    };
    let mut config = ServerConfig::default();
    config.relay = RelayConfig::default();
    config.relay.client.connect_timeout = Duration::from_millis(500);
    config.relay.backoff.initial = Duration::from_millis(100);
    let a = TestServer::start_with(config, relay, None).await;
    let mut publisher = spawn("ffmpeg", &publish_args(&a.url("live/cam"), 3, "300k"));
    a.published("cam").await;
    assert_eq!((a.relays)(), 2);
    assert!(wait(&mut publisher).await.success());
    eventually("failing pushes end with the publisher", || {
        (a.relays)() == 0
    })
    .await;
    eventually("the stream is forgotten", || a.router.keys().is_empty()).await;
    accepted.abort();
    a.stop().await;
}
