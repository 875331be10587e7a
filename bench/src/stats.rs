//! Small statistics shared by the scenarios and the report.

/// The `q` quantile of sorted nanosecond samples, in milliseconds
/// (nearest rank).
pub fn pct(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i] as f64 / 1e6
}

pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Least-squares line through `p`: (slope, intercept).
pub fn linfit(p: &[(f64, f64)]) -> (f64, f64) {
    let n = p.len() as f64;
    if p.len() < 2 {
        return (0.0, p.first().map(|x| x.1).unwrap_or(0.0));
    }
    let mx = p.iter().map(|x| x.0).sum::<f64>() / n;
    let my = p.iter().map(|x| x.1).sum::<f64>() / n;
    let sxy: f64 = p.iter().map(|x| (x.0 - mx) * (x.1 - my)).sum();
    let sxx: f64 = p.iter().map(|x| (x.0 - mx) * (x.0 - mx)).sum();
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    (slope, my - slope * mx)
}

/// min / median / max of one figure over the repetitions that produced it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stat {
    pub min: f64,
    pub med: f64,
    pub max: f64,
    pub n: usize,
}

impl Stat {
    /// `None` without values. NaN sorts above every number (`total_cmp`).
    pub fn of(mut v: Vec<f64>) -> Option<Stat> {
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let med = if v.len() % 2 == 1 {
            v[v.len() / 2]
        } else {
            (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
        };
        Some(Stat {
            min: v[0],
            med,
            max: v[v.len() - 1],
            n: v.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank_in_milliseconds() {
        let v: Vec<u64> = (1..=100).map(|i| i * 1_000_000).collect();
        assert_eq!(pct(&v, 0.5), 50.0);
        assert_eq!(pct(&v, 0.99), 99.0);
        assert_eq!(pct(&v, 1.0), 100.0);
        assert_eq!(pct(&v, 0.0), 1.0);
        assert_eq!(pct(&[], 0.5), 0.0);
    }

    #[test]
    fn a_line_fit_finds_slope_and_intercept() {
        let (s, i) = linfit(&[(0.0, 1.0), (1.0, 3.0), (2.0, 5.0)]);
        assert_eq!((s, i), (2.0, 1.0));
        assert_eq!(linfit(&[(3.0, 7.0)]), (0.0, 7.0));
        assert_eq!(linfit(&[(1.0, 2.0), (1.0, 4.0)]), (0.0, 3.0));
    }

    #[test]
    fn a_stat_is_min_median_max() {
        let s = Stat::of(vec![3.0, 1.0, 2.0, 10.0]).unwrap();
        assert_eq!(
            s,
            Stat {
                min: 1.0,
                med: 2.5,
                max: 10.0,
                n: 4
            }
        );
        assert_eq!(Stat::of(vec![]), None);
    }

    #[test]
    fn nan_does_not_panic_and_sorts_last() {
        let s = Stat::of(vec![f64::NAN, 2.0, 1.0]).unwrap();
        assert_eq!((s.min, s.med), (1.0, 2.0));
        assert!(s.max.is_nan());
    }
}
