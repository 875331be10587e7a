//! The waits between rust_socketio's reconnection attempts (the vendored
//! `ReconnectBackoff`, PATCH(reconnect-backoff)): a gateway down for longer
//! than backoff's default 15-minute `max_elapsed_time` must not make the
//! client retry in a busy loop.

use std::time::{Duration, Instant};

use rust_socketio::asynchronous::ReconnectBackoff;

const MIN: Duration = Duration::from_millis(250);
const MAX: Duration = Duration::from_secs(5);

/// The backoff as it is an hour into an outage.
fn an_hour_old() -> ReconnectBackoff {
    let mut b = ReconnectBackoff::new(MIN, MAX);
    // Linux's monotonic clock goes below boot time without complaint.
    b.backoff.start_time = Instant::now()
        .checked_sub(Duration::from_secs(3600))
        .expect("an instant an hour ago");
    b
}

#[test]
fn the_waits_grow_from_the_minimum_and_stay_within_the_maximum() {
    let mut b = ReconnectBackoff::new(MIN, MAX);
    let first = b.next_delay();
    // backoff's jitter: ±50 % around the current interval.
    assert!(first >= MIN / 2 && first <= MIN * 3 / 2, "{first:?}");
    let waits: Vec<Duration> = (0..200).map(|_| b.next_delay()).collect();
    assert!(waits.iter().all(|w| *w <= MAX), "{waits:?}");
    assert!(waits[100..].iter().all(|w| *w >= MAX / 2), "{waits:?}");
}

#[test]
fn past_fifteen_minutes_down_it_still_waits_between_attempts() {
    let mut b = an_hour_old();
    for attempt in 0..1000 {
        let wait = b.next_delay();
        assert!(
            wait >= MIN / 2 && wait <= MAX,
            "attempt {attempt}: {wait:?}"
        );
    }
}
