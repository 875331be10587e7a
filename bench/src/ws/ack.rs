//! Acked emits: a client sends `42<id>[event, data]` and the server answers
//! `43<id>[answer]` (Socket.IO v5, default namespace). The gateway answers a
//! relay `{"ok":true}` or `{"error":{"code":...,"message":...}}`; reading the
//! answer in place keeps the generator cheap.

use super::scan::{extract_str, parse_u64};

/// What a server answered to one acked emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer<'a> {
    /// `{"ok":true}`.
    Ok,
    /// `{"error":{"code":C,...}}`: the code (empty when it has none).
    Refused(&'a [u8]),
    /// Any other answer.
    Other,
}

/// The ack id and answer of a `43<id>[...]` packet; `None` for any other packet.
pub fn parse_ack(t: &[u8]) -> Option<(u64, Answer<'_>)> {
    let rest = t.strip_prefix(b"43")?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let id = parse_u64(&rest[..digits])?;
    let args = rest[digits..].strip_prefix(b"[")?;
    let answer = if args.starts_with(br#"{"ok":true}"#) {
        Answer::Ok
    } else if args.starts_with(br#"{"error":"#) {
        Answer::Refused(extract_str(args, br#""code":""#).unwrap_or_default())
    } else {
        Answer::Other
    };
    Some((id, answer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ok_and_refused_answers_are_read_with_their_id() {
        assert_eq!(parse_ack(br#"437[{"ok":true}]"#), Some((7, Answer::Ok)));
        assert_eq!(
            parse_ack(
                br#"4312345[{"error":{"code":"PEER_NOT_FOUND","message":"Peer not found","targetPeerId":"x"}}]"#
            ),
            Some((12345, Answer::Refused(b"PEER_NOT_FOUND")))
        );
        assert_eq!(
            parse_ack(br#"430[{"error":{"message":"no code"}}]"#),
            Some((0, Answer::Refused(b"")))
        );
        assert_eq!(
            parse_ack(br#"439[{"roomId":"r"}]"#),
            Some((9, Answer::Other))
        );
        // `ok: false` is not an ok.
        assert_eq!(parse_ack(br#"431[{"ok":false}]"#), Some((1, Answer::Other)));
    }

    #[test]
    fn other_packets_are_not_acks() {
        assert_eq!(parse_ack(br#"42["webrtc:offer",{}]"#), None);
        assert_eq!(parse_ack(br#"43[{"ok":true}]"#), None, "an ack needs an id");
        assert_eq!(parse_ack(b"437"), None, "an ack needs its arguments");
        assert_eq!(parse_ack(br#"43/ns,1[{"ok":true}]"#), None);
        assert_eq!(parse_ack(b"3"), None);
    }
}
