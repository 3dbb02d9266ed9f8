//! Refusals, as S3 gives them: a status and an XML body with a `Code` and
//! a `Message` the app can show. `AccessDenied` is final for the client
//! (never retried as transient); `SlowDown` asks it to wait;
//! `ExpiredToken` makes it fetch new credentials.

use mps3::engine::json::quote;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Error {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    /// A refusal by the rules of a request whose signature held (sent
    /// with `x-mps3-refused: rule`): the client tells it to the caller,
    /// not as a misconfiguration of the bucket or its credentials.
    pub by_rule: bool,
}

impl S3Error {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> S3Error {
        S3Error {
            status,
            code,
            message: message.into(),
            by_rule: false,
        }
    }

    /// The same refusal, as the rules' (see [`S3Error::by_rule`]).
    pub fn by_rule(self) -> S3Error {
        S3Error {
            by_rule: true,
            ..self
        }
    }

    /// `AccessDenied`, 403: the rules refuse it.
    pub fn denied(message: impl Into<String>) -> S3Error {
        S3Error::new(403, "AccessDenied", message)
    }

    pub fn to_xml(&self) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message></Error>",
            self.code,
            escape(&self.message)
        )
    }

    /// As JSON, for the proxy's own endpoints.
    pub fn to_json(&self) -> String {
        format!(
            "{{\"code\":{},\"message\":{}}}",
            quote(self.code),
            quote(&self.message)
        )
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
