//! The gateway's own secrets and accounts: the JWT secret (given or kept in
//! the data directory), the token verifier, the account store and its hashing.

use crate::accounts::AccountStore;
use crate::accounts::hashing::HashPool;
use crate::auth::JwtVerifier;
use crate::auth::jwt::ClaimNames;
use crate::config::AuthConfig;
use crate::secret;

use super::error::StartError;

/// `JWT_SECRET`, or the one generated once and kept in the data directory.
pub(super) fn jwt_secret(config: &AuthConfig) -> Result<String, StartError> {
    if let Some(secret) = &config.jwt_secret {
        return Ok(secret.clone());
    }
    let (secret, created) =
        secret::load_or_create(&config.data_dir).map_err(|source| data_dir(config, source))?;
    let path = config.data_dir.join("jwt-secret");
    if created {
        tracing::warn!(path = %path.display(), "JWT_SECRET is not set: generated one and kept it; set JWT_SECRET to share it with your token issuer");
    } else {
        tracing::warn!(path = %path.display(), "JWT_SECRET is not set: using the secret kept in the data directory");
    }
    Ok(secret)
}

pub(super) fn jwt_verifier(config: &AuthConfig, secret: &str) -> Result<JwtVerifier, StartError> {
    let mut verifier = JwtVerifier::new(
        Some(secret.as_bytes()),
        config.jwt_issuer.clone(),
        config.jwt_audience.clone(),
    )
    .with_claims(ClaimNames {
        user_id: config.jwt_user_id_claims.clone(),
        username: config.jwt_username_claims.clone(),
    });
    if let Some(path) = &config.jwt_public_key {
        verifier = verifier.with_pem_file(path)?;
    }
    if let Some(path) = &config.jwt_jwks_file {
        verifier = verifier.with_jwks_file(path)?;
    }
    Ok(verifier)
}

/// The account store (in the data directory unless `DATABASE_URL` names one),
/// hashing passwords on a bounded pool.
pub(super) async fn accounts(config: &AuthConfig) -> Result<AccountStore, StartError> {
    std::fs::create_dir_all(&config.data_dir).map_err(|source| data_dir(config, source))?;
    let hashing = match config.hash_concurrency {
        Some(n) => HashPool::new(n.get(), config.hash_queue),
        None => HashPool::per_core(config.hash_queue),
    };
    Ok(AccountStore::connect(&config.database_url())
        .await?
        .with_hashing(hashing))
}

fn data_dir(config: &AuthConfig, source: std::io::Error) -> StartError {
    StartError::DataDir {
        path: config.data_dir.display().to_string(),
        source,
    }
}
