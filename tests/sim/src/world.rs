//! What a run records: every operation the clients sent and how it ended (the oracle), and
//! every observation of every node's registry. Invariants are judged from this record.

use std::collections::BTreeMap;
use std::time::Duration;

use std::rc::Rc;

use distro_server::Server;

/// What a client did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    /// Registered (or updated) with metadata version `v`.
    Register(u64),
    /// Deregistered.
    Deregister,
    /// Beat; `Some(code)` when answered (10200 known, 20404 unknown).
    Beat(Option<i64>),
    /// The client died (stops beating, does not deregister).
    Die,
}

/// One operation of one instance's client.
#[derive(Debug, Clone, Copy)]
pub struct Op {
    /// Instance index.
    pub inst: usize,
    /// When it was sent.
    pub sent: Duration,
    /// When its answer came (or the client gave up).
    pub done: Duration,
    /// Node it was sent to.
    pub entry: usize,
    /// What it was.
    pub kind: OpKind,
    /// Whether the server acknowledged it (a beat: answered 10200).
    pub acked: bool,
}

/// One poll of one node: every instance it lists, with its metadata version.
#[derive(Debug, Clone)]
pub struct Observation {
    /// When the poll round started (observations of one round share it).
    pub at: Duration,
    /// When this node's lists were asked for.
    pub read_from: Duration,
    /// When its last list answered.
    pub read_to: Duration,
    /// The node.
    pub node: usize,
    /// Whether its snapshot was loaded.
    pub loaded: bool,
    /// Whether self-preservation was active.
    pub preserving: bool,
    /// `ip:port` → metadata version `v`, over all services.
    pub instances: BTreeMap<String, u64>,
}

/// The shared record of a run.
#[derive(Default)]
pub struct World {
    /// Oracle: operations in completion order.
    pub ops: Vec<Op>,
    /// Polls of nodes.
    pub observations: Vec<Observation>,
    /// Each running node's server (None while crashed or starting).
    pub handles: Vec<Option<Rc<Server>>>,
    /// Start count per node (restarts after crashes).
    pub starts: Vec<u32>,
    /// Human-readable events, for the failure report.
    pub log: Vec<String>,
}

impl World {
    /// A world for `nodes` nodes.
    pub fn new(nodes: usize) -> Self {
        Self {
            handles: vec![None; nodes],
            starts: vec![0; nodes],
            ..Self::default()
        }
    }

    /// Operations of instance `inst`, in completion order.
    pub fn ops_of(&self, inst: usize) -> impl Iterator<Item = &Op> {
        self.ops.iter().filter(move |op| op.inst == inst)
    }
}
