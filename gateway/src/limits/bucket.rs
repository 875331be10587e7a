//! The one token bucket every rate limit uses: governor's (GCRA, lock-free),
//! built from a burst and a refill rate. The per-socket event budget
//! (`RATE_LIMIT_BURST`, `RATE_LIMIT_PER_SEC`, PROTOCOL.md §4) is one; the REST
//! limits ([`super::rest`]) are keyed ones with the same quotas.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

/// `burst` tokens at once, one more every `period / burst`: `burst` per
/// `period` on average. A burst of 0 is taken as 1.
pub fn per(burst: u32, period: Duration) -> Quota {
    let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
    refilled(burst, period / burst.get())
}

/// `burst` tokens at once, refilled at `per_sec` a second (0: as good as
/// never, see [`never`]).
pub fn per_second(burst: u32, per_sec: f64) -> Quota {
    let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
    let every = if per_sec.is_finite() && per_sec > 0.0 {
        Duration::try_from_secs_f64(1.0 / per_sec)
            .unwrap_or(never(burst))
            .min(never(burst))
    } else {
        never(burst)
    };
    refilled(burst, every)
}

/// The slowest refill governor can count: it keeps a bucket's whole window
/// (`every × burst`) in u64 nanoseconds, and a longer one overflowed (a
/// burst of 100 with no refill panicked every handshake). At the default
/// burst of 1,000 it is one token every 53 days.
fn never(burst: NonZeroU32) -> Duration {
    Duration::from_nanos(u64::MAX / 4 / u64::from(burst.get()))
}

fn refilled(burst: NonZeroU32, every: Duration) -> Quota {
    // A period too short to count (a refill rate past a billion a second)
    // is as good as no limit on the rate: the burst still applies.
    Quota::with_period(every.max(Duration::from_nanos(1)))
        .unwrap_or_else(|| Quota::per_second(burst))
        .allow_burst(burst)
}

/// A socket's event budget.
pub struct EventBudget(DefaultDirectRateLimiter);

impl EventBudget {
    pub fn new(burst: u32, per_sec: f64) -> Self {
        Self(RateLimiter::direct(per_second(burst, per_sec)))
    }

    /// Takes one token; false when the budget is spent.
    pub fn take(&self) -> bool {
        self.0.check().is_ok()
    }
}

#[cfg(test)]
mod tests {
    use governor::clock::FakeRelativeClock;

    use super::*;

    #[test]
    fn a_burst_then_refusal_then_refill_up_to_the_burst() {
        let clock = FakeRelativeClock::default();
        let b = RateLimiter::direct_with_clock(per_second(3, 2.0), clock.clone());
        assert!((0..3).all(|_| b.check().is_ok()));
        assert!(b.check().is_err());
        // Half a second refills one token at 2 per second.
        clock.advance(Duration::from_millis(500));
        assert!(b.check().is_ok());
        assert!(b.check().is_err());
        // A long pause refills only up to the burst.
        clock.advance(Duration::from_secs(60));
        assert!((0..3).all(|_| b.check().is_ok()));
        assert!(b.check().is_err());
    }

    #[test]
    fn no_refill_with_any_burst_fits_the_clock() {
        for burst in [1, 100, 1000, u32::MAX] {
            let b = RateLimiter::direct_with_clock(
                per_second(burst, 0.0),
                FakeRelativeClock::default(),
            );
            assert!(b.check().is_ok(), "burst {burst}");
        }
        let b =
            RateLimiter::direct_with_clock(per_second(100, 1e-12), FakeRelativeClock::default());
        assert!((0..100).all(|_| b.check().is_ok()));
        assert!(b.check().is_err());
    }

    #[test]
    fn no_refill_spends_the_burst_for_good() {
        let clock = FakeRelativeClock::default();
        let b = RateLimiter::direct_with_clock(per_second(2, 0.0), clock.clone());
        assert!((0..2).all(|_| b.check().is_ok()));
        clock.advance(Duration::from_secs(3600));
        assert!(b.check().is_err());
    }

    #[test]
    fn per_period_spreads_the_refill() {
        let clock = FakeRelativeClock::default();
        let b = RateLimiter::direct_with_clock(per(3, Duration::from_secs(60)), clock.clone());
        assert!((0..3).all(|_| b.check().is_ok()));
        assert!(b.check().is_err());
        clock.advance(Duration::from_secs(20));
        assert!(b.check().is_ok());
        assert!(b.check().is_err());
    }
}
