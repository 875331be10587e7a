//! The parsers that read what a client sends, fuzzed with proptest: the event
//! packet, the relay payload, the handshake's credential carriers (headers,
//! cookies, query string, `auth`), room codes and REST bodies. Each must take
//! any input without panicking, and what it accepts must follow the contract
//! (docs/PROTOCOL.md, docs/WIRE-DETAILS.md): where the rule is simple enough,
//! the property is "accepted exactly when the rule says so".
//!
//! Cases per property are kept modest (`PROPTEST_CASES` raises them for a
//! longer run); a failure is shrunk and saved under `proptest-regressions/`.

use axum::extract::FromRequest;
use gateway::auth::Credential;
use gateway::auth::credential;
use gateway::events::relay::{
    self, MAX_CANDIDATE_BYTES, MAX_CANDIDATE_JSON, MAX_DESCRIPTION_JSON, MAX_SDP_BYTES,
    MAX_TARGET_BYTES,
};
use gateway::http::extract::Body;
use gateway::protocol::RelayKind;
use gateway::rooms::{CreateRoomRequest, RoomCode};
use gateway::socket::packet::Packet;
use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(cases);
    ProptestConfig::with_cases(cases)
}

fn packet(text: &str) -> Packet {
    Packet::new(socketioxide_core::Value::Str(text.to_owned().into(), None))
}

// ---------------------------------------------------------------- strategies

/// Keys the contract reads, their look-alikes, and anything.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "roomCode", "maxPeers", "targetPeerId", "offer", "answer", "candidate", "type", "sdp",
            "sdpMid", "sdpMLineIndex", "usernameFragment", "isVideoEnabled", "isAudioEnabled",
            "RoomCode", "room_code", "__proto__", "",
        ])
        .prop_map(str::to_owned),
        1 => any::<String>(),
    ]
}

/// Strings with what trips parsers: escapes, non-BMP characters, NUL, long runs.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => any::<String>(),
        2 => "[a-zA-Z0-9_-]{0,70}",
        1 => prop::sample::select(vec!["", " ", "\0", "é", "😀", "\u{2028}", "\u{feff}", "a\"b", "\\"])
            .prop_map(str::to_owned),
        1 => (prop::sample::select(vec!["a", "é", "€", "😀"]), 0..70_000usize)
            .prop_map(|(unit, bytes)| unit.repeat(bytes / unit.len())),
    ]
}

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e300f64..1e300).prop_map(Value::from),
        prop::sample::select(vec![0.0, -0.0, 0.5, 1.0, 1.5, 1e21, 65535.0, 65536.0, -1.0])
            .prop_map(Value::from),
    ]
}

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A JSON text of `value`, with string literals sometimes re-spelt with escapes
/// serde_json never writes: `\u0041`, surrogate pairs, lone surrogates.
fn json_text() -> impl Strategy<Value = String> {
    (
        json_value(),
        prop::collection::vec((0..usize::MAX, 0..6u8), 0..4),
    )
        .prop_map(|(v, edits)| {
            let mut s = v.to_string();
            for (at, kind) in edits {
                let quotes: Vec<usize> = s.match_indices('"').map(|(i, _)| i).collect();
                if quotes.is_empty() {
                    break;
                }
                let at = quotes[at % quotes.len()] + 1;
                let escape = [
                    "\\u0041",
                    "\\ud83d\\ude00",
                    "\\ud800",
                    "\\udfff",
                    "\\u0000",
                    "\\n",
                ][kind as usize];
                s.insert_str(at, escape);
            }
            s
        })
}

/// Packet texts: well-formed `["event", …args]`, mangled ones, and noise.
fn packet_text() -> impl Strategy<Value = String> {
    let event = prop_oneof![
        4 => prop::sample::select(vec!["create:room", "join:room", "webrtc:offer", "webrtc:ice", "media:state", "ping"])
            .prop_map(|e| json!(e).to_string()),
        1 => any::<String>().prop_map(|e| json!(e).to_string()),
        1 => json_text(),
    ];
    let args = prop::collection::vec(json_text(), 0..4);
    let wellformed = (event, args)
        .prop_map(|(e, args)| {
            let mut parts = vec![e];
            parts.extend(args);
            format!("[{}]", parts.join(","))
        })
        .boxed();
    prop_oneof![
        6 => wellformed.clone(),
        // Cut short, or with something glued on.
        2 => (wellformed, 0..usize::MAX, prop::sample::select(vec!["", "]", ",", "}", " x", "\"", "[[[["]))
            .prop_map(|(s, cut, tail)| {
                let mut cut = cut % (s.len() + 1);
                while !s.is_char_boundary(cut) {
                    cut -= 1;
                }
                format!("{}{tail}", &s[..cut])
            }),
        1 => any::<String>(),
    ]
}

