//! An event's arguments as they arrived: the packet's JSON text
//! (`["event", payload]`), parsed by the handler that knows what to expect,
//! so a relay never builds a JSON tree it only forwards.
//!
//! Every payload is read with [`Packet::object`], the one typed extractor of
//! the events: the payload must be a JSON object before any of its fields are
//! read. (serde's derived structs also accept an array, fields by position,
//! which the contract does not: `[sid, {type, sdp}]` is not an offer.)

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeOwned, DeserializeSeed, IgnoredAny, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

pub struct Packet(socketioxide_core::Value);

/// Why a payload could not be read, in words naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PayloadError(String);

impl Packet {
    pub fn new(raw: socketioxide_core::Value) -> Self {
        Self(raw)
    }

    /// The event name, read without scanning the arguments after it (the
    /// `Event` extractor parses the whole packet again, per message), and
    /// borrowed from the packet unless it has escapes.
    pub fn event(&self) -> Option<Cow<'_, str>> {
        let socketioxide_core::Value::Str(text, _) = &self.0 else {
            return None;
        };
        // JSON's whitespace only: this read stands in for socketioxide's.
        let rest = text
            .as_str()
            .trim_start_matches([' ', '\t', '\n', '\r'])
            .strip_prefix('[')?;
        let mut de = serde_json::Deserializer::from_str(rest);
        Name::deserialize(&mut de).ok().map(|name| name.0)
    }

    /// The packet as socketioxide received it.
    pub fn value(&self) -> &socketioxide_core::Value {
        &self.0
    }

    /// The payload (the argument after the event name), which must be a JSON
    /// object, as a `T`. `Ok(None)` when there is none or it is `null`.
    /// Unreadable JSON, a payload that is not an object, a field of the wrong
    /// type, further arguments after the payload and binary attachments are
    /// errors.
    pub fn object<T: DeserializeOwned>(&self) -> Result<Option<T>, PayloadError> {
        let text = self.text()?;
        match read_first::<T>(text) {
            Ok(value) => Ok(value),
            // The error path only: parse again to name the field that failed.
            Err(e) => Err(PayloadError(
                describe::<T>(text).unwrap_or_else(|| e.to_string()),
            )),
        }
    }

    /// The same read into a `T` that borrows from the packet (a relay's
    /// target and value), for the hot path: the error names no field.
    pub fn borrowed<'p, T: Deserialize<'p>>(&'p self) -> Result<Option<T>, PayloadError> {
        read_first::<T>(self.text()?)
            .map_err(|e| PayloadError(without_position(&e.to_string()).to_owned()))
    }

    fn text(&self) -> Result<&str, PayloadError> {
        match &self.0 {
            socketioxide_core::Value::Str(text, None) => Ok(text.as_str()),
            _ => Err(PayloadError(
                "binary attachments are not accepted".to_owned(),
            )),
        }
    }

    #[cfg(test)]
    pub fn from_json(args: serde_json::Value) -> Self {
        Self(socketioxide_core::Value::Str(args.to_string().into(), None))
    }
}

fn read_first<'t, T: Deserialize<'t>>(text: &'t str) -> Result<Option<T>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let first = de.deserialize_seq(FirstArg(PhantomData::<T>, None))?;
    de.end()?;
    Ok(first)
}

/// The same read with the path of the failing field tracked, for the message:
/// `roomCode: invalid type: integer `5`, expected a string`.
fn describe<T: DeserializeOwned>(text: &str) -> Option<String> {
    let mut track = serde_path_to_error::Track::new();
    let mut de = serde_json::Deserializer::from_str(text);
    let err = match de.deserialize_seq(FirstArg(PhantomData::<T>, Some(&mut track))) {
        Ok(_) => de.end().err()?,
        Err(e) => e,
    };
    let message = without_position(&err.to_string()).to_owned();
    let path = track.path().to_string();
    Some(if path == "." || path.is_empty() {
        message
    } else {
        format!("{path}: {message}")
    })
}

/// serde_json appends ` at line L column C`; the client sent one line of JSON
/// inside a packet, so the position says nothing useful.
fn without_position(message: &str) -> &str {
    match message.rsplit_once(" at line ") {
        Some((head, tail))
            if tail.split_once(" column ").is_some_and(|(l, c)| {
                [l, c].iter().all(|n| n.bytes().all(|b| b.is_ascii_digit()))
            }) =>
        {
            head
        }
        _ => message,
    }
}

