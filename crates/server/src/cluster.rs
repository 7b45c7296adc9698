//! Cluster wiring: from the `[cluster]` configuration to a running membership.
//!
//! [`start`] checks the configuration (one lookup at most; a secret whenever there are
//! peers, unless `cluster.insecure`), finds the address this node advertises, builds the
//! [`Membership`], and, unless the node is standalone, starts:
//! - the cluster gRPC server on HTTP port + `cluster.port_offset` (1001), behind the secret;
//! - the member lookup (static list, `cluster.conf`, address server or DNS);
//! - the failure detector, probing every peer over that port;
//! - a small task that drops the channels of peers no longer listed.
//!
//! A standalone node (no lookup configured) opens no cluster port: it has nobody to talk to.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use crate::faults::Faults;
use anyhow::{Context, bail};
use distro_cluster::{
    AddressServerConfig, DetectorConfig, DnsLookupConfig, FailurePolicy, FileLookupConfig,
    LookupConfig, MemberAddress, Membership, run_failure_detector, run_lookup, unix_millis,
};
use distro_transport_grpc::net::{SharedNetwork, SocketOptions};
use distro_transport_grpc::{
    ClientConfig, ClusterAuth, ClusterSecret, ClusterService, DistroHandlers, GrpcProber,
    PeerChannels,
};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{ClusterConfig, Config};

/// The version this node reports to its peers.
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Longest the host-name resolution for the default advertised address may take.
const LOCAL_IP_LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);

/// What [`start`] hands back: the member list and the tasks to await on shutdown.
pub struct Cluster {
    /// This node's view of the cluster.
    pub membership: Arc<Membership>,
    /// The cluster server, lookup, detector and pruning tasks.
    pub tasks: Vec<JoinHandle<()>>,
    /// Channels to peers (shared by probes and Distro); `None` when standalone.
    pub channels: Option<Arc<PeerChannels>>,
    /// Where the cluster port finds its Distro engines once they exist.
    pub distro: DistroHandlers,
    /// Injected faults (test only; empty unless `server.fault_injection`).
    pub faults: Arc<Faults>,
}

/// Starts membership for a node whose HTTP listener is bound at `http_addr`.
/// The cluster port is bound, and peers are dialed, over `network`.
pub async fn start(
    config: &Config,
    http_addr: SocketAddr,
    network: &SharedNetwork,
    shutdown: CancellationToken,
) -> anyhow::Result<Cluster> {
    let cluster = &config.cluster;
    let lookup = lookup_config(cluster, http_addr.port())?;
    let auth = cluster_auth(cluster, &lookup)?;
    distro_cluster::metrics::describe();
    distro_transport_grpc::metrics::describe();
    let advertise = advertise_address(cluster, &config.server.bind, http_addr).await?;
    let membership = Arc::new(
        Membership::new(&advertise, VERSION, unix_millis())
            .with_context(|| format!("cluster.advertise: invalid address {advertise:?}"))?,
    );
    if lookup == LookupConfig::Standalone {
        run_lookup(lookup, membership.clone(), shutdown).await?;
        tracing::info!(self_address = %membership.self_address(), "standalone: no cluster peers");
        return Ok(Cluster {
            membership,
            tasks: Vec::new(),
            channels: None,
            distro: DistroHandlers::default(),
            faults: Arc::default(),
        });
    }
    // Fallible steps first, so a failed start leaves no task behind.
    let lookup = apply_static_lookup(lookup, &membership).await?;
    let distro = DistroHandlers::default();
    let port = ClusterPort {
        membership: &membership,
        auth: &auth,
        distro: &distro,
        network,
    };
    let mut tasks = vec![serve_cluster_port(config, http_addr, port, &shutdown).await?];
    tasks.extend(lookup.map(|lookup| spawn_lookup(lookup, &membership, &shutdown)));
    // One channel per peer; the Distro transport will share these (same port, same secret).
    let channels = Arc::new(
        PeerChannels::new(client_config(cluster), &auth).with_network(Arc::clone(network)),
    );
    let faults = Arc::new(Faults::default());
    tasks.push(start_detector(
        cluster,
        &membership,
        (&channels, &faults),
        &shutdown,
    ));
    tasks.push(spawn_channel_pruning(
        membership.clone(),
        channels.clone(),
        shutdown,
    ));
    tracing::info!(
        self_address = %membership.self_address(),
        peers = ?membership.peers(),
        insecure = auth == ClusterAuth::Insecure,
        "cluster membership started"
    );
    Ok(Cluster {
        membership,
        tasks,
        channels: Some(channels),
        distro,
        faults,
    })
}

