//! Browser playback from the example server's viewer listener (`--watch`): ffmpeg publishes;
//! curl reads HTTP-FLV and a WebSocket client reads WebSocket-FLV, and ffprobe decodes H.264
//! and AAC from both; headless Chromium, driven through its DevTools protocol, plays the watch
//! page; a viewer that stops reading is closed by the write timeout.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    Browser, LIMIT, Process, curl, eventually, frames, free_port, publish_args, run, start_server,
    stream_field, strings,
};
use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

/// The example server with a viewer listener, and ffmpeg publishing `live/cam` for a minute.
struct Setup {
    watch: String,
    http: String,
    server: Process,
    _publisher: Process,
}

fn setup(extra: &[&str]) -> Setup {
    let (rtmp, watch, http) = (free_port(), free_port(), free_port());
    let mut args = strings(&["--listen", &format!("127.0.0.1:{rtmp}")]);
    args.extend(strings(&["--watch", &format!("127.0.0.1:{watch}")]));
    args.extend(strings(&["--http", &format!("127.0.0.1:{http}")]));
    args.extend(strings(extra));
    let server = start_server(&args, rtmp);
    let publisher = Command::new("ffmpeg")
        .args(publish_args(
            &format!("rtmp://127.0.0.1:{rtmp}/live/cam"),
            60,
        ))
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let setup = Setup {
        watch: format!("http://127.0.0.1:{watch}"),
        http: format!("http://127.0.0.1:{http}"),
        server,
        _publisher: Process(publisher),
    };
    eventually("the stream is live", || {
        curl("GET", &format!("{}/api/streams", setup.http))
            .1
            .contains("\"cam\"")
    });
    setup
}

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("rtmp-watch-{}-{name}", std::process::id()))
}

#[test]
fn http_flv_and_websocket_flv_decode() {
    let setup = setup(&[]);
    // HTTP-FLV: a live response read for 4 s, with CORS for pages elsewhere.
    let file = temp("http.flv");
    let headers = temp("http.headers");
    let url = format!("{}/live/cam.flv", setup.watch);
    let mut args = strings(&["-s", "--max-time", "4", "-w", "%{time_starttransfer}"]);
    args.extend(strings(&[
        "-D",
        headers.to_str().unwrap(),
        "-o",
        file.to_str().unwrap(),
        &url,
    ]));
    let read = run("curl", &args);
    let first_byte: f64 = String::from_utf8_lossy(&read.stdout)
        .trim()
        .parse()
        .unwrap();
    let headers = std::fs::read_to_string(&headers).unwrap().to_lowercase();
    assert!(headers.starts_with("http/1.1 200"), "{headers}");
    assert!(
        headers.contains("access-control-allow-origin: *"),
        "{headers}"
    );
    assert!(headers.contains("content-type: video/x-flv"), "{headers}");
    let (video, audio) = (frames(&file, "v"), frames(&file, "a"));
    eprintln!("HTTP-FLV: first byte after {first_byte:.3} s; {video} video, {audio} audio frames");
    assert!(video >= 50 && audio >= 50, "{video} video, {audio} audio");

    // The same bytes through a WebSocket.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let ws_url = url.replacen("http://", "ws://", 1);
    let bytes = runtime.block_on(async {
        let (mut socket, _) = tokio_tungstenite::connect_async(&ws_url).await.unwrap();
        let mut bytes = Vec::new();
        let until = tokio::time::Instant::now() + Duration::from_secs(4);
        while let Ok(Some(message)) = tokio::time::timeout_at(until, socket.next()).await {
            if let Message::Binary(data) = message.unwrap() {
                bytes.extend_from_slice(&data);
            }
        }
        let _ = socket.send(Message::Close(None)).await;
        bytes
    });
    let file = temp("ws.flv");
    std::fs::File::create(&file)
        .unwrap()
        .write_all(&bytes)
        .unwrap();
    let (video, audio) = (frames(&file, "v"), frames(&file, "a"));
    eprintln!(
        "WebSocket-FLV: {} bytes; {video} video, {audio} audio frames",
        bytes.len()
    );
    assert!(video >= 50 && audio >= 50, "{video} video, {audio} audio");

    // A stream that is not live, and a name with no .flv.
    assert_eq!(
        curl("GET", &format!("{}/live/missing.flv", setup.watch)).0,
        404
    );
    assert_eq!(curl("GET", &format!("{}/live/cam", setup.watch)).0, 404);
    let _ = std::fs::remove_file(temp("http.flv"));
    let _ = std::fs::remove_file(temp("ws.flv"));
}

