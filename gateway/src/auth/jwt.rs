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

use super::identity::Identity;

#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    #[error("{0}")]
    Jwt(#[from] jsonwebtoken::errors::Error),
    #[error("algorithm {0:?} is not accepted")]
    Algorithm(Algorithm),
    #[error("no key matches the token")]
    NoKey,
    #[error("the token names no user (none of the user id claims)")]
    NoSubject,
    #[error("the token's user id is longer than {MAX_USER_ID_BYTES} bytes")]
    UserIdTooLong,
}

/// Longest user id accepted from a token: ids are broadcast to every peer
/// and cannot be shortened without merging users.
pub const MAX_USER_ID_BYTES: usize = 256;
/// Display names from a token are cut to this many characters: a name is
/// broadcast to every peer of a room (a signed 500 KB `username` was).
pub const MAX_USERNAME_CHARS: usize = 64;

/// Caps what a (validly signed) token can make the gateway repeat to others.
fn bounded(mut who: Identity) -> Result<Identity, JwtError> {
    if who.user_id.len() > MAX_USER_ID_BYTES {
        return Err(JwtError::UserIdTooLong);
    }
    cut_name(&mut who.username);
    Ok(who)
}

/// Cuts a display name to [`MAX_USERNAME_CHARS`] (also the names an app's
/// user lookup returns).
pub fn cut_name(name: &mut String) {
    if let Some((cut, _)) = name.char_indices().nth(MAX_USERNAME_CHARS) {
        name.truncate(cut);
    }
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
    claims: ClaimNames,
}

/// Which claims name the user: tokens that are not `{ sub, username }` (the
/// app's `{ id, email, tokenVersion }`) are mapped here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimNames {
    /// Tried in order; the first present is the user id.
    pub user_id: Vec<String>,
    /// Tried in order, then the user id. `email` is only used when listed: other
    /// peers see this name.
    pub username: Vec<String>,
}

impl Default for ClaimNames {
    fn default() -> Self {
        Self {
            user_id: vec!["sub".into(), "id".into()],
            username: vec![
                "username".into(),
                "preferred_username".into(),
                "name".into(),
            ],
        }
    }
}

/// What a valid token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub identity: Identity,
    /// The `tokenVersion` claim, which the app bumps to revoke its tokens.
    pub token_version: Option<i64>,
}

const ASYMMETRIC: [Algorithm; 2] = [Algorithm::RS256, Algorithm::ES256];

impl JwtVerifier {
    pub fn new(secret: Option<&[u8]>, issuer: Option<String>, audience: Option<String>) -> Self {
        Self {
            secret: secret.map(DecodingKey::from_secret),
            public: Vec::new(),
            issuer,
            audience,
            claims: ClaimNames::default(),
        }
    }

