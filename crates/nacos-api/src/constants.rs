//! Names, defaults and reserved keys shared by every Nacos client and server.

/// Namespace used when a caller gives none (or a blank one).
pub const DEFAULT_NAMESPACE: &str = "public";
/// Group used when a caller gives none.
pub const DEFAULT_GROUP: &str = "DEFAULT_GROUP";
/// Cluster used when a caller gives none.
pub const DEFAULT_CLUSTER: &str = "DEFAULT";
/// Separator between group and service in a grouped service name (`group@@service`).
pub const GROUP_SEPARATOR: &str = "@@";
/// Separator inside generated instance ids (`ip#port#cluster#group@@service`).
pub const INSTANCE_ID_SEPARATOR: &str = "#";

/// Instance metadata key overriding the advertised beat interval (milliseconds).
pub const META_HEART_BEAT_INTERVAL: &str = "preserved.heart.beat.interval";
/// Instance metadata key overriding the beat timeout after which it turns unhealthy (ms).
pub const META_HEART_BEAT_TIMEOUT: &str = "preserved.heart.beat.timeout";
/// Instance metadata key overriding the beat timeout after which it is deleted (ms).
pub const META_IP_DELETE_TIMEOUT: &str = "preserved.ip.delete.timeout";
/// Instance metadata key naming the instance id generator.
pub const META_INSTANCE_ID_GENERATOR: &str = "preserved.instance.id.generator";

/// Default beat interval advertised to clients, in milliseconds.
pub const DEFAULT_HEART_BEAT_INTERVAL_MS: i64 = 5_000;
/// Default time without beats after which an instance turns unhealthy, in milliseconds.
pub const DEFAULT_HEART_BEAT_TIMEOUT_MS: i64 = 15_000;
/// Default time without beats after which an instance is deleted, in milliseconds.
pub const DEFAULT_IP_DELETE_TIMEOUT_MS: i64 = 30_000;
/// `cacheMillis` advertised in service views (SwitchDomain.defaultPushCacheMillis).
pub const DEFAULT_CACHE_MILLIS: i64 = 10_000;

/// `code` of a successful beat answer.
pub const BEAT_OK: i32 = 10_200;
/// `code` of a beat answer for an instance the server does not know (client must re-register).
pub const BEAT_RESOURCE_NOT_FOUND: i32 = 20_404;
