//! Signed stream names: a client proves it may publish (or play) `APP/NAME` until a time by
//! appending `?expires=UNIX&token=HEX` to the stream name. The stream is `APP/NAME` whatever
//! the query, so players play the name alone (with a token of their own when a play secret is
//! set), and the secret never travels.
//!
//! The form of the token is described at [`SignedUrls`].

use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use rtmp_message::StatusCode;
use rtmp_session::{StreamKey, StreamRequest};
use sha2::Sha256;

use rtmp_server::{Client, Hooks, Refusal};

/// What a token lets its holder do: the first line of the signed text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Publish the stream (signed by a publish secret).
    Publish,
    /// Play the stream (signed by a play secret).
    Play,
}

impl Action {
    /// The word signed: `publish` or `play`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Publish => "publish",
            Self::Play => "play",
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

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
    /// No secret gives this token for this action, key and expiry (or the key has a newline
    /// in its app or name, which no token signs).
    #[error("the stream name's token is not valid for this stream")]
    Invalid,
}

/// Why a set of secrets cannot be used. The secrets themselves are never in the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// A secret is empty, which anyone could sign with.
    #[error("a publish or play secret is empty")]
    Empty,
    /// The same secret is listed as a publish secret and as a play secret: whoever may sign
    /// plays could sign publishes too.
    #[error(
        "the same secret is listed as a publish secret and as a play secret; give each its own"
    )]
    PublishAndPlay,
}

/// Checks signed stream names for publishing, and for playing when a play secret is set.
/// Several secrets may be valid at once, so that a secret can be replaced without refusing
/// the clients signed with the old one; add the new one, then remove the old.
///
/// It is a [`Hooks`] of its own (a server that wants only this), and its checks can be called
/// from an application's own hooks. Call [`validate`](Self::validate) once the secrets are
/// added, at start, to refuse a configuration that mixes them up.
///
/// # The token
///
/// `HEX` is the hex of HMAC-SHA256(secret, TEXT) (lowercase, as openssl prints it; uppercase is
/// read too), where TEXT is four lines joined by a newline (`\n`, no newline at the end). Each
/// of `expires` and `token` is given once; a query with either twice is malformed:
///
/// ```text
/// ACTION\nAPP\nNAME\nEXPIRES
/// ```
///
/// - `ACTION` is `publish` or `play` ([`Action`]): a token lets its holder do that one thing,
///   even where the same secret were to sign both.
/// - `APP` and `NAME` are the application and the stream name, without any query. Each stays
///   its own field: the token of app `live`, name `x/y` does not stand for app `live/x`, name
///   `y`, which a URL `rtmp://HOST/live/x/y` would give.
/// - `EXPIRES` is the Unix time (seconds, decimal) until which the token is good.
///
/// A newline in `APP` or `NAME` would make TEXT readable as another key, so a key with one is
/// never accepted, whatever its token.
///
/// A publish token for `live/show` until 1700000000 with the secret `secret`, by openssl:
///
/// ```sh
/// printf 'publish\nlive\nshow\n1700000000' | openssl dgst -sha256 -hmac secret
/// # SHA2-256(stdin)= ea923a745cb5565d10e89b44d45ad207278b86bfbfc3566a8542c781bc2c4fb5
/// ```
///
/// A secret signs publishes or plays, never both: [`validate`](Self::validate) refuses a secret
/// listed for both, since whoever hands out play tokens (a web page's backend, say) would then
/// hold what signs publishes too.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use rtmp_hooks::{Action, SignedUrls};
/// use rtmp_server::StreamKey;
///
/// let signed = SignedUrls::new().publish_secret("s3cret");
/// signed.validate()?;
/// let key = StreamKey { app: "live".into(), name: "show".into() };
/// let expires = SystemTime::now() + Duration::from_secs(3600);
/// // What a publisher appends to the stream name: show?expires=...&token=...
/// let query = SignedUrls::query(b"s3cret", Action::Publish, &key, expires);
/// assert_eq!(signed.check_publish(&key, Some(&query), SystemTime::now()), Ok(()));
/// assert!(signed.check_publish(&key, None, SystemTime::now()).is_err());
/// // A play token of the same secret does not publish.
/// let play = SignedUrls::query(b"s3cret", Action::Play, &key, expires);
/// assert!(signed.check_publish(&key, Some(&play), SystemTime::now()).is_err());
/// // Players need nothing while no play secret is set.
/// assert_eq!(signed.check_play(&key, None, SystemTime::now()), Ok(()));
/// # Ok::<(), rtmp_hooks::SecretError>(())
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

    /// Whether the secrets can be used: none empty, and none listed both for publishing and
    /// for playing. A server calls this at start, before taking clients.
    pub fn validate(&self) -> Result<(), SecretError> {
        if self.publish.iter().chain(&self.play).any(Vec::is_empty) {
            return Err(SecretError::Empty);
        }
        if self.publish.iter().any(|secret| self.play.contains(secret)) {
            return Err(SecretError::PublishAndPlay);
        }
        Ok(())
    }

    /// The token letting its holder do `action` on `key` until `expires` (Unix seconds):
    /// lowercase hex of HMAC-SHA256(`secret`, `"ACTION\nAPP\nNAME\nEXPIRES"`), as the type
    /// documentation describes. A key with a newline in its app or name gets a token that is
    /// never accepted.
    pub fn token(secret: &[u8], action: Action, key: &StreamKey, expires: u64) -> String {
        let tag = mac(secret, action, key, expires).finalize().into_bytes();
        tag.iter().map(|byte| format!("{byte:02x}")).collect()
    }

    /// The query a client appends to the stream name to do `action`:
    /// `expires=UNIX&token=HEX`.
    pub fn query(secret: &[u8], action: Action, key: &StreamKey, expires: SystemTime) -> String {
        let expires = unix(expires);
        format!(
            "expires={expires}&token={}",
            Self::token(secret, action, key, expires)
        )
    }

    /// Whether a publish of `key` with `query` (the stream name's query string) is allowed at
    /// `now`: a publish token of one of the publish secrets, if any is set.
    pub fn check_publish(
        &self,
        key: &StreamKey,
        query: Option<&str>,
        now: SystemTime,
    ) -> Result<(), TokenError> {
        check(&self.publish, Action::Publish, key, query, now)
    }

    /// Whether a play of `key` with `query` is allowed at `now`: a play token of one of the
    /// play secrets, if any is set.
    pub fn check_play(
        &self,
        key: &StreamKey,
        query: Option<&str>,
        now: SystemTime,
    ) -> Result<(), TokenError> {
        check(&self.play, Action::Play, key, query, now)
    }
}

