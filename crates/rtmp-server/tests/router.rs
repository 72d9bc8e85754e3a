//! A router of the application's own that feeds the server's players: every publish of
//! `live/NAME` also goes out as `live/NAME-mirror`, through the hub. ffmpeg publishes one key
//! and plays the other; the server's stats show both streams through `Router::stats`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{LIMIT, eventually, key, play_args, probe, publish_args, spawn, temp, wait};
use rtmp_server::{
    Hub, HubConfig, PlayError, PlayerHandle, Playing, PublishError, Publishing, RawMessage, Router,
    Server, StreamKey, StreamStats,
};

/// Publishes each key twice: as itself and as `NAME-mirror`.
struct Mirror(Hub);

/// Both publishers of one publish.
struct Both(Box<dyn Publishing>, Box<dyn Publishing>);

impl Publishing for Both {
    fn key(&self) -> &StreamKey {
        self.0.key()
    }

    fn send(&mut self, message: &RawMessage) -> Result<(), PublishError> {
        self.0.send(message)?;
        self.1.send(message)
    }
}

impl Router for Mirror {
    fn publish(&self, key: &StreamKey) -> Result<Box<dyn Publishing>, PublishError> {
        let mirror = StreamKey {
            name: format!("{}-mirror", key.name),
            ..key.clone()
        };
        let main = self.0.publish(key)?;
        Ok(Box::new(Both(main, self.0.publish(&mirror)?)))
    }

    fn play(&self, key: &StreamKey, player: PlayerHandle) -> Result<Box<dyn Playing>, PlayError> {
        self.0.play(key, player)
    }

    fn is_published(&self, key: &StreamKey) -> bool {
        self.0.is_published(key)
    }

    fn is_played(&self, key: &StreamKey) -> bool {
        self.0.is_played(key)
    }

    fn check_play(&self, key: &StreamKey, enhanced: bool) -> Result<(), PlayError> {
        self.0.check_play(key, enhanced)
    }

    fn tick(&self, now: std::time::Instant) {
        // The hub tells players that a publisher is gone once its grace is over.
        self.0.tick(now);
    }

    fn keys(&self) -> Vec<StreamKey> {
        self.0.keys()
    }

    fn stats(&self, key: &StreamKey) -> Option<StreamStats> {
        self.0.stats(key)
    }

    fn dropped(&self) -> u64 {
        self.0.dropped()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_router_of_its_own_feeds_the_servers_players() {
    let mut config = HubConfig::default();
    // Players are told the stream ended soon after its publisher left.
    config.republish_grace = Duration::from_secs(1);
    let hub = Hub::new(config);
    let server = Arc::new(Server::builder().router(Mirror(hub.clone())).build());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let serving = {
        let server = server.clone();
        tokio::spawn(async move {
            let until = async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            };
            server.serve(listener, until).await.unwrap();
        })
    };
    let url = |name: &str| format!("rtmp://127.0.0.1:{port}/live/{name}");
    let mut publisher = spawn("ffmpeg", &publish_args(&url("cam"), 6, "500k"));
    let mirror = key("cam-mirror");
    let start = Instant::now();
    while hub
        .stats(&mirror)
        .is_none_or(|stats| stats.video_frames == 0)
    {
        assert!(start.elapsed() < LIMIT, "the mirror never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let file = temp("mirror.flv");
    let mut player = spawn("ffmpeg", &play_args(&url("cam-mirror"), &file));
    // The server's figures come from the router, for the mirror as for the key published.
    eventually("the stats show both streams with their codec", || {
        let stats = server.stats();
        [key("cam"), mirror.clone()].iter().all(|key| {
            stats.streams.iter().any(|stream| {
                &stream.key == key
                    && stream
                        .media
                        .as_ref()
                        .is_some_and(|m| m.video_codec.is_some())
            })
        })
    })
    .await;
    assert!(wait(&mut publisher).await.success());
    wait(&mut player).await;
    let (video, audio, keyframe_first) = probe(&file).await;
    eprintln!("the mirror's player got {video} video and {audio} audio frames");
    assert!(keyframe_first);
    assert!(video > 50 && audio > 50, "{video} video, {audio} audio");
    let _ = std::fs::remove_file(&file);
    let _ = stop.send(true);
    tokio::time::timeout(LIMIT, serving).await.unwrap().unwrap();
}

/// The lines a test's subscriber wrote.
#[derive(Clone, Default)]
struct Lines(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Lines {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_router_chunking_at_another_size_is_chunked_again_whole_and_said_once() {
    let lines = Lines::default();
    let writer = lines.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::WARN)
        .finish();
    let _log = tracing::subscriber::set_default(subscriber);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        // The sessions chunk at 1024 bytes (the default), the hub at 4096.
        let mut settings = HubConfig::default();
        settings.chunk_size = 4096;
        let server = Arc::new(Server::builder().hub(settings).build());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let serving = {
            let server = server.clone();
            tokio::spawn(async move {
                let until = async move {
                    let _ = stopped.wait_for(|stop| *stop).await;
                };
                server.serve(listener, until).await.unwrap();
            })
        };
        let url = format!("rtmp://127.0.0.1:{port}/live/sized");
        let mut publisher = spawn("ffmpeg", &publish_args(&url, 6, "2000k"));
        eventually("the stream is published", || {
            server.router().is_published(&key("sized"))
        })
        .await;
        let files = [temp("sized-1.flv"), temp("sized-2.flv")];
        let mut players: Vec<_> = files
            .iter()
            .map(|file| spawn("ffmpeg", &play_args(&url, file)))
            .collect();
        assert!(wait(&mut publisher).await.success());
        for player in &mut players {
            wait(player).await;
        }
        // Both players decoded every frame: the messages reached them whole.
        for file in &files {
            let (video, audio, keyframe_first) = probe(file).await;
            assert!(keyframe_first);
            assert!(video > 50 && audio > 50, "{video} video, {audio} audio");
            let _ = std::fs::remove_file(file);
        }
        let rechunked = server.stats().totals.rechunked_messages;
        assert!(rechunked > 100, "{rechunked} messages chunked again");
        let _ = stop.send(true);
        tokio::time::timeout(LIMIT, serving).await.unwrap().unwrap();
    });
    let log = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
    assert_eq!(
        log.matches("chunked again for each player").count(),
        1,
        "said once: {log}"
    );
}
