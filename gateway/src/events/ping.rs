//! `ping` → `pong { timestamp }`: the incumbent's application-level heartbeat.

use serde_json::json;
use time::OffsetDateTime;

use crate::protocol::event;
use crate::socket::error::EventError;
use crate::socket::reply::Ack;
use crate::socket::session::Session;

/// Any payload is ignored.
pub fn ping(session: &Session) -> Result<Ack, EventError> {
    let payload = json!({ "timestamp": iso_timestamp(OffsetDateTime::now_utc()) });
    let _ = session.socket.emit(event::PONG, &payload);
    Ok(Ack::Payload(payload))
}

/// JavaScript's `Date.prototype.toISOString()` form: `2026-11-23T18:27:33.123Z`.
fn iso_timestamp(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_look_like_to_iso_string() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_795_458_453_123_456_789).unwrap();
        assert_eq!(iso_timestamp(t), "2026-11-23T18:27:33.123Z");
    }
}
