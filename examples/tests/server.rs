//! The `server` example as an operator runs it: its TOML file (a test per section, and bad
//! files), per-application address lists and recording, and `--http` checked with real
//! clients: ffmpeg publishes, `/metrics` goes through a Prometheus text parser, the JSON API
//! through curl, and the status page is rendered by headless Chromium.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

mod common;

use common::{
    LIMIT, Process, curl, eventually, free_port, run, server_binary, start_server, strings,
};
#[path = "../server/config.rs"]
#[allow(dead_code)] // the server uses what the tests do not
mod config;

use std::net::{IpAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use config::{Network, parse};

#[test]
fn the_top_level_settings_are_read() {
    let file = parse(
        r#"
        listen = "127.0.0.1:1935"
        chunk_size = 4096
        gop_cache = false
        write_interval_ms = 0
        write_timeout_secs = 5
        max_connections = 100
        max_connections_per_ip = 4
        listen_backlog = 64
        republish_grace_secs = 4
        takeover = true
        takeover_after_secs = 0
        http = "127.0.0.1:8080"
        push = ["rtmp://a.example", "rtmp://b.example"]
        pull = "rtmp://origin.example"
        "#,
    )
    .unwrap();
    assert_eq!(file.listen, Some("127.0.0.1:1935".parse().unwrap()));
    assert_eq!((file.chunk_size, file.gop_cache), (Some(4096), Some(false)));
    assert_eq!(
        (file.write_interval_ms, file.write_timeout_secs),
        (Some(0), Some(5))
    );
    assert_eq!(
        (file.max_connections, file.max_connections_per_ip),
        (Some(100), Some(4))
    );
    assert_eq!(file.listen_backlog, Some(64));
    assert_eq!(
        (
            file.republish_grace_secs,
            file.takeover,
            file.takeover_after_secs
        ),
        (Some(4), Some(true), Some(0))
    );
    assert_eq!(file.http, Some("127.0.0.1:8080".parse().unwrap()));
    assert_eq!(file.push.unwrap().len(), 2);
    assert_eq!(file.pull.as_deref(), Some("rtmp://origin.example"));
    assert_eq!(parse("").unwrap(), config::FileConfig::default());
}

#[test]
fn the_tls_section_is_read() {
    let file =
        parse("[tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\nlisten = \"0.0.0.0:1936\"\n").unwrap();
    let tls = file.tls.unwrap();
    assert_eq!(
        (tls.cert, tls.key),
        (PathBuf::from("c.pem"), PathBuf::from("k.pem"))
    );
    assert_eq!(tls.listen, Some("0.0.0.0:1936".parse().unwrap()));
    let error = parse("[tls]\ncert = \"c.pem\"\n").unwrap_err();
    assert!(error.contains("missing field `key`"), "{error}");
}

#[test]
fn the_record_section_is_read() {
    let file =
        parse("[record]\ndir = \"/srv/rec\"\nsegment_secs = 600\nsegment_mb = 512\n").unwrap();
    let record = file.record.unwrap();
    assert_eq!(record.dir, PathBuf::from("/srv/rec"));
    assert_eq!(
        (record.segment_secs, record.segment_mb),
        (Some(600), Some(512))
    );
}

#[test]
fn app_sections_hold_address_lists_relays_and_recording() {
    let file = parse(
        r#"
        [apps.live]
        publish_allow = ["10.0.0.0/8", "127.0.0.1"]
        publish_deny = ["10.9.0.0/16"]
        play_deny = ["192.0.2.0/24", "2001:db8::/32"]
        push = ["rtmp://backup.example"]
        pull = "rtmp://origin.example"
        record = false
        "#,
    )
    .unwrap();
    let live = &file.apps["live"];
    let ip = |text: &str| text.parse::<IpAddr>().unwrap();
    assert!(live.may_publish(ip("10.1.2.3")) && live.may_publish(ip("127.0.0.1")));
    assert!(
        !live.may_publish(ip("10.9.1.1")),
        "denied inside an allowed network"
    );
    assert!(!live.may_publish(ip("127.0.0.2")), "not in the allow list");
    assert!(
        live.may_publish(ip("::ffff:10.1.2.3")),
        "IPv4-mapped counts as IPv4"
    );
    assert!(
        live.may_play(ip("198.51.100.1")),
        "no allow list: all but the denied"
    );
    assert!(!live.may_play(ip("192.0.2.77")) && !live.may_play(ip("2001:db8::1")));
    assert_eq!(live.push, ["rtmp://backup.example"]);
    assert_eq!(live.pull.as_deref(), Some("rtmp://origin.example"));
    assert_eq!(live.record, Some(false));
    assert!(
        "0.0.0.0/0"
            .parse::<Network>()
            .unwrap()
            .contains(ip("203.0.113.9"))
    );
}

#[test]
fn a_bad_file_names_the_key_and_the_line() {
    let unknown =
        parse("listen = \"127.0.0.1:1935\"\n\n[apps.live]\npublish_alow = []\n").unwrap_err();
    assert!(
        unknown.contains("line 4") && unknown.contains("publish_alow"),
        "{unknown}"
    );
    let wrong_type = parse("chunk_size = \"big\"\n").unwrap_err();
    assert!(
        wrong_type.contains("line 1") && wrong_type.contains("chunk_size"),
        "{wrong_type}"
    );
    let network = parse("[apps.live]\nplay_deny = [\"10.0.0.0/33\"]\n").unwrap_err();
    assert!(
        network.contains("line 2") && network.contains("10.0.0.0/33"),
        "{network}"
    );
}

fn publisher(url: &str, seconds: u32) -> Process {
    let mut args = common::publish_args(url, seconds);
    // A picture size to find on the status page.
    let size = args
        .iter()
        .position(|arg| arg.starts_with("testsrc2"))
        .unwrap();
    args[size] = "testsrc2=size=640x360:rate=25".into();
    let child = Command::new("ffmpeg")
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("cannot run ffmpeg: run .ci/install-peers");
    Process(child)
}

/// The streams of `/api/streams`.
fn api_streams(http: &str) -> Vec<serde_json::Value> {
    let (code, body) = curl("GET", &format!("{http}/api/streams"));
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

#[test]
fn the_status_page_metrics_and_api_show_a_live_stream() {
    let (port, http_port) = (free_port(), free_port());
    let http = format!("http://127.0.0.1:{http_port}");
    let _server = start_server(
        &strings(&[
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--http",
            &format!("127.0.0.1:{http_port}"),
        ]),
        port,
    );
    let mut ffmpeg = publisher(&format!("rtmp://127.0.0.1:{port}/live/status"), 40);
    eventually("the stream's bitrate shows in the API", || {
        api_streams(&http)
            .first()
            .is_some_and(|stream| stream["bitrate_in"].as_u64().unwrap_or(0) > 0)
    });

    // The JSON API.
    let stream = api_streams(&http).remove(0);
    assert_eq!(
        (stream["app"].as_str(), stream["name"].as_str()),
        (Some("live"), Some("status"))
    );
    assert_eq!(stream["video_codec"], "H.264");
    assert_eq!(stream["audio_codec"], "AAC");
    assert_eq!(
        (stream["width"].as_u64(), stream["height"].as_u64()),
        (Some(640), Some(360))
    );
    let (code, body) = curl("GET", &format!("{http}/api/connections"));
    assert_eq!(code, 200);
    let connections: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    let publishing = &connections[0]["streams"][0];
    assert_eq!(
        (&publishing["name"], &publishing["role"]),
        (&"status".into(), &"publish".into())
    );
    assert!(connections[0]["bytes_in"].as_u64().unwrap() > 0);

    // Prometheus metrics, read by a Prometheus text parser.
    let (code, body) = curl("GET", &format!("{http}/metrics"));
    assert_eq!(code, 200);
    let lines = body.lines().map(|line| Ok(line.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).unwrap();
    let value = |name: &str, stream: Option<&str>| {
        scrape
            .samples
            .iter()
            .find(|sample| {
                sample.metric == name
                    && stream.is_none_or(|stream| sample.labels.get("name") == Some(stream))
            })
            .map(|sample| match sample.value {
                prometheus_parse::Value::Gauge(value)
                | prometheus_parse::Value::Counter(value)
                | prometheus_parse::Value::Untyped(value) => value,
                _ => f64::NAN,
            })
            .unwrap_or_else(|| panic!("{name} missing from {body}"))
    };
    assert!(value("rtmp_stream_bitrate_in_bits_per_second", Some("status")) > 0.0);
    assert_eq!(value("rtmp_stream_publishing", Some("status")), 1.0);
    assert!(value("rtmp_connections", None) >= 1.0);
    assert!(value("rtmp_received_bytes_total", None) > 0.0);

    // The status page, rendered by a real browser after its script ran.
    let dom = run(
        "chromium",
        &strings(&[
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=5000",
            "--dump-dom",
            &format!("{http}/"),
        ]),
    );
    let dom = String::from_utf8_lossy(&dom.stdout);
    let row = dom
        .split("<tr ")
        .find(|row| row.contains("data-stream=\"live/status\""))
        .unwrap_or_else(|| panic!("the page lists no live/status: {dom}"));
    assert!(
        row.contains(">H.264<") && row.contains(">AAC<") && row.contains(">640 x 360<"),
        "{row}"
    );
    let bps: u64 = row
        .split("data-bps=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .and_then(|bps| bps.parse().ok())
        .unwrap_or(0);
    assert!(bps > 0, "a nonzero bitrate on the page: {row}");

    // Actions: stop the publisher; ffmpeg loses its connection and the stream goes.
    let stop = format!("{http}/api/streams/live/status/publisher");
    assert_eq!(curl("DELETE", &stop).0, 204);
    let start = Instant::now();
    while ffmpeg.0.try_wait().unwrap().is_none() {
        assert!(
            start.elapsed() < LIMIT,
            "ffmpeg goes on after its connection was closed"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    eventually("the stream is gone from the API", || {
        api_streams(&http).is_empty()
    });
    assert_eq!(curl("DELETE", &stop).0, 404);
    assert_eq!(
        curl("DELETE", &format!("{http}/api/connections/999999")).0,
        404
    );
    let (_, totals) = curl("GET", &format!("{http}/api/totals"));
    let totals: serde_json::Value = serde_json::from_str(&totals).unwrap();
    assert!(totals["bytes_in"].as_u64().unwrap() > 0);
    ffmpeg.0.kill().ok();
}

fn publish(url: &str) -> bool {
    run("ffmpeg", &common::publish_args(url, 2))
        .status
        .success()
}

fn recorded(dir: &Path, app: &str) -> usize {
    std::fs::read_dir(dir.join(app)).map_or(0, |entries| entries.count())
}

#[test]
fn a_config_file_sets_address_lists_and_recording_per_application_and_flags_override_it() {
    let (port, file_port) = (free_port(), free_port());
    let dir = std::env::temp_dir().join(format!("rtmp-server-config-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let recordings = dir.join("recordings");
    let file = dir.join("server.toml");
    std::fs::write(
        &file,
        format!(
            r#"
            listen = "127.0.0.1:{file_port}"

            [record]
            dir = "{}"

            [apps.closed]
            publish_deny = ["127.0.0.0/8"]

            [apps.unrecorded]
            record = false
            "#,
            recordings.display()
        ),
    )
    .unwrap();
    // The flag's address, not the file's.
    let _server = start_server(
        &strings(&[
            "--config",
            file.to_str().unwrap(),
            "--listen",
            &format!("127.0.0.1:{port}"),
        ]),
        port,
    );
    assert!(TcpStream::connect(("127.0.0.1", file_port)).is_err());
    let url = |key: &str| format!("rtmp://127.0.0.1:{port}/{key}");
    assert!(
        !publish(&url("closed/a")),
        "127.0.0.1 may not publish to closed"
    );
    assert!(publish(&url("live/a")));
    assert!(publish(&url("unrecorded/a")));
    eventually("the recording of live/a is written", || {
        recorded(&recordings, "live") == 1
    });
    assert_eq!(recorded(&recordings, "unrecorded"), 0);
    assert_eq!(recorded(&recordings, "closed"), 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_config_file_stops_the_server_with_the_key_and_line() {
    let file = std::env::temp_dir().join(format!("rtmp-server-bad-{}.toml", std::process::id()));
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:0\"\n\n[apps.live]\npublish_alow = []\n",
    )
    .unwrap();
    let output = run(
        server_binary(),
        &strings(&["--config", file.to_str().unwrap()]),
    );
    let _ = std::fs::remove_file(&file);
    let error = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{error}");
    assert!(
        error.contains("line 4") && error.contains("publish_alow"),
        "{error}"
    );
}

#[test]
fn help_says_what_the_server_is() {
    let output = common::run(common::server_binary(), &common::strings(&["--help"]));
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.starts_with("A live video server"), "{help}");
    for flag in [
        "--publish-secret",
        "--webhook",
        "--http-token",
        "--takeover-after-secs",
        "--max-write-delay-ms",
        "--record-track",
    ] {
        assert!(help.contains(flag), "{flag} is not in --help");
    }
}

#[test]
fn the_config_file_in_the_docs_is_read() {
    let docs = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/operations.md"),
    )
    .unwrap();
    let start = docs.find("```toml\n").expect("a TOML example") + "```toml\n".len();
    let end = start + docs[start..].find("```").unwrap();
    let file = parse(&docs[start..end]).unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(file.takeover_after_secs, Some(3));
    assert!(file.auth.is_some() && file.webhook.is_some());
    assert_eq!(file.apps.len(), 1);
}
