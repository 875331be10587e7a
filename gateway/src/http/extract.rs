//! Request extractors of the REST API: JSON bodies whose keys match without
//! case (the seed's Go client sends `{"Username","Password"}`), and the caller's
//! identity from an API key or a bearer JWT.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRef, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde_json::{Map, Value};

use super::HttpState;
use super::error::ApiError;
use crate::auth::{self, Identity};

/// The JSON object of a request body, with each key renamed to the canonical
/// field it matches ignoring case, `_` and `-` (`OldPassword` → `old_password`).
pub struct Body(pub Map<String, Value>);

const FIELDS: [&str; 6] = [
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

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|_| ApiError::PayloadTooLarge)?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Body(Map::new()));
        }
        let Value::Object(raw) =
            serde_json::from_slice(&bytes).map_err(|_| ApiError::InvalidJson)?
        else {
            return Err(ApiError::InvalidJson);
        };
        let fields = raw
            .into_iter()
            .map(|(k, v)| {
                let canonical = FIELDS.iter().find(|f| squash(f) == squash(&k));
                (canonical.map_or(k, |f| (*f).to_owned()), v)
            })
            .collect();
        Ok(Body(fields))
    }
}

impl Body {
    /// A required string field.
    pub fn text(&self, field: &str) -> Result<&str, ApiError> {
        match self.0.get(field) {
            Some(Value::String(s)) => Ok(s),
            Some(_) => Err(ApiError::InvalidPayload(format!(
                "{field} must be a string"
            ))),
            None => Err(ApiError::InvalidPayload(format!("{field} is required"))),
        }
    }

    pub fn into_value(self) -> Value {
        Value::Object(self.0)
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
}
