//! The account routes of PROTOCOL.md §6, with the seed's Go server's paths,
//! fields and statuses: `/register`, `/regenerate`, `/newpassword`, `/token`, `/me`.

use axum::Json;
use axum::extract::State;
use std::net::IpAddr;

use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ErrorBody};
use super::extract::{self, Body, Caller, ClientAddr};
use super::state::HttpState;
use crate::accounts::{AccountError, User};
use crate::auth::{Credential, Identity, credential};

pub fn routes() -> OpenApiRouter<HttpState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(regenerate))
        .routes(routes!(new_password))
        .routes(routes!(token))
        .routes(routes!(me))
}

/// Username and password (keys match without case: `{"Username","Password"}` works).
#[derive(Deserialize, ToSchema)]
pub struct Credentials {
    username: String,
    password: String,
}

#[derive(Deserialize, ToSchema)]
pub struct NewPassword {
    username: String,
    old_password: String,
    new_password: String,
}

/// A password login for `POST /token`; the body may be empty when an API key
/// is sent instead.
#[derive(Deserialize, ToSchema)]
pub struct TokenRequest {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Registered {
    /// Shown once; store it.
    api_key: String,
    user_id: String,
    username: String,
}

#[derive(Serialize, ToSchema)]
pub struct ApiKey {
    api_key: String,
}

#[derive(Serialize, ToSchema)]
pub struct Done {
    ok: bool,
}

#[derive(Serialize, ToSchema)]
pub struct Token {
    token: String,
    /// Seconds.
    expires_in: u64,
}

#[derive(Serialize, ToSchema)]
pub struct Me {
    user_id: String,
    username: String,
}

#[utoipa::path(post, path = "/register", request_body = Credentials, responses(
    (status = 201, body = Registered), (status = 400, body = ErrorBody),
    (status = 409, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
    (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn register(
    State(s): State<HttpState>,
    ClientAddr(addr): ClientAddr,
    Body(body): Body<Credentials>,
) -> Result<(StatusCode, Json<Registered>), ApiError> {
    s.limits.account_route(addr)?;
    crate::accounts::validate_username(&body.username)?;
    crate::accounts::validate_password(&body.password)?;
    s.limits.registration(addr)?;
    let (user, api_key) = s
        .app
        .accounts
        .register(&body.username, &body.password)
        .await?;
    tracing::info!(user_id = %user.id, "user registered");
    Ok((
        StatusCode::CREATED,
        Json(Registered {
            api_key,
            user_id: user.id,
            username: user.username,
        }),
    ))
}

#[utoipa::path(post, path = "/regenerate", request_body = Credentials, responses(
    (status = 200, body = ApiKey), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody),
    (status = 503, body = ErrorBody)))]
pub async fn regenerate(
    State(s): State<HttpState>,
    ClientAddr(addr): ClientAddr,
    Body(body): Body<Credentials>,
) -> Result<Json<ApiKey>, ApiError> {
    s.limits.account_route(addr)?;
    let user = login(&s, addr, &body.username, &body.password).await?;
    let api_key = s.app.accounts.regenerate_api_key(&user).await?;
    tracing::info!(user_id = %user.id, "API key regenerated");
    Ok(Json(ApiKey { api_key }))
}

#[utoipa::path(post, path = "/newpassword", request_body = NewPassword, responses(
    (status = 200, body = Done), (status = 401, body = ErrorBody),
    (status = 422, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn new_password(
    State(s): State<HttpState>,
    ClientAddr(addr): ClientAddr,
    Body(body): Body<NewPassword>,
) -> Result<Json<Done>, ApiError> {
    s.limits.account_route(addr)?;
    crate::accounts::validate_password(&body.new_password)?;
    let user = login(&s, addr, &body.username, &body.old_password).await?;
    s.app
        .accounts
        .set_password(&user, &body.new_password)
        .await?;
    tracing::info!(user_id = %user.id, "password changed");
    Ok(Json(Done { ok: true }))
}

/// A JWT for the handshake, for an `X-API-Key` (or Bearer key) or a username and password.
#[utoipa::path(post, path = "/token", request_body(content = Option<TokenRequest>), responses(
    (status = 200, body = Token), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody),
    (status = 503, body = ErrorBody)))]
pub async fn token(
    State(s): State<HttpState>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    Body(body): Body<TokenRequest>,
) -> Result<Json<Token>, ApiError> {
    s.limits.account_route(addr)?;
    let identity = match credential::find(None, &headers, None) {
        Ok(Some(c @ Credential::ApiKey(_))) => extract::authenticate(&s, addr, Some(c)).await?,
        _ => match (&body.username, &body.password) {
            (Some(username), Some(password)) => login(&s, addr, username, password).await?.into(),
            (Some(_), None) => {
                return Err(ApiError::InvalidPayload("missing field `password`".into()));
            }
            (None, _) => return Err(ApiError::Unauthorized),
        },
    };
    let token = s
        .app
        .tokens
        .issue(&identity)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Json(Token {
        token,
        expires_in: s.app.tokens.ttl.as_secs(),
    }))
}

/// Who the credential belongs to (the seed's "GET / with API-Key").
#[utoipa::path(get, path = "/me", responses((status = 200, body = Me), (status = 401, body = ErrorBody),
    (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn me(Caller(who): Caller) -> Json<Me> {
    let Identity { user_id, username } = who;
    Json(Me { user_id, username })
}

/// A password check behind the failed-login throttle: the attempt is counted
/// before the slow verification, and taken back if it succeeds.
async fn login(
    s: &HttpState,
    addr: IpAddr,
    username: &str,
    password: &str,
) -> Result<User, ApiError> {
    let attempt = s
        .app
        .throttle
        .reserve(username, addr)
        .map_err(ApiError::TooManyAttempts)?;
    match s.app.accounts.login(username, password).await {
        Ok(user) => {
            s.app.throttle.succeeded(attempt);
            Ok(user)
        }
        Err(AccountError::WrongCredentials) => {
            tracing::info!(%addr, "failed login");
            Err(ApiError::WrongCredentials)
        }
        Err(e) => {
            s.app.throttle.undecided(attempt);
            Err(e.into())
        }
    }
}
