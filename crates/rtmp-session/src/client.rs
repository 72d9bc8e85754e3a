//! The client side of one RTMP connection, sans-IO: requests in (connect, createStream,
//! publish, play), messages to send out, and events from what the server answered.

use std::collections::{HashMap, VecDeque};

use rtmp_amf0::Value;
use rtmp_chunk::type_id;
use rtmp_message::{
    Command, Connect, DecodeError, EncodeError, Message, Play, PublishType, SAMPLE_ACCESS, Status,
    StatusCode, UserControl, data_name_is, split_aggregate,
};

use crate::negotiation::{Capabilities, caps_ex};

/// Chunk streams the client sends on: control and commands as the server does, media on the
/// ones ffmpeg uses.
mod chunk_stream {
    pub use crate::chunk_stream::{COMMAND, CONTROL};
    /// Commands and data on a media stream.
    pub const STREAM: u32 = 8;
    /// Audio.
    pub const AUDIO: u32 = 4;
    /// Video.
    pub const VIDEO: u32 = 6;
}

/// Settings of a [`ClientSession`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientSessionConfig {
    /// The chunk size announced right after connect (default 4096: fewer chunk headers for
    /// large video messages).
    pub chunk_size: u32,
    /// The acknowledgement window announced to the server (default 2.5 MB).
    pub window_ack_size: u32,
    /// The `flashVer` of connect.
    pub flash_ver: String,
    /// What the client announces in connect (Enhanced RTMP v2: `fourCcList`, the FourCC info
    /// maps and `capsEx`); `None` for a legacy client. The default lists every codec
    /// `rtmp-flv` knows, to decode and encode, and every extended capability: an application
    /// that cannot follow a reconnect request (the session leaves that to it) clears
    /// [`caps_ex::RECONNECT`](crate::caps_ex::RECONNECT).
    pub capabilities: Option<Capabilities>,
}

impl Default for ClientSessionConfig {
    fn default() -> Self {
        Self {
            chunk_size: 4096,
            window_ack_size: 2_500_000,
            flash_ver: "FMLE/3.0 (compatible; rtmp-server)".into(),
            capabilities: Some(Capabilities::client(
                &[
                    "avc1", "hvc1", "av01", "vp09", "vp08", "Opus", "fLaC", "ac-3", "ec-3", ".mp3",
                    "mp4a",
                ],
                caps_ex::RECONNECT
                    | caps_ex::MULTITRACK
                    | caps_ex::MODEX
                    | caps_ex::TIMESTAMP_NANO_OFFSET,
            )),
        }
    }
}

/// What the server's messages mean for the application.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// connect was accepted: the server's properties and information object.
    Connected {
        /// The command object of the `_result` (fmsVer, capabilities, ...).
        properties: Value,
        /// NetConnection.Connect.Success and its details (e.g. an Enhanced RTMP fourCcList).
        info: Option<Status>,
    },
    /// A command was refused with `_error` (connect included).
    Refused {
        /// The command refused, e.g. `connect` or `createStream`.
        command: String,
        /// The information object, if the server sent one.
        status: Option<Status>,
    },
    /// createStream gave this message stream.
    StreamCreated {
        /// The new message stream.
        stream_id: u32,
    },
    /// An onStatus on a message stream (Publish.Start, Play.Start, Play.StreamNotFound,
    /// Play.UnpublishNotify, NetConnection.Connect.Closed, ...).
    Status {
        /// The message stream it came on.
        stream_id: u32,
        /// The information object.
        status: Status,
    },
    /// User Control StreamEOF: the server ended the stream's data.
    StreamEof {
        /// The message stream.
        stream_id: u32,
    },
    /// Audio, video or data (aggregates already split); payload untouched.
    Media(rtmp_chunk::RawMessage),
    /// The server asks the client to connect again (Enhanced RTMP v2
    /// NetConnection.Connect.ReconnectRequest), to `tc_url` if given, else to the same
    /// server, and resume what it was doing. Raised only when the client announced
    /// [`caps_ex::RECONNECT`](crate::caps_ex::RECONNECT); otherwise the status comes as
    /// [`ClientEvent::Status`].
    ReconnectRequest {
        /// Where to reconnect (`rtmp://host[:port]/app`), if not the same server.
        tc_url: Option<String>,
        /// The server's reason.
        description: String,
    },
}

