//! Who is behind a socket or a REST call.

use serde::{Deserialize, Serialize};

/// `userInfo` on the wire: `{ userId, username }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    pub user_id: String,
    pub username: String,
}
