//! What the server logs about a request: one line per request inside a span with the
//! request id, and no e-mail address or phone number a visitor typed.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::json;
use support::{start, Gen};

/// Log output collected in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_lines_carry_the_request_id_and_mask_personal_data() {
    let logs = Captured::default();
    tracing_subscriber::fmt().with_writer(logs.clone()).with_ansi(false).with_max_level(tracing::Level::INFO).init();
    let s = start(Gen::Extractive, |_| {}).await;
    let q = "my%20mail%20is%20jane.doe%40example.com%20call%20%2B1%20555%20010%209999";
    let res = s
        .http
        .get(s.url(&format!("/v1/search?bot_id=docs&q={q}")))
        .header("x-request-id", "req-log-test-1")
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200);
    let res = s
        .http
        .post(s.url("/v1/chat"))
        .header("x-request-id", "req-log-test-2")
        .json(&json!({"bot_id": "docs", "message": "I am jane.doe@example.com, +1 555 010 9999: refunds?"}))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200);
    let unknown = s.get("/v1/nope?email=jane.doe@example.com").await;
    assert_eq!(unknown.status(), 404);
    s.stop().await;

    let text = String::from_utf8_lossy(&logs.0.lock().unwrap_or_else(|p| p.into_inner())).to_string();
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("response")).collect();
    let search = lines.iter().find(|l| l.contains("req-log-test-1")).unwrap_or_else(|| panic!("search line: {text}"));
    assert!(search.contains("status=200") && search.contains("/v1/search"), "{search}");
    assert!(search.contains("[email]") && search.contains("[phone]"), "{search}");
    assert!(lines.iter().any(|l| l.contains("req-log-test-2") && l.contains("/v1/chat")), "{text}");
    assert!(lines.iter().any(|l| l.contains("/v1/nope") && l.contains("status=404")), "{text}");
    // Latencies are floats (`latency_ms=0.018099999999999998`): digits, not data.
    let without_numbers: String = text
        .split_inclusive(char::is_whitespace)
        .filter(|w| !w.starts_with("latency_ms=") && !w.starts_with("total_ms="))
        .collect();
    for secret in ["jane.doe", "jane.doe%40", "555", "9999"] {
        assert!(!without_numbers.contains(secret), "`{secret}` leaked into the logs:\n{text}");
    }
}
