//! The app's own users and rooms. An app that keeps its users and rooms in
//! its own database (a NestJS + Prisma app, say) answers two questions for the
//! gateway: who is the user of this token, and may this room be joined. The
//! operator says how to ask: a query on the app's PostgreSQL database
//! ([`sql`]) or a call to its API ([`http`]). Both sit behind [`UserSource`] /
//! [`RoomSource`]; [`AppUsers`] / [`AppRooms`] put a time limit and a short,
//! bounded cache in front of them.

pub mod cache;
pub mod directory;
pub mod http;
pub mod source;
pub mod sql;

pub use directory::{AppData, AppRooms, AppUsers};
pub use source::{AppRoom, AppUser, LookupError, RoomSource, Settings, SetupError, UserSource};
