//! The server side of one RTMP connection, sans-IO: decoded messages in, messages to send and
//! application events out. The application answers events (accept or reject a connect, a
//! publish, a play); time comes in as an argument.

use std::collections::VecDeque;

use crate::streams::Streams;
use std::fmt;
use std::time::{Duration, Instant};

use rtmp_amf0::Value;
use rtmp_chunk::type_id;
use rtmp_message::{
    Command, Connect, Data, LimitType, Message, PublishType, Status, StatusCode, UserControl,
};

use crate::chunk_stream;
use crate::negotiation::Capabilities;

/// Settings of a [`ServerSession`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionConfig {
    /// The chunk size announced to the peer after connect (default 1024).
    pub chunk_size: u32,
    /// The window after which the peer acknowledges (default 2.5 MB).
    pub window_ack_size: u32,
    /// The bandwidth announced with Set Peer Bandwidth (default 2.5 MB, dynamic).
    pub peer_bandwidth: u32,
    /// Send a PingRequest this often (default 30 s; `None` for no keep-alive). A player sends
    /// nothing of its own for minutes, so its answers are what keep it within a server's idle
    /// timeout: keep this well under that timeout. Each ping costs a write and a read per
    /// connection, which is why it is not shorter.
    pub ping_interval: Option<Duration>,
    /// The most message streams a connection may create (default 8).
    pub max_streams: u32,
    /// What the server announces to Enhanced RTMP clients: its answer to a client is what
    /// both list ([`Capabilities::answer`]). Default: every codec forwarded, and reconnect,
    /// multitrack and ModEx with nanosecond offsets.
    pub capabilities: Capabilities,
    /// The largest command or data message decoded (default 1 MiB): AMF values hold up to
    /// [`rtmp_amf0::MAX_EXPANSION`] bytes of memory per byte, so this bounds what one message
    /// can cost while it is decoded. A larger one closes the connection
    /// ([`SessionError::AmfTooLarge`]); real encoders send commands and metadata of a few KiB.
    pub max_amf_message_size: usize,
    /// The longest application name (before its query) a connect may give, in bytes
    /// (default 128). A longer one is refused (NetConnection.Connect.Rejected, not echoed).
    pub max_app_bytes: usize,
    /// The longest stream name (before its query) a publish or play may give, in bytes
    /// (default 256, as nginx-rtmp). A longer one is refused with
    /// NetStream.Publish.BadName or NetStream.Play.Failed, whose description does not repeat
    /// it, and the application is not asked.
    pub max_name_bytes: usize,
    /// The longest query string of an application or stream name, in bytes (default 1024:
    /// room for signed-URL tokens and JWTs). Refused as a name too long.
    pub max_query_bytes: usize,
    /// The largest connect command, in bytes (default 16 KiB; real clients send well under
    /// 2 KiB, Enhanced RTMP capability lists included). The server keeps the connect
    /// request for the connection's life, so a larger one is refused
    /// (NetConnection.Connect.Rejected) rather than kept.
    pub max_connect_bytes: usize,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            chunk_size: 1024,
            window_ack_size: 2_500_000,
            peer_bandwidth: 2_500_000,
            ping_interval: Some(Duration::from_secs(30)),
            max_streams: 8,
            capabilities: Capabilities::forwarding_everything(),
            max_amf_message_size: 1 << 20,
            max_app_bytes: 128,
            max_name_bytes: 256,
            max_query_bytes: 1024,
            max_connect_bytes: 16 << 10,
        }
    }
}

/// `app/name`: what publishers and players meet on. Query strings are not part of it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamKey {
    /// The application from connect (without a query string).
    pub app: String,
    /// The stream name from publish or play (without a query string).
    pub name: String,
}

impl fmt::Display for StreamKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.app, self.name)
    }
}

/// Whether `text` holds a control character (C0, DEL or C1).
fn has_control(text: &str) -> bool {
    text.chars().any(char::is_control)
}

/// Splits `text?query` into the text and the query.
fn split_query(text: &str) -> (String, Option<String>) {
    match text.split_once('?') {
        Some((text, query)) => (text.to_owned(), Some(query.to_owned())),
        None => (text.to_owned(), None),
    }
}

