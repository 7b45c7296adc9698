//! Harness for tests that run real `distro-server` processes on 127.0.0.1.
//!
//! The tests themselves live in `crates/server/tests/`: only there does Cargo build the
//! server binary first and tell its path (`env!("CARGO_BIN_EXE_distro-server")`), which is
//! more robust than guessing a `target/` path. They hand that path to [`NodeSpec`]; this
//! crate holds what every multi-process test needs:
//! - [`free_http_port`]: an HTTP port P with P + 1000 (SDK gRPC) and P + 1001 (cluster) free;
//! - [`Node`]: one server process with its output in a log file, killed on drop, which can
//!   be killed, frozen (SIGSTOP), thawed and restarted on the same ports;
//! - [`Http`] and [`wait_until`]: short-timeout HTTP calls and deadline-bounded polling;
//! - [`member_states`] and [`metric_sum`]: reading `/nacos/v1/core/cluster/nodes` and `/metrics`.

use std::collections::BTreeMap;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;

/// Default bound for a wait in a test (start-up, convergence).
pub const WAIT: Duration = Duration::from_secs(15);

/// Time between two polls in [`wait_until`].
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// Ports are picked here, below Linux's ephemeral range (32768+), so a port the kernel hands
/// to some outgoing connection cannot take P + 1000 or P + 1001 between pick and bind.
const PORT_RANGE: std::ops::Range<u16> = 20_000..31_000;

/// Ports already handed out by this process (tests in one binary run in parallel).
static TAKEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());

/// An HTTP port P on 127.0.0.1 such that P, P + 1000 and P + 1001 are all free now.
pub fn free_http_port() -> u16 {
    let span = PORT_RANGE.end - PORT_RANGE.start;
    // A random start keeps concurrent test processes from probing the same ports in step.
    let start = (RandomState::new().hash_one(std::process::id()) % u64::from(span)) as u16;
    for step in 0..span {
        let port = PORT_RANGE.start + (start + step) % span;
        let mut taken = TAKEN
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let clashes = taken
            .iter()
            .any(|&used| triple(port).iter().any(|p| triple(used).contains(p)));
        if clashes || !triple(port).iter().all(|&p| is_free(p)) {
            continue;
        }
        taken.push(port);
        return port;
    }
    panic!("no free port triple in {PORT_RANGE:?}");
}

/// The ports a node on HTTP port `port` listens on.
fn triple(port: u16) -> [u16; 3] {
    [port, port + 1000, port + 1001]
}

/// Whether `port` can be bound on 127.0.0.1 right now.
fn is_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// How to start one server process.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    /// Name used in log file names and messages.
    pub name: String,
    /// The `distro-server` binary.
    pub bin: PathBuf,
    /// HTTP port (the node binds 127.0.0.1).
    pub http_port: u16,
    /// Further command-line arguments.
    pub args: Vec<String>,
    /// Environment variables (e.g. `DISTRO_CLUSTER__SECRET`).
    pub env: Vec<(String, String)>,
}

impl NodeSpec {
    /// A node named `name` on `http_port`, bound to 127.0.0.1.
    pub fn new(bin: impl Into<PathBuf>, name: &str, http_port: u16) -> Self {
        Self {
            name: name.to_owned(),
            bin: bin.into(),
            http_port,
            args: Vec::new(),
            env: Vec::new(),
        }
    }

    /// Adds command-line arguments.
    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Adds an environment variable.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// `--members` listing `ports` on 127.0.0.1.
    pub fn members(self, ports: &[u16]) -> Self {
        let list: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        self.args(["--members".to_owned(), list.join(",")])
    }
}

/// One running (or stopped) server process; killed when dropped.
pub struct Node {
    spec: NodeSpec,
    log_path: PathBuf,
    child: Option<Child>,
}

impl Node {
    /// Spawns the process (does not wait for it to serve: see [`Node::wait_ready`]).
    pub fn spawn(spec: NodeSpec) -> anyhow::Result<Self> {
        let log_path = std::env::temp_dir().join(format!(
            "distro-tests-{}-{}-{}.log",
            std::process::id(),
            spec.name,
            spec.http_port
        ));
        let mut node = Self {
            spec,
            log_path,
            child: None,
        };
        node.start_process()?;
        Ok(node)
    }

    /// Spawns the process and waits until its HTTP port answers.
    pub async fn start(spec: NodeSpec, http: &Http) -> anyhow::Result<Self> {
        let mut node = Self::spawn(spec)?;
        node.wait_ready(http).await?;
        Ok(node)
    }