// -------------------------------------------------------------------- packet

proptest! {
    #![proptest_config(config(512))]

    /// Any text: no panic, and an object is only ever read from an object.
    #[test]
    fn any_packet_text_is_read_without_panic(text in packet_text()) {
        let p = packet(&text);
        if let Some(name) = p.event() {
            prop_assert!(name.len() <= text.len());
        }
        if let Ok(Some(v)) = p.object::<Value>() {
            prop_assert!(v.is_object(), "{v}");
        }
        let _ = p.object::<CreateRoomRequest>();
        for kind in RelayKind::ALL {
            let _ = relay::parse(kind, &p);
        }
    }

    /// A well-formed packet: the name is its first element; the payload is
    /// read when it is the one argument and an object (or absent, or null).
    #[test]
    fn a_wellformed_packet_reads_as_the_contract_says(
        name in any::<String>(),
        args in prop::collection::vec(json_value(), 0..3),
    ) {
        let mut all = vec![json!(name)];
        all.extend(args.iter().cloned());
        let p = packet(&Value::Array(all).to_string());
        prop_assert_eq!(p.event().map(std::borrow::Cow::into_owned), Some(name));
        let read = p.object::<Value>();
        match args.as_slice() {
            [] | [Value::Null] => prop_assert_eq!(read, Ok(None)),
            // Compared with a re-read of its text: serde_json's float parsing is
            // not exact to the last bit without its `float_roundtrip` feature
            // (the gateway forwards relayed values as text, so no float is changed).
            [Value::Object(o)] => {
                let again: Value = serde_json::from_str(&Value::Object(o.clone()).to_string()).expect("json");
                prop_assert_eq!(read, Ok(Some(again)));
            }
            _ => prop_assert!(read.is_err(), "{:?} read from {:?}", read, args),
        }
    }
}

/// Nesting far deeper than serde's recursion limit, in a field nobody reads
/// and in the relayed value: refused or skipped, never a stack overflow.
#[test]
fn deep_nesting_costs_no_stack() {
    for depth in [127, 128, 129, 10_000, 400_000] {
        let deep = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
        let create = format!(r#"["create:room",{{"roomCode":"A","x":{deep}}}]"#);
        assert!(
            packet(&create).object::<CreateRoomRequest>().is_ok(),
            "{depth}"
        );
        let _ = packet(&create).object::<Value>();
        let offer = format!(
            r#"["webrtc:offer",{{"targetPeerId":"p","offer":{{"type":"offer","sdp":"v=0","x":{deep}}}}}]"#
        );
        let _ = relay::parse(RelayKind::Offer, &packet(&offer));
        let ice = format!(r#"["webrtc:ice",{{"targetPeerId":"p","candidate":{deep}}}]"#);
        assert!(
            relay::parse(RelayKind::Ice, &packet(&ice)).is_err(),
            "{depth}"
        );
    }
}

// --------------------------------------------------------------------- relay

fn sized_string(limit: usize) -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => text().prop_map(Value::String),
        2 => (prop::sample::select(vec!["a", "é", "€", "😀"]), limit - 8..limit + 8)
            .prop_map(|(unit, bytes)| {
                let mut s = unit.repeat(bytes / unit.len());
                s.push_str(&"a".repeat(bytes - s.len()));
                Value::String(s)
            }),
    ]
}

fn maybe(
    field: &'static str,
    v: impl Strategy<Value = Value>,
) -> impl Strategy<Value = Option<(&'static str, Value)>> {
    prop::option::weighted(0.8, v.prop_map(move |v| (field, v)))
}

fn object_of(fields: Vec<Option<(&'static str, Value)>>, extra: Vec<(String, Value)>) -> Value {
    let mut o = Map::new();
    for (k, v) in extra {
        o.insert(k, v);
    }
    for (k, v) in fields.into_iter().flatten() {
        o.insert(k.to_owned(), v);
    }
    Value::Object(o)
}

fn description() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => (
            maybe("type", prop_oneof![3 => text().prop_map(Value::String), 1 => json_value()]),
            maybe("sdp", prop_oneof![4 => sized_string(MAX_SDP_BYTES), 1 => json_value()]),
            prop::collection::vec((key(), json_value()), 0..3),
        )
            .prop_map(|(t, s, extra)| object_of(vec![t, s], extra)),
        1 => json_value(),
    ]
}

