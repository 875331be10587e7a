//! JWT verification: HS256 with the shared secret (what `@nestjs/jwt` signs by
//! default), RS256/ES256 with a PEM public key or a JWKS file. The algorithm a
//! token names only picks among keys configured for that family, so an HMAC token
//! can never be checked against a public key (algorithm confusion), and `none` is
//! not an algorithm jsonwebtoken knows.

use std::collections::HashSet;
use std::path::Path;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde_json::{Map, Value};

use super::Identity;

#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    #[error("{0}")]
    Jwt(#[from] jsonwebtoken::errors::Error),
    #[error("algorithm {0:?} is not accepted")]
    Algorithm(Algorithm),
    #[error("no key matches the token")]
    NoKey,
    #[error("the token names no user (`sub` or `id`)")]
    NoSubject,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {detail}")]
    Parse { path: String, detail: String },
}

struct PublicKey {
    kid: Option<String>,
    alg: Algorithm,
    key: DecodingKey,
}

pub struct JwtVerifier {
    secret: Option<DecodingKey>,
    public: Vec<PublicKey>,
    issuer: Option<String>,
    audience: Option<String>,
}

const ASYMMETRIC: [Algorithm; 2] = [Algorithm::RS256, Algorithm::ES256];

impl JwtVerifier {
    pub fn new(secret: Option<&[u8]>, issuer: Option<String>, audience: Option<String>) -> Self {
        Self {
            secret: secret.map(DecodingKey::from_secret),
            public: Vec::new(),
            issuer,
            audience,
        }
    }

    /// Adds a PEM public key (RSA or EC P-256).
    pub fn with_pem_file(mut self, path: &Path) -> Result<Self, KeyError> {
        let pem = read(path)?;
        let (alg, key) = match DecodingKey::from_rsa_pem(&pem) {
            Ok(key) => (Algorithm::RS256, key),
            Err(_) => (
                Algorithm::ES256,
                DecodingKey::from_ec_pem(&pem).map_err(|e| parse_err(path, e))?,
            ),
        };
        self.public.push(PublicKey {
            kid: None,
            alg,
            key,
        });
        Ok(self)
    }

    /// Adds every RS256/ES256 key of a JWKS document.
    pub fn with_jwks_file(mut self, path: &Path) -> Result<Self, KeyError> {
        let set: JwkSet = serde_json::from_slice(&read(path)?).map_err(|e| parse_err(path, e))?;
        for jwk in &set.keys {
            let key = DecodingKey::from_jwk(jwk).map_err(|e| parse_err(path, e))?;
            let alg = match key.family() {
                jsonwebtoken::AlgorithmFamily::Rsa => Algorithm::RS256,
                jsonwebtoken::AlgorithmFamily::Ec => Algorithm::ES256,
                _ => continue,
            };
            self.public.push(PublicKey {
                kid: jwk.common.key_id.clone(),
                alg,
                key,
            });
        }
        Ok(self)
    }

    pub fn verify(&self, token: &str) -> Result<Identity, JwtError> {
        let header = decode_header(token)?;
        let key = match header.alg {
            Algorithm::HS256 => self.secret.as_ref().ok_or(JwtError::NoKey)?,
            alg if ASYMMETRIC.contains(&alg) => {
                let mut keys = self.public.iter().filter(|k| k.alg == alg);
                let found = match &header.kid {
                    Some(kid) => keys.find(|k| k.kid.as_deref() == Some(kid)),
                    None => keys.next(),
                };
                &found.ok_or(JwtError::NoKey)?.key
            }
            alg => return Err(JwtError::Algorithm(alg)),
        };
        let claims = decode::<Map<String, Value>>(token, key, &self.validation(header.alg))?.claims;
        identity(&claims).ok_or(JwtError::NoSubject)
    }

    fn validation(&self, alg: Algorithm) -> Validation {
        let mut v = Validation::new(alg);
        // Like @nestjs/jwt: `exp`/`nbf` are enforced when present, not required.
        v.required_spec_claims = HashSet::new();
        v.leeway = 0;
        v.validate_nbf = true;
        match &self.audience {
            Some(aud) => v.set_audience(&[aud]),
            None => v.validate_aud = false,
        }
        if let Some(iss) = &self.issuer {
            v.set_issuer(&[iss]);
        }
        v
    }
}

/// The user id is `sub` (or `id`); the name the first of `username`,
/// `preferred_username`, `name`, `email`, then the id.
fn identity(claims: &Map<String, Value>) -> Option<Identity> {
    let text = |key: &str| match claims.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let user_id = text("sub").or_else(|| text("id"))?;
    let username = ["username", "preferred_username", "name", "email"]
        .into_iter()
        .find_map(text)
        .unwrap_or_else(|| user_id.clone());
    Some(Identity { user_id, username })
}

fn read(path: &Path) -> Result<Vec<u8>, KeyError> {
    std::fs::read(path).map_err(|source| KeyError::Read {
        path: path.display().to_string(),
        source,
    })
}

fn parse_err(path: &Path, e: impl std::fmt::Display) -> KeyError {
    KeyError::Parse {
        path: path.display().to_string(),
        detail: e.to_string(),
    }
}
