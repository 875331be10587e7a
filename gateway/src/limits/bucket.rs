//! The per-socket event budget (PROTOCOL.md §4): a token bucket.

use std::time::Instant;

#[derive(Debug)]
pub struct TokenBucket {
    capacity: f64,
    per_sec: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    pub fn new(burst: u32, per_sec: f64) -> Self {
        let capacity = f64::from(burst);
        Self {
            capacity,
            per_sec: per_sec.max(0.0),
            tokens: capacity,
            last: Instant::now(),
        }
    }

    /// Takes one token; false when the budget is spent.
    pub fn take(&mut self) -> bool {
        self.take_at(Instant::now())
    }

    fn take_at(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.per_sec).min(self.capacity);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_burst_then_refusal_then_refill() {
        let start = Instant::now();
        let mut b = TokenBucket {
            capacity: 3.0,
            per_sec: 2.0,
            tokens: 3.0,
            last: start,
        };
        assert!(b.take_at(start));
        assert!(b.take_at(start));
        assert!(b.take_at(start));
        assert!(!b.take_at(start));
        // Half a second refills one token at 2 per second.
        assert!(b.take_at(start + Duration::from_millis(500)));
        assert!(!b.take_at(start + Duration::from_millis(500)));
        // A long pause refills only up to the burst.
        let later = start + Duration::from_secs(60);
        assert!((0..3).all(|_| b.take_at(later)));
        assert!(!b.take_at(later));
    }
}