/// The lookup the configuration asks for; more than one is a mistake worth refusing.
pub fn lookup_config(cluster: &ClusterConfig, default_port: u16) -> anyhow::Result<LookupConfig> {
    let mut chosen = Vec::new();
    if !cluster.members.is_empty() {
        chosen.push((
            "cluster.members",
            LookupConfig::Static {
                members: cluster.members.clone(),
                default_port,
            },
        ));
    }
    if let Some(path) = &cluster.conf_file {
        let mut file = FileLookupConfig::new(path);
        file.default_port = default_port;
        file.poll_interval = Duration::from_millis(cluster.conf_file_poll_interval_ms);
        chosen.push(("cluster.conf_file", LookupConfig::File(file)));
    }
    if let Some(url) = &cluster.address_server {
        let mut server = AddressServerConfig::new(url);
        server.default_port = default_port;
        server.poll_interval = Duration::from_millis(cluster.address_server_poll_interval_ms);
        chosen.push((
            "cluster.address_server",
            LookupConfig::AddressServer(server),
        ));
    }
    if let Some(name) = &cluster.dns {
        let mut dns = DnsLookupConfig::new(name);
        dns.port = default_port;
        dns.interval = Duration::from_millis(cluster.dns_poll_interval_ms);
        chosen.push(("cluster.dns", LookupConfig::Dns(dns)));
    }
    match chosen.len() {
        0 => Ok(LookupConfig::Standalone),
        1 => Ok(chosen.remove(0).1),
        _ => {
            let names: Vec<&str> = chosen.iter().map(|(name, _)| *name).collect();
            bail!(
                "only one member lookup may be configured, found {}",
                names.join(", ")
            )
        }
    }
}

/// How the cluster port authenticates: the secret, or nothing when explicitly insecure.
pub fn cluster_auth(cluster: &ClusterConfig, lookup: &LookupConfig) -> anyhow::Result<ClusterAuth> {
    // An empty secret (a blank line in a template, `DISTRO_CLUSTER__SECRET=`) is no secret.
    let secret = cluster
        .secret
        .as_deref()
        .filter(|secret| !secret.is_empty());
    match (secret, cluster.insecure) {
        (Some(secret), insecure) => {
            let secret = ClusterSecret::new(secret).context("cluster.secret")?;
            if insecure {
                tracing::warn!(
                    "cluster.insecure is set but so is cluster.secret: the secret is still required"
                );
            }
            Ok(ClusterAuth::Secret(secret))
        }
        (None, true) => {
            if *lookup != LookupConfig::Standalone {
                tracing::warn!(
                    "cluster.insecure = true: the cluster port accepts calls from anyone who can reach it"
                );
            }
            Ok(ClusterAuth::Insecure)
        }
        (None, false) if *lookup == LookupConfig::Standalone => Ok(ClusterAuth::Insecure),
        (None, false) => bail!(
            "refusing to start: this node has cluster peers but no cluster.secret, so anyone who \
             can reach its cluster port could join the cluster. Set the same secret on every node \
             (DISTRO_CLUSTER__SECRET, --cluster-secret, or `secret` in the [cluster] section of \
             the config file), or set cluster.insecure = true (DISTRO_CLUSTER__INSECURE=true) to \
             run without authentication"
        ),
    }
}

