//! Assembles the gateway (state, Socket.IO, HTTP routes, origin policy) from
//! the [`Config`], and serves it until shutdown.

mod background;
mod credentials;
mod error;
mod router;
mod serve;
mod socket_io;

pub use error::StartError;
pub use serve::listen;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use socketioxide::SocketIo;
use tokio::net::TcpListener;

use crate::adapter::Adapter;
use crate::app_data::{AppData, SetupError};
use crate::auth::Authenticator;
use crate::auth::jwt::TokenIssuer;
use crate::cluster::{Cluster, ClusterDelivery};
use crate::config::{AuthFailure, Config};
use crate::delivery::{Delivery, LocalDelivery};
use crate::events;
use crate::http::Readiness;
use crate::ice::IceConfig;
use crate::limits::handshake::HandshakeThrottle;
use crate::limits::login::{LoginThrottle, ThrottlePolicy};
use crate::limits::memory::NodeMemory;
use crate::limits::per_key::PerKey;
use crate::metrics::Metrics;
use crate::net::HttpLimits;
use crate::rooms::app::AppRoomRegistry;
use crate::rooms::{RoomCaps, RoomPolicy, RoomQuota, RoomRegistry, RoomTurns};
use crate::send_buffer::node::NodeBudget;
use crate::send_buffer::outbox::Outboxes;
use crate::socket::sessions::Sessions;
use crate::state::{AppState, ErrorReporting, Limits};
use serve::Serving;

/// A built gateway, ready to serve.
pub struct Gateway {
    pub state: Arc<AppState>,
    pub io: SocketIo<Adapter>,
    serving: Serving,
}

impl Gateway {
    pub async fn build(config: &Config) -> Result<Self, StartError> {
        let secret = credentials::jwt_secret(&config.auth)?;
        let accounts = credentials::accounts(&config.auth).await?;
        let app_data = app_data(config).await?;
        let policy = RoomPolicy {
            ttl: config.rooms.room_ttl,
            auto_create: config.rooms.auto_create_rooms,
            max_room_size: config.rooms.max_room_size,
        };
        let cluster = match &config.cluster.redis_url {
            Some(url) => Some(Cluster::connect(&config.cluster, url, policy).await?),
            None => None,
        };
        let mut rooms: Arc<dyn RoomRegistry> = match &cluster {
            Some(cluster) => cluster.rooms.clone(),
            None => background::memory_rooms(policy),
        };
        if let Some(app_rooms) = &app_data.rooms {
            rooms = Arc::new(AppRoomRegistry::new(rooms, app_rooms.clone()));
        }
        let metrics = Arc::new(Metrics::default());
        let local = LocalDelivery::new(rooms.clone(), metrics.clone());
        // Chosen once: handlers never ask whether they run in a cluster.
        let delivery: Arc<dyn Delivery> = match &cluster {
            Some(c) => Arc::new(ClusterDelivery::new(
                local,
                c.relays.clone(),
                c.subscriptions.clone(),
            )),
            None => Arc::new(local),
        };
        // One count of every kind of client bytes (issue 23): relays below,
        // frames being received in engineioxide, requests in `net::accept`.
        let memory = Arc::new(NodeMemory::new(
            config.limits.max_node_memory,
            metrics.node_memory_bytes.clone(),
            metrics.node_memory_refusals.clone(),
        ));
        engineioxide::set_byte_budget(memory.clone());
        let outboxes = Outboxes::new(NodeBudget::new(
            usize::try_from(config.limits.max_node_send_buffer).unwrap_or(usize::MAX),
            metrics.node_send_buffer_bytes.clone(),
            memory.clone(),
        ));
        let state = Arc::new(AppState {
            rooms,
            delivery,
            room_turns: RoomTurns::default(),
            room_quota: RoomQuota::new(RoomCaps {
                max_rooms: config.rooms.max_rooms,
                per_user: config.rooms.max_rooms_per_user,
                auto_create: config.rooms.auto_create_rooms,
            }),
            auth: Authenticator::new(
                credentials::jwt_verifier(&config.auth, &secret)?,
                Some(Arc::new(accounts.clone())),
            )
            .with_app_users(app_data.users.clone()),
            app_data,
            accounts,
            throttle: LoginThrottle::new(ThrottlePolicy {
                per_pair: config.limits.login_max_failures,
                backoff: config.limits.login_backoff,
                per_address: config.limits.login_max_failures_per_address,
                window: config.limits.login_window,
            }),
            tokens: TokenIssuer::new(secret.as_bytes(), config.auth.token_ttl),
            ice: IceConfig {
                stun_urls: config.rooms.stun_urls.clone(),
                turn_urls: config.rooms.turn_urls.clone(),
                turn_secret: config.rooms.turn_secret.clone(),
                turn_ttl: config.rooms.turn_ttl,
            },
            errors: ErrorReporting {
                events: config.rooms.error_events.clone(),
                sfu_url: config.rooms.sfu_url.clone(),
            },
            metrics,
            limits: Limits {
                rate_limit_burst: config.limits.rate_limit_burst,
                rate_limit_per_sec: config.limits.rate_limit_per_sec,
                send_buffer: usize::try_from(config.limits.max_send_buffer).unwrap_or(usize::MAX),
            },
            outboxes,
            auth_failure_as_event: config.auth.auth_failure == AuthFailure::Event,
            trusted_proxies: config.limits.trusted_proxies.clone(),
            user_sockets: PerKey::new(config.limits.max_sockets_per_user),
            handshakes: HandshakeThrottle::new(
                config.limits.handshake_max_failures_per_address,
                config.limits.handshake_failure_window,
            ),
        });
        let sessions = Sessions::new(Arc::new(events::Table));
        let socket_io = socket_io::build(&config.limits, &state, &sessions, cluster);
        let ready = Readiness::default();
        ready.0.store(true, Ordering::Relaxed);
        let router = router::build(config, &state, socket_io.layer, ready.clone());
        let serving = Serving {
            metrics: state.metrics.clone(),
            io: socket_io.io.clone(),
            router,
            sessions,
            ready,
            grace: config.http.shutdown_grace,
            http_limits: HttpLimits {
                connections_per_address: config.limits.max_connections_per_address,
                header_timeout: config.http.header_timeout,
                max_head: config.limits.max_request_head,
                body_timeout: config.http.body_timeout,
                uncounted: config.limits.trusted_proxies.clone(),
                memory: memory.clone(),
            },
            stop_node: socket_io.stop_node,
        };
        Ok(Self {
            state,
            io: socket_io.io,
            serving,
        })
    }

    /// Serves on `listener` until `shutdown` resolves, then stops accepting,
    /// lets queued events finish, closes every socket (clients see a transport
    /// close and reconnect elsewhere) and waits for sessions, all within the
    /// grace period.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartError> {
        self.serving.run(listener, shutdown).await;
        Ok(())
    }
}

/// The app's own users and rooms, when the operator configured where to find them.
async fn app_data(config: &Config) -> Result<AppData, SetupError> {
    let data = AppData::connect(&config.app_data).await?;
    if data.rooms.is_some() && config.rooms.auto_create_rooms {
        // Auto-creation would admit every code the app does not have.
        return Err(SetupError::Invalid(
            "AUTO_CREATE_ROOMS cannot be combined with ROOM_QUERY / ROOM_LOOKUP_URL".into(),
        ));
    }
    Ok(data)
}
