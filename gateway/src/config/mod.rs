//! The gateway's configuration: one struct, read once at start-up from flags and
//! environment variables. Nothing else in the crate reads the environment.

mod app_data;
mod auth;
mod cluster;
mod http;
mod limits;
mod parse;
mod rooms;

pub use app_data::AppDataConfig;
pub use auth::{AuthConfig, AuthFailure};
pub use cluster::ClusterConfig;
pub use http::{HttpConfig, LogFormat};
pub use limits::LimitsConfig;
pub use parse::{parse_duration, parse_net, parse_timeout};
pub use rooms::RoomsConfig;

use clap::Parser;

/// Every setting of the gateway, grouped by the part of it that uses them;
/// each group is handed whole to that part. Each flag also reads the
/// environment variable named beside it; flags win over the environment.
/// No `Debug`: the groups hold secrets (JWT, TURN, database and Redis URLs).
#[derive(Clone, Parser)]
#[command(
    name = "gateway",
    version,
    about = "Socket.IO WebRTC signaling gateway"
)]
pub struct Config {
    #[command(flatten)]
    pub http: HttpConfig,

    #[command(flatten)]
    pub auth: AuthConfig,

    #[command(flatten)]
    pub rooms: RoomsConfig,

    #[command(flatten)]
    pub limits: LimitsConfig,

    #[command(flatten)]
    pub cluster: ClusterConfig,

    #[command(flatten)]
    pub app_data: AppDataConfig,
}

impl Default for AppDataConfig {
    /// No lookups: the defaults of every setting.
    fn default() -> Self {
        Config::defaults().app_data
    }
}

impl Config {
    /// Reads flags and environment once, applying aliases and dropping empty list items.
    pub fn load() -> Self {
        Self::from_parsed(Config::parse(), |name| std::env::var(name).ok())
    }

    fn from_parsed(mut cfg: Config, env: impl Fn(&str) -> Option<String>) -> Self {
        if cfg.auth.jwt_secret.as_deref().is_none_or(str::is_empty) {
            cfg.auth.jwt_secret = env("JWT_ACCESS_SECRET").filter(|s| !s.is_empty());
        }
        for list in [
            &mut cfg.http.client_urls,
            &mut cfg.rooms.error_events,
            &mut cfg.rooms.stun_urls,
            &mut cfg.rooms.turn_urls,
            &mut cfg.auth.jwt_user_id_claims,
            &mut cfg.auth.jwt_username_claims,
        ] {
            list.iter_mut().for_each(|s| *s = s.trim().to_owned());
            list.retain(|s| !s.is_empty());
        }
        if cfg.rooms.error_events.is_empty() {
            cfg.rooms.error_events.push("error".to_owned());
        }
        if cfg.auth.jwt_user_id_claims.is_empty() {
            cfg.auth.jwt_user_id_claims = vec!["sub".to_owned(), "id".to_owned()];
        }
        for opt in [
            &mut cfg.rooms.sfu_url,
            &mut cfg.rooms.turn_secret,
            &mut cfg.auth.jwt_issuer,
            &mut cfg.auth.jwt_audience,
            &mut cfg.app_data.app_database_url,
            &mut cfg.app_data.user_query,
            &mut cfg.app_data.room_query,
            &mut cfg.app_data.user_lookup_url,
            &mut cfg.app_data.room_lookup_url,
            &mut cfg.app_data.app_lookup_token,
            &mut cfg.cluster.redis_url,
        ] {
            if opt.as_deref().is_some_and(|s| s.trim().is_empty()) {
                *opt = None;
            }
        }
        cfg
    }

    /// A configuration with every default, for tests and embedding.
    pub fn defaults() -> Self {
        Self::from_parsed(Config::parse_from(["gateway"]), |_| None)
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use super::*;

    #[test]
    fn durations_take_seconds_or_a_suffix() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("10 parsecs").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-1").is_err());
    }

