//! # callex — the Callex binary
//!
//! One binary runs the whole exchange (SPEC §9): `callex serve` starts the
//! SIP service over UDP and TCP with its state in the store (SQLite in the
//! data directory, or PostgreSQL). The HTTP API, the portal and the DNS
//! directory join it in later releases. This crate is only the command
//! line, configuration and wiring; the rules live in the library crates.
//!
//! ```text
//! callex serve --sip-listen 0.0.0.0:5060 --data-dir /var/lib/callex
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use store::Store;
use switch::{SipConfig, SipService, TcpLimits};
use tracing::info;
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(name = "callex", version, about = "Callex: a VoIP call exchange")]
struct Cli {
    /// What to log: a level (`info`, `debug`) or per-crate directives
    /// (`info,switch=debug`).
    #[arg(
        long,
        value_name = "FILTER",
        env = "RUST_LOG",
        default_value = "info",
        global = true
    )]
    log: String,

    /// How log lines are written to standard error.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the exchange: SIP over UDP and TCP on every listen address.
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to serve SIP on, over both UDP and TCP. Repeat the flag (or
    /// separate with commas) for more; port 0 picks a free port.
    #[arg(
        long = "sip-listen",
        value_name = "ADDR",
        env = "CALLEX_SIP_LISTEN",
        value_delimiter = ',',
        default_value = "0.0.0.0:5060"
    )]
    sip_listen: Vec<SocketAddr>,

    /// Directory for Callex's data, created if missing: the embedded SQLite
    /// store (`callex.db`) lives here unless --database says otherwise.
    #[arg(
        long,
        value_name = "DIR",
        env = "CALLEX_DATA_DIR",
        default_value = "./callex-data"
    )]
    data_dir: PathBuf,

    /// Where the exchange keeps its state: `postgres://user@host/db` for
    /// PostgreSQL (several nodes sharing one database), `sqlite:FILE`, or
    /// nothing for SQLite in the data directory.
    #[arg(long, value_name = "URL", env = "CALLEX_DATABASE")]
    database: Option<String>,

    /// Close a SIP TCP connection after this many seconds without a complete
    /// message or keep-alive.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 120,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    sip_tcp_idle_timeout: u64,

    /// Most SIP TCP connections open at once; more are closed on arrival.
    #[arg(long, value_name = "N", default_value_t = 1024)]
    sip_tcp_max_connections: usize,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = init_logging(&cli.log, cli.log_format) {
        eprintln!("callex: {e:#}");
        return ExitCode::FAILURE;
    }
    let outcome = match cli.command {
        Command::Serve(args) => serve(args).await,
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("callex: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(filter: &str, format: LogFormat) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(filter)
        .with_context(|| format!("invalid log filter {filter:?} (--log or RUST_LOG)"))?;
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Text => logs.try_init(),
        LogFormat::Json => logs.json().try_init(),
    };
    installed.map_err(|e| anyhow::anyhow!("cannot start logging: {e}"))
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    // Listen for the stop signals before announcing anything, so that a
    // supervisor that stops us right after start is heard.
    let stop = StopSignal::listen().context("cannot listen for stop signals")?;

    std::fs::create_dir_all(&args.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {} — choose another with --data-dir",
            args.data_dir.display()
        )
    })?;
    let config = SipConfig {
        listen: args.sip_listen,
        tcp: TcpLimits {
            idle_timeout: Duration::from_secs(args.sip_tcp_idle_timeout),
            max_connections: args.sip_tcp_max_connections,
            ..TcpLimits::default()
        },
        ..SipConfig::default()
    };
    let target = match &args.database {
        Some(url) => url.clone(),
        None => args.data_dir.to_string_lossy().into_owned(),
    };
    let store = Store::open(&target)
        .await
        .with_context(|| "cannot open the store — check --database or --data-dir".to_string())?;
    let service = SipService::start(config, store)
        .await
        .map_err(|e| anyhow::anyhow!("{e} — choose another with --sip-listen"))?;

    announce(&format!("callex {} started", env!("CARGO_PKG_VERSION")));
    announce(&format!("data directory: {}", args.data_dir.display()));
    announce(&format!("store: {}", service.store().engine()));
    for socket in service.listening() {
        announce(&format!("listening: {socket}"));
    }
    info!(
        data_dir = %args.data_dir.display(),
        sockets = service.listening().len(),
        "serving SIP"
    );

    let signal = stop.wait().await;
    info!(signal, "stopping: no longer accepting SIP");
    let store = service.store().clone();
    service.stop().await;
    store.close().await;
    info!("stopped");
    Ok(())
}

/// One line for the operator on standard output. A closed or full stdout
/// (a supervisor that stopped reading) must not stop the exchange.
fn announce(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

/// Ctrl-C, and SIGTERM where there is one (how service managers stop us).
struct StopSignal {
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
}

impl StopSignal {
    fn listen() -> std::io::Result<StopSignal> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(StopSignal {
                terminate: signal(SignalKind::terminate())?,
                interrupt: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        Ok(StopSignal {})
    }

    /// Waits for a stop signal and names it.
    #[cfg(unix)]
    async fn wait(mut self) -> &'static str {
        tokio::select! {
            _ = self.terminate.recv() => "SIGTERM",
            _ = self.interrupt.recv() => "interrupt",
        }
    }

    #[cfg(not(unix))]
    async fn wait(self) -> &'static str {
        let _ = tokio::signal::ctrl_c().await;
        "interrupt"
    }
}
