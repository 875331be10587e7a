//! Failures of the signaling layer.

#[derive(Debug, thiserror::Error)]
pub enum SignalingError {
    /// The gateway refused the handshake (a CONNECT_ERROR packet); `message`
    /// is its message, `"Unauthorized"` for a bad credential.
    #[error("connection refused: {message}")]
    ConnectRefused { message: String },
    /// The gateway could not be reached or the transport failed.
    #[error("transport: {0}")]
    Transport(String),
    /// The gateway answered an event with `{ error: { code, message } }`.
    #[error("{code}: {message}")]
    Server { code: String, message: String },
    /// No answer in time.
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
    /// An answer that does not follow the contract.
    #[error("unexpected reply to {event}: {payload}")]
    UnexpectedReply {
        event: &'static str,
        payload: String,
    },
    /// The connection is closed.
    #[error("connection closed")]
    Closed,
}