/// A JSON string, borrowed when it has no escapes.
struct Name<'t>(Cow<'t, str>);

impl<'de> Deserialize<'de> for Name<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(NameVisitor)
    }
}

struct NameVisitor;

impl<'de> Visitor<'de> for NameVisitor {
    type Value = Name<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Name<'de>, E> {
        Ok(Name(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Name<'de>, E> {
        Ok(Name(Cow::Owned(v.to_owned())))
    }
}

/// Any JSON value, kept when it is a string (borrowed unless it has escapes):
/// for a field whose wrong type the handler words itself, read in the pass
/// that reads the payload.
pub struct MaybeStr<'t>(pub Option<Cow<'t, str>>);

impl<'de: 't, 't> Deserialize<'de> for MaybeStr<'t> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(MaybeStrVisitor(PhantomData))
    }
}

struct MaybeStrVisitor<'t>(PhantomData<&'t ()>);

impl<'de: 't, 't> Visitor<'de> for MaybeStrVisitor<'t> {
    type Value = MaybeStr<'t>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<MaybeStr<'t>, E> {
        Ok(MaybeStr(Some(Cow::Borrowed(v))))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<MaybeStr<'t>, E> {
        Ok(MaybeStr(Some(Cow::Owned(v.to_owned()))))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<MaybeStr<'t>, E> {
        Ok(MaybeStr(None))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<MaybeStr<'t>, E> {
        Ok(MaybeStr(None))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<MaybeStr<'t>, E> {
        Ok(MaybeStr(None))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<MaybeStr<'t>, E> {
        Ok(MaybeStr(None))
    }
    fn visit_unit<E: de::Error>(self) -> Result<MaybeStr<'t>, E> {
        Ok(MaybeStr(None))
    }
    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<MaybeStr<'t>, S::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(MaybeStr(None))
    }
    fn visit_map<M: de::MapAccess<'de>>(self, mut map: M) -> Result<MaybeStr<'t>, M::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(MaybeStr(None))
    }
}

/// A JSON string's text (`"…"`, as a raw value holds it), decoded; borrowed
/// when it has no escapes. `None` when it is not a string.
pub fn json_str(raw: &str) -> Option<Cow<'_, str>> {
    serde_json::from_str::<Name>(raw).ok().map(|name| name.0)
}

/// Reads `[event, payload]`: one argument at most after the event name.
struct FirstArg<'t, T>(PhantomData<T>, Option<&'t mut serde_path_to_error::Track>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for FirstArg<'_, T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an event array")
    }

    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Option<T>, S::Error> {
        seq.next_element::<IgnoredAny>()?;
        let first = seq
            .next_element_seed(ObjectSeed(PhantomData::<T>, self.1))?
            .flatten();
        // NestJS hands a handler the array of all arguments when there is more
        // than one, and an array is never the object a payload must be.
        if seq.next_element::<IgnoredAny>()?.is_some() {
            return Err(de::Error::custom(
                "the payload must be a single object, without further arguments",
            ));
        }
        Ok(first)
    }
}

/// `null` → `None`; otherwise a `T` read from an object only.
struct ObjectSeed<'t, T>(PhantomData<T>, Option<&'t mut serde_path_to_error::Track>);

impl<'de, T: Deserialize<'de>> DeserializeSeed<'de> for ObjectSeed<'_, T> {
    type Value = Option<T>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectSeed<'_, T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_none<E: de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
        match self.1 {
            Some(track) => {
                T::deserialize(serde_path_to_error::Deserializer::new(ObjectOnly(d), track))
                    .map(Some)
            }
            None => T::deserialize(ObjectOnly(d)).map(Some),
        }
    }
}

/// A deserializer that reads whatever is asked of it as a map, so a struct
/// cannot be read from an array.
struct ObjectOnly<D>(D);

