//! The soak's memory verdict: the servers sampled every second, and whether
//! their RSS stayed flat after the warm-up.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::procfs;
use crate::stats::{linfit, round3};

/// One sample of the servers under test.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Sample {
    /// Seconds since the soak started.
    pub t_s: f64,
    pub rss_kb: u64,
    pub open_fds: u64,
    pub server_cpu_s: f64,
    pub bench_cpu_s: f64,
    /// Requests handled so far (handshakes, creates, joins, leaves, closes, relays).
    pub ops: u64,
}

/// The memory verdict.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Rss {
    /// At the end of the warm-up (mean of its last 5 s).
    pub warm_kb: u64,
    pub max_kb: u64,
    pub end_kb: u64,
    /// `max_kb - warm_kb`.
    pub growth_kb: i64,
    /// Least-squares slope after the warm-up.
    pub slope_kb_per_min: f64,
    pub max_growth_kb: u64,
    pub max_slope_kb_per_min: f64,
    pub flat: bool,
}

impl Rss {
    /// Judges the samples after `warmup_s` against the bounds.
    pub fn judge(samples: &[Sample], warmup_s: f64, max_growth_kb: u64, max_slope: f64) -> Rss {
        let warm: Vec<u64> = samples
            .iter()
            .filter(|s| s.t_s <= warmup_s && s.t_s > warmup_s - 5.0)
            .map(|s| s.rss_kb)
            .collect();
        let after: Vec<&Sample> = samples.iter().filter(|s| s.t_s > warmup_s).collect();
        let warm_kb = match warm.len() {
            0 => after.first().map_or(0, |s| s.rss_kb),
            n => warm.iter().sum::<u64>() / n as u64,
        };
        let max_kb = after.iter().map(|s| s.rss_kb).max().unwrap_or(warm_kb);
        let pts: Vec<(f64, f64)> = after
            .iter()
            .map(|s| (s.t_s / 60.0, s.rss_kb as f64))
            .collect();
        let slope = linfit(&pts).0;
        let growth_kb = max_kb as i64 - warm_kb as i64;
        Rss {
            warm_kb,
            max_kb,
            end_kb: after.last().map_or(warm_kb, |s| s.rss_kb),
            growth_kb,
            slope_kb_per_min: round3(slope),
            max_growth_kb,
            max_slope_kb_per_min: max_slope,
            // Too few samples to judge is not flat.
            flat: after.len() >= 5 && growth_kb <= max_growth_kb as i64 && slope <= max_slope,
        }
    }
}

/// The servers `pids` now, `ops` requests handled so far.
pub fn sample(pids: &[u32], start: Instant, ops: u64) -> Sample {
    Sample {
        t_s: round3(start.elapsed().as_secs_f64()),
        rss_kb: pids.iter().map(|&p| procfs::rss_kb(p)).sum(),
        open_fds: pids.iter().map(|&p| procfs::open_fds(p)).sum(),
        server_cpu_s: pids.iter().map(|&p| procfs::cpu_secs(p)).sum(),
        bench_cpu_s: procfs::self_cpu_secs(),
        ops,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(rss: impl Fn(f64) -> u64) -> Vec<Sample> {
        (0..=60)
            .map(|t| Sample {
                t_s: t as f64,
                rss_kb: rss(t as f64),
                open_fds: 10,
                server_cpu_s: 0.0,
                bench_cpu_s: 0.0,
                ops: 0,
            })
            .collect()
    }

    #[test]
    fn memory_that_settles_after_the_warm_up_is_flat() {
        // Grows during the 20 s warm-up, then wobbles by 1 MB.
        let s = samples(|t| {
            if t < 20.0 {
                10_000 + 500 * t as u64
            } else {
                20_000 + (t as u64 % 2) * 1024
            }
        });
        let r = Rss::judge(&s, 20.0, 2048, 600.0);
        assert_eq!(r.warm_kb, 19_000, "mean of 16..=20 s");
        assert_eq!(r.max_kb, 21_024);
        assert_eq!(r.growth_kb, 2_024);
        assert!(r.slope_kb_per_min.abs() < 200.0, "{}", r.slope_kb_per_min);
        assert!(r.flat);
    }

    #[test]
    fn memory_that_keeps_growing_is_not_flat() {
        // 100 KB/s: 6,000 KB per minute.
        let s = samples(|t| 10_000 + 100 * t as u64);
        let r = Rss::judge(&s, 20.0, 8192, 600.0);
        assert!(
            (r.slope_kb_per_min - 6000.0).abs() < 1.0,
            "{}",
            r.slope_kb_per_min
        );
        assert!(r.growth_kb < 8192, "the growth bound alone would pass");
        assert!(!r.flat);
        // A step after the warm-up beyond the growth bound is not flat either.
        let s = samples(|t| if t < 40.0 { 10_000 } else { 30_000 });
        assert!(!Rss::judge(&s, 20.0, 8192, 1e9).flat);
    }

    #[test]
    fn too_few_samples_after_the_warm_up_are_not_flat() {
        let s = samples(|_| 10_000);
        assert!(!Rss::judge(&s, 58.0, 8192, 600.0).flat);
        assert!(Rss::judge(&s, 50.0, 8192, 600.0).flat);
    }
}
