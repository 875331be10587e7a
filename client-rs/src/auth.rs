//! REST helpers for the gateway's account routes (`docs/PROTOCOL.md` §6):
//! register, regenerate an API key, change the password, get a token, and
//! "who am I".

use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::signaling::Credential;

/// Failures of the REST helpers.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("bad gateway URL: {0}")]
    Url(String),
    #[error("http: {0}")]
    Http(#[from] reqwest::Error),
    /// The gateway's `{ error: { code, message } }`.
    #[error("{status} {code}: {message}")]
    Api {
        status: u16,
        code: String,
        message: String,
    },
    /// An answer that does not follow the contract.
    #[error("unexpected answer ({status}): {body}")]
    Unexpected { status: u16, body: String },
}

/// `POST /register`'s answer. The API key is shown once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registered {
    pub api_key: String,
    pub user_id: String,
    pub username: String,
}

/// `POST /token`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedToken {
    pub token: String,
    /// Seconds.
    pub expires_in: u64,
}

/// `GET /me`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Me {
    pub user_id: String,
    pub username: String,
}

/// A REST client of one gateway.
#[derive(Debug, Clone)]
pub struct AuthClient {
    base: url::Url,
    http: reqwest::Client,
}

impl AuthClient {
    /// `base_url` is the gateway, `http://host:port`.
    pub fn new(base_url: &str) -> Result<Self, AuthError> {
        let mut base = url::Url::parse(base_url).map_err(|e| AuthError::Url(e.to_string()))?;
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let http = reqwest::Client::builder()
            .build()
            .map_err(AuthError::Http)?;
        Ok(Self { base, http })
    }

    fn url(&self, path: &str) -> Result<url::Url, AuthError> {
        self.base
            .join(path)
            .map_err(|e| AuthError::Url(e.to_string()))
    }

    /// Creates an account; the answer carries its API key.
    pub async fn register(&self, username: &str, password: &str) -> Result<Registered, AuthError> {
        let req = self
            .http
            .post(self.url("register")?)
            .json(&json!({ "username": username, "password": password }));
        read(req.send().await?).await
    }

    /// Issues a new API key; the old one stops working.
    pub async fn regenerate(&self, username: &str, password: &str) -> Result<String, AuthError> {
        let req = self
            .http
            .post(self.url("regenerate")?)
            .json(&json!({ "username": username, "password": password }));
        let v: Value = read(req.send().await?).await?;
        string_field(&v, "api_key")
    }

    /// Changes the password.
    pub async fn new_password(
        &self,
        username: &str,
        old_password: &str,
        new_password: &str,
    ) -> Result<(), AuthError> {
        let req = self.http.post(self.url("newpassword")?).json(&json!({
            "username": username,
            "old_password": old_password,
            "new_password": new_password,
        }));
        let _: Value = read(req.send().await?).await?;
        Ok(())
    }

    /// A JWT for an API key (`X-API-Key`).
    pub async fn token_with_api_key(&self, api_key: &str) -> Result<IssuedToken, AuthError> {
        let req = self
            .http
            .post(self.url("token")?)
            .header("X-API-Key", api_key)
            .json(&json!({}));
        read(req.send().await?).await
    }

    /// A JWT for a username and password.
    pub async fn token_with_password(
        &self,
        username: &str,
        password: &str,
    ) -> Result<IssuedToken, AuthError> {
        let req = self
            .http
            .post(self.url("token")?)
            .json(&json!({ "username": username, "password": password }));
        read(req.send().await?).await
    }

    /// Who a credential names (`GET /me`).
    pub async fn me(&self, credential: &Credential) -> Result<Me, AuthError> {
        let req = self.http.get(self.url("me")?);
        let req = match credential {
            Credential::ApiKey(k) => req.header("X-API-Key", k),
            Credential::Token(t) => req.bearer_auth(t),
        };
        read(req.send().await?).await
    }
}

async fn read<T: DeserializeOwned>(response: reqwest::Response) -> Result<T, AuthError> {
    let status = response.status();
    let body = response.text().await?;
    if status.is_success() {
        return serde_json::from_str(&body).map_err(|_| AuthError::Unexpected {
            status: status.as_u16(),
            body: truncate(&body),
        });
    }
    Err(api_error(status, &body))
}

fn api_error(status: StatusCode, body: &str) -> AuthError {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    match parsed.as_ref().and_then(|v| v.get("error")) {
        Some(err) => {
            let (code, message) = crate::wire::error_parts(err);
            AuthError::Api {
                status: status.as_u16(),
                code,
                message,
            }
        }
        None => AuthError::Unexpected {
            status: status.as_u16(),
            body: truncate(body),
        },
    }
}

fn string_field(v: &Value, name: &str) -> Result<String, AuthError> {
    v.get(name)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| AuthError::Unexpected {
            status: 200,
            body: truncate(&v.to_string()),
        })
}

fn truncate(s: &str) -> String {
    s.chars().take(500).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_errors_are_typed() {
        let e = api_error(
            StatusCode::CONFLICT,
            r#"{"error":{"code":"USERNAME_TAKEN","message":"Username already taken"}}"#,
        );
        assert!(
            matches!(e, AuthError::Api { status: 409, ref code, .. } if code == "USERNAME_TAKEN")
        );
        let e = api_error(StatusCode::BAD_GATEWAY, "<html>");
        assert!(matches!(e, AuthError::Unexpected { status: 502, .. }));
    }
}
