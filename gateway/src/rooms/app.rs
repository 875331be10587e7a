//! Rooms that the app owns (`ROOM_QUERY`, `ROOM_LOOKUP_URL`): a registry in
//! front of the registry. A `join:room` of a code the registry does not know
//! asks the app; when the app has the room, it is created in the registry
//! (with the app's limit, capped by `MAX_ROOM_SIZE`) and joined, and from
//! then on it lives there like any other room: same limit, same TTL
//! (PROTOCOL.md §5). Only [`RoomRegistry::create`] and [`RoomRegistry::join`]
//! of the registry behind are used, so this works on any registry, the
//! in-memory one or a cluster's.
//!
//! When the app's answer depends on the user (`$2` in `ROOM_QUERY`,
//! `{userId}` in `ROOM_LOOKUP_URL`), it decides who may enter: the app is
//! then asked on every join (answers cached briefly), rooms already in the
//! registry included — also rooms made with `create:room`, which the app does
//! not list, so with such a query every room is the app's.
//!
//! `create:room` and `POST /rooms` of a code the app has are `ROOM_EXISTS`:
//! nobody can take over an app room's code with a limit of their own.

use std::sync::Arc;

use async_trait::async_trait;

use super::code::RoomCode;
use super::registry::{
    Joined, Member, RoomError, RoomInfo, RoomRegistry, RoomSnapshot, Whereabouts,
};
use crate::app_data::{AppRoom, AppRooms, LookupError};

pub struct AppRoomRegistry {
    registry: Arc<dyn RoomRegistry>,
    app: AppRooms,
}

impl AppRoomRegistry {
    pub fn new(registry: Arc<dyn RoomRegistry>, app: AppRooms) -> Self {
        Self { registry, app }
    }

    async fn ask(&self, code: &RoomCode, user_id: &str) -> Result<Option<AppRoom>, RoomError> {
        self.app
            .find(code.as_str(), user_id)
            .await
            .map_err(|e| match e {
                LookupError::Unavailable(detail) | LookupError::BadAnswer(detail) => {
                    RoomError::AppUnavailable(detail)
                }
            })
    }

    /// Creates the app's room in the registry (its creator the joiner, as for
    /// an auto-created room), then joins it. App rooms are not counted against
    /// anyone's `MAX_ROOMS_PER_USER`: the app made them, and only codes the app
    /// has can be created this way.
    async fn create_and_join(
        &self,
        code: &RoomCode,
        room: AppRoom,
        member: Member,
    ) -> Result<Joined, RoomError> {
        // The code as the app spells it, when it is the same code.
        let created_code = room
            .code
            .as_deref()
            .and_then(RoomCode::parse)
            .filter(|c| c.room_id() == code.room_id())
            .unwrap_or_else(|| code.clone());
        // Below 1 or above u32 the registry's clamp to 1..=MAX_ROOM_SIZE decides.
        let max_peers = room
            .max_peers
            .map(|n| u32::try_from(n.max(1)).unwrap_or(u32::MAX));
        let creator = member.user_info.user_id.clone();
        match self
            .registry
            .create(created_code, max_peers, &creator)
            .await
        {
            // Exists: another join created it first; join that one.
            Ok(_) | Err(RoomError::Exists) => self.registry.join(code, member).await,
            Err(e) => Err(e),
        }
    }
}

#[async_trait]
impl RoomRegistry for AppRoomRegistry {
    async fn create(
        &self,
        code: RoomCode,
        max_peers: Option<u32>,
        created_by: &str,
    ) -> Result<RoomInfo, RoomError> {
        // No user here: with a per-user query `$2` is NULL (public rooms match).
        if self.ask(&code, "").await?.is_some() {
            return Err(RoomError::Exists);
        }
        self.registry.create(code, max_peers, created_by).await
    }

    async fn join(&self, code: &RoomCode, member: Member) -> Result<Joined, RoomError> {
        let per_user = self.app.per_user();
        // Existence only: the registry's rooms need no asking.
        if !per_user {
            match self.registry.join(code, member.clone()).await {
                Err(RoomError::NotFound) => {}
                known => return known,
            }
        }
        let Some(room) = self.ask(code, &member.user_info.user_id).await? else {
            return Err(RoomError::NotFound);
        };
        if per_user {
            match self.registry.join(code, member.clone()).await {
                Err(RoomError::NotFound) => {}
                known => return known,
            }
        }
        self.create_and_join(code, room, member).await
    }

    async fn leave(&self, room_id: &str, peer_id: &str) -> Result<bool, RoomError> {
        self.registry.leave(room_id, peer_id).await
    }

    async fn is_member(&self, room_id: &str, peer_id: &str) -> Result<bool, RoomError> {
        self.registry.is_member(room_id, peer_id).await
    }

    async fn locate(&self, room_id: &str, peer_id: &str) -> Result<Whereabouts, RoomError> {
        self.registry.locate(room_id, peer_id).await
    }

    fn is_member_now(&self, room_id: &str, peer_id: &str) -> Option<bool> {
        self.registry.is_member_now(room_id, peer_id)
    }

    async fn snapshot(&self, code: &RoomCode) -> Result<Option<RoomSnapshot>, RoomError> {
        self.registry.snapshot(code).await
    }

    async fn count(&self) -> Result<usize, RoomError> {
        self.registry.count().await
    }
}
