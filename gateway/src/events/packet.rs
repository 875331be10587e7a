//! An event's arguments as they arrived: the packet's JSON text
//! (`["event", payload, …]`), parsed by the handler that knows what to expect,
//! so a relay never builds a JSON tree it only forwards.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{DeserializeOwned, IgnoredAny, SeqAccess, Visitor};
use serde_json::Value;

pub struct Packet(socketioxide_core::Value);

impl Packet {
    pub fn new(raw: socketioxide_core::Value) -> Self {
        Self(raw)
    }

    /// The event name, read without scanning the arguments after it (the
    /// `Event` extractor parses the whole packet again, per message).
    pub fn event(&self) -> Option<String> {
        let socketioxide_core::Value::Str(text, _) = &self.0 else {
            return None;
        };
        let rest = text.as_str().trim_start().strip_prefix('[')?;
        serde_json::Deserializer::from_str(rest)
            .into_iter::<String>()
            .next()?
            .ok()
    }

    /// The first argument after the event name: `Ok(None)` when there is none;
    /// an error when it is not a `T` (or the packet carries binary attachments).
    pub fn first_arg<T: DeserializeOwned>(&self) -> Result<Option<T>, serde_json::Error> {
        let text = match &self.0 {
            socketioxide_core::Value::Str(text, None) => text.as_str(),
            _ => {
                return Err(serde::de::Error::custom(
                    "binary attachments are not accepted",
                ));
            }
        };
        let mut de = serde_json::Deserializer::from_str(text);
        let first = serde::Deserializer::deserialize_seq(&mut de, FirstArg(PhantomData))?;
        de.end()?;
        Ok(first)
    }

    /// The first argument as a JSON value; `null` when absent or unreadable.
    pub fn payload(&self) -> Value {
        self.first_arg::<Value>()
            .ok()
            .flatten()
            .unwrap_or(Value::Null)
    }

    #[cfg(test)]
    pub fn from_json(args: Value) -> Self {
        Self(socketioxide_core::Value::Str(args.to_string().into(), None))
    }
}

/// Reads `[event, first, …rest]`, keeping only `first`.
struct FirstArg<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for FirstArg<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an event array")
    }

    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Option<T>, S::Error> {
        seq.next_element::<IgnoredAny>()?;
        let first = seq.next_element::<T>()?;
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(first)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_event_name_is_read_alone() {
        let event = |text: &str| {
            Packet::new(socketioxide_core::Value::Str(text.to_owned().into(), None)).event()
        };
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
    fn the_first_argument_is_read_and_the_rest_skipped() {
        assert_eq!(
            Packet::from_json(json!(["e", { "a": 1 }, 2])).payload(),
            json!({ "a": 1 })
        );
        assert_eq!(Packet::from_json(json!(["e"])).payload(), Value::Null);
        assert_eq!(
            Packet::from_json(json!(["e", "text"]))
                .first_arg::<u8>()
                .ok(),
            None
        );
    }
}
