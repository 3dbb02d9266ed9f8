//! Credentials whose secrets cannot leak through `Debug` or `Display`.

use crate::prelude::*;

use core::fmt;

/// A string that prints as `<redacted>`. Secrets live in one of these so that
/// no `{:?}` in a log line, error or panic message can reveal them.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret itself; call only where it is used (signing, sending).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// AWS-style credentials. The access key id is not secret (it appears in
/// every Authorization header); the secret key and session token are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub session_token: Option<Secret>,
    /// When temporary credentials stop working (epoch ms), if known.
    pub expiration: Option<i64>,
    /// What this client's writer ids start with, when an auth proxy binds
    /// them to its caller (it refuses log entries under any other).
    pub writer_prefix: Option<String>,
}

impl Credentials {
    pub fn new(access_key_id: impl Into<String>, secret_access_key: impl Into<String>) -> Self {
        Credentials {
            access_key_id: access_key_id.into(),
            secret_access_key: Secret::new(secret_access_key),
            session_token: None,
            expiration: None,
            writer_prefix: None,
        }
    }

    pub fn with_expiration(mut self, epoch_ms: i64) -> Self {
        self.expiration = Some(epoch_ms);
        self
    }

    /// Due for a refresh at `now`: expired, or within a minute of it.
    pub fn near_expiry(&self, now: i64) -> bool {
        self.expiration.is_some_and(|e| now + 60_000 >= e)
    }

    pub fn with_session_token(mut self, token: impl Into<String>) -> Self {
        self.session_token = Some(Secret::new(token));
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_secrets() {
        let c = Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
            .with_session_token("AQoDYXdzEPT//////////wEXAMPLE");
        let shown = format!("{c:?} {c:#?}");
        assert!(shown.contains("AKIDEXAMPLE"));
        assert!(!shown.contains("wJalr"), "{shown}");
        assert!(!shown.contains("AQoD"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn expiry_is_due_a_minute_early() {
        let c = Credentials::new("a", "b").with_expiration(1_000_000);
        assert!(!c.near_expiry(900_000));
        assert!(c.near_expiry(940_000));
        assert!(!Credentials::new("a", "b").near_expiry(i64::MAX - 60_000));
    }
}