    /// Reads the user id and name from these claims instead of the defaults.
    pub fn with_claims(mut self, claims: ClaimNames) -> Self {
        self.claims = claims;
        self
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

    pub fn verify(&self, token: &str) -> Result<Verified, JwtError> {
        let header = decode_header(token)?;
        let key = match header.alg {
            Algorithm::HS256 => self.secret.as_ref().ok_or(JwtError::NoKey)?,
            alg if ASYMMETRIC.contains(&alg) => &self.public_key(alg, header.kid.as_deref())?.key,
            alg => return Err(JwtError::Algorithm(alg)),
        };
        let claims = decode::<Map<String, Value>>(token, key, &self.validation(header.alg))?.claims;
        let identity = bounded(self.identity(&claims).ok_or(JwtError::NoSubject)?)?;
        let token_version = match claims.get("tokenVersion") {
            Some(Value::Number(n)) => n.as_i64(),
            Some(Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        };
        Ok(Verified {
            identity,
            token_version,
        })
    }

    /// The user id is the first of the id claims present (`sub ?? id`); the
    /// name the first of the name claims that counts, then the id. A claim
    /// counts when it is a non-empty string or a number; an id claim present
    /// that does not count refuses the token rather than being passed over.
    fn identity(&self, claims: &Map<String, Value>) -> Option<Identity> {
        let text = |key: &String| match claims.get(key)? {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        };
        let present = |key: &&String| claims.get(*key).is_some_and(|v| !v.is_null());
        let user_id = text(self.claims.user_id.iter().find(present)?)?;
        let username = self
            .claims
            .username
            .iter()
            .find_map(text)
            .unwrap_or_else(|| user_id.clone());
        Some(Identity { user_id, username })
    }

    /// The key for a token of `alg` naming `kid`: the key of that kid, else a
    /// key without one (a PEM file has none, and identity providers put a
    /// `kid` in every token). A key with a kid is only ever used for it.
    fn public_key(&self, alg: Algorithm, kid: Option<&str>) -> Result<&PublicKey, JwtError> {
        let mut keys = self.public.iter().filter(|k| k.alg == alg);
        let named = kid.and_then(|kid| keys.clone().find(|k| k.kid.as_deref() == Some(kid)));
        named
            .or_else(|| keys.find(|k| k.kid.is_none()))
            .or_else(|| {
                // A token without a kid: the first key of its algorithm.
                kid.is_none()
                    .then(|| self.public.iter().find(|k| k.alg == alg))
                    .flatten()
            })
            .ok_or(JwtError::NoKey)
    }

    fn validation(&self, alg: Algorithm) -> Validation {
        let mut v = Validation::new(alg);
        // Like @nestjs/jwt: `exp`/`nbf` are enforced when present, not required.
        v.required_spec_claims = HashSet::new();
        v.leeway = 0;
        v.validate_nbf = true;
        match &self.audience {
            Some(aud) => {
                v.set_audience(&[aud]);
                v.required_spec_claims.insert("aud".into());
            }
            None => v.validate_aud = false,
        }
        if let Some(iss) = &self.issuer {
            v.set_issuer(&[iss]);
            v.required_spec_claims.insert("iss".into());
        }
        v
    }
}

/// Signs the gateway's own access tokens (`POST /token`): HS256 with the
/// gateway's secret, `{ sub, username, iat, exp }` like `@nestjs/jwt`.
pub struct TokenIssuer {
    key: jsonwebtoken::EncodingKey,
    pub ttl: std::time::Duration,
}

impl TokenIssuer {
    pub fn new(secret: &[u8], ttl: std::time::Duration) -> Self {
        Self {
            key: jsonwebtoken::EncodingKey::from_secret(secret),
            ttl,
        }
    }

    pub fn issue(&self, who: &Identity) -> Result<String, jsonwebtoken::errors::Error> {
        let iat = jsonwebtoken::get_current_timestamp();
        let claims = serde_json::json!({
            "sub": who.user_id,
            "username": who.username,
            "iat": iat,
            "exp": iat + self.ttl.as_secs(),
        });
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(Algorithm::HS256),
            &claims,
            &self.key,
        )
    }
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

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::{SystemTime, UNIX_EPOCH};

    use base64::Engine;
    use jsonwebtoken::{EncodingKey, Header, encode};
    use serde_json::json;

    use super::*;

    const SECRET: &[u8] = b"test-secret";

    fn fixture(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name)
    }

