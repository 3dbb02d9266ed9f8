//! A built-in OpenID Connect provider for local runs and tests only
//! (`[dev_idp] enabled = true`; never on by default): anyone may get an
//! ID token for any name. Its key is made at start and lives in memory.
//! The proxy verifies its tokens as any issuer's: by discovery, over
//! HTTP.

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use p256::pkcs8::{EncodePrivateKey, LineEnding};
use serde_json::json;

pub struct DevIdp {
    pub issuer: String,
    audience: String,
    kid: String,
    key: EncodingKey,
    jwks: serde_json::Value,
}

impl DevIdp {
    pub fn new(issuer: String, audience: String) -> DevIdp {
        DevIdp::with_kid(issuer, audience, "dev-1")
    }

    /// A provider whose key has the id `kid` (tests rotate keys by id).
    pub fn with_kid(issuer: String, audience: String, kid: &str) -> DevIdp {
        let secret = p256::SecretKey::random(&mut rand_core::OsRng);
        let pem = secret
            .to_pkcs8_pem(LineEnding::LF)
            .expect("a fresh key encodes");
        let key = EncodingKey::from_ec_pem(pem.as_bytes()).expect("a fresh key loads");
        let jwk: serde_json::Value =
            serde_json::from_str(&secret.public_key().to_jwk_string()).expect("a JWK is JSON");
        let mut jwk = jwk;
        jwk["kid"] = json!(kid);
        jwk["alg"] = json!("ES256");
        jwk["use"] = json!("sig");
        DevIdp {
            issuer,
            audience,
            kid: kid.to_string(),
            key,
            jwks: json!({ "keys": [jwk] }),
        }
    }

    pub fn discovery(&self) -> serde_json::Value {
        json!({
            "issuer": self.issuer,
            "jwks_uri": format!("{}/jwks", self.issuer),
            "id_token_signing_alg_values_supported": ["ES256"],
        })
    }

    pub fn jwks(&self) -> &serde_json::Value {
        &self.jwks
    }

    /// An ID token for `sub` with `roles`, valid for an hour; `audience`
    /// overrides the configured one (tests of a wrong audience).
    pub fn token(
        &self,
        sub: &str,
        roles: &[String],
        audience: Option<&str>,
        now_secs: u64,
    ) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        let claims = json!({
            "iss": self.issuer,
            "aud": audience.unwrap_or(&self.audience),
            "sub": sub,
            "roles": roles,
            "iat": now_secs,
            "nbf": now_secs,
            "exp": now_secs + 3600,
        });
        encode(&header, &claims, &self.key).expect("a token signs")
    }
}
