//! Webhooks against test endpoints on 127.0.0.1 (a small HTTP/1.1 server over raw TCP): a slow
//! endpoint keeps up with a steady stream of notifications, redirects are never followed, and
//! decisions hold no more connections than their cap.

#![cfg(feature = "webhooks")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rtmp_hooks::{WebhookConfig, Webhooks};
use rtmp_message::PublishType;
use rtmp_server::rtmp_client::{self as client, ClientConfig};
use rtmp_server::{Client, Hooks, Server, ServerConfig, StreamEvent, StreamKey, StreamRequest};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// The longest any step waits.
const LIMIT: Duration = Duration::from_secs(60);

/// How the endpoint answers every request.
#[derive(Clone)]
enum Reply {
    /// 200 after this long.
    Ok(Duration),
    /// 307 to this URL, at once.
    Redirect(String),
}

/// A test endpoint and what it saw.
#[derive(Default)]
struct Endpoint {
    /// The `action` of every request, in order of arrival.
    actions: Mutex<Vec<String>>,
    /// Connections open now, and the most at once.
    open: AtomicUsize,
    most_open: AtomicUsize,
    /// Requests read and not yet answered now, and the most at once.
    busy: AtomicUsize,
    most_busy: AtomicUsize,
}

impl Endpoint {
    fn count(&self, action: &str) -> usize {
        self.actions
            .lock()
            .unwrap()
            .iter()
            .filter(|seen| *seen == action)
            .count()
    }

    fn requests(&self) -> usize {
        self.actions.lock().unwrap().len()
    }
}

/// Adds one to `now` and keeps `most` at least as high.
fn enter(now: &AtomicUsize, most: &AtomicUsize) {
    let value = now.fetch_add(1, Ordering::SeqCst) + 1;
    most.fetch_max(value, Ordering::SeqCst);
}