    #[test]
    fn defaults_match_the_contract() {
        let c = Config::defaults();
        assert_eq!(c.http.port, 3000);
        assert_eq!(c.http.client_urls, vec!["http://localhost:5173"]);
        assert_eq!(c.rooms.error_events, vec!["error"]);
        assert_eq!(c.rooms.room_ttl, Duration::from_secs(600));
        assert_eq!(c.rooms.max_room_size, 10);
        assert_eq!(c.limits.rate_limit_burst, 1000);
        assert_eq!(c.limits.rate_limit_per_sec, 200.0);
        assert_eq!(c.limits.max_payload, 1_000_000);
        assert!(!c.rooms.auto_create_rooms);
        assert!(c.rooms.stun_urls.is_empty());
        assert_eq!(c.http.worker_threads, None);
        assert_eq!(c.http.listen_backlog, 1024);
        assert_eq!(c.cluster.redis_url, None);
        assert_eq!(c.cluster.redis_prefix, "gw");
        assert_eq!(
            (
                c.cluster.node_heartbeat,
                c.cluster.node_timeout,
                c.cluster.redis_timeout
            ),
            (
                Duration::from_secs(2),
                Duration::from_secs(6),
                Duration::from_secs(2)
            )
        );
        assert!(c.limits.trusted_proxies.is_empty());
        assert_eq!(
            (c.rooms.max_rooms, c.rooms.max_rooms_per_user),
            (10_000, 20)
        );
        assert_eq!(c.limits.login_backoff, Duration::from_secs(30));
        assert!(c.http.demo);
        assert_eq!(c.http.demo_dir, PathBuf::from("web/dist"));
        assert_eq!(
            (
                c.http.header_timeout,
                c.http.body_timeout,
                c.limits.handshake_timeout
            ),
            (
                Duration::from_secs(10),
                Duration::from_secs(10),
                Duration::from_secs(10)
            )
        );
        assert_eq!(
            (
                c.limits.max_connections_per_address,
                c.limits.max_sockets_per_address,
                c.limits.max_sockets_per_user
            ),
            (1000, 500, 20)
        );
        assert_eq!(c.limits.max_send_buffer, 2 * 1024 * 1024);
        assert_eq!(c.limits.handshake_max_failures_per_address, 60);
        assert_eq!(c.limits.handshake_failure_window, Duration::from_secs(60));
    }

    #[test]
    fn trusted_proxies_take_addresses_and_cidrs() {
        let c = Config::from_parsed(
            Config::parse_from(["gateway", "--trusted-proxies", "10.0.0.0/8, 127.0.0.1,::1"]),
            |_| None,
        );
        let want: Vec<ipnet::IpNet> = ["10.0.0.0/8", "127.0.0.1/32", "::1/128"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(c.limits.trusted_proxies, want);
        assert!(parse_net("nope").is_err());
    }

    #[test]
    fn timeouts_are_not_zero_and_the_send_buffer_fits_a_relay() {
        assert!(parse_timeout("0").is_err());
        assert_eq!(parse_timeout("0.5"), Ok(Duration::from_millis(500)));
        assert!(Config::try_parse_from(["gateway", "--max-send-buffer", "1000"]).is_err());
    }

    #[test]
    fn lists_split_on_commas_and_drop_blanks() {
        let c = Config::from_parsed(
            Config::parse_from([
                "gateway",
                "--client-url",
                "http://a.test, http://b.test,",
                "--error-event",
                "error,exception",
            ]),
            |_| None,
        );
        assert_eq!(c.http.client_urls, vec!["http://a.test", "http://b.test"]);
        assert_eq!(c.rooms.error_events, vec!["error", "exception"]);
    }

    #[test]
    fn app_lookups_are_off_and_names_never_the_email_by_default() {
        let c = Config::defaults();
        assert_eq!(c.auth.jwt_user_id_claims, vec!["sub", "id"]);
        assert_eq!(
            c.auth.jwt_username_claims,
            vec!["username", "preferred_username", "name"]
        );
        assert_eq!(
            (
                &c.app_data.app_database_url,
                &c.app_data.user_query,
                &c.app_data.room_query,
                &c.app_data.user_lookup_url,
                &c.app_data.room_lookup_url,
                &c.app_data.app_lookup_token
            ),
            (&None, &None, &None, &None, &None, &None)
        );
        assert_eq!(c.app_data.app_lookup_timeout, Duration::from_secs(2));
        assert_eq!(c.app_data.app_lookup_cache_ttl, Duration::from_secs(5));
        assert_eq!(c.app_data.app_lookup_cache_size, 10_000);
    }

    #[test]
    fn claim_lists_and_blank_lookups_are_read_as_meant() {
        let c = Config::from_parsed(
            Config::parse_from([
                "gateway",
                "--jwt-user-id-claim",
                " ",
                "--jwt-username-claim",
                "username, email",
                "--user-query",
                "  ",
                "--app-lookup-cache-ttl",
                "0",
            ]),
            |_| None,
        );
        // No id claim at all makes no sense: the default stays.
        assert_eq!(c.auth.jwt_user_id_claims, vec!["sub", "id"]);
        assert_eq!(c.auth.jwt_username_claims, vec!["username", "email"]);
        assert_eq!(c.app_data.user_query, None);
        assert_eq!(c.app_data.app_lookup_cache_ttl, Duration::ZERO);
        // An empty name list: the user id is every name.
        let ids_only = Config::from_parsed(
            Config::parse_from(["gateway", "--jwt-username-claim", ""]),
            |_| None,
        );
        assert!(ids_only.auth.jwt_username_claims.is_empty());
    }

    #[test]
    fn jwt_access_secret_is_an_alias() {
        let c = Config::from_parsed(Config::parse_from(["gateway"]), |k| {
            (k == "JWT_ACCESS_SECRET").then(|| "s3cret".to_owned())
        });
        assert_eq!(c.auth.jwt_secret.as_deref(), Some("s3cret"));
    }
}
