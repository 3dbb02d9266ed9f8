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
}

impl S3Error {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> S3Error {
        S3Error {
            status,
            code,
            message: message.into(),
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
