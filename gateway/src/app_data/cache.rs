//! A time limit and a short-lived, bounded cache in front of a source. The
//! cache is moka's: besides expiry and a size bound it makes concurrent
//! misses of one key wait for a single load, so ten peers joining one room at
//! once cost the app one query, not ten.

use std::future::Future;
use std::time::Duration;

use super::source::{LookupError, Settings};

/// A time limit and a short-lived, bounded cache of answers (found and not
/// found alike; failures are not kept).
#[derive(Clone)]
pub struct Memo<V> {
    cache: Option<moka::future::Cache<String, Option<V>>>,
    timeout: Duration,
}

impl<V: Clone + Send + Sync + 'static> Memo<V> {
    pub fn new(s: &Settings) -> Self {
        let cache = (!s.app_lookup_cache_ttl.is_zero() && s.app_lookup_cache_size > 0).then(|| {
            moka::future::Cache::builder()
                .max_capacity(s.app_lookup_cache_size)
                .time_to_live(s.app_lookup_cache_ttl)
                .build()
        });
        Self {
            cache,
            timeout: s.app_lookup_timeout,
        }
    }

    pub async fn get(
        &self,
        key: String,
        load: impl Future<Output = Result<Option<V>, LookupError>> + Send,
    ) -> Result<Option<V>, LookupError> {
        let load = self.timed(load);
        match &self.cache {
            None => load.await,
            Some(cache) => cache
                .try_get_with(key, load)
                .await
                .map_err(|e| (*e).clone()),
        }
    }

    pub async fn timed<T>(
        &self,
        work: impl Future<Output = Result<T, LookupError>>,
    ) -> Result<T, LookupError> {
        tokio::time::timeout(self.timeout, work)
            .await
            .unwrap_or_else(|_| {
                Err(LookupError::Unavailable(format!(
                    "no answer within {:?}",
                    self.timeout
                )))
            })
    }
}
