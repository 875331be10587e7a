//! Where a connection's identity is decided: which credential it carries
//! ([`credential`]), how a JWT is checked ([`jwt`]), and the seam to the API-key
//! store of the accounts service ([`ApiKeys`]).

pub mod credential;
pub mod jwt;

use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;

pub use credential::Credential;
pub use jwt::JwtVerifier;

/// Who is behind a socket or a REST call; `userInfo` on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    pub user_id: String,
    pub username: String,
}

/// Why a credential was refused. The wire never tells which: every variant is
/// "Unauthorized" to the client; the variant goes to the logs.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no credential presented")]
    Missing,
    #[error("the first credential carrier present is malformed")]
    Malformed,
    #[error("invalid token: {0}")]
    InvalidToken(#[from] jwt::JwtError),
    #[error("unknown or revoked API key")]
    UnknownApiKey,
    #[error("API keys are not enabled on this gateway")]
    ApiKeysDisabled,
}

/// Looks up API keys. Implemented by the accounts store; the handshake only needs
/// this one question answered.
#[async_trait]
pub trait ApiKeys: Send + Sync {
    async fn identity_for_key(&self, api_key: &str) -> Option<Identity>;
}

/// Turns a credential into an [`Identity`].
#[derive(Clone)]
pub struct Authenticator {
    jwt: Arc<JwtVerifier>,
    api_keys: Option<Arc<dyn ApiKeys>>,
}

impl Authenticator {
    pub fn new(jwt: JwtVerifier, api_keys: Option<Arc<dyn ApiKeys>>) -> Self {
        Self {
            jwt: Arc::new(jwt),
            api_keys,
        }
    }

    pub fn jwt(&self) -> &JwtVerifier {
        &self.jwt
    }

    pub async fn authenticate(
        &self,
        credential: Option<Credential>,
    ) -> Result<Identity, AuthError> {
        match credential.ok_or(AuthError::Missing)? {
            Credential::Jwt(token) => Ok(self.jwt.verify(&token)?),
            Credential::ApiKey(key) => {
                let store = self.api_keys.as_ref().ok_or(AuthError::ApiKeysDisabled)?;
                store
                    .identity_for_key(&key)
                    .await
                    .ok_or(AuthError::UnknownApiKey)
            }
        }
    }
}