#[test]
fn a_viewer_that_stops_reading_is_closed() {
    let setup = setup(&["--write-timeout-secs", "2"]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let address = setup.watch.trim_start_matches("http://").to_owned();
    let socket = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        // A small window, so that the server's writes stop soon.
        socket.set_recv_buffer_size(4096).unwrap();
        let mut stream = socket.connect(address.parse().unwrap()).await.unwrap();
        use tokio::io::AsyncWriteExt;
        let request = format!("GET /live/cam.flv HTTP/1.1\r\nHost: {address}\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        stream
    });
    eventually("the viewer is counted", || {
        stream_field(&setup.http, "viewers_http_flv") == 1
    });
    let before = resident_kib(setup.server.0.id());
    let start = Instant::now();
    eventually("the viewer that reads nothing is closed", || {
        stream_field(&setup.http, "viewers_http_flv") == 0
    });
    let grown = resident_kib(setup.server.0.id()).saturating_sub(before);
    eprintln!(
        "a viewer reading nothing was closed after {:?}; the server grew {grown} KiB",
        start.elapsed()
    );
    // Its queue's budget is 16 MiB; it never held near that.
    assert!(grown < 16 << 10, "{grown} KiB");
    drop(socket);
}

/// The resident memory of process `pid`, in KiB.
fn resident_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// ffmpeg 9, for HEVC in Enhanced RTMP.
fn ffmpeg9() -> PathBuf {
    if let Some(path) = std::env::var_os("RTMP_FFMPEG9") {
        return path.into();
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/peers/ffmpeg9");
    assert!(path.exists(), "ffmpeg 9 is needed: run .ci/install-peers");
    path
}

/// What the watch page shows: its state, the video's time and decoded frames.
const PAGE_STATE: &str = "JSON.stringify({ state: document.body.dataset.state || '', \
    status: document.getElementById('status').textContent, \
    time: document.getElementById('video').currentTime, \
    frames: document.getElementById('video').getVideoPlaybackQuality().totalVideoFrames })";

fn page_state(browser: &Browser, runtime: &tokio::runtime::Runtime) -> serde_json::Value {
    match browser.evaluate(runtime, PAGE_STATE) {
        serde_json::Value::String(text) => serde_json::from_str(&text).unwrap(),
        _ => serde_json::Value::Null,
    }
}

#[test]
fn chromium_plays_the_watch_page() {
    let setup = setup(&[]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let browser = Browser::open(&format!("{}/watch/live/cam", setup.watch));
    // The video plays: its time moves on and frames are decoded.
    let start = Instant::now();
    let mut first = None;
    loop {
        let state = page_state(&browser, &runtime);
        let time = state["time"].as_f64().unwrap_or(0.0);
        if time > 0.0 && first.is_none() {
            first = Some((start.elapsed(), time));
        }
        if let Some((_, at)) = first
            && time > at + 2.0
            && state["frames"].as_u64().unwrap_or(0) > 25
        {
            eprintln!(
                "Chromium plays: {state}, first picture after {:?}",
                first.unwrap().0
            );
            assert_eq!(state["state"], "playing");
            break;
        }
        assert!(start.elapsed() < LIMIT, "the page does not play: {state}");
        std::thread::sleep(Duration::from_millis(250));
    }
    eventually("the page's viewer is counted", || {
        stream_field(&setup.http, "viewers_http_flv") >= 1
    });
}

#[test]
fn hevc_plays_or_the_page_says_why_not() {
    let (rtmp, watch) = (free_port(), free_port());
    let args = strings(&[
        "--listen",
        &format!("127.0.0.1:{rtmp}"),
        "--watch",
        &format!("127.0.0.1:{watch}"),
    ]);
    let _server = start_server(&args, rtmp);
    let mut publish = strings(&["-nostdin", "-loglevel", "error", "-re", "-f", "lavfi", "-i"]);
    publish.extend(strings(&[
        "testsrc2=size=320x240:rate=25",
        "-t",
        "60",
        "-pix_fmt",
    ]));
    publish.extend(strings(&[
        "yuv420p", "-c:v", "libx265", "-g", "25", "-f", "flv",
    ]));
    publish.push(format!("rtmp://127.0.0.1:{rtmp}/live/hevc"));
    let publisher = Command::new(ffmpeg9())
        .args(&publish)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let _publisher = Process(publisher);
    let url = format!("http://127.0.0.1:{watch}/live/hevc.flv");
    eventually("the HEVC stream is live", || {
        let probe = run(
            "curl",
            &strings(&[
                "-s",
                "--max-time",
                "1",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                &url,
            ]),
        );
        String::from_utf8_lossy(&probe.stdout).trim() == "200"
    });
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let browser = Browser::open(&format!("http://127.0.0.1:{watch}/watch/live/hevc"));
    let start = Instant::now();
    loop {
        let state = page_state(&browser, &runtime);
        let playing = state["state"] == "playing" && state["time"].as_f64().unwrap_or(0.0) > 1.0;
        let unsupported = state["state"] == "unsupported";
        if playing || unsupported {
            eprintln!("HEVC in Chromium: {state}");
            if unsupported {
                assert!(
                    state["status"].as_str().unwrap().contains("cannot"),
                    "{state}"
                );
            }
            break;
        }
        assert!(
            start.elapsed() < LIMIT,
            "the HEVC page neither plays nor says why: {state}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The video streams ffprobe finds in `file`: their width and height.
fn video_sizes(file: &Path) -> Vec<String> {
    let output = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v"])
        .args(["-show_entries", "stream=width,height", "-of", "csv=p=0"])
        .arg(file)
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_viewer_of_a_multitrack_stream_gets_the_rendition_it_asks_for() {
    let (rtmp, watch, http) = (free_port(), free_port(), free_port());
    let args = strings(&[
        "--listen",
        &format!("127.0.0.1:{rtmp}"),
        "--watch",
        &format!("127.0.0.1:{watch}"),
        "--http",
        &format!("127.0.0.1:{http}"),
    ]);
    let _server = start_server(&args, rtmp);
    // ffmpeg 9 publishes two renditions (640x360 as track 0, 320x180 as track 1) and AAC.
    let mut publish = strings(&["-nostdin", "-loglevel", "error", "-re", "-f", "lavfi", "-i"]);
    publish.extend(strings(&[
        "testsrc2=size=640x360:rate=25",
        "-f",
        "lavfi",
        "-i",
        "sine",
        "-t",
        "30",
        "-filter_complex",
        "[0:v]split=2[big][small];[small]scale=320:180[low]",
        "-map",
        "[big]",
        "-map",
        "[low]",
        "-map",
        "1:a",
        "-pix_fmt",
        "yuv420p",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-g",
        "25",
        "-c:a",
        "aac",
        "-f",
        "flv",
        &format!("rtmp://127.0.0.1:{rtmp}/live/renditions"),
    ]));
    let _publisher = Process(
        Command::new(ffmpeg9())
            .args(&publish)
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let api = format!("http://127.0.0.1:{http}/api/streams");
    eventually("both renditions are configured", || {
        curl("GET", &api).1.matches("\"kind\":\"video\"").count() == 2
    });
    for (query, size) in [("", "640,360"), ("?track=1", "320,180")] {
        let file = temp(&format!("rendition{}.flv", query.len()));
        let url = format!("http://127.0.0.1:{watch}/live/renditions.flv{query}");
        run(
            "curl",
            &strings(&["-s", "--max-time", "3", "-o", file.to_str().unwrap(), &url]),
        );
        let (sizes, video, audio) = (video_sizes(&file), frames(&file, "v"), frames(&file, "a"));
        eprintln!("HTTP-FLV{query}: {sizes:?}, {video} video and {audio} audio frames");
        assert_eq!(sizes, [size], "one rendition: {url}");
        assert!(video >= 25 && audio >= 25, "{video} video, {audio} audio");
        let _ = std::fs::remove_file(&file);
    }
    let bad = format!("http://127.0.0.1:{watch}/live/renditions.flv?track=x");
    assert_eq!(curl("GET", &bad).0, 400);
    // The API's figures of each rendition.
    let (_, body) = curl("GET", &api);
    let streams: serde_json::Value = serde_json::from_str(&body).unwrap();
    let tracks = &streams[0]["tracks"];
    let widths: Vec<u64> = tracks
        .as_array()
        .unwrap()
        .iter()
        .filter(|track| track["kind"] == "video")
        .map(|track| track["width"].as_u64().unwrap())
        .collect();
    assert_eq!(widths, [640, 320], "{tracks}");
    // Over HLS, each rendition is a variant of its own, and each plays.
    let index = format!("http://127.0.0.1:{watch}/live/renditions/index.m3u8");
    let (status, text) = curl("GET", &index);
    assert_eq!(status, 200, "{text}");
    let multivariant = m3u8_rs::parse_master_playlist_res(text.as_bytes()).unwrap();
    let variants: Vec<(String, Option<String>)> = multivariant
        .variants
        .iter()
        .map(|variant| {
            let resolution = variant
                .resolution
                .map(|r| format!("{},{}", r.width, r.height));
            (variant.uri.clone(), resolution)
        })
        .collect();
    assert_eq!(variants.len(), 2, "{text}");
    for (uri, resolution) in variants {
        let file = temp(&format!("variant-{}.mkv", uri.replace('/', "-")));
        let url = format!("http://127.0.0.1:{watch}/live/renditions/{uri}");
        let output = run(
            "ffmpeg",
            &strings(&["-nostdin", "-loglevel", "error", "-y", "-i", &url])
                .into_iter()
                .chain(strings(&["-t", "3", "-c", "copy", file.to_str().unwrap()]))
                .collect::<Vec<_>>(),
        );
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let (sizes, video) = (video_sizes(&file), frames(&file, "v"));
        eprintln!("HLS variant {uri}: {sizes:?}, {video} video frames");
        assert_eq!(Some(sizes.join(" ")), resolution, "{uri}");
        assert!(video >= 25, "{video} video frames of {uri}");
        let _ = std::fs::remove_file(&file);
    }
}
