//! The REST account helpers against the gateway's routes.

use webrtc_signaling_client::{AuthClient, AuthError, Client, Credential};

use crate::common::*;

fn status(e: &AuthError) -> u16 {
    match e {
        AuthError::Api { status, .. } | AuthError::Unexpected { status, .. } => *status,
        _ => 0,
    }
}

/// The call was refused with 401.
fn unauthorized<T>(result: Result<T, AuthError>, what: &str) {
    match result {
        Ok(_) => panic!("{what}: accepted"),
        Err(e) => assert_eq!(status(&e), 401, "{what}: {e}"),
    }
}

/// alice_rs gets a token with `good`, and is refused with `bad`.
async fn only_password_is(auth: &AuthClient, good: &str, bad: &str) {
    auth.token_with_password("alice_rs", good)
        .await
        .expect("token by password");
    unauthorized(auth.token_with_password("alice_rs", bad).await, bad);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_token_me_regenerate_newpassword() {
    let gw = gateway().await;
    let auth = AuthClient::new(&gw.url).expect("client");

    let reg = auth
        .register("alice_rs", "correct horse")
        .await
        .expect("register");
    assert_eq!(reg.username, "alice_rs");
    assert!(!reg.api_key.is_empty() && !reg.user_id.is_empty());
    let again = auth
        .register("alice_rs", "correct horse")
        .await
        .expect_err("taken");
    assert!(
        matches!(again, AuthError::Api { status: 409, .. }),
        "{again}"
    );
    let short = auth
        .register("bob_rs", "short")
        .await
        .expect_err("too short");
    assert!(matches!(short, AuthError::Api { .. }), "{short}");
    assert!(matches!(status(&short), 400 | 422), "{short}");

    // The API key names the user, on REST and on the handshake.
    let key = Credential::ApiKey(reg.api_key.clone());
    let me = auth.me(&key).await.expect("me");
    assert_eq!(
        (me.user_id.as_str(), me.username.as_str()),
        (reg.user_id.as_str(), "alice_rs")
    );
    Client::connect(&gw.url, key.clone())
        .await
        .expect("API key handshake")
        .close()
        .await
        .expect("close");

    // Tokens, from the key or the password.
    let t = auth.token_with_api_key(&reg.api_key).await.expect("token");
    assert!(t.expires_in > 0);
    let by_token = auth
        .me(&Credential::Token(t.token.clone()))
        .await
        .expect("me by token");
    assert_eq!(by_token.username, "alice_rs");
    let c = Client::connect(&gw.url, Credential::Token(t.token))
        .await
        .expect("JWT handshake");
    c.close().await.expect("close");
    only_password_is(&auth, "correct horse", "wrong horse").await;

    // A new key retires the old one.
    let new_key = auth
        .regenerate("alice_rs", "correct horse")
        .await
        .expect("regenerate");
    assert_ne!(new_key, reg.api_key);
    unauthorized(auth.me(&key).await, "old key");
    auth.me(&Credential::ApiKey(new_key))
        .await
        .expect("new key");

    // A new password retires the old one.
    auth.new_password("alice_rs", "correct horse", "battery staple")
        .await
        .expect("new password");
    only_password_is(&auth, "battery staple", "correct horse").await;
}
