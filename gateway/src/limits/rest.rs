//! Per-address limits of the REST API, each answering 429 with `Retry-After`:
//! a request rate on the account routes (`/register`, `/token`, `/regenerate`,
//! `/newpassword`), an hourly quota of new accounts, and failure counts for
//! unknown API keys and for `GET /rooms/{code}` misses. Kept in memory, per node.

use std::net::IpAddr;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, RateLimiter};

use super::Limited;
use super::bucket::per;
use super::failures::{FailureWindow, address_key};
use crate::config::LimitsConfig;

pub struct RestLimits {
    account_routes: DefaultKeyedRateLimiter<IpAddr>,
    registrations: DefaultKeyedRateLimiter<IpAddr>,
    /// Unknown API keys per address (guessing keys on any authenticated route).
    pub api_key_failures: FailureWindow<IpAddr>,
    /// Lookups of rooms that do not exist, per address (guessing codes).
    pub room_misses: FailureWindow<IpAddr>,
}

impl RestLimits {
    pub fn new(config: &LimitsConfig) -> Self {
        Self {
            account_routes: RateLimiter::keyed(per(
                config.auth_rate_per_minute,
                Duration::from_secs(60),
            )),
            registrations: RateLimiter::keyed(per(
                config.register_per_hour,
                Duration::from_secs(3600),
            )),
            api_key_failures: FailureWindow::new(
                config.api_key_max_failures_per_address,
                config.login_window,
            ),
            room_misses: FailureWindow::new(
                config.room_lookup_misses_per_minute,
                Duration::from_secs(60),
            ),
        }
    }

    /// One request to an account route from `ip`.
    pub fn account_route(&self, ip: IpAddr) -> Result<(), Limited> {
        check(&self.account_routes, ip)
    }

    /// One registration from `ip`.
    pub fn registration(&self, ip: IpAddr) -> Result<(), Limited> {
        check(&self.registrations, ip)
    }

    /// Forgets addresses whose limits are back to full (call now and then).
    pub fn housekeeping(&self) {
        for limiter in [&self.account_routes, &self.registrations] {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

fn check(limiter: &DefaultKeyedRateLimiter<IpAddr>, ip: IpAddr) -> Result<(), Limited> {
    limiter
        .check_key(&address_key(ip))
        .map_err(|not_until| Limited {
            retry_after: not_until.wait_time_from(DefaultClock::default().now()),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_allow_their_burst_then_refuse_with_the_wait() {
        let limiter = RateLimiter::keyed(per(3, Duration::from_secs(60)));
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..3 {
            assert!(check(&limiter, ip).is_ok());
        }
        match check(&limiter, ip) {
            Err(Limited { retry_after: wait }) => {
                assert!(wait > Duration::from_secs(15) && wait <= Duration::from_secs(20))
            }
            other => panic!("{other:?}"),
        }
        assert!(check(&limiter, "192.0.2.2".parse().unwrap()).is_ok());
    }
}
