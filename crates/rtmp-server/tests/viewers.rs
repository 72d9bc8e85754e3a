//! Viewers of other protocols admitted through `Server::viewer`: the hooks decide, the
//! registry lists them with their protocol, the operator's close and drain end them, and the
//! hooks hear their start and end.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rtmp_server::{
    Client, Hooks, Protocol, Refusal, Role, Server, ServerConfig, StreamEvent, StreamRequest,
    ViewerError, ViewerRequest,
};

/// Refuses plays whose query says `deny`, and notes every play's start and end.
#[derive(Clone, Default)]
struct Noted {
    events: Arc<Mutex<Vec<(&'static str, StreamEvent)>>>,
    asked: Arc<Mutex<Vec<u64>>>,
}

impl Hooks for Noted {
    async fn on_play(&self, client: &Client, request: &StreamRequest) -> Result<(), Refusal> {
        self.asked.lock().unwrap().push(client.connection);
        match request.query.as_deref() {
            Some("deny") => Err("denied".into()),
            _ => Ok(()),
        }
    }

    fn on_play_started(&self, event: &StreamEvent) {
        self.events.lock().unwrap().push(("started", event.clone()));
    }

    fn on_play_stopped(&self, event: &StreamEvent) {
        self.events.lock().unwrap().push(("stopped", event.clone()));
    }
}

/// A server with `hooks` serving on a free port (until the returned task is aborted), and its
/// port.
async fn serving<H: Hooks>(hooks: H) -> (Arc<Server<H>>, u16, tokio::task::JoinHandle<()>) {
    let server = Arc::new(Server::with_hooks(ServerConfig::default(), hooks));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = {
        let server = server.clone();
        tokio::spawn(async move {
            let _ = server.serve(listener, std::future::pending()).await;
        })
    };
    (server, port, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_is_a_connection_of_the_server() {
    let hooks = Noted::default();
    let (server, port, serving) = serving(hooks.clone()).await;
    let url = format!("rtmp://127.0.0.1:{port}/live/show");
    let tags = common::sample_tags();
    let publisher = tokio::spawn(async move { common::publish_tags(&url, &tags, 20, false).await });
    let key = common::key("show");
    common::eventually("the stream is live", || server.router().is_published(&key)).await;
    let peer = "127.0.0.1:40000".parse().unwrap();
    let request = |query: Option<&str>| {
        ViewerRequest::new(
            key.clone(),
            query.map(str::to_owned),
            peer,
            Protocol::HttpFlv,
        )
    };

    // Refused by the hooks, a bad track, an unknown stream: each with its HTTP status.
    let refused = server.viewer(request(Some("deny"))).await.unwrap_err();
    assert!(matches!(refused, ViewerError::Refused(_)));
    assert_eq!(refused.http_status(), 403);
    let bad = server.viewer(request(Some("track=x"))).await.unwrap_err();
    assert_eq!(bad.http_status(), 400);
    let mut unknown = request(None);
    unknown.key = common::key("nobody");
    assert_eq!(server.viewer(unknown).await.unwrap_err().http_status(), 404);

    // Admitted: the FLV header, then tags; listed with its protocol and stream.
    let mut viewer = server.viewer(request(None)).await.unwrap();
    let first = viewer.next().await.unwrap();
    assert_eq!(&first[..3], b"FLV");
    let mut bytes = first.len();
    while bytes < 20_000 {
        bytes += tokio::time::timeout(common::LIMIT, viewer.next())
            .await
            .unwrap()
            .unwrap()
            .len();
    }
    let stats = server.stats();
    let listed = stats
        .connections
        .iter()
        .find(|connection| connection.id == viewer.id())
        .expect("the viewer is listed");
    assert_eq!(listed.protocol, Protocol::HttpFlv);
    assert_eq!(listed.streams, [(key.clone(), Role::Player)]);
    assert!(listed.bytes_out >= 20_000);
    let stream = stats
        .streams
        .iter()
        .find(|stream| stream.key == key)
        .unwrap();
    assert_eq!(stream.players, 1);
    // The hooks were asked with the id it is listed under.
    assert!(hooks.asked.lock().unwrap().contains(&viewer.id()));

    // The operator closes it.
    assert!(server.close_connection(viewer.id()));
    let ended = tokio::time::timeout(common::LIMIT, async {
        while viewer.next().await.is_some() {}
    })
    .await;
    assert!(ended.is_ok(), "a closed viewer went on");
    let id = viewer.id();
    drop(viewer);
    assert!(
        server
            .stats()
            .connections
            .iter()
            .all(|connection| connection.id != id)
    );
    let events = hooks.events.lock().unwrap().clone();
    let ours: Vec<_> = events
        .iter()
        .filter(|(_, event)| event.connection == id)
        .collect();
    assert_eq!(ours.len(), 2, "{events:?}");
    assert_eq!(ours[0].0, "started");
    assert_eq!(ours[1].0, "stopped");
    assert!(ours[1].1.bytes >= 20_000, "{:?}", ours[1].1);

    // A drain ends viewers too.
    let mut viewer = server.viewer(request(None)).await.unwrap();
    viewer.next().await.unwrap();
    assert!(server.drain(None) >= 1);
    let ended = tokio::time::timeout(common::LIMIT, async {
        while viewer.next().await.is_some() {}
    })
    .await;
    assert!(ended.is_ok(), "a drained viewer went on");
    drop(viewer);
    publisher.abort();
    serving.abort();
}

/// A viewer's socket that accepts nothing fails its writes after the timeout.
#[tokio::test]
async fn a_write_that_makes_no_progress_times_out() {
    use tokio::io::AsyncWriteExt;
    let (near, _far) = tokio::io::duplex(1024);
    let mut socket = rtmp_server::system::WriteTimeout::new(near, Duration::from_millis(100));
    socket.write_all(&[0; 1024]).await.unwrap();
    let stalled = socket.write_all(&[0; 1024]).await.unwrap_err();
    assert_eq!(stalled.kind(), std::io::ErrorKind::TimedOut);
}

/// Accepts every play after a while, noting the ends of plays.
#[derive(Clone, Default)]
struct Slow {
    stopped: Arc<Mutex<Vec<u64>>>,
}

impl Hooks for Slow {
    async fn on_play(&self, _: &Client, _: &StreamRequest) -> Result<(), Refusal> {
        tokio::time::sleep(Duration::from_millis(300)).await;
        Ok(())
    }

    fn on_play_stopped(&self, event: &StreamEvent) {
        self.stopped.lock().unwrap().push(event.connection);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_gone_while_the_hooks_decide_leaves_them_no_play_without_its_end() {
    let hooks = Slow::default();
    let (server, port, serving) = serving(hooks.clone()).await;
    let url = format!("rtmp://127.0.0.1:{port}/live/slow");
    let tags = common::sample_tags();
    let publisher = tokio::spawn(async move { common::publish_tags(&url, &tags, 20, false).await });
    let key = common::key("slow");
    common::eventually("the stream is live", || server.router().is_published(&key)).await;
    let peer = "127.0.0.1:40001".parse().unwrap();
    let request = ViewerRequest::new(key, None, peer, Protocol::WsFlv);
    // The client leaves while the hooks decide: the admission is dropped.
    let gone = tokio::time::timeout(Duration::from_millis(50), server.viewer(request)).await;
    assert!(gone.is_err());
    common::eventually("the hooks hear the play's end", || {
        !hooks.stopped.lock().unwrap().is_empty()
    })
    .await;
    publisher.abort();
    serving.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_of_a_stream_whose_publisher_restarts_waits_for_it() {
    let (server, port, serving) = serving(rtmp_server::AcceptAll).await;
    let url = format!("rtmp://127.0.0.1:{port}/live/restart");
    let tags = common::sample_tags();
    let key = common::key("restart");
    let peer = "127.0.0.1:40002".parse().unwrap();
    let request = || ViewerRequest::new(key.clone(), None, peer, Protocol::HttpFlv);
    // Nobody publishes and nobody waits: not live.
    let refused = server.viewer(request()).await.unwrap_err();
    assert_eq!(refused.http_status(), 404);
    // A viewer while the first publisher is on, then the publisher leaves.
    let first = {
        let (url, tags) = (url.clone(), tags.clone());
        tokio::spawn(async move { common::publish_tags(&url, &tags, 1, false).await })
    };
    common::eventually("the stream is live", || server.router().is_published(&key)).await;
    let mut early = server.viewer(request()).await.unwrap();
    early.next().await.unwrap();
    first.await.unwrap();
    common::eventually("the publisher left", || !server.router().is_published(&key)).await;
    // Within the republish grace a viewer is admitted, and gets the next publisher's stream.
    let mut late = server.viewer(request()).await.unwrap();
    let again = tokio::spawn(async move { common::publish_tags(&url, &tags, 5, false).await });
    let mut bytes = 0;
    while bytes < 20_000 {
        bytes += tokio::time::timeout(common::LIMIT, late.next())
            .await
            .unwrap()
            .unwrap()
            .len();
    }
    drop((early, late));
    again.abort();
    serving.abort();
}
