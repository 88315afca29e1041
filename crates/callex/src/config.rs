//! Callex's settings, from four places in order of precedence: command-line
//! flags, `CALLEX_*` environment variables (clap reads both), a TOML file
//! (`--config FILE`), and the defaults here.
//!
//! The file takes the same names as the flags, with `_` for `-`:
//!
//! ```toml
//! sip_listen = ["0.0.0.0:5060"]
//! http_listen = "127.0.0.1:8080"
//! dns_listen = "127.0.0.1:5300"  # port 53 in production: "0.0.0.0:53"
//! dns_apex = "callex.arpa."
//! data_dir = "/var/lib/callex"
//! # database = "postgres://callex@db/callex"
//! realm = "callex"
//! node = "exchange-1"
//! sip_tcp_idle_timeout = 120
//! sip_tcp_max_connections = 1024
//! digest_algorithms = ["md5"]
//! ring_timeout = 60
//! shutdown_grace = 30
//! order_hold = 1800  # how long an approved purchase holds its number
//! number_quarantine = 90  # days a number given back stays out of sale
//! # sip_advertise = "203.0.113.7"
//! # claim_resolver = "192.0.2.53:53"   # default: the system's resolver
//! # smtp_relay = "127.0.0.1:25"
//! # smtp_from = "callex@example.net"
//! ```

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use serde::Deserialize;

pub const DEFAULT_HTTP_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 8080);
pub const DEFAULT_DATA_DIR: &str = "./callex-data";
const DEFAULT_TCP_IDLE_TIMEOUT_SECS: u64 = 120;
const DEFAULT_TCP_MAX_CONNECTIONS: usize = 1024;
const DEFAULT_SHUTDOWN_GRACE_SECS: u64 = 30;

/// The settings one source gives; `None` where it says nothing.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    pub sip_listen: Option<Vec<SocketAddr>>,
    pub http_listen: Option<SocketAddr>,
    pub dns_listen: Option<SocketAddr>,
    pub dns_apex: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub database: Option<String>,
    pub realm: Option<String>,
    pub admin_token: Option<String>,
    pub node: Option<String>,
    pub sip_tcp_idle_timeout: Option<u64>,
    pub sip_tcp_max_connections: Option<usize>,
    pub digest_algorithms: Option<Vec<String>>,
    pub ring_timeout: Option<u64>,
    pub shutdown_grace: Option<u64>,
    pub order_hold: Option<u64>,
    pub number_quarantine: Option<u64>,
    pub sip_advertise: Option<String>,
    pub claim_resolver: Option<SocketAddr>,
    pub smtp_relay: Option<String>,
    pub smtp_from: Option<String>,
}

impl Layer {
    /// Reads a TOML file; a syntax error or an unknown key names its line.
    pub fn from_file(path: &Path) -> anyhow::Result<Layer> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the configuration file {}", path.display()))?;
        Layer::from_toml(&text)
            .with_context(|| format!("configuration file {} is not valid", path.display()))
    }

    fn from_toml(text: &str) -> anyhow::Result<Layer> {
        // toml's message already says "at line N, column M" and quotes the
        // line; trimmed, it fits one error chain.
        toml::from_str(text).map_err(|e| anyhow::anyhow!("{}", e.to_string().trim_end()))
    }

    /// Every setting of `self`, and those of `below` where `self` has none.
    pub fn over(self, below: Layer) -> Layer {
        Layer {
            sip_listen: self.sip_listen.or(below.sip_listen),
            http_listen: self.http_listen.or(below.http_listen),
            dns_listen: self.dns_listen.or(below.dns_listen),
            dns_apex: self.dns_apex.or(below.dns_apex),
            data_dir: self.data_dir.or(below.data_dir),
            database: self.database.or(below.database),
            realm: self.realm.or(below.realm),
            admin_token: self.admin_token.or(below.admin_token),
            node: self.node.or(below.node),
            sip_tcp_idle_timeout: self.sip_tcp_idle_timeout.or(below.sip_tcp_idle_timeout),
            sip_tcp_max_connections: self
                .sip_tcp_max_connections
                .or(below.sip_tcp_max_connections),
            digest_algorithms: self.digest_algorithms.or(below.digest_algorithms),
            ring_timeout: self.ring_timeout.or(below.ring_timeout),
            shutdown_grace: self.shutdown_grace.or(below.shutdown_grace),
            order_hold: self.order_hold.or(below.order_hold),
            number_quarantine: self.number_quarantine.or(below.number_quarantine),
            sip_advertise: self.sip_advertise.or(below.sip_advertise),
            claim_resolver: self.claim_resolver.or(below.claim_resolver),
            smtp_relay: self.smtp_relay.or(below.smtp_relay),
            smtp_from: self.smtp_from.or(below.smtp_from),
        }
    }
}

