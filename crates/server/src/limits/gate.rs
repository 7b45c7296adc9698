//! Connections per client IP: a table of open connections per address, and a permit per
//! connection that gives its slot back when dropped (however the connection ends).

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use parking_lot::Mutex;

/// Counts open connections per client IP and refuses one above the maximum.
#[derive(Debug, Clone)]
pub struct ConnectionGate {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    max: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One open connection's slot; dropping it frees the slot.
#[derive(Debug)]
pub struct IpPermit {
    ip: IpAddr,
    gate: Arc<Inner>,
}

/// The IP already has the most connections allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GateFull {
    /// The client's address.
    pub ip: IpAddr,
    /// The maximum per IP.
    pub max: usize,
}

impl fmt::Display for GateFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "too many connections from {}: at most {} at once",
            self.ip, self.max
        )
    }
}

impl ConnectionGate {
    /// A gate allowing `max` connections per IP; 0 allows any number (none are counted).
    pub fn new(max: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                max,
                open: Mutex::default(),
            }),
        }
    }

    /// A slot for one more connection from `ip`, or why not. `None` inside `Ok` when the
    /// gate is unlimited (nothing to give back).
    pub fn try_acquire(&self, ip: IpAddr) -> Result<Option<IpPermit>, GateFull> {
        if self.inner.max == 0 {
            return Ok(None);
        }
        let mut open = self.inner.open.lock();
        let count = open.entry(ip).or_default();
        if *count >= self.inner.max {
            return Err(GateFull {
                ip,
                max: self.inner.max,
            });
        }
        *count += 1;
        Ok(Some(IpPermit {
            ip,
            gate: Arc::clone(&self.inner),
        }))
    }

    /// Connections open from `ip` (tests and metrics).
    pub fn open_from(&self, ip: IpAddr) -> usize {
        self.inner.open.lock().get(&ip).copied().unwrap_or(0)
    }
}

impl Drop for IpPermit {
    fn drop(&mut self) {
        let mut open = self.gate.open.lock();
        if let Some(count) = open.get_mut(&self.ip) {
            *count = count.saturating_sub(1);
            // Forget idle addresses: the table holds only IPs with open connections.
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_above_the_maximum_and_frees_on_drop() {
        let gate = ConnectionGate::new(2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let first = gate.try_acquire(a).unwrap();
        let _second = gate.try_acquire(a).unwrap();
        assert_eq!(gate.try_acquire(a).unwrap_err(), GateFull { ip: a, max: 2 });
        assert!(
            gate.try_acquire(b).unwrap().is_some(),
            "other IPs unaffected"
        );
        drop(first);
        assert_eq!(gate.open_from(a), 1);
        assert!(gate.try_acquire(a).is_ok());
    }

    #[test]
    fn zero_means_unlimited_and_idle_ips_are_forgotten() {
        let gate = ConnectionGate::new(0);
        let ip: IpAddr = "::1".parse().unwrap();
        for _ in 0..10_000 {
            assert!(gate.try_acquire(ip).unwrap().is_none());
        }
        let gate = ConnectionGate::new(1);
        drop(gate.try_acquire(ip).unwrap());
        assert!(gate.inner.open.lock().is_empty());
    }
}
