//! Command messages (type 20, and 17 with its format byte): typed commands and responses.

mod args;
mod connect;
mod status;

use rtmp_amf0::Value;

use crate::error::{DecodeError, DecodeErrorKind};
use args::Args;
pub use connect::Connect;
pub use status::{Level, Status, StatusCode};

/// The publishing type of `publish`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PublishType {
    /// "live": not recorded (also taken when the argument is missing).
    Live,
    /// "record": recorded, replacing an existing recording.
    Record,
    /// "append": recorded, appended to an existing recording.
    Append,
    /// Any other text, kept as sent.
    Other(String),
}

impl PublishType {
    /// The text on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            PublishType::Live => "live",
            PublishType::Record => "record",
            PublishType::Append => "append",
            PublishType::Other(text) => text,
        }
    }

    fn parse(text: &str) -> Self {
        match text {
            "live" => PublishType::Live,
            "record" => PublishType::Record,
            "append" => PublishType::Append,
            other => PublishType::Other(other.to_owned()),
        }
    }
}

/// `_result` or `_error`: the answer to a command with a transaction id.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// The transaction id of the command answered.
    pub transaction_id: f64,
    /// The command object (properties of the server for connect, usually null otherwise).
    pub command_object: Value,
    /// The rest: an information object, or a stream id for createStream.
    pub arguments: Vec<Value>,
}

impl Response {
    /// The information object, when the first argument is a status object.
    pub fn status(&self) -> Option<Status> {
        self.arguments.first().and_then(Status::from_value)
    }

    /// The number in the first argument (the stream id of a createStream result).
    pub fn number(&self) -> Option<f64> {
        self.arguments.first().and_then(Value::as_f64)
    }
}

/// `play(name, start, duration, reset)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Play {
    /// The transaction id (usually 0).
    pub transaction_id: f64,
    /// The stream name, possibly with a query string.
    pub name: String,
    /// -2: live, else recorded; -1: live only; >= 0: recorded from that second (default -2).
    pub start: f64,
    /// Seconds to play; -1 until the end (default).
    pub duration: f64,
    /// Whether to flush earlier play lists (default true).
    pub reset: bool,
}

impl Play {
    /// `play(name)` with the defaults every live player sends: transaction 0, start -2 (live,
    /// else recorded), duration -1 (to the end), reset.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            transaction_id: 0.0,
            name: name.into(),
            start: -2.0,
            duration: -1.0,
            reset: true,
        }
    }
}

/// A command, typed by its name.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Command {
    /// `connect` (boxed: its command object is far larger than any other command).
    Connect(Box<Connect>),
    /// `_result`.
    Result(Response),
    /// `_error`.
    Error(Response),
    /// `onStatus`.
    OnStatus {
        /// The transaction id (0).
        transaction_id: f64,
        /// The information object.
        status: Status,
    },
    /// `createStream`.
    CreateStream {
        /// The transaction id.
        transaction_id: f64,
    },
    /// `deleteStream(stream id)`.
    DeleteStream {
        /// The transaction id.
        transaction_id: f64,
        /// The message stream to delete.
        stream_id: f64,
    },
    /// `closeStream`, sent on the stream to close.
    CloseStream {
        /// The transaction id.
        transaction_id: f64,
    },
    /// `releaseStream(name)`.
    ReleaseStream {
        /// The transaction id.
        transaction_id: f64,
        /// The stream name.
        name: String,
    },
    /// `FCPublish(name)`.
    FcPublish {
        /// The transaction id.
        transaction_id: f64,
        /// The stream name.
        name: String,
    },
    /// `FCUnpublish(name)`.
    FcUnpublish {
        /// The transaction id.
        transaction_id: f64,
        /// The stream name.
        name: String,
    },
    /// `FCSubscribe(name)`.
    FcSubscribe {
        /// The transaction id.
        transaction_id: f64,
        /// The stream name.
        name: String,
    },
    /// `publish(name, type)`.
    Publish {
        /// The transaction id.
        transaction_id: f64,
        /// The stream name, possibly with a query string.
        name: String,
        /// live, record or append.
        publish_type: PublishType,
    },
    /// `play(name, start, duration, reset)`.
    Play(Play),
    /// `play2(parameters)`.
    Play2 {
        /// The transaction id.
        transaction_id: f64,
        /// The parameters object.
        parameters: Value,
    },
    /// `pause(pause, position)`.
    Pause {
        /// The transaction id.
        transaction_id: f64,
        /// True to pause, false to resume.
        pause: bool,
        /// The position in milliseconds.
        position: f64,
    },
    /// `seek(position)`.
    Seek {
        /// The transaction id.
        transaction_id: f64,
        /// The position in milliseconds.
        position: f64,
    },
    /// `receiveAudio(flag)`.
    ReceiveAudio {
        /// The transaction id.
        transaction_id: f64,
        /// Whether to receive audio.
        enabled: bool,
    },
    /// `receiveVideo(flag)`.
    ReceiveVideo {
        /// The transaction id.
        transaction_id: f64,
        /// Whether to receive video.
        enabled: bool,
    },
    /// `getStreamLength(name)`.
    GetStreamLength {
        /// The transaction id.
        transaction_id: f64,
        /// The stream name.
        name: String,
    },
    /// Any other command, e.g. `onBWDone`, `_checkbw`, or an application's own.
    Call {
        /// The command name.
        name: String,
        /// The transaction id.
        transaction_id: f64,
        /// The command object.
        command_object: Value,
        /// The arguments after it.
        arguments: Vec<Value>,
    },
}

