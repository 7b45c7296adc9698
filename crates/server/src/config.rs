//! Configuration: built-in defaults < TOML file < `DISTRO_` environment < command-line flags.

use std::path::Path;

use distro_naming::NamingConfig;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// Everything the server can be told.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Listeners and HTTP limits.
    pub server: ServerConfig,
    /// Registry timers and limits.
    pub naming: NamingConfig,
    /// Logging.
    pub log: LogConfig,
}

/// Listeners and HTTP limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address the listeners bind to.
    pub bind: String,
    /// HTTP port (Nacos `server.port`); 0 picks a free one (tests).
    pub port: u16,
    /// The SDK gRPC port is the HTTP port plus this (Nacos: 1000).
    pub grpc_port_offset: u16,
    /// Largest HTTP request body accepted, in bytes.
    pub body_len_max: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: "0.0.0.0".to_owned(),
            port: 8848,
            grpc_port_offset: 1000,
            body_len_max: 1024 * 1024,
        }
    }
}

/// Log level and format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// A `tracing` filter such as `info` or `distro_naming=debug,info`.
    pub level: String,
    /// `text` or `json`.
    pub format: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".to_owned(),
            format: "text".to_owned(),
        }
    }
}

impl Config {
    /// Layers defaults, the TOML file (if any), `DISTRO_` environment variables
    /// (`DISTRO_SERVER__PORT=8849`, `DISTRO_NAMING__HEART_BEAT_TIMEOUT_MS=20000`) and the
    /// given overrides (command-line flags), later layers winning.
    pub fn load(file: Option<&Path>, overrides: Figment) -> Result<Self, Box<figment::Error>> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            figment = figment.merge(Toml::file_exact(path));
        }
        figment
            .merge(Env::prefixed("DISTRO_").split("__"))
            .merge(overrides)
            .extract()
            .map_err(Box::new)
    }
}

#[cfg(test)]
// figment's test jail returns its large error type by design.
#[allow(clippy::result_large_err)]
mod tests {
    use figment::Jail;

    use super::*;

    #[test]
    fn layers_file_then_environment_then_flags() {
        Jail::expect_with(|jail| {
            jail.create_file("distro.toml", "[server]\nport = 9000\n[naming]\nheart_beat_timeout_ms = 20000\nip_delete_timeout_ms = 40000\n")?;
            jail.set_env("DISTRO_NAMING__IP_DELETE_TIMEOUT_MS", "50000");
            let flags = Figment::new().merge(Serialized::default("server.bind", "127.0.0.1"));
            let config = Config::load(Some(Path::new("distro.toml")), flags).expect("valid config");
            assert_eq!(config.server.port, 9000);
            assert_eq!(config.server.bind, "127.0.0.1");
            assert_eq!(config.naming.heart_beat_timeout_ms, 20000);
            assert_eq!(config.naming.ip_delete_timeout_ms, 50000);
            assert_eq!(config.naming.beat_check_interval_ms, 5000);
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_are_refused() {
        Jail::expect_with(|jail| {
            jail.create_file("bad.toml", "[naming]\nheart_beat_timeout = 1\n")?;
            assert!(Config::load(Some(Path::new("bad.toml")), Figment::new()).is_err());
            Ok(())
        });
    }
}
