//! A cluster over Redis (`REDIS_URL`); unset: one node.

use std::time::Duration;

use clap::Args;

use super::parse::parse_duration;

/// A cluster over Redis (`REDIS_URL`); unset: one node.
#[derive(Clone, Args)]
#[command(next_help_heading = "Cluster")]
pub struct ClusterConfig {
    /// Redis for a cluster (`redis://host:6379`, Redis 7+): rooms, relays and
    /// membership events are shared by every node that names the same Redis.
    /// Unset: one node, rooms in memory.
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,

    /// Prefix of the cluster's Redis keys (a hash tag) and pub/sub channels;
    /// clusters sharing one Redis need different prefixes.
    #[arg(long, env = "REDIS_PREFIX", default_value = "gw")]
    pub redis_prefix: String,

    /// How long one Redis command may take before the event that needed it
    /// fails with INTERNAL_ERROR (while Redis is unreachable, for instance).
    #[arg(long, env = "REDIS_TIMEOUT", default_value = "2s", value_parser = parse_duration)]
    pub redis_timeout: Duration,

    /// How often a cluster node refreshes its liveness key.
    #[arg(long, env = "NODE_HEARTBEAT", default_value = "2s", value_parser = parse_duration)]
    pub node_heartbeat: Duration,

    /// How long a silent node counts as alive: past it, another node reports
    /// its sockets `peer:left` and frees their seats. At least twice NODE_HEARTBEAT.
    #[arg(long, env = "NODE_TIMEOUT", default_value = "6s", value_parser = parse_duration)]
    pub node_timeout: Duration,

    /// Batches from other nodes that the node's Redis subscriber buffers
    /// before the task that moves them out reads them (fred's ring, allocated
    /// whole nine times over: about 2.2 MB of RSS at 1024). Overwritten when
    /// full: those batches are dropped ("lagged") and the relays in them
    /// refused to their senders.
    #[arg(long, env = "RELAY_RING", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=1_048_576))]
    pub relay_ring: u64,

    /// How long a node's writer to another node waits, after the first
    /// relay or event of a batch, for more to publish with it (unless 16 KiB
    /// are queued already): at a low rate each publish costs Redis and both
    /// nodes far more than the relays in it. Adds up to this to a relay's
    /// latency across nodes, and to its ack (twice: the receipt waits too).
    /// 0: publish at once.
    #[arg(long, env = "FLUSH_DELAY", default_value = "1ms", value_parser = parse_duration)]
    pub flush_delay: Duration,
}
