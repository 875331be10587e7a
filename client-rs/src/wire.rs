//! Reading the gateway's error object, `{ code, message }`, which REST bodies
//! (`{ "error": … }`) and Socket.IO acks (`{ error: … }`) share.

use serde_json::Value;

/// `(code, message)` of an error object; `UNKNOWN` and an empty message when absent.
pub(crate) fn error_parts(err: &Value) -> (String, String) {
    let text = |key: &str| err.get(key).and_then(Value::as_str).map(str::to_owned);
    (
        text("code").unwrap_or_else(|| "UNKNOWN".to_owned()),
        text("message").unwrap_or_default(),
    )
}
