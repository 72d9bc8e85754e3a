//! Signed stream names against the example server with real ffmpeg: a publisher with a valid
//! token gets in and its stream plays under the plain name; no token, an expired one and an
//! altered one are refused; the token shows nowhere (logs, API, metrics, status page,
//! recordings).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

mod common;

use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use common::{Process, curl, free_port, publish_args, run, server_binary, strings};
use rtmp_hooks::{Action, SignedUrls};
use rtmp_server::StreamKey;

const SECRET: &[u8] = b"s3cret-for-tests";

fn key(name: &str) -> StreamKey {
    StreamKey {
        app: "live".into(),
        name: name.into(),
    }
}

/// Publishes `seconds` to `url` and returns whether ffmpeg succeeded.
fn publish(url: &str, seconds: u32) -> bool {
    run("ffmpeg", &publish_args(url, seconds)).status.success()
}

#[test]
fn signed_names_let_the_publisher_in_and_nobody_else() {
    let (port, http_port) = (free_port(), free_port());
    let dir = std::env::temp_dir().join(format!("signed-{}", std::process::id()));
    let log = dir.with_extension("log");
    let _ = std::fs::remove_dir_all(&dir);
    let secret = String::from_utf8(SECRET.to_vec()).unwrap();
    let server = Process(
        Command::new(server_binary())
            .args(strings(&[
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--http",
                &format!("127.0.0.1:{http_port}"),
                "--publish-secret",
                &secret,
                "--record",
                dir.to_str().unwrap(),
            ]))
            .env("RUST_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(start.elapsed() < common::LIMIT, "no listener");
        std::thread::sleep(Duration::from_millis(50));
    }
    let base = format!("rtmp://127.0.0.1:{port}/live");
    let expires = SystemTime::now() + Duration::from_secs(600);
    let query = SignedUrls::query(SECRET, Action::Publish, &key("show"), expires);
    let token = query.split_once("token=").unwrap().1.to_owned();

    // Refused: no token, an expired one, one altered (another stream's), a wrong secret.
    let expired = SignedUrls::query(
        SECRET,
        Action::Publish,
        &key("show"),
        SystemTime::now() - Duration::from_secs(1),
    );
    let other = SignedUrls::query(SECRET, Action::Publish, &key("other"), expires);
    let guessed = SignedUrls::query(b"guess", Action::Publish, &key("show"), expires);
    for (what, url) in [
        ("no token", format!("{base}/show")),
        ("an expired token", format!("{base}/show?{expired}")),
        ("another stream's token", format!("{base}/show?{other}")),
        (
            "a token of another secret",
            format!("{base}/show?{guessed}"),
        ),
    ] {
        assert!(!publish(&url, 2), "{what} was let in");
    }

    // Accepted, and played under the plain name.
    let signed = format!("{base}/show?{query}");
    let mut publisher = Process(
        Command::new("ffmpeg")
            .args(publish_args(&signed, 8))
            .stdin(Stdio::null())
            .spawn()
            .expect("ffmpeg runs (.ci/install-peers)"),
    );
    common::eventually("the signed publish is on", || {
        curl("GET", &format!("http://127.0.0.1:{http_port}/api/streams"))
            .1
            .contains("\"show\"")
    });
    let played = dir.with_extension("flv");
    let output = run(
        "ffmpeg",
        &strings(&[
            "-nostdin",
            "-loglevel",
            "error",
            "-y",
            "-i",
            &format!("{base}/show"),
            "-t",
            "3",
            "-c",
            "copy",
            played.to_str().unwrap(),
        ]),
    );
    assert!(output.status.success(), "{output:?}");
    let video = common::frames(&played, "v");
    let _ = std::fs::remove_file(&played);
    assert!(video > 25, "{video} video frames");

    // The token is nowhere to be seen.
    let mut seen = Vec::new();
    for path in ["/", "/api/streams", "/api/connections", "/metrics"] {
        let (_, body) = curl("GET", &format!("http://127.0.0.1:{http_port}{path}"));
        seen.push((path.to_owned(), body));
    }
    assert!(publisher.0.wait().unwrap().success());
    // Recordings end after the republish grace.
    std::thread::sleep(Duration::from_secs(1));
    drop(server);
    seen.push(("the log".into(), std::fs::read_to_string(&log).unwrap()));
    let names: Vec<String> = walk(&dir);
    assert!(!names.is_empty(), "nothing was recorded");
    seen.push(("recordings".into(), names.join("\n")));
    for (place, text) in &seen {
        assert!(!text.contains(&token), "the token shows in {place}");
        assert!(!text.contains(&secret), "the secret shows in {place}");
    }
    assert!(seen[1].1.contains("show"), "{}", seen[1].1);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(&log);
}

/// Every path under `dir`.
fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        found.push(path.display().to_string());
        if path.is_dir() {
            found.extend(walk(&path));
        }
    }
    found
}

/// The status code of a GET of `url`, with `token` as a bearer token if given.
fn get(url: &str, token: Option<&str>) -> String {
    let mut args = strings(&["-s", "-o", "/dev/null", "-w", "%{http_code}", url]);
    if let Some(token) = token {
        args.extend(strings(&["-H", &format!("Authorization: Bearer {token}")]));
    }
    String::from_utf8(run("curl", &args).stdout).unwrap()
}

#[test]
fn the_api_asks_for_its_token() {
    let (port, http_port) = (free_port(), free_port());
    let token = "api-token-for-tests";
    let server = common::start_server(
        &strings(&[
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--http",
            &format!("127.0.0.1:{http_port}"),
            "--http-token",
            token,
        ]),
        port,
    );
    let http = format!("http://127.0.0.1:{http_port}");
    common::eventually("the API listens", || {
        TcpStream::connect(("127.0.0.1", http_port)).is_ok()
    });
    for path in ["/api/streams", "/api/totals", "/metrics"] {
        assert_eq!(get(&format!("{http}{path}"), None), "401", "{path}");
        assert_eq!(
            get(&format!("{http}{path}"), Some("wrong")),
            "401",
            "{path}"
        );
        assert_eq!(get(&format!("{http}{path}"), Some(token)), "200", "{path}");
    }
    // The page loads; its script sends the token from the page's fragment.
    assert_eq!(get(&format!("{http}/"), None), "200");
    drop(server);

    // On an address other machines reach, the server does not start without a token.
    let output = run(
        server_binary(),
        &strings(&[
            "--listen",
            &format!("127.0.0.1:{}", free_port()),
            "--http",
            &format!("0.0.0.0:{}", free_port()),
        ]),
    );
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr).to_string()
        + &String::from_utf8_lossy(&output.stdout);
    assert!(said.contains("--http-token"), "{said}");
    // Nor with an empty token, which any request would carry, nor an empty secret.
    for flags in [["--http-token", ""], ["--publish-secret", ""]] {
        let mut args = strings(&["--listen", &format!("127.0.0.1:{}", free_port())]);
        args.extend(strings(&["--http", &format!("127.0.0.1:{}", free_port())]));
        args.extend(strings(&flags));
        let output = run(server_binary(), &args);
        assert!(!output.status.success(), "{flags:?} was taken");
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("empty"),
            "{:?}",
            output
        );
    }
}
