//! The binary's subcommands: `serve` (default), `migrate`, `create-superuser`
//! and `export-schema`.

use std::io::IsTerminal;

use clap::{Parser, Subcommand};
use migration::{Migrator, MigratorTrait};
use secrecy::{ExposeSecret, SecretString};

mod keycloak;
mod transfer;

use crate::{
    app,
    config::{AppEnv, Config},
    db, graphql,
    service::{
        AppContext, accounts,
        imports::{self, OnConflict},
    },
    telemetry,
};

#[derive(Parser)]
#[command(
    name = "usergraph",
    version,
    about = "A GraphQL user-management service",
    after_help = "Configuration comes from the environment (a .env file is read first when \
present). The main variables: DATABASE_URL (default sqlite://usergraph.db?mode=rwc), BIND_ADDR \
(127.0.0.1:8000), APP_ENV (development | production), JWT_SECRET (required in production), \
TRUSTED_PROXIES, CORS_ALLOWED_ORIGINS, RATE_LIMITS, LOG_FORMAT and RUST_LOG, \
DATABASE_CONNECT_TIMEOUT_SECS, SHUTDOWN_GRACE_SECS. README.md, section Configuration, lists \
every one with its default."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run pending migrations, then serve the API (the default).
    Serve,
    /// Apply pending migrations (or roll back the newest with `--down`).
    Migrate {
        /// Roll back the most recent migration instead.
        #[arg(long)]
        down: bool,
        /// Confirm `--down` when APP_ENV=production (it drops what the
        /// migration added, data included).
        #[arg(long)]
        yes: bool,
        #[command(subcommand)]
        action: Option<MigrateAction>,
    },
    /// Create a superuser. The password is read from ADMIN_PASSWORD (or the
    /// file ADMIN_PASSWORD_FILE names), else from
    /// the first line of standard input when it is not a terminal, else
    /// prompted for (twice).
    CreateSuperuser {
        #[arg(long, env = "ADMIN_USERNAME")]
        username: String,
        #[arg(long, env = "ADMIN_EMAIL")]
        email: String,
    },
    /// Import users from a file of JSON lines: one user per line, with
    /// `importUsers`' fields (`email`, `username`, `passwordHash`,
    /// `roleNames`, `tierName`, `externalId`, …), as `export` writes them.
    /// Failing lines are reported on standard error and the exit code is
    /// non-zero; with `--on-conflict fail` (the default) the whole file is
    /// checked first and nothing is written when a line fails.
    Import {
        /// The JSON lines file.
        file: std::path::PathBuf,
        /// Check everything, write nothing.
        #[arg(long)]
        dry_run: bool,
        /// A line naming an existing user (by externalId, email or username).
        #[arg(long, value_enum, default_value = "fail")]
        on_conflict: ConflictArg,
        /// Users per transaction (at most 1000).
        #[arg(long, default_value_t = 500)]
        batch_size: usize,
    },
    /// Write every user (erased ones aside) to standard output as JSON
    /// lines that `import` reads: profile, roles and tier by name,
    /// metadata, verification, times and externalId.
    Export {
        /// Include each user's password hash (argon2id, or an imported
        /// hash not yet replaced). Only from the shell, never over GraphQL:
        /// the file is then as secret as the database.
        #[arg(long)]
        include_password_hashes: bool,
    },
    /// Turn a Keycloak realm export (`kc.sh export --realm R --file
    /// realm.json`) into the JSON lines `import` reads, on standard output:
    /// its realm roles, and its users with their password hashes
    /// (pbkdf2-sha256, pbkdf2-sha512, argon2) as PHC strings.
    ConvertKeycloak {
        /// The realm export.
        file: std::path::PathBuf,
    },
    /// Print the GraphQL schema (SDL) that is committed as schema.graphql.
    ExportSchema,
    /// Exit 0 when the server on this machine is ready (`/health/ready`
    /// on BIND_ADDR's port answers 200 within 3 s), 1 otherwise: a
    /// container health check for an image with no shell or curl.
    Health,
}

/// `--on-conflict`.
#[derive(Clone, Copy, clap::ValueEnum)]
enum ConflictArg {
    /// Nothing is written when any line fails.
    Fail,
    /// Lines naming an existing user are passed over.
    Skip,
    /// The existing user takes the line's fields.
    Update,
}

