//! The `record` example's router against a real publisher: ffmpeg publishes, the router writes
//! the stream to an FLV file from its own thread, and ffmpeg decodes the file back.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

mod common;
#[path = "../record.rs"]
mod record;

use std::process::{Command, Stdio};
use std::time::Duration;

use record::Recorder;
use rtmp_server::{Server, StreamKey};

const LIMIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_publishes_into_a_recording_router() {
    let dir = std::env::temp_dir().join(format!("rtmp-record-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let recorder = Recorder::new(&dir);
    let server = Server::builder()
        .listen("127.0.0.1:0".parse().unwrap())
        .router(recorder.clone())
        .bind()
        .await
        .unwrap();
    let port = server.local_addrs()[0].port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));

    let url = format!("rtmp://127.0.0.1:{port}/live/recorded");
    let publish = tokio::process::Command::new("ffmpeg")
        .args(common::publish_args(&url, 3))
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .status();
    let status = tokio::time::timeout(LIMIT, publish)
        .await
        .expect("ffmpeg did not finish")
        .expect("cannot run ffmpeg: run .ci/install-peers");
    assert!(status.success());

    let file = recorder.file(&StreamKey {
        app: "live".into(),
        name: "recorded".into(),
    });
    // The writer thread ends when the publisher's queue closes; give it a moment to flush.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let decoded = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&file)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    assert!(decoded.status.success());
    assert!(
        decoded.stderr.is_empty(),
        "decode errors: {}",
        String::from_utf8_lossy(&decoded.stderr)
    );
    assert_eq!(
        common::frames(&file, "v"),
        75,
        "3 s at 25 fps recorded whole"
    );
    let _ = std::fs::remove_dir_all(&dir);
    let _ = stop.send(());
    tokio::time::timeout(LIMIT, serving)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
