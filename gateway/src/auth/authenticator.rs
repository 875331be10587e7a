//! Turns a credential into an [`Identity`]: a JWT checked by the verifier, an
//! API key looked up in the account store through the [`ApiKeys`] seam.

use std::sync::Arc;

use async_trait::async_trait;

use super::credential::Credential;
use super::error::AuthError;
use super::identity::Identity;
use super::jwt::JwtVerifier;

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
            Credential::Jwt(token) => Ok(self.jwt.verify(&token)?.identity),
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
