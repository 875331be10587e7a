//! Where a connection's identity is decided: which credential it carries
//! ([`credential`]), how a JWT is checked ([`jwt`]), and how a credential
//! becomes an [`Identity`] ([`authenticator`], with the seam to the API-key
//! store of the accounts service, [`ApiKeys`]).

pub mod authenticator;
pub mod credential;
pub mod error;
pub mod identity;
pub mod jwt;

pub use authenticator::{ApiKeys, Authenticator};
pub use credential::Credential;
pub use error::AuthError;
pub use identity::Identity;
pub use jwt::JwtVerifier;
