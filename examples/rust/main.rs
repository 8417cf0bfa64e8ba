//! Docent's chat API from Rust: reqwest + eventsource-stream. A blocking answer, then a
//! streamed follow-up in the same conversation, printed as the deltas arrive.
//!
//! ```sh
//! DOCENT_URL=http://127.0.0.1:8080 DOCENT_KEY=sk_… cargo run --release -p docent-server --example rust_client
//! ```

use eventsource_stream::Eventsource;
use futures::StreamExt;
use serde_json::{json, Value};
use std::io::Write;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("DOCENT_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let key = std::env::var("DOCENT_KEY").map_err(|_| "set DOCENT_KEY to a secret key with the chat scope")?;
    let http = reqwest::Client::new();

    // Blocking: one JSON answer with its sources.
    let first: Value = http
        .post(format!("{url}/v1/chat"))
        .bearer_auth(&key)
        .json(&json!({"bot_id": "docs", "message": "What is the refund window for Lumen Ledger subscriptions?"}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    println!("blocking: {}", first["message"]["content"].as_str().unwrap_or_default());
    for s in first["sources"].as_array().into_iter().flatten() {
        println!(
            "  [{}] {} {}",
            s["index"],
            s["title"].as_str().unwrap_or_default(),
            s["url"].as_str().unwrap_or_default()
        );
    }
    let conversation = first["conversation_id"].as_str().ok_or("no conversation_id")?.to_string();

    // Streaming: SSE frames; `: ping` comments are skipped by the parser, unknown events ignored.
    let res = http
        .post(format!("{url}/v1/chat"))
        .bearer_auth(&key)
        .json(&json!({"bot_id": "docs", "message": "How long until the refunded money shows up on my card?",
                      "conversation_id": conversation, "stream": true}))
        .send()
        .await?
        .error_for_status()?;
    let mut events = res.bytes_stream().eventsource();
    let (mut text, mut done) = (String::new(), None::<Value>);
    while let Some(event) = events.next().await {
        let event = event?;
        let data: Value = serde_json::from_str(&event.data)?;
        match event.event.as_str() {
            "delta" => {
                let d = data["delta"].as_str().unwrap_or_default();
                text.push_str(d);
                print!("{d}");
                std::io::stdout().flush()?;
            }
            "done" => done = Some(data),
            "error" => return Err(format!("stream failed: {}", data["error"]["message"]).into()),
            _ => {}
        }
    }
    println!();
    let done = done.ok_or("the stream ended without a done frame")?;
    if done["conversation_id"].as_str() != Some(conversation.as_str()) {
        return Err("the follow-up left the conversation".into());
    }
    if done["message"]["content"].as_str() != Some(text.as_str()) {
        return Err("done does not repeat the streamed text".into());
    }
    println!("follow-up finish_reason: {}", done["finish_reason"].as_str().unwrap_or_default());
    Ok(())
}
