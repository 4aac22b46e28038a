//! The binary's subcommands: `serve` (default), `migrate`, `create-superuser`
//! and `export-schema`.

use clap::{Parser, Subcommand};
use migration::{Migrator, MigratorTrait};
use secrecy::SecretString;

use crate::{
    config::Config,
    db, graphql, http,
    service::{AppContext, accounts},
    telemetry,
};

#[derive(Parser)]
#[command(
    name = "usergraph",
    version,
    about = "A GraphQL user-management service"
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
    },
    /// Create a superuser. The password is read from ADMIN_PASSWORD or prompted for.
    CreateSuperuser {
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
    },
    /// Print the GraphQL schema (SDL) that is committed as schema.graphql.
    ExportSchema,
}

pub async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::ExportSchema = command {
        print!("{}", graphql::sdl());
        return Ok(());
    }
    let _ = dotenvy::dotenv();
    let config = Config::from_env()?;
    telemetry::init(config.log_format);
    match command {
        Command::Serve => http::serve(config).await,
        Command::Migrate { down } => {
            let (conn, _) = db::connect(&config).await?;
            if down {
                Migrator::down(&conn, Some(1)).await?
            } else {
                Migrator::up(&conn, None).await?
            }
            println!(
                "migrations {}",
                if down {
                    "rolled back one step"
                } else {
                    "applied"
                }
            );
            Ok(())
        }
        Command::CreateSuperuser { username, email } => {
            let password = match std::env::var("ADMIN_PASSWORD") {
                Ok(password) if !password.is_empty() => password,
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
            let ctx = AppContext::new(conn, stats, config);
            let user =
                accounts::create_superuser(&ctx, &username, &email, &SecretString::from(password))
                    .await
                    .map_err(|e| anyhow::anyhow!("{}", e.public_message()))?;
            println!("superuser {} created", user.username);
            Ok(())
        }
        Command::ExportSchema => unreachable!("handled above"),
    }
}