/// The `ip:port` this node is listed as: `cluster.advertise`, else the bind address, else
/// this host's first non-loopback address, else 127.0.0.1; the port defaults to the HTTP port.
async fn advertise_address(
    cluster: &ClusterConfig,
    bind: &str,
    http_addr: SocketAddr,
) -> anyhow::Result<String> {
    if let Some(text) = &cluster.advertise {
        let address = MemberAddress::parse(text, http_addr.port())
            .with_context(|| format!("cluster.advertise: invalid address {text:?}"))?;
        return Ok(address.to_string());
    }
    let ip = match bind.parse::<IpAddr>() {
        Ok(ip) if !ip.is_unspecified() => ip,
        _ => local_ip().await,
    };
    Ok(MemberAddress::from_ip(ip, http_addr.port()).to_string())
}

/// This host's first non-loopback address (IPv4 preferred), found by resolving the host
/// name as most container platforms and `/etc/hosts` set it up; 127.0.0.1 if none.
async fn local_ip() -> IpAddr {
    let fallback = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let Some(host) = host_name() else {
        return fallback;
    };
    let resolved = tokio::time::timeout(
        LOCAL_IP_LOOKUP_TIMEOUT,
        tokio::net::lookup_host((host.as_str(), 0)),
    )
    .await;
    let Ok(Ok(addresses)) = resolved else {
        return fallback;
    };
    let mut ips: Vec<IpAddr> = addresses
        .map(|a| a.ip())
        .filter(|ip| !ip.is_loopback() && !ip.is_unspecified())
        .collect();
    ips.sort_by_key(|ip| ip.is_ipv6());
    ips.first().copied().unwrap_or(fallback)
}

/// The host name, where the platform tells it.
fn host_name() -> Option<String> {
    #[cfg(unix)]
    {
        let name = rustix::system::uname();
        name.nodename().to_str().ok().map(str::to_owned)
    }
    #[cfg(not(unix))]
    {
        std::env::var("COMPUTERNAME").ok()
    }
}

/// Binds the cluster port next to the HTTP port and serves the cluster service on it.
async fn serve_cluster_port(
    config: &Config,
    http_addr: SocketAddr,
    port: ClusterPort<'_>,
    shutdown: &CancellationToken,
) -> anyhow::Result<JoinHandle<()>> {
    let ClusterPort {
        membership,
        auth,
        distro,
        network,
    } = port;
    let offset = config.cluster.port_offset;
    let Some(port) = http_addr.port().checked_add(offset) else {
        bail!(
            "cluster port {} + {offset} is beyond 65535",
            http_addr.port()
        );
    };
    let bind = SocketAddr::new(http_addr.ip(), port);
    let options = SocketOptions {
        nodelay: true,
        keepalive: None,
    };
    let listener = network
        .bind(&bind.to_string(), options)
        .await
        .with_context(|| format!("binding the cluster port {bind}"))?;
    tracing::info!(cluster_addr = %bind, "cluster gRPC listening");
    let service = ClusterService::new(membership.clone()).with_distro(distro.clone());
    let router = distro_transport_grpc::router(service, auth);
    Ok(distro_transport_grpc::serve(
        listener,
        router,
        shutdown.clone(),
    ))
}

/// What the cluster port serves.
struct ClusterPort<'a> {
    membership: &'a Arc<Membership>,
    auth: &'a ClusterAuth,
    distro: &'a DistroHandlers,
    network: &'a SharedNetwork,
}

/// Applies a static list now (a bad list fails start-up); hands back any other lookup.
async fn apply_static_lookup(
    lookup: LookupConfig,
    membership: &Arc<Membership>,
) -> anyhow::Result<Option<LookupConfig>> {
    if !matches!(lookup, LookupConfig::Static { .. }) {
        return Ok(Some(lookup));
    }
    // A static lookup applies its list and returns at once; it never waits on the token.
    run_lookup(lookup, membership.clone(), CancellationToken::new())
        .await
        .context("cluster.members")?;
    Ok(None)
}

/// Spawns a polling lookup (file, address server, DNS) that runs until shutdown.
fn spawn_lookup(
    lookup: LookupConfig,
    membership: &Arc<Membership>,
    shutdown: &CancellationToken,
) -> JoinHandle<()> {
    let membership = membership.clone();
    let shutdown = shutdown.clone();
    tokio::spawn(async move {
        if let Err(error) = run_lookup(lookup, membership, shutdown).await {
            tracing::error!(%error, "member lookup could not start; the member list stays as it is");
        }
    })
}