impl Command {
    /// Types a command from its AMF0 values: name, transaction id, command object, arguments.
    /// `type_id` names the message type in errors.
    pub fn from_values(values: &[Value], type_id: u8) -> Result<Self, DecodeError> {
        let args = Args { type_id, values };
        let name = args.string(0, "command name")?;
        let transaction_id = args.number_or(1, 0.0);
        let named = |field| args.string(3, field);
        Ok(match name.as_str() {
            "connect" => {
                let object = match args.get(2) {
                    Some(value) => Some(value.as_object().ok_or(DecodeError::new(
                        type_id,
                        "connect command object",
                        DecodeErrorKind::WrongType("an object"),
                    ))?),
                    None => None,
                };
                Command::Connect(Box::new(Connect::from_parts(
                    transaction_id,
                    object,
                    args.rest(3),
                )))
            }
            "_result" | "_error" => {
                let response = Response {
                    transaction_id,
                    command_object: args.value(2),
                    arguments: args.rest(3),
                };
                if name == "_result" {
                    Command::Result(response)
                } else {
                    Command::Error(response)
                }
            }
            "onStatus" => {
                let status = args
                    .get(3)
                    .and_then(Status::from_value)
                    .ok_or(DecodeError::new(
                        type_id,
                        "onStatus information object",
                        DecodeErrorKind::WrongType("an object with a code"),
                    ))?;
                Command::OnStatus {
                    transaction_id,
                    status,
                }
            }
            "createStream" => Command::CreateStream { transaction_id },
            "deleteStream" => Command::DeleteStream {
                transaction_id,
                stream_id: args.number(3, "deleteStream stream id")?,
            },
            "closeStream" => Command::CloseStream { transaction_id },
            "releaseStream" => Command::ReleaseStream {
                transaction_id,
                name: named("releaseStream name")?,
            },
            "FCPublish" => Command::FcPublish {
                transaction_id,
                name: named("FCPublish name")?,
            },
            "FCUnpublish" => Command::FcUnpublish {
                transaction_id,
                name: named("FCUnpublish name")?,
            },
            "FCSubscribe" => Command::FcSubscribe {
                transaction_id,
                name: named("FCSubscribe name")?,
            },
            "publish" => Command::Publish {
                transaction_id,
                name: named("publish name")?,
                publish_type: PublishType::parse(
                    args.optional_string(4).as_deref().unwrap_or("live"),
                ),
            },
            "play" => Command::Play(Play {
                transaction_id,
                name: named("play name")?,
                start: args.number_or(4, -2.0),
                duration: args.number_or(5, -1.0),
                reset: args.boolean_or(6, true),
            }),
            "play2" => Command::Play2 {
                transaction_id,
                parameters: args.value(3),
            },
            "pause" => Command::Pause {
                transaction_id,
                pause: args.boolean(3, "pause flag")?,
                position: args.number_or(4, 0.0),
            },
            "seek" => Command::Seek {
                transaction_id,
                position: args.number(3, "seek position")?,
            },
            "receiveAudio" => Command::ReceiveAudio {
                transaction_id,
                enabled: args.boolean(3, "receiveAudio flag")?,
            },
            "receiveVideo" => Command::ReceiveVideo {
                transaction_id,
                enabled: args.boolean(3, "receiveVideo flag")?,
            },
            "getStreamLength" => Command::GetStreamLength {
                transaction_id,
                name: named("getStreamLength name")?,
            },
            _ => Command::Call {
                name,
                transaction_id,
                command_object: args.value(2),
                arguments: args.rest(3),
            },
        })
    }

