//! Browser viewers are the server's viewers: with a real ffmpeg publisher, an HTTP-FLV viewer
//! and a WebSocket-FLV viewer of the example server are listed by `/api/connections` with
//! their protocol and stream, counted in `/api/streams`, ended by
//! `DELETE /api/connections/ID` and by `POST /api/drain`, and the webhook hears `play` and then
//! `play_done` for them, with one `client_id`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use common::{Process, curl, eventually, free_port, publish_args, start_server, strings};
use serde_json::Value;

type Calls = Arc<Mutex<Vec<Value>>>;

/// A webhook endpoint on 127.0.0.1 that accepts everything and notes what it was sent.
fn endpoint() -> (tokio::runtime::Runtime, u16, Calls) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let calls = Calls::default();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(answer))
        .with_state(calls.clone());
    runtime.spawn(async move { axum::serve(listener, app).await });
    (runtime, port, calls)
}

async fn answer(State(calls): State<Calls>, Json(call): Json<Value>) -> StatusCode {
    calls.lock().unwrap().push(call);
    StatusCode::OK
}

/// An HTTP-FLV viewer of `path` that reads into a counter until the server ends it.
struct HttpViewer {
    read: Arc<Mutex<usize>>,
    reader: std::thread::JoinHandle<()>,
    local_port: u16,
}

impl HttpViewer {
    fn open(port: u16, path: &str) -> Self {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let local_port = stream.local_addr().unwrap().port();
        write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let read = Arc::new(Mutex::new(0));
        let counter = read.clone();
        let reader = std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 << 10];
            while let Ok(n) = stream.read(&mut buf) {
                if n == 0 {
                    break;
                }
                *counter.lock().unwrap() += n;
            }
        });
        Self {
            read,
            reader,
            local_port,
        }
    }

    fn bytes(&self) -> usize {
        *self.read.lock().unwrap()
    }

    /// Whether the server ended the response within `limit`.
    fn ended_within(self, limit: Duration) -> bool {
        let until = Instant::now() + limit;
        while !self.reader.is_finished() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(50));
        }
        self.reader.is_finished()
    }
}

/// The `/api/connections` entries of the server at `http`.
fn connections(http: u16) -> Vec<Value> {
    let (status, body) = curl("GET", &format!("http://127.0.0.1:{http}/api/connections"));
    assert_eq!(status, 200, "{body}");
    serde_json::from_str::<Value>(&body)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// The entry of the connection from local port `port`, if listed.
fn entry_from(http: u16, port: u16) -> Option<Value> {
    connections(http).into_iter().find(|connection| {
        connection["address"]
            .as_str()
            .is_some_and(|address| address.ends_with(&format!(":{port}")))
    })
}

#[test]
fn browser_viewers_are_listed_closed_drained_and_told_to_the_webhook() {
    let (_runtime, hook, calls) = endpoint();
    let (port, http, watch) = (free_port(), free_port(), free_port());
    let _server = start_server(
        &strings(&[
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--http",
            &format!("127.0.0.1:{http}"),
            "--watch",
            &format!("127.0.0.1:{watch}"),
            "--webhook",
            &format!("http://127.0.0.1:{hook}/hook"),
        ]),
        port,
    );
    let url = format!("rtmp://127.0.0.1:{port}/live/show");
    let _publisher = Process(
        Command::new("ffmpeg")
            .args(publish_args(&url, 40))
            .stdin(Stdio::null())
            .spawn()
            .expect("ffmpeg runs (.ci/install-peers)"),
    );
    eventually("the stream is live", || {
        let (_, body) = curl("GET", &format!("http://127.0.0.1:{http}/api/streams"));
        serde_json::from_str::<Value>(&body).is_ok_and(|streams| {
            streams[0]["name"] == "show"
                && !streams[0]["video_codec"].is_null()
                && !streams[0]["publisher"].is_null()
        })
    });

    // An HTTP-FLV viewer: listed with its protocol and stream, counted, closed by the API.
    let viewer = HttpViewer::open(watch, "/live/show.flv");
    eventually("the viewer gets the stream", || viewer.bytes() > 10_000);
    let listed = entry_from(http, viewer.local_port).expect("the viewer is listed");
    assert_eq!(listed["protocol"], "http-flv", "{listed}");
    assert_eq!(listed["streams"][0]["name"], "show", "{listed}");
    assert_eq!(listed["streams"][0]["role"], "play", "{listed}");
    let (_, streams) = curl("GET", &format!("http://127.0.0.1:{http}/api/streams"));
    let streams: Value = serde_json::from_str(&streams).unwrap();
    assert_eq!(streams[0]["viewers_http_flv"], 1, "{streams}");
    let id = listed["id"].as_u64().unwrap();
    let (status, _) = curl(
        "DELETE",
        &format!("http://127.0.0.1:{http}/api/connections/{id}"),
    );
    assert_eq!(status, 204);
    assert!(
        viewer.ended_within(Duration::from_secs(10)),
        "a closed viewer went on"
    );
    eventually("the webhook hears play_done", || {
        calls
            .lock()
            .unwrap()
            .iter()
            .any(|call| call["action"] == "play_done" && call["client_id"] == id)
    });
    let told: Vec<Value> = calls
        .lock()
        .unwrap()
        .iter()
        .filter(|call| call["client_id"] == id)
        .cloned()
        .collect();
    assert_eq!(told.len(), 2, "{told:?}");
    assert_eq!(told[0]["action"], "play");
    assert_eq!(told[1]["action"], "play_done");
    assert!(told[1]["bytes"].as_u64().unwrap() > 10_000, "{told:?}");

    // A WebSocket-FLV viewer: listed as ws-flv, ended by a drain.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (mut socket, _) = runtime
        .block_on(tokio_tungstenite::connect_async(format!(
            "ws://127.0.0.1:{watch}/live/show.flv"
        )))
        .unwrap();
    let first = runtime.block_on(async {
        use futures::StreamExt;
        socket.next().await
    });
    assert!(matches!(first, Some(Ok(_))));
    eventually("the WebSocket viewer is listed", || {
        connections(http)
            .iter()
            .any(|connection| connection["protocol"] == "ws-flv")
    });
    let http_viewer = HttpViewer::open(watch, "/live/show.flv");
    eventually("the second viewer plays", || http_viewer.bytes() > 0);
    let (status, body) = curl("POST", &format!("http://127.0.0.1:{http}/api/drain"));
    assert_eq!(status, 200, "{body}");
    let closed = runtime.block_on(async {
        use futures::StreamExt;
        tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(Ok(_)) = socket.next().await {}
        })
        .await
        .is_ok()
    });
    assert!(closed, "a drained WebSocket viewer went on");
    assert!(
        http_viewer.ended_within(Duration::from_secs(10)),
        "a drained HTTP-FLV viewer went on"
    );
}
