//! The Socket.IO adapter: in-process on one node, socketioxide-redis's (fred
//! driver) in a cluster. socketioxide fixes the adapter in the socket's type,
//! so one type that is either keeps every handler free of a type parameter and
//! lets `REDIS_URL` decide at start-up. Each call goes to the chosen adapter
//! as is.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::future::Either;
use socketioxide::adapter::{Adapter, Emitter, LocalAdapter};
use socketioxide_core::adapter::errors::BroadcastError;
use socketioxide_core::adapter::{
    BroadcastOptions, CoreAdapter, CoreLocalAdapter, DefinedAdapter, RemoteSocketData, Room,
    RoomParam, Spawnable,
};
use socketioxide_core::packet::Packet;
use socketioxide_redis::drivers::fred::FredDriver;
use socketioxide_redis::{FredAdapter, InitError, RedisAdapterCtr};

/// What the namespace's adapter is built from.
pub enum AdapterChoice {
    /// One node: rooms in this process.
    Local,
    /// A cluster: room broadcasts go through Redis pub/sub.
    Redis(RedisAdapterCtr<FredDriver>),
}

/// The adapter of the gateway's one namespace.
pub enum NodeAdapter {
    Local(LocalAdapter),
    Redis(Arc<FredAdapter<Emitter>>),
}

type RedisError = socketioxide_redis::Error<FredDriver>;

impl DefinedAdapter for NodeAdapter {}

impl CoreAdapter<Emitter> for NodeAdapter {
    type Error = RedisError;
    type State = AdapterChoice;
    type AckStream = Either<
        <LocalAdapter as CoreAdapter<Emitter>>::AckStream,
        <FredAdapter<Emitter> as CoreAdapter<Emitter>>::AckStream,
    >;
    type InitRes = Init;

    fn new(state: &Self::State, local: CoreLocalAdapter<Emitter>) -> Self {
        match state {
            AdapterChoice::Local => NodeAdapter::Local(LocalAdapter::new(&(), local)),
            AdapterChoice::Redis(ctr) => NodeAdapter::Redis(Arc::new(FredAdapter::new(ctr, local))),
        }
    }

    fn init(self: Arc<Self>, on_success: impl FnOnce() + Send + 'static) -> Self::InitRes {
        match &*self {
            NodeAdapter::Local(_) => {
                on_success();
                Init(None)
            }
            NodeAdapter::Redis(redis) => Init(Some(redis.clone().init(on_success))),
        }
    }

    async fn close(&self) -> Result<(), Self::Error> {
        match self {
            NodeAdapter::Local(_) => Ok(()),
            NodeAdapter::Redis(redis) => redis.close().await,
        }
    }

    async fn server_count(&self) -> Result<u16, Self::Error> {
        match self {
            NodeAdapter::Local(_) => Ok(1),
            NodeAdapter::Redis(redis) => redis.server_count().await,
        }
    }

    async fn broadcast(
        &self,
        packet: Packet,
        opts: BroadcastOptions,
    ) -> Result<(), BroadcastError> {
        match self {
            NodeAdapter::Local(local) => local.broadcast(packet, opts).await,
            NodeAdapter::Redis(redis) => redis.broadcast(packet, opts).await,
        }
    }

    async fn broadcast_with_ack(
        &self,
        packet: Packet,
        opts: BroadcastOptions,
        timeout: Option<Duration>,
    ) -> Result<Self::AckStream, Self::Error> {
        match self {
            NodeAdapter::Local(local) => {
                let Ok(stream) = local.broadcast_with_ack(packet, opts, timeout).await;
                Ok(Either::Left(stream))
            }
            NodeAdapter::Redis(redis) => redis
                .broadcast_with_ack(packet, opts, timeout)
                .await
                .map(Either::Right),
        }
    }

    async fn add_sockets(
        &self,
        opts: BroadcastOptions,
        rooms: impl RoomParam,
    ) -> Result<(), Self::Error> {
        match self {
            NodeAdapter::Local(local) => {
                let Ok(()) = local.add_sockets(opts, rooms).await;
                Ok(())
            }
            NodeAdapter::Redis(redis) => redis.add_sockets(opts, rooms).await,
        }
    }

    async fn del_sockets(
        &self,
        opts: BroadcastOptions,
        rooms: impl RoomParam,
    ) -> Result<(), Self::Error> {
        match self {
            NodeAdapter::Local(local) => {
                let Ok(()) = local.del_sockets(opts, rooms).await;
                Ok(())
            }
            NodeAdapter::Redis(redis) => redis.del_sockets(opts, rooms).await,
        }
    }

    async fn disconnect_socket(&self, opts: BroadcastOptions) -> Result<(), BroadcastError> {
        match self {
            NodeAdapter::Local(local) => local.disconnect_socket(opts).await,
            NodeAdapter::Redis(redis) => redis.disconnect_socket(opts).await,
        }
    }

    async fn rooms(&self, opts: BroadcastOptions) -> Result<Vec<Room>, Self::Error> {
        match self {
            NodeAdapter::Local(local) => {
                let Ok(rooms) = local.rooms(opts).await;
                Ok(rooms)
            }
            NodeAdapter::Redis(redis) => redis.rooms(opts).await,
        }
    }

    async fn fetch_sockets(
        &self,
        opts: BroadcastOptions,
    ) -> Result<Vec<RemoteSocketData>, Self::Error> {
        match self {
            NodeAdapter::Local(local) => {
                let Ok(sockets) = local.fetch_sockets(opts).await;
                Ok(sockets)
            }
            NodeAdapter::Redis(redis) => redis.fetch_sockets(opts).await,
        }
    }

    fn get_local(&self) -> &CoreLocalAdapter<Emitter> {
        match self {
            NodeAdapter::Local(local) => local.get_local(),
            NodeAdapter::Redis(redis) => redis.get_local(),
        }
    }
}

/// The namespace's set-up: nothing to wait for on one node; the Redis
/// adapter's subscriptions in a cluster (await it before serving).
#[must_use = "await it: the cluster is not joined until it resolves"]
pub struct Init(Option<socketioxide_redis::InitRes<FredDriver>>);

impl Future for Init {
    type Output = Result<(), InitError<FredDriver>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.0 {
            None => Poll::Ready(Ok(())),
            Some(init) => Pin::new(init).poll(cx),
        }
    }
}

impl Spawnable for Init {
    fn spawn(self) {
        if let Some(init) = self.0 {
            init.spawn();
        }
    }
}

/// Compile-time check that the enum is a socketioxide adapter.
const _: fn() = || {
    fn is_adapter<A: Adapter>() {}
    is_adapter::<NodeAdapter>();
};
