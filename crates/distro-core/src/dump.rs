//! A canonical text dump of the kernel's state (index, digests, renewals, sync backlogs), for
//! tests and fuzzing that compare the state before and after an input (not an API).

use std::fmt::Write as _;

use tokio::time::Instant;

use crate::engine::Distro;

impl Distro {
    /// Every key with its entry, every owner's digest and renewal times, and each reachable
    /// peer's backlog, sorted, one line per item; `Instant`s relative to `origin`. Two dumps
    /// are equal exactly when the kernel states are (for what the protocol depends on).
    #[doc(hidden)]
    pub fn debug_dump(&self, origin: Instant) -> String {
        let since = |t: Instant| t.saturating_duration_since(origin);
        let state = self.inner.state.lock();
        let index = &state.index;
        let mut out = String::new();
        let mut entries: Vec<_> = index.iter().collect();
        entries.sort_by(|a, b| a.0.cmp(b.0));
        let mut owners = std::collections::BTreeSet::new();
        for (key, e) in entries {
            owners.insert(e.owner.to_string());
            let _ = writeln!(
                out,
                "key {key:?} owner={:?} rev={} high={} lease={:?} live={} written={:?} orphan={:?}",
                e.owner,
                e.revision,
                e.high_water,
                e.lease,
                e.live,
                since(e.written.instant()),
                e.orphan_since.map(|t| since(t.instant()))
            );
        }
        for owner in owners.iter().map(String::as_str) {
            let digest = index.digest(owner);
            let _ = writeln!(
                out,
                "digest {owner:?} count={} sums={:?}",
                digest.count(),
                digest.sums()
            );
        }
        let mut renewed: Vec<_> = index.renewals().collect();
        renewed.sort_by(|a, b| a.0.cmp(b.0));
        for (owner, times) in renewed {
            let times: Vec<_> = times.iter().map(|t| since(*t)).collect();
            let _ = writeln!(out, "renewed {owner:?} {times:?}");
        }
        for peer in state.members.reachable() {
            let _ = writeln!(
                out,
                "peer {peer} backlog={} idle={}",
                state.queue.backlog(&peer),
                state.queue.is_idle(&peer)
            );
        }
        out
    }
}
