//! The bots a server answers for: each one's configuration, retriever (hot-swapping
//! the index generations `docent ingest` publishes) and generator.
//!
//! A bot whose index is missing or unreadable does not stop the server: it is
//! reported by `/readyz` and answers 503 with the reason until a generation appears
//! (the reload task retries every `limits.reload_secs`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use docent_answer::Generator;
use docent_index::BotDir;
use docent_retrieval::{QueryEmbedder, ReloadOutcome, Retriever, RetrieverConfig};
use tracing::{info, info_span, warn};

use crate::config::{BotConfig, ServerConfig};
use crate::store::Store;
use crate::webhooks::{Event, EventType};

/// One bot at run time.
pub struct BotRuntime {
    /// Its configuration.
    pub config: BotConfig,
    /// Where its index lives.
    pub dir: BotDir,
    /// The retriever, once an index generation could be opened.
    retriever: ArcSwapOption<Retriever>,
    /// Why the retriever is not there (for `/readyz` and 503s).
    problem: Mutex<Option<String>>,
    /// The generator answering its questions.
    pub generator: Arc<dyn Generator>,
    /// Its handoff phrases, normalised once (every turn is checked against them).
    pub handoff: crate::handoff::PhraseMatcher,
}

impl std::fmt::Debug for BotRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BotRuntime")
            .field("id", &self.config.id)
            .field("generation", &self.generation())
            .field("generator", &self.generator.name())
            .finish()
    }
}

impl BotRuntime {
    /// The live retriever, or why there is none.
    pub fn retriever(&self) -> Result<Arc<Retriever>, String> {
        self.retriever.load_full().ok_or_else(|| {
            self.problem
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone()
                .unwrap_or_else(|| format!("bot `{}` has no index yet", self.config.id))
        })
    }

    /// The live generation, if any.
    pub fn generation(&self) -> Option<u64> {
        self.retriever.load().as_ref().map(|r| r.generation())
    }

    /// Open the index if it is not open yet, else pick up a newly published
    /// generation; `Some((from, to))` when a new generation is now served (`from` is
    /// `None` when the bot had no index before). Blocking (file I/O): call from a
    /// blocking thread.
    pub fn refresh(&self, embedder: &Arc<QueryEmbedder>) -> Option<(Option<u64>, u64)> {
        let _span = info_span!("reload", bot = %self.config.id).entered();
        match self.retriever.load_full() {
            Some(r) => match r.reload_if_changed() {
                Ok(ReloadOutcome::Swapped { from, to }) => {
                    info!(from, to, "index generation swapped");
                    return Some((Some(from), to));
                }
                Ok(ReloadOutcome::Unchanged { .. }) => {}
                Err(e) => warn!(error = %e, "reload failed; keeping the live generation"),
            },
            None => match Retriever::open_with(&self.dir, Arc::clone(embedder), RetrieverConfig::default()) {
                Ok(r) => {
                    let generation = r.generation();
                    info!(generation, "index opened");
                    self.retriever.store(Some(Arc::new(r)));
                    *self.problem.lock().unwrap_or_else(|p| p.into_inner()) = None;
                    return Some((None, generation));
                }
                Err(e) => {
                    let msg = format!("bot `{}`: {e}", self.config.id);
                    let mut p = self.problem.lock().unwrap_or_else(|p| p.into_inner());
                    if p.as_deref() != Some(msg.as_str()) {
                        warn!(error = %msg, "index not available");
                    }
                    *p = Some(msg);
                }
            },
        }
        None
    }
}

/// Every bot, by id.
#[derive(Debug, Clone)]
pub struct Bots {
    bots: Arc<BTreeMap<String, Arc<BotRuntime>>>,
    embedder: Arc<QueryEmbedder>,
}

/// Builds a bot's generator (kept out of this module so tests can plug their own).
pub type GeneratorFactory<'a> = dyn Fn(&BotConfig) -> Result<Arc<dyn Generator>, String> + 'a;

impl Bots {
    /// Set up every configured bot and try to open its index.
    pub fn new(
        config: &ServerConfig,
        embedder: Arc<QueryEmbedder>,
        generators: &GeneratorFactory<'_>,
    ) -> Result<Self, crate::ServeError> {
        let mut bots = BTreeMap::new();
        for b in &config.bots {
            let data = b.data.clone().unwrap_or_else(|| config.data.clone());
            let dir = BotDir::new(&data, &b.id)
                .map_err(|e| crate::ServeError::Setup(format!("bot `{}`: index directory: {e}", b.id)))?;
            let generator =
                generators(b).map_err(|e| crate::ServeError::Setup(format!("bot `{}`: generator: {e}", b.id)))?;
            let runtime = BotRuntime {
                config: b.clone(),
                dir,
                retriever: ArcSwapOption::empty(),
                problem: Mutex::new(None),
                generator,
                handoff: crate::handoff::matcher_for(b),
            };
            runtime.refresh(&embedder);
            bots.insert(b.id.clone(), Arc::new(runtime));
        }
        Ok(Bots { bots: Arc::new(bots), embedder })
    }

    /// A bot by id.
    pub fn get(&self, id: &str) -> Option<&Arc<BotRuntime>> {
        self.bots.get(id)
    }

    /// Every bot, by id.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<BotRuntime>> {
        self.bots.values()
    }

    /// The shared query embedder.
    pub fn embedder(&self) -> &Arc<QueryEmbedder> {
        &self.embedder
    }

    /// Refresh every bot every `period` until the task is dropped; each new generation
    /// served (a swap, or a first index appearing after start-up) fires `index.updated`
    /// through `store` (when given).
    pub async fn reload_loop(self, period: Duration, store: Option<Store>) {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            let bots = self.clone();
            let joined = tokio::task::spawn_blocking(move || {
                bots.iter().filter_map(|b| b.refresh(&bots.embedder).map(|s| (b.config.id.clone(), s))).collect()
            })
            .await;
            let swapped: Vec<(String, (Option<u64>, u64))> = match joined {
                Ok(s) => s,
                Err(e) => {
                    warn!(error = %e, "index reload task failed");
                    continue;
                }
            };
            if let Some(store) = &store {
                for (bot, (from, to)) in swapped {
                    // Keyed by bot and generation: replicas swapping to the same
                    // generation queue one event per endpoint, not one each.
                    let event = Event::with_key(
                        EventType::IndexUpdated,
                        &bot,
                        &to.to_string(),
                        serde_json::json!({"generation": to, "previous_generation": from}),
                    );
                    if let Err(e) = store.emit(&event).await {
                        warn!(bot = %bot, error = %e, "could not queue index.updated");
                    }
                }
            }
        }
    }
}