/// Starts an endpoint answering with `reply`; returns its URL and what it saw.
async fn endpoint(reply: Reply) -> (String, Arc<Endpoint>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let seen = Arc::new(Endpoint::default());
    let state = seen.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let (state, reply) = (state.clone(), reply.clone());
            tokio::spawn(async move {
                enter(&state.open, &state.most_open);
                let _ = serve(socket, &state, &reply).await;
                state.open.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    (url, seen)
}

/// Answers the requests of one keep-alive connection until the client closes it.
async fn serve(socket: TcpStream, seen: &Endpoint, reply: &Reply) -> std::io::Result<()> {
    let mut socket = BufReader::new(socket);
    loop {
        let mut length = 0;
        let mut line = String::new();
        loop {
            line.clear();
            if socket.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            let header = line.trim_end().to_ascii_lowercase();
            if header.is_empty() {
                break;
            }
            if let Some(value) = header.strip_prefix("content-length:") {
                length = value.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        socket.read_exact(&mut body).await?;
        let call: Value = serde_json::from_slice(&body).unwrap();
        let action = call["action"].as_str().unwrap_or_default().to_owned();
        seen.actions.lock().unwrap().push(action);
        enter(&seen.busy, &seen.most_busy);
        let answer = match reply {
            Reply::Ok(delay) => {
                tokio::time::sleep(*delay).await;
                "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_owned()
            }
            Reply::Redirect(location) => format!(
                "HTTP/1.1 307 Temporary Redirect\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n"
            ),
        };
        seen.busy.fetch_sub(1, Ordering::SeqCst);
        socket.get_mut().write_all(answer.as_bytes()).await?;
    }
}

/// Waits (bounded) until `done`.
async fn eventually(what: &str, done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < LIMIT, "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Keeps the last play that ended.
#[derive(Clone, Default)]
struct LastPlay(Arc<Mutex<Option<StreamEvent>>>);

impl Hooks for LastPlay {
    fn on_play_stopped(&self, event: &StreamEvent) {
        *self.0.lock().unwrap() = Some(event.clone());
    }
}

/// The event of a real play's end (a publisher and a player against a server on 127.0.0.1),
/// to hand the webhooks as the server would.
async fn a_play_that_ended() -> StreamEvent {
    let hooks = LastPlay::default();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = Arc::new(Server::with_hooks(ServerConfig::default(), hooks.clone()));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(async move {
        server
            .serve(listener, async {
                let _ = stopped.await;
            })
            .await
    });
    let url = format!("rtmp://127.0.0.1:{port}/live/show");
    let publisher = client::publish(&url, ClientConfig::default())
        .await
        .unwrap();
    let player = client::play(&url, ClientConfig::default()).await.unwrap();
    drop(player);
    eventually("the play ends", || hooks.0.lock().unwrap().is_some()).await;
    drop(publisher);
    let _ = stop.send(());
    let _ = tokio::time::timeout(LIMIT, serving).await;
    let event = hooks.0.lock().unwrap().clone().unwrap();
    assert_eq!(event.key.name, "show");
    event
}

fn a_client() -> Client {
    Client::new(7, SocketAddr::from(([127, 0, 0, 1], 50_000)), None)
}

fn a_request(name: &str) -> StreamRequest {
    StreamRequest {
        stream_id: 1,
        key: StreamKey {
            app: "live".into(),
            name: name.into(),
        },
        query: None,
        publish_type: PublishType::Live,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_endpoint_hears_every_end_of_a_steady_stream_of_plays() {
    let event = a_play_that_ended().await;
    // Each answer takes 100 ms; 2 000 plays end over 10 s, 200 a second: one at a time, 90%
    // of them would be dropped once the queue of 1 024 filled.
    let (url, seen) = endpoint(Reply::Ok(Duration::from_millis(100))).await;
    let config = WebhookConfig::new(url);
    let slots = config.max_concurrent;
    let webhooks = Webhooks::new(config).unwrap();
    let total = 2_000;
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    let start = Instant::now();
    for sent in 0..total {
        if sent % 10 == 0 {
            tick.tick().await;
        }
        webhooks.on_play_stopped(&event);
    }
    // Kept up with as they came: none dropped, hardly any waiting.
    let stats = webhooks.stats();
    assert_eq!(stats.dropped, 0, "{stats:?}");
    assert!(stats.pending < 200, "{stats:?}");
    eventually("every notification is delivered", || {
        webhooks.stats().delivered == total
    })
    .await;
    let stats = webhooks.stats();
    assert_eq!(
        (stats.dropped, stats.failed, stats.pending),
        (0, 0, 0),
        "{stats:?}"
    );
    assert_eq!(seen.count("play_done"), 2_000);
    let busy = seen.most_busy.load(Ordering::SeqCst);
    assert!(busy <= slots, "{busy} notifications at once");
    assert!(
        start.elapsed() < Duration::from_secs(15),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_is_never_followed() {
    let event = a_play_that_ended().await;
    let (elsewhere, other) = endpoint(Reply::Ok(Duration::ZERO)).await;
    let (url, seen) = endpoint(Reply::Redirect(elsewhere)).await;
    let webhooks = Webhooks::new(WebhookConfig::new(url)).unwrap();

    // A decision answered with a redirect is a refusal.
    let refusal = webhooks
        .on_publish(&a_client(), &a_request("show"))
        .await
        .unwrap_err();
    assert!(refusal.description.contains("HTTP 307"), "{refusal:?}");
    let refusal = webhooks
        .on_play(&a_client(), &a_request("show"))
        .await
        .unwrap_err();
    assert!(refusal.description.contains("HTTP 307"), "{refusal:?}");

    // A notification answered with a redirect fails, and is not tried again.
    webhooks.on_play_stopped(&event);
    eventually("the notification fails", || webhooks.stats().failed == 1).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let stats = webhooks.stats();
    assert_eq!((stats.delivered, stats.failed), (0, 1), "{stats:?}");
    assert_eq!(seen.count("play_done"), 1);
    assert_eq!(seen.requests(), 3);
    assert_eq!(other.requests(), 0, "the redirect was followed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn decisions_wait_for_one_of_their_slots() {
    let (url, seen) = endpoint(Reply::Ok(Duration::from_millis(300))).await;
    let mut config = WebhookConfig::new(url);
    config.max_concurrent_decisions = 4;
    config.max_idle_connections = 2;
    config.timeout = Duration::from_secs(10);
    assert_eq!(config.max_sockets(), 4 + config.max_concurrent + 2);
    let webhooks = Arc::new(Webhooks::new(config).unwrap());
    // 16 at once: four rounds of four.
    let start = Instant::now();
    let asked: Vec<_> = (0..16)
        .map(|index| {
            let webhooks = webhooks.clone();
            tokio::spawn(async move {
                webhooks
                    .on_publish(&a_client(), &a_request(&format!("cam{index}")))
                    .await
            })
        })
        .collect();
    for decision in asked {
        assert_eq!(decision.await.unwrap(), Ok(()));
    }
    let took = start.elapsed();
    assert_eq!(seen.requests(), 16);
    assert_eq!(seen.most_busy.load(Ordering::SeqCst), 4);
    let open = seen.most_open.load(Ordering::SeqCst);
    assert!(open <= 4 + 2, "{open} connections at once");
    assert!(took >= Duration::from_millis(1_100), "{took:?}");

    // A decision that gets no slot within its timeout counts as no answer.
    let (url, seen) = endpoint(Reply::Ok(Duration::from_millis(600))).await;
    let mut config = WebhookConfig::new(url);
    config.max_concurrent_decisions = 2;
    config.timeout = Duration::from_secs(1);
    let webhooks = Arc::new(Webhooks::new(config).unwrap());
    let asked: Vec<_> = (0..8)
        .map(|index| {
            let webhooks = webhooks.clone();
            tokio::spawn(async move {
                webhooks
                    .on_play(&a_client(), &a_request(&format!("cam{index}")))
                    .await
            })
        })
        .collect();
    let mut accepted = 0;
    for decision in asked {
        match decision.await.unwrap() {
            Ok(()) => accepted += 1,
            Err(refusal) => assert_eq!(refusal.description, "the webhook gave no answer"),
        }
    }
    assert_eq!(accepted, 2);
    assert_eq!(webhooks.stats().unanswered, 6);
    // The two that got a slot late gave up on their answers at the timeout.
    assert!(seen.requests() >= 4, "{}", seen.requests());
}