fn candidate() -> impl Strategy<Value = Value> {
    let optional = || {
        prop_oneof![
            Just(Value::Null),
            text().prop_map(Value::String),
            json_value()
        ]
    };
    prop_oneof![
        3 => sized_string(MAX_CANDIDATE_BYTES),
        4 => (
            maybe("candidate", prop_oneof![4 => sized_string(MAX_CANDIDATE_BYTES), 1 => json_value()]),
            maybe("sdpMid", optional()),
            maybe("sdpMLineIndex", prop_oneof![(-3i64..70_000).prop_map(Value::from), number(), Just(Value::Null), json_value()]),
            maybe("usernameFragment", optional()),
            prop::collection::vec((key(), json_value()), 0..2),
        )
            .prop_map(|(c, m, i, u, extra)| object_of(vec![c, m, i, u], extra)),
        1 => json_value(),
    ]
}

fn relay_payload(kind: RelayKind) -> impl Strategy<Value = Value> {
    let body = match kind {
        RelayKind::Ice => candidate().boxed(),
        _ => description().boxed(),
    };
    prop_oneof![
        8 => (
            maybe("targetPeerId", prop_oneof![4 => text().prop_map(Value::String), 1 => json_value()]),
            maybe(kind.field(), body),
            prop::collection::vec((key(), json_value()), 0..2),
        )
            .prop_map(|(t, b, extra)| object_of(vec![t, b], extra)),
        1 => json_value(),
    ]
}

/// WIRE-DETAILS.md "Payload rules", relays, as a predicate.
fn relay_allowed(kind: RelayKind, payload: &Value) -> bool {
    let str_max = |v: &Value, max: usize| v.as_str().is_some_and(|s| s.len() <= max);
    let optional =
        |v: Option<&Value>, ok: &dyn Fn(&Value) -> bool| v.is_none_or(|v| v.is_null() || ok(v));
    let Some(o) = payload.as_object() else {
        return false;
    };
    let target_ok = o
        .get("targetPeerId")
        .and_then(Value::as_str)
        .is_some_and(|t| !t.is_empty() && t.len() <= MAX_TARGET_BYTES);
    // The value is forwarded whole, so its JSON text is bounded too (a
    // `serde_json::Value` is always strict JSON, and nested far less than 128).
    let whole_ok = |v: &Value, max: usize| v.to_string().len() <= max;
    let body_ok = match (kind, o.get(kind.field())) {
        (_, None) => false,
        (RelayKind::Ice, Some(c)) if !whole_ok(c, MAX_CANDIDATE_JSON) => false,
        (_, Some(d)) if !whole_ok(d, MAX_DESCRIPTION_JSON) => false,
        (RelayKind::Ice, Some(c)) => {
            str_max(c, MAX_CANDIDATE_BYTES)
                || c.as_object().is_some_and(|c| {
                    c.get("candidate")
                        .is_some_and(|l| str_max(l, MAX_CANDIDATE_BYTES))
                        && optional(c.get("sdpMid"), &|v| v.is_string())
                        && optional(c.get("sdpMLineIndex"), &|v| {
                            v.as_u64().is_some_and(|n| n <= u64::from(u16::MAX))
                        })
                        && optional(c.get("usernameFragment"), &|v| v.is_string())
                })
        }
        (_, Some(d)) => d.as_object().is_some_and(|d| {
            d.get("type").is_some_and(Value::is_string)
                && d.get("sdp").is_some_and(|s| str_max(s, MAX_SDP_BYTES))
        }),
    };
    target_ok && body_ok
}

proptest! {
    #![proptest_config(config(384))]

    /// A relay is accepted exactly when the payload rules allow it, and then
    /// carries the target and the value exactly as sent.
    #[test]
    fn a_relay_is_accepted_exactly_by_the_rules(
        kind in prop::sample::select(RelayKind::ALL.to_vec()),
        payload in prop::sample::select(RelayKind::ALL.to_vec()).prop_flat_map(relay_payload),
    ) {
        let p = packet(&json!([kind.event(), payload]).to_string());
        let parsed = relay::parse(kind, &p);
        prop_assert_eq!(parsed.is_ok(), relay_allowed(kind, &payload), "{}", payload);
        if let Ok(r) = parsed {
            prop_assert_eq!(Some(r.target.as_ref()), payload["targetPeerId"].as_str());
            let body: Value = serde_json::from_str(r.body.get()).expect("the body is JSON");
            // Against a re-read of the sent text, floats being read alike (see above).
            let sent: Value = serde_json::from_str(&payload[kind.field()].to_string()).expect("json");
            prop_assert_eq!(body, sent);
        }
    }
}

