//! `wsc-app/1` on the client facade: a room's chat and file transfers, as the CLI runs them.
//!
//! Each operation joins a room on a [`Client`](crate::Client), speaks the
//! protocol of [`transfer`](crate::transfer) with its peers and tells what
//! happens as [`Notice`]s, each with its `--json` line and its human line;
//! the caller only shows them.
//!
//! - [`notice`]: what happens, and how it is shown;
//! - [`session`]: one room session — joining, who is who, the receiving side;
//! - [`chat`]: each input line to every peer, their lines back;
//! - [`send`]: one file to the first peers whose channel opens;
//! - [`receive`]: files into one file or a folder.

pub mod chat;
pub mod notice;
pub mod receive;
pub mod send;
pub mod session;

pub use chat::chat;
pub use notice::{Human, Notice};
pub use receive::receive_files;
pub use send::send_file;
pub use session::Room;

use crate::client::ClientError;

/// Where notices go: the caller shows them as they come.
pub type Notify<'a> = &'a mut (dyn FnMut(Notice) + Send);

/// Failures of a room session.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A transfer did not complete (its message is the CLI's error line).
    #[error("{0}")]
    Transfer(String),
}
