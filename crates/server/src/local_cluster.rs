//! `distro-server --local-cluster [N]`: N nodes of this binary on 127.0.0.1, in one step.
//!
//! Node *i* (from 1) listens on HTTP `base + 10·(i−1)` (8848, 8858, 8868 by default), so its
//! SDK gRPC port (+1000) and cluster port (+1001) never collide with another node's. Every
//! node gets `--members` of all of them and one cluster secret generated for this run,
//! passed through the environment (`DISTRO_CLUSTER__SECRET`) so it shows in no process
//! list. Each line a node prints is prefixed with its name. Ctrl-C or SIGTERM stops every
//! node (SIGTERM, then SIGKILL after a grace period); a node that dies on its own is
//! reported and the others keep running, which is how to watch failure detection work.

use std::ffi::OsString;
use std::io::Write;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Distance between the HTTP ports of two consecutive nodes.
const PORT_STEP: u16 = 10;
/// Highest port offset a node uses (the cluster port, HTTP + 1001).
const PORT_SPAN: u16 = 1001;
/// Time a node gets to stop after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// Longest wait for the nodes' last output lines after they stopped.
const OUTPUT_DRAIN: Duration = Duration::from_secs(1);
/// Random bytes in the generated secret (hex-encoded, so twice as many characters).
const SECRET_BYTES: usize = 24;
/// Prefix of the supervisor's own lines.
const SELF_NAME: &str = "local-cluster";

/// What the supervisor needs from the command line.
pub struct LocalCluster {
    /// Number of nodes.
    pub nodes: u16,
    /// HTTP port of the first node.
    pub base_port: u16,
    /// Arguments every node gets as well (configuration file, log level).
    pub extra_args: Vec<OsString>,
}

/// One running node.
struct Node {
    name: String,
    http_port: u16,
    child: Child,
}

impl LocalCluster {
    /// Starts the nodes and supervises them until a signal, or until all of them exited.
    pub async fn run(self, stop_signal: impl Future<Output = ()>) -> anyhow::Result<()> {
        let ports = self.ports()?;
        let members = ports
            .iter()
            .map(|port| format!("127.0.0.1:{port}"))
            .collect::<Vec<_>>()
            .join(",");
        let secret = generate_secret()?;
        let exe = std::env::current_exe().context("finding the distro-server binary")?;
        say(&format!(
            "starting {} nodes on 127.0.0.1 with a cluster secret generated for this run",
            ports.len()
        ));
        let mut nodes = Vec::new();
        for (index, port) in ports.iter().enumerate() {
            let name = format!("node{}", index + 1);
            let mut command = Command::new(&exe);
            command
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--members", &members])
                .args(&self.extra_args)
                .env("DISTRO_CLUSTER__SECRET", &secret)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true);
            let child = command
                .spawn()
                .with_context(|| format!("starting {name}"))?;
            let node = Node {
                name,
                http_port: *port,
                child,
            };
            node.announce();
            nodes.push(node);
        }
        say(&format!(
            "try: curl http://127.0.0.1:{}/nacos/v1/core/cluster/nodes — kill a node's pid to watch \
             the others mark it DOWN; Ctrl-C stops them all",
            ports[0]
        ));
        supervise(nodes, stop_signal).await
    }

    /// The HTTP ports of the nodes, checked to fit with their +1001 cluster ports.
    fn ports(&self) -> anyhow::Result<Vec<u16>> {
        if self.nodes == 0 {
            bail!("--local-cluster needs at least one node");
        }
        (0..self.nodes)
            .map(|index| {
                index
                    .checked_mul(PORT_STEP)
                    .and_then(|step| self.base_port.checked_add(step))
                    .filter(|port| port.checked_add(PORT_SPAN).is_some())
                    .with_context(|| {
                        format!(
                            "{} nodes from port {} do not fit below 65535",
                            self.nodes, self.base_port
                        )
                    })
            })
            .collect()
    }
}

impl Node {
    /// Prints where the node listens and starts copying its output, prefixed.
    fn announce(&self) {
        let pid = self
            .child
            .id()
            .map_or_else(|| "?".to_owned(), |pid| pid.to_string());
        let port = self.http_port;
        say(&format!(
            "{} pid {pid}: http://127.0.0.1:{port} (SDK gRPC {}, cluster {})",
            self.name,
            u32::from(port) + 1000,
            u32::from(port) + u32::from(PORT_SPAN)
        ));
    }
}