    fn now() -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    }

    fn hs(claims: Value) -> String {
        encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap()
    }

    fn signed(alg: Algorithm, kid: Option<&str>, key_file: &str, claims: Value) -> String {
        let pem = std::fs::read(fixture(key_file)).unwrap();
        let key = match alg {
            Algorithm::RS256 => EncodingKey::from_rsa_pem(&pem).unwrap(),
            _ => EncodingKey::from_ec_pem(&pem).unwrap(),
        };
        let mut header = Header::new(alg);
        header.kid = kid.map(str::to_owned);
        encode(&header, &claims, &key).unwrap()
    }

    fn verifier() -> JwtVerifier {
        JwtVerifier::new(Some(SECRET), None, None)
    }

    fn b64(v: &Value) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    }

    #[test]
    fn a_nestjs_style_hs256_token_names_its_user() {
        let token =
            hs(json!({ "sub": "42", "username": "alice", "iat": now(), "exp": now() + 60 }));
        assert_eq!(
            verifier().verify(&token).unwrap().identity,
            Identity {
                user_id: "42".into(),
                username: "alice".into()
            }
        );
    }

    #[test]
    fn the_name_falls_back_through_the_claims_but_never_to_the_email() {
        let v = verifier();
        let name = |claims: Value| v.verify(&hs(claims)).unwrap().identity.username;
        assert_eq!(
            name(json!({ "sub": "1", "preferred_username": "p", "name": "n" })),
            "p"
        );
        assert_eq!(
            name(json!({ "sub": "1", "name": "n", "email": "e@x" })),
            "n"
        );
        // Other peers see the name: an e-mail address is not one by default.
        assert_eq!(name(json!({ "sub": "1", "email": "e@x" })), "1");
        assert_eq!(name(json!({ "sub": "1" })), "1");
        assert_eq!(
            v.verify(&hs(json!({ "id": 7 }))).unwrap().identity.user_id,
            "7"
        );
        assert_eq!(
            v.verify(&hs(json!({ "sub": null, "id": "x" })))
                .unwrap()
                .identity
                .user_id,
            "x"
        );
        // Found by the differential fuzzer: a `sub` that does not count is not
        // passed over for `id` (the reference reads `sub ?? id`).
        for sub in [json!(""), json!(true), json!({}), json!(["x"])] {
            assert!(
                v.verify(&hs(json!({ "sub": sub, "id": "x" }))).is_err(),
                "{sub}"
            );
        }
        assert_eq!(
            name(json!({ "sub": "1", "username": true, "name": "n" })),
            "n"
        );
        assert!(matches!(
            v.verify(&hs(json!({ "username": "nobody" }))),
            Err(JwtError::NoSubject)
        ));
    }

    #[test]
    fn the_apps_token_shape_maps_through_configured_claims() {
        // The NestJS app's access token: { id, email, tokenVersion, iat, exp }.
        let token = hs(
            json!({ "id": "cuid-1", "email": "ann@example.test", "tokenVersion": 3, "iat": now(), "exp": now() + 60 }),
        );
        let got = verifier().verify(&token).unwrap();
        assert_eq!(
            got,
            Verified {
                identity: Identity {
                    user_id: "cuid-1".into(),
                    username: "cuid-1".into()
                },
                token_version: Some(3),
            }
        );
        let names = |user_id: &[&str], username: &[&str]| ClaimNames {
            user_id: user_id.iter().map(|s| (*s).to_owned()).collect(),
            username: username.iter().map(|s| (*s).to_owned()).collect(),
        };
        // E-mail as the name only when configured.
        let opted_in = verifier().with_claims(names(&["id"], &["username", "email"]));
        assert_eq!(
            opted_in.verify(&token).unwrap().identity.username,
            "ann@example.test"
        );
        // A configured id claim is the only one read.
        let uid = verifier().with_claims(names(&["uid"], &[]));
        assert_eq!(
            uid.verify(&hs(json!({ "uid": 9, "sub": "s" })))
                .unwrap()
                .identity,
            Identity {
                user_id: "9".into(),
                username: "9".into()
            }
        );
        assert!(matches!(
            uid.verify(&hs(json!({ "sub": "s" }))),
            Err(JwtError::NoSubject)
        ));
        // tokenVersion as a numeric string; absent; not a number.
        let version = |claims: Value| verifier().verify(&hs(claims)).unwrap().token_version;
        assert_eq!(version(json!({ "sub": "1", "tokenVersion": "4" })), Some(4));
        assert_eq!(version(json!({ "sub": "1" })), None);
        assert_eq!(version(json!({ "sub": "1", "tokenVersion": "x" })), None);
    }

    #[test]
    fn expired_and_not_yet_valid_tokens_are_refused() {
        let v = verifier();
        assert!(
            v.verify(&hs(json!({ "sub": "1", "exp": now() - 5 })))
                .is_err()
        );
        assert!(
            v.verify(&hs(json!({ "sub": "1", "nbf": now() + 60 })))
                .is_err()
        );
        assert!(
            v.verify(&hs(
                json!({ "sub": "1", "nbf": now() - 1, "exp": now() + 60 })
            ))
            .is_ok()
        );
    }

    #[test]
    fn a_wrong_signature_is_refused() {
        let token = encode(
            &Header::new(Algorithm::HS256),
            &json!({ "sub": "1" }),
            &EncodingKey::from_secret(b"other"),
        )
        .unwrap();
        assert!(verifier().verify(&token).is_err());
    }

    #[test]
    fn alg_none_is_refused() {
        let token = format!(
            "{}.{}.",
            b64(&json!({ "alg": "none", "typ": "JWT" })),
            b64(&json!({ "sub": "1" }))
        );
        assert!(verifier().verify(&token).is_err());
    }

    #[test]
    fn issuer_and_audience_are_checked_when_configured() {
        let v = JwtVerifier::new(
            Some(SECRET),
            Some("https://issuer.test".into()),
            Some("signaling".into()),
        );
        let good = json!({ "sub": "1", "iss": "https://issuer.test", "aud": "signaling" });
        assert!(v.verify(&hs(good)).is_ok());
        assert!(
            v.verify(&hs(
                json!({ "sub": "1", "iss": "https://evil.test", "aud": "signaling" })
            ))
            .is_err()
        );
        assert!(
            v.verify(&hs(
                json!({ "sub": "1", "iss": "https://issuer.test", "aud": "other" })
            ))
            .is_err()
        );
        assert!(v.verify(&hs(json!({ "sub": "1" }))).is_err());
    }

    #[test]
    fn rs256_and_es256_verify_with_a_pem_public_key() {
        let rsa = JwtVerifier::new(None, None, None)
            .with_pem_file(&fixture("rsa-public.pem"))
            .unwrap();
        let token = signed(
            Algorithm::RS256,
            None,
            "rsa-private.pem",
            json!({ "sub": "r", "exp": now() + 60 }),
        );
        assert_eq!(rsa.verify(&token).unwrap().identity.user_id, "r");
        let ec = JwtVerifier::new(None, None, None)
            .with_pem_file(&fixture("ec-public.pem"))
            .unwrap();
        let token = signed(
            Algorithm::ES256,
            None,
            "ec-private.pem",
            json!({ "sub": "e" }),
        );
        assert_eq!(ec.verify(&token).unwrap().identity.user_id, "e");
        // A key of the wrong family does not verify.
        let token = signed(
            Algorithm::ES256,
            None,
            "ec2-private.pem",
            json!({ "sub": "e" }),
        );
        assert!(ec.verify(&token).is_err());
    }

    #[test]
    fn jwks_keys_are_picked_by_kid() {
        let v = JwtVerifier::new(None, None, None)
            .with_jwks_file(&fixture("jwks.json"))
            .unwrap();
        let rs = signed(
            Algorithm::RS256,
            Some("rsa-1"),
            "rsa-private.pem",
            json!({ "sub": "r" }),
        );
        assert_eq!(v.verify(&rs).unwrap().identity.user_id, "r");
        let es = signed(
            Algorithm::ES256,
            Some("ec-2"),
            "ec2-private.pem",
            json!({ "sub": "e" }),
        );
        assert_eq!(v.verify(&es).unwrap().identity.user_id, "e");
        let unknown_kid = signed(
            Algorithm::ES256,
            Some("ec-9"),
            "ec2-private.pem",
            json!({ "sub": "e" }),
        );
        assert!(matches!(v.verify(&unknown_kid), Err(JwtError::NoKey)));
    }

    #[test]
    fn a_pem_key_has_no_kid_and_takes_any() {
        // Identity providers put a `kid` in every token; JWT_PUBLIC_KEY has none.
        let v = JwtVerifier::new(None, None, None)
            .with_pem_file(&fixture("rsa-public.pem"))
            .unwrap();
        let token = signed(
            Algorithm::RS256,
            Some("idp-key-2024"),
            "rsa-private.pem",
            json!({ "sub": "r" }),
        );
        assert_eq!(v.verify(&token).unwrap().identity.user_id, "r");
        // Beside a JWKS: a kid the JWKS names picks its key; any other kid
        // falls to the PEM key.
        let both = JwtVerifier::new(None, None, None)
            .with_jwks_file(&fixture("jwks.json"))
            .unwrap()
            .with_pem_file(&fixture("rsa-public.pem"))
            .unwrap();
        assert_eq!(both.verify(&token).unwrap().identity.user_id, "r");
        let es = signed(
            Algorithm::ES256,
            Some("ec-2"),
            "ec2-private.pem",
            json!({ "sub": "e" }),
        );
        assert_eq!(both.verify(&es).unwrap().identity.user_id, "e");
        // A JWKS key keeps to its own kid.
        let jwks_only = JwtVerifier::new(None, None, None)
            .with_jwks_file(&fixture("jwks.json"))
            .unwrap();
        assert!(matches!(jwks_only.verify(&token), Err(JwtError::NoKey)));
    }

    #[test]
    fn an_hmac_token_signed_with_the_public_key_is_refused() {
        // Algorithm confusion: HS256 "signed" with the RSA public key's bytes.
        let public_pem = std::fs::read(fixture("rsa-public.pem")).unwrap();
        let forged = encode(
            &Header::new(Algorithm::HS256),
            &json!({ "sub": "admin" }),
            &EncodingKey::from_secret(&public_pem),
        )
        .unwrap();
        let only_rsa = JwtVerifier::new(None, None, None)
            .with_pem_file(&fixture("rsa-public.pem"))
            .unwrap();
        assert!(matches!(only_rsa.verify(&forged), Err(JwtError::NoKey)));
        let both = JwtVerifier::new(Some(SECRET), None, None)
            .with_pem_file(&fixture("rsa-public.pem"))
            .unwrap();
        assert!(both.verify(&forged).is_err());
    }

    #[test]
    fn issued_tokens_verify_and_expire_with_their_ttl() {
        let who = Identity {
            user_id: "u9".into(),
            username: "neo".into(),
        };
        let token = TokenIssuer::new(SECRET, std::time::Duration::from_secs(60))
            .issue(&who)
            .unwrap();
        assert_eq!(verifier().verify(&token).unwrap().identity, who);
        let claims: Value = jsonwebtoken::dangerous::insecure_decode(&token)
            .unwrap()
            .claims;
        assert_eq!(
            claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
            60
        );
    }

    #[test]
    fn an_rs256_token_is_refused_without_a_public_key() {
        let token = signed(
            Algorithm::RS256,
            None,
            "rsa-private.pem",
            json!({ "sub": "r" }),
        );
        assert!(matches!(verifier().verify(&token), Err(JwtError::NoKey)));
    }

    #[test]
    fn display_names_are_cut_and_oversized_ids_refused() {
        let long_name = "é".repeat(500_000);
        let who = verifier()
            .verify(&hs(json!({ "sub": "u1", "username": long_name })))
            .unwrap()
            .identity;
        assert_eq!(who.username, "é".repeat(MAX_USERNAME_CHARS));
        let short = verifier()
            .verify(&hs(json!({ "sub": "u1", "name": "Ada" })))
            .unwrap()
            .identity;
        assert_eq!(short.username, "Ada");
        let id = "x".repeat(MAX_USER_ID_BYTES);
        assert_eq!(
            verifier()
                .verify(&hs(json!({ "sub": id })))
                .unwrap()
                .identity
                .user_id,
            id
        );
        let too_long = "x".repeat(MAX_USER_ID_BYTES + 1);
        assert!(matches!(
            verifier().verify(&hs(json!({ "sub": too_long }))),
            Err(JwtError::UserIdTooLong)
        ));
    }
}
