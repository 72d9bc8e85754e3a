//! Ready-made [`Hooks`](rtmp_server::Hooks) for `rtmp-server`, each a layer to put before or
//! after an application's own with [`Layered`](rtmp_server::Layered):
//!
//! - [`SignedUrls`]: publishing (and, if set, playing) needs a stream name signed with a
//!   secret: `NAME?expires=UNIX&token=HEX`, HMAC-SHA256 over the action (publish or play),
//!   the app, the name and the expiry.
//! - [`Webhooks`] (feature `webhooks`, on by default): an HTTP endpoint decides each publish
//!   and play, and hears when they end; its connections are bounded, so that a server can
//!   count them in its descriptor budget.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use rtmp_hooks::{Action, SignedUrls};
//! use rtmp_server::{Layered, Server, StreamKey};
//!
//! let signed = SignedUrls::new().publish_secret("s3cret");
//! signed.validate()?;
//! // What the application hands an encoder: the stream name with its signature.
//! let key = StreamKey { app: "live".into(), name: "show".into() };
//! let expires = SystemTime::now() + Duration::from_secs(24 * 3600);
//! let query = SignedUrls::query(b"s3cret", Action::Publish, &key, expires);
//! let name = format!("show?{query}");
//! assert!(name.starts_with("show?expires="));
//! let server = Server::builder().hooks(signed).build();
//! # Ok::<(), rtmp_hooks::SecretError>(())
//! ```

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod signed;
#[cfg(feature = "webhooks")]
mod webhook;

pub use signed::{Action, SecretError, SignedUrls, TokenError};
#[cfg(feature = "webhooks")]
pub use webhook::{WebhookConfig, WebhookError, WebhookStats, Webhooks, describe_metrics};

/// The README's example, compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
