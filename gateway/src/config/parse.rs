//! Parsers of setting values clap calls: addresses, durations.

use std::time::Duration;

/// Parses `10.0.0.1`, `10.0.0.0/8` or `::1`.
pub fn parse_net(s: &str) -> Result<ipnet::IpNet, String> {
    let s = s.trim();
    s.parse::<ipnet::IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("`{s}` is not an IP address or CIDR"))
}

/// A duration that is not zero.
pub fn parse_timeout(s: &str) -> Result<Duration, String> {
    match parse_duration(s)? {
        d if d.is_zero() => Err(format!("`{s}`: must be more than zero")),
        d => Ok(d),
    }
}

/// Parses a bare number of seconds (`90`, `0.5`) or a humantime duration
/// (`30s`, `10m`, `2h`, `1h 30m`, `500ms`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s.starts_with(|c: char| c.is_ascii_digit() || c == '.')
        && s.chars().all(|c| c.is_ascii_digit() || c == '.')
    {
        let secs: f64 = s
            .parse()
            .map_err(|_| format!("`{s}` is not a number of seconds"))?;
        return Duration::try_from_secs_f64(secs).map_err(|e| format!("`{s}`: {e}"));
    }
    humantime::parse_duration(s)
        .map_err(|e| format!("`{s}` is not a duration ({e}; use e.g. 90, 30s, 10m or 2h)"))
}