// ---------------------------------------------------------------- credential

fn header_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        // Visible ASCII, spaces and tabs (what HeaderValue accepts), or bytes ≥ 0x80.
        prop::collection::vec(
            prop_oneof![9 => 0x20u8..0x7f, 1 => Just(b'\t'), 1 => 0x80u8..=0xff],
            0..80
        ),
        prop::sample::select(vec![
            "Bearer a.b.c",
            "bearer  x.y.z ",
            "Bearer",
            "Bearer ",
            "Basic Zm9v",
            "Bearer key-1",
            "access_token=a.b.c",
            "a=1; access_token=\"a.b%2Ec\"",
            "access_token=",
            "access_token=%ZZ",
            "access_token",
            ";;;",
            "=",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
    ]
}

fn headers() -> impl Strategy<Value = HeaderMap> {
    let name = prop::sample::select(vec![
        "authorization",
        "cookie",
        "x-api-key",
        "api-key",
        "x-other",
    ]);
    prop::collection::vec((name, header_value()), 0..5).prop_map(|pairs| {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            if let Ok(v) = HeaderValue::from_bytes(&v) {
                h.append(HeaderName::from_static(k), v);
            }
        }
        h
    })
}

fn query() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop_oneof![
        "[ -~]{0,60}",
        prop::collection::vec(
            (
                prop::sample::select(vec!["token", "EIO", "transport", "tok%65n", "token "]),
                "[ -~]{0,20}"
            ),
            0..4
        )
        .prop_map(|pairs| pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")),
    ])
}

fn auth() -> impl Strategy<Value = Option<Value>> {
    prop::option::of(prop_oneof![
        (
            maybe(
                "token",
                prop_oneof![3 => text().prop_map(Value::String), 1 => json_value()]
            ),
            maybe(
                "apiKey",
                prop_oneof![3 => text().prop_map(Value::String), 1 => json_value()]
            )
        )
            .prop_map(|(t, k)| object_of(vec![t, k], vec![])),
        json_value(),
    ])
}

proptest! {
    #![proptest_config(config(1000))]

    /// Any handshake: no panic; what is found is a JWT only when it has three
    /// parts, and it comes from the first carrier present.
    #[test]
    fn any_handshake_yields_at_most_one_wellformed_credential(
        auth in auth(),
        headers in headers(),
        query in query(),
    ) {
        let found = credential::find(auth.as_ref(), &headers, query.as_deref());
        if let Ok(Some(Credential::Jwt(t))) = &found {
            prop_assert_eq!(t.split('.').count(), 3);
            prop_assert_eq!(t.trim(), t.as_str());
        }
        // `auth.token`, a string that is not blank, decides before everything
        // else (a blank one is no carrier at all).
        if let Some(Value::String(t)) = auth.as_ref().and_then(|a| a.get("token"))
            && !t.trim().is_empty()
        {
            prop_assert_eq!(found.ok().flatten(), Some(Credential::from_bearer(t)));
        }
    }

    /// A cookie header of well-formed pairs: `access_token` is the first such
    /// pair's value, percent-decoded.
    #[test]
    fn the_access_token_cookie_is_found_among_others(
        before in prop::collection::vec(("[a-z]{1,8}", "[A-Za-z0-9._-]{0,12}"), 0..3),
        value in "[A-Za-z0-9._-]{1,40}",
        after in prop::collection::vec(("[a-z_]{1,12}", "[A-Za-z0-9._-]{0,12}"), 0..3),
    ) {
        let pairs: Vec<String> = before.iter().filter(|(k, _)| k != "access_token")
            .map(|(k, v)| format!("{k}={v}"))
            .chain([format!("access_token={value}")])
            .chain(after.iter().map(|(k, v)| format!("{k}={v}")))
            .collect();
        let mut h = HeaderMap::new();
        h.insert(http::header::COOKIE, HeaderValue::from_str(&pairs.join("; ")).expect("header"));
        prop_assert_eq!(credential::cookie(&h, "access_token"), Some(value.clone()));
        prop_assert_eq!(
            credential::find(None, &h, None).expect("found"),
            Some(Credential::from_bearer(&value))
        );
    }

    /// A `token` query parameter survives form encoding both ways.
    #[test]
    fn the_token_query_parameter_round_trips(value in "\\PC{1,40}", other in "\\PC{0,10}") {
        prop_assume!(!value.trim().is_empty());
        let q = form_urlencoded::Serializer::new(String::new())
            .append_pair("EIO", "4")
            .append_pair("x", &other)
            .append_pair("token", &value)
            .finish();
        prop_assert_eq!(
            credential::find(None, &HeaderMap::new(), Some(&q)).expect("found"),
            Some(Credential::from_bearer(&value))
        );
    }
}

