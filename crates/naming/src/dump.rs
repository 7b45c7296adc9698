//! A canonical text dump of the whole registry state, for tests and fuzzing that compare the
//! state before and after an input (not an API: the format may change at any time).

use std::fmt::Write as _;

use crate::registry::Registry;

impl Registry {
    /// Every client (with its revision, flags, times, publications and subscriptions), every
    /// service entry and every subscriber set, sorted, one line per item. Two dumps are equal
    /// exactly when the states are; `Instant`s are printed relative to `origin`.
    #[doc(hidden)]
    pub fn debug_dump(&self, origin: tokio::time::Instant) -> String {
        let since = |t: tokio::time::Instant| t.saturating_duration_since(origin);
        self.read(|state| {
            let mut out = String::new();
            let mut clients: Vec<_> = state.clients.values().collect();
            clients.sort_by(|a, b| a.id.cmp(&b.id));
            for client in clients {
                let _ = writeln!(
                    out,
                    "client {} rev={} native={} updated={:?}",
                    client.id,
                    client.revision,
                    client.native,
                    since(client.last_updated.instant())
                );
                for (key, published) in client.published.iter() {
                    let batch = matches!(published, crate::Published::Batch(_));
                    let _ = writeln!(out, "  publishes {key} batch={batch}");
                    for r in published.instances() {
                        let _ = writeln!(
                            out,
                            "    {}:{} cluster={} weight={:?} healthy={} enabled={} id={} \
                             meta={:?} timeouts={:?} beat={:?}",
                            r.ip,
                            r.port,
                            r.cluster,
                            r.weight,
                            r.healthy,
                            r.enabled,
                            r.instance_id(key),
                            r.metadata,
                            r.timeouts,
                            since(r.last_beat.instant())
                        );
                    }
                }
                for (key, subscriber) in client.subscribed.iter() {
                    let _ = writeln!(out, "  subscribes {key} {subscriber:?}");
                }
            }
            for (key, entry) in &state.services {
                let mut publishers: Vec<_> = entry.publishers.iter().collect();
                publishers.sort();
                let _ = writeln!(
                    out,
                    "service {key} changed={:?} meta={:?} publishers={publishers:?}",
                    since(entry.last_changed),
                    entry.meta
                );
            }
            let mut subscribers: Vec<_> = state.subscribers.iter().collect();
            subscribers.sort_by(|a, b| a.0.cmp(b.0));
            for (key, ids) in subscribers {
                let mut ids: Vec<_> = ids.iter().collect();
                ids.sort();
                let _ = writeln!(out, "subscribers {key} {ids:?}");
            }
            out
        })
    }
}
