//! Why the gateway could not start.

use crate::auth::jwt::KeyError;
use crate::cluster::ClusterError;

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
