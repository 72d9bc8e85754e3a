//! Our client against servers that misbehave or refuse: each case ends in a typed error within
//! the client's timeout.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::TestServer;
use rtmp_server::client::{self, ClientConfig, ClientError};
use rtmp_server::{ConnectRequest, Hooks, ServerConfig, StreamRequest};
use tokio::io::AsyncReadExt;

fn quick() -> ClientConfig {
    ClientConfig {
        connect_timeout: Duration::from_secs(1),
        response_timeout: Duration::from_secs(1),
        ..ClientConfig::default()
    }
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

struct Refusing;

impl Hooks for Refusing {
    async fn on_connect(&self, _: SocketAddr, request: &ConnectRequest) -> Result<(), String> {
        match request.app.as_str() {
            "closed" => Err("this app is closed".into()),
            _ => Ok(()),
        }
    }

    async fn on_play(&self, _: SocketAddr, request: &StreamRequest) -> Result<(), String> {
        match request.key.name.as_str() {
            "secret" => Err("no entry".into()),
            _ => Ok(()),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_reach_the_client_as_typed_errors() {
    let server = TestServer::start_with(ServerConfig::default(), Refusing, None).await;
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
    // A second publisher of the same stream.
    let first = client::publish(&server.url("live/cam"), quick())
        .await
        .unwrap();
    let second = client::publish(&server.url("live/cam"), quick()).await;
    assert!(matches!(second, Err(ClientError::BadName(_))), "{second:?}");
    first.finish().await.unwrap();
    server.stop().await;
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
