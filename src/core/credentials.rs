//! Credentials whose secrets cannot leak through `Debug` or `Display`.

use std::fmt;

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
}

impl Credentials {
    pub fn new(access_key_id: impl Into<String>, secret_access_key: impl Into<String>) -> Self {
        Credentials {
            access_key_id: access_key_id.into(),
            secret_access_key: Secret::new(secret_access_key),
            session_token: None,
        }
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
}