/// A connect request.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectRequest {
    /// The application, without its query string (possibly empty).
    pub app: String,
    /// The query string of the app (e.g. a token), if any.
    pub query: Option<String>,
    /// The client's tcUrl.
    pub tc_url: Option<String>,
    /// Whether the client announced Enhanced RTMP.
    pub enhanced: bool,
    /// The whole connect command.
    pub command: Box<Connect>,
}

/// A publish or play request on a message stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamRequest {
    /// The message stream the client used.
    pub stream_id: u32,
    /// `app/name`.
    pub key: StreamKey,
    /// The query string of the stream name (e.g. a token), if any.
    pub query: Option<String>,
    /// The publishing type (for publish; `Live` for play).
    pub publish_type: PublishType,
}

/// What the application is told.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SessionEvent {
    /// The client asks to connect: answer with `accept_connect` or `reject_connect`.
    Connect(ConnectRequest),
    /// The session refused a connect itself, for the reason given (an application name,
    /// query or connect command over its [`SessionConfig`] limit), and queued the
    /// NetConnection.Connect.Rejected answer: send it, then close the connection.
    ConnectRefused(String),
    /// The client asks to publish: answer with `accept_publish` or `reject_publish`.
    Publish(StreamRequest),
    /// The client asks to play: answer with `accept_play` or `reject_play`.
    Play(StreamRequest),
    /// Audio, video or data (metadata already in its `onMetaData` form) on a published stream.
    Media {
        /// The publishing message stream.
        stream_id: u32,
        /// The message, payload untouched.
        message: rtmp_chunk::RawMessage,
    },
    /// The client stopped publishing or playing on a stream (deleteStream, closeStream,
    /// FCUnpublish).
    StreamClosed {
        /// The message stream.
        stream_id: u32,
    },
    /// A player changed what it wants of its stream; the session has answered it already
    /// (Pause.Notify, Unpause.Notify, Seek.Notify).
    PlayControl {
        /// The playing message stream.
        stream_id: u32,
        /// What changed.
        control: PlayControl,
    },
}

/// What a player asks of the stream it plays.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum PlayControl {
    /// `pause(true)` (stop sending) or `pause(false)` (go on, from a keyframe).
    Pause(bool),
    /// `seek(position)`: for a live stream, go on from the live edge at the next keyframe.
    Seek(f64),
    /// `receiveAudio(flag)`.
    ReceiveAudio(bool),
    /// `receiveVideo(flag)`.
    ReceiveVideo(bool),
}

