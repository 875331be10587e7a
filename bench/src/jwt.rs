//! HS256 JWTs `{sub, username, iat, exp}`, signed as `@nestjs/jwt` does by default.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub fn hs256(secret: &str, sub: &str, username: &str, iat: u64, exp: u64) -> String {
    let header = B64.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let claims = B64.encode(format!(
        r#"{{"sub":"{sub}","username":"{username}","iat":{iat},"exp":{exp}}}"#
    ));
    let signing_input = format!("{header}.{claims}");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(signing_input.as_bytes());
    let sig = B64.encode(mac.finalize().into_bytes());
    format!("{signing_input}.{sig}")
}

/// `n` tokens for users `bench-<i>`, valid for a day.
pub fn tokens(secret: &str, n: usize) -> Vec<String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    (0..n)
        .map(|i| {
            hs256(
                secret,
                &format!("u{i}"),
                &format!("bench-{i}"),
                now,
                now + 86_400,
            )
        })
        .collect()
}
