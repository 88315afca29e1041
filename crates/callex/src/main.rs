//! # callex — the Callex binary
//!
//! One binary runs the whole exchange (SPEC §9): `callex serve` starts the
//! SIP service over UDP and TCP, the HTTP API and the DNS number directory,
//! with their state in the store (SQLite in the data directory, or
//! PostgreSQL). The operator's commands (`member`, `number`, `token`) work
//! on the same store. The portal joins them in a later release. This crate is
//! only the command line, configuration and wiring; the rules live in the
//! library crates.
//!
//! ```text
//! callex serve --sip-listen 0.0.0.0:5060 --data-dir /var/lib/callex
//! callex member add --name "Alice Kim" --country KR
//! callex number grant 02-6200-6200-082 --member 1
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

mod claim;
mod config;
mod numbers;
mod operate;
mod order;
mod rent;

/// Small allocations from many threads, all the time: see the workspace
/// manifest for why not the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use config::Config;
use directory::DnsService;
use store::prelude::*;
use switch::{SipConfig, SipService, TcpLimits};
use tracing::info;
use tracing_subscriber::EnvFilter;
use web::HttpService;

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
    /// Run the exchange: SIP over UDP and TCP on every listen address, the
    /// HTTP API, and the number directory over DNS.
    Serve(Box<ServeArgs>),
    /// Members: add one, list them.
    #[command(subcommand)]
    Member(operate::MemberCommand),
    /// Numbers: grant one to a member, reset its SIP password, issue its
    /// provisioning profile.
    #[command(subcommand)]
    Number(operate::NumberCommand),
    /// The number inventory (numbers for sale): import a CSV file.
    #[command(subcommand)]
    Numbers(numbers::NumbersCommand),
    /// Claims of e-mail addresses and domains: add, verify, list, revoke.
    #[command(subcommand)]
    Claim(claim::ClaimCommand),
    /// Purchases of numbers: the approval queue, approve, reject.
    #[command(subcommand)]
    Order(order::OrderCommand),
    /// Members' prepaid balances: top up, show with the ledger.
    #[command(subcommand)]
    Balance(order::BalanceCommand),
    /// Monthly rentals of assigned numbers: run the billing run.
    #[command(subcommand)]
    Rent(rent::RentCommand),
    /// Operator API tokens.
    #[command(subcommand)]
    Token(operate::TokenCommand),
    /// Call detail records: one per call, answered or not.
    #[command(subcommand)]
    Cdr(operate::CdrCommand),
    /// How the exchange reads a dial string from a caller (what it rings,
    /// or the refusal the caller hears), without placing a call.
    Dial(operate::Dial),
}

/// Where the store is, for every command. Each setting also comes from its
/// environment variable or the configuration file; a flag wins over the
/// environment, which wins over the file.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// TOML file with any of these settings, named as the flags with `_`
    /// for `-` (`data_dir = "/var/lib/callex"`).
    #[arg(long, value_name = "FILE", env = "CALLEX_CONFIG")]
    config: Option<PathBuf>,

    /// Directory for Callex's data, created if missing: the embedded SQLite
    /// store (`callex.db`) lives here unless --database says otherwise.
    /// [default: ./callex-data]
    #[arg(long, value_name = "DIR", env = "CALLEX_DATA_DIR")]
    data_dir: Option<PathBuf>,

    /// Where the exchange keeps its state: `postgres://user@host/db` for
    /// PostgreSQL (several nodes sharing one database), `sqlite:FILE`, or
    /// nothing for SQLite in the data directory.
    #[arg(long, value_name = "URL", env = "CALLEX_DATABASE")]
    database: Option<String>,

    /// The digest realm of members' SIP passwords. Changing it invalidates
    /// every stored SIP password. [default: callex]
    #[arg(long, value_name = "REALM", env = "CALLEX_REALM")]
    realm: Option<String>,
}

impl StoreArgs {
    /// The settings these flags give, over the file's, over the defaults.
    pub fn resolve(self, flags: config::Layer) -> anyhow::Result<Config> {
        let flags = config::Layer {
            data_dir: self.data_dir,
            database: self.database,
            realm: self.realm,
            ..flags
        };
        Config::resolve(flags, self.config.as_deref())
    }
}

