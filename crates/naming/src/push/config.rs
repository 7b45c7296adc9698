//! Push timers and limits, with Nacos's defaults (`nacos.naming.push.*`).

use serde::{Deserialize, Serialize};

/// How pushes are merged, timed out and retried.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PushConfig {
    /// Changes to one service within this window merge into one push (ms; 0 pushes at
    /// once); `nacos.naming.push.pushTaskDelay`.
    pub delay_ms: u64,
    /// A push not acknowledged within this time failed (ms);
    /// `nacos.naming.push.pushTaskTimeout`.
    pub timeout_ms: u64,
    /// A failed push is retried after this delay (ms), with the then current view;
    /// `nacos.naming.push.pushTaskRetryDelay`.
    pub retry_delay_ms: u64,
    /// Most services waiting in one subscriber's push queue; a full queue makes the push
    /// retry later instead of growing.
    pub queue_len_max: usize,
}

impl Default for PushConfig {
    fn default() -> Self {
        Self {
            delay_ms: 500,
            timeout_ms: 5_000,
            retry_delay_ms: 1_000,
            queue_len_max: 4_096,
        }
    }
}