/// Digest algorithm names (`sha-256`, `md5`, any case) in the order given.
fn digest_algorithms(names: &[String]) -> anyhow::Result<Vec<sip::digest::Algorithm>> {
    let mut algorithms = Vec::new();
    for name in names {
        let algorithm: sip::digest::Algorithm = name
            .trim()
            .parse()
            .map_err(|_| anyhow::anyhow!("digest algorithm {name:?} is not one of sha-256, md5"))?;
        if !algorithms.contains(&algorithm) {
            algorithms.push(algorithm);
        }
    }
    Ok(algorithms)
}

/// `HOST:PORT` (`[IPv6]:PORT` too) of the SMTP relay.
fn smtp_relay(relay: &str) -> anyhow::Result<(String, u16)> {
    relay
        .rsplit_once(':')
        .and_then(|(host, port)| Some((host.trim_matches(['[', ']']), port.parse().ok()?)))
        .filter(|(host, _)| !host.is_empty())
        .map(|(host, port)| (host.to_owned(), port))
        .with_context(|| format!("smtp_relay {relay:?} is not HOST:PORT (e.g. 127.0.0.1:25)"))
}

/// Every setting, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub sip_listen: Vec<SocketAddr>,
    pub http_listen: SocketAddr,
    /// Where the number directory answers DNS, over UDP and TCP.
    pub dns_listen: SocketAddr,
    /// The domain the number directory's names are under.
    pub dns_apex: String,
    pub data_dir: PathBuf,
    /// `None`: SQLite in the data directory.
    pub database: Option<String>,
    /// The digest realm of members' SIP credentials.
    pub realm: String,
    /// The operator API token to install at start.
    pub admin_token: Option<String>,
    /// This node's name in CDRs and bindings: stable across restarts.
    pub node: String,
    pub sip_tcp_idle_timeout: Duration,
    pub sip_tcp_max_connections: usize,
    /// What REGISTERs and INVITEs are challenged with, preferred first.
    pub digest_algorithms: Vec<sip::digest::Algorithm>,
    /// How long a call may ring unanswered.
    pub ring_timeout: Duration,
    /// How long calls in progress may go on after a stop signal.
    pub shutdown_grace: Duration,
    /// How long an approved purchase holds its number for the buyer.
    pub order_hold: Duration,
    /// How long a number given back stays out of sale (0: back at once).
    pub number_quarantine: Duration,
    /// The host the exchange writes in its Contact and Via headers.
    pub sip_advertise: Option<String>,
    /// Where claims' proofs are checked (DNS resolver, SMTP relay).
    pub claim_checks: web::claims::ClaimChecks,
}