/// The settings of channels to peers.
fn client_config(cluster: &ClusterConfig) -> ClientConfig {
    ClientConfig {
        port_offset: cluster.port_offset,
        timeout: Duration::from_millis(cluster.probe_timeout_ms),
    }
}

/// Spawns the failure detector over the cluster port.
fn start_detector(
    cluster: &ClusterConfig,
    membership: &Arc<Membership>,
    (channels, faults): (&Arc<PeerChannels>, &Arc<Faults>),
    shutdown: &CancellationToken,
) -> JoinHandle<()> {
    let config = DetectorConfig {
        interval: Duration::from_millis(cluster.probe_interval_ms),
        timeout: Duration::from_millis(cluster.probe_timeout_ms),
        policy: FailurePolicy {
            down_after_failures: cluster.down_after_failures,
            ..FailurePolicy::default()
        },
    };
    let prober = Arc::new(crate::faults::FaultyProber {
        inner: GrpcProber::new(channels.clone()),
        faults: faults.clone(),
    });
    let membership = membership.clone();
    let shutdown = shutdown.clone();
    tokio::spawn(async move {
        // Nodes of a cluster are started within moments of each other: probing before the
        // others had one interval to open their ports would find them refusing, mark them
        // DOWN and flip them back UP a second later. Listed members start UP, so waiting
        // one interval shows nothing wrong in the meantime.
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(config.interval) => {}
        }
        run_failure_detector(membership, prober, config, shutdown).await;
    })
}