    /// Starts the process (again) with the same spec; output is appended to the same log.
    fn start_process(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .with_context(|| format!("opening {}", self.log_path.display()))?;
        let spec = &self.spec;
        let mut command = Command::new(&spec.bin);
        // Only what the test sets: a DISTRO_ variable of the developer's shell must not leak in.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("DISTRO_") {
                command.env_remove(key);
            }
        }
        command
            .args(["--bind", "127.0.0.1", "--port", &spec.http_port.to_string()])
            .args(&spec.args)
            .env("DISTRO_LOG__LEVEL", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        for (key, value) in &spec.env {
            command.env(key, value);
        }
        let child = command
            .spawn()
            .with_context(|| format!("starting {}", spec.bin.display()))?;
        self.child = Some(child);
        Ok(())
    }

    /// Waits (bounded by [`WAIT`]) until the liveness endpoint answers; fails early, with
    /// the log, if the process exits.
    pub async fn wait_ready(&mut self, http: &Http) -> anyhow::Result<()> {
        let deadline = Instant::now() + WAIT;
        let url = self.url("/nacos/v1/console/health/liveness");
        loop {
            if let Some(status) = self.try_exit_status()? {
                bail!(
                    "{} exited with {status} while starting:\n{}",
                    self.spec.name,
                    self.log()
                );
            }
            if http.get_text(&url).await.is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "{} did not start within {WAIT:?}:\n{}",
                    self.spec.name,
                    self.log()
                );
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Waits (bounded by `within`) for the process to exit by itself; `None` if it did not.
    pub async fn wait_exit(&mut self, within: Duration) -> anyhow::Result<Option<ExitStatus>> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.try_exit_status()? {
                return Ok(Some(status));
            }
            if Instant::now() > deadline {
                return Ok(None);
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// The exit status if the process has exited.
    fn try_exit_status(&mut self) -> anyhow::Result<Option<ExitStatus>> {
        match &mut self.child {
            Some(child) => Ok(child.try_wait()?),
            None => bail!("{} is not running", self.spec.name),
        }
    }

    /// Kills the process (SIGKILL, like a crash) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the process again on the same ports and waits until it serves.
    pub async fn restart(&mut self, http: &Http) -> anyhow::Result<()> {
        self.kill();
        self.start_process()?;
        self.wait_ready(http).await
    }

    /// Stops the process without ending it (SIGSTOP): it keeps its sockets but answers nothing.
    #[cfg(unix)]
    pub fn freeze(&self) -> anyhow::Result<()> {
        self.signal(rustix::process::Signal::STOP)
    }

    /// Stops the process gracefully (SIGTERM) and waits, at most `within`, for it to exit;
    /// its exit status. Fails, with the log, if it is still running then (it is killed).
    #[cfg(unix)]
    pub async fn terminate(&mut self, within: Duration) -> anyhow::Result<ExitStatus> {
        self.signal(rustix::process::Signal::TERM)?;
        match self.wait_exit(within).await? {
            Some(status) => {
                self.child = None;
                Ok(status)
            }
            None => {
                self.kill();
                bail!(
                    "{} did not exit within {within:?} of SIGTERM:\n{}",
                    self.spec.name,
                    self.log()
                )
            }
        }
    }

    /// Resumes a frozen process (SIGCONT).
    #[cfg(unix)]
    pub fn thaw(&self) -> anyhow::Result<()> {
        self.signal(rustix::process::Signal::CONT)
    }

    /// Sends `signal` to the process.
    #[cfg(unix)]
    fn signal(&self, signal: rustix::process::Signal) -> anyhow::Result<()> {
        let pid = self
            .child
            .as_ref()
            .and_then(|child| i32::try_from(child.id()).ok())
            .and_then(rustix::process::Pid::from_raw)
            .context("the node is not running")?;
        rustix::process::kill_process(pid, signal)?;
        Ok(())
    }

    /// The node's member address, `127.0.0.1:<http port>`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.spec.http_port)
    }

    /// The node's HTTP port.
    pub fn http_port(&self) -> u16 {
        self.spec.http_port
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.spec.http_port)
    }

    /// Everything the process printed so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
        // Keep the log of a failed test for a look; clean up after a passing one.
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.log_path);
        } else {
            eprintln!("log of {}: {}", self.spec.name, self.log_path.display());
        }
    }
}

/// An HTTP client with a short timeout, so a frozen node fails a call instead of hanging it.
#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
}

impl Http {
    /// A client whose calls time out after 2 s.
    pub fn new() -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .no_proxy()
            .build()?;
        Ok(Self { client })
    }

    /// GET `url`; the body if the status is 2xx.
    pub async fn get_text(&self, url: &str) -> anyhow::Result<String> {
        let response = self.client.get(url).send().await?;
        let status = response.status();
        let body = response.text().await?;
        if !status.is_success() {
            bail!("{url} answered {status}: {body}");
        }
        Ok(body)
    }

    /// GET `url` as JSON.
    pub async fn get_json(&self, url: &str) -> anyhow::Result<Value> {
        let text = self.get_text(url).await?;
        serde_json::from_str(&text).with_context(|| format!("{url} answered non-JSON {text}"))
    }
}

