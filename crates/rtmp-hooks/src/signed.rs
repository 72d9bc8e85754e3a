//! Signed stream names: a client proves it may publish (or play) `APP/NAME` until a time by
//! appending `?expires=UNIX&token=HEX` to the stream name, where `HEX` is the lowercase hex of
//! HMAC-SHA256(secret, `"APP/NAME:EXPIRES"`). The stream is `APP/NAME` whatever the query, so
//! players play the name alone (with a token of their own when a play secret is set), and the
//! secret never travels.

use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use rtmp_message::StatusCode;
use rtmp_session::{StreamKey, StreamRequest};
use sha2::Sha256;

use rtmp_server::{Client, Hooks, Refusal};

/// Why a signed name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The name has no `token` or no `expires`.
    #[error("a signed stream name is needed (NAME?expires=UNIX&token=HEX)")]
    Missing,
    /// `expires` or `token` cannot be read.
    #[error("the stream name's token or expiry is malformed")]
    Malformed,
    /// `expires` is past.
    #[error("the stream name's token expired")]
    Expired,
    /// No secret gives this token for this key and expiry.
    #[error("the stream name's token is not valid for this stream")]
    Invalid,
}

/// Checks signed stream names for publishing, and for playing when a play secret is set.
/// Several secrets may be valid at once, so that a secret can be replaced without refusing
/// the clients signed with the old one; add the new one, then remove the old.
///
/// It is a [`Hooks`] of its own (a server that wants only this), and its checks can be called
/// from an application's own hooks.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use rtmp_hooks::SignedUrls;
/// use rtmp_server::StreamKey;
///
/// let signed = SignedUrls::new().publish_secret("s3cret");
/// let key = StreamKey { app: "live".into(), name: "show".into() };
/// let expires = SystemTime::now() + Duration::from_secs(3600);
/// // What a publisher appends to the stream name: show?expires=...&token=...
/// let query = SignedUrls::query(b"s3cret", &key, expires);
/// assert_eq!(signed.check_publish(&key, Some(&query), SystemTime::now()), Ok(()));
/// assert!(signed.check_publish(&key, None, SystemTime::now()).is_err());
/// // Players need nothing while no play secret is set.
/// assert_eq!(signed.check_play(&key, None, SystemTime::now()), Ok(()));
/// ```
#[derive(Clone, Default)]
pub struct SignedUrls {
    publish: Vec<Vec<u8>>,
    play: Vec<Vec<u8>>,
}

impl std::fmt::Debug for SignedUrls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secrets stay out of logs.
        f.debug_struct("SignedUrls")
            .field("publish_secrets", &self.publish.len())
            .field("play_secrets", &self.play.len())
            .finish()
    }
}

impl SignedUrls {
    /// No secrets: every name is accepted until one is added.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a secret that signs publishes; with one or more, a publish needs a valid token.
    #[must_use]
    pub fn publish_secret(mut self, secret: impl Into<Vec<u8>>) -> Self {
        self.publish.push(secret.into());
        self
    }

    /// Adds a secret that signs plays; with one or more, a play needs a valid token.
    #[must_use]
    pub fn play_secret(mut self, secret: impl Into<Vec<u8>>) -> Self {
        self.play.push(secret.into());
        self
    }

    /// The token for `key` until `expires` (Unix seconds): lowercase hex of
    /// HMAC-SHA256(`secret`, `"APP/NAME:EXPIRES"`).
    pub fn token(secret: &[u8], key: &StreamKey, expires: u64) -> String {
        let tag = mac(secret, key, expires).finalize().into_bytes();
        tag.iter().map(|byte| format!("{byte:02x}")).collect()
    }

    /// The query a client appends to the stream name: `expires=UNIX&token=HEX`.
    pub fn query(secret: &[u8], key: &StreamKey, expires: SystemTime) -> String {
        let expires = unix(expires);
        format!(
            "expires={expires}&token={}",
            Self::token(secret, key, expires)
        )
    }

    /// Whether a publish of `key` with `query` (the stream name's query string) is allowed at
    /// `now`.
    pub fn check_publish(
        &self,
        key: &StreamKey,
        query: Option<&str>,
        now: SystemTime,
    ) -> Result<(), TokenError> {
        check(&self.publish, key, query, now)
    }

    /// Whether a play of `key` with `query` is allowed at `now`.
    pub fn check_play(
        &self,
        key: &StreamKey,
        query: Option<&str>,
        now: SystemTime,
    ) -> Result<(), TokenError> {
        check(&self.play, key, query, now)
    }
}

impl Hooks for SignedUrls {
    async fn on_publish(&self, _client: &Client, request: &StreamRequest) -> Result<(), Refusal> {
        self.check_publish(&request.key, request.query.as_deref(), SystemTime::now())
            .map_err(|error| refusal(StatusCode::PublishBadName, &error))
    }

    async fn on_play(&self, _client: &Client, request: &StreamRequest) -> Result<(), Refusal> {
        self.check_play(&request.key, request.query.as_deref(), SystemTime::now())
            .map_err(|error| refusal(StatusCode::PlayFailed, &error))
    }
}

