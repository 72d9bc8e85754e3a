//! Signed stream names against the example server, as an attacker would try them with real
//! ffmpeg: a secret given for both publishing and playing stops the server at start, a play
//! token does not publish, and a token signed for app `live`, name `x/y` does not publish app
//! `live/x`, name `y` (which the URL `rtmp://HOST/live/x/y` gives).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

mod common;

use std::time::{Duration, SystemTime};

use common::{free_port, publish_args, run, server_binary, start_server, strings};
use rtmp_hooks::{Action, SignedUrls};
use rtmp_server::StreamKey;

const PUBLISH_SECRET: &str = "publish-secret-for-tests";
const PLAY_SECRET: &str = "play-secret-for-tests";

fn key(app: &str, name: &str) -> StreamKey {
    StreamKey {
        app: app.into(),
        name: name.into(),
    }
}

/// The query letting its holder do `action` on `key` for ten minutes.
fn query(secret: &str, action: Action, key: &StreamKey) -> String {
    let expires = SystemTime::now() + Duration::from_secs(600);
    SignedUrls::query(secret.as_bytes(), action, key, expires)
}

/// Publishes two seconds to `url` with ffmpeg, `extra` options given before the output;
/// whether the server took it to the end.
fn publish(url: &str, extra: &[&str]) -> bool {
    let mut args = publish_args(url, 2);
    let output = args.pop().unwrap();
    args.extend(strings(extra));
    args.push(output);
    run("ffmpeg", &args).status.success()
}

/// What the server said running with `args`, which must end it with an error.
fn refused_at_start(args: &[String]) -> String {
    let output = run(server_binary(), args);
    let said = String::from_utf8_lossy(&output.stderr).to_string()
        + &String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "the server started: {said}");
    said
}

#[test]
fn a_secret_for_both_publishing_and_playing_stops_the_server_at_start() {
    let listen = format!("127.0.0.1:{}", free_port());
    let said = refused_at_start(&strings(&[
        "--listen",
        &listen,
        "--publish-secret",
        PUBLISH_SECRET,
        "--play-secret",
        PUBLISH_SECRET,
    ]));
    assert!(
        said.contains("publish secret and as a play secret"),
        "{said}"
    );
    assert!(!said.contains(PUBLISH_SECRET), "the secret shows: {said}");

    // The same from the file, among others.
    let file = std::env::temp_dir().join(format!("shared-secret-{}.toml", std::process::id()));
    std::fs::write(
        &file,
        format!(
            "[auth]\npublish_secret = [\"{PLAY_SECRET}\", \"{PUBLISH_SECRET}\"]\nplay_secret = \"{PUBLISH_SECRET}\"\n"
        ),
    )
    .unwrap();
    let said = refused_at_start(&strings(&[
        "--listen",
        &listen,
        "--config",
        file.to_str().unwrap(),
    ]));
    let _ = std::fs::remove_file(&file);
    assert!(
        said.contains("publish secret and as a play secret"),
        "{said}"
    );
    assert!(!said.contains(PUBLISH_SECRET), "the secret shows: {said}");
}

#[test]
fn a_token_publishes_only_the_stream_it_names() {
    let port = free_port();
    let _server = start_server(
        &strings(&[
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--publish-secret",
            PUBLISH_SECRET,
            "--play-secret",
            PLAY_SECRET,
        ]),
        port,
    );
    let base = format!("rtmp://127.0.0.1:{port}");
    let show = key("live", "show");

    // A play token, of the play secret or of the publish secret, does not publish.
    for (what, secret) in [("play", PLAY_SECRET), ("publish", PUBLISH_SECRET)] {
        let play = query(secret, Action::Play, &show);
        assert!(
            !publish(&format!("{base}/live/show?{play}"), &[]),
            "a play token of the {what} secret published"
        );
    }
    // A publish token of the play secret neither.
    let wrong = query(PLAY_SECRET, Action::Publish, &show);
    assert!(!publish(&format!("{base}/live/show?{wrong}"), &[]));

    // Signed for app `live`, name `x/y` (OBS: server rtmp://HOST/live, key x/y?...): that
    // stream publishes...
    let slashed = query(PUBLISH_SECRET, Action::Publish, &key("live", "x/y"));
    assert!(
        publish(
            &format!("{base}/live"),
            &[
                "-rtmp_app",
                "live",
                "-rtmp_playpath",
                &format!("x/y?{slashed}")
            ],
        ),
        "the signed name did not publish"
    );
    // ...but the same text read as app `live/x`, name `y` does not (with the text signed
    // once `live/x/y:EXPIRES`, it did)...
    assert!(
        !publish(&format!("{base}/live/x/y?{slashed}"), &[]),
        "the token of live + x/y published live/x + y"
    );
    // ...while that URL does publish with a token of its own.
    let own = query(PUBLISH_SECRET, Action::Publish, &key("live/x", "y"));
    assert!(
        publish(&format!("{base}/live/x/y?{own}"), &[]),
        "live/x + y did not publish with its own token"
    );

    // And a publish token of the publish secret publishes.
    let good = query(PUBLISH_SECRET, Action::Publish, &show);
    assert!(publish(&format!("{base}/live/show?{good}"), &[]));
}