/// Why the session cannot go on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientSessionError {
    /// A command or control message from the server does not decode.
    #[error("bad message from the server: {0}")]
    BadMessage(#[from] DecodeError),
    /// A request cannot be encoded.
    #[error("cannot encode a request: {0}")]
    Encode(#[from] EncodeError),
}

#[derive(Debug, Clone, PartialEq)]
enum Pending {
    Connect,
    CreateStream,
    Other(String),
}

/// The client side of one connection, after the handshake.
///
/// Call the request methods ([`connect`](Self::connect), [`create_stream`](Self::create_stream),
/// [`publish`](Self::publish), [`play`](Self::play)), send what
/// [`poll_send`](Self::poll_send) returns, feed every decoded message to
/// [`handle_message`](Self::handle_message) and act on [`poll_event`](Self::poll_event).
/// Pings and Set Peer Bandwidth are answered by the session itself.
///
/// ```
/// use rtmp_session::{ClientEvent, ClientSession, ClientSessionConfig};
///
/// let mut session = ClientSession::new(ClientSessionConfig::default());
/// session.connect("live", "rtmp://127.0.0.1:1935/live")?;
/// let connect = session.poll_send().expect("the connect command");
/// assert_eq!(connect.type_id, 20);
/// # Ok::<(), rtmp_session::ClientSessionError>(())
/// ```
#[derive(Debug)]
pub struct ClientSession {
    config: ClientSessionConfig,
    next_transaction: f64,
    pending: HashMap<u64, Pending>,
    outgoing: VecDeque<rtmp_chunk::RawMessage>,
    events: VecDeque<ClientEvent>,
    announced_window: u32,
    /// What the server answered to connect (Enhanced RTMP), if anything.
    server_capabilities: Option<Capabilities>,
}

/// The most requests awaiting an answer; older ones are forgotten beyond it.
const MAX_PENDING: usize = 64;

impl ClientSession {
    /// A session whose handshake is done.
    pub fn new(config: ClientSessionConfig) -> Self {
        Self {
            config,
            next_transaction: 1.0,
            pending: HashMap::new(),
            outgoing: VecDeque::new(),
            events: VecDeque::new(),
            announced_window: 0,
            server_capabilities: None,
        }
    }

    /// What the server answered to connect: the codecs and extended capabilities both sides
    /// support (Enhanced RTMP v2); `None` before the answer or from a server that answered
    /// nothing (a legacy server, which takes only legacy codecs).
    pub fn server_capabilities(&self) -> Option<&Capabilities> {
        self.server_capabilities.as_ref()
    }

    /// Whether the client announced that it follows reconnect requests.
    fn follows_reconnect(&self) -> bool {
        self.config
            .capabilities
            .as_ref()
            .is_some_and(|announced| announced.caps_ex & caps_ex::RECONNECT != 0)
    }

    /// The next message to send.
    pub fn poll_send(&mut self) -> Option<rtmp_chunk::RawMessage> {
        self.outgoing.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    fn send(
        &mut self,
        chunk_stream_id: u32,
        stream_id: u32,
        message: Message,
    ) -> Result<(), ClientSessionError> {
        self.outgoing
            .push_back(message.to_chunk(chunk_stream_id, 0, stream_id)?);
        Ok(())
    }

    fn transaction(&mut self, pending: Pending) -> f64 {
        let id = self.next_transaction;
        self.next_transaction += 1.0;
        if self.pending.len() >= MAX_PENDING {
            self.pending.clear();
        }
        self.pending.insert(id as u64, pending);
        id
    }

    /// connect to `app`, announcing `tc_url`; then the chunk size of the configuration.
    pub fn connect(&mut self, app: &str, tc_url: &str) -> Result<(), ClientSessionError> {
        let transaction_id = self.transaction(Pending::Connect);
        let announced = self.config.capabilities.as_ref();
        let enhanced = announced.is_some();
        let mut connect = Connect {
            transaction_id,
            app: app.to_owned(),
            flash_ver: Some(self.config.flash_ver.clone()),
            tc_url: Some(tc_url.to_owned()),
            // ffmpeg's values: every legacy audio and video codec.
            capabilities: Some(if enhanced { 31.0 } else { 15.0 }),
            audio_codecs: Some(4071.0),
            video_codecs: Some(252.0),
            ..Connect::default()
        };
        if let Some(announced) = announced {
            let mut list: Vec<String> = Vec::new();
            for (fourcc, _) in announced.video.iter().chain(&announced.audio) {
                if !list.contains(fourcc) {
                    list.push(fourcc.clone());
                }
            }
            connect.fourcc_list = Some(list);
            connect.video_fourcc_info_map = Some(announced.video.clone());
            connect.audio_fourcc_info_map = Some(announced.audio.clone());
            connect.caps_ex = Some(announced.caps_ex);
        }
        self.send(
            chunk_stream::COMMAND,
            0,
            Command::Connect(Box::new(connect)).into(),
        )?;
        self.send(
            chunk_stream::CONTROL,
            0,
            Message::SetChunkSize(self.config.chunk_size),
        )
    }

    /// createStream; the answer is [`ClientEvent::StreamCreated`].
    pub fn create_stream(&mut self) -> Result<(), ClientSessionError> {
        let transaction_id = self.transaction(Pending::CreateStream);
        self.send(
            chunk_stream::COMMAND,
            0,
            Command::CreateStream { transaction_id }.into(),
        )
    }

    /// releaseStream and FCPublish for `name`, which some servers expect before publish.
    pub fn prepare_publish(&mut self, name: &str) -> Result<(), ClientSessionError> {
        let transaction_id = self.transaction(Pending::Other("releaseStream".into()));
        let release = Command::ReleaseStream {
            transaction_id,
            name: name.to_owned(),
        };
        self.send(chunk_stream::COMMAND, 0, release.into())?;
        let transaction_id = self.transaction(Pending::Other("FCPublish".into()));
        let fc_publish = Command::FcPublish {
            transaction_id,
            name: name.to_owned(),
        };
        self.send(chunk_stream::COMMAND, 0, fc_publish.into())
    }

    /// publish `name` (live) on `stream_id`; the answer is a [`ClientEvent::Status`].
    pub fn publish(&mut self, stream_id: u32, name: &str) -> Result<(), ClientSessionError> {
        let publish = Command::Publish {
            transaction_id: 0.0,
            name: name.to_owned(),
            publish_type: PublishType::Live,
        };
        self.send(chunk_stream::STREAM, stream_id, publish.into())
    }

    /// play `name` (live or recorded) on `stream_id`; answers come as [`ClientEvent::Status`],
    /// then media.
    pub fn play(&mut self, stream_id: u32, name: &str) -> Result<(), ClientSessionError> {
        let play = Play::new(name);
        self.send(chunk_stream::STREAM, stream_id, Command::Play(play).into())?;
        // Ask for a 3 s buffer, as ffmpeg does, so servers start sending at once.
        let buffer = UserControl::SetBufferLength {
            stream_id,
            millis: 3000,
        };
        self.send(chunk_stream::CONTROL, 0, buffer.into())
    }

    /// FCUnpublish (when publishing) and deleteStream: the polite end of a stream.
    pub fn close_stream(
        &mut self,
        stream_id: u32,
        publishing: Option<&str>,
    ) -> Result<(), ClientSessionError> {
        if let Some(name) = publishing {
            let transaction_id = self.transaction(Pending::Other("FCUnpublish".into()));
            let unpublish = Command::FcUnpublish {
                transaction_id,
                name: name.to_owned(),
            };
            self.send(chunk_stream::COMMAND, 0, unpublish.into())?;
        }
        let delete = Command::DeleteStream {
            transaction_id: 0.0,
            stream_id: f64::from(stream_id),
        };
        self.send(chunk_stream::COMMAND, 0, delete.into())
    }

    /// Audio (8), video (9) or data (18) for a published stream, on the chunk streams ffmpeg
    /// uses. Send the returned message after everything [`poll_send`](Self::poll_send) holds.
    pub fn media(
        &self,
        stream_id: u32,
        type_id: u8,
        timestamp: u32,
        payload: bytes::Bytes,
    ) -> rtmp_chunk::RawMessage {
        let chunk_stream_id = match type_id {
            type_id::AUDIO => chunk_stream::AUDIO,
            type_id::VIDEO => chunk_stream::VIDEO,
            _ => chunk_stream::STREAM,
        };
        rtmp_chunk::RawMessage::new(chunk_stream_id, timestamp, type_id, stream_id, payload)
    }

    /// Handles one decoded message from the server.
    pub fn handle_message(
        &mut self,
        raw: rtmp_chunk::RawMessage,
    ) -> Result<(), ClientSessionError> {
        match raw.type_id {
            type_id::AUDIO | type_id::VIDEO => {
                self.events.push_back(ClientEvent::Media(raw));
                Ok(())
            }
            type_id::AGGREGATE => {
                for part in split_aggregate(&raw) {
                    self.events.push_back(ClientEvent::Media(part?));
                }
                Ok(())
            }
            type_id::DATA_AMF0 | type_id::DATA_AMF3 => {
                // |RtmpSampleAccess is for Flash Player's security model, not media.
                if !data_name_is(&raw.payload, SAMPLE_ACCESS) {
                    self.events.push_back(ClientEvent::Media(raw));
                }
                Ok(())
            }
            type_id::USER_CONTROL => match Message::decode(&raw)? {
                Message::UserControl(UserControl::PingRequest(time)) => self.send(
                    chunk_stream::CONTROL,
                    0,
                    UserControl::PingResponse(time).into(),
                ),
                Message::UserControl(UserControl::StreamEof(stream_id)) => {
                    self.events.push_back(ClientEvent::StreamEof { stream_id });
                    Ok(())
                }
                _ => Ok(()),
            },
            type_id::SET_PEER_BANDWIDTH => {
                if let Message::SetPeerBandwidth { window, .. } = Message::decode(&raw)?
                    && window != self.announced_window
                {
                    self.announced_window = window;
                    self.send(chunk_stream::CONTROL, 0, Message::WindowAckSize(window))?;
                }
                Ok(())
            }
            type_id::COMMAND_AMF0 | type_id::COMMAND_AMF3 => {
                let (Message::Command(command) | Message::CommandAmf3(command)) =
                    Message::decode(&raw)?
                else {
                    return Ok(());
                };
                self.handle_command(command, raw.stream_id);
                Ok(())
            }
            // Set Chunk Size, Abort and Window Acknowledgement Size are the chunk decoder's.
            _ => Ok(()),
        }
    }

    fn handle_command(&mut self, command: Command, stream_id: u32) {
        match command {
            Command::Result(response) => {
                let Some(pending) = self.pending.remove(&(response.transaction_id as u64)) else {
                    return;
                };
                match pending {
                    Pending::Connect => {
                        self.server_capabilities = response
                            .command_object
                            .as_object()
                            .and_then(Capabilities::from_object);
                        self.events.push_back(ClientEvent::Connected {
                            info: response.status(),
                            properties: response.command_object,
                        });
                    }
                    Pending::CreateStream => {
                        let stream_id = response
                            .number()
                            .filter(|n| *n >= 0.0 && *n <= f64::from(u32::MAX));
                        match stream_id {
                            Some(id) => self.events.push_back(ClientEvent::StreamCreated {
                                stream_id: id as u32,
                            }),
                            None => self.events.push_back(ClientEvent::Refused {
                                command: "createStream".into(),
                                status: None,
                            }),
                        }
                    }
                    Pending::Other(_) => {}
                }
            }
            Command::Error(response) => {
                let Some(pending) = self.pending.remove(&(response.transaction_id as u64)) else {
                    return;
                };
                let command = match pending {
                    Pending::Connect => "connect".to_owned(),
                    Pending::CreateStream => "createStream".to_owned(),
                    // releaseStream/FCPublish of a stream nobody publishes is refused by some
                    // servers; that is no reason to stop.
                    Pending::Other(_) => return,
                };
                let status = response.status();
                self.events
                    .push_back(ClientEvent::Refused { command, status });
            }
            Command::OnStatus { status, .. }
                if status.code == StatusCode::ConnectReconnectRequest
                    && self.follows_reconnect() =>
            {
                self.events.push_back(ClientEvent::ReconnectRequest {
                    tc_url: status.reconnect_url().map(str::to_owned),
                    description: status.description,
                });
            }
            Command::OnStatus { status, .. } => {
                self.events
                    .push_back(ClientEvent::Status { stream_id, status });
            }
            // onBWDone, onFCPublish, _checkbw and other calls need no answer.
            _ => {}
        }
    }
}
