//! The proxy's configuration: one TOML file, secrets from the
//! environment (never in the file, never logged).

use serde::Deserialize;

use crate::rules::Manifest;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where it listens, `host:port`.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Its URL as browsers reach it (the dev identity provider's issuer
    /// is under it); default `http://<listen>`.
    pub public_url: Option<String>,
    #[serde(default)]
    pub auth: Auth,
    #[serde(default)]
    pub dev_idp: DevIdp,
    #[serde(default)]
    pub session: Session,
    pub upstream: Upstream,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub cors: Cors,
    #[serde(default)]
    pub compactor: Compactor,
    #[serde(rename = "manifest", default)]
    pub manifests: Vec<Manifest>,
}

/// `mps3-proxy compact`: the engine, run natively with the bucket's keys,
/// checkpointing each manifest and collecting behind.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Compactor {
    /// A checkpoint once the log is this many entries past the last
    /// (below the clients' 64, so that theirs, refused, are rarely tried).
    #[serde(default = "default_checkpoint_every")]
    pub checkpoint_every: u64,
    /// How long collection leaves what a checkpoint supersedes (readers
    /// that read the log before it may still need it).
    #[serde(default = "default_grace")]
    pub grace_seconds: u64,
    /// How often it runs.
    #[serde(default = "default_every")]
    pub every_seconds: u64,
}

impl Default for Compactor {
    fn default() -> Self {
        Compactor {
            checkpoint_every: default_checkpoint_every(),
            grace_seconds: default_grace(),
            every_seconds: default_every(),
        }
    }
}

fn default_checkpoint_every() -> u64 {
    32
}

fn default_grace() -> u64 {
    600
}

fn default_every() -> u64 {
    60
}

fn default_listen() -> String {
    "127.0.0.1:8787".into()
}

/// The OpenID Connect issuer whose ID tokens the proxy accepts.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    /// Its URL: discovery at `<issuer>/.well-known/openid-configuration`.
    pub issuer: Option<String>,
    /// The `aud` tokens must carry (the app's client id).
    pub audience: Option<String>,
    /// Accepted signature algorithms (asymmetric only).
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<String>,
    /// The claim that lists a caller's roles.
    #[serde(default = "default_roles_claim")]
    pub roles_claim: String,
}

fn default_algorithms() -> Vec<String> {
    vec!["RS256".into(), "ES256".into()]
}

fn default_roles_claim() -> String {
    "roles".into()
}

/// A built-in identity provider for local runs and tests: anyone may get
/// a token for any name from it. Never on unless the file says so.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevIdp {
    #[serde(default)]
    pub enabled: bool,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Session {
    /// How long issued credentials last.
    #[serde(default = "default_ttl")]
    pub ttl_seconds: u64,
    /// The environment variable holding the session keys
    /// (`id=base64,…`, the first signing).
    #[serde(default = "default_keys_env")]
    pub keys_env: String,
}

impl Default for Session {
    fn default() -> Self {
        Session {
            ttl_seconds: default_ttl(),
            keys_env: default_keys_env(),
        }
    }
}

fn default_ttl() -> u64 {
    900
}

fn default_keys_env() -> String {
    "MPS3_PROXY_KEYS".into()
}

/// The bucket behind the proxy, and the environment variables that hold
/// the proxy's own keys to it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Upstream {
    /// An S3-compatible endpoint; none: AWS in `region`.
    pub endpoint: Option<String>,
    pub region: String,
    pub bucket: String,
    #[serde(default = "default_key_id_env")]
    pub access_key_id_env: String,
    #[serde(default = "default_secret_env")]
    pub secret_access_key_env: String,
}

fn default_key_id_env() -> String {
    "MPS3_UPSTREAM_ACCESS_KEY_ID".into()
}

fn default_secret_env() -> String {
    "MPS3_UPSTREAM_SECRET_ACCESS_KEY".into()
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// The largest log entry, after gunzip.
    #[serde(default = "default_entry")]
    pub max_entry_bytes: usize,
    /// The largest content object (a value past 1 KiB, or binary).
    #[serde(default = "default_content")]
    pub max_content_bytes: usize,
    /// Credentials one caller may fetch per minute.
    #[serde(default = "default_credentials_per_minute")]
    pub credentials_per_minute: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_entry_bytes: default_entry(),
            max_content_bytes: default_content(),
            credentials_per_minute: default_credentials_per_minute(),
        }
    }
}

fn default_entry() -> usize {
    64 * 1024
}

fn default_content() -> usize {
    10 * 1024 * 1024
}

fn default_credentials_per_minute() -> u32 {
    30
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cors {
    /// Origins browsers may call from (`*`: any).
    #[serde(default = "default_origins")]
    pub origins: Vec<String>,
}

impl Default for Cors {
    fn default() -> Self {
        Cors {
            origins: default_origins(),
        }
    }
}

fn default_origins() -> Vec<String> {
    vec!["*".into()]
}

impl Config {
    pub fn parse(text: &str) -> Result<Config, String> {
        let config: Config = toml::from_str(text).map_err(|e| e.to_string())?;
        if config.manifests.is_empty() {
            return Err("declare at least one [[manifest]]".into());
        }
        if config.auth.issuer.is_none() && !config.dev_idp.enabled {
            return Err(
                "[auth] issuer is required (or [dev_idp] enabled = true, for local runs)".into(),
            );
        }
        for alg in &config.auth.algorithms {
            if !matches!(
                alg.as_str(),
                "RS256"
                    | "RS384"
                    | "RS512"
                    | "PS256"
                    | "PS384"
                    | "PS512"
                    | "ES256"
                    | "ES384"
                    | "EdDSA"
            ) {
                return Err(format!(
                    "algorithm {alg} is not accepted: asymmetric signatures only"
                ));
            }
        }
        Ok(config)
    }

    pub fn public_url(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen))
            .trim_end_matches('/')
            .to_string()
    }

    /// The issuer tokens must come from.
    pub fn issuer(&self) -> String {
        match &self.auth.issuer {
            Some(i) => i.trim_end_matches('/').to_string(),
            None => format!("{}/__dev/idp", self.public_url()),
        }
    }

    pub fn audience(&self) -> String {
        self.auth.audience.clone().unwrap_or_else(|| "mps3".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
[upstream]
region = "us-east-1"
bucket = "b"

[[manifest]]
key = "m"
read = "authenticated"
"#;

    #[test]
    fn a_config_needs_an_issuer_and_asymmetric_algorithms() {
        assert!(Config::parse(BASE).unwrap_err().contains("issuer"));
        let dev = format!("[dev_idp]\nenabled = true\n{BASE}");
        assert_eq!(
            Config::parse(&dev).unwrap().issuer(),
            "http://127.0.0.1:8787/__dev/idp"
        );
        let hs = format!("[auth]\nissuer = \"https://id\"\nalgorithms = [\"HS256\"]\n{BASE}");
        assert!(Config::parse(&hs).unwrap_err().contains("HS256"));
        let typo = format!("[auth]\nissuer = \"https://id\"\nisuer = \"x\"\n{BASE}");
        assert!(Config::parse(&typo).is_err(), "unknown fields are refused");
    }
}
