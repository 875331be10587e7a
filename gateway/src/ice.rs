//! The `iceServers` handed to peers: configured STUN URLs and, with a TURN
//! secret, short-lived TURN credentials in the TURN REST API form that coturn's
//! `use-auth-secret` checks: username `<expiry>:<userId>`, credential
//! base64(HMAC-SHA1(secret, username)).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha1::Sha1;

/// One `RTCIceServer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct IceConfig {
    pub stun_urls: Vec<String>,
    pub turn_urls: Vec<String>,
    pub turn_secret: Option<String>,
    pub turn_ttl: Duration,
}

impl IceConfig {
    /// The servers for `user_id`, with TURN credentials valid from now.
    pub fn servers_for(&self, user_id: &str) -> Vec<IceServer> {
        self.servers_at(user_id, SystemTime::now())
    }

    fn servers_at(&self, user_id: &str, now: SystemTime) -> Vec<IceServer> {
        let mut servers = Vec::with_capacity(2);
        if !self.stun_urls.is_empty() {
            servers.push(IceServer {
                urls: self.stun_urls.clone(),
                username: None,
                credential: None,
            });
        }
        if let (false, Some(secret)) = (self.turn_urls.is_empty(), &self.turn_secret) {
            let expiry = now.duration_since(UNIX_EPOCH).unwrap_or_default() + self.turn_ttl;
            let username = format!("{}:{user_id}", expiry.as_secs());
            servers.push(IceServer {
                urls: self.turn_urls.clone(),
                credential: Some(turn_credential(secret, &username)),
                username: Some(username),
            });
        }
        servers
    }
}

fn turn_credential(secret: &str, username: &str) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac =
        <Hmac<Sha1> as Mac>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(username.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_servers_by_default() {
        assert!(IceConfig::default().servers_for("u1").is_empty());
    }

    #[test]
    fn turn_needs_a_secret() {
        let cfg = IceConfig {
            turn_urls: vec!["turn:t.test:3478".into()],
            ..Default::default()
        };
        assert!(cfg.servers_for("u1").is_empty());
    }

    #[test]
    fn turn_credentials_follow_the_rest_api_form() {
        let cfg = IceConfig {
            stun_urls: vec!["stun:s.test:3478".into()],
            turn_urls: vec!["turn:t.test:3478".into(), "turns:t.test:5349".into()],
            turn_secret: Some("north".into()),
            turn_ttl: Duration::from_secs(3600),
        };
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let servers = cfg.servers_at("alice", now);
        assert_eq!(
            servers[0],
            IceServer {
                urls: vec!["stun:s.test:3478".into()],
                username: None,
                credential: None
            }
        );
        assert_eq!(servers[1].username.as_deref(), Some("1700003600:alice"));
        // Computed independently: printf '1700003600:alice' | openssl dgst -sha1 -hmac north -binary | base64
        assert_eq!(
            servers[1].credential.as_deref(),
            Some("wjwSXO2ch1B6VaLTLMy2Avn5O9o=")
        );
        assert_eq!(
            serde_json::to_value(&servers[0]).unwrap(),
            serde_json::json!({ "urls": ["stun:s.test:3478"] })
        );
    }
}