/// A refusal with `code` saying why.
fn refusal(code: StatusCode, error: &TokenError) -> Refusal {
    Refusal::with_code(code, error.to_string())
}

fn unix(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

fn mac(secret: &[u8], key: &StreamKey, expires: u64) -> Hmac<Sha256> {
    #[allow(clippy::expect_used)]
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
        .expect("HMAC accepts keys of every length");
    mac.update(format!("{}/{}:{expires}", key.app, key.name).as_bytes());
    mac
}

/// Checks `query` against `secrets` (none: anything goes).
fn check(
    secrets: &[Vec<u8>],
    key: &StreamKey,
    query: Option<&str>,
    now: SystemTime,
) -> Result<(), TokenError> {
    if secrets.is_empty() {
        return Ok(());
    }
    let (mut expires, mut token) = (None, None);
    for pair in query.unwrap_or_default().split('&') {
        match pair.split_once('=') {
            Some(("expires", value)) => expires = Some(value),
            Some(("token", value)) => token = Some(value),
            _ => {}
        }
    }
    let (Some(expires), Some(token)) = (expires, token) else {
        return Err(TokenError::Missing);
    };
    let expires: u64 = expires.parse().map_err(|_| TokenError::Malformed)?;
    let tag = from_hex(token).ok_or(TokenError::Malformed)?;
    if expires < unix(now) {
        return Err(TokenError::Expired);
    }
    // verify_slice compares in constant time.
    let valid = secrets
        .iter()
        .any(|secret| mac(secret, key, expires).verify_slice(&tag).is_ok());
    if valid {
        Ok(())
    } else {
        Err(TokenError::Invalid)
    }
}

/// The bytes of lowercase or uppercase hex, if it is hex of 32 bytes.
fn from_hex(hex: &str) -> Option<Vec<u8>> {
    if hex.len() != 64 {
        return None;
    }
    let digit = |c: u8| {
        char::from(c)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    };
    hex.as_bytes()
        .chunks(2)
        .map(|pair| match pair {
            [high, low] => Some(digit(*high)? << 4 | digit(*low)?),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::{SignedUrls, TokenError};
    use rtmp_session::StreamKey;

    fn key(name: &str) -> StreamKey {
        StreamKey {
            app: "live".into(),
            name: name.into(),
        }
    }

    #[test]
    fn the_token_is_hmac_sha256_of_the_key_and_expiry_in_hex() {
        // `printf 'live/show:1700000000' | openssl dgst -sha256 -hmac secret`
        assert_eq!(
            SignedUrls::token(b"secret", &key("show"), 1_700_000_000),
            "31ffac2768ec05f674a54a611932fdf7750b1a358997d2f3a623bdc6678480f4"
        );
    }

    #[test]
    fn missing_expired_altered_and_foreign_tokens_are_refused() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let signed = SignedUrls::new()
            .publish_secret("old")
            .publish_secret("new");
        let later = now + Duration::from_secs(60);
        let good = SignedUrls::query(b"new", &key("show"), later);
        assert_eq!(signed.check_publish(&key("show"), Some(&good), now), Ok(()));
        // Signed with the secret being replaced: still good.
        let old = SignedUrls::query(b"old", &key("show"), later);
        assert_eq!(signed.check_publish(&key("show"), Some(&old), now), Ok(()));
        assert_eq!(
            signed.check_publish(&key("show"), None, now),
            Err(TokenError::Missing)
        );
        let expired = SignedUrls::query(b"new", &key("show"), now - Duration::from_secs(1));
        assert_eq!(
            signed.check_publish(&key("show"), Some(&expired), now),
            Err(TokenError::Expired)
        );
        // Another stream's token, a later expiry than signed, a flipped digit, another secret.
        assert_eq!(
            signed.check_publish(&key("other"), Some(&good), now),
            Err(TokenError::Invalid)
        );
        let stretched = good.replace(
            &format!("expires={}", 1_700_000_060),
            &format!("expires={}", 1_800_000_000),
        );
        assert_eq!(
            signed.check_publish(&key("show"), Some(&stretched), now),
            Err(TokenError::Invalid)
        );
        let last = good.chars().last().unwrap();
        let flipped = format!(
            "{}{}",
            &good[..good.len() - 1],
            if last == '0' { '1' } else { '0' }
        );
        assert_eq!(
            signed.check_publish(&key("show"), Some(&flipped), now),
            Err(TokenError::Invalid)
        );
        let foreign = SignedUrls::query(b"guess", &key("show"), later);
        assert_eq!(
            signed.check_publish(&key("show"), Some(&foreign), now),
            Err(TokenError::Invalid)
        );
        assert_eq!(
            signed.check_publish(&key("show"), Some("expires=soon&token=zz"), now),
            Err(TokenError::Malformed)
        );
        // Plays need nothing without a play secret.
        assert_eq!(signed.check_play(&key("show"), None, now), Ok(()));
    }
}
