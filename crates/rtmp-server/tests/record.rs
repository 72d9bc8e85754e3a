//! The recorder against real publishers: ffmpeg 5.1 publishes H.264/AAC, ffmpeg 9 publishes
//! HEVC and AV1 (Enhanced RTMP) and a multitrack stream; each recording, cut into segments,
//! decodes without a single error line, and each segment's metadata gives its length and size.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::{TestServer, publish_args, spawn, wait};
use rtmp_server::{
    MemoryBudget, RecordConfig, RecordError, Recorder, Rendition, Router, ServerConfig,
};

fn recorder(server: &TestServer, dir: &Path, segment: Option<Duration>) -> Recorder {
    let router: Arc<dyn Router> = server.router.clone();
    let mut config = RecordConfig::new(dir);
    config.segment_duration = segment;
    Recorder::new(router, MemoryBudget::new(1 << 30), config)
}

/// The files recorded for `live/name`, oldest first.
fn files(dir: &Path, name: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("live"))
        .map(|entries| entries.map(|entry| entry.unwrap().path()).collect())
        .unwrap_or_default();
    files.retain(|file| {
        file.file_name()
            .and_then(|file| file.to_str())
            .is_some_and(|file| file.starts_with(&format!("{name}-")))
    });
    files.sort();
    files
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rtmp-record-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A recorded file's onMetaData `duration` and `filesize`, and its latest tag timestamp.
fn totals(file: &Path) -> (f64, f64, u32) {
    let mut reader = rtmp_flv::FlvReader::new();
    reader.push(&std::fs::read(file).unwrap());
    let mut tags = std::iter::from_fn(|| reader.next_tag().unwrap());
    let metadata = tags.next().expect("an empty file");
    assert_eq!(metadata.tag_type, 18, "{file:?} starts with its metadata");
    let values = rtmp_amf0::decode_all(&metadata.data).unwrap();
    let number = |key: &str| match values.get(1) {
        Some(rtmp_amf0::Value::EcmaArray(properties)) => match properties.get(key) {
            Some(rtmp_amf0::Value::Number(number)) => *number,
            other => panic!("{key}: {other:?}"),
        },
        other => panic!("{other:?}"),
    };
    let last = tags.map(|tag| tag.timestamp).max().unwrap_or(0);
    (number("duration"), number("filesize"), last)
}

/// The length of `file` as ffprobe gives it, in seconds.
fn probe_duration(file: &Path) -> f64 {
    let output = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
        ])
        .arg(file)
        .output()
        .expect("ffprobe runs");
    let text = String::from_utf8_lossy(&output.stdout);
    text.trim()
        .parse()
        .unwrap_or_else(|_| panic!("ffprobe said {text:?}"))
}