impl Hooks for SignedUrls {
    /// With a publish secret, a publish these hooks accepted carried a name signed for its
    /// key: its publisher may take the key over from a silent one.
    fn authenticates_publish(&self, _client: &Client, _request: &StreamRequest) -> bool {
        !self.publish.is_empty()
    }

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

/// The field separator of the signed text.
const SEPARATOR: char = '\n';

fn mac(secret: &[u8], action: Action, key: &StreamKey, expires: u64) -> Hmac<Sha256> {
    #[allow(clippy::expect_used)]
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
        .expect("HMAC accepts keys of every length");
    let text = format!(
        "{action}{SEPARATOR}{app}{SEPARATOR}{name}{SEPARATOR}{expires}",
        app = key.app,
        name = key.name
    );
    mac.update(text.as_bytes());
    mac
}

/// Checks `query` against `secrets` (none: anything goes) for `action` on `key`.
fn check(
    secrets: &[Vec<u8>],
    action: Action,
    key: &StreamKey,
    query: Option<&str>,
    now: SystemTime,
) -> Result<(), TokenError> {
    if secrets.is_empty() {
        return Ok(());
    }
    let (mut expires, mut token) = (None, None);
    for pair in query.unwrap_or_default().split('&') {
        let slot = match pair.split_once('=') {
            Some(("expires", value)) => (&mut expires, value),
            Some(("token", value)) => (&mut token, value),
            _ => continue,
        };
        // Given twice, a parameter could be read one way here and another by a webhook.
        if slot.0.replace(slot.1).is_some() {
            return Err(TokenError::Malformed);
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
    // The signed text is read back as four fields only if the key adds no separator.
    if key.app.contains(SEPARATOR) || key.name.contains(SEPARATOR) {
        return Err(TokenError::Invalid);
    }
    // verify_slice compares in constant time.
    let valid = secrets
        .iter()
        .any(|secret| mac(secret, action, key, expires).verify_slice(&tag).is_ok());
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
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use super::{Action, SecretError, SignedUrls, TokenError};
    use rtmp_session::StreamKey;

    fn key(name: &str) -> StreamKey {
        key_in("live", name)
    }

    fn key_in(app: &str, name: &str) -> StreamKey {
        StreamKey {
            app: app.into(),
            name: name.into(),
        }
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn the_token_is_hmac_sha256_of_action_app_name_and_expiry_on_lines() {
        // printf 'publish\nlive\nshow\n1700000000' | openssl dgst -sha256 -hmac secret
        assert_eq!(
            SignedUrls::token(b"secret", Action::Publish, &key("show"), 1_700_000_000),
            "ea923a745cb5565d10e89b44d45ad207278b86bfbfc3566a8542c781bc2c4fb5"
        );
        // printf 'play\nlive\nshow\n1700000000' | openssl dgst -sha256 -hmac secret
        assert_eq!(
            SignedUrls::token(b"secret", Action::Play, &key("show"), 1_700_000_000),
            "ed3c969cbc9149f330e2f3d04a963aac6aa87c587076c826fffdbf674e15cb7b"
        );
        // printf 'publish\nlive\nx/y\n1700000000' | openssl dgst -sha256 -hmac secret
        assert_eq!(
            SignedUrls::token(b"secret", Action::Publish, &key("x/y"), 1_700_000_000),
            "18db698eca70c2bd5a3fe7af544921f14518fc092c85233fb45bcf678e8162e3"
        );
        // printf 'publish\nlive/x\ny\n1700000000' | openssl dgst -sha256 -hmac secret
        assert_eq!(
            SignedUrls::token(
                b"secret",
                Action::Publish,
                &key_in("live/x", "y"),
                1_700_000_000
            ),
            "3399f0c6a87a12dd14fefa0e82134e36a52e14219391b31e761932524caf1a95"
        );
    }

    #[test]
    fn a_play_token_does_not_publish_even_with_one_secret_for_both() {
        let now = at(1_700_000_000);
        let later = now + Duration::from_secs(60);
        // Validation refuses this configuration; the tokens still mean one thing each.
        let both = SignedUrls::new()
            .publish_secret("shared")
            .play_secret("shared");
        let play = SignedUrls::query(b"shared", Action::Play, &key("show"), later);
        let publish = SignedUrls::query(b"shared", Action::Publish, &key("show"), later);
        assert_eq!(both.check_play(&key("show"), Some(&play), now), Ok(()));
        assert_eq!(
            both.check_publish(&key("show"), Some(&play), now),
            Err(TokenError::Invalid)
        );
        assert_eq!(
            both.check_publish(&key("show"), Some(&publish), now),
            Ok(())
        );
        assert_eq!(
            both.check_play(&key("show"), Some(&publish), now),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn a_token_names_its_app_and_name_apart() {
        let now = at(1_700_000_000);
        let later = now + Duration::from_secs(60);
        let signed = SignedUrls::new().publish_secret("s");
        // rtmp://HOST/live with the key x/y, against rtmp://HOST/live/x/y (app live/x, name y).
        let query = SignedUrls::query(b"s", Action::Publish, &key("x/y"), later);
        assert_eq!(signed.check_publish(&key("x/y"), Some(&query), now), Ok(()));
        assert_eq!(
            signed.check_publish(&key_in("live/x", "y"), Some(&query), now),
            Err(TokenError::Invalid)
        );
        let query = SignedUrls::query(b"s", Action::Publish, &key_in("live/x", "y"), later);
        assert_eq!(
            signed.check_publish(&key("x/y"), Some(&query), now),
            Err(TokenError::Invalid)
        );
        // A newline in the app or name could shift the fields: never accepted.
        for (app, name) in [("live\nx", "y"), ("live", "x\ny"), ("live", "show\n")] {
            let odd = key_in(app, name);
            let query = SignedUrls::query(b"s", Action::Publish, &odd, later);
            assert_eq!(
                signed.check_publish(&odd, Some(&query), now),
                Err(TokenError::Invalid),
                "{app:?} {name:?}"
            );
        }
    }

    #[test]
    fn a_secret_for_both_publishing_and_playing_or_an_empty_one_is_refused() {
        assert_eq!(SignedUrls::new().validate(), Ok(()));
        let apart = SignedUrls::new()
            .publish_secret("a")
            .publish_secret("b")
            .play_secret("c");
        assert_eq!(apart.validate(), Ok(()));
        let both = apart.clone().play_secret("b");
        assert_eq!(both.validate(), Err(SecretError::PublishAndPlay));
        let message = SecretError::PublishAndPlay.to_string();
        assert!(
            message.contains("publish secret and as a play secret"),
            "{message}"
        );
        assert_eq!(
            SignedUrls::new().play_secret("").validate(),
            Err(SecretError::Empty)
        );
    }

    #[test]
    fn a_parameter_given_twice_is_malformed() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let signed = SignedUrls::new().publish_secret("s");
        let good = SignedUrls::query(
            b"s",
            Action::Publish,
            &key("show"),
            now + Duration::from_secs(60),
        );
        assert_eq!(signed.check_publish(&key("show"), Some(&good), now), Ok(()));
        let doubled = format!("token=&{good}");
        assert_eq!(
            signed.check_publish(&key("show"), Some(&doubled), now),
            Err(TokenError::Malformed)
        );
    }

    #[test]
    fn missing_expired_altered_and_foreign_tokens_are_refused() {
        let now = at(1_700_000_000);
        let signed = SignedUrls::new()
            .publish_secret("old")
            .publish_secret("new");
        let later = now + Duration::from_secs(60);
        let query = |secret: &[u8], name: &str, expires| {
            SignedUrls::query(secret, Action::Publish, &key(name), expires)
        };
        let good = query(b"new", "show", later);
        assert_eq!(signed.check_publish(&key("show"), Some(&good), now), Ok(()));
        // Signed with the secret being replaced: still good.
        let old = query(b"old", "show", later);
        assert_eq!(signed.check_publish(&key("show"), Some(&old), now), Ok(()));
        assert_eq!(
            signed.check_publish(&key("show"), None, now),
            Err(TokenError::Missing)
        );
        let expired = query(b"new", "show", now - Duration::from_secs(1));
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
        let foreign = query(b"guess", "show", later);
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
