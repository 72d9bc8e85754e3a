//! The `connect` command and its command object, including the Enhanced RTMP properties.

use rtmp_amf0::{Object, Value};

use super::args::lenient_number;

/// `connect(transaction id, command object, optional arguments)`.
///
/// The command object's well-known properties are typed; the others are kept in `extra`, in
/// order. Encoding writes the typed properties first (in the order Flash Player used), then
/// `extra`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Connect {
    /// The transaction id (1 from every client seen).
    pub transaction_id: f64,
    /// The application, e.g. "live" (empty when the client sent none).
    pub app: String,
    /// The client's version string, e.g. "FMLE/3.0 (compatible; Lavf59.27.100)".
    pub flash_ver: Option<String>,
    /// The URL of the SWF that connected.
    pub swf_url: Option<String>,
    /// The server URL: `rtmp://host[:port]/app[/instance]`.
    pub tc_url: Option<String>,
    /// Capabilities flags.
    pub capabilities: Option<f64>,
    /// Legacy audio codec flags.
    pub audio_codecs: Option<f64>,
    /// Legacy video codec flags.
    pub video_codecs: Option<f64>,
    /// The URL of the web page the SWF was loaded from.
    pub page_url: Option<String>,
    /// 0 for AMF0, 3 for AMF3.
    pub object_encoding: Option<f64>,
    /// Enhanced RTMP: FourCCs the client supports ("*" for any).
    pub fourcc_list: Option<Vec<String>>,
    /// Enhanced RTMP v2: video FourCC to flags (0x01 decode, 0x02 encode, 0x04 forward).
    pub video_fourcc_info_map: Option<Vec<(String, u32)>>,
    /// Enhanced RTMP v2: audio FourCC to flags.
    pub audio_fourcc_info_map: Option<Vec<(String, u32)>>,
    /// Enhanced RTMP v2: extended capabilities (0x01 reconnect, 0x02 multitrack, 0x04 ModEx,
    /// 0x08 timestamp nano offset).
    pub caps_ex: Option<u32>,
    /// Other properties of the command object, in order.
    pub extra: Object,
    /// Optional arguments after the command object.
    pub arguments: Vec<Value>,
}

const TYPED: &[&str] = &[
    "app",
    "flashVer",
    "swfUrl",
    "tcUrl",
    "capabilities",
    "audioCodecs",
    "videoCodecs",
    "pageUrl",
    "objectEncoding",
    "fourCcList",
    "videoFourCcInfoMap",
    "audioFourCcInfoMap",
    "capsEx",
];

fn flags(value: &Value) -> Option<u32> {
    lenient_number(value)
        .filter(|number| number.is_finite() && *number >= 0.0)
        .map(|number| number.min(f64::from(u32::MAX)) as u32)
}

fn info_map(value: &Value) -> Option<Vec<(String, u32)>> {
    let map = value.as_object()?;
    Some(
        map.iter()
            .filter_map(|(fourcc, value)| Some((fourcc.to_owned(), flags(value)?)))
            .collect(),
    )
}

impl Connect {
    /// Reads the command object (a missing or null one gives an empty app).
    pub(crate) fn from_parts(
        transaction_id: f64,
        object: Option<&Object>,
        arguments: Vec<Value>,
    ) -> Self {
        let empty = Object::new();
        let object = object.unwrap_or(&empty);
        let text = |key| object.get(key).and_then(Value::as_str).map(str::to_owned);
        let number = |key| object.get(key).and_then(lenient_number);
        Connect {
            transaction_id,
            app: text("app").unwrap_or_default(),
            flash_ver: text("flashVer"),
            swf_url: text("swfUrl"),
            tc_url: text("tcUrl"),
            capabilities: number("capabilities"),
            audio_codecs: number("audioCodecs"),
            video_codecs: number("videoCodecs"),
            page_url: text("pageUrl"),
            object_encoding: number("objectEncoding"),
            fourcc_list: object
                .get("fourCcList")
                .and_then(Value::as_array)
                .map(|list| {
                    list.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                }),
            video_fourcc_info_map: object.get("videoFourCcInfoMap").and_then(info_map),
            audio_fourcc_info_map: object.get("audioFourCcInfoMap").and_then(info_map),
            caps_ex: object.get("capsEx").and_then(flags),
            extra: object
                .iter()
                .filter(|(key, _)| !TYPED.contains(key))
                .map(|(key, value)| (key, value.clone()))
                .collect(),
            arguments,
        }
    }

    /// Reads the well-known properties of a command object (a connect's, or the `_result`
    /// of one, which carries the same Enhanced RTMP properties).
    ///
    /// ```
    /// use rtmp_amf0::Object;
    /// use rtmp_message::Connect;
    ///
    /// let mut object = Object::new();
    /// object.insert("app", "live");
    /// object.insert("capsEx", 1.0);
    /// let connect = Connect::from_command_object(&object);
    /// assert_eq!((connect.app.as_str(), connect.caps_ex), ("live", Some(1)));
    /// ```
    pub fn from_command_object(object: &Object) -> Self {
        Self::from_parts(0.0, Some(object), Vec::new())
    }

    /// The command object.
    pub fn command_object(&self) -> Object {
        let mut object = Object::new();
        object.push("app", self.app.as_str());
        let mut text = |key: &str, value: &Option<String>| {
            if let Some(value) = value {
                object.push(key, value.as_str());
            }
        };
        text("flashVer", &self.flash_ver);
        text("swfUrl", &self.swf_url);
        text("tcUrl", &self.tc_url);
        for (key, value) in [
            ("capabilities", self.capabilities),
            ("audioCodecs", self.audio_codecs),
            ("videoCodecs", self.video_codecs),
        ] {
            if let Some(value) = value {
                object.push(key, value);
            }
        }
        if let Some(page_url) = &self.page_url {
            object.push("pageUrl", page_url.as_str());
        }
        if let Some(object_encoding) = self.object_encoding {
            object.push("objectEncoding", object_encoding);
        }
        if let Some(list) = &self.fourcc_list {
            let list = list
                .iter()
                .map(|fourcc| Value::from(fourcc.as_str()))
                .collect::<Vec<_>>();
            object.push("fourCcList", list);
        }
        for (key, map) in [
            ("videoFourCcInfoMap", &self.video_fourcc_info_map),
            ("audioFourCcInfoMap", &self.audio_fourcc_info_map),
        ] {
            if let Some(map) = map {
                let map: Object = map
                    .iter()
                    .map(|(fourcc, flags)| (fourcc.as_str(), *flags))
                    .collect();
                object.push(key, map);
            }
        }
        if let Some(caps_ex) = self.caps_ex {
            object.push("capsEx", caps_ex);
        }
        for (key, value) in self.extra.iter() {
            object.push(key, value.clone());
        }
        object
    }

    /// Whether the client announced Enhanced RTMP (a `fourCcList` or a FourCC info map).
    pub fn is_enhanced(&self) -> bool {
        self.fourcc_list.is_some()
            || self.video_fourcc_info_map.is_some()
            || self.audio_fourcc_info_map.is_some()
    }
}
