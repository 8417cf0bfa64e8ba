//! Opaque prefixed ids (`conv_…`, `msg_…`, `req_…`, `key_…`, `wh_…`, `evt_…`, `lead_…`).
//!
//! Time-ordered (UUIDv7: 48 bits of milliseconds, 74 random bits) so lists sort by
//! creation, and unguessable enough to serve as capabilities for public-key readers.

use uuid::Uuid;

fn prefixed(prefix: &str) -> String {
    format!("{prefix}_{}", Uuid::now_v7().simple())
}

/// A new conversation id.
pub fn conversation_id() -> String {
    prefixed("conv")
}

/// A new message id.
pub fn message_id() -> String {
    prefixed("msg")
}

/// A new webhook endpoint id.
pub fn webhook_id() -> String {
    prefixed("wh")
}

/// A new webhook event id (the `webhook-id` header).
pub fn event_id() -> String {
    prefixed("evt")
}

/// A new lead id.
pub fn lead_id() -> String {
    prefixed("lead")
}

/// A new request id.
pub fn request_id() -> String {
    prefixed("req")
}

/// True for strings this server could have issued with `prefix` (cheap pre-check
/// before a database lookup).
pub fn looks_like(id: &str, prefix: &str) -> bool {
    id.strip_prefix(prefix)
        .and_then(|r| r.strip_prefix('_'))
        .is_some_and(|r| !r.is_empty() && r.len() <= 64 && r.chars().all(|c| c.is_ascii_alphanumeric()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_prefixed_distinct_and_recognised() {
        let a = conversation_id();
        let b = conversation_id();
        assert!(a.starts_with("conv_") && a != b);
        assert!(looks_like(&a, "conv"));
        assert!(!looks_like(&a, "msg"));
        assert!(!looks_like("conv_../../etc", "conv"));
        assert!(a < b || a[..17] == b[..17], "time-ordered");
    }
}
