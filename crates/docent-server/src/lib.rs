//! Docent's HTTP answer server: the chat API of `API.md` on axum/hyper.
//!
//! - [`config`]: `docent.toml` + `DOCENT_…` environment + flags.
//! - [`store`]: conversations, messages (with their stream frames), API keys — SQLite
//!   by default, PostgreSQL through the same code (sqlx `Any`).
//! - [`bots`]: per bot, a hot-swapping retriever and a generator.
//! - [`turn`]: one chat turn as numbered frames (retrieve → generate → cite → store).
//! - [`api`]: routes, middleware (request id, error envelope, limits, CORS) and the
//!   SSE transport.
//! - [`auth`], [`ratelimit`]: keys and token buckets.
//! - [`answer_cache`]: repeated first-turn questions answered from memory.
//! - [`analytics`]: unanswered questions grouped by meaning, traffic summaries.
//! - [`webhooks`]: signed event deliveries from the store's outbox, off the request path.
//! - [`handoff`]: a visitor asking for a person (phrases), and the handoff state change.
//! - [`contact`]: validated lead details (email, phone, name).
//!
//! [`serve`] runs it all until Ctrl-C/SIGTERM, then drains open streams for at most
//! `limits.shutdown_grace_secs`.
#![deny(missing_docs)]

pub mod analytics;
pub mod answer_cache;
pub mod api;
pub mod auth;
pub mod bots;
pub mod config;
pub mod contact;
pub mod handoff;
pub mod ids;
pub mod metrics;
pub mod pii;
pub mod ratelimit;
pub mod state;
pub mod store;
pub mod turn;
pub mod webhooks;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use docent_answer::extractive::{ExtractiveConfig, ExtractiveGenerator};
use docent_answer::Generator;
use docent_index::{Embedder, EmbedderOptions, ModelFiles};
use docent_retrieval::{QueryEmbedder, DEFAULT_QUERY_CACHE};
use tokio::net::TcpListener;
use tracing::info;

