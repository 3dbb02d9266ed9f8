//! The semantic error type every layer speaks.
//!
//! Callers branch on [`ErrorKind`] (is it retryable? should the user re-enter
//! credentials?), never on HTTP status codes or message text. The S3 error
//! XML's `Code` and `Message` are kept for diagnosis. No variant ever carries
//! a secret: credentials are redacted before anything is formatted.

use crate::prelude::*;

use core::fmt;

use crate::engine::lean::text::Piece;

/// What went wrong, in terms a caller can act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The object, bucket or version does not exist (404).
    NotFound,
    /// A conditional GET/HEAD matched (304): the caller's copy is current.
    NotModified,
    /// A conditional write lost (`If-None-Match: *` on an existing object,
    /// `If-Match` on a changed one): HTTP 412 or 409.
    PreconditionFailed,
    /// Wrong, missing or expired credentials, or a policy refused (401/403).
    AccessDenied,
    /// The server asked us to slow down (503 SlowDown, 429). Retryable.
    SlowDown,
    /// The server failed (5xx). Retryable.
    ServerError,
    /// The request never got an HTTP answer (DNS, reset, CORS, abort). Retryable.
    Network,
    /// The answer could not be understood (bad XML/JSON, missing header).
    BadResponse,
    /// The caller's input is invalid; nothing was sent.
    BadInput,
    /// The request was signed with a clock too far from the server's
    /// (`RequestTimeTooSkewed`). Retryable once the offset is corrected
    /// from the answer's `Date`.
    ClockSkew,
    /// The client is offline and the value is not cached.
    Offline,
    /// The durable store (IndexedDB) failed: writes are kept in memory
    /// only, and a reload would lose those not yet committed.
    Storage,
    /// The client was shut down.
    Shutdown,
    /// The bucket or the manifest cannot do what was asked (protocol v2
    /// on a bucket that ignores `If-None-Match: *`, a condition on a v1
    /// manifest); nothing was written.
    Unsupported,
    /// A conditional write's check failed where it landed (a key was not
    /// at the version it named), or a transaction kept conflicting.
    Conflict,
    /// Whether a write landed cannot be told (yet): its entry PUT may
    /// have been sent when the bucket stopped answering, or the log no
    /// longer holds the evidence. Never retried blindly: a write made
    /// again could apply twice.
    OutcomeUnknown,
    /// The bucket does not exist (S3's `NoSuchBucket`): a typo in its
    /// name, or the wrong endpoint or region. Not offline: no retry.
    NoSuchBucket,
    /// The browser blocked requests the bucket answers others of: its CORS
    /// rule lacks a method or header the client sends (a PUT's preflight
    /// refused). Not offline: nothing heals it but the bucket's rule.
    CorsBlocked,
    /// A value of an encrypted manifest could not be opened: this client
    /// lacks its key (another passphrase), or the value was changed in the
    /// bucket. Never garbage instead: the value is withheld.
    Decrypt,
}

impl ErrorKind {
    /// Every kind, in the order of their codes in the TypeScript
    /// declarations (`js_api`).
    pub const ALL: [ErrorKind; 19] = [
        ErrorKind::NotFound,
        ErrorKind::NotModified,
        ErrorKind::PreconditionFailed,
        ErrorKind::AccessDenied,
        ErrorKind::SlowDown,
        ErrorKind::ServerError,
        ErrorKind::Network,
        ErrorKind::BadResponse,
        ErrorKind::BadInput,
        ErrorKind::ClockSkew,
        ErrorKind::Offline,
        ErrorKind::Storage,
        ErrorKind::Shutdown,
        ErrorKind::Unsupported,
        ErrorKind::Conflict,
        ErrorKind::OutcomeUnknown,
        ErrorKind::NoSuchBucket,
        ErrorKind::CorsBlocked,
        ErrorKind::Decrypt,
    ];

