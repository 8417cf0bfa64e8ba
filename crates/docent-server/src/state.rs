//! The state every request handler shares.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::Semaphore;

use crate::answer_cache::AnswerCache;
use crate::bots::{BotRuntime, Bots};
use crate::config::ServerConfig;
use crate::metrics::Metrics;
use crate::ratelimit::{AuthFailureLimiter, RateLimits};
use crate::store::Store;
use crate::turn::{ActiveConversations, LiveTurns};

/// Shared, cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Inner>);

/// What [`AppState`] holds.
#[derive(Debug)]
pub struct Inner {
    /// The configuration in force.
    pub config: ServerConfig,
    /// The bots.
    pub bots: Bots,
    /// The store.
    pub store: Store,
    /// Rate limits.
    pub limits: Arc<RateLimits>,
    /// Per-address limit on requests refused for their key.
    pub auth_failures: Arc<AuthFailureLimiter>,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Running turns (resume).
    pub live: Arc<LiveTurns>,
    /// Conversations with a turn in flight.
    pub active: Arc<ActiveConversations>,
    /// Turns allowed at once.
    pub turns: Arc<Semaphore>,
    /// Process start, for `/healthz`.
    pub started: Instant,
    /// Repeated first-turn questions answered without retrieval or generation
    /// (`None`: `[answer_cache] enabled = false`).
    pub answer_cache: Option<Arc<AnswerCache>>,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// Assemble the state.
    pub fn new(config: ServerConfig, bots: Bots, store: Store) -> Self {
        let limits = RateLimits::new(&config.bots);
        let turns = Arc::new(Semaphore::new(config.limits.max_concurrent_turns));
        let auth_failures = AuthFailureLimiter::new(&config.limits);
        let answer_cache = AnswerCache::from_config(&config.answer_cache).map(Arc::new);
        AppState(Arc::new(Inner {
            answer_cache,
            config,
            bots,
            store,
            limits,
            auth_failures,
            metrics: Metrics::new(),
            live: Arc::new(LiveTurns::default()),
            active: Arc::new(ActiveConversations::default()),
            turns,
            started: Instant::now(),
        }))
    }

    /// A bot by id.
    pub fn bot(&self, id: &str) -> Option<&Arc<BotRuntime>> {
        self.bots.get(id)
    }
}

/// The client's address, when the server knows it (rate-limit key for visitors of a
/// public key without a user id).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub Option<SocketAddr>);