#[derive(Debug, Args)]
struct ServeArgs {
    #[command(flatten)]
    store: StoreArgs,

    #[command(flatten)]
    claim_checks: claim::ClaimCheckArgs,

    /// Address to serve SIP on, over both UDP and TCP. Repeat the flag (or
    /// separate with commas) for more; port 0 picks a free port.
    /// [default: 0.0.0.0:5060]
    #[arg(
        long = "sip-listen",
        value_name = "ADDR",
        env = "CALLEX_SIP_LISTEN",
        value_delimiter = ','
    )]
    sip_listen: Option<Vec<SocketAddr>>,

    /// Address to serve the HTTP API on. [default: 127.0.0.1:8080]
    #[arg(long, value_name = "ADDR", env = "CALLEX_HTTP_LISTEN")]
    http_listen: Option<SocketAddr>,

    /// Address to serve the number directory (ENUM NAPTR records) on, over
    /// both UDP and TCP; `0.0.0.0:53` in production (port 53 needs root or
    /// CAP_NET_BIND_SERVICE). [default: 127.0.0.1:5300]
    #[arg(long, value_name = "ADDR", env = "CALLEX_DNS_LISTEN")]
    dns_listen: Option<SocketAddr>,

    /// The domain the directory's names are under, e.g.
    /// 0.0.2.6.0.0.2.6.2.0.082.pin.<APEX> for 02-6200-6200-082; the
    /// operator delegates it to this exchange. [default: callex.arpa.]
    #[arg(long, value_name = "NAME", env = "CALLEX_DNS_APEX")]
    dns_apex: Option<String>,

    /// The operator API token (16 characters or more), installed at start
    /// under the name "admin". Without it, the first start creates one and
    /// prints it once.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "CALLEX_ADMIN_TOKEN",
        hide_env_values = true
    )]
    admin_token: Option<String>,

    /// This node's name in call records, stable across restarts.
    /// [default: the host name]
    #[arg(long, value_name = "NAME", env = "CALLEX_NODE")]
    node: Option<String>,

    /// Close a SIP TCP connection after this many seconds without a complete
    /// message or keep-alive. [default: 120]
    #[arg(
        long,
        value_name = "SECONDS",
        env = "CALLEX_SIP_TCP_IDLE_TIMEOUT",
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    sip_tcp_idle_timeout: Option<u64>,

    /// Most SIP TCP connections open at once; more are closed on arrival.
    /// [default: 1024]
    #[arg(long, value_name = "N", env = "CALLEX_SIP_TCP_MAX_CONNECTIONS")]
    sip_tcp_max_connections: Option<usize>,

    /// Digest algorithms phones are challenged with, preferred first (one
    /// WWW-Authenticate each). Some phones fail on a challenge they do not
    /// know rather than answer the next (baresip 1.0) or read only the
    /// first (SIPp), hence MD5 alone by default; `sha-256,md5` offers
    /// SHA-256 to phones that handle both, `sha-256` requires it.
    /// [default: md5]
    #[arg(
        long,
        value_name = "LIST",
        env = "CALLEX_DIGEST_ALGORITHMS",
        value_delimiter = ','
    )]
    digest_algorithms: Option<Vec<String>>,

    /// Seconds a call may ring unanswered before the caller hears 480 and
    /// the callee's phones stop ringing. [default: 60]
    #[arg(
        long,
        value_name = "SECONDS",
        env = "CALLEX_RING_TIMEOUT",
        value_parser = clap::value_parser!(u64).range(1..=86_400)
    )]
    ring_timeout: Option<u64>,

    /// On SIGTERM or Ctrl-C, seconds the calls in progress may go on while
    /// new ones are refused; then they are ended and every CDR written.
    /// [default: 30]
    #[arg(
        long,
        value_name = "SECONDS",
        env = "CALLEX_SHUTDOWN_GRACE",
        value_parser = clap::value_parser!(u64).range(0..=86_400)
    )]
    shutdown_grace: Option<u64>,

    /// Seconds an approved purchase holds its number for the buyer to pay;
    /// then the number is for sale again. [default: 1800]
    #[arg(
        long,
        value_name = "SECONDS",
        env = "CALLEX_ORDER_HOLD",
        value_parser = clap::value_parser!(u64).range(1..=30 * 86_400)
    )]
    order_hold: Option<u64>,

    /// Days a number given back stays out of sale, so that the previous
    /// holder's callers do not reach the next one (0: for sale at once).
    /// [default: 90]
    #[arg(long, value_name = "DAYS", env = "CALLEX_NUMBER_QUARANTINE")]
    number_quarantine: Option<u64>,

    /// Host or IP address written in the exchange's Contact and Via headers
    /// (a public address when the exchange is behind NAT). [default: the
    /// address each call's packets leave from]
    #[arg(long, value_name = "HOST", env = "CALLEX_SIP_ADVERTISE")]
    sip_advertise: Option<String>,
}