    /// The stable code JavaScript sees as `error.code`.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "NotFound",
            ErrorKind::NotModified => "NotModified",
            ErrorKind::PreconditionFailed => "PreconditionFailed",
            ErrorKind::AccessDenied => "AccessDenied",
            ErrorKind::SlowDown => "SlowDown",
            ErrorKind::ServerError => "ServerError",
            ErrorKind::Network => "Network",
            ErrorKind::BadResponse => "BadResponse",
            ErrorKind::BadInput => "BadInput",
            ErrorKind::ClockSkew => "ClockSkew",
            ErrorKind::Offline => "Offline",
            ErrorKind::Storage => "Storage",
            ErrorKind::Shutdown => "Shutdown",
            ErrorKind::Unsupported => "Unsupported",
            ErrorKind::Conflict => "Conflict",
            ErrorKind::OutcomeUnknown => "OutcomeUnknown",
            ErrorKind::NoSuchBucket => "NoSuchBucket",
            ErrorKind::CorsBlocked => "CorsBlocked",
            ErrorKind::Decrypt => "Decrypt",
        }
    }

    /// Transient failures worth another attempt with backoff.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::SlowDown
                | ErrorKind::ServerError
                | ErrorKind::Network
                | ErrorKind::ClockSkew
        )
    }
}

/// An error with its kind, a human message, and what S3 said, if anything.
///
/// Boxed: a `Result` of this is one pointer wide, which keeps the many
/// `?` in the engine's async state machines from copying the fields
/// around (smaller .wasm).
#[derive(Clone, PartialEq, Eq)]
pub struct Error(Box<ErrorInfo>);

/// The fields of an [`Error`], reached through it (`e.kind`, `e.status`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorInfo {
    pub kind: ErrorKind,
    pub message: String,
    /// HTTP status, when there was an answer.
    pub status: Option<u16>,
    /// `<Code>` of the S3 error XML, e.g. `SignatureDoesNotMatch`.
    pub s3_code: Option<String>,
    /// Refused by an auth proxy's rules or limits (`x-mps3-refused:
    /// rule`): this request alone, not the client's credentials or the
    /// bucket's setup, so no misconfiguration to report in the status, and
    /// no retry of the request itself.
    pub by_rule: bool,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error(Box::new(ErrorInfo {
            kind,
            message: message.into(),
            status: None,
            s3_code: None,
            by_rule: false,
        }))
    }

    pub fn bad_input(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::BadInput, message)
    }

    pub fn bad_response(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::BadResponse, message)
    }

    pub fn network(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Network, message)
    }

    pub fn is_retryable(&self) -> bool {
        self.kind.is_retryable()
    }

    pub fn into_message(self) -> String {
        self.0.message
    }
}

impl core::ops::Deref for Error {
    type Target = ErrorInfo;
    fn deref(&self) -> &ErrorInfo {
        &self.0
    }
}

impl core::ops::DerefMut for Error {
    fn deref_mut(&mut self) -> &mut ErrorInfo {
        &mut self.0
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// `Code: message (S3 code, HTTP status)`, as logs and `to_string` give it.
impl Piece for Error {
    fn put(&self, out: &mut String) {
        out.push_str(self.kind.code());
        out.push_str(": ");
        self.sentence().put(out);
    }
}

/// An error without its code: `message (S3 code, HTTP status)`, what
/// JavaScript's `MPS3Error.message` holds beside its `code`.
pub struct Sentence<'a>(&'a Error);

impl Error {
    pub fn sentence(&self) -> Sentence<'_> {
        Sentence(self)
    }
}

impl Piece for Sentence<'_> {
    fn put(&self, out: &mut String) {
        let e = self.0;
        out.push_str(&e.message);
        let (open, close) = match &e.s3_code {
            Some(code) => {
                out.push_str(" (S3 ");
                out.push_str(code);
                (", HTTP ", ")")
            }
            None => (" (HTTP ", ""),
        };
        if let Some(status) = e.status {
            out.push_str(open);
            status.put(out);
            out.push(')');
        } else {
            out.push_str(close);
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&cat!(self))
    }
}

impl core::error::Error for Error {}

pub type Result<T> = core::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_transient_kinds_retry() {
        let retryable: Vec<_> = ErrorKind::ALL
            .into_iter()
            .filter(|k| k.is_retryable())
            .collect();
        assert_eq!(
            retryable,
            vec![
                ErrorKind::SlowDown,
                ErrorKind::ServerError,
                ErrorKind::Network,
                ErrorKind::ClockSkew
            ]
        );
    }

    #[test]
    fn display_names_code_and_s3_code() {
        let mut e = Error::new(ErrorKind::AccessDenied, "signature rejected");
        e.status = Some(403);
        e.s3_code = Some("SignatureDoesNotMatch".into());
        assert_eq!(
            e.to_string(),
            "AccessDenied: signature rejected (S3 SignatureDoesNotMatch, HTTP 403)"
        );
    }
}