/// Drops the channel of every peer that leaves the member list (its connection closes).
fn spawn_channel_pruning(
    membership: Arc<Membership>,
    channels: Arc<PeerChannels>,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    let mut members = membership.subscribe_members();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                changed = members.changed() => if changed.is_err() { return },
            }
            channels.retain(|peer| membership.contains(peer));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(edit: impl FnOnce(&mut ClusterConfig)) -> ClusterConfig {
        let mut cluster = ClusterConfig::default();
        edit(&mut cluster);
        cluster
    }

    #[test]
    fn no_lookup_is_standalone() {
        let lookup = lookup_config(&ClusterConfig::default(), 8848).unwrap();
        assert_eq!(lookup, LookupConfig::Standalone);
        assert_eq!(
            cluster_auth(&ClusterConfig::default(), &lookup).unwrap(),
            ClusterAuth::Insecure
        );
    }

    #[test]
    fn each_lookup_is_picked_from_its_key() {
        let members = with(|c| c.members = vec!["a:1,b:2".into()]);
        assert!(matches!(
            lookup_config(&members, 9000).unwrap(),
            LookupConfig::Static {
                default_port: 9000,
                ..
            }
        ));
        let file = with(|c| c.conf_file = Some("cluster.conf".into()));
        let LookupConfig::File(file) = lookup_config(&file, 9000).unwrap() else {
            panic!("file lookup expected");
        };
        assert_eq!(
            (file.default_port, file.poll_interval),
            (9000, Duration::from_millis(1000))
        );
        let server =
            with(|c| c.address_server = Some("http://127.0.0.1:8080/nacos/serverlist".into()));
        assert!(matches!(
            lookup_config(&server, 9000).unwrap(),
            LookupConfig::AddressServer(_)
        ));
        let dns = with(|c| c.dns = Some("nacos-headless".into()));
        let LookupConfig::Dns(dns) = lookup_config(&dns, 9000).unwrap() else {
            panic!("DNS lookup expected");
        };
        assert_eq!((dns.name.as_str(), dns.port), ("nacos-headless", 9000));
    }

    #[test]
    fn two_lookups_are_refused() {
        let both = with(|c| {
            c.members = vec!["a".into()];
            c.dns = Some("b".into());
        });
        let error = lookup_config(&both, 8848).unwrap_err().to_string();
        assert!(error.contains("cluster.members, cluster.dns"), "{error}");
    }

    #[test]
    fn peers_need_a_secret_unless_insecure() {
        let peers = with(|c| c.members = vec!["a".into()]);
        let lookup = lookup_config(&peers, 8848).unwrap();
        let error = format!("{:#}", cluster_auth(&peers, &lookup).unwrap_err());
        assert!(error.contains("no cluster.secret"), "{error}");
        assert!(error.contains("cluster.insecure = true"), "{error}");

        let insecure = with(|c| c.insecure = true);
        assert_eq!(
            cluster_auth(&insecure, &lookup).unwrap(),
            ClusterAuth::Insecure
        );
        let secret = with(|c| c.secret = Some("s3cret".into()));
        assert!(matches!(
            cluster_auth(&secret, &lookup).unwrap(),
            ClusterAuth::Secret(_)
        ));
        let empty = with(|c| c.secret = Some(String::new()));
        assert!(
            cluster_auth(&empty, &lookup).is_err(),
            "an empty secret is none"
        );
        let bad = with(|c| c.secret = Some("has space".into()));
        let error = format!("{:#}", cluster_auth(&bad, &lookup).unwrap_err());
        assert!(error.contains("visible ASCII"), "{error}");
    }

    // figment's test jail returns its large error type by design.
    #[allow(clippy::result_large_err)]
    #[test]
    fn cluster_keys_come_from_file_environment_and_flags() {
        use figment::providers::Serialized;
        use figment::{Figment, Jail};
        use std::path::Path;

        Jail::expect_with(|jail| {
            jail.create_file(
                "distro.toml",
                "[cluster]\nconf_file = \"/etc/distro/cluster.conf\"\nprobe_interval_ms = 200\n",
            )?;
            let config = Config::load(Some(Path::new("distro.toml")), Figment::new()).unwrap();
            assert_eq!(
                config.cluster.conf_file,
                Some("/etc/distro/cluster.conf".into())
            );
            assert_eq!(config.cluster.probe_interval_ms, 200);
            assert_eq!(config.cluster.port_offset, 1001);
            assert_eq!(config.cluster.secret, None);

            // A comma-separated string from the environment, and a secret of digits only.
            jail.set_env("DISTRO_CLUSTER__MEMBERS", "10.0.0.1:8848,10.0.0.2");
            jail.set_env("DISTRO_CLUSTER__SECRET", "0123456789");
            let config = Config::load(None, Figment::new()).unwrap();
            assert_eq!(
                config.cluster.members,
                vec!["10.0.0.1:8848,10.0.0.2".to_owned()]
            );
            assert_eq!(config.cluster.secret.as_deref(), Some("0123456789"));
            assert!(
                !format!("{config:?}").contains("0123456789"),
                "Debug hides the secret"
            );

            // Flags (`--members a,b` arrives split) win over the environment.
            let flags = Figment::new()
                .merge(Serialized::default(
                    "cluster.members",
                    vec!["10.0.0.3", "10.0.0.4"],
                ))
                .merge(Serialized::default("cluster.secret", "from-flag"));
            let config = Config::load(None, flags).unwrap();
            assert_eq!(config.cluster.members, vec!["10.0.0.3", "10.0.0.4"]);
            assert_eq!(config.cluster.secret.as_deref(), Some("from-flag"));
            Ok(())
        });
    }

    #[tokio::test]
    async fn advertise_defaults_to_the_bind_address_and_http_port() {
        let http: SocketAddr = "127.0.0.1:8848".parse().unwrap();
        let cluster = ClusterConfig::default();
        assert_eq!(
            advertise_address(&cluster, "127.0.0.1", http)
                .await
                .unwrap(),
            "127.0.0.1:8848"
        );
        let explicit = with(|c| c.advertise = Some("10.1.2.3".into()));
        assert_eq!(
            advertise_address(&explicit, "0.0.0.0", http).await.unwrap(),
            "10.1.2.3:8848"
        );
        let unspecified = advertise_address(&cluster, "0.0.0.0", http).await.unwrap();
        let parsed: SocketAddr = unspecified.parse().unwrap();
        assert!(
            !parsed.ip().is_unspecified() && parsed.port() == 8848,
            "{unspecified}"
        );
        let bad = with(|c| c.advertise = Some("no such:address".into()));
        assert!(advertise_address(&bad, "0.0.0.0", http).await.is_err());
    }
}
