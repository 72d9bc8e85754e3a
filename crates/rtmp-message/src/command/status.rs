//! onStatus and result information objects: the one place that maps status codes.

use rtmp_amf0::{Object, Value};

/// The level of a status: "status", "warning" or "error".
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Level {
    /// "status": something went as asked.
    Status,
    /// "warning".
    Warning,
    /// "error": something failed.
    Error,
    /// Any other level, kept as sent.
    Other(String),
}

impl Level {
    /// The text on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Level::Status => "status",
            Level::Warning => "warning",
            Level::Error => "error",
            Level::Other(text) => text,
        }
    }

    /// The level a text names.
    pub fn parse(text: &str) -> Self {
        match text {
            "status" => Level::Status,
            "warning" => Level::Warning,
            "error" => Level::Error,
            other => Level::Other(other.to_owned()),
        }
    }
}

macro_rules! status_codes {
    ($($variant:ident => $code:literal, $level:ident, $doc:literal;)*) => {
        /// The status codes servers and clients act on. Others are kept as [`StatusCode::Other`].
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum StatusCode {
            $(#[doc = $doc] $variant,)*
            /// Any other code, kept as sent.
            Other(String),
        }

        impl StatusCode {
            /// The code's text, e.g. "NetStream.Publish.Start".
            pub fn as_str(&self) -> &str {
                match self {
                    $(StatusCode::$variant => $code,)*
                    StatusCode::Other(text) => text,
                }
            }

            /// The code a text names.
            pub fn parse(text: &str) -> Self {
                match text {
                    $($code => StatusCode::$variant,)*
                    other => StatusCode::Other(other.to_owned()),
                }
            }

            /// The level this code is sent with.
            pub fn level(&self) -> Level {
                match self {
                    $(StatusCode::$variant => Level::$level,)*
                    StatusCode::Other(_) => Level::Status,
                }
            }
        }
    };
}

status_codes! {
    ConnectSuccess => "NetConnection.Connect.Success", Status, "The connection is accepted.";
    ConnectRejected => "NetConnection.Connect.Rejected", Error, "The connection is refused.";
    ConnectFailed => "NetConnection.Connect.Failed", Error, "The connection failed.";
    ConnectClosed => "NetConnection.Connect.Closed", Status, "The connection was closed.";
    ConnectReconnectRequest => "NetConnection.Connect.ReconnectRequest", Status, "Enhanced RTMP: the server asks the client to reconnect.";
    PublishStart => "NetStream.Publish.Start", Status, "Publishing has started.";
    PublishBadName => "NetStream.Publish.BadName", Error, "The stream is already published, or the name is refused.";
    PublishIdle => "NetStream.Publish.Idle", Status, "The publisher has been idle too long.";
    PublishRejected => "NetStream.Publish.Rejected", Error, "The server stopped taking what the publisher sends (for example, past a limit).";
    UnpublishSuccess => "NetStream.Unpublish.Success", Status, "Publishing has stopped.";
    PlayStart => "NetStream.Play.Start", Status, "Playback has started.";
    PlayReset => "NetStream.Play.Reset", Status, "The playlist was reset.";
    PlayStop => "NetStream.Play.Stop", Status, "Playback has stopped.";
    PlayFailed => "NetStream.Play.Failed", Error, "Playback failed (for example a codec the player cannot decode).";
    PlayStreamNotFound => "NetStream.Play.StreamNotFound", Error, "The stream to play does not exist.";
    PlayUnpublishNotify => "NetStream.Play.UnpublishNotify", Status, "The publisher of the played stream has stopped.";
    PlayPublishNotify => "NetStream.Play.PublishNotify", Status, "A publisher has started the played stream.";
    PauseNotify => "NetStream.Pause.Notify", Status, "The stream is paused.";
    UnpauseNotify => "NetStream.Unpause.Notify", Status, "The stream is resumed.";
    SeekNotify => "NetStream.Seek.Notify", Status, "The stream has seeked.";
}

/// The information object of onStatus, _result and _error: level, code, description, and any
/// other properties in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    /// "status", "warning" or "error".
    pub level: Level,
    /// What happened.
    pub code: StatusCode,
    /// Human-readable text.
    pub description: String,
    /// Other properties (e.g. `details`, `clientid`, `objectEncoding`), in order.
    pub extra: Object,
}

impl Status {
    /// A status with the code's usual level.
    pub fn new(code: StatusCode, description: impl Into<String>) -> Self {
        Self {
            level: code.level(),
            code,
            description: description.into(),
            extra: Object::new(),
        }
    }