/// Why the session cannot go on. The connection should be closed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// A command other than connect before connect.
    #[error("{0} before connect")]
    NotConnected(String),
    /// A command or control message that does not decode.
    #[error("bad message: {0}")]
    BadMessage(#[from] rtmp_message::DecodeError),
    /// The client used more message streams than the connection may have.
    #[error("more than {0} message streams")]
    TooManyStreams(u32),
    /// A message that cannot be encoded (an application value AMF0 cannot hold).
    #[error("cannot encode a reply: {0}")]
    Encode(#[from] rtmp_message::EncodeError),
    /// An aggregate message of more sub-messages than [`MAX_AGGREGATE_PARTS`].
    #[error("an aggregate of more than {MAX_AGGREGATE_PARTS} messages")]
    AggregateTooLarge,
    /// A command or data message larger than
    /// [`SessionConfig::max_amf_message_size`].
    #[error("a command or data message of {size} bytes, over the limit of {limit}")]
    AmfTooLarge {
        /// The message's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
}

/// The most sub-messages an aggregate may carry. Servers that send aggregates put a second
/// or so of media in each (tens of messages); without a bound, one 8 MiB aggregate of empty
/// tags would become half a million events.
pub const MAX_AGGREGATE_PARTS: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Role {
    Idle,
    Publishing(StreamKey),
    Playing(StreamKey),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    AwaitConnect,
    ConnectPending,
    Connected,
}

/// The server side of one connection.
///
/// Feed every decoded message to [`handle_message`](Self::handle_message); send what
/// [`poll_send`](Self::poll_send) returns with the connection's chunk encoder; act on
/// [`poll_event`](Self::poll_event); call [`handle_timeout`](Self::handle_timeout) now and then
/// for keep-alive pings.
#[derive(Debug)]
pub struct ServerSession {
    config: SessionConfig,
    phase: Phase,
    started: Instant,
    last_ping: Instant,
    connect_transaction: f64,
    object_encoding: f64,
    app: String,
    enhanced: bool,
    /// What the client announced in connect (Enhanced RTMP), if anything.
    client_capabilities: Option<Capabilities>,
    /// The server's answer to it, once connect is accepted.
    negotiated: Option<Capabilities>,
    streams: Streams<Role>,
    next_stream_id: u32,
    outgoing: VecDeque<rtmp_chunk::RawMessage>,
    events: VecDeque<SessionEvent>,
}

/// Takes the next item of `queue`; once it is drained, unless `keep`, the queue gives its
/// buffer back. A server holds a session per connection, and most are players: their answers
/// and events come in bursts (connect, play) and then rarely, so holding the slots a burst
/// grew would cost every player for its whole life.
fn take<T>(queue: &mut VecDeque<T>, keep: bool) -> Option<T> {
    let item = queue.pop_front();
    if item.is_none() && !keep && queue.capacity() > 0 {
        *queue = VecDeque::new();
    }
    item
}

impl ServerSession {
    /// A session that has completed the handshake at `now`.
    pub fn new(config: SessionConfig, now: Instant) -> Self {
        Self {
            config,
            phase: Phase::AwaitConnect,
            started: now,
            last_ping: now,
            connect_transaction: 1.0,
            object_encoding: 0.0,
            app: String::new(),
            enhanced: false,
            client_capabilities: None,
            negotiated: None,
            streams: Streams::default(),
            next_stream_id: 1,
            outgoing: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The next message to send.
    pub fn poll_send(&mut self) -> Option<rtmp_chunk::RawMessage> {
        take(&mut self.outgoing, false)
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        // A publisher's media comes as events one by one: its queue keeps its slots.
        let publishing = self
            .streams
            .iter()
            .any(|(_, role)| matches!(role, Role::Publishing(_)));
        take(&mut self.events, publishing)
    }

    /// Whether the client announced Enhanced RTMP in its connect.
    pub fn is_enhanced(&self) -> bool {
        self.enhanced
    }

    /// What the client announced in connect (`fourCcList`, the FourCC info maps, `capsEx`);
    /// `None` for a client that announced nothing (a legacy client, or ffmpeg, which decodes
    /// Enhanced RTMP but announces nothing when it plays).
    pub fn client_capabilities(&self) -> Option<&Capabilities> {
        self.client_capabilities.as_ref()
    }

    /// What the server answered (the codecs and `capsEx` flags both sides listed), once
    /// connect is accepted; `None` when the client announced nothing.
    pub fn negotiated(&self) -> Option<&Capabilities> {
        self.negotiated.as_ref()
    }

    /// The application the client connected to.
    pub fn app(&self) -> &str {
        &self.app
    }

    fn send(
        &mut self,
        chunk_stream_id: u32,
        stream_id: u32,
        message: Message,
    ) -> Result<(), SessionError> {
        // A client that connected with objectEncoding 3 (AMF3) gets its commands as AMF3
        // command messages (type 17).
        let message = match message {
            Message::Command(command) if self.object_encoding == 3.0 => {
                Message::CommandAmf3(command)
            }
            other => other,
        };
        self.outgoing
            .push_back(message.to_chunk(chunk_stream_id, 0, stream_id)?);
        Ok(())
    }

    fn status(&mut self, stream_id: u32, status: Status) -> Result<(), SessionError> {
        self.send(
            chunk_stream::STREAM,
            stream_id,
            Command::on_status(status).into(),
        )
    }

    /// When [`handle_timeout`](Self::handle_timeout) has something to do next (a keep-alive
    /// ping); `None` while nothing is timed (before connect, or with no keep-alive).
    pub fn poll_timeout(&self) -> Option<Instant> {
        let interval = self.config.ping_interval?;
        (self.phase == Phase::Connected).then(|| self.last_ping + interval)
    }

    /// Sends a keep-alive ping when one is due.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), SessionError> {
        let Some(interval) = self.config.ping_interval else {
            return Ok(());
        };
        if self.phase == Phase::Connected && now.duration_since(self.last_ping) >= interval {
            self.last_ping = now;
            let millis = now.duration_since(self.started).as_millis() as u32;
            self.send(
                chunk_stream::CONTROL,
                0,
                UserControl::PingRequest(millis).into(),
            )?;
        }
        Ok(())
    }

    /// Handles one decoded message from the client.
    pub fn handle_message(&mut self, raw: rtmp_chunk::RawMessage) -> Result<(), SessionError> {
        if matches!(
            raw.type_id,
            type_id::COMMAND_AMF0 | type_id::COMMAND_AMF3 | type_id::DATA_AMF0 | type_id::DATA_AMF3
        ) && raw.payload.len() > self.config.max_amf_message_size
        {
            return Err(SessionError::AmfTooLarge {
                size: raw.payload.len(),
                limit: self.config.max_amf_message_size,
            });
        }
        match raw.type_id {
            type_id::AUDIO | type_id::VIDEO => {
                if matches!(self.streams.get(&raw.stream_id), Some(Role::Publishing(_))) {
                    self.events.push_back(SessionEvent::Media {
                        stream_id: raw.stream_id,
                        message: raw,
                    });
                }
                return Ok(());
            }
            type_id::DATA_AMF0 | type_id::DATA_AMF3 => return self.handle_data(raw),
            type_id::AGGREGATE => return self.handle_aggregate(&raw),
            type_id::COMMAND_AMF0 | type_id::COMMAND_AMF3 => {}
            type_id::USER_CONTROL => {
                if let Message::UserControl(UserControl::PingRequest(time)) = Message::decode(&raw)?
                {
                    self.send(
                        chunk_stream::CONTROL,
                        0,
                        UserControl::PingResponse(time).into(),
                    )?;
                }
                return Ok(());
            }
            // Set Chunk Size, Abort and Window Acknowledgement Size are applied by the chunk
            // decoder; acknowledgements and others need nothing here.
            _ => return Ok(()),
        }
        let (Message::Command(command) | Message::CommandAmf3(command)) = Message::decode(&raw)?
        else {
            return Ok(());
        };
        if self.phase == Phase::AwaitConnect && !matches!(command, Command::Connect(_)) {
            return Err(SessionError::NotConnected(command.name().to_owned()));
        }
        if let Command::Connect(connect) = &command
            && raw.payload.len() > self.config.max_connect_bytes
        {
            return self.refuse_connect(connect.transaction_id, "the connect command is too large");
        }
        self.handle_command(command, raw.stream_id)
    }

    /// The next free message stream id, unless the connection has all it may have.
    fn new_stream_id(&mut self) -> Option<u32> {
        if self.streams.len() >= self.config.max_streams as usize {
            return None;
        }
        while self.next_stream_id == 0 || self.streams.contains_key(&self.next_stream_id) {
            self.next_stream_id = self.next_stream_id.wrapping_add(1);
        }
        let id = self.next_stream_id;
        self.next_stream_id = id.wrapping_add(1);
        Some(id)
    }

    /// Takes a message stream the client used without creating it (lenient), within the
    /// connection's limit on streams.
    fn adopt_stream(&mut self, stream_id: u32) -> Result<(), SessionError> {
        if !self.streams.contains_key(&stream_id) {
            if self.streams.len() >= self.config.max_streams as usize {
                return Err(SessionError::TooManyStreams(self.config.max_streams));
            }
            self.streams.insert(stream_id, Role::Idle);
        }
        Ok(())
    }

    /// Gives a stream its role, unless the client deleted it while the application decided.
    fn set_role(&mut self, stream_id: u32, role: Role) {
        if let Some(current) = self.streams.get_mut(&stream_id) {
            *current = role;
        }
    }

    /// How many message streams the connection has open.
    pub fn stream_count(&self) -> usize {
        self.streams.len()
    }

    /// An aggregate from a publisher: its sub-messages, each handled as if it came alone (the
    /// first at the aggregate's timestamp, the others keeping their distance from it).
    fn handle_aggregate(&mut self, raw: &rtmp_chunk::RawMessage) -> Result<(), SessionError> {
        if !matches!(self.streams.get(&raw.stream_id), Some(Role::Publishing(_))) {
            return Ok(());
        }
        for (index, part) in rtmp_message::split_aggregate(raw).enumerate() {
            if index >= MAX_AGGREGATE_PARTS {
                return Err(SessionError::AggregateTooLarge);
            }
            let part = part?;
            if matches!(
                part.type_id,
                type_id::AUDIO | type_id::VIDEO | type_id::DATA_AMF0 | type_id::DATA_AMF3
            ) {
                self.handle_message(part)?;
            }
        }
        Ok(())
    }

    fn handle_data(&mut self, raw: rtmp_chunk::RawMessage) -> Result<(), SessionError> {
        if !matches!(self.streams.get(&raw.stream_id), Some(Role::Publishing(_))) {
            return Ok(());
        }
        // Metadata reaches players as onMetaData; other data passes through untouched.
        let message = match Message::decode(&raw) {
            Ok(Message::Data(data) | Message::DataAmf3(data))
                if data.name == rtmp_message::SET_DATA_FRAME =>
            {
                Message::Data(data.without_set_data_frame()).to_chunk(
                    raw.chunk_stream_id,
                    raw.timestamp,
                    raw.stream_id,
                )?
            }
            _ => raw,
        };
        self.events.push_back(SessionEvent::Media {
            stream_id: message.stream_id,
            message,
        });
        Ok(())
    }

    fn handle_command(&mut self, command: Command, stream_id: u32) -> Result<(), SessionError> {
        match command {
            Command::Connect(connect) => {
                if self.phase != Phase::AwaitConnect {
                    return Ok(());
                }
                let (app, query) = split_query(connect.app.trim_end_matches('/'));
                if app.len() > self.config.max_app_bytes {
                    return self.refuse_connect(
                        connect.transaction_id,
                        "the application name is too long",
                    );
                }
                if has_control(&app) || query.as_deref().is_some_and(has_control) {
                    return self.refuse_connect(
                        connect.transaction_id,
                        "the application name holds a control character",
                    );
                }
                if !self.query_fits(query.as_deref()) {
                    return self.refuse_connect(
                        connect.transaction_id,
                        "the application's query is too long",
                    );
                }
                self.app = app.clone();
                self.enhanced = connect.is_enhanced();
                self.client_capabilities = Capabilities::from_connect(&connect);
                self.connect_transaction = connect.transaction_id;
                self.object_encoding = connect.object_encoding.unwrap_or(0.0);
                self.phase = Phase::ConnectPending;
                self.events.push_back(SessionEvent::Connect(ConnectRequest {
                    app,
                    query,
                    tc_url: connect.tc_url.clone(),
                    enhanced: self.enhanced,
                    command: connect,
                }));
            }
            Command::CreateStream { transaction_id } => {
                let Some(id) = self.new_stream_id() else {
                    let status = Status::new(
                        rtmp_message::StatusCode::Other("NetConnection.Call.Failed".into()),
                        "Too many streams.",
                    );
                    let reply = Command::Error(rtmp_message::Response {
                        transaction_id,
                        command_object: Value::Null,
                        arguments: vec![status.to_value()],
                    });
                    return self.send(chunk_stream::COMMAND, 0, reply.into());
                };
                self.streams.insert(id, Role::Idle);
                self.send(
                    chunk_stream::COMMAND,
                    0,
                    Command::create_stream_result(transaction_id, id).into(),
                )?;
            }
            Command::Publish {
                name, publish_type, ..
            } => {
                let (name, query) = split_query(&name);
                // Lenient: publishing on a stream that was never created still works.
                self.adopt_stream(stream_id)?;
                if let Some(reason) = self.refused_name(&name, query.as_deref()) {
                    let status = Status::new(rtmp_message::StatusCode::PublishBadName, reason);
                    return self.status(stream_id, status);
                }
                self.events.push_back(SessionEvent::Publish(StreamRequest {
                    stream_id,
                    key: StreamKey {
                        app: self.app.clone(),
                        name,
                    },
                    query,
                    publish_type,
                }));
            }
            Command::Play(play) => {
                let (name, query) = split_query(&play.name);
                self.adopt_stream(stream_id)?;
                if let Some(reason) = self.refused_name(&name, query.as_deref()) {
                    return self.reject_play(stream_id, Status::play_failed(reason));
                }
                self.events.push_back(SessionEvent::Play(StreamRequest {
                    stream_id,
                    key: StreamKey {
                        app: self.app.clone(),
                        name,
                    },
                    query,
                    publish_type: PublishType::Live,
                }));
            }
            Command::DeleteStream {
                stream_id: deleted, ..
            } => {
                let deleted = deleted as u32;
                if self.streams.remove(&deleted).is_some() {
                    self.events
                        .push_back(SessionEvent::StreamClosed { stream_id: deleted });
                }
            }
            Command::CloseStream { .. } => {
                if let Some(role) = self.streams.get_mut(&stream_id) {
                    *role = Role::Idle;
                    self.events
                        .push_back(SessionEvent::StreamClosed { stream_id });
                }
            }
            Command::FcUnpublish {
                transaction_id,
                name,
            } => {
                let (name, query) = split_query(&name);
                self.empty_result(transaction_id)?;
                if self.refused_name(&name, query.as_deref()).is_some() {
                    return Ok(());
                }
                self.call("onFCUnpublish", Status::unpublish_success(&name))?;
                let publishing = self.streams.iter().find_map(|(id, role)| match role {
                    Role::Publishing(key) if key.name == name => Some(*id),
                    _ => None,
                });
                if let Some(id) = publishing {
                    self.streams.insert(id, Role::Idle);
                    self.events
                        .push_back(SessionEvent::StreamClosed { stream_id: id });
                }
            }
            // Encoders send these before publishing and log a missing answer; servers answer
            // with an empty result, and FCPublish with onFCPublish too.
            Command::ReleaseStream { transaction_id, .. } => self.empty_result(transaction_id)?,
            Command::FcPublish {
                transaction_id,
                name,
            } => {
                self.empty_result(transaction_id)?;
                let (name, query) = split_query(&name);
                if self.refused_name(&name, query.as_deref()).is_some() {
                    return Ok(());
                }
                self.call("onFCPublish", Status::publish_start(&name))?;
            }
            Command::Pause { pause, .. } => {
                self.play_control(stream_id, PlayControl::Pause(pause))?;
            }
            Command::Seek { position, .. } => {
                self.play_control(stream_id, PlayControl::Seek(position))?;
            }
            Command::ReceiveAudio { enabled, .. } => {
                self.play_control(stream_id, PlayControl::ReceiveAudio(enabled))?;
            }
            Command::ReceiveVideo { enabled, .. } => {
                self.play_control(stream_id, PlayControl::ReceiveVideo(enabled))?;
            }
            // getStreamLength, results and other calls need no answer.
            _ => {}
        }
        Ok(())
    }

    /// Whether `query` is within [`SessionConfig::max_query_bytes`].
    fn query_fits(&self, query: Option<&str>) -> bool {
        query.is_none_or(|query| query.len() <= self.config.max_query_bytes)
    }

    /// Why a stream `name` with `query` is refused, if it is (too long, or holding a control
    /// character, which no client sends and which would forge lines of a log): a reason that
    /// gives the rule, never the name.
    fn refused_name(&self, name: &str, query: Option<&str>) -> Option<String> {
        if has_control(name) || query.is_some_and(has_control) {
            return Some("the stream name holds a control character".to_owned());
        }
        if name.len() > self.config.max_name_bytes {
            return Some(format!(
                "the stream name is longer than {} bytes",
                self.config.max_name_bytes
            ));
        }
        (!self.query_fits(query)).then(|| {
            format!(
                "the stream name's query is longer than {} bytes",
                self.config.max_query_bytes
            )
        })
    }

    /// Refuses a connect (transaction `transaction_id`) for `reason` before the application
    /// hears of it; the connection should be closed afterwards, as after
    /// [`reject_connect`](Self::reject_connect).
    fn refuse_connect(&mut self, transaction_id: f64, reason: &str) -> Result<(), SessionError> {
        self.connect_transaction = transaction_id;
        self.events
            .push_back(SessionEvent::ConnectRefused(reason.to_owned()));
        self.reject_connect(Status::connect_rejected(reason))
    }

    /// Answers a player's control of its stream and tells the application; ignored on a
    /// stream that is not playing.
    fn play_control(&mut self, stream_id: u32, control: PlayControl) -> Result<(), SessionError> {
        let Some(Role::Playing(key)) = self.streams.get(&stream_id) else {
            return Ok(());
        };
        let name = key.name.clone();
        let status = |code: StatusCode, what: &str| {
            Status::new(code, format!("{what} {name}.")).with("details", name.as_str())
        };
        match control {
            PlayControl::Pause(true) => {
                self.status(stream_id, status(StatusCode::PauseNotify, "Paused"))?;
            }
            PlayControl::Pause(false) => {
                self.send(
                    chunk_stream::CONTROL,
                    0,
                    UserControl::StreamBegin(stream_id).into(),
                )?;
                self.status(stream_id, status(StatusCode::UnpauseNotify, "Unpaused"))?;
            }
            PlayControl::Seek(_) => {
                self.send(
                    chunk_stream::CONTROL,
                    0,
                    UserControl::StreamBegin(stream_id).into(),
                )?;
                self.status(stream_id, status(StatusCode::SeekNotify, "Seeking"))?;
                self.status(stream_id, Status::play_start(&name))?;
            }
            PlayControl::ReceiveAudio(_) | PlayControl::ReceiveVideo(_) => {}
        }
        self.events
            .push_back(SessionEvent::PlayControl { stream_id, control });
        Ok(())
    }

    /// `_result(transaction_id, null, undefined)` on the connection's command stream.
    fn empty_result(&mut self, transaction_id: f64) -> Result<(), SessionError> {
        let reply = Command::Result(rtmp_message::Response {
            transaction_id,
            command_object: Value::Null,
            arguments: vec![Value::Undefined],
        });
        self.send(chunk_stream::COMMAND, 0, reply.into())
    }

    /// `name(0, null, status)` on the connection's command stream (onFCPublish and the like).
    fn call(&mut self, name: &str, status: Status) -> Result<(), SessionError> {
        let call = Command::Call {
            name: name.to_owned(),
            transaction_id: 0.0,
            command_object: Value::Null,
            arguments: vec![status.to_value()],
        };
        self.send(chunk_stream::COMMAND, 0, call.into())
    }

    /// Accepts the connect: window, bandwidth, chunk size, and the success result (with the
    /// server's FourCC list for Enhanced RTMP clients).
    pub fn accept_connect(&mut self) -> Result<(), SessionError> {
        self.phase = Phase::Connected;
        let config = &self.config;
        let (window, bandwidth, chunk_size) = (
            config.window_ack_size,
            config.peer_bandwidth,
            config.chunk_size,
        );
        self.send(chunk_stream::CONTROL, 0, Message::WindowAckSize(window))?;
        self.send(
            chunk_stream::CONTROL,
            0,
            Message::SetPeerBandwidth {
                window: bandwidth,
                limit: LimitType::Dynamic,
            },
        )?;
        self.send(chunk_stream::CONTROL, 0, Message::SetChunkSize(chunk_size))?;
        let mut result = Command::connect_success(self.connect_transaction, self.object_encoding);
        if let Some(client) = &self.client_capabilities {
            let answer = self.config.capabilities.answer(client);
            if let Command::Result(response) = &mut result
                && let Some(object) = response.command_object.as_object_mut()
            {
                answer.write_into(object);
            }
            self.negotiated = Some(answer);
        }
        self.send(chunk_stream::COMMAND, 0, result.into())
    }

    /// Refuses the connect with `status` in an `_error` (usually
    /// `Status::connect_rejected(reason)`: NetConnection.Connect.Rejected); close afterwards.
    pub fn reject_connect(&mut self, status: Status) -> Result<(), SessionError> {
        let reply = Command::Error(rtmp_message::Response {
            transaction_id: self.connect_transaction,
            command_object: Value::Null,
            arguments: vec![status.to_value()],
        });
        self.send(chunk_stream::COMMAND, 0, reply.into())
    }

    /// Accepts a publish: NetStream.Publish.Start; media on the stream becomes events.
    pub fn accept_publish(&mut self, request: &StreamRequest) -> Result<(), SessionError> {
        self.set_role(request.stream_id, Role::Publishing(request.key.clone()));
        self.send(
            chunk_stream::CONTROL,
            0,
            UserControl::StreamBegin(request.stream_id).into(),
        )?;
        self.status(request.stream_id, Status::publish_start(&request.key.name))
    }

    /// Refuses a publish with `status` (e.g. [`Status::publish_bad_name`]).
    pub fn reject_publish(
        &mut self,
        request: &StreamRequest,
        status: Status,
    ) -> Result<(), SessionError> {
        self.status(request.stream_id, status)
    }

    /// Accepts a play: StreamBegin, Play.Reset, Play.Start and |RtmpSampleAccess. Media for the
    /// player goes out after these.
    pub fn accept_play(&mut self, request: &StreamRequest) -> Result<(), SessionError> {
        let id = request.stream_id;
        let name = &request.key.name;
        self.set_role(id, Role::Playing(request.key.clone()));
        self.send(
            chunk_stream::CONTROL,
            0,
            UserControl::StreamBegin(id).into(),
        )?;
        self.status(id, Status::play_reset(name))?;
        self.status(id, Status::play_start(name))?;
        self.send(
            chunk_stream::STREAM,
            id,
            Data::sample_access(true, true).into(),
        )
    }

    /// Refuses or ends a play with `status` (e.g. [`Status::play_stream_not_found`] or
    /// [`Status::play_failed`]).
    pub fn reject_play(&mut self, stream_id: u32, status: Status) -> Result<(), SessionError> {
        self.set_role(stream_id, Role::Idle);
        self.status(stream_id, status)
    }

    /// Tells a player that the publisher left (UnpublishNotify, StreamEOF).
    pub fn unpublish_notify(&mut self, stream_id: u32, name: &str) -> Result<(), SessionError> {
        self.status(stream_id, Status::unpublish_notify(name))?;
        self.send(
            chunk_stream::CONTROL,
            0,
            UserControl::StreamEof(stream_id).into(),
        )
    }

    /// Tells the client the server is closing the connection (NetConnection.Connect.Closed).
    pub fn connection_closed(&mut self) -> Result<(), SessionError> {
        let status = Status::new(
            rtmp_message::StatusCode::ConnectClosed,
            "The server is shutting down.",
        );
        self.send(chunk_stream::COMMAND, 0, Command::on_status(status).into())
    }

    /// Asks the client to connect again (Enhanced RTMP v2 NetConnection.Connect.ReconnectRequest),
    /// to `tc_url` (`rtmp://host[:port]/app`, another server) or, without one, to this
    /// server, and resume publishing or playing. Sent only to a client that announced
    /// [`caps_ex::RECONNECT`](crate::caps_ex::RECONNECT) and was accepted: the result says
    /// whether it was sent. The connection stays open; the client leaves on its own.
    pub fn request_reconnect(
        &mut self,
        tc_url: Option<&str>,
        description: &str,
    ) -> Result<bool, SessionError> {
        let follows = self.phase == Phase::Connected
            && self
                .negotiated
                .as_ref()
                .is_some_and(|agreed| agreed.caps_ex & crate::caps_ex::RECONNECT != 0);
        if follows {
            let status = Status::reconnect_request(tc_url, description);
            self.send(chunk_stream::COMMAND, 0, Command::on_status(status).into())?;
        }
        Ok(follows)
    }

    /// Sends an onStatus on message stream `stream_id` (0 for the connection): a status of
    /// the application's own, e.g. a warning about a skipped codec.
    pub fn send_status(&mut self, stream_id: u32, status: Status) -> Result<(), SessionError> {
        self.status(stream_id, status)
    }

    /// Tells a waiting player that a publisher arrived (StreamBegin, PublishNotify).
    pub fn publish_notify(&mut self, stream_id: u32, name: &str) -> Result<(), SessionError> {
        self.send(
            chunk_stream::CONTROL,
            0,
            UserControl::StreamBegin(stream_id).into(),
        )?;
        self.status(stream_id, Status::publish_notify(name))
    }
}

#[cfg(test)]
mod tests {
    use super::take;
    use std::collections::VecDeque;

    #[test]
    fn a_drained_queue_gives_its_buffer_back_unless_kept() {
        let mut burst: VecDeque<u8> = (0..40).collect();
        while take(&mut burst, false).is_some() {}
        assert_eq!(burst.capacity(), 0);

        let mut kept: VecDeque<u8> = VecDeque::with_capacity(4);
        kept.push_back(1);
        assert_eq!(take(&mut kept, true), Some(1));
        assert_eq!(take(&mut kept, true), None);
        assert!(kept.capacity() >= 4, "a publisher's queue keeps its slots");
    }
}
