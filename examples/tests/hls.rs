//! Low-Latency HLS from the example server's viewer listener (`--watch`): ffmpeg publishes;
//! ffmpeg 5.1 reads `index.m3u8` and decodes video and audio; a blocking playlist request
//! returns once its part is listed; hls.js in headless Chromium, on a page of another
//! origin, plays in low-latency mode, and its latency by the playlist's clock is reported
//! beside plain HLS from the same server; each client is a viewer the API lists.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    Browser, LIMIT, Process, curl, eventually, frames, free_port, publish_args, run, start_server,
    strings,
};

/// The example server with a viewer listener and an API, and ffmpeg publishing `live/cam`.
struct Setup {
    watch: String,
    http: String,
    _server: Process,
    _publisher: Process,
}

fn setup(seconds: u32) -> Setup {
    let (rtmp, watch, http) = (free_port(), free_port(), free_port());
    let mut args = strings(&["--listen", &format!("127.0.0.1:{rtmp}")]);
    args.extend(strings(&["--watch", &format!("127.0.0.1:{watch}")]));
    args.extend(strings(&["--http", &format!("127.0.0.1:{http}")]));
    let server = start_server(&args, rtmp);
    let publisher = Command::new("ffmpeg")
        .args(publish_args(
            &format!("rtmp://127.0.0.1:{rtmp}/live/cam"),
            seconds,
        ))
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let setup = Setup {
        watch: format!("http://127.0.0.1:{watch}"),
        http: format!("http://127.0.0.1:{http}"),
        _server: server,
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
    std::env::temp_dir().join(format!("rtmp-hls-{}-{name}", std::process::id()))
}

/// ffmpeg reading `seconds` of the HLS stream at `url` into `file`, as it is.
fn read_with_ffmpeg(url: &str, file: &std::path::Path, seconds: u32) -> std::process::Output {
    run(
        "ffmpeg",
        &strings(&[
            "-nostdin",
            "-loglevel",
            "error",
            "-y",
            "-i",
            url,
            "-t",
            &seconds.to_string(),
            "-c",
            "copy",
            file.to_str().unwrap(),
        ]),
    )
}

/// The multivariant playlist, once the stream's first segment parts exist.
fn multivariant(setup: &Setup) -> String {
    let url = format!("{}/live/cam/index.m3u8", setup.watch);
    let mut body = String::new();
    eventually("the multivariant playlist is served", || {
        let (status, text) = curl("GET", &url);
        body = text;
        status == 200
    });
    body
}

/// The URI of the first variant's media playlist, as listed.
fn first_variant(multivariant: &str) -> String {
    let parsed = m3u8_rs::parse_master_playlist_res(multivariant.as_bytes())
        .unwrap_or_else(|error| panic!("not a multivariant playlist ({error:?}): {multivariant}"));
    assert!(!parsed.variants.is_empty(), "{multivariant}");
    let variant = &parsed.variants[0];
    assert!(
        variant
            .codecs
            .as_deref()
            .is_some_and(|c| c.contains("avc1"))
    );
    assert!(variant.resolution.is_some(), "{multivariant}");
    variant.uri.clone()
}

#[test]
fn ffmpeg_reads_the_playlist_and_decodes_video_and_audio() {
    let setup = setup(40);
    let _ = multivariant(&setup);
    let file = temp("read.mkv");
    let output = read_with_ffmpeg(&format!("{}/live/cam/index.m3u8", setup.watch), &file, 6);
    assert!(
        output.status.success(),
        "ffmpeg failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let (video, audio) = (frames(&file, "v"), frames(&file, "a"));
    eprintln!("ffmpeg read {video} video and {audio} audio frames over HLS");
    assert!(video >= 100 && audio >= 100, "{video} video, {audio} audio");
    let _ = std::fs::remove_file(&file);
}

/// The last segment's number and the number of parts listed after it in `playlist`.
fn next_part(playlist: &str) -> (u64, u64) {
    let parsed = m3u8_rs::parse_media_playlist_res(playlist.as_bytes())
        .unwrap_or_else(|error| panic!("not a media playlist ({error:?}): {playlist}"));
    let next = parsed.media_sequence + parsed.segments.len() as u64;
    // The parts of the segment in progress follow the last complete segment.
    let tail = playlist.rsplit("#EXTINF").next().unwrap_or_default();
    let parts = tail.matches("#EXT-X-PART:").count() as u64;
    (next, parts)
}

#[test]
fn a_blocking_request_returns_once_its_part_is_listed() {
    let setup = setup(40);
    let variant = first_variant(&multivariant(&setup));
    let url = format!("{}/live/cam/{variant}", setup.watch);
    let (status, playlist) = curl("GET", &url);
    assert_eq!(status, 200);
    assert!(playlist.contains("#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES"));
    assert!(playlist.contains("#EXT-X-PRELOAD-HINT:TYPE=PART"));
    assert!(playlist.contains("#EXT-X-PROGRAM-DATE-TIME:"));
    let (msn, part) = next_part(&playlist);
    let separator = if url.contains('?') { '&' } else { '?' };
    let blocking = format!("{url}{separator}_HLS_msn={msn}&_HLS_part={}", part + 1);
    let asked = Instant::now();
    let (status, later) = curl("GET", &blocking);
    eprintln!(
        "the blocking request was answered after {:?}",
        asked.elapsed()
    );
    assert_eq!(status, 200, "{later}");
    let (later_msn, later_part) = next_part(&later);
    assert!(
        (later_msn, later_part) > (msn, part + 1) || later_msn > msn,
        "the answer lists the part asked for: {later}"
    );
    // A part far ahead is a bad request; a reload without _HLS_msn an ordinary playlist.
    let (status, _) = curl("GET", &format!("{url}{separator}_HLS_msn={}", msn + 10));
    assert_eq!(status, 400);
    let (status, _) = curl("GET", &format!("{url}{separator}_HLS_part=1"));
    assert_eq!(status, 400);
    // The client is one of the server's viewers, listed with its protocol.
    let (_, connections) = curl("GET", &format!("{}/api/connections", setup.http));
    assert!(connections.contains("\"hls\""), "{connections}");
}

/// Serves `html` to every request on a port of its own (another origin than the server's),
/// until the test ends.
fn page_server(html: String) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut head = [0u8; 4096];
            let _ = stream.read(&mut head);
            let answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{html}",
                html.len()
            );
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    port
}

