//! The operator's view over in-memory connections: `Server::stats` follows publishers,
//! players and refusals, and `stop_publisher` and `close_connection` end connections.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

mod common;

use std::net::SocketAddr;

use rtmp_server::rtmp_client::{Connection, RtmpUrl};
use rtmp_server::{Client, Hooks, Refusal, Role, Server, StreamRequest};

/// Refuses publishing the name "secret".
struct NoSecrets;

impl Hooks for NoSecrets {
    async fn on_publish(&self, _: &Client, request: &StreamRequest) -> Result<(), Refusal> {
        if request.key.name == "secret" {
            return Err("not this one".into());
        }
        Ok(())
    }
}

async fn connect(server: &Server<NoSecrets>, url: &RtmpUrl) -> Connection {
    let (ours, theirs) = tokio::io::duplex(1 << 20);
    let server = server.clone();
    let peer = SocketAddr::from(([10, 0, 0, 7], 1935));
    tokio::spawn(async move { server.serve_connection(theirs, peer).await });
    Connection::connect_over(ours, url, Default::default())
        .await
        .unwrap()
}

#[tokio::test]
async fn stats_follow_connections_streams_and_refusals_and_actions_end_them() {
    let server = Server::builder().hooks(NoSecrets).build();
    let url = RtmpUrl::parse("rtmp://memory/live/shown").unwrap();
    let mut publisher = connect(&server, &url)
        .await
        .publish(&url.stream)
        .await
        .unwrap();
    let _player = connect(&server, &url)
        .await
        .play(&url.stream)
        .await
        .unwrap();
    let refused = connect(&server, &url).await.publish("secret").await;
    assert!(refused.is_err());
    for tag in common::sample_tags().iter().take(40) {
        publisher
            .send_message(tag.tag_type, tag.timestamp, tag.data.clone())
            .await
            .unwrap();
    }
    common::eventually("the publisher's media is counted", || {
        server.stats().streams.first().is_some_and(|stream| {
            stream
                .media
                .as_ref()
                .is_some_and(|media| media.video_frames > 0)
        })
    })
    .await;

    let stats = server.stats();
    // The refused publisher's client closed its connection.
    assert_eq!(stats.connections.len(), 2);
    assert_eq!(stats.streams.len(), 1);
    let stream = &stats.streams[0];
    assert_eq!(stream.key, common::key("shown"));
    let (publisher_id, address) = stream.publisher.unwrap();
    assert_eq!(address, SocketAddr::from(([10, 0, 0, 7], 1935)));
    assert_eq!(stream.players, 1);
    let media = stream.media.as_ref().unwrap();
    assert_eq!(
        media.video_codec.map(|codec| codec.to_string()).as_deref(),
        Some("H.264")
    );
    assert!(media.bytes > 0 && media.bytes_out > 0);
    let roles: Vec<Role> = stats
        .connections
        .iter()
        .flat_map(|connection| connection.streams.iter().map(|(_, role)| *role))
        .collect();
    assert_eq!(roles, [Role::Publisher, Role::Player]);
    assert!(
        stats
            .connections
            .iter()
            .all(|c| c.app.as_deref() == Some("live"))
    );
    assert_eq!(stats.totals.publishes_refused, 1);
    assert_eq!(stats.totals.connections, 3);
    assert!(stats.totals.bytes_in > 0 && stats.totals.bytes_out > 0);

    // Closing the player's connection leaves the stream with its publisher only.
    let player_id = stats
        .connections
        .iter()
        .find(|c| c.streams.iter().any(|(_, role)| *role == Role::Player))
        .unwrap()
        .id;
    assert!(server.close_connection(player_id));
    common::eventually("the player's connection is gone", || {
        server
            .stats()
            .streams
            .first()
            .is_some_and(|stream| stream.players == 0)
    })
    .await;
    assert!(!server.close_connection(player_id));
    assert_eq!(
        server.stats().streams[0].publisher,
        Some((publisher_id, address))
    );

    // Stopping the publisher closes its connection, and the stream goes.
    assert!(server.stop_publisher(&common::key("shown")));
    common::eventually("every connection is closed", || server.connections() == 0).await;
    assert!(server.stats().streams.is_empty());
    assert!(!server.stop_publisher(&common::key("shown")));
    assert!(publisher.finish().await.is_err(), "the server closed it");
}
