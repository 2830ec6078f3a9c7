//! Limits on input, shared by ingest (which enforces them) and tests (which probe them).

/// Largest accepted message body, in bytes; bigger input is rejected before decoding.
pub const MESSAGE_BYTES_MAX: usize = 64 * 1024;
/// Longest id (team, pool, workload, type, region), in bytes.
pub const ID_BYTES_MAX: usize = 64;
/// Most chips a single pool may declare.
pub const POOL_CHIPS_MAX: u32 = 1_000_000;
/// Most chips a single workload may ask for.
pub const WORKLOAD_CHIPS_MAX: u32 = 100_000;
/// Most accelerator types one workload may list.
pub const ACCEPTED_TYPES_MAX: usize = 32;
/// Longest drain grace period, in seconds (one day).
pub const DRAIN_GRACE_S_MAX: u32 = 86_400;
/// Longest usage window a sample may cover, in seconds.
pub const USAGE_WINDOW_S_MAX: u32 = 3_600;
/// Longest idempotency key, in bytes.
pub const IDEMPOTENCY_KEY_BYTES_MAX: usize = 128;
/// Longest `Qm-Source` header, in bytes.
pub const SOURCE_BYTES_MAX: usize = 64;
