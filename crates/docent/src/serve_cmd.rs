//! `docent serve`, `docent keys …`, `docent bots list`: the server and its operator
//! commands (all read the same configuration).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use docent_server::auth::{create_key, SCOPES};
use docent_server::store::{KeyKind, Store};
use docent_server::{Server, ServerConfig};

/// Where the configuration comes from (shared by the server commands).
#[derive(Debug, Clone, clap::Args)]
pub struct ConfigArgs {
    /// Configuration file (`docent.toml`); without it: defaults + environment.
    #[arg(long, env = "DOCENT_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory (bot indexes, the SQLite store); overrides the file.
    #[arg(long)]
    pub data: Option<PathBuf>,
}

impl ConfigArgs {
    /// Load and validate.
    pub fn load(&self, listen: Option<SocketAddr>) -> anyhow::Result<ServerConfig> {
        let mut config = ServerConfig::load(self.config.as_deref())?;
        config.apply_overrides(listen, self.data.clone());
        Ok(config)
    }
}

/// Arguments of `docent serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Address to listen on (default 127.0.0.1:8080).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
}

/// Run the server until Ctrl-C / SIGTERM.
pub fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let config = args.config.load(args.listen)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting tokio")?;
    runtime.block_on(async move {
        let server = Server::build(config).await?;
        let addr = server.local_addr()?;
        for bot in server.state.bots.iter() {
            match bot.generation() {
                Some(g) => eprintln!("bot {}: index generation {g}, generator {}", bot.config.id, bot.generator.name()),
                None => eprintln!("bot {}: NOT READY ({})", bot.config.id, bot.retriever().err().unwrap_or_default()),
            }
        }
        // The one line scripts wait for.
        println!("docent listening on http://{addr}");
        server.run(docent_server::shutdown_signal()).await?;
        eprintln!("docent stopped");
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `docent keys …`.
#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// Create a key; the key is printed once and never stored.
    Create(KeyCreateArgs),
    /// List keys (never their secrets).
    List(KeyListArgs),
    /// Revoke a key by id (`key_…`).
    Revoke(KeyRevokeArgs),
}

/// Arguments of `docent keys create`.
#[derive(Debug, clap::Args)]
pub struct KeyCreateArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Bot the key may use (repeat for several; none: every bot). Public keys: exactly one.
    #[arg(long = "bot")]
    pub bots: Vec<String>,
    /// Permissions, comma-separated: chat, search, conversations:read, admin.
    #[arg(long, value_delimiter = ',', default_value = "chat")]
    pub scopes: Vec<String>,
    /// A public `pk_` key for web pages (chat only, one bot, allowed origins only).
    #[arg(long)]
    pub public: bool,
    /// Origin allowed for this public key, in addition to the bot's (repeatable).
    #[arg(long = "origin")]
    pub origins: Vec<String>,
    /// A label for the operator.
    #[arg(long, default_value = "")]
    pub name: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `docent keys list`.
#[derive(Debug, clap::Args)]
pub struct KeyListArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `docent keys revoke`.
#[derive(Debug, clap::Args)]
pub struct KeyRevokeArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Key id (`key_…`, shown by `docent keys list`).
    pub id: String,
}

fn block_on<F: std::future::Future>(f: F) -> anyhow::Result<F::Output> {
    Ok(tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting tokio")?.block_on(f))
}

/// Run a `keys` subcommand.
pub fn keys(cmd: KeysCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        KeysCommand::Create(a) => {
            let config = a.config.load(None)?;
            for b in &a.bots {
                if config.bot(b).is_none() {
                    anyhow::bail!("no bot `{b}` in the configuration");
                }
            }
            if let Some(bad) = a.scopes.iter().find(|s| !SCOPES.contains(&s.as_str())) {
                anyhow::bail!("unknown scope `{bad}` (known: {})", SCOPES.join(", "));
            }
            let kind = if a.public { KeyKind::Public } else { KeyKind::Secret };
            let created = block_on(async {
                let store = Store::connect(&config.database_url()).await?;
                anyhow::Ok(create_key(&store, kind, &a.name, &a.bots, &a.scopes, &a.origins).await?)
            })??;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&created)?);
            } else {
                println!("{}", created.key);
                eprintln!(
                    "key {} ({:?}, bots: {}, scopes: {}) — shown once; store it now",
                    created.record.id,
                    created.record.kind,
                    if created.record.bots.is_empty() { "all".to_string() } else { created.record.bots.join(",") },
                    created.record.scopes.join(",")
                );
            }
        }
        KeysCommand::List(a) => {
            let config = a.config.load(None)?;
            let keys = block_on(async {
                let store = Store::connect(&config.database_url()).await?;
                anyhow::Ok(store.keys().await?)
            })??;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&keys)?);
            } else {
                println!("{:<18} {:<7} {:<14} {:<28} {:<10} name", "id", "kind", "bots", "scopes", "status");
                for k in keys {
                    println!(
                        "{:<18} {:<7} {:<14} {:<28} {:<10} {}",
                        k.id,
                        format!("{:?}", k.kind).to_lowercase(),
                        if k.bots.is_empty() { "*".to_string() } else { k.bots.join(",") },
                        k.scopes.join(","),
                        if k.revoked_at.is_some() { "revoked" } else { "active" },
                        k.name
                    );
                }
            }
        }
        KeysCommand::Revoke(a) => {
            let config = a.config.load(None)?;
            let done = block_on(async {
                let store = Store::connect(&config.database_url()).await?;
                anyhow::Ok(store.revoke_key(&a.id).await?)
            })??;
            if !done {
                eprintln!("error: no active key `{}`", a.id);
                return Ok(ExitCode::FAILURE);
            }
            eprintln!("revoked {}", a.id);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `docent bots …`.
#[derive(Debug, clap::Subcommand)]
pub enum BotsCommand {
    /// The configured bots and their index generations.
    List(KeyListArgs),
}

/// Run a `bots` subcommand.
pub fn bots(cmd: BotsCommand) -> anyhow::Result<ExitCode> {
    let BotsCommand::List(a) = cmd;
    let config = a.config.load(None)?;
    let mut rows = Vec::new();
    for b in &config.bots {
        let data = b.data.clone().unwrap_or_else(|| config.data.clone());
        let dir = docent_index::BotDir::new(&data, &b.id)?;
        let generation = dir.current().ok().flatten();
        rows.push(serde_json::json!({
            "id": b.id,
            "name": b.name.clone().unwrap_or_else(|| b.id.clone()),
            "generator": b.generator,
            "index": dir.path(),
            "generation": generation,
        }));
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        for r in rows {
            println!(
                "{:<16} generator {:<10} generation {:<6} {}",
                r["id"].as_str().unwrap_or(""),
                r["generator"].as_str().unwrap_or(""),
                r["generation"].as_u64().map(|g| g.to_string()).unwrap_or_else(|| "none".into()),
                r["index"].as_str().unwrap_or("")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