impl From<ConflictArg> for OnConflict {
    fn from(value: ConflictArg) -> Self {
        match value {
            ConflictArg::Fail => OnConflict::Fail,
            ConflictArg::Skip => OnConflict::Skip,
            ConflictArg::Update => OnConflict::Update,
        }
    }
}

#[derive(Subcommand)]
enum MigrateAction {
    /// List every migration, applied or pending, and change nothing.
    Status,
}

/// Reports the error that stops the process on standard error: one JSON
/// object when the logs are JSON (`LOG_FORMAT=json`, or production without
/// `LOG_FORMAT`), so a log pipeline reads it like every other line; else a
/// plain line with its causes. Read from the environment, as the
/// configuration itself may be what failed.
pub fn report_fatal(err: &anyhow::Error) {
    let format = std::env::var("LOG_FORMAT").ok();
    let json = format.as_deref() == Some("json") || (format.is_none() && production_from_env());
    let message = format!("{err:#}");
    if json {
        eprintln!(
            "{}",
            serde_json::json!({
                "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                "level": "ERROR",
                "target": "usergraph",
                "message": "usergraph could not start or run",
                "error": message,
            })
        );
    } else {
        eprintln!("usergraph: {message}");
    }
}

/// Whether the process environment says `APP_ENV=production`.
fn production_from_env() -> bool {
    std::env::var("APP_ENV").is_ok_and(|env| {
        matches!(
            env.trim().to_ascii_lowercase().as_str(),
            "production" | "prod"
        )
    })
}

/// `usergraph health`: asks this machine's server whether it is ready.
async fn health() -> anyhow::Result<()> {
    if !production_from_env() {
        let _ = dotenvy::dotenv();
    }
    let mut addr: std::net::SocketAddr = std::env::var("BIND_ADDR")
        .ok()
        .filter(|raw| !raw.trim().is_empty())
        .unwrap_or_else(|| "127.0.0.1:8000".into())
        .trim()
        .parse()
        .map_err(|_| anyhow::anyhow!("BIND_ADDR is not an address such as 0.0.0.0:8000"))?;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let url = format!("http://{addr}/health/ready");
    let answer = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(3))
        .build()?
        .get(&url)
        .send()
        .await;
    match answer {
        Ok(answer) if answer.status().is_success() => {
            println!("ready: {url}");
            Ok(())
        }
        Ok(answer) => anyhow::bail!("not ready: {url} answered {}", answer.status()),
        Err(err) => anyhow::bail!("not ready: {url}: {err}"),
    }
}

pub async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve);
    match command {
        Command::ExportSchema => {
            print!("{}", graphql::sdl());
            return Ok(());
        }
        // Needs nothing but the port: no configuration check, no logging setup.
        Command::Health => return health().await,
        // Needs nothing but the file.
        Command::ConvertKeycloak { file } => {
            let realm: serde_json::Value = serde_json::from_reader(std::io::BufReader::new(
                std::fs::File::open(&file)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?,
            ))
            .map_err(|e| anyhow::anyhow!("{}: not a realm export: {e}", file.display()))?;
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            let (users, left_out) = keycloak::convert(&realm, &mut out)?;
            std::io::Write::flush(&mut out)?;
            eprintln!(
                "{users} users converted; {left_out} left out (service accounts, and users without an email)"
            );
            return Ok(());
        }
        _ => {}
    }
    // A production process takes its configuration from its environment
    // only: a `.env` in its working directory (writable `/data` in the
    // image) must not change it.
    if !production_from_env() {
        let _ = dotenvy::dotenv();
    }
    let config = match &command {
        // Neither serves: the database settings are all they need.
        Command::Migrate { .. }
        | Command::CreateSuperuser { .. }
        | Command::Import { .. }
        | Command::Export { .. } => Config::for_database_from_env()?,
        _ => Config::from_env()?,
    };
    // Import and export keep standard output for their own output.
    let to_stderr = matches!(command, Command::Export { .. } | Command::Import { .. });
    let traces = telemetry::init(config.log_format, config.export_traces, to_stderr);
    let outcome = run_command(command, config).await;
    if let Some(provider) = traces {
        // Flushes the spans still batched; off the runtime, as the exporter blocks.
        let _ = tokio::task::spawn_blocking(move || provider.shutdown()).await;
    }
    outcome
}

