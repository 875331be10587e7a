//! The text messages of `wsc-app/1` (`docs/DATA-CHANNELS.md` §4), typed.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Files larger than this cannot be announced: 2^53 − 1, exact in JavaScript.
pub const MAX_SAFE_SIZE: u64 = (1 << 53) - 1;

/// One text message of the application protocol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum AppMessage {
    /// One chat line.
    Chat { text: String },
    /// A file follows as binary messages.
    File(FileOffer),
    /// The receiver's verdict on a file.
    FileAck(FileAck),
    /// The sender gave up on a file.
    FileAbort {
        id: String,
        #[serde(default)]
        reason: String,
    },
}

impl AppMessage {
    /// The JSON text to send.
    pub fn to_text(&self) -> String {
        // Serializing these plain structs cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// `{ type: "file", id, name, size, sha256 }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileOffer {
    pub id: String,
    pub name: String,
    pub size: u64,
    pub sha256: String,
}

impl FileOffer {
    /// Checks every field's rule; the error is the `BAD_OFFER` message.
    pub fn validate(&self) -> Result<(), String> {
        if !valid_id(&self.id) {
            return Err("id must be 1-64 characters of [A-Za-z0-9_-]".into());
        }
        if self.name.is_empty() || self.name.len() > 255 {
            return Err("name must be 1-255 bytes".into());
        }
        if self.size > MAX_SAFE_SIZE {
            return Err(format!("size must be at most {MAX_SAFE_SIZE}"));
        }
        if self.sha256.len() != 64 || !self.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err("sha256 must be 64 hex characters".into());
        }
        Ok(())
    }
}

fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `{ type: "file-ack", id, ok, size, sha256?, error? }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileAck {
    pub id: String,
    pub ok: bool,
    /// Bytes the receiver got.
    #[serde(default)]
    pub size: u64,
    /// The receiver's SHA-256, when it got every byte.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Present exactly when `ok` is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<AckError>,
}

impl FileAck {
    pub fn failed(id: &str, size: u64, code: AckCode, message: impl Into<String>) -> Self {
        Self {
            id: id.to_owned(),
            ok: false,
            size,
            sha256: None,
            error: Some(AckError {
                code,
                message: message.into(),
            }),
        }
    }
}

/// `{ code, message }` of a negative ack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AckError {
    pub code: AckCode,
    #[serde(default)]
    pub message: String,
}

/// Why a file failed (`docs/DATA-CHANNELS.md` §4, error codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AckCode {
    ChecksumMismatch,
    SizeMismatch,
    TooLarge,
    Refused,
    BadOffer,
    Aborted,
    WriteFailed,
    /// A code this client does not know.
    #[serde(other)]
    Unknown,
}

/// What one received text message is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Message(AppMessage),
    /// A `file` whose fields break their rules: answer `BAD_OFFER`.
    BadOffer {
        id: String,
        message: String,
    },
    /// Not a message of the protocol (ignored, never answered).
    Ignored(String),
}

/// Parses one text message.
pub fn parse(text: &str) -> Parsed {
    let value: Value = match serde_json::from_str(text) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => return Parsed::Ignored("not a JSON object".into()),
        Err(e) => return Parsed::Ignored(format!("not JSON: {e}")),
    };
    let kind = value.get("type").and_then(Value::as_str).map(str::to_owned);
    let id = value
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    match serde_json::from_value::<AppMessage>(value) {
        Ok(AppMessage::File(offer)) => match offer.validate() {
            Ok(()) => Parsed::Message(AppMessage::File(offer)),
            Err(message) => Parsed::BadOffer { id, message },
        },
        Ok(message) => Parsed::Message(message),
        Err(e) => match kind.as_deref() {
            Some("file") => Parsed::BadOffer {
                id,
                message: e.to_string(),
            },
            Some(k @ ("chat" | "file-ack" | "file-abort")) => {
                Parsed::Ignored(format!("bad {k} message: {e}"))
            }
            Some(k) => Parsed::Ignored(format!("unknown type {k:?}")),
            None => Parsed::Ignored("no type".into()),
        },
    }
}

/// A file name a receiver may store under: the part after the last `/` or
/// `\`, or `file` when that is empty, `.` or `..`.
pub fn safe_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    match base {
        "" | "." | ".." => "file".into(),
        b => b.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELLO_SHA: &str = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03";

    /// The JSON of `docs/DATA-CHANNELS.md` §5, to the byte.
    #[test]
    fn messages_are_the_documented_json() {
        let chat = AppMessage::Chat { text: "hi".into() };
        assert_eq!(chat.to_text(), r#"{"type":"chat","text":"hi"}"#);
        assert_eq!(chat.to_text().len(), 27);
        let offer = AppMessage::File(FileOffer {
            id: "t1".into(),
            name: "notes.txt".into(),
            size: 6,
            sha256: HELLO_SHA.into(),
        });
        assert_eq!(
            offer.to_text(),
            format!(
                r#"{{"type":"file","id":"t1","name":"notes.txt","size":6,"sha256":"{HELLO_SHA}"}}"#
            )
        );
        let ok = AppMessage::FileAck(FileAck {
            id: "t1".into(),
            ok: true,
            size: 6,
            sha256: Some(HELLO_SHA.into()),
            error: None,
        });
        assert_eq!(
            ok.to_text(),
            format!(r#"{{"type":"file-ack","id":"t1","ok":true,"size":6,"sha256":"{HELLO_SHA}"}}"#)
        );
        let bad = AppMessage::FileAck(FileAck::failed(
            "t2",
            40_000,
            AckCode::SizeMismatch,
            "more than the announced 40000 bytes",
        ));
        assert_eq!(
            bad.to_text(),
            r#"{"type":"file-ack","id":"t2","ok":false,"size":40000,"error":{"code":"SIZE_MISMATCH","message":"more than the announced 40000 bytes"}}"#
        );
        for m in [chat, offer, ok, bad] {
            assert_eq!(parse(&m.to_text()), Parsed::Message(m));
        }
        assert_eq!(
            parse(r#"{"type":"file-abort","id":"x"}"#),
            Parsed::Message(AppMessage::FileAbort {
                id: "x".into(),
                reason: String::new()
            })
        );
    }

    #[test]
    fn bad_offers_and_foreign_text_are_told_apart() {
        let offer = |fields: &str| parse(&format!(r#"{{"type":"file",{fields}}}"#));
        let good = format!(r#""name":"a","size":1,"sha256":"{HELLO_SHA}""#);
        assert!(matches!(
            offer(&format!(r#""id":"ok-1",{good}"#)),
            Parsed::Message(AppMessage::File(_))
        ));
        for (fields, id) in [
            (format!(r#""id":"has space",{good}"#), "has space"),
            (
                format!(r#""id":"{}",{good}"#, "x".repeat(65)),
                &*"x".repeat(65),
            ),
            (
                format!(r#""id":"i","name":"","size":1,"sha256":"{HELLO_SHA}""#),
                "i",
            ),
            (
                format!(r#""id":"i","name":"a","size":-1,"sha256":"{HELLO_SHA}""#),
                "i",
            ),
            (
                format!(r#""id":"i","name":"a","size":9007199254740992,"sha256":"{HELLO_SHA}""#),
                "i",
            ),
            (r#""id":"i","name":"a","size":1,"sha256":"abc""#.into(), "i"),
            (format!(r#""id":7,{good}"#), ""),
        ] {
            match offer(&fields) {
                Parsed::BadOffer { id: got, .. } => assert_eq!(got, id, "{fields}"),
                other => panic!("{fields}: {other:?}"),
            }
        }
        for text in [
            "hello",
            "[1]",
            r#"{"text":"no type"}"#,
            r#"{"type":"shout"}"#,
            r#"{"type":"chat"}"#,
        ] {
            assert!(matches!(parse(text), Parsed::Ignored(_)), "{text}");
        }
        // Unknown fields and unknown ack codes are tolerated.
        assert!(matches!(
            parse(r#"{"type":"chat","text":"x","color":"red"}"#),
            Parsed::Message(AppMessage::Chat { .. })
        ));
        let Parsed::Message(AppMessage::FileAck(ack)) = parse(
            r#"{"type":"file-ack","id":"i","ok":false,"size":0,"error":{"code":"DISK_ON_FIRE","message":"m"}}"#,
        ) else {
            panic!("an ack")
        };
        assert_eq!(ack.error.map(|e| e.code), Some(AckCode::Unknown));
    }

    #[test]
    fn names_never_become_paths() {
        assert_eq!(safe_name("notes.txt"), "notes.txt");
        assert_eq!(safe_name("../../etc/passwd"), "passwd");
        assert_eq!(safe_name(r"C:\Users\x\report.pdf"), "report.pdf");
        assert_eq!(safe_name("dir/"), "file");
        assert_eq!(safe_name(".."), "file");
        assert_eq!(safe_name("a/."), "file");
    }
}
