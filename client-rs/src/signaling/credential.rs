//! The credential a connection carries.

use serde_json::{Value, json};

/// How the connection authenticates (`docs/PROTOCOL.md` §2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A JWT, sent as `auth.token`.
    Token(String),
    /// An API key from `/register`, sent as `auth.apiKey`.
    ApiKey(String),
}

impl Credential {
    /// The handshake's `auth` object.
    pub(crate) fn auth_payload(&self) -> Value {
        match self {
            Credential::Token(t) => json!({ "token": t }),
            Credential::ApiKey(k) => json!({ "apiKey": k }),
        }
    }
}