async fn run_command(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve => app::serve(config).await,
        Command::Migrate {
            action: Some(MigrateAction::Status),
            ..
        } => {
            let (conn, _) = db::connect(&config).await?;
            let migrations = db::migration_status(&conn).await?;
            let pending = migrations.iter().filter(|(_, applied)| !applied).count();
            for (name, applied) in &migrations {
                let state = if *applied { "applied" } else { "pending" };
                println!("{state:<8} {name}");
            }
            telemetry::announce(
                config.log_format,
                &format!("{} applied, {pending} pending", migrations.len() - pending),
            );
            Ok(())
        }
        Command::Migrate {
            down: true,
            yes: false,
            ..
        } if config.app_env == AppEnv::Production => anyhow::bail!(
            "migrate --down drops what the newest migration added, data included; with APP_ENV=production it needs --yes"
        ),
        Command::Migrate { down, .. } => {
            let (conn, _) = db::connect(&config).await?;
            if !down {
                let pending = Migrator::get_pending_migrations(&conn).await?.len();
                db::migrate(&conn).await?;
                let line = match pending {
                    0 => "no pending migration".to_owned(),
                    n => format!("{n} migration(s) applied"),
                };
                telemetry::announce(config.log_format, &line);
            } else if let Some(last) = Migrator::get_applied_migrations(&conn).await?.last() {
                let name = last.name().to_owned();
                Migrator::down(&conn, Some(1)).await?;
                telemetry::announce(config.log_format, &format!("migration {name} rolled back"));
            } else {
                telemetry::announce(config.log_format, "no migration to roll back");
            }
            Ok(())
        }
        Command::CreateSuperuser { username, email } => {
            let password = match crate::config::secret_from_env("ADMIN_PASSWORD")? {
                Some(password) => password.expose_secret().to_owned(),
                // Piped in (a script, a secret store): the first line of standard input.
                _ if !std::io::stdin().is_terminal() => {
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line)?;
                    let password = line.trim_end_matches(['\r', '\n']).to_owned();
                    if password.is_empty() {
                        anyhow::bail!("no password on standard input");
                    }
                    password
                }
                _ => {
                    let first = rpassword::prompt_password("Password: ")?;
                    if rpassword::prompt_password("Password (again): ")? != first {
                        anyhow::bail!("the passwords do not match");
                    }
                    first
                }
            };
            let (conn, stats) = db::connect(&config).await?;
            db::migrate(&conn).await?;
            let ctx = AppContext::new(conn, stats, config)?;
            let user =
                accounts::create_superuser(&ctx, &username, &email, &SecretString::from(password))
                    .await
                    .map_err(|e| anyhow::anyhow!("{}", e.public_message()))?;
            telemetry::announce(
                ctx.config.log_format,
                &format!("superuser {} created", user.username),
            );
            Ok(())
        }
        Command::Import {
            file,
            dry_run,
            on_conflict,
            batch_size,
        } => {
            if !(1..=imports::MAX_BATCH).contains(&batch_size) {
                anyhow::bail!("--batch-size must be 1 to {}", imports::MAX_BATCH);
            }
            let (conn, stats) = db::connect(&config).await?;
            db::migrate(&conn).await?;
            let ctx = AppContext::new(conn, stats, config)?;
            if transfer::import(&ctx, &file, on_conflict.into(), dry_run, batch_size).await? {
                Ok(())
            } else {
                anyhow::bail!("some lines were not imported (listed above)")
            }
        }
        Command::Export {
            include_password_hashes,
        } => {
            let (conn, stats) = db::connect(&config).await?;
            db::migrate(&conn).await?;
            let ctx = AppContext::new(conn, stats, config)?;
            let count = transfer::export(&ctx, include_password_hashes).await?;
            eprintln!("{count} users exported");
            Ok(())
        }
        Command::ExportSchema | Command::Health | Command::ConvertKeycloak { .. } => {
            unreachable!("handled above")
        }
    }
}
