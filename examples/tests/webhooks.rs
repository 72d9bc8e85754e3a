//! The example server's webhook against a test endpoint, with real ffmpeg publishers: the
//! endpoint decides on publishes, hears of their ends with the fields documented, and an
//! unreachable or slow endpoint follows the configured policy within its timeout; a slow
//! notification delays nobody.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use common::{free_port, publish_args, run, start_server, strings};
use serde_json::Value;

/// What the endpoint was sent, in order.
type Calls = Arc<Mutex<Vec<Value>>>;

/// A webhook endpoint on 127.0.0.1 (answering on a runtime of its own): a publish of a name
/// starting with `denied` gets 403, and the ends of a publish wait `slow_ends` before their
/// 200. Returns the runtime, the port and what it was sent.
fn endpoint(slow_ends: Duration) -> (tokio::runtime::Runtime, u16, Calls) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let calls = Calls::default();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let state = (calls.clone(), slow_ends);
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(answer))
        .route("/slow", axum::routing::post(never_in_time))
        .with_state(state);
    runtime.spawn(async move { axum::serve(listener, app).await });
    (runtime, port, calls)
}

async fn answer(
    State((calls, slow_ends)): State<(Calls, Duration)>,
    Json(call): Json<Value>,
) -> StatusCode {
    let action = call["action"].as_str().unwrap_or("").to_owned();
    let denied = call["name"].as_str().unwrap_or("").starts_with("denied");
    calls.lock().unwrap().push(call);
    if action.ends_with("_done") {
        tokio::time::sleep(slow_ends).await;
    }
    if action == "publish" && denied {
        StatusCode::FORBIDDEN
    } else {
        StatusCode::OK
    }
}

async fn never_in_time() -> StatusCode {
    tokio::time::sleep(Duration::from_secs(30)).await;
    StatusCode::OK
}

fn publish(url: &str, seconds: u32) -> bool {
    run("ffmpeg", &publish_args(url, seconds)).status.success()
}

/// The calls of `action` the endpoint got.
fn of(calls: &Calls, action: &str) -> Vec<Value> {
    calls
        .lock()
        .unwrap()
        .iter()
        .filter(|call| call["action"] == action)
        .cloned()
        .collect()
}

#[test]
fn a_webhook_decides_and_hears_of_ends() {
    let (_runtime, hook_port, calls) = endpoint(Duration::from_secs(8));
    let port = free_port();
    let server = start_server(
        &strings(&[
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--webhook",
            &format!("http://127.0.0.1:{hook_port}/hook"),
        ]),
        port,
    );
    let base = format!("rtmp://127.0.0.1:{port}/live");
    assert!(publish(&format!("{base}/allowed?from=test"), 3));
    assert!(!publish(&format!("{base}/denied"), 2), "a 403 let it in");

    let publishes = of(&calls, "publish");
    assert_eq!(publishes.len(), 2, "{publishes:?}");
    let asked = &publishes[0];
    assert_eq!(
        (&asked["app"], &asked["name"], &asked["query"]),
        (
            &Value::from("live"),
            &Value::from("allowed"),
            &Value::from("from=test")
        )
    );
    assert!(asked["addr"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert!(asked["client_id"].is_u64());
    assert!(asked["tc_url"].as_str().unwrap().ends_with("/live"));

    // The end is told (its answer comes 8 s later, and delays nobody: another publish of 3 s
    // goes through meanwhile).
    common::eventually("publish_done arrives", || {
        !of(&calls, "publish_done").is_empty()
    });
    let started = Instant::now();
    assert!(publish(&format!("{base}/next"), 3));
    let next_took = started.elapsed();
    let done = &of(&calls, "publish_done")[0];
    assert_eq!(done["name"], "allowed");
    assert_eq!(done["client_id"], asked["client_id"]);
    assert!(done["duration_secs"].as_f64().unwrap() >= 2.0, "{done}");
    assert!(done["bytes"].as_u64().unwrap() > 10_000, "{done}");
    eprintln!("a publish of 3 s while a notification waited 8 s for its answer: {next_took:?}");
    assert!(next_took < Duration::from_secs(8), "{next_took:?}");
    drop(server);
}

#[test]
fn an_unreachable_or_slow_webhook_follows_its_policy() {
    let (_runtime, hook_port, _calls) = endpoint(Duration::ZERO);
    let closed = free_port();
    let dir = std::env::temp_dir().join(format!("webhook-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (what, url, accept, let_in) in [
        (
            "unreachable, refusing",
            format!("http://127.0.0.1:{closed}/hook"),
            false,
            false,
        ),
        (
            "unreachable, accepting",
            format!("http://127.0.0.1:{closed}/hook"),
            true,
            true,
        ),
        (
            "slow, refusing",
            format!("http://127.0.0.1:{hook_port}/slow"),
            false,
            false,
        ),
    ] {
        let file = dir.join("server.toml");
        std::fs::write(
            &file,
            format!(
                "[webhook]\nurl = \"{url}\"\ntimeout_secs = 1\naccept_when_unreachable = {accept}\n"
            ),
        )
        .unwrap();
        let port = free_port();
        let server = start_server(
            &strings(&[
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--config",
                file.to_str().unwrap(),
            ]),
            port,
        );
        let started = Instant::now();
        let published = publish(&format!("rtmp://127.0.0.1:{port}/live/show"), 1);
        let took = started.elapsed();
        eprintln!("{what}: published {published} after {took:?}");
        assert_eq!(published, let_in, "{what}");
        // Decided within the 1 s timeout, not the 30 s the slow endpoint takes.
        assert!(took < Duration::from_secs(15), "{what}: {took:?}");
        drop(server);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
