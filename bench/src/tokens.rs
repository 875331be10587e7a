//! The bench's users: one HS256 JWT `{ sub, username, iat, exp }` per token
//! index, minted with the gateway's own issuer (what `POST /token` and
//! `@nestjs/jwt` sign), so both servers accept them with the shared secret.

use std::time::Duration;

use anyhow::{Context, Result};
use gateway::auth::Identity;
use gateway::auth::jwt::TokenIssuer;

/// Long enough for any run; both servers check `exp`.
const TTL: Duration = Duration::from_secs(86_400);

/// `n` tokens: token `i` names user `u<i>`, called `bench-<i>`.
pub fn mint(secret: &str, n: usize) -> Result<Vec<String>> {
    let issuer = TokenIssuer::new(secret.as_bytes(), TTL);
    (0..n)
        .map(|i| {
            issuer
                .issue(&Identity {
                    user_id: format!("u{i}"),
                    username: format!("bench-{i}"),
                })
                .context("signing a bench token")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use gateway::auth::JwtVerifier;

    use super::*;

    #[test]
    fn each_token_names_its_user_and_verifies_with_the_secret() {
        let tokens = mint("s3cret", 3).unwrap();
        assert_eq!(tokens.len(), 3);
        let verifier = JwtVerifier::new(Some(b"s3cret"), None, None);
        let who = verifier.verify(&tokens[2]).unwrap().identity;
        assert_eq!(
            who,
            Identity {
                user_id: "u2".into(),
                username: "bench-2".into()
            }
        );
        let wrong = JwtVerifier::new(Some(b"other"), None, None);
        assert!(wrong.verify(&tokens[0]).is_err());
    }
}
