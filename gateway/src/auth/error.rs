//! Why a credential was refused.

use super::jwt::JwtError;

/// The wire never tells which: every variant is "Unauthorized" to the
/// client; the variant goes to the logs.
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
    #[error("too many refused handshakes from this address lately")]
    Throttled,
}