/// The members `node` lists on `/nacos/v1/core/cluster/nodes`, in Nacos's JSON shape.
pub async fn member_list(http: &Http, node: &Node) -> anyhow::Result<Vec<Value>> {
    let mut body = http
        .get_json(&node.url("/nacos/v1/core/cluster/nodes"))
        .await?;
    match body["data"].take() {
        Value::Array(members) => Ok(members),
        other => bail!("nodes without a data array: {other}"),
    }
}

/// What `node` says about every member: address → state (`UP`, `SUSPICIOUS`, `DOWN`).
pub async fn member_states(http: &Http, node: &Node) -> anyhow::Result<BTreeMap<String, String>> {
    member_list(http, node)
        .await?
        .iter()
        .map(|member| {
            let address = member["address"]
                .as_str()
                .context("member without address")?;
            let state = member["state"].as_str().context("member without state")?;
            Ok((address.to_owned(), state.to_owned()))
        })
        .collect()
}

/// Whether `node` lists exactly `addresses`, all UP, and has heard from every one but
/// itself (a listed member starts UP before any contact, so UP alone proves nothing).
pub async fn sees_all_up_and_contacted(http: &Http, node: &Node, addresses: &[String]) -> bool {
    let Ok(members) = member_list(http, node).await else {
        return false;
    };
    let mut listed: Vec<&str> = members
        .iter()
        .filter_map(|m| m["address"].as_str())
        .collect();
    listed.sort_unstable();
    let mut wanted: Vec<&str> = addresses.iter().map(String::as_str).collect();
    wanted.sort_unstable();
    listed == wanted
        && members.iter().all(|member| {
            let up = member["state"] == "UP";
            let is_self = member["address"].as_str() == Some(node.address().as_str());
            let heard = member["extendInfo"]["lastRefreshTime"]
                .as_u64()
                .unwrap_or(0)
                > 0;
            up && (is_self || heard)
        })
}

/// Polls `check` every 20 ms until it returns true; errors with `what` after `within`.
pub async fn wait_until<F, Fut>(
    what: &str,
    within: Duration,
    mut check: F,
) -> anyhow::Result<Duration>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if check().await {
            return Ok(started.elapsed());
        }
        if started.elapsed() > within {
            bail!("timed out after {within:?} waiting for {what}");
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// The sum over all series of the metric `name` in Prometheus text `text`; 0 if absent.
pub fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let rest = line.strip_prefix(name)?;
            if !(rest.starts_with('{') || rest.starts_with(' ')) {
                return None;
            }
            line.rsplit(' ').next()?.parse::<f64>().ok()
        })
        .sum()
}

/// The value of one series, e.g. `cluster_members{state="up"}`; `None` if absent.
pub fn metric_value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        line.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// The median of `samples` (mean of the two middle ones for an even count).
pub fn median(samples: &[Duration]) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    match sorted.len() {
        0 => Duration::ZERO,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_read_from_prometheus_text() {
        let text = "# HELP x\n# TYPE cluster_auth_failures_total counter\n\
                    cluster_auth_failures_total{reason=\"wrong\"} 3\n\
                    cluster_auth_failures_total{reason=\"missing\"} 2\n\
                    cluster_auth_failures_total_other 7\n\
                    cluster_members{state=\"up\"} 3\n";
        assert_eq!(metric_sum(text, "cluster_auth_failures_total"), 5.0);
        assert_eq!(metric_sum(text, "absent"), 0.0);
        assert_eq!(
            metric_value(text, "cluster_members{state=\"up\"}"),
            Some(3.0)
        );
        assert_eq!(metric_value(text, "cluster_members{state=\"down\"}"), None);
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        let ms = Duration::from_millis;
        assert_eq!(median(&[ms(3), ms(1), ms(2)]), ms(2));
        assert_eq!(
            median(&[ms(4), ms(1), ms(2), ms(3)]),
            Duration::from_micros(2500)
        );
        assert_eq!(median(&[]), Duration::ZERO);
    }

    #[test]
    fn port_triples_are_free_and_distinct() {
        let a = free_http_port();
        let b = free_http_port();
        assert!(triple(a).iter().all(|p| !triple(b).contains(p)), "{a} {b}");
        for port in [a, a + 1000, a + 1001] {
            assert!(is_free(port));
        }
    }
}
