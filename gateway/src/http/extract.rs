//! Request extractors of the REST API: typed JSON bodies whose keys match
//! without case (the seed's Go client sends `{"Username","Password"}`), and the
//! caller's identity from an API key or a bearer JWT.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRef, FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::error::ApiError;
use super::state::HttpState;
use crate::auth::{self, Identity};

/// A JSON object body read as a `T`, the route's request type (which is also
/// its OpenAPI schema). Each key is first renamed to the canonical field it
/// matches ignoring case, `_` and `-` (`OldPassword` → `old_password`); two
/// keys naming one field are refused. An empty body reads as `{}`.
pub struct Body<T>(pub T);

/// Every field name of the REST request types, as the types spell them
/// (a test checks that the schemas name no other).
pub const FIELDS: [&str; 6] = [
    "username",
    "password",
    "old_password",
    "new_password",
    "roomCode",
    "maxPeers",
];

fn squash(key: &str) -> String {
    key.chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

/// Renames keys to their canonical spelling; unknown keys stay as sent.
fn canonical(raw: Map<String, Value>) -> Result<Map<String, Value>, ApiError> {
    let mut fields = Map::with_capacity(raw.len());
    for (key, value) in raw {
        let name = FIELDS
            .iter()
            .find(|f| squash(f) == squash(&key))
            .map_or(key, |f| (*f).to_owned());
        if fields.contains_key(&name) {
            return Err(ApiError::InvalidPayload(format!(
                "{name} is given more than once"
            )));
        }
        fields.insert(name, value);
    }
    Ok(fields)
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::UnreadableBody
            }
        })?;
        let object = if bytes.iter().all(u8::is_ascii_whitespace) {
            Map::new()
        } else {
            match serde_json::from_slice(&bytes) {
                Ok(Value::Object(object)) => object,
                _ => return Err(ApiError::InvalidJson),
            }
        };
        let value = Value::Object(canonical(object)?);
        serde_path_to_error::deserialize(value)
            .map(Body)
            .map_err(|e| {
                let path = e.path().to_string();
                let inner = e.into_inner();
                ApiError::InvalidPayload(if path == "." {
                    inner.to_string()
                } else {
                    format!("{path}: {inner}")
                })
            })
    }
}

/// The caller, authenticated by `X-API-Key`/`API-Key` or `Authorization: Bearer`
/// (a JWT or an API key).
pub struct Caller(pub Identity);

impl<S> FromRequestParts<S> for Caller
where
    HttpState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let state = HttpState::from_ref(state);
        let credential = auth::credential::find(None, &parts.headers, None)
            .map_err(|_| ApiError::Unauthorized)?;
        let identity = state
            .app
            .auth
            .authenticate(credential)
            .await
            .map_err(|_| ApiError::Unauthorized)?;
        Ok(Caller(identity))
    }
}

/// The client's address, for throttling.
pub struct ClientAddr(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let addr = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(a)| a.ip().to_string());
        Ok(ClientAddr(addr.unwrap_or_else(|| "unknown".into())))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn keys_match_without_case_or_separators() {
        for (sent, canonical) in [
            ("Username", "username"),
            ("PASSWORD", "password"),
            ("OldPassword", "old_password"),
            ("new-password", "new_password"),
            ("roomcode", "roomCode"),
            ("max_peers", "maxPeers"),
        ] {
            let found = FIELDS.iter().find(|f| squash(f) == squash(sent));
            assert_eq!(found.copied(), Some(canonical), "{sent}");
        }
    }

    #[test]
    fn one_field_given_twice_is_refused_not_last_wins() {
        let Value::Object(raw) = json!({ "username": "a", "Username": "b" }) else {
            unreachable!()
        };
        assert!(matches!(canonical(raw), Err(ApiError::InvalidPayload(_))));
        let Value::Object(raw) = json!({ "Username": "a", "extra": 1 }) else {
            unreachable!()
        };
        assert_eq!(
            Value::Object(canonical(raw).unwrap()),
            json!({ "username": "a", "extra": 1 })
        );
    }
}