impl ServeArgs {
    fn resolve(self) -> anyhow::Result<Config> {
        let flags = config::Layer {
            sip_listen: self.sip_listen,
            http_listen: self.http_listen,
            dns_listen: self.dns_listen,
            dns_apex: self.dns_apex,
            admin_token: self.admin_token,
            node: self.node,
            sip_tcp_idle_timeout: self.sip_tcp_idle_timeout,
            sip_tcp_max_connections: self.sip_tcp_max_connections,
            digest_algorithms: self.digest_algorithms,
            ring_timeout: self.ring_timeout,
            shutdown_grace: self.shutdown_grace,
            order_hold: self.order_hold,
            number_quarantine: self.number_quarantine,
            sip_advertise: self.sip_advertise,
            ..self.claim_checks.layer()
        };
        self.store.resolve(flags)
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = init_logging(&cli.log, cli.log_format) {
        eprintln!("callex: {e:#}");
        return ExitCode::FAILURE;
    }
    let outcome = match cli.command {
        Command::Serve(args) => match args.resolve() {
            Ok(config) => serve(config).await,
            Err(e) => Err(e),
        },
        Command::Claim(command) => command.run().await,
        Command::Order(command) => command.run().await,
        Command::Balance(command) => command.run().await,
        Command::Rent(command) => command.run().await,
        Command::Member(command) => command.run().await,
        Command::Number(command) => command.run().await,
        Command::Numbers(command) => command.run().await,
        Command::Token(command) => command.run().await,
        Command::Cdr(command) => command.run().await,
        Command::Dial(command) => command.run().await,
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

async fn serve(config: Config) -> anyhow::Result<()> {
    // Listen for the stop signals before announcing anything, so that a
    // supervisor that stops us right after start is heard.
    let stop = StopSignal::listen().context("cannot listen for stop signals")?;

    let store = open_store(&config).await?;
    install_operator_token(&store, config.admin_token.as_deref()).await?;
    let sip_config = SipConfig {
        listen: config.sip_listen.clone(),
        tcp: TcpLimits {
            idle_timeout: config.sip_tcp_idle_timeout,
            max_connections: config.sip_tcp_max_connections,
            ..TcpLimits::default()
        },
        realm: config.realm.clone(),
        registrar: switch::RegistrarConfig {
            algorithms: config.digest_algorithms.clone(),
            ..switch::RegistrarConfig::default()
        },
        node: config.node.clone(),
        calls: switch::CallConfig {
            ring_timeout: config.ring_timeout,
            advertise: config.sip_advertise.clone(),
            ..switch::CallConfig::default()
        },
        ..SipConfig::default()
    };
    let service = SipService::start(sip_config, store.clone())
        .await
        .map_err(|e| anyhow::anyhow!("{e} — choose another with --sip-listen"))?;
    let dns = match DnsService::start(
        directory::DnsConfig {
            listen: config.dns_listen,
            apex: config.dns_apex.clone(),
            ..directory::DnsConfig::default()
        },
        store.clone(),
    )
    .await
    {
        Ok(dns) => dns,
        Err(e) => {
            service.stop().await;
            store.close().await;
            anyhow::bail!("{e} — choose another with --dns-listen");
        }
    };
    let http = match HttpService::start(
        config.http_listen,
        web::AppState::new(store.clone(), &config.realm)
            .with_claim_checks(config.claim_checks.clone())
            .with_order_hold(config.order_hold)
            .with_number_quarantine(config.number_quarantine)
            .with_provisioning(provisioning_target(
                config.sip_advertise.as_deref(),
                service.listening().iter().map(|l| (l.transport, l.addr)),
            )),
    )
    .await
    {
        Ok(http) => http,
        Err(e) => {
            dns.stop().await;
            service.stop().await;
            store.close().await;
            anyhow::bail!("{e} — choose another with --http-listen");
        }
    };

    // Reads already see a run-out hold as expired; the sweep puts its
    // number back where the search finds it.
    let hold_sweep =
        web::orders::spawn_hold_expiry(store.clone(), web::orders::HOLD_SWEEP_INTERVAL);
    // The current month's rentals not charged yet (at the start, then every
    // hour), and numbers whose quarantine ended back on sale.
    let rental_run =
        web::rentals::spawn_rental_run(store.clone(), web::rentals::RENTAL_RUN_INTERVAL);
    let purge = web::periodic::purge_expired(store.clone(), web::periodic::PURGE_INTERVAL);

    announce(&format!("callex {} started", env!("CARGO_PKG_VERSION")));
    announce(&format!("data directory: {}", config.data_dir.display()));
    announce(&format!("store: {}", store.engine()));
    announce(&format!("node: {}", config.node));
    for socket in service.listening() {
        announce(&format!("listening: {socket}"));
    }
    announce(&format!(
        "listening: DNS over UDP and TCP on {} for {}",
        dns.local_addr(),
        dns.apex()
    ));
    announce(&format!("listening: HTTP on {}", http.local_addr()));
    info!(
        data_dir = %config.data_dir.display(),
        sockets = service.listening().len(),
        http = %http.local_addr(),
        dns = %dns.local_addr(),
        "serving SIP, HTTP and DNS"
    );

    let signal = stop.wait().await;
    info!(
        signal,
        grace = ?config.shutdown_grace,
        "stopping: new calls refused, calls in progress may finish"
    );
    http.stop().await;
    hold_sweep.abort();
    rental_run.abort();
    purge.abort();
    dns.stop().await;
    service.shutdown(config.shutdown_grace).await;
    store.close().await;
    info!("stopped");
    Ok(())
}

/// What provisioning profiles tell phones: the advertised host, and every
/// SIP socket (as bound, so port 0 is the port picked).
pub fn provisioning_target(
    advertise: Option<&str>,
    sockets: impl IntoIterator<Item = (switch::Transport, SocketAddr)>,
) -> web::provisioning::ProvisioningTarget {
    use web::provisioning::SipTransport;
    web::provisioning::ProvisioningTarget {
        host: advertise.map(str::to_owned),
        listeners: sockets
            .into_iter()
            .map(|(transport, addr)| {
                let transport = match transport {
                    switch::Transport::Udp => SipTransport::Udp,
                    switch::Transport::Tcp => SipTransport::Tcp,
                };
                (transport, addr)
            })
            .collect(),
    }
}

/// Opens the store the configuration names, creating the data directory
/// for SQLite. Every command goes through here, so they all agree.
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    if config.database.is_none() {
        std::fs::create_dir_all(&config.data_dir).with_context(|| {
            format!(
                "cannot create the data directory {} — choose another with --data-dir",
                config.data_dir.display()
            )
        })?;
    }
    Store::open(&config.store_target())
        .await
        .context("cannot open the store — check --database or --data-dir")
}

/// `--admin-token` replaces the "admin" token; without it, a store with no
/// token at all gets one, shown this once.
async fn install_operator_token(store: &Store, admin_token: Option<&str>) -> anyhow::Result<()> {
    const NAME: &str = "admin";
    if let Some(token) = admin_token {
        store
            .set_token(NAME, token)
            .await
            .context("cannot install --admin-token")?;
        return Ok(());
    }
    if !store.tokens().await?.is_empty() {
        return Ok(());
    }
    match store.create_token(NAME).await {
        Ok(token) => announce(&format!(
            "operator API token: {}, keep it: it is not shown again",
            token.plaintext
        )),
        // Another node sharing the database created it first.
        Err(StoreError::Conflict { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

/// One line for the operator on standard output. A closed or full stdout
/// (a supervisor that stopped reading) must not stop the exchange.
pub fn announce(line: &str) {
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
