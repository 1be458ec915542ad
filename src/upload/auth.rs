//! Who may upload: JWTs issued by the user service, verified here (Refract manages no accounts).
//!
//! Keys: an HS256 secret (`--jwt-secret`), a PEM public key (`--jwt-public-key`: RSA → RS256,
//! EC P-256 → ES256), and/or a JWKS file (`--jwt-jwks`, keys chosen by `kid`). The token's `alg`
//! picks the key *kind*, and a key is only ever used with its own algorithm, so the classic
//! confusions fail: `alg: none` has no key, and an HS256 token "signed" with the RSA public key
//! finds no HS256 secret. `exp` is required, `nbf` checked, both with [`LEEWAY_SECS`] of clock
//! skew; `iss`/`aud` when configured. The `scope` claim (OAuth style: space-separated string, or
//! an array) must contain the scope the endpoint asks for.

use std::collections::HashMap;
use std::path::Path;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::error::Error;

/// Clock skew tolerated on `exp` and `nbf`, in seconds.
pub const LEEWAY_SECS: u64 = 30;

/// What a verified token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// `sub`, for logs.
    pub subject: Option<String>,
    /// Granted scopes.
    pub scopes: Vec<String>,
}

#[derive(Deserialize)]
struct RawClaims {
    sub: Option<String>,
    #[serde(default)]
    scope: Option<Scope>,
    #[serde(default)]
    scp: Option<Scope>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Scope {
    Spaced(String),
    List(Vec<String>),
}

impl Scope {
    fn into_vec(self) -> Vec<String> {
        match self {
            Scope::Spaced(s) => s.split_whitespace().map(str::to_owned).collect(),
            Scope::List(v) => v,
        }
    }
}

/// The configured verification keys.
#[derive(Clone, Default)]
pub struct Authenticator {
    secret: Option<DecodingKey>,
    rsa: Option<DecodingKey>,
    ec: Option<DecodingKey>,
    jwks: HashMap<String, (DecodingKey, Algorithm)>,
    issuer: Option<String>,
    audience: Option<String>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("hs256", &self.secret.is_some())
            .field("rs256", &self.rsa.is_some())
            .field("es256", &self.ec.is_some())
            .field("jwks_kids", &self.jwks.keys().collect::<Vec<_>>())
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

impl Authenticator {
    /// Build from the configured sources; at least one key is required.
    pub fn new(
        secret: Option<&str>,
        public_key: Option<&Path>,
        jwks: Option<&Path>,
        issuer: Option<String>,
        audience: Option<String>,
    ) -> Result<Authenticator, String> {
        let mut auth = Authenticator {
            issuer,
            audience,
            ..Authenticator::default()
        };
        if let Some(secret) = secret {
            if secret.len() < 32 {
                return Err("--jwt-secret must be at least 32 bytes (HS256 needs 256 bits)".into());
            }
            auth.secret = Some(DecodingKey::from_secret(secret.as_bytes()));
        }
        if let Some(path) = public_key {
            let pem = std::fs::read(path)
                .map_err(|e| format!("--jwt-public-key {}: {e}", path.display()))?;
            if let Ok(key) = DecodingKey::from_rsa_pem(&pem) {
                auth.rsa = Some(key);
            } else if let Ok(key) = DecodingKey::from_ec_pem(&pem) {
                auth.ec = Some(key);
            } else {
                return Err(format!(
                    "--jwt-public-key {}: not an RSA or EC public key in PEM",
                    path.display()
                ));
            }
        }
        if let Some(path) = jwks {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("--jwt-jwks {}: {e}", path.display()))?;
            let set: JwkSet = serde_json::from_str(&text)
                .map_err(|e| format!("--jwt-jwks {}: {e}", path.display()))?;
            for jwk in &set.keys {
                let kid = jwk.common.key_id.clone().ok_or_else(|| {
                    format!("--jwt-jwks {}: every key needs a kid", path.display())
                })?;
                let alg = match &jwk.algorithm {
                    jsonwebtoken::jwk::AlgorithmParameters::RSA(_) => Algorithm::RS256,
                    jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(_) => Algorithm::ES256,
                    _ => {
                        return Err(format!(
                            "--jwt-jwks {}: key {kid}: only RSA and EC keys are accepted",
                            path.display()
                        ))
                    }
                };
                let key = DecodingKey::from_jwk(jwk)
                    .map_err(|e| format!("--jwt-jwks {}: key {kid}: {e}", path.display()))?;
                auth.jwks.insert(kid, (key, alg));
            }
        }
        if auth.secret.is_none() && auth.rsa.is_none() && auth.ec.is_none() && auth.jwks.is_empty()
        {
            return Err(
                "uploads need a key to verify tokens: --jwt-secret, --jwt-public-key or --jwt-jwks"
                    .into(),
            );
        }
        Ok(auth)
    }

    /// Verify an `Authorization` header value and require `scope`.
    pub fn verify(&self, authorization: Option<&str>, scope: &str) -> Result<Claims, Error> {
        let token = authorization
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(Error::Unauthorized("no bearer token"))?;
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| Error::Unauthorized("malformed token or unsupported algorithm"))?;
        let (key, alg) = self
            .key_for(header.alg, header.kid.as_deref())
            .ok_or(Error::Unauthorized("no key for this token's algorithm"))?;
        let mut validation = Validation::new(alg);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp"]);
        match &self.issuer {
            Some(iss) => validation.set_issuer(&[iss]),
            None => validation.iss = None,
        }
        match &self.audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        let data = jsonwebtoken::decode::<RawClaims>(token, key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            Error::Unauthorized(match e.kind() {
                ErrorKind::ExpiredSignature => "token expired",
                ErrorKind::ImmatureSignature => "token not valid yet",
                ErrorKind::InvalidSignature => "bad signature",
                ErrorKind::InvalidIssuer => "wrong issuer",
                ErrorKind::InvalidAudience => "wrong audience",
                ErrorKind::MissingRequiredClaim(_) => "token has no exp",
                _ => "invalid token",
            })
        })?;
        let scopes: Vec<String> = data
            .claims
            .scope
            .or(data.claims.scp)
            .map(Scope::into_vec)
            .unwrap_or_default();
        if !scopes.iter().any(|s| s == scope) {
            return Err(Error::ScopeMissing(scope.to_owned()));
        }
        Ok(Claims {
            subject: data.claims.sub,
            scopes,
        })
    }

    /// The key a token may be checked with: by `kid` in the JWKS, else by algorithm.
    fn key_for(&self, alg: Algorithm, kid: Option<&str>) -> Option<(&DecodingKey, Algorithm)> {
        if let Some((key, key_alg)) = kid.and_then(|k| self.jwks.get(k)) {
            return (*key_alg == alg).then_some((key, alg));
        }
        let key = match alg {
            Algorithm::HS256 => self.secret.as_ref(),
            Algorithm::RS256 => self.rsa.as_ref(),
            Algorithm::ES256 => self.ec.as_ref(),
            _ => None,
        }?;
        Some((key, alg))
    }
}
