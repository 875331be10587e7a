//! Lookups as calls to the app's API, for apps that would rather answer over
//! HTTP than open their database: `GET USER_LOOKUP_URL` with `{id}` filled in,
//! `GET ROOM_LOOKUP_URL` with `{code}` (and `{userId}`). 200 with a JSON object
//! means found, 404 (or 401/403 to the caller's own token) means not; anything
//! else, a timeout or a refused connection is the app being unavailable.
//!
//! Calls carry `APP_LOOKUP_TOKEN` as a Bearer token when it is set. Without
//! it, a user lookup carries the caller's own token (as `Authorization:
//! Bearer` and as the `access_token` cookie, so that an app reading either
//! accepts it); room lookups happen long after the handshake, when that token
//! may have expired, so they carry only the service token.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::{Client, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::source::{AppRoom, AppUser, LookupError, RoomSource, SetupError, UserSource};

/// Answers are a few fields; anything much bigger is not one.
const MAX_ANSWER: usize = 64 * 1024;

/// What a path segment or query value may keep unencoded (RFC 3986 unreserved).
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// One client for both lookups: bounded in time, never following redirects
/// (a lookup answers itself or fails).
pub fn client(timeout: Duration) -> Result<Client, SetupError> {
    Client::builder()
        .connect_timeout(timeout)
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("signaling-gateway/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| SetupError::Invalid(format!("HTTP client: {e}")))
}

/// `{ username?, tokenVersion? }` (or `token_version`).
#[derive(Deserialize)]
struct UserAnswer {
    #[serde(default)]
    username: Option<String>,
    #[serde(default, alias = "tokenVersion")]
    token_version: Option<i64>,
}

/// `{ code?, maxPeers? }` (or `max_peers`).
#[derive(Deserialize)]
struct RoomAnswer {
    #[serde(default)]
    code: Option<String>,
    #[serde(default, alias = "maxPeers")]
    max_peers: Option<i64>,
}

pub struct HttpUsers {
    api: Api,
}

impl HttpUsers {
    pub fn new(client: Client, url: &str, token: Option<String>) -> Result<Self, SetupError> {
        Ok(Self {
            api: Api::new(client, "USER_LOOKUP_URL", url, &["id"], token)?,
        })
    }
}

#[async_trait]
impl UserSource for HttpUsers {
    async fn user(&self, id: &str, token: Option<&str>) -> Result<Option<AppUser>, LookupError> {
        let answer: Option<UserAnswer> = self.api.get(&[("id", id)], token).await?;
        Ok(answer.map(|a| AppUser {
            username: a.username,
            token_version: a.token_version,
        }))
    }

    async fn check(&self) -> Result<(), LookupError> {
        self.api.check().await
    }

    fn kind(&self) -> &'static str {
        "app API"
    }
}

pub struct HttpRooms {
    api: Api,
    per_user: bool,
}

impl HttpRooms {
    pub fn new(client: Client, url: &str, token: Option<String>) -> Result<Self, SetupError> {
        Ok(Self {
            per_user: url.contains("{userId}"),
            api: Api::new(client, "ROOM_LOOKUP_URL", url, &["code"], token)?,
        })
    }
}

#[async_trait]
impl RoomSource for HttpRooms {
    async fn room(&self, code: &str, user_id: &str) -> Result<Option<AppRoom>, LookupError> {
        let answer: Option<RoomAnswer> = self
            .api
            .get(&[("code", code), ("userId", user_id)], None)
            .await?;
        Ok(answer.map(|a| AppRoom {
            code: a.code,
            max_peers: a.max_peers,
        }))
    }

    fn per_user(&self) -> bool {
        self.per_user
    }

    async fn check(&self) -> Result<(), LookupError> {
        self.api.check().await
    }

    fn kind(&self) -> &'static str {
        "app API"
    }
}

/// One lookup endpoint: a URL template and how calls are authorized.
struct Api {
    client: Client,
    name: &'static str,
    template: String,
    service_token: Option<String>,
    /// Whether the last call got an answer; `/readyz` probes when it did not.
    answered: AtomicBool,
}