    /// Adds a property after level, code and description.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(key, value);
        self
    }

    /// NetConnection.Connect.Success, with the object encoding the client asked for.
    pub fn connect_success(object_encoding: f64) -> Self {
        Self::new(StatusCode::ConnectSuccess, "Connection succeeded.")
            .with("objectEncoding", object_encoding)
    }

    /// NetConnection.Connect.ReconnectRequest (Enhanced RTMP v2): the client is to connect
    /// again, to `tc_url` when given (another server), else to the same one, and resume.
    ///
    /// ```
    /// use rtmp_message::{Status, StatusCode};
    ///
    /// let status = Status::reconnect_request(Some("rtmp://other:1935/live"), "draining");
    /// assert_eq!(status.code, StatusCode::ConnectReconnectRequest);
    /// assert_eq!(status.reconnect_url(), Some("rtmp://other:1935/live"));
    /// ```
    pub fn reconnect_request(tc_url: Option<&str>, description: impl Into<String>) -> Self {
        let status = Self::new(StatusCode::ConnectReconnectRequest, description);
        match tc_url {
            Some(tc_url) => status.with("tcUrl", tc_url),
            None => status,
        }
    }

    /// The `tcUrl` of a reconnect request, if it names one.
    pub fn reconnect_url(&self) -> Option<&str> {
        self.extra.get("tcUrl").and_then(Value::as_str)
    }

    /// NetConnection.Connect.Rejected with the reason.
    pub fn connect_rejected(reason: impl Into<String>) -> Self {
        Self::new(StatusCode::ConnectRejected, reason)
    }

    /// NetStream.Publish.Start for `name`.
    pub fn publish_start(name: &str) -> Self {
        Self::new(
            StatusCode::PublishStart,
            format!("{name} is now published."),
        )
        .with("details", name)
    }

    /// NetStream.Publish.BadName for `name`.
    pub fn publish_bad_name(name: &str) -> Self {
        Self::new(
            StatusCode::PublishBadName,
            format!("{name} is already being published."),
        )
        .with("details", name)
    }

    /// NetStream.Publish.Rejected, with the reason: the server stopped taking a publisher's
    /// stream.
    pub fn publish_rejected(reason: impl Into<String>) -> Self {
        Self::new(StatusCode::PublishRejected, reason)
    }

    /// NetStream.Unpublish.Success for stream `name`.
    pub fn unpublish_success(name: &str) -> Self {
        Self::new(
            StatusCode::UnpublishSuccess,
            format!("{name} is now unpublished."),
        )
        .with("details", name)
    }

    /// NetStream.Play.Reset for `name`.
    pub fn play_reset(name: &str) -> Self {
        Self::new(
            StatusCode::PlayReset,
            format!("Playing and resetting {name}."),
        )
        .with("details", name)
    }

    /// NetStream.Play.Start for `name`.
    pub fn play_start(name: &str) -> Self {
        Self::new(StatusCode::PlayStart, format!("Started playing {name}.")).with("details", name)
    }

    /// NetStream.Play.StreamNotFound for `name`.
    pub fn play_stream_not_found(name: &str) -> Self {
        Self::new(
            StatusCode::PlayStreamNotFound,
            format!("{name} is not published."),
        )
        .with("details", name)
    }

    /// NetStream.Play.Failed with the reason (e.g. a codec the player did not announce).
    pub fn play_failed(reason: impl Into<String>) -> Self {
        Self::new(StatusCode::PlayFailed, reason)
    }

    /// NetStream.Play.UnpublishNotify for `name`.
    pub fn unpublish_notify(name: &str) -> Self {
        Self::new(
            StatusCode::PlayUnpublishNotify,
            format!("{name} is now unpublished."),
        )
        .with("details", name)
    }

    /// NetStream.Play.PublishNotify for `name`.
    pub fn publish_notify(name: &str) -> Self {
        Self::new(
            StatusCode::PlayPublishNotify,
            format!("{name} is now published."),
        )
        .with("details", name)
    }

    /// The AMF0 object.
    pub fn to_value(&self) -> Value {
        let mut object = Object::with_capacity(3 + self.extra.len());
        object.push("level", self.level.as_str());
        object.push("code", self.code.as_str());
        object.push("description", self.description.as_str());
        for (key, value) in self.extra.iter() {
            object.push(key, value.clone());
        }
        Value::Object(object)
    }

    /// Reads a status from an object; `None` if it is not an object with a string `code`.
    /// A missing level is taken from the code, a missing description is empty.
    pub fn from_value(value: &Value) -> Option<Self> {
        let object = value.as_object()?;
        let code = StatusCode::parse(object.get("code")?.as_str()?);
        let level = match object.get("level").and_then(Value::as_str) {
            Some(level) => Level::parse(level),
            None => code.level(),
        };
        let description = object
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let extra = object
            .iter()
            .filter(|(key, _)| !matches!(*key, "level" | "code" | "description"))
            .map(|(key, value)| (key, value.clone()))
            .collect();
        Some(Self {
            level,
            code,
            description,
            extra,
        })
    }
}
