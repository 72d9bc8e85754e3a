//! RTMP URL parsing: ports, schemes, and the app/stream split that ffmpeg and OBS users expect.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

use rtmp_session::{RtmpUrl, Scheme, UrlError};

fn split(url: &str) -> (String, String) {
    let url = RtmpUrl::parse(url).unwrap();
    (url.app, url.stream)
}

#[test]
fn ports_and_schemes() {
    let url = RtmpUrl::parse("rtmp://example.com/live/cam").unwrap();
    assert_eq!((url.scheme, url.port), (Scheme::Rtmp, 1935));
    let url = RtmpUrl::parse("RTMPS://example.com/live/cam").unwrap();
    assert_eq!((url.scheme, url.port), (Scheme::Rtmps, 443));
    let url = RtmpUrl::parse("rtmp://10.0.0.1:19350/live/cam").unwrap();
    assert_eq!((url.host.as_str(), url.port), ("10.0.0.1", 19350));
    let url = RtmpUrl::parse("rtmp://[::1]:1936/live/cam").unwrap();
    assert_eq!((url.host.as_str(), url.port), ("::1", 1936));
    assert_eq!(url.tc_url(), "rtmp://[::1]:1936/live");
    assert_eq!(url.to_string(), "rtmp://[::1]:1936/live/cam");
}

#[test]
fn app_and_stream_split_like_ffmpeg() {
    let cases = [
        ("rtmp://h/live/cam", "live", "cam"),
        ("rtmp://h/live/cam?token=abc", "live", "cam?token=abc"),
        ("rtmp://h/live/inst/cam", "live/inst", "cam"),
        ("rtmp://h/live/inst/a/b", "live/inst", "a/b"),
        ("rtmp://h/vod/mp4:dir/file.mp4", "vod", "mp4:dir/file.mp4"),
        ("rtmp://h/live", "live", ""),
        ("rtmp://h/live?key=1", "live", "?key=1"),
        // An empty instance stays in the app, as in ffmpeg.
        ("rtmp://h/app2//cam", "app2/", "cam"),
    ];
    for (url, app, stream) in cases {
        assert_eq!(split(url), (app.to_owned(), stream.to_owned()), "{url}");
    }
}

#[test]
fn an_explicit_app_overrides_the_guess() {
    let url = RtmpUrl::parse("rtmp://h/live/inst/cam")
        .unwrap()
        .with_app("live");
    assert_eq!(
        (url.app.as_str(), url.stream.as_str()),
        ("live", "inst/cam")
    );
    assert_eq!(url.tc_url(), "rtmp://h:1935/live");
    let url = url.with_app("live/inst/cam");
    assert_eq!(
        (url.app.as_str(), url.stream.as_str()),
        ("live/inst/cam", "")
    );
}

#[test]
fn bad_urls_are_typed_errors() {
    assert!(matches!(
        RtmpUrl::parse("http://h/a/b"),
        Err(UrlError::Scheme(_))
    ));
    assert!(matches!(
        RtmpUrl::parse("rtmp://:1935/a/b"),
        Err(UrlError::NoHost(_))
    ));
    assert!(matches!(
        RtmpUrl::parse("rtmp://h:0/a/b"),
        Err(UrlError::Port(_))
    ));
    assert!(matches!(
        RtmpUrl::parse("rtmp://h:x/a/b"),
        Err(UrlError::Port(_))
    ));
    assert!(matches!(
        RtmpUrl::parse("rtmp://h/"),
        Err(UrlError::NoApp(_))
    ));
    assert!(matches!(
        RtmpUrl::parse("rtmp://h"),
        Err(UrlError::NoApp(_))
    ));
    assert!(matches!(
        RtmpUrl::parse("rtmp://[::1/a/b"),
        Err(UrlError::Port(_))
    ));
}