pub use config::ServerConfig;
pub use state::AppState;

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The configuration or a bot could not be set up.
    #[error("{0}")]
    Setup(String),
    /// The store could not be opened.
    #[error("store: {0}")]
    Store(#[from] store::StoreError),
    /// The models could not be loaded.
    #[error("models: {0}")]
    Models(#[from] docent_index::IndexError),
    /// Binding or serving failed.
    #[error("listening on {addr}: {source}")]
    Io {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// The query embedder the server uses: `models` copies of the model (one intra-op
/// thread each, the fastest for single queries), so two queries embed at once.
pub fn load_query_embedder(config: &ServerConfig, models: usize) -> Result<Arc<QueryEmbedder>, ServeError> {
    let files = ModelFiles::locate(config.models.as_deref())?;
    let mut loaded = Vec::new();
    for _ in 0..models.max(1) {
        loaded.push(Embedder::load(&files, EmbedderOptions::queries(config.query_graph))?);
    }
    QueryEmbedder::from_models(loaded, DEFAULT_QUERY_CACHE)
        .map(Arc::new)
        .map_err(|e| ServeError::Setup(format!("query embedder: {e}")))
}

/// The generator of a bot, from its configuration.
pub fn default_generator(
    config: &ServerConfig,
) -> impl Fn(&config::BotConfig) -> Result<Arc<dyn Generator>, String> + '_ {
    move |bot| match bot.generator {
        config::GeneratorKind::Extractive => match bot.pacing_ms {
            None => Ok(Arc::new(ExtractiveGenerator::default()) as Arc<dyn Generator>),
            Some(ms) => {
                let c = ExtractiveConfig { pacing: Some(std::time::Duration::from_millis(ms)), ..Default::default() };
                Ok(Arc::new(ExtractiveGenerator::new(c).map_err(|e| e.to_string())?) as Arc<dyn Generator>)
            }
        },
        config::GeneratorKind::Llm => {
            let llm = config.llm.as_ref().ok_or_else(|| "no [llm] section".to_string())?;
            llm_generator(llm)
        }
    }
}

fn llm_generator(llm: &docent_answer::llm::LlmConfig) -> Result<Arc<dyn Generator>, String> {
    docent_answer::llm::LlmGenerator::new(llm.clone())
        .map(|g| Arc::new(g) as Arc<dyn Generator>)
        .map_err(|e| e.to_string())
}

/// Builds the generator of a bot given the whole configuration (tests plug their own).
pub type GeneratorFor = dyn Fn(&ServerConfig, &config::BotConfig) -> Result<Arc<dyn Generator>, String> + Sync;

/// Everything [`serve`] builds, for tests that run the app in-process.
pub struct Server {
    /// The state.
    pub state: AppState,
    /// The bound listener.
    pub listener: TcpListener,
}

impl Server {
    /// Open the store, load models, open every bot, bind the address.
    pub async fn build(config: ServerConfig) -> Result<Self, ServeError> {
        let embedder = load_query_embedder(&config, 2)?;
        Self::build_with(config, embedder, &default_generator_owned).await
    }

    /// [`Server::build`] with a given embedder and generator factory.
    pub async fn build_with(
        config: ServerConfig,
        embedder: Arc<QueryEmbedder>,
        generators: &GeneratorFor,
    ) -> Result<Self, ServeError> {
        let store = store::Store::connect(&config.database_url()).await?;
        sync_config_webhooks(&store, &config).await?;
        let cfg = config.clone();
        let factory = move |b: &config::BotConfig| generators(&cfg, b);
        // Opening an index reads a few files and builds its tables: fast enough to do
        // here, once, before serving.
        let bots = bots::Bots::new(&config, embedder, &factory)?;
        let listener =
            TcpListener::bind(config.listen).await.map_err(|source| ServeError::Io { addr: config.listen, source })?;
        Ok(Server { state: AppState::new(config, bots, store), listener })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> Result<SocketAddr, std::io::Error> {
        self.listener.local_addr()
    }

    /// Serve until `shutdown` resolves; then stop accepting, let open requests and
    /// streams finish for at most the grace period, and return.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> Result<(), ServeError> {
        let addr = self.local_addr().map_err(|source| ServeError::Io { addr: self.state.config.listen, source })?;
        let grace = self.state.config.limits.shutdown_grace();
        let reload = Duration::from_secs(self.state.config.limits.reload_secs.max(1));
        let reloader = tokio::spawn(self.state.bots.clone().reload_loop(reload, Some(self.state.store.clone())));
        let webhooks = tokio::spawn(webhooks::run_worker(
            self.state.store.clone(),
            self.state.config.webhooks.clone(),
            Arc::clone(&self.state.metrics),
        ));
        let limits = Arc::clone(&self.state.limits);
        let auth_failures = Arc::clone(&self.state.auth_failures);
        let store = self.state.store.clone();
        let housekeeping = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                limits.housekeep();
                auth_failures.housekeep();
                if let Err(e) = store.purge_idempotency_keys(store::now_ms() - api::IDEMPOTENCY_TTL_MS).await {
                    tracing::debug!(error = %e, "could not purge expired idempotency keys");
                }
            }
        });
        let app = api::router(self.state.clone()).into_make_service_with_connect_info::<SocketAddr>();
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let signal = async move {
            shutdown.await;
            info!("shutting down: draining open requests");
            let _ = stop_tx.send(true);
        };
        info!(%addr, "listening");
        // TCP_NODELAY: an SSE frame is a small write; with Nagle's algorithm each one
        // after the first waits for the client's delayed ACK (~40 ms on Linux).
        let listener = axum::serve::ListenerExt::tap_io(self.listener, |tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "could not set TCP_NODELAY");
            }
        });
        let server = axum::serve(listener, app).with_graceful_shutdown(signal);
        let mut stopped = stop_rx.clone();
        let deadline = async move {
            let _ = stopped.wait_for(|s| *s).await;
            tokio::time::sleep(grace).await;
        };
        let result = tokio::select! {
            r = server => r.map_err(|source| ServeError::Io { addr, source }),
            _ = deadline => {
                tracing::warn!(grace_s = grace.as_secs(), "open streams did not finish in time; closing them");
                Ok(())
            }
        };
        reloader.abort();
        webhooks.abort();
        housekeeping.abort();
        result
    }
}

/// Make the store's config-defined webhook endpoints those of `[[webhooks.endpoints]]`.
async fn sync_config_webhooks(store: &store::Store, config: &ServerConfig) -> Result<(), ServeError> {
    let ids: Vec<String> = config.webhooks.endpoints.iter().map(|e| e.id()).collect();
    let events: Vec<Vec<String>> = config
        .webhooks
        .endpoints
        .iter()
        .map(|e| webhooks::validate_events(&e.events).map_err(ServeError::Setup))
        .collect::<Result<_, _>>()?;
    let wanted: Vec<store::NewWebhook<'_>> = config
        .webhooks
        .endpoints
        .iter()
        .zip(&ids)
        .zip(&events)
        .map(|((e, id), events)| store::NewWebhook {
            id,
            bot_id: &e.bot,
            url: &e.url,
            events,
            secret: &e.secret.0,
            origin: "config",
        })
        .collect();
    store.sync_config_webhooks(&wanted).await?;
    Ok(())
}

fn default_generator_owned(config: &ServerConfig, bot: &config::BotConfig) -> Result<Arc<dyn Generator>, String> {
    default_generator(config)(bot)
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