// ----------------------------------------------------------------- room code

proptest! {
    #![proptest_config(config(1000))]

    /// 1–64 characters of `[A-Za-z0-9_-]`, nothing else; the id is `room_` +
    /// the lower-cased code.
    #[test]
    fn a_room_code_is_accepted_exactly_by_the_rule(code in prop_oneof!["[A-Za-z0-9_-]{0,70}", any::<String>()]) {
        let rule = (1..=64).contains(&code.len())
            && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        let parsed = RoomCode::parse(&code);
        prop_assert_eq!(parsed.is_some(), rule, "{:?}", code);
        if let Some(c) = parsed {
            prop_assert_eq!(c.as_str(), code.as_str());
            prop_assert_eq!(c.room_id(), format!("room_{}", code.to_ascii_lowercase()));
        }
    }
}

#[test]
fn generated_room_codes_follow_the_rule() {
    for _ in 0..1000 {
        let c = RoomCode::generate();
        assert!(RoomCode::parse(c.as_str()).is_some(), "{}", c.as_str());
    }
}

// ------------------------------------------------------------------ REST body

fn read_body(bytes: Vec<u8>) -> Result<CreateRoomRequest, String> {
    read_body_as(bytes, Some("application/json"))
}

fn read_body_as(bytes: Vec<u8>, content_type: Option<&str>) -> Result<CreateRoomRequest, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let mut req = http::Request::builder().method("POST").uri("/rooms");
    if let Some(t) = content_type {
        req = req.header(http::header::CONTENT_TYPE, t);
    }
    let req = req.body(axum::body::Body::from(bytes)).expect("request");
    rt.block_on(Body::<CreateRoomRequest>::from_request(req, &()))
        .map(|Body(b)| b)
        .map_err(|e| e.to_string())
}

/// A spelling of `field` the REST body matcher takes for it (case, `_`, `-`).
fn spelling(field: &'static str) -> impl Strategy<Value = String> {
    prop::collection::vec(
        (
            any::<bool>(),
            prop::sample::select(vec!["", "", "", "_", "-"]),
        ),
        field.len(),
    )
    .prop_map(move |choices| {
        field
            .chars()
            .zip(choices)
            .map(|(c, (upper, sep))| {
                let c = if upper {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                };
                format!("{sep}{c}")
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(config(384))]

    /// Any bytes, with any content type: an error or a request, never a panic.
    #[test]
    fn any_rest_body_is_read_without_panic(
        bytes in prop_oneof![any::<Vec<u8>>(), json_text().prop_map(String::into_bytes)],
        content_type in prop::option::of(prop::sample::select(vec![
            "application/json", "application/json; charset=utf-8", "application/merge-patch+json",
            "text/plain", "", "application/x-www-form-urlencoded",
        ])),
    ) {
        let _ = read_body_as(bytes, content_type);
    }

    /// Keys match without case, `_` or `-`; the same field twice is refused.
    #[test]
    fn rest_keys_are_normalised(
        code_key in spelling("roomCode"),
        peers_key in spelling("maxPeers"),
        code in "[A-Za-z0-9]{1,20}",
        peers in 1u32..100,
        twice in any::<bool>(),
    ) {
        // Another spelling of the same field (the key itself would only overwrite).
        let again = if code_key.to_uppercase() == code_key { code_key.to_lowercase() } else { code_key.to_uppercase() };
        let mut o = Map::new();
        o.insert(code_key, json!(code));
        o.insert(peers_key, json!(peers));
        if twice {
            o.insert(again, json!("other"));
        }
        let read = read_body(Value::Object(o).to_string().into_bytes());
        if twice {
            prop_assert!(read.is_err(), "{:?}", read);
        } else {
            prop_assert_eq!(
                read,
                Ok(CreateRoomRequest { room_code: Some(code), max_peers: Some(f64::from(peers)) })
            );
        }
    }
}