/// Waits (bounded) until the recorder has finished every recording.
async fn finished(recorder: &Recorder) {
    common::eventually("the recordings end with their publishers", || {
        recorder.recording().is_empty()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h264_is_recorded_in_segments_that_each_decode() {
    let server = TestServer::start(ServerConfig::default()).await;
    let dir = temp_dir("h264");
    let recorder = recorder(&server, &dir, Some(Duration::from_secs(2)));
    let key = common::key("segments");
    // Started before the publisher: the recorder waits for it like a player.
    recorder.start(&key).unwrap();
    assert_eq!(
        recorder.start(&key),
        Err(RecordError::AlreadyRecording(key.clone()))
    );
    let mut publisher = spawn(
        "ffmpeg",
        &publish_args(&server.url("live/segments"), 7, "300k"),
    );
    assert!(wait(&mut publisher).await.success());
    finished(&recorder).await;

    let files = files(&dir, "segments");
    assert!(files.len() >= 3, "7 s in segments of 2 s: {files:?}");
    for file in &files {
        // Every segment starts with the headers and a keyframe: it decodes on its own.
        let frames = common::peers::decode(Path::new("ffmpeg"), &[], file);
        assert!(
            frames.len() == 2 && frames.iter().all(|&count| count > 0),
            "{file:?}: {frames:?}"
        );
        // Its onMetaData says how long and how large it is, and ffprobe reads the length.
        let (duration, filesize, last) = totals(file);
        let length = std::fs::metadata(file).unwrap().len();
        assert_eq!(filesize, length as f64, "{file:?}");
        assert_eq!(duration, f64::from(last) / 1000.0, "{file:?}");
        assert!(duration > 0.5, "{file:?}: {duration} s");
        let probed = probe_duration(file);
        assert!(
            (probed - duration).abs() < 0.001,
            "{probed} against {duration}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hevc_av1_and_multitrack_recordings_decode_in_ffmpeg9() {
    let server = TestServer::start(ServerConfig::default()).await;
    let dir = temp_dir("enhanced");
    let recorder = recorder(&server, &dir, None);
    let ffmpeg9 = common::peers::ffmpeg9();
    let streams = [
        (
            "hevc",
            common::publish_sample(&server.url("live/hevc"), "hevc-aac-enhanced.flv", 0),
        ),
        (
            "av1",
            common::publish_sample(&server.url("live/av1"), "av1-opus-enhanced.flv", 0),
        ),
        (
            "multitrack",
            common::multitrack_args(&server.url("live/multitrack"), 4),
        ),
    ];
    // A second recorder takes one rendition of the multitrack stream: video track 1.
    let one_dir = temp_dir("one-rendition");
    let router: Arc<dyn Router> = server.router.clone();
    let mut config = RecordConfig::new(&one_dir);
    config.rendition = Rendition::One { video: 1, audio: 0 };
    let one = Recorder::new(router, MemoryBudget::new(1 << 30), config);
    one.start(&common::key("multitrack")).unwrap();
    let mut publishers = Vec::new();
    for (name, args) in &streams {
        recorder.start(&common::key(name)).unwrap();
        publishers.push(spawn(&ffmpeg9, args));
    }
    for publisher in &mut publishers {
        assert!(wait(publisher).await.success());
    }
    finished(&recorder).await;
    finished(&one).await;

    // Tracks with decoded frames: video and audio, and for multitrack both video renditions
    // and both audio tracks; of one rendition, its video and audio.
    for (dir, name, tracks) in [
        (&dir, "hevc", 2),
        (&dir, "av1", 2),
        (&dir, "multitrack", 4),
        (&one_dir, "multitrack", 2),
    ] {
        let files = files(dir, name);
        assert_eq!(files.len(), 1, "{name}: {files:?}");
        let frames = common::peers::decode(&ffmpeg9, &[], &files[0]);
        assert!(
            frames.len() == tracks && frames.iter().all(|&count| count > 0),
            "{name}: {frames:?}"
        );
    }
    let one_file = &files(&one_dir, "multitrack")[0];
    let probe = std::process::Command::new(&ffmpeg9)
        .args(["-hide_banner", "-i"])
        .arg(one_file)
        .output()
        .unwrap();
    let streams = String::from_utf8_lossy(&probe.stderr);
    assert!(
        streams.contains("160x120") && !streams.contains("320x240"),
        "{streams}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&one_dir);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_a_recording_finishes_its_file_while_the_stream_goes_on() {
    let server = TestServer::start(ServerConfig::default()).await;
    let dir = temp_dir("stop");
    let recorder = recorder(&server, &dir, None);
    let mut publisher = spawn(
        "ffmpeg",
        &publish_args(&server.url("live/stopped"), 6, "300k"),
    );
    server.published("stopped").await;
    let key = common::key("stopped");
    recorder.start(&key).unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(recorder.stop(&key));
    assert!(!recorder.stop(&key), "stopped already");
    finished(&recorder).await;
    let files = files(&dir, "stopped");
    assert_eq!(files.len(), 1);
    let frames = common::peers::decode(Path::new("ffmpeg"), &[], &files[0]);
    assert!(frames.iter().all(|&count| count > 0), "{frames:?}");
    // The publisher was never disturbed.
    assert!(wait(&mut publisher).await.success());
    let _ = std::fs::remove_dir_all(&dir);
    server.stop().await;
}

/// A small tmpfs mounted at a directory of its own (unmounted and removed when dropped).
struct SmallDisk(PathBuf);

impl SmallDisk {
    /// Needs root, as CI has: a test that cannot mount fails rather than skips.
    fn mount(name: &str, size: &str) -> Self {
        let dir = temp_dir(name);
        std::fs::create_dir_all(&dir).unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .status()
            .expect("mount runs");
        assert!(status.success(), "mounting a tmpfs needs root");
        Self(dir)
    }

    /// Bytes free, as df gives them.
    fn free(&self) -> u64 {
        let output = std::process::Command::new("df")
            .args(["-B1", "--output=avail"])
            .arg(&self.0)
            .output()
            .expect("df runs");
        let text = String::from_utf8_lossy(&output.stdout);
        text.lines().nth(1).unwrap().trim().parse().unwrap()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_pauses_a_recording_that_resumes_when_there_is_room() {
    let server = TestServer::start(ServerConfig::default()).await;
    let disk = SmallDisk::mount("full", "2m");
    // Room for a few seconds of the stream.
    let filler = disk.0.join("filler");
    std::fs::write(&filler, vec![1u8; 1600 << 10]).unwrap();
    let recorder = recorder(&server, &disk.0, Some(Duration::from_secs(2)));
    recorder.start(&common::key("full")).unwrap();
    let mut publisher = spawn(
        "ffmpeg",
        &publish_args(&server.url("live/full"), 18, "300k"),
    );
    common::eventually("the disk fills", || disk.free() < 64 << 10).await;
    // Full for a while, then room again.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = files(&disk.0, "full");
    std::fs::remove_file(&filler).unwrap();
    let room_at = std::time::SystemTime::now();
    assert!(wait(&mut publisher).await.success());
    finished(&recorder).await;

    let after = files(&disk.0, "full");
    assert!(
        !before.is_empty(),
        "nothing was recorded before the disk filled"
    );
    let resumed: Vec<&PathBuf> = after
        .iter()
        .filter(|file| std::fs::metadata(file).unwrap().created().unwrap() > room_at)
        .collect();
    assert!(
        !resumed.is_empty(),
        "no file once there was room: {after:?}"
    );
    // Every file, the one the disk cut short too, holds media, decodes without an error line
    // and says how long and large it is.
    for file in &after {
        let frames = common::peers::decode(Path::new("ffmpeg"), &[], file);
        assert!(
            frames.len() == 2 && frames.iter().all(|&count| count > 0),
            "{file:?}: {frames:?}"
        );
        let (duration, filesize, last) = totals(file);
        assert_eq!(
            filesize,
            std::fs::metadata(file).unwrap().len() as f64,
            "{file:?}"
        );
        assert_eq!(duration, f64::from(last) / 1000.0, "{file:?}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_that_never_had_room_leaves_no_file() {
    let server = TestServer::start(ServerConfig::default()).await;
    let disk = SmallDisk::mount("noroom", "1m");
    // The directory exists; then not a byte is left.
    std::fs::create_dir_all(disk.0.join("live")).unwrap();
    let _ = std::fs::write(disk.0.join("filler"), vec![1u8; 2 << 20]);
    assert!(disk.free() < 4096, "{} bytes free", disk.free());
    let recorder = recorder(&server, &disk.0, None);
    recorder.start(&common::key("noroom")).unwrap();
    // Less than the recorder gathers before its first write: it fails only at the end.
    let mut publisher = spawn(
        "ffmpeg",
        &publish_args(&server.url("live/noroom"), 1, "100k"),
    );
    assert!(wait(&mut publisher).await.success());
    finished(&recorder).await;
    let left = files(&disk.0, "noroom");
    assert!(left.is_empty(), "files left without media: {left:?}");
    server.stop().await;
}
