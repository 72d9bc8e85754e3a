//! The cluster's state in Redis: who publishes each key (a lease), and which nodes are live.

use std::time::Duration;

use redis::RedisResult;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use rtmp_server::StreamKey;

use crate::ClusterConfig;

/// Sets the key to this node if nobody holds it, renews it if this node does; the holder.
const CLAIM: &str = r"
local owner = redis.call('GET', KEYS[1])
if owner == false or owner == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return ARGV[1]
end
return owner
";

/// Deletes the key if this node holds it.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

pub(crate) struct Store {
    redis: ConnectionManager,
    prefix: String,
    node_url: String,
    lease_millis: u64,
}

impl Store {
    pub(crate) async fn connect(config: &ClusterConfig) -> RedisResult<Self> {
        let client = redis::Client::open(config.redis_url.as_str())?;
        // Calls fail within a second while Redis is away, rather than holding a publish.
        let manager = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_secs(1)))
            .set_number_of_retries(1);
        let redis = ConnectionManager::new_with_config(client, manager).await?;
        Ok(Self {
            redis,
            prefix: config.prefix.clone(),
            node_url: config.node_url.clone(),
            lease_millis: u64::try_from(config.lease.as_millis()).unwrap_or(u64::MAX),
        })
    }

    fn owner_key(&self, key: &StreamKey) -> String {
        format!("{}:owner:{}/{}", self.prefix, key.app, key.name)
    }

    /// Claims `key` for this node (or renews the claim); the node that holds it.
    pub(crate) async fn claim(&self, key: &StreamKey) -> RedisResult<String> {
        let mut redis = self.redis.clone();
        redis::cmd("EVAL")
            .arg(CLAIM)
            .arg(1)
            .arg(self.owner_key(key))
            .arg(&self.node_url)
            .arg(self.lease_millis)
            .query_async(&mut redis)
            .await
    }

    /// Lets go of `key` if this node holds it.
    pub(crate) async fn release(&self, key: &StreamKey) -> RedisResult<i64> {
        let mut redis = self.redis.clone();
        redis::cmd("EVAL")
            .arg(RELEASE)
            .arg(1)
            .arg(self.owner_key(key))
            .arg(&self.node_url)
            .query_async(&mut redis)
            .await
    }

    /// The node that holds `key`.
    pub(crate) async fn owner(&self, key: &StreamKey) -> RedisResult<Option<String>> {
        let mut redis = self.redis.clone();
        redis::cmd("GET")
            .arg(self.owner_key(key))
            .query_async(&mut redis)
            .await
    }

    /// Announces this node for a lease's time.
    pub(crate) async fn heartbeat(&self) -> RedisResult<()> {
        let mut redis = self.redis.clone();
        redis::cmd("SET")
            .arg(format!("{}:node:{}", self.prefix, self.node_url))
            .arg(1)
            .arg("PX")
            .arg(self.lease_millis)
            .query_async(&mut redis)
            .await
    }

    /// The live nodes.
    pub(crate) async fn nodes(&self) -> RedisResult<Vec<String>> {
        let mut redis = self.redis.clone();
        let pattern = format!("{}:node:*", self.prefix);
        let strip = format!("{}:node:", self.prefix);
        // SCAN, not KEYS: Redis stays responsive whatever the size of its keyspace.
        let (mut cursor, mut nodes) = (0u64, Vec::new());
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut redis)
                .await?;
            nodes.extend(
                keys.iter()
                    .filter_map(|key| key.strip_prefix(&strip).map(str::to_owned)),
            );
            if next == 0 {
                return Ok(nodes);
            }
            cursor = next;
        }
    }
}