    /// The AMF0 values of this command: name, transaction id, command object, arguments.
    pub fn to_values(&self) -> Vec<Value> {
        let with = |name: &str, transaction_id: f64, rest: Vec<Value>| {
            let mut values = vec![
                Value::from(name),
                Value::Number(transaction_id),
                Value::Null,
            ];
            values.extend(rest);
            values
        };
        match self {
            Command::Connect(connect) => {
                let mut values = vec![
                    Value::from("connect"),
                    Value::Number(connect.transaction_id),
                    Value::Object(connect.command_object()),
                ];
                values.extend(connect.arguments.iter().cloned());
                values
            }
            Command::Result(response) | Command::Error(response) => {
                let name = if matches!(self, Command::Result(_)) {
                    "_result"
                } else {
                    "_error"
                };
                let mut values = vec![
                    Value::from(name),
                    Value::Number(response.transaction_id),
                    response.command_object.clone(),
                ];
                values.extend(response.arguments.iter().cloned());
                values
            }
            Command::OnStatus {
                transaction_id,
                status,
            } => with("onStatus", *transaction_id, vec![status.to_value()]),
            Command::CreateStream { transaction_id } => {
                with("createStream", *transaction_id, vec![])
            }
            Command::DeleteStream {
                transaction_id,
                stream_id,
            } => with(
                "deleteStream",
                *transaction_id,
                vec![Value::Number(*stream_id)],
            ),
            Command::CloseStream { transaction_id } => with("closeStream", *transaction_id, vec![]),
            Command::ReleaseStream {
                transaction_id,
                name,
            } => with("releaseStream", *transaction_id, vec![name.as_str().into()]),
            Command::FcPublish {
                transaction_id,
                name,
            } => with("FCPublish", *transaction_id, vec![name.as_str().into()]),
            Command::FcUnpublish {
                transaction_id,
                name,
            } => with("FCUnpublish", *transaction_id, vec![name.as_str().into()]),
            Command::FcSubscribe {
                transaction_id,
                name,
            } => with("FCSubscribe", *transaction_id, vec![name.as_str().into()]),
            Command::Publish {
                transaction_id,
                name,
                publish_type,
            } => with(
                "publish",
                *transaction_id,
                vec![name.as_str().into(), publish_type.as_str().into()],
            ),
            Command::Play(play) => with(
                "play",
                play.transaction_id,
                vec![
                    play.name.as_str().into(),
                    play.start.into(),
                    play.duration.into(),
                    play.reset.into(),
                ],
            ),
            Command::Play2 {
                transaction_id,
                parameters,
            } => with("play2", *transaction_id, vec![parameters.clone()]),
            Command::Pause {
                transaction_id,
                pause,
                position,
            } => with(
                "pause",
                *transaction_id,
                vec![(*pause).into(), (*position).into()],
            ),
            Command::Seek {
                transaction_id,
                position,
            } => with("seek", *transaction_id, vec![(*position).into()]),
            Command::ReceiveAudio {
                transaction_id,
                enabled,
            } => with("receiveAudio", *transaction_id, vec![(*enabled).into()]),
            Command::ReceiveVideo {
                transaction_id,
                enabled,
            } => with("receiveVideo", *transaction_id, vec![(*enabled).into()]),
            Command::GetStreamLength {
                transaction_id,
                name,
            } => with(
                "getStreamLength",
                *transaction_id,
                vec![name.as_str().into()],
            ),
            Command::Call {
                name,
                transaction_id,
                command_object,
                arguments,
            } => {
                let mut values = vec![
                    Value::from(name.as_str()),
                    Value::Number(*transaction_id),
                    command_object.clone(),
                ];
                values.extend(arguments.iter().cloned());
                values
            }
        }
    }

    /// The `_result` that accepts a connect: the server's properties and
    /// NetConnection.Connect.Success with the client's object encoding.
    pub fn connect_success(transaction_id: f64, object_encoding: f64) -> Self {
        Command::Result(Response {
            transaction_id,
            command_object: Value::object([
                ("fmsVer", Value::from("FMS/3,0,1,123")),
                ("capabilities", Value::Number(31.0)),
            ]),
            arguments: vec![Status::connect_success(object_encoding).to_value()],
        })
    }

    /// The `_error` that refuses a connect with `reason`.
    pub fn connect_rejected(transaction_id: f64, reason: impl Into<String>) -> Self {
        Command::Error(Response {
            transaction_id,
            command_object: Value::Null,
            arguments: vec![Status::connect_rejected(reason).to_value()],
        })
    }

    /// The `_result` of createStream with the new stream id.
    pub fn create_stream_result(transaction_id: f64, stream_id: u32) -> Self {
        Command::Result(Response {
            transaction_id,
            command_object: Value::Null,
            arguments: vec![Value::from(stream_id)],
        })
    }

    /// An `onStatus` (transaction id 0) with `status`, e.g. [`Status::publish_start`].
    pub fn on_status(status: Status) -> Self {
        Command::OnStatus {
            transaction_id: 0.0,
            status,
        }
    }

    /// The command's name on the wire.
    pub fn name(&self) -> &str {
        match self {
            Command::Connect(_) => "connect",
            Command::Result(_) => "_result",
            Command::Error(_) => "_error",
            Command::OnStatus { .. } => "onStatus",
            Command::CreateStream { .. } => "createStream",
            Command::DeleteStream { .. } => "deleteStream",
            Command::CloseStream { .. } => "closeStream",
            Command::ReleaseStream { .. } => "releaseStream",
            Command::FcPublish { .. } => "FCPublish",
            Command::FcUnpublish { .. } => "FCUnpublish",
            Command::FcSubscribe { .. } => "FCSubscribe",
            Command::Publish { .. } => "publish",
            Command::Play(_) => "play",
            Command::Play2 { .. } => "play2",
            Command::Pause { .. } => "pause",
            Command::Seek { .. } => "seek",
            Command::ReceiveAudio { .. } => "receiveAudio",
            Command::ReceiveVideo { .. } => "receiveVideo",
            Command::GetStreamLength { .. } => "getStreamLength",
            Command::Call { name, .. } => name,
        }
    }
}