/// A page that plays `playlist` with hls.js (from the server), and keeps what a person would
/// see in `window.report`: frames decoded, a fatal error, and how far behind the playlist's
/// clock the picture is.
fn hls_page(watch: &str, playlist: &str, low_latency: bool) -> String {
    format!(
        r#"<!doctype html><html><body>
<video id="video" muted autoplay playsinline></video>
<script src="{watch}/player/hls.js"></script>
<script>
  window.report = {{ frames: 0, fatal: null, behind: [] }};
  const video = document.getElementById("video");
  const hls = new Hls({{ lowLatencyMode: {low_latency} }});
  hls.on(Hls.Events.ERROR, (event, data) => {{
    if (data.fatal) window.report.fatal = data.type + ": " + data.details;
  }});
  hls.loadSource("{playlist}");
  hls.attachMedia(video);
  setInterval(() => {{
    window.report.frames = video.getVideoPlaybackQuality().totalVideoFrames;
    if (hls.playingDate && !video.paused) {{
      window.report.behind.push((Date.now() - hls.playingDate.getTime()) / 1000);
    }}
  }}, 250);
</script></body></html>"#
    )
}

/// Plays the stream in Chromium with hls.js (low-latency mode or not) until it has played
/// for a while; returns the median of how far behind the playlist's clock it was.
fn chromium_plays(setup: &Setup, low_latency: bool) -> f64 {
    let playlist = format!("{}/live/cam/index.m3u8", setup.watch);
    let port = page_server(hls_page(&setup.watch, &playlist, low_latency));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let browser = Browser::open(&format!("http://127.0.0.1:{port}/"));
    let start = Instant::now();
    loop {
        let report = browser.evaluate(&runtime, "JSON.stringify(window.report || null)");
        let report: serde_json::Value =
            serde_json::from_str(report.as_str().unwrap_or("null")).unwrap_or_default();
        assert!(
            report["fatal"].is_null(),
            "hls.js failed: {}",
            report["fatal"]
        );
        let behind: Vec<f64> = report["behind"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(serde_json::Value::as_f64)
            .collect();
        // Ten seconds of playing, the first two left out (the player settles).
        if report["frames"].as_u64().unwrap_or(0) > 100 && behind.len() >= 40 {
            let mut settled = behind[8..].to_vec();
            settled.sort_by(f64::total_cmp);
            let median = settled[settled.len() / 2];
            eprintln!(
                "hls.js (low latency: {low_latency}) decoded {} frames, {median:.2} s behind \
                 the playlist's clock (from {:.2} to {:.2} s)",
                report["frames"],
                settled[0],
                settled[settled.len() - 1]
            );
            return median;
        }
        assert!(start.elapsed() < LIMIT, "hls.js does not play: {report}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn hls_js_plays_from_another_origin_in_low_latency_mode() {
    let setup = setup(60);
    let _ = multivariant(&setup);
    let low = chromium_plays(&setup, true);
    let plain = chromium_plays(&setup, false);
    eprintln!("behind live: low-latency HLS {low:.2} s, plain HLS {plain:.2} s");
    assert!(low.is_finite() && plain.is_finite());
    // Each browser was a viewer, told to the API with its protocol.
    let (_, connections) = curl("GET", &format!("{}/api/connections", setup.http));
    assert!(connections.contains("\"hls\""), "{connections}");
}

/// The number of the last segment a media playlist lists, and whether it ended.
fn last_segment(playlist: &str) -> (u64, bool) {
    let parsed = m3u8_rs::parse_media_playlist_res(playlist.as_bytes())
        .unwrap_or_else(|error| panic!("not a media playlist ({error:?}): {playlist}"));
    (
        parsed.media_sequence + parsed.segments.len() as u64,
        parsed.end_list,
    )
}

#[test]
fn a_publisher_restart_within_the_grace_keeps_the_playlist_going() {
    let (rtmp, watch) = (free_port(), free_port());
    let mut args = strings(&["--listen", &format!("127.0.0.1:{rtmp}")]);
    args.extend(strings(&["--watch", &format!("127.0.0.1:{watch}")]));
    let _server = start_server(&args, rtmp);
    let publish = |seconds| {
        Process(
            Command::new("ffmpeg")
                .args(publish_args(
                    &format!("rtmp://127.0.0.1:{rtmp}/live/cam"),
                    seconds,
                ))
                .stdin(Stdio::null())
                .spawn()
                .unwrap(),
        )
    };
    let mut first = publish(8);
    let base = format!("http://127.0.0.1:{watch}/live/cam");
    let mut index = String::new();
    eventually("the multivariant playlist is served", || {
        let (status, text) = curl("GET", &format!("{base}/index.m3u8"));
        index = text;
        status == 200
    });
    let variant = first_variant(&index);
    let playlist = format!("{base}/{variant}");
    // The first publisher ends; another comes back at once, within the hub's grace.
    let status = first.0.wait().unwrap();
    assert!(status.success());
    let (before, ended) = last_segment(&curl("GET", &playlist).1);
    assert!(
        !ended,
        "the playlist goes on while the publisher may come back"
    );
    let _second = publish(20);
    eventually("the playlist goes on with the second publisher", || {
        let (status, text) = curl("GET", &playlist);
        let (now, ended) = last_segment(&text);
        status == 200 && !ended && now >= before + 3
    });
    // And it plays across the restart.
    let file = temp("restart.mkv");
    let output = read_with_ffmpeg(&format!("{base}/index.m3u8"), &file, 3);
    assert!(output.status.success());
    assert!(frames(&file, "v") >= 50);
    let _ = std::fs::remove_file(&file);
}

#[test]
fn with_hls_always_a_stream_is_packaged_before_anyone_asks() {
    let (rtmp, watch, http) = (free_port(), free_port(), free_port());
    let mut args = strings(&["--listen", &format!("127.0.0.1:{rtmp}")]);
    args.extend(strings(&["--watch", &format!("127.0.0.1:{watch}")]));
    args.extend(strings(&[
        "--http",
        &format!("127.0.0.1:{http}"),
        "--hls-always",
    ]));
    let _server = start_server(&args, rtmp);
    let _publisher = Process(
        Command::new("ffmpeg")
            .args(publish_args(
                &format!("rtmp://127.0.0.1:{rtmp}/live/cam"),
                30,
            ))
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    );
    eventually("the stream is live", || {
        curl("GET", &format!("http://127.0.0.1:{http}/api/streams"))
            .1
            .contains("\"cam\"")
    });
    // Nobody asks for eight seconds; the first playlist then lists what was packaged meanwhile.
    std::thread::sleep(Duration::from_secs(8));
    let base = format!("http://127.0.0.1:{watch}/live/cam");
    let (status, index) = curl("GET", &format!("{base}/index.m3u8"));
    assert_eq!(status, 200, "{index}");
    let (status, playlist) = curl("GET", &format!("{base}/{}", first_variant(&index)));
    assert_eq!(status, 200);
    let (segments, ended) = last_segment(&playlist);
    assert!(!ended);
    assert!(
        segments >= 3,
        "segments made before the first request: {playlist}"
    );
}
