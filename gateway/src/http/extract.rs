//! Request extractors of the REST API: typed JSON bodies whose keys match
//! without case (the seed's Go client sends `{"Username","Password"}`), the
//! caller's identity from an API key or a bearer JWT, the client's address,
//! and path segments that fail in the JSON error shape.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRef, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::error::ApiError;
use super::state::HttpState;
use crate::auth::{self, Credential, Identity};
use crate::client_addr;

/// A JSON object body read as a `T`, the route's request type (which is also
/// its OpenAPI schema). Each key is first renamed to the canonical field it
/// matches ignoring case, `_` and `-` (`OldPassword` → `old_password`); two
/// keys naming one field are refused. An empty body reads as `{}`, whatever
/// its content type; any other body must be sent as `application/json` (or a
/// `+json` type): a browser posts `text/plain` across origins without asking,
/// so accepting it would let any page register users from its visitors.
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
        let json = is_json(req.headers());
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::UnreadableBody
            }
        })?;
        let object = if bytes.iter().all(u8::is_ascii_whitespace) {
            Map::new()
        } else if !json {
            return Err(ApiError::UnsupportedMediaType);
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

/// `application/json`, `application/json; charset=utf-8`, `application/problem+json`…
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    let Some((kind, sub)) = essence.split_once('/') else {
        return false;
    };
    kind.eq_ignore_ascii_case("application")
        && (sub.eq_ignore_ascii_case("json") || sub.to_ascii_lowercase().ends_with("+json"))
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
        let ClientAddr(ip) =
            <ClientAddr as FromRequestParts<HttpState>>::from_request_parts(parts, &state).await?;
        let credential = auth::credential::find(None, &parts.headers, None)
            .map_err(|_| ApiError::Unauthorized)?;
        authenticate(&state, ip, credential).await.map(Caller)
    }
}

/// Checks a credential; unknown API keys count against the client address,
/// and past its limit no key is looked up until the window has passed.
pub async fn authenticate(
    state: &HttpState,
    ip: IpAddr,
    credential: Option<Credential>,
) -> Result<Identity, ApiError> {
    let reserved = match &credential {
        Some(Credential::ApiKey(_)) => Some(
            state
                .limits
                .api_key_failures
                .reserve(crate::limits::failures::address_key(ip))
                .map_err(ApiError::TooManyAttempts)?,
        ),
        _ => None,
    };
    let identity = state
        .app
        .auth
        .authenticate(credential)
        .await
        .map_err(ApiError::from);
    match (&identity, reserved) {
        // The app's lookup not answering is no failed guess of the caller's.
        (Ok(_) | Err(ApiError::Unavailable(_)), Some(reserved)) => {
            state.limits.api_key_failures.release(reserved);
        }
        (Err(ApiError::Unavailable(_)) | Ok(_), None) => {}
        (Err(_), _) => tracing::info!(%ip, "refused REST credential"),
    }
    identity
}

/// The client's address (behind `TRUSTED_PROXIES`, the one they forwarded).
pub struct ClientAddr(pub IpAddr);

impl<S> FromRequestParts<S> for ClientAddr
where
    HttpState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let state = HttpState::from_ref(state);
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)), |c| c.0);
        Ok(ClientAddr(client_addr::client_ip(
            peer,
            &parts.headers,
            &state.app.trusted_proxies,
        )))
    }
}

/// A path segment as text; a segment that is not UTF-8 once decoded
/// (`/rooms/%ff`) is a 400 in the JSON shape, not axum's plain text.
pub struct PathText(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathText {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(text)| PathText(text))
            .map_err(|e| ApiError::InvalidPath(e.body_text()))
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
