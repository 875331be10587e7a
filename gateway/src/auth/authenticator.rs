//! Turns a credential into an [`Identity`]: a JWT checked by the verifier, an
//! API key looked up in the account store through the [`ApiKeys`] seam, and,
//! when the app owns its users (`USER_QUERY`, `USER_LOOKUP_URL`), the user
//! looked up in the app: its name, and whether the token was revoked.

use std::sync::Arc;

use async_trait::async_trait;

use super::credential::Credential;
use super::error::AuthError;
use super::identity::Identity;
use super::jwt::{JwtVerifier, cut_name};
use crate::app_data::AppUsers;

/// Looks up API keys. Implemented by the accounts store; the handshake only needs
/// this one question answered.
#[async_trait]
pub trait ApiKeys: Send + Sync {
    async fn identity_for_key(&self, api_key: &str) -> Option<Identity>;
}

#[derive(Clone)]
pub struct Authenticator {
    jwt: Arc<JwtVerifier>,
    api_keys: Option<Arc<dyn ApiKeys>>,
    users: Option<AppUsers>,
}

impl Authenticator {
    pub fn new(jwt: JwtVerifier, api_keys: Option<Arc<dyn ApiKeys>>) -> Self {
        Self {
            jwt: Arc::new(jwt),
            api_keys,
            users: None,
        }
    }

    /// Every identity must then be a user of the app: API-key users of the
    /// gateway's own accounts included, so that open registration is no way
    /// around the app's user table.
    pub fn with_app_users(mut self, users: Option<AppUsers>) -> Self {
        self.users = users;
        self
    }

    pub fn jwt(&self) -> &JwtVerifier {
        &self.jwt
    }

    pub async fn authenticate(
        &self,
        credential: Option<Credential>,
    ) -> Result<Identity, AuthError> {
        let (identity, token_version, token) = match credential.ok_or(AuthError::Missing)? {
            Credential::Jwt(token) => {
                let verified = self.jwt.verify(&token)?;
                (verified.identity, verified.token_version, Some(token))
            }
            Credential::ApiKey(key) => {
                let store = self.api_keys.as_ref().ok_or(AuthError::ApiKeysDisabled)?;
                let identity = store
                    .identity_for_key(&key)
                    .await
                    .ok_or(AuthError::UnknownApiKey)?;
                (identity, None, None)
            }
        };
        let Some(users) = &self.users else {
            return Ok(identity);
        };
        let user = users
            .find(&identity.user_id, token.as_deref())
            .await?
            .ok_or(AuthError::UnknownUser)?;
        // A logged-out token: the app bumped the user's version past it.
        if let (Some(current), Some(presented)) = (user.token_version, token_version)
            && current != presented
        {
            return Err(AuthError::StaleToken);
        }
        let mut username = user.username.unwrap_or(identity.username);
        cut_name(&mut username);
        Ok(Identity {
            username,
            user_id: identity.user_id,
        })
    }
}