impl Api {
    fn new(
        client: Client,
        name: &'static str,
        template: &str,
        required: &[&str],
        service_token: Option<String>,
    ) -> Result<Self, SetupError> {
        for placeholder in required {
            if !template.contains(&format!("{{{placeholder}}}")) {
                return Err(SetupError::Invalid(format!(
                    "{name} must contain {{{placeholder}}}"
                )));
            }
        }
        let api = Self {
            client,
            name,
            template: template.to_owned(),
            service_token,
            answered: AtomicBool::new(true),
        };
        let sample = api.url(&[("id", "x"), ("code", "x"), ("userId", "x")]);
        match reqwest::Url::parse(&sample) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(api),
            Ok(_) => Err(SetupError::Invalid(format!(
                "{name} must be an http:// or https:// URL"
            ))),
            Err(e) => Err(SetupError::Invalid(format!("{name}: {e}"))),
        }
    }

    fn url(&self, values: &[(&str, &str)]) -> String {
        values
            .iter()
            .fold(self.template.clone(), |url, (name, value)| {
                url.replace(
                    &format!("{{{name}}}"),
                    &utf8_percent_encode(value, UNRESERVED).to_string(),
                )
            })
    }

    /// GETs the filled-in URL: `Some` on 200, `None` on 404 (and on 401/403
    /// to a caller's own token, which the app has refused).
    async fn get<T: DeserializeOwned>(
        &self,
        values: &[(&str, &str)],
        caller_token: Option<&str>,
    ) -> Result<Option<T>, LookupError> {
        let mut request = self.client.get(self.url(values));
        let with_caller = match (&self.service_token, caller_token) {
            (Some(service), _) => {
                request = request.bearer_auth(service);
                false
            }
            (None, Some(token)) => {
                request = request
                    .bearer_auth(token)
                    .header(reqwest::header::COOKIE, format!("access_token={token}"));
                true
            }
            (None, None) => false,
        };
        let outcome = self.answer(request, with_caller).await;
        self.answered.store(
            !matches!(outcome, Err(LookupError::Unavailable(_))),
            Ordering::Relaxed,
        );
        outcome
    }

    async fn answer<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        with_caller: bool,
    ) -> Result<Option<T>, LookupError> {
        let name = self.name;
        let mut response = request
            .send()
            .await
            .map_err(|e| LookupError::Unavailable(format!("{name}: {}", e.without_url())))?;
        match response.status() {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => return Ok(None),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN if with_caller => return Ok(None),
            status => {
                return Err(LookupError::Unavailable(format!(
                    "{name} answered {status}"
                )));
            }
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| LookupError::Unavailable(format!("{name}: {}", e.without_url())))?
        {
            if body.len() + chunk.len() > MAX_ANSWER {
                return Err(LookupError::BadAnswer(format!(
                    "{name}: answer over {MAX_ANSWER} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body)
            .map(Some)
            .map_err(|e| LookupError::BadAnswer(format!("{name}: {e}")))
    }

    /// Ready while calls get answers; after a failure, ready again once the
    /// app answers a probe (any status below 500) — so that a gateway taken
    /// out of rotation, and so receiving no lookups, can come back.
    async fn check(&self) -> Result<(), LookupError> {
        if self.answered.load(Ordering::Relaxed) {
            return Ok(());
        }
        let name = self.name;
        let probe = self.url(&[("id", "readyz"), ("code", "readyz"), ("userId", "readyz")]);
        let mut request = self.client.get(probe);
        if let Some(token) = &self.service_token {
            request = request.bearer_auth(token);
        }
        match request.send().await {
            Ok(r) if !r.status().is_server_error() => {
                self.answered.store(true, Ordering::Relaxed);
                Ok(())
            }
            Ok(r) => Err(LookupError::Unavailable(format!(
                "{name} answered {}",
                r.status()
            ))),
            Err(e) => Err(LookupError::Unavailable(format!(
                "{name}: {}",
                e.without_url()
            ))),
        }
    }
}
