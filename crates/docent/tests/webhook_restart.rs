//! At-least-once across a crash: a real `docent serve` child process is SIGKILLed
//! while a webhook delivery is in flight (the receiver accepted the connection and
//! holds it), a new one is started on the same store, and the event reaches the
//! receiver after the lease of the dead server's claim expires, signed, with the
//! same `webhook-id` (so a deduping receiver processes it once). Signatures are
//! checked by the independent `standardwebhooks` library (`make test-webhooks`).

#[path = "../../docent-server/tests/support/receiver.rs"]
mod receiver;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use receiver::{verify_independently, Receiver, Reply};
use serde_json::{json, Value};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn docent() -> Command {
    let models = std::env::var_os("DOCENT_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models"));
    let mut c = Command::new(env!("CARGO_BIN_EXE_docent"));
    c.env("DOCENT_MODELS", models);
    c
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// Kills the child on drop, so a failing assertion leaves no server behind.
struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn serve(config: &Path, base: &str, log: &Path) -> Serve {
    let log = std::fs::File::create(log).expect("log file");
    let child = docent()
        .args(["serve", "--config"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start docent serve");
    let mut serve = Serve(child);
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = http.get(format!("{base}/healthz")).send().await {
            if r.status().is_success() {
                return serve;
            }
        }
        assert!(serve.0.try_wait().expect("status").is_none(), "docent serve exited during start-up");
        assert!(Instant::now() < deadline, "docent serve did not answer within 60 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn json_of(res: reqwest::Response) -> Value {
    serde_json::from_str(&res.text().await.expect("body")).expect("JSON body")
}

async fn wait_for(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the standardwebhooks verifier: make test-webhooks"]
async fn a_delivery_cut_by_sigkill_is_delivered_after_restart() {
    let work = tempfile::tempdir().expect("tempdir");
    let (docs, data) = (work.path().join("docs"), work.path().join("data"));
    std::fs::create_dir(&docs).expect("mkdir");
    std::fs::write(docs.join("refunds.md"), "---\ntitle: Refunds\n---\n\n## Window\n\nRefunds within 30 days.\n")
        .expect("write");
    let out = docent().args(["ingest", "--quiet", "--data"]).arg(&data).arg(&docs).output().expect("ingest");
    assert!(out.status.success(), "ingest: {}", String::from_utf8_lossy(&out.stderr));

    let rx = Receiver::start().await;
    // The first delivery is accepted and never answered; later ones get 200.
    rx.script("/hook", &[Reply::Hang], Reply::Status(200));
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let config = work.path().join("docent.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:{port}\"\ndata = \"{data}\"\n[auth]\nrequired = false\n[[bots]]\nid = \"docs\"\n\
             [webhooks]\ntimeout_secs = 3\nlease_secs = 4\npoll_ms = 50\nbackoff_base_ms = 50\n\
             [[webhooks.endpoints]]\nbot = \"docs\"\nurl = \"{url}\"\nevents = [\"conversation.started\"]\n\
             secret = \"{SECRET}\"\n",
            data = data.display(),
            url = rx.url("/hook"),
        ),
    )
    .expect("config");

    let http = reqwest::Client::new();
    let mut first = serve(&config, &base, &work.path().join("serve-1.log")).await;
    let res = http
        .post(format!("{base}/v1/conversations"))
        .header("content-type", "application/json")
        .body(json!({"bot_id": "docs"}).to_string())
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 201);
    let conversation = json_of(res).await["id"].as_str().expect("id").to_string();
    wait_for(Duration::from_secs(20), "the first delivery to arrive", || rx.on("/hook").len() == 1).await;
    // Mid-delivery: the receiver holds the request open. SIGKILL (no shutdown code runs).
    first.0.kill().expect("SIGKILL");
    first.0.wait().expect("reap");
    assert_eq!(rx.on("/hook").len(), 1, "nothing was retried before the restart");

    let _second = serve(&config, &base, &work.path().join("serve-2.log")).await;
    wait_for(Duration::from_secs(30), "the delivery after the restart", || rx.on("/hook").len() >= 2).await;

    let got = rx.on("/hook");
    assert_eq!(rx.distinct_ids("/hook").len(), 1, "the same event, by webhook-id: {got:?}");
    let env = got[1].json();
    assert_eq!(env["type"], "conversation.started");
    assert_eq!(env["data"]["conversation_id"], conversation.as_str());

    // The store shows it delivered on the second attempt; the killed one left no record.
    let list = json_of(http.get(format!("{base}/v1/webhooks")).send().await.expect("list")).await;
    let id = list["data"][0]["id"].as_str().expect("endpoint id").to_string();
    let mut delivery = Value::Null;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let page =
            json_of(http.get(format!("{base}/v1/webhooks/{id}/deliveries")).send().await.expect("deliveries")).await;
        delivery = page["data"][0].clone();
        if delivery["state"] == "delivered" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(delivery["state"], "delivered", "{delivery}");
    assert_eq!(delivery["attempts"], 2, "{delivery}");
    assert_eq!(delivery["attempt_log"].as_array().map(Vec::len), Some(1), "{delivery}");
    assert_eq!(delivery["attempt_log"][0]["attempt"], 2);
    assert_eq!(delivery["attempt_log"][0]["status"], 200);

    // Both requests (the cut one and the retry) carry a valid signature per the
    // independent implementation.
    let verdicts = verify_independently(&got.iter().map(|r| (SECRET.to_string(), r.clone())).collect::<Vec<_>>());
    assert_eq!(verdicts.len(), got.len());
    assert!(verdicts.iter().all(|v| v.starts_with("ok evt_")), "{verdicts:?}");
}
