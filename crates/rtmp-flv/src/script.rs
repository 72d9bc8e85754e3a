//! Script data tags (type 18): a name such as "onMetaData" and AMF0 values.

use bytes::Bytes;
use rtmp_amf0::Value;

use crate::error::{Error, invalid};

/// Decodes script data into its name and values.
pub fn parse_script_data(data: &[u8]) -> Result<(String, Vec<Value>), Error> {
    let mut values = rtmp_amf0::decode_all(data).map_err(|error| Error::Invalid {
        what: "script data",
        reason: match error.kind {
            rtmp_amf0::DecodeErrorKind::UnexpectedEof { .. } => "AMF0 value is cut short",
            rtmp_amf0::DecodeErrorKind::InvalidUtf8 => "AMF0 text is not UTF-8",
            _ => "AMF0 value does not decode",
        },
    })?;
    if !matches!(values.first(), Some(Value::String(_))) {
        return Err(invalid("script data", "does not start with a name"));
    }
    let Value::String(name) = values.remove(0) else {
        return Err(invalid("script data", "does not start with a name"));
    };
    Ok((name, values))
}

/// Encodes script data, e.g. `("onMetaData", [metadata])`.
pub fn script_data(name: &str, values: &[Value]) -> Result<Bytes, Error> {
    let mut out = Vec::new();
    let name = Value::from(name);
    rtmp_amf0::encode_all(std::iter::once(&name).chain(values), &mut out).map_err(|_| {
        Error::Invalid {
            what: "script data",
            reason: "a value cannot be encoded in AMF0",
        }
    })?;
    Ok(Bytes::from(out))
}
