//! Data messages (type 18, and 15 with its format byte): a name and values.

use rtmp_amf0::Value;

use crate::error::{DecodeError, DecodeErrorKind};

/// The name ffmpeg, OBS and Flash encoders put before `onMetaData` when publishing.
pub const SET_DATA_FRAME: &str = "@setDataFrame";
/// The name of stream metadata as players receive it.
pub const ON_METADATA: &str = "onMetaData";
/// The name of the message that lets Flash players read raw audio and video.
pub const SAMPLE_ACCESS: &str = "|RtmpSampleAccess";

/// Whether an AMF0 data payload (type 18) starts with the handler name `name`, read without
/// decoding or allocating (for checks on every message of a stream).
///
/// ```
/// use rtmp_message::{Data, ON_METADATA, data_name_is};
///
/// let payload = rtmp_message::Message::Data(Data::on_metadata(rtmp_amf0::Value::Null)).encode()?;
/// assert!(data_name_is(&payload, ON_METADATA));
/// assert!(!data_name_is(&payload, "onMeta"));
/// # Ok::<(), rtmp_message::EncodeError>(())
/// ```
pub fn data_name_is(payload: &[u8], name: &str) -> bool {
    let Some((&[marker, high, low], rest)) = payload.split_first_chunk::<3>() else {
        return false;
    };
    marker == rtmp_amf0::marker::STRING
        && usize::from(u16::from_be_bytes([high, low])) == name.len()
        && rest.starts_with(name.as_bytes())
}

/// A data message: a handler name and its values.
#[derive(Debug, Clone, PartialEq)]
pub struct Data {
    /// The handler name, e.g. "@setDataFrame" or "onMetaData".
    pub name: String,
    /// The values after the name.
    pub values: Vec<Value>,
}

impl Data {
    /// A data message from its AMF0 values; the first must be the name.
    pub fn from_values(mut values: Vec<Value>, type_id: u8) -> Result<Self, DecodeError> {
        let name = match values.first() {
            Some(Value::String(_)) => match values.remove(0) {
                Value::String(name) => name,
                _ => String::new(),
            },
            Some(_) => {
                return Err(DecodeError::new(
                    type_id,
                    "data name",
                    DecodeErrorKind::WrongType("a string"),
                ));
            }
            None => {
                return Err(DecodeError::new(
                    type_id,
                    "data name",
                    DecodeErrorKind::Missing,
                ));
            }
        };
        Ok(Self { name, values })
    }

    /// The AMF0 values: the name, then the values.
    pub fn to_values(&self) -> Vec<Value> {
        std::iter::once(Value::from(self.name.as_str()))
            .chain(self.values.iter().cloned())
            .collect()
    }

    /// `@setDataFrame("onMetaData", metadata)`, as a publisher sends metadata.
    pub fn set_data_frame(metadata: Value) -> Self {
        Self {
            name: SET_DATA_FRAME.to_owned(),
            values: vec![Value::from(ON_METADATA), metadata],
        }
    }

    /// `onMetaData(metadata)`, as a player receives metadata.
    pub fn on_metadata(metadata: Value) -> Self {
        Self {
            name: ON_METADATA.to_owned(),
            values: vec![metadata],
        }
    }

    /// `|RtmpSampleAccess(audio, video)`.
    pub fn sample_access(audio: bool, video: bool) -> Self {
        Self {
            name: SAMPLE_ACCESS.to_owned(),
            values: vec![audio.into(), video.into()],
        }
    }

    /// The metadata object of `onMetaData(metadata)` or `@setDataFrame("onMetaData", metadata)`.
    pub fn metadata(&self) -> Option<&Value> {
        match (self.name.as_str(), self.values.as_slice()) {
            (ON_METADATA, [metadata, ..]) => Some(metadata),
            (SET_DATA_FRAME, [Value::String(name), metadata, ..]) if name == ON_METADATA => {
                Some(metadata)
            }
            _ => None,
        }
    }

    /// The message players should receive: `@setDataFrame(name, values...)` becomes
    /// `name(values...)`; anything else is unchanged.
    pub fn without_set_data_frame(self) -> Self {
        if self.name != SET_DATA_FRAME {
            return self;
        }
        let mut values = self.values.into_iter();
        match values.next() {
            Some(Value::String(name)) => Self {
                name,
                values: values.collect(),
            },
            first => Self {
                name: SET_DATA_FRAME.to_owned(),
                values: first.into_iter().chain(values).collect(),
            },
        }
    }
}
