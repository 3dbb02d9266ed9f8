//! Verifying a caller's OpenID Connect ID token: the issuer's keys found
//! by discovery (`/.well-known/openid-configuration` → `jwks_uri`), kept,
//! and fetched again when a token names a key id not among them (at most
//! once per ten seconds); the issuer, audience, expiry and not-before
//! checked, and only the configured asymmetric algorithms accepted (a
//! token signed `none` or with a shared secret never is).

use std::str::FromStr;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use tokio::sync::Mutex;

use crate::http::{get_json, Client};

pub struct Verifier {
    issuer: String,
    audience: String,
    algorithms: Vec<Algorithm>,
    roles_claim: String,
    http: Client,
    keys: Mutex<Keys>,
}

#[derive(Default)]
struct Keys {
    set: Option<JwkSet>,
    fetched_at: Option<Instant>,
}

/// Who a token says its bearer is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub sub: String,
    pub roles: Vec<String>,
}

const REFETCH_AFTER: Duration = Duration::from_secs(10);

impl Verifier {
    pub fn new(
        issuer: String,
        audience: String,
        algorithms: &[String],
        roles_claim: String,
        http: Client,
    ) -> Result<Verifier, String> {
        let mut algs = Vec::new();
        for a in algorithms {
            algs.push(Algorithm::from_str(a).map_err(|_| format!("unknown algorithm {a}"))?);
        }
        Ok(Verifier {
            issuer,
            audience,
            algorithms: algs,
            roles_claim,
            http,
            keys: Mutex::new(Keys::default()),
        })
    }

    async fn fetch(&self) -> Result<JwkSet, String> {
        let discovery = get_json(
            &self.http,
            &format!("{}/.well-known/openid-configuration", self.issuer),
        )
        .await?;
        if discovery.get("issuer").and_then(|i| i.as_str()) != Some(self.issuer.as_str()) {
            return Err("the issuer's discovery document names another issuer".into());
        }
        let jwks_uri = discovery
            .get("jwks_uri")
            .and_then(|u| u.as_str())
            .ok_or("the issuer's discovery document has no jwks_uri")?;
        let set = get_json(&self.http, jwks_uri).await?;
        serde_json::from_value(set).map_err(|e| format!("the issuer's keys are not a JWK set: {e}"))
    }

    /// The key `kid` names, fetching the issuer's keys again when it is
    /// not among those kept.
    async fn key(&self, kid: Option<&str>) -> Result<DecodingKey, String> {
        let mut keys = self.keys.lock().await;
        for attempt in 0..2 {
            if let Some(set) = &keys.set {
                let found = match kid {
                    Some(kid) => set.find(kid),
                    None if set.keys.len() == 1 => set.keys.first(),
                    None => None,
                };
                if let Some(jwk) = found {
                    return DecodingKey::from_jwk(jwk)
                        .map_err(|e| format!("the issuer's key is unusable: {e}"));
                }
            }
            let recent = keys.fetched_at.is_some_and(|t| t.elapsed() < REFETCH_AFTER);
            if attempt == 1 || (recent && keys.set.is_some()) {
                break;
            }
            keys.set = Some(self.fetch().await?);
            keys.fetched_at = Some(Instant::now());
        }
        Err("the token's key is not one of the issuer's".into())
    }

    pub async fn verify(&self, token: &str) -> Result<Identity, String> {
        let header = decode_header(token).map_err(|_| "a malformed token".to_string())?;
        if !self.algorithms.contains(&header.alg) {
            return Err(format!("tokens signed {:?} are not accepted", header.alg));
        }
        let key = self.key(header.kid.as_deref()).await?;
        let mut validation = Validation::new(header.alg);
        // (One algorithm: the allowlist was checked above; the key must be
        // of its family.)
        validation.algorithms = vec![header.alg];
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.validate_nbf = true;
        validation.leeway = 30;
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data = decode::<serde_json::Value>(token, &key, &validation)
            .map_err(|e| format!("the token is refused: {e}"))?;
        let claims = data.claims;
        let sub = claims
            .get("sub")
            .and_then(|s| s.as_str())
            .filter(|s| !s.is_empty())
            .ok_or("the token names no subject")?
            .to_string();
        let mut roles = Vec::new();
        if let Some(list) = claims.get(&self.roles_claim).and_then(|r| r.as_array()) {
            for r in list {
                if let Some(r) = r.as_str() {
                    roles.push(r.to_string());
                }
            }
        }
        Ok(Identity { sub, roles })
    }
}