impl<'de, D: Deserializer<'de>> Deserializer<'de> for ObjectOnly<D> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_map(visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Sample {
        room_code: String,
        #[serde(default)]
        max_peers: Option<u32>,
    }

    fn raw(text: &str) -> Packet {
        Packet::new(socketioxide_core::Value::Str(text.to_owned().into(), None))
    }

    #[test]
    fn the_event_name_is_read_alone() {
        let event = |text: &str| raw(text).event().map(Cow::into_owned);
        assert_eq!(
            event(r#"["webrtc:ice",{"a":[1,2]}]"#).as_deref(),
            Some("webrtc:ice")
        );
        assert_eq!(event(r#"["leave:room"]"#).as_deref(), Some("leave:room"));
        assert_eq!(event(r#" [ "ping" , 1]"#).as_deref(), Some("ping"));
        assert_eq!(event(r#"["a\"b\u0041",{}]"#).as_deref(), Some("a\"bA"));
        assert_eq!(event(r#"[1,"x"]"#), None);
        assert_eq!(event(r#"{"e":1}"#), None);
        assert_eq!(event(""), None);
    }

    #[test]
    fn an_object_payload_is_read() {
        let p = Packet::from_json(json!(["e", { "roomCode": "A", "x": 1 }]));
        assert_eq!(
            p.object::<Sample>(),
            Ok(Some(Sample {
                room_code: "A".into(),
                max_peers: None
            }))
        );
        assert_eq!(
            Packet::from_json(json!(["e", { "a": 1 }])).object::<Value>(),
            Ok(Some(json!({ "a": 1 })))
        );
    }

    /// Found by the differential fuzzer: `emit("join:room", { roomCode }, true)`
    /// reaches a NestJS handler as `[{ roomCode }, true]`, an array.
    #[test]
    fn further_arguments_make_the_payload_unreadable() {
        for args in [
            json!(["e", { "roomCode": "A" }, 2]),
            json!(["e", { "roomCode": "A" }, { "roomCode": "B" }]),
            json!(["e", null, null]),
        ] {
            let err = Packet::from_json(args.clone())
                .object::<Sample>()
                .unwrap_err();
            assert_eq!(
                err.to_string(),
                "the payload must be a single object, without further arguments",
                "{args}"
            );
        }
    }

    #[test]
    fn no_payload_and_null_are_none() {
        assert_eq!(Packet::from_json(json!(["e"])).object::<Sample>(), Ok(None));
        assert_eq!(
            Packet::from_json(json!(["e", null])).object::<Sample>(),
            Ok(None)
        );
    }

    #[test]
    fn an_array_is_never_a_struct() {
        // serde alone would read this as Sample { room_code: "A", max_peers: Some(2) }.
        let err = Packet::from_json(json!(["e", ["A", 2]]))
            .object::<Sample>()
            .unwrap_err();
        assert!(err.to_string().contains("expected"), "{err}");
        for not_object in [json!("text"), json!(5), json!(true), json!([])] {
            assert!(
                Packet::from_json(json!(["e", not_object]))
                    .object::<Value>()
                    .is_err(),
                "{not_object}"
            );
        }
    }

    #[test]
    fn errors_name_the_field_without_a_position() {
        let err = Packet::from_json(json!(["e", { "roomCode": 5 }]))
            .object::<Sample>()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "roomCode: invalid type: integer `5`, expected a string"
        );
        let err = Packet::from_json(json!(["e", {}]))
            .object::<Sample>()
            .unwrap_err();
        assert_eq!(err.to_string(), "missing field `roomCode`");
    }

    #[test]
    fn unreadable_payloads_are_errors_not_absent() {
        let deep = |depth| {
            format!(
                r#"["e",{{"roomCode":"A","x":{}1{}}}]"#,
                r#"{"a":"#.repeat(depth),
                "}".repeat(depth)
            )
        };
        for text in [
            r#"["e",{"roomCode":"\ud800"}]"#,
            r#"["e",{"roomCode":"A"}"#,
            r#"["e",{"roomCode":"A"}] x"#,
        ] {
            assert!(raw(text).object::<Sample>().is_err(), "{text}");
        }
        // Deep nesting is refused where a value is read into a tree ...
        assert!(raw(&deep(200)).object::<Value>().is_err());
        // ... and skipped, like any unknown field, where it is not (serde_json
        // skips without recursing, so the depth costs no stack).
        assert!(raw(&deep(200)).object::<Sample>().is_ok());
        let binary = Packet::new(socketioxide_core::Value::Str(
            r#"["e",{"_placeholder":true,"num":0}]"#.to_owned().into(),
            Some([bytes::Bytes::from_static(b"x")].into()),
        ));
        assert_eq!(
            binary.object::<Value>().unwrap_err().to_string(),
            "binary attachments are not accepted"
        );
    }
}
