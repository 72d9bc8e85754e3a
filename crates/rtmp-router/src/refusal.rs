//! [`Refusal`]: why a request is refused, with the status the client gets.

use std::fmt;

use rtmp_message::{Status, StatusCode};

/// Why an application or a router refuses a request. The client gets it in its `_error` or onStatus:
/// the code (the request's usual refusal when `None`: NetConnection.Connect.Rejected,
/// NetStream.Publish.BadName, NetStream.Play.Failed) and the description.
///
/// ```
/// use rtmp_message::StatusCode;
/// use rtmp_router::Refusal;
///
/// let plain: Refusal = "a valid token is needed".into();
/// let coded = Refusal::with_code(StatusCode::PlayStreamNotFound, "no such camera");
/// assert_eq!(plain.description, "a valid token is needed");
/// assert_eq!(coded.code, Some(StatusCode::PlayStreamNotFound));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Refusal {
    /// The status code; `None` for the request's usual refusal.
    pub code: Option<StatusCode>,
    /// Why, for the client (its onStatus description).
    pub description: String,
}

impl Refusal {
    /// A refusal with the request's usual code.
    pub fn new(description: impl Into<String>) -> Self {
        Self {
            code: None,
            description: description.into(),
        }
    }

    /// A refusal with `code`.
    pub fn with_code(code: StatusCode, description: impl Into<String>) -> Self {
        Self {
            code: Some(code),
            description: description.into(),
        }
    }

    /// The status the client gets: `usual` unless a code was given.
    pub fn status(&self, usual: Status) -> Status {
        let mut status = match &self.code {
            Some(code) => Status::new(code.clone(), ""),
            None => usual,
        };
        status.description = self.description.clone();
        status
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.description)
    }
}

impl From<String> for Refusal {
    fn from(description: String) -> Self {
        Self::new(description)
    }
}

impl From<&str> for Refusal {
    fn from(description: &str) -> Self {
        Self::new(description)
    }
}