/// Copies the nodes' output, waits for a signal or for nodes to exit, then stops the rest.
async fn supervise(nodes: Vec<Node>, stop_signal: impl Future<Output = ()>) -> anyhow::Result<()> {
    let stop = CancellationToken::new();
    let mut running = JoinSet::new();
    let mut copies = JoinSet::new();
    for mut node in nodes {
        if let Some(out) = node.child.stdout.take() {
            copies.spawn(copy_prefixed(out, node.name.clone()));
        }
        if let Some(err) = node.child.stderr.take() {
            copies.spawn(copy_prefixed(err, node.name.clone()));
        }
        running.spawn(watch_node(node, stop.clone()));
    }
    tokio::pin!(stop_signal);
    let mut alive = running.len();
    loop {
        tokio::select! {
            () = &mut stop_signal => break,
            joined = running.join_next() => {
                let Some(joined) = joined else {
                    bail!("every node exited");
                };
                alive -= 1;
                report_exit(joined, alive);
            }
        }
    }
    say("stopping the nodes");
    stop.cancel();
    while let Some(joined) = running.join_next().await {
        if let Ok((name, Err(error))) = joined {
            say(&format!("{name}: {error:#}"));
        }
    }
    // The nodes are gone, so their pipes end: let their last lines through first.
    let _ = tokio::time::timeout(OUTPUT_DRAIN, copies.join_all()).await;
    say("all nodes stopped");
    Ok(())
}

/// Says which node died on its own and how.
fn report_exit(
    joined: Result<(String, anyhow::Result<ExitStatus>), tokio::task::JoinError>,
    alive: usize,
) {
    match joined {
        Ok((name, Ok(status))) => say(&format!(
            "{name} exited ({status}); {alive} node(s) still running"
        )),
        Ok((name, Err(error))) => say(&format!("{name}: {error:#}; {alive} node(s) still running")),
        Err(error) => say(&format!("a node supervisor failed: {error}")),
    }
}

/// Waits for the node to exit, or stops it when `stop` is cancelled; returns how it ended.
async fn watch_node(
    mut node: Node,
    stop: CancellationToken,
) -> (String, anyhow::Result<ExitStatus>) {
    let result = tokio::select! {
        status = node.child.wait() => status.context("waiting for the node"),
        () = stop.cancelled() => terminate(&mut node.child).await,
    };
    (node.name, result)
}

/// SIGTERM (a graceful stop), then SIGKILL if the node is still there after the grace period.
async fn terminate(child: &mut Child) -> anyhow::Result<ExitStatus> {
    ask_to_stop(child);
    match tokio::time::timeout(STOP_GRACE, child.wait()).await {
        Ok(status) => status.context("waiting for the node"),
        Err(_) => {
            child.kill().await.context("killing the node")?;
            child.wait().await.context("waiting for the node")
        }
    }
}

/// Sends SIGTERM; a node that already exited is fine.
#[cfg(unix)]
fn ask_to_stop(child: &mut Child) {
    use rustix::process::{Pid, Signal, kill_process};
    let pid = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .and_then(Pid::from_raw);
    if let Some(pid) = pid {
        let _ = kill_process(pid, Signal::TERM);
    }
}

/// No graceful signal off Unix: the grace period passes and the node is killed.
#[cfg(not(unix))]
fn ask_to_stop(child: &mut Child) {
    let _ = child.start_kill();
}

/// Copies `stream` line by line to our stdout, each line prefixed with `name`.
async fn copy_prefixed(stream: impl AsyncRead + Unpin, name: String) {
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let text = String::from_utf8_lossy(&line);
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{name:>6} | {}", text.trim_end_matches(['\n', '\r']));
            }
        }
    }
}

/// Prints one supervisor line.
fn say(message: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{SELF_NAME} | {message}");
}

/// A fresh random secret, hex-encoded (visible ASCII, as the cluster port requires).
fn generate_secret() -> anyhow::Result<String> {
    let mut bytes = [0_u8; SECRET_BYTES];
    getrandom::fill(&mut bytes)
        .map_err(|error| anyhow::anyhow!("no randomness for the cluster secret: {error}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(nodes: u16, base_port: u16) -> LocalCluster {
        LocalCluster {
            nodes,
            base_port,
            extra_args: Vec::new(),
        }
    }

    #[test]
    fn ports_step_by_ten_and_fit() {
        assert_eq!(cluster(3, 8848).ports().unwrap(), vec![8848, 8858, 8868]);
        assert_eq!(cluster(1, 9000).ports().unwrap(), vec![9000]);
        assert!(cluster(0, 8848).ports().is_err());
        assert!(cluster(3, 64_520).ports().is_err());
    }

    #[test]
    fn secrets_are_fresh_and_valid() {
        let a = generate_secret().unwrap();
        let b = generate_secret().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), SECRET_BYTES * 2);
        assert!(distro_transport_grpc::ClusterSecret::new(&a).is_ok());
    }
}
