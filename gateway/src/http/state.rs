//! What the REST handlers share: the gateway's state and its readiness.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::limits::rest::RestLimits;
use crate::state::AppState;

/// Ready until shutdown begins, so a load balancer stops sending new clients.
#[derive(Clone, Default)]
pub struct Readiness(pub Arc<AtomicBool>);

#[derive(Clone)]
pub struct HttpState {
    pub app: Arc<AppState>,
    pub ready: Readiness,
    pub limits: Arc<RestLimits>,
}
