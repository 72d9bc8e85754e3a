//! The `vod` example, a router of its own that plays files: ffmpeg and rtmpdump play an FLV
//! file ffmpeg made, paced in real time, and decode every frame; a name with no file is
//! refused with NetStream.Play.StreamNotFound.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Process, example_binary, frames, free_port, run, strings};

/// Seconds of media in the file played.
const CLIP: u32 = 4;

/// A directory holding `clip.flv`: `CLIP` seconds of 25 fps H.264 (a keyframe a second) and
/// AAC, made by ffmpeg as fast as it can.
fn media_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rtmp-vod-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let clip = dir.join("clip.flv");
    let mut args = strings(&["-nostdin", "-loglevel", "error", "-f", "lavfi", "-i"]);
    args.push(format!("testsrc2=size=320x240:rate=25:duration={CLIP}"));
    args.extend(strings(&["-f", "lavfi", "-i"]));
    args.push(format!("sine=duration={CLIP}"));
    args.extend(strings(&[
        "-pix_fmt", "yuv420p", "-c:v", "libx264", "-g", "25", "-c:a", "aac", "-f", "flv",
    ]));
    args.push(clip.to_str().unwrap().to_owned());
    let made = run("ffmpeg", &args);
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    dir
}

/// The vod example on `port`, serving `dir`.
fn start_vod(dir: &Path, port: u16) -> Process {
    let child = Command::new(example_binary("vod"))
        .args(["--listen", &format!("127.0.0.1:{port}"), "--dir"])
        .arg(dir)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let process = Process(child);
    common::eventually("the vod example listens", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    process
}

#[test]
fn ffmpeg_and_rtmpdump_play_a_file_in_real_time() {
    let dir = media_dir("play");
    let port = free_port();
    let _vod = start_vod(&dir, port);
    let url = format!("rtmp://127.0.0.1:{port}/vod/clip");
    let in_file = frames(&dir.join("clip.flv"), "v");
    assert_eq!(in_file, 25 * CLIP as usize);

    // ffmpeg plays it to the end (the server says the stream ended), copying into a file.
    let copy = dir.join("ffmpeg.flv");
    let start = Instant::now();
    let mut args = strings(&["-nostdin", "-loglevel", "error", "-i", &url, "-c", "copy"]);
    args.push(copy.to_str().unwrap().to_owned());
    let played = run("ffmpeg", &args);
    let elapsed = start.elapsed();
    assert!(
        played.status.success(),
        "{}",
        String::from_utf8_lossy(&played.stderr)
    );
    // Paced: a file of CLIP seconds takes about that long, not the moment a copy would.
    assert!(
        elapsed >= Duration::from_secs(u64::from(CLIP) - 1),
        "{elapsed:?}"
    );
    let (video, audio) = (frames(&copy, "v"), frames(&copy, "a"));
    eprintln!("ffmpeg: {video} video and {audio} audio frames in {elapsed:?}");
    assert_eq!(video, in_file, "every frame, from the first keyframe");
    assert!(audio > 40 * CLIP as usize, "{audio} audio frames");

    // rtmpdump too (it ends at the same notice).
    let dumped = dir.join("rtmpdump.flv");
    let mut args = strings(&["-q", "-r", &url, "-o"]);
    args.push(dumped.to_str().unwrap().to_owned());
    run("rtmpdump", &args);
    let video = frames(&dumped, "v");
    eprintln!("rtmpdump: {video} video frames");
    assert_eq!(video, in_file);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_name_with_no_file_is_not_found() {
    let dir = media_dir("missing");
    let port = free_port();
    let _vod = start_vod(&dir, port);
    for name in ["missing", "..%2Fclip", ".clip"] {
        let url = format!("rtmp://127.0.0.1:{port}/vod/{name}");
        // rtmpdump shows the status code (and exits with success all the same) ...
        let played = run("rtmpdump", &strings(&["-r", &url, "-o", "/dev/null"]));
        let said = String::from_utf8_lossy(&played.stderr);
        assert!(
            said.contains("NetStream.Play.StreamNotFound"),
            "{name}: {said}"
        );
        // ... and ffmpeg fails with the description.
        let played = run(
            "ffmpeg",
            &strings(&["-nostdin", "-i", &url, "-f", "null", "-"]),
        );
        let said = String::from_utf8_lossy(&played.stderr);
        assert!(!played.status.success());
        assert!(said.contains("no file for vod/"), "{name}: {said}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
