//! Enhanced RTMP v2 Reconnect Request end to end: a drained server asks our client's
//! publisher and player to move to another server; both do, and the player's stream goes on.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

mod common;

use std::time::Duration;

use rtmp_server::rtmp_client::{self as client, ClientConfig, ClientError, PlayEvent};
use rtmp_server::{Server, StreamKey};

const LIMIT: Duration = Duration::from_secs(30);

/// A server on a loopback port, running until the test ends.
async fn start() -> (Server, u16) {
    let listening = Server::builder()
        .listen("127.0.0.1:0".parse().unwrap())
        .bind()
        .await
        .unwrap();
    let port = listening.local_addrs()[0].port();
    let server = listening.server().clone();
    tokio::spawn(listening.run(std::future::pending()));
    (server, port)
}

fn publishing(server: &Server, key: &StreamKey) -> bool {
    server
        .stats()
        .streams
        .iter()
        .any(|stream| &stream.key == key && stream.publisher.is_some())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drained_server_moves_our_publisher_and_player_to_another() {
    let ((a, port_a), (b, port_b)) = (start().await, start().await);
    let key = common::key("moving");
    let url_a = format!("rtmp://127.0.0.1:{port_a}/live/moving");
    let mut publisher = client::publish(&url_a, ClientConfig::default())
        .await
        .unwrap();
    let mut player = client::play(&url_a, ClientConfig::default()).await.unwrap();

    // The publisher sends the sample file in a loop, 25 messages a second, with timestamps
    // that keep growing across loops.
    let tags = common::sample_tags();
    let sending = tokio::spawn(async move {
        let mut offset = 0;
        loop {
            let last = tags.last().map_or(0, |tag| tag.timestamp);
            for tag in &tags {
                publisher
                    .send_message(tag.tag_type, offset + tag.timestamp, tag.data.clone())
                    .await?;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            offset += last + 40;
        }
        #[allow(unreachable_code)]
        Ok::<(), ClientError>(())
    });

    // Media reaches the player through A, then A is drained towards B.
    let mut latest = 0;
    let next_media = async |player: &mut client::Player| loop {
        match tokio::time::timeout(LIMIT, player.next_event()).await {
            Ok(Ok(Some(PlayEvent::Media(message)))) if message.type_id == 9 => {
                return message.timestamp;
            }
            Ok(Ok(Some(_))) => {}
            other => panic!("the player stopped: {other:?}"),
        }
    };
    while latest < 1000 {
        latest = next_media(&mut player).await;
    }
    assert_eq!(a.drain(Some(&format!("rtmp://127.0.0.1:{port_b}/live"))), 2);
    assert!(a.is_draining());

    // Both move to B: A is left with nobody, B has the publisher and the player. The player's
    // events are taken meanwhile: a player whose application stops reading stops reading its
    // connection too, and would never see the request to move.
    let moving = async {
        common::eventually("the publisher and the player move to B", || {
            publishing(&b, &key) && b.stats().streams.iter().any(|stream| stream.players == 1)
        })
        .await;
        common::eventually("A is left with nobody", || a.connections() == 0).await;
    };
    tokio::pin!(moving);
    loop {
        tokio::select! {
            () = &mut moving => break,
            event = player.next_event() => match event {
                Ok(Some(PlayEvent::Media(message))) if message.type_id == 9 => {
                    latest = message.timestamp;
                }
                Ok(Some(_)) => {}
                other => panic!("the player stopped: {other:?}"),
            },
        }
    }

    // The player's stream goes on, from B.
    let moved = latest;
    while latest < moved + 2000 {
        latest = next_media(&mut player).await;
    }

    // A refuses new publishers while draining.
    let refused = client::publish(
        &format!("rtmp://127.0.0.1:{port_a}/live/late"),
        ClientConfig::default(),
    )
    .await;
    assert!(
        matches!(refused, Err(ClientError::BadName(_))),
        "{refused:?}"
    );
    sending.abort();
}
