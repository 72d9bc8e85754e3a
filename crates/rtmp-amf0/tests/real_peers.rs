//! Command payloads recorded from ffmpeg and nginx-rtmp (fixtures/README.md): they decode to the
//! expected values, and our encoder gives back the very same bytes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

use rtmp_amf0::{Value, decode_all, encode_all};

fn decode_and_reencode(bytes: &[u8]) -> Vec<Value> {
    let values = decode_all(bytes).unwrap();
    let mut again = Vec::new();
    encode_all(&values, &mut again).unwrap();
    assert_eq!(again, bytes, "re-encoding differs from the peer's bytes");
    values
}

fn text<'a>(object: &'a Value, key: &str) -> &'a str {
    object.get(key).and_then(Value::as_str).unwrap()
}

#[test]
fn ffmpeg_publish_connect() {
    let values = decode_and_reencode(include_bytes!("fixtures/ffmpeg-publish-connect.amf0"));
    assert_eq!(values[0], Value::from("connect"));
    assert_eq!(values[1], Value::Number(1.0));
    let object = &values[2];
    assert_eq!(text(object, "app"), "live");
    assert_eq!(text(object, "type"), "nonprivate");
    assert_eq!(
        text(object, "flashVer"),
        "FMLE/3.0 (compatible; Lavf59.27.100)"
    );
    assert_eq!(text(object, "tcUrl"), "rtmp://127.0.0.1:19401/live");
    let names: Vec<&str> = object.as_object().unwrap().iter().map(|(k, _)| k).collect();
    assert_eq!(names, ["app", "type", "flashVer", "tcUrl"]);
}

#[test]
fn ffmpeg_play_connect() {
    let values = decode_and_reencode(include_bytes!("fixtures/ffmpeg-play-connect.amf0"));
    let object = &values[2];
    assert_eq!(text(object, "flashVer"), "LNX 9,0,124,2");
    assert_eq!(object.get("fpad"), Some(&Value::Boolean(false)));
    assert_eq!(
        object.get("audioCodecs").and_then(Value::as_f64),
        Some(4071.0)
    );
    assert_eq!(
        object.get("videoCodecs").and_then(Value::as_f64),
        Some(252.0)
    );
}

#[test]
fn ffmpeg_metadata_ecma_array() {
    let values = decode_and_reencode(include_bytes!("fixtures/ffmpeg-publish-metadata.amf0"));
    assert_eq!(values[0], Value::from("@setDataFrame"));
    assert_eq!(values[1], Value::from("onMetaData"));
    assert!(matches!(values[2], Value::EcmaArray(_)));
    assert_eq!(values[2].get("height").and_then(Value::as_f64), Some(240.0));
    assert_eq!(
        values[2].get("videocodecid").and_then(Value::as_f64),
        Some(7.0)
    );
    assert_eq!(
        values[2].get("audiocodecid").and_then(Value::as_f64),
        Some(10.0)
    );
}

#[test]
fn nginx_connect_result() {
    let values = decode_and_reencode(include_bytes!("fixtures/nginx-connect-result.amf0"));
    assert_eq!(values[0], Value::from("_result"));
    assert_eq!(text(&values[3], "code"), "NetConnection.Connect.Success");
    assert_eq!(values[3].get("objectEncoding"), Some(&Value::Number(0.0)));
}
