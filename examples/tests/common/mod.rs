//! Shared by the examples' tests: what ffprobe decodes of a saved file.

#![allow(clippy::unwrap_used, dead_code)] // test code, each test binary uses a part

use std::path::Path;
use std::process::Command;

/// ffmpeg arguments publishing `seconds` of a 320x240 test picture at 25 fps (a keyframe
/// every second) and a sine tone, as H.264/AAC in real time, to `url`.
pub fn publish_args(url: &str, seconds: u32) -> Vec<String> {
    let seconds = seconds.to_string();
    [
        "-nostdin",
        "-loglevel",
        "error",
        "-re",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=25",
        "-f",
        "lavfi",
        "-i",
        "sine",
        "-t",
        &seconds,
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
        url,
    ]
    .map(str::to_owned)
    .to_vec()
}

/// Frames of `stream` ("v" or "a") that ffprobe decodes in `file` (0 when it cannot).
pub fn frames(file: &Path, stream: &str) -> usize {
    let output = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", stream])
        .args(["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"])
        .arg(file)
        .output()
        .unwrap_or_else(|error| panic!("cannot run ffprobe ({error}): run .ci/install-peers"));
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}