impl Config {
    /// `flags` (with the environment folded in by clap) over the file at
    /// `file`, if any, over the defaults.
    pub fn resolve(flags: Layer, file: Option<&Path>) -> anyhow::Result<Config> {
        let layer = match file {
            Some(path) => flags.over(Layer::from_file(path)?),
            None => flags,
        };
        let claim_checks = web::claims::ClaimChecks {
            resolver: layer.claim_resolver,
            smtp_relay: match layer.smtp_relay.as_deref() {
                None | Some("") => None,
                Some(relay) => Some(smtp_relay(relay)?),
            },
            smtp_from: layer.smtp_from.filter(|from| !from.is_empty()),
        };
        let config = Config {
            claim_checks,
            sip_listen: layer
                .sip_listen
                .unwrap_or_else(|| switch::SipConfig::default().listen),
            http_listen: layer.http_listen.unwrap_or(DEFAULT_HTTP_LISTEN),
            dns_listen: layer.dns_listen.unwrap_or(directory::DEFAULT_LISTEN),
            dns_apex: layer
                .dns_apex
                .unwrap_or_else(|| directory::DEFAULT_APEX.to_owned()),
            data_dir: layer
                .data_dir
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
            database: layer.database.filter(|url| !url.is_empty()),
            realm: layer
                .realm
                .unwrap_or_else(|| switch::DEFAULT_REALM.to_owned()),
            admin_token: layer.admin_token.filter(|token| !token.is_empty()),
            node: layer.node.unwrap_or_else(default_node),
            sip_tcp_idle_timeout: Duration::from_secs(
                layer
                    .sip_tcp_idle_timeout
                    .unwrap_or(DEFAULT_TCP_IDLE_TIMEOUT_SECS),
            ),
            sip_tcp_max_connections: layer
                .sip_tcp_max_connections
                .unwrap_or(DEFAULT_TCP_MAX_CONNECTIONS),
            digest_algorithms: match layer.digest_algorithms {
                None => switch::RegistrarConfig::default().algorithms,
                Some(names) => digest_algorithms(&names)?,
            },
            ring_timeout: layer.ring_timeout.map_or(
                switch::CallConfig::default().ring_timeout,
                Duration::from_secs,
            ),
            shutdown_grace: Duration::from_secs(
                layer.shutdown_grace.unwrap_or(DEFAULT_SHUTDOWN_GRACE_SECS),
            ),
            order_hold: layer.order_hold.map_or(
                Duration::from_millis(store::orders::DEFAULT_HOLD_MS.unsigned_abs()),
                Duration::from_secs,
            ),
            number_quarantine: layer.number_quarantine.map_or(
                Duration::from_millis(store::rentals::DEFAULT_QUARANTINE_MS.unsigned_abs()),
                |days| Duration::from_secs(days.saturating_mul(86_400)),
            ),
            sip_advertise: layer.sip_advertise.filter(|host| !host.is_empty()),
        };
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> anyhow::Result<()> {
        if self.digest_algorithms.is_empty() {
            bail!("digest_algorithms is empty: give sha-256, md5 or both");
        }
        if self.sip_listen.is_empty() {
            bail!("sip_listen is empty: give at least one address to serve SIP on");
        }
        if self.ring_timeout.is_zero() {
            bail!("ring_timeout is 0: give at least 1 second");
        }
        if self.order_hold.is_zero() {
            bail!("order_hold is 0: give at least 1 second (the default is 1800, 30 minutes)");
        }
        if let Some(host) = &self.sip_advertise {
            let usable = host.parse::<std::net::IpAddr>().is_ok()
                || (sip::uri::is_valid_host(host)
                    && host
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-'));
            if !usable {
                bail!("sip_advertise {host:?} is not a host name or IP address");
            }
        }
        directory::Apex::parse(&self.dns_apex)?;
        if self.sip_tcp_idle_timeout.is_zero() {
            bail!("sip_tcp_idle_timeout is 0: give at least 1 second");
        }
        // The realm is quoted in every digest challenge.
        if self.realm.is_empty()
            || self.realm.len() > store::limits::REALM
            || self
                .realm
                .chars()
                .any(|c| c.is_control() || c == '"' || c == '\\')
        {
            bail!(
                "realm {:?} is not usable: 1 to {} characters, without quotes, backslashes or \
                 control characters",
                self.realm,
                store::limits::REALM
            );
        }
        if self.node.is_empty()
            || self.node.chars().count() > store::limits::NODE
            || self
                .node
                .chars()
                .any(|c| c.is_control() || c.is_whitespace())
        {
            bail!(
                "node name {:?} is not usable: 1 to {} characters without spaces",
                self.node,
                store::limits::NODE
            );
        }
        Ok(())
    }

    /// What `Store::open` takes: the database URL, or the data directory.
    pub fn store_target(&self) -> String {
        match &self.database {
            Some(url) => url.clone(),
            None => self.data_dir.to_string_lossy().into_owned(),
        }
    }
}

/// The host's name, which stays the same across restarts; "callex" where
/// there is none to read.
fn default_node() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .map(|name| name.trim().to_owned())
        .find(|name| !name.is_empty() && name.len() <= store::limits::NODE)
        .unwrap_or_else(|| "callex".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_given_means_the_defaults() {
        let config = Config::resolve(Layer::default(), None).unwrap();
        assert_eq!(config.http_listen, DEFAULT_HTTP_LISTEN);
        assert_eq!(config.dns_listen, directory::DEFAULT_LISTEN);
        assert_eq!(config.dns_apex, "callex.arpa.");
        assert_eq!(config.sip_listen, switch::SipConfig::default().listen);
        assert_eq!(config.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
        assert_eq!(config.realm, switch::DEFAULT_REALM);
        assert_eq!(config.database, None);
        assert_eq!(config.admin_token, None);
        assert!(!config.node.is_empty());
        assert_eq!(config.sip_tcp_idle_timeout, Duration::from_secs(120));
        assert_eq!(config.sip_tcp_max_connections, 1024);
        assert_eq!(config.claim_checks, web::claims::ClaimChecks::default());
    }

    #[test]
    fn claim_checks_come_from_the_file_and_a_bad_relay_is_refused() {
        let file = Layer::from_toml(
            "claim_resolver = \"127.0.0.1:5353\"\nsmtp_relay = \"mail.example.net:587\"\n\
             smtp_from = \"callex@example.net\"\n",
        )
        .unwrap();
        let config = Config::resolve(file, None).unwrap();
        assert_eq!(config.claim_checks.resolver, "127.0.0.1:5353".parse().ok());
        assert_eq!(
            config.claim_checks.smtp_relay,
            Some(("mail.example.net".to_owned(), 587))
        );
        assert_eq!(
            config.claim_checks.smtp_from.as_deref(),
            Some("callex@example.net")
        );
        let wrong = Config::resolve(
            Layer {
                smtp_relay: Some("mail.example.net".into()),
                ..Layer::default()
            },
            None,
        );
        assert!(format!("{:#}", wrong.unwrap_err()).contains("HOST:PORT"));
    }

    #[test]
    fn a_file_sets_every_setting_and_flags_override_it_one_by_one() {
        let file = Layer::from_toml(
            r#"
            sip_listen = ["127.0.0.1:5070", "127.0.0.1:5071"]
            http_listen = "127.0.0.1:9090"
            dns_listen = "0.0.0.0:53"
            dns_apex = "enum.example.net."
            data_dir = "/srv/callex"
            database = "postgres://callex@db/callex"
            realm = "example.net"
            admin_token = "cxt_from_the_file_0123456789"
            node = "exchange-1"
            sip_tcp_idle_timeout = 30
            sip_tcp_max_connections = 10
            "#,
        )
        .unwrap();
        assert_eq!(file.realm.as_deref(), Some("example.net"));
        let flags = Layer {
            realm: Some("flag.example".into()),
            sip_tcp_max_connections: Some(5),
            ..Layer::default()
        };
        let merged = flags.over(file);
        assert_eq!(merged.realm.as_deref(), Some("flag.example"));
        assert_eq!(merged.sip_tcp_max_connections, Some(5));
        assert_eq!(merged.node.as_deref(), Some("exchange-1"));
        assert_eq!(merged.sip_listen.as_ref().map(Vec::len), Some(2));
        assert_eq!(merged.sip_tcp_idle_timeout, Some(30));
        assert_eq!(merged.dns_listen, "0.0.0.0:53".parse().ok());
        assert_eq!(merged.dns_apex.as_deref(), Some("enum.example.net."));
    }

    #[test]
    fn an_unknown_key_or_broken_toml_names_the_line() {
        let md5_only = Config::resolve(
            Layer {
                digest_algorithms: Some(vec!["MD5".into()]),
                ..Layer::default()
            },
            None,
        )
        .unwrap();
        assert_eq!(
            md5_only.digest_algorithms,
            vec![sip::digest::Algorithm::Md5]
        );
        let wrong = Config::resolve(
            Layer {
                digest_algorithms: Some(vec!["sha-1".into()]),
                ..Layer::default()
            },
            None,
        );
        assert!(format!("{:#}", wrong.unwrap_err()).contains("sha-1"));
        let unknown = Layer::from_toml("realm = \"x\"\nhttp_port = 80\n")
            .unwrap_err()
            .to_string();
        assert!(unknown.contains("line 2"), "{unknown}");
        assert!(unknown.contains("http_port"), "{unknown}");
        let broken = Layer::from_toml("realm = \"x\"\n\nnode = \n")
            .unwrap_err()
            .to_string();
        assert!(broken.contains("line 3"), "{broken}");
        let wrong_type = Layer::from_toml("sip_listen = \"not an address\"\n")
            .unwrap_err()
            .to_string();
        assert!(wrong_type.contains("line 1"), "{wrong_type}");
    }

    #[test]
    fn unusable_realm_node_and_listen_list_are_refused() {
        for layer in [
            Layer {
                realm: Some("with \"quotes\"".into()),
                ..Layer::default()
            },
            Layer {
                node: Some("two words".into()),
                ..Layer::default()
            },
            Layer {
                sip_listen: Some(Vec::new()),
                ..Layer::default()
            },
            Layer {
                sip_tcp_idle_timeout: Some(0),
                ..Layer::default()
            },
            Layer {
                dns_apex: Some("not a domain".into()),
                ..Layer::default()
            },
        ] {
            assert!(Config::resolve(layer.clone(), None).is_err(), "{layer:?}");
        }
    }
}
