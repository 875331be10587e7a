//! Assembles the gateway — state, Socket.IO, HTTP routes, origin policy — and
//! serves it until shutdown.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use socketioxide::{ParserConfig, SocketIo};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::accounts::AccountStore;
use crate::accounts::hashing::HashPool;
use crate::app_data::{AppData, SetupError};
use crate::auth::jwt::{ClaimNames, TokenIssuer};
use crate::auth::{Authenticator, JwtVerifier, jwt::KeyError};
use crate::cluster::adapter::{AdapterChoice, NodeAdapter};
use crate::cluster::node::NodeEvents;
use crate::cluster::{self, Cluster, ClusterDelivery, ClusterError, RelayArrivals};
use crate::config::{AuthFailure, Config};
use crate::delivery::{Delivery, LocalDelivery};
use crate::events::{self, rooms};
use crate::http::origin::{self, Origins};
use crate::http::{self, HttpState, Readiness};
use crate::ice::IceConfig;
use crate::limits::handshake::HandshakeThrottle;
use crate::limits::login::{LoginThrottle, ThrottlePolicy};
use crate::limits::per_key::PerKey;
use crate::limits::rest::RestLimits;
use crate::metrics::Metrics;
use crate::net::{self, HttpLimits};
use crate::rooms::Departed;
use crate::rooms::app::AppRoomRegistry;
use crate::rooms::memory::MemoryRooms;
use crate::rooms::{RoomCaps, RoomPolicy, RoomQuota, RoomRegistry, RoomTurns};
use crate::secret;
use crate::send_buffer::drain::Drains;
use crate::send_buffer::guard::{self, EngineIoGuard};
use crate::socket::admission;
use crate::socket::sessions::Sessions;
use crate::state::{AppState, ErrorReporting, Limits};
use socketioxide::handler::ConnectHandler;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("JWT key: {0}")]
    Key(#[from] KeyError),
    #[error("data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("account store: {0}")]
    Accounts(#[from] crate::accounts::AccountError),
    #[error("app lookups: {0}")]
    AppData(#[from] crate::app_data::SetupError),
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
    #[error("cluster: {0}")]
    Cluster(#[from] ClusterError),
}

/// A built gateway, ready to serve.
pub struct Gateway {
    pub state: Arc<AppState>,
    pub io: SocketIo<NodeAdapter>,
    router: Router,
    sessions: Sessions,
    ready: Readiness,
    grace: Duration,
    http_limits: HttpLimits,
    /// Stops this node's cluster task (heartbeat and sweep) on shutdown.
    stop_node: CancellationToken,
}

/// Binary attachments are not part of the protocol: one small one is read
/// (and refused as `INVALID_PAYLOAD`), anything more closes the connection.
const MAX_BINARY_ATTACHMENT: usize = 1024;

impl Gateway {
    pub async fn build(config: &Config) -> Result<Self, StartError> {
        let secret = jwt_secret(config)?;
        std::fs::create_dir_all(&config.auth.data_dir).map_err(|source| StartError::DataDir {
            path: config.auth.data_dir.display().to_string(),
            source,
        })?;
        let hashing = match config.auth.hash_concurrency {
            Some(n) => HashPool::new(n.get(), config.auth.hash_queue),
            None => HashPool::per_core(config.auth.hash_queue),
        };
        let accounts = AccountStore::connect(&config.auth.database_url())
            .await?
            .with_hashing(hashing);
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
            None => memory_rooms(policy),
        };
        if let Some(app_rooms) = &app_data.rooms {
            rooms = Arc::new(AppRoomRegistry::new(rooms, app_rooms.clone()));
        }
        let metrics = Arc::new(Metrics::default());
        let local = LocalDelivery::new(rooms.clone(), metrics.clone());
        let delivery: Arc<dyn Delivery> = match &cluster {
            Some(c) => Arc::new(ClusterDelivery::new(
                local,
                c.relays.clone(),
                c.subscriptions.clone(),
            )),
            None => Arc::new(local),
        };
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
                jwt_verifier(config, &secret)?,
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
            auth_failure_as_event: config.auth.auth_failure == AuthFailure::Event,
            trusted_proxies: config.limits.trusted_proxies.clone(),
            user_sockets: PerKey::new(config.limits.max_sockets_per_user),
            handshakes: HandshakeThrottle::new(
                config.limits.handshake_max_failures_per_address,
                config.limits.handshake_failure_window,
            ),
        });
        let sessions = Sessions::new(Arc::new(events::Table));
        let payload_cap = usize::try_from(config.limits.max_payload).unwrap_or(usize::MAX);
        let (adapter, node) = match cluster {
            Some(Cluster {
                rooms,
                adapter,
                node,
                inbound,
                ..
            }) => (AdapterChoice::Redis(adapter), Some((rooms, node, inbound))),
            None => (AdapterChoice::Local, None),
        };
        let (layer, io) = SocketIo::builder()
            .max_payload(config.limits.max_payload)
            .ws_max_message_size(payload_cap)
            .ws_max_frame_size(payload_cap)
            // Room for a burst of relays towards one slow reader; the channel
            // allocates as it fills, so idle sockets do not pay for it.
            .max_buffer_size(8192)
            // Signaling frames are small; the buffer grows for a large SDP.
            .ws_read_buffer_size(1024)
            .connect_timeout(config.limits.handshake_timeout)
            .with_parser(
                ParserConfig::common()
                    .max_incoming_binaries(1)
                    .max_incoming_binary_buf_size(MAX_BINARY_ATTACHMENT)
                    .packet_completion_timeout(config.limits.handshake_timeout),
            )
            .with_state(state.clone())
            .with_state(sessions.clone())
            .with_adapter::<NodeAdapter>(adapter)
            .build_layer();
        serve_namespace(&io)
            .await
            .map_err(|e| StartError::Cluster(ClusterError::Adapter(format!("{e:?}"))))?;
        let stop_node = CancellationToken::new();
        if let Some((rooms, settings, inbound)) = node {
            let events = ClusterEvents { io: io.clone() };
            tokio::spawn(cluster::node::run(
                rooms,
                settings,
                events,
                stop_node.clone(),
            ));
            let arrivals = RelayArrivals {
                io: io.clone(),
                metrics: state.metrics.clone(),
            };
            tokio::spawn(cluster::relay::listen(inbound, arrivals, stop_node.clone()));
        }

        let ready = Readiness::default();
        ready.0.store(true, Ordering::Relaxed);
        let origins = Origins::new(&config.http.client_urls);
        let engine_guard = EngineIoGuard {
            drains: Drains::default(),
            sessions: PerKey::new(config.limits.max_sockets_per_address),
            trusted: Arc::new(config.limits.trusted_proxies.clone()),
            refused: state.metrics.refusal("sockets_per_address"),
        };
        let limits = Arc::new(RestLimits::new(&config.limits));
        housekeeping(&limits, &state);
        let mut router = Router::new().merge(http::routes(HttpState {
            app: state.clone(),
            ready: ready.clone(),
            limits,
        }));
        if config.http.demo {
            router = router.merge(http::demo::routes(config.http.demo_dir.clone()));
        }
        let router = router
            .layer(layer)
            .layer(axum::middleware::from_fn_with_state(
                engine_guard,
                guard::guard,
            ))
            // Before engineioxide keeps the request parts for a socket's life.
            .layer(axum::middleware::map_request(http::request_head::detach))
            .layer(origins.cors())
            .layer(axum::middleware::from_fn_with_state(origins, origin::guard));
        Ok(Self {
            state,
            io,
            router,
            sessions,
            ready,
            grace: config.http.shutdown_grace,
            http_limits: HttpLimits {
                connections_per_address: config.limits.max_connections_per_address,
                header_timeout: config.http.header_timeout,
                body_timeout: config.http.body_timeout,
                uncounted: config.limits.trusted_proxies.clone(),
            },
            stop_node,
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
        let Gateway {
            state,
            io,
            router,
            sessions,
            ready,
            grace,
            http_limits,
            stop_node,
        } = self;
        let stopping = CancellationToken::new();
        let closed = CancellationToken::new();
        tokio::spawn({
            let (stopping, closed) = (stopping.clone(), closed.clone());
            async move {
                shutdown.await;
                tracing::info!("shutting down");
                ready.0.store(false, Ordering::Relaxed);
                stopping.cancel();
                // Let queued relays go out before the sockets close.
                if tokio::time::timeout(grace / 2, sessions.idle())
                    .await
                    .is_err()
                {
                    tracing::warn!("closing sockets with events still queued");
                }
                io.close().await;
                sessions.tasks.close();
                let _ = tokio::time::timeout(grace / 2, sessions.tasks.wait()).await;
                // Alive in the cluster until its sockets have left their rooms
                // themselves; whatever remains is reaped by the other nodes.
                stop_node.cancel();
                closed.cancel();
            }
        });
        let refused = state.metrics.refusal("connections_per_address");
        let server = net::serve(listener, router, http_limits, stopping.clone(), refused);
        tokio::select! {
            _ = server => {}
            _ = async { stopping.cancelled().await; tokio::time::sleep(grace).await } => {
                tracing::warn!("grace period over; dropping remaining connections");
            }
        }
        let _ = tokio::time::timeout(grace, closed.cancelled()).await;
        Ok(())
    }
}

/// Binds the listening socket with room for a reconnect storm: the default
/// backlog (128) overflows when hundreds of clients connect at once, and the
/// kernel then drops their SYNs, which cost each of them a one-second
/// retransmission (measured by the bench's idle scenario).
pub fn listen(addr: std::net::SocketAddr, backlog: u32) -> std::io::Result<TcpListener> {
    let socket = match addr {
        std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        std::net::SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog)
}

/// Serves the gateway's namespace on `io`: sockets are admitted by
/// [`admission::admit`] before the CONNECT packet goes out. With the Redis
/// adapter the returned future subscribes the node to the cluster's
/// channels: await it.
fn serve_namespace(io: &SocketIo<NodeAdapter>) -> cluster::adapter::Init {
    io.ns("/", admission::connect.with(admission::admit))
}

/// What the cluster task asks of the rest of the gateway.
struct ClusterEvents {
    io: SocketIo<NodeAdapter>,
}

impl NodeEvents for ClusterEvents {
    async fn members_gone(&self, gone: Vec<Departed>) {
        rooms::members_gone(&self.io, &gone).await;
    }

    /// Closes every socket's transport (clients reconnect, to any node, and
    /// rejoin), then serves the namespace again under the node's new identity.
    async fn evicted(&self) {
        self.io.close().await;
        if let Err(e) = serve_namespace(&self.io).await {
            tracing::error!(error = ?e, "cannot serve the namespace again after eviction");
        }
    }
}

fn memory_rooms(policy: RoomPolicy) -> Arc<dyn RoomRegistry> {
    let ttl = policy.ttl;
    let rooms = Arc::new(MemoryRooms::new(policy));
    // Expiry is also checked on every lookup; the sweep only frees memory.
    let sweeper = Arc::downgrade(&rooms);
    let every = ttl.clamp(Duration::from_secs(1), Duration::from_secs(60));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let Some(rooms) = sweeper.upgrade() else {
                break;
            };
            rooms.sweep();
        }
    });
    rooms
}

