//! Our client against servers that misbehave or refuse: each case ends in a typed error within
//! the client's timeout.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

mod common;

use std::time::{Duration, Instant};

use common::TestServer;
use rtmp_message::StatusCode;
use rtmp_server::rtmp_client::{self as client, ClientConfig, ClientError};
use rtmp_server::{
    Client, ConnectRequest, ConnectionError, Hooks, Refusal, ServerConfig, StreamEvent,
    StreamRequest,
};
use tokio::io::AsyncReadExt;

fn quick() -> ClientConfig {
    let mut config = ClientConfig::default();
    config.connect_timeout = Duration::from_secs(1);
    config.response_timeout = Duration::from_secs(1);
    config
}

/// A listener that runs `behave` on every connection.
async fn fake_server<F, Fut>(behave: F) -> u16
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(behave(socket));
        }
    });
    port
}

#[tokio::test]
async fn a_server_that_closes_mid_handshake() {
    let port = fake_server(|mut socket| async move {
        let mut c0c1 = [0u8; 100];
        let _ = socket.read_exact(&mut c0c1).await;
    })
    .await;
    let result = client::play(&format!("rtmp://127.0.0.1:{port}/live/x"), quick()).await;
    assert!(
        matches!(result, Err(ClientError::Closed | ClientError::Io(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_server_that_never_answers() {
    let port = fake_server(|socket| async move {
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(socket);
    })
    .await;
    let started = Instant::now();
    let result = client::publish(&format!("rtmp://127.0.0.1:{port}/live/x"), quick()).await;
    assert!(
        matches!(result, Err(ClientError::Timeout("connect"))),
        "{result:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// Refuses some requests, and notes the events that follow accepted ones.
#[derive(Clone, Default)]
struct Refusing {
    events: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Refusing {
    fn note(&self, what: &str, event: &StreamEvent) {
        let line = format!(
            "{what} {} {} {}",
            event.connection, event.key, event.stream_id
        );
        self.events.lock().unwrap().push(line);
    }
}

impl Hooks for Refusing {
    async fn on_connect(&self, _: &Client, request: &ConnectRequest) -> Result<(), Refusal> {
        match request.app.as_str() {
            "closed" => Err("this app is closed".into()),
            _ => Ok(()),
        }
    }

    async fn on_play(&self, _: &Client, request: &StreamRequest) -> Result<(), Refusal> {
        match request.key.name.as_str() {
            "secret" => Err("no entry".into()),
            "missing" => Err(Refusal::with_code(
                StatusCode::PlayStreamNotFound,
                "no such camera",
            )),
            _ => Ok(()),
        }
    }

    fn on_publish_started(&self, event: &StreamEvent) {
        self.note("publish started", event);
    }

    fn on_publish_stopped(&self, event: &StreamEvent) {
        self.note("publish stopped", event);
    }

    fn on_play_started(&self, event: &StreamEvent) {
        self.note("play started", event);
    }

    fn on_play_stopped(&self, event: &StreamEvent) {
        self.note("play stopped", event);
    }

    fn on_disconnect(&self, client: &Client, error: Option<&ConnectionError>) {
        let refused = matches!(error, Some(ConnectionError::Refused(_)));
        let line = format!("disconnect {} refused={refused}", client.connection);
        self.events.lock().unwrap().push(line);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_reach_the_client_as_typed_errors() {
    let hooks = Refusing::default();
    let server = TestServer::start_with(ServerConfig::default(), hooks.clone(), None).await;
    // connect answered with _error.
    let result = client::play(&server.url("closed/x"), quick()).await;
    let Err(ClientError::Rejected {
        command,
        code,
        description,
    }) = result
    else {
        panic!("{result:?}");
    };
    assert_eq!(
        (command.as_str(), code.as_str(), description.as_str()),
        (
            "connect",
            "NetConnection.Connect.Rejected",
            "this app is closed"
        )
    );
    // play refused by the hooks.
    let result = client::play(&server.url("live/secret"), quick()).await;
    assert!(
        matches!(&result, Err(ClientError::Rejected { code, description, .. })
            if code == "NetStream.Play.Failed" && description == "no entry"),
        "{result:?}"
    );
    // A refusal with a code of the hooks' choosing.
    let result = client::play(&server.url("live/missing"), quick()).await;
    assert!(
        matches!(&result, Err(ClientError::StreamNotFound(description)) if description == "no such camera"),
        "{result:?}"
    );
    // A second publisher of the same stream.
    let first = client::publish(&server.url("live/cam"), quick())
        .await
        .unwrap();
    let second = client::publish(&server.url("live/cam"), quick()).await;
    assert!(matches!(second, Err(ClientError::BadName(_))), "{second:?}");
    let player = client::play(&server.url("live/cam"), quick())
        .await
        .unwrap();
    drop(player);
    first.finish().await.unwrap();
    common::eventually("the hooks hear every end", || {
        hooks.events.lock().unwrap().len() >= 10
    })
    .await;
    server.stop().await;
    // Accepted requests come in started/stopped pairs with the same connection and stream;
    // each connection ends with one disconnect, the refused connect's with its error.
    let events = hooks.events.lock().unwrap().clone();
    let find = |prefix: &str| {
        events
            .iter()
            .find(|line| line.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} in {events:?}"))
            .trim_start_matches(prefix)
            .to_owned()
    };
    assert_eq!(find("publish started"), find("publish stopped"));
    assert_eq!(find("play started"), find("play stopped"));
    assert!(
        find("publish started").ends_with("live/cam 1"),
        "{events:?}"
    );
    let disconnects = events.iter().filter(|line| line.starts_with("disconnect"));
    assert_eq!(disconnects.count(), 6, "{events:?}");
    assert_eq!(
        events
            .iter()
            .filter(|line| line.ends_with("refused=true"))
            .count(),
        1,
        "{events:?}"
    );
}

#[tokio::test]
async fn urls_are_checked_before_connecting() {
    for (url, expected) in [
        ("http://h/live/x", "scheme"),
        ("rtmp:///live/x", "no host"),
        ("rtmp://h:99999/live/x", "bad port"),
        ("rtmp://h", "no application"),
    ] {
        let error = client::play(url, quick()).await.unwrap_err();
        assert!(matches!(error, ClientError::Url(_)), "{url}: {error}");
        assert!(error.to_string().contains(expected), "{url}: {error}");
    }
}
