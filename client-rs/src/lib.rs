//! Native Rust client of the signaling gateway (`docs/PROTOCOL.md` §7).
//!
//! - [`signaling`]: the Socket.IO connection — authenticate with a JWT or an
//!   API key, create/join/leave rooms, and every gateway event as a typed
//!   [`SignalingEvent`](signaling::SignalingEvent).
//! - [`peer_manager`]: an actor owning one `RTCPeerConnection` and one data
//!   channel per peer: offers, answers, trickle ICE, glare, cleanup.
//! - [`client`]: the facade most programs want ([`Client`]).
//! - [`auth`]: the REST account helpers (register, regenerate, new password,
//!   token, me).
//! - [`transfer`]: `wsc-app/1`, chat lines and file transfer over the data
//!   channel (`docs/DATA-CHANNELS.md`), as the CLI and the demo page speak it.
//! - [`app`]: `wsc-app/1` sessions on the facade — chat, send and receive
//!   files in a room — as the `webrtc-client` CLI runs them.
//!
//! Two peers exchanging bytes:
//!
//! ```no_run
//! use webrtc_signaling_client::{Client, Credential};
//!
//! # async fn demo(jwt: String, api_key: String) -> Result<(), Box<dyn std::error::Error>> {
//! let url = "http://127.0.0.1:3000";
//! let alice = Client::connect(url, Credential::Token(jwt)).await?;
//! let bob = Client::connect(url, Credential::ApiKey(api_key)).await?;
//!
//! let room = alice.create_room(None).await?;
//! alice.join_room(&room.room_code).await?;
//! let mut bob_opened = bob.data_channel_opened().await?;
//! let mut bob_inbox = bob.peer_messages().await?;
//! bob.join_room(&room.room_code).await?; // alice offers, bob answers
//!
//! let alice_id = bob_opened.recv().await.ok_or("closed")?;
//! let mut alice_opened = alice.data_channel_opened().await?;
//! let bob_id = alice_opened.recv().await.ok_or("closed")?;
//!
//! alice.send_to_peer(&bob_id, b"hello bob".to_vec()).await?;
//! let msg = bob_inbox.recv().await.ok_or("closed")?;
//! assert_eq!((msg.from.as_str(), &msg.data[..]), (alice_id.as_str(), &b"hello bob"[..]));
//!
//! alice.close().await?;
//! bob.close().await?;
//! # Ok(())
//! # }
//! ```

pub mod app;
pub mod auth;
pub mod client;
pub mod peer_manager;
pub mod signaling;
pub mod transfer;
mod wire;

pub use auth::{AuthClient, AuthError};
pub use client::{Client, ClientConfig, ClientError, Subscription};
pub use peer_manager::{
    MdnsMode, MessageKind, PeerConfig, PeerError, PeerEvent, PeerManager, PeerMessage,
};
pub use signaling::{Credential, PeerId, SignalingClient, SignalingError, SignalingEvent};