/// Once a minute: forgets addresses whose rate limits are back to full, and
/// rooms the quota tracks that are gone.
fn housekeeping(limits: &Arc<RestLimits>, state: &Arc<AppState>) {
    let (limits, state) = (Arc::downgrade(limits), Arc::downgrade(state));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            let (Some(limits), Some(state)) = (limits.upgrade(), state.upgrade()) else {
                break;
            };
            limits.housekeeping();
            if let Err(e) = state.room_quota.sweep(state.rooms.as_ref()).await {
                tracing::warn!(error = %e, "room quota sweep failed");
            }
        }
    });
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

fn jwt_secret(config: &Config) -> Result<String, StartError> {
    Ok(match &config.auth.jwt_secret {
        Some(secret) => secret.clone(),
        None => {
            let (secret, created) =
                secret::load_or_create(&config.auth.data_dir).map_err(|source| {
                    StartError::DataDir {
                        path: config.auth.data_dir.display().to_string(),
                        source,
                    }
                })?;
            let path = config.auth.data_dir.join("jwt-secret");
            if created {
                tracing::warn!(path = %path.display(), "JWT_SECRET is not set: generated one and kept it; set JWT_SECRET to share it with your token issuer");
            } else {
                tracing::warn!(path = %path.display(), "JWT_SECRET is not set: using the secret kept in the data directory");
            }
            secret
        }
    })
}

fn jwt_verifier(config: &Config, secret: &str) -> Result<JwtVerifier, StartError> {
    let mut verifier = JwtVerifier::new(
        Some(secret.as_bytes()),
        config.auth.jwt_issuer.clone(),
        config.auth.jwt_audience.clone(),
    )
    .with_claims(ClaimNames {
        user_id: config.auth.jwt_user_id_claims.clone(),
        username: config.auth.jwt_username_claims.clone(),
    });
    if let Some(path) = &config.auth.jwt_public_key {
        verifier = verifier.with_pem_file(path)?;
    }
    if let Some(path) = &config.auth.jwt_jwks_file {
        verifier = verifier.with_jwks_file(path)?;
    }
    Ok(verifier)
}
