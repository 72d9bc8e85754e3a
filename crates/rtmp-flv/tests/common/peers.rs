//! Real peers for tests (shared by rtmp-flv's and rtmp-server's tests): where ffmpeg 9 is, and
//! decoding a file with an ffmpeg that must report no error.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// ffmpeg 9 (Enhanced RTMP): RTMP_FFMPEG9, or target/peers/ffmpeg9 from `.ci/install-peers`.
/// Missing, it fails the test.
pub fn ffmpeg9() -> PathBuf {
    if let Some(path) = std::env::var_os("RTMP_FFMPEG9") {
        return path.into();
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/peers/ffmpeg9");
    assert!(
        path.exists(),
        "ffmpeg 9 is needed: run .ci/install-peers (or set RTMP_FFMPEG9)"
    );
    path
}

/// Decodes `file` with `ffmpeg` (`input_options` go before `-i`), asserts that it succeeded
/// without a single error line, and returns the decoded frames per stream index.
pub fn decode(ffmpeg: &Path, input_options: &[&str], file: &Path) -> Vec<usize> {
    let output = Command::new(ffmpeg)
        .args(["-v", "error", "-nostdin"])
        .args(input_options)
        .arg("-i")
        .arg(file)
        .args(["-map", "0", "-f", "framecrc", "-"])
        .output()
        .unwrap_or_else(|error| {
            panic!(
                "cannot run {} ({error}): run .ci/install-peers",
                ffmpeg.display()
            )
        });
    let errors = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && errors.trim().is_empty(),
        "{} on {}: {errors}",
        ffmpeg.display(),
        file.display()
    );
    let mut counts = Vec::new();
    for line in String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| !line.starts_with('#'))
    {
        let index: usize = line.split(',').next().unwrap().trim().parse().unwrap();
        if counts.len() <= index {
            counts.resize(index + 1, 0);
        }
        counts[index] += 1;
    }
    counts
}
