//! Why a credential was refused.

use super::jwt::JwtError;
use crate::app_data::LookupError;

/// The wire does not tell which: every variant is "Unauthorized" to the
/// client (the variant goes to the logs), except that the app's lookup being
/// unavailable is "Service unavailable", and `AUTH_FAILURE=event` says "User
/// not found" as the incumbent did.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no credential presented")]
    Missing,
    #[error("the first credential carrier present is malformed")]
    Malformed,
    #[error("invalid token: {0}")]
    InvalidToken(#[from] JwtError),
    #[error("unknown or revoked API key")]
    UnknownApiKey,
    #[error("API keys are not enabled on this gateway")]
    ApiKeysDisabled,
    #[error("the app has no such user")]
    UnknownUser,
    #[error("the token's tokenVersion is not the user's: revoked")]
    StaleToken,
    #[error("user lookup failed: {0}")]
    Lookup(#[from] LookupError),
    #[error("too many refused handshakes from this address lately")]
    Throttled,
}
