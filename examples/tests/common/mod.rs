//! Shared by the examples' tests: what ffprobe decodes of a saved file.

#![allow(clippy::unwrap_used)] // test code

use std::path::Path;
use std::process::Command;

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
