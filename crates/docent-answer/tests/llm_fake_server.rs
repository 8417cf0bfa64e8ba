//! The LLM generator against a scripted OpenAI-compatible server that really streams
//! over HTTP on 127.0.0.1: streaming, framing, errors, timeouts, retries, cancellation,
//! the prompt and the grounding rule.

mod llm_support;

use std::time::Duration;

use docent_answer::citations::CitationFilter;
use docent_answer::llm::{ApiKey, LlmConfig, LlmGenerator};
use docent_answer::{AnswerError, AnswerEvent, FinishReason, Generator, Role, Turn, Usage};
use llm_support::*;
use tokio::sync::oneshot;
use tokio::time::Instant;

fn config(server: &FakeLlm) -> LlmConfig {
    let mut c = LlmConfig::new(server.base_url.clone(), "fake-model");
    c.backoff_base = Duration::from_millis(20);
    c.backoff_cap = Duration::from_millis(80);
    c.first_token_timeout = Duration::from_secs(5);
    c.total_timeout = Duration::from_secs(10);
    c
}

fn generator(c: LlmConfig) -> LlmGenerator {
    LlmGenerator::new(c).unwrap()
}

#[tokio::test]
async fn deltas_arrive_while_the_upstream_is_still_generating() {
    let (go_tx, go_rx) = oneshot::channel();
    let mut server = FakeLlm::start(vec![Reply::Stream(vec![
        Step::Send(role()),
        Step::Send(content("Refunds are available within 30 days [1].")),
        Step::Wait(go_rx),
        Step::Send(content(" Invoices are monthly [2].")),
        Step::Send(finish("stop")),
        Step::Send(usage(120, 14)),
        Step::Send(done()),
    ])])
    .await;
    let llm = generator(config(&server));
    let mut stream = llm.generate(request(two_sources(), vec![]));

    // The server is blocked on `go`: this delta can only have come through streaming.
    let first = next(&mut stream).await.unwrap().unwrap();
    assert_eq!(first, AnswerEvent::Delta("Refunds are available within 30 days [1].".into()));
    assert!(server.closed.try_recv().is_err(), "the response is still open");
    go_tx.send(()).unwrap();

    let rest = collect(stream).await;
    assert!(rest.error.is_none(), "{:?}", rest.error);
    assert_eq!(rest.text(), " Invoices are monthly [2].");
    assert_eq!(rest.done, Some((FinishReason::Stop, Usage { prompt_tokens: 120, completion_tokens: 14 })));
    assert_eq!(server.seen().len(), 1);
}

#[tokio::test]
async fn framing_partial_lines_crlf_multiline_data_and_keepalives() {
    let chunk_b = String::from_utf8(content("second [2]")).unwrap().replace("\n\n", "\r\n\r\n");
    let (b_head, b_tail) = chunk_b.split_at(17);
    let (go_tx, go_rx) = oneshot::channel();
    let server = FakeLlm::start(vec![Reply::Stream(vec![
        Step::Send(b": keep-alive\n\n".to_vec()),
        Step::Send(role()),
        Step::Send(b"event: ping\ndata: {}\n\n".to_vec()),
        Step::Send(content("first [1], ")),
        // A frame cut mid-line, the rest only after the test has seen the first delta:
        // the parser must carry the partial line across reads.
        Step::Send(b_head.as_bytes().to_vec()),
        Step::Wait(go_rx),
        Step::Send(b_tail.as_bytes().to_vec()),
        // One JSON payload over two `data:` lines, CRLF line ends, a comment in between.
        Step::Send(
            b"data: {\"choices\":[{\"index\":0,\r\n: a comment\r\ndata: \"delta\":{\"content\":\" third\"}}]}\r\n\r\n"
                .to_vec(),
        ),
        Step::Send(b"data:{\"choices\":[{\"index\":0,\"delta\":{\"content\":\" [1].\"}}]}\n\n".to_vec()),
        Step::Send(b"\n\n: ping\n\n".to_vec()),
        Step::Send(finish("stop")),
        Step::Send(b"data: [DONE]\r\n\r\n".to_vec()),
    ])])
    .await;
    let llm = generator(config(&server));
    let mut stream = llm.generate(request(two_sources(), vec![]));
    assert_eq!(next(&mut stream).await.unwrap().unwrap(), AnswerEvent::Delta("first [1], ".into()));
    go_tx.send(()).unwrap();
    let rest = collect(stream).await;
    assert!(rest.error.is_none(), "{:?}", rest.error);
    assert_eq!(rest.text(), "second [2] third [1].");
    assert_eq!(rest.done.unwrap().0, FinishReason::Stop);
}

#[tokio::test]
async fn finish_length_and_counted_tokens_without_usage() {
    let server = FakeLlm::start(vec![Reply::Stream(vec![
        Step::Send(content("Refunds [1] are")),
        Step::Send(content(" within")),
        Step::Send(finish("length")),
        Step::Send(done()),
    ])])
    .await;
    let got = collect(generator(config(&server)).generate(request(two_sources(), vec![]))).await;
    assert_eq!(got.text(), "Refunds [1] are within");
    assert_eq!(got.done, Some((FinishReason::Length, Usage { prompt_tokens: 0, completion_tokens: 2 })));
}

#[tokio::test]
async fn a_finish_without_done_is_complete_but_a_bare_close_is_not() {
    let server = FakeLlm::start(vec![
        Reply::Stream(vec![Step::Send(content("Yes [1].")), Step::Send(finish("stop"))]),
        Reply::Stream(vec![Step::Send(content("Cut [1] off"))]),
    ])
    .await;
    let llm = generator(config(&server));
    let ok = collect(llm.generate(request(two_sources(), vec![]))).await;
    assert_eq!(ok.done.unwrap().0, FinishReason::Stop);
    let cut = collect(llm.generate(request(two_sources(), vec![]))).await;
    assert_eq!(cut.text(), "Cut [1] off");
    assert!(matches!(cut.error, Some(AnswerError::Protocol(_))), "{:?}", cut.error);
}

#[tokio::test]
async fn garbage_frames_are_protocol_errors_and_not_retried() {
    let server = FakeLlm::start(vec![
        // Before the first token.
        Reply::Stream(vec![Step::Send(role()), Step::Send(b"data: <html>oops</html>\n\n".to_vec())]),
        // After the first token.
        Reply::Stream(vec![Step::Send(content("Fine [1].")), Step::Send(b"data: {\"unexpected\":true}\n\n".to_vec())]),
    ])
    .await;
    let llm = generator(config(&server));
    let early = collect(llm.generate(request(two_sources(), vec![]))).await;
    let Some(AnswerError::Protocol(message)) = &early.error else { panic!("{:?}", early.error) };
    assert!(message.contains("<html>oops</html>"), "{message}");
    assert!(early.deltas.is_empty());
    assert_eq!(server.seen().len(), 1, "a protocol error is not retried");

    let late = collect(llm.generate(request(two_sources(), vec![]))).await;
    assert_eq!(late.text(), "Fine [1].");
    assert!(matches!(late.error, Some(AnswerError::Protocol(_))), "{:?}", late.error);
    assert!(late.done.is_none());
    assert_eq!(server.seen().len(), 2);
}

#[tokio::test]
async fn an_error_after_the_first_token_ends_the_stream_without_retry() {
    // The break comes only after the client has shown the first delta (hyper would
    // otherwise drop the unflushed chunk with the connection).
    let (go_tx, go_rx) = oneshot::channel();
    let server = FakeLlm::start(vec![
        Reply::Stream(vec![Step::Send(content("Refunds take [1]")), Step::Wait(go_rx), Step::Fail]),
        Reply::Stream(vec![
            Step::Send(content("Refunds take [1]")),
            Step::Send(b"data: {\"error\":{\"message\":\"the model crashed\",\"type\":\"server_error\"}}\n\n".to_vec()),
        ]),
        answer(&["never used [1]"]),
    ])
    .await;
    let llm = generator(config(&server));
    let mut stream = llm.generate(request(two_sources(), vec![]));
    assert_eq!(next(&mut stream).await.unwrap().unwrap(), AnswerEvent::Delta("Refunds take [1]".into()));
    go_tx.send(()).unwrap();
    let broken = collect(stream).await;
    assert!(broken.deltas.is_empty() && broken.done.is_none());
    let Some(AnswerError::Upstream { retryable, status, .. }) = &broken.error else { panic!("{:?}", broken.error) };
    assert!(*retryable && status.is_none(), "{:?}", broken.error);
    assert_eq!(server.seen().len(), 1, "no retry after the first token");

    let reported = collect(llm.generate(request(two_sources(), vec![]))).await;
    assert_eq!(reported.text(), "Refunds take [1]");
    let error = reported.error.unwrap();
    assert!(error.to_string().contains("the model crashed"), "{error}");
    assert!(!error.retryable());
    assert_eq!(server.seen().len(), 2);
}

#[tokio::test]
async fn a_slow_first_token_times_out_and_the_request_is_abandoned() {
    let mut server = FakeLlm::start(vec![Reply::Stream(vec![Step::Send(role()), Step::Hang])]).await;
    let mut c = config(&server);
    c.first_token_timeout = Duration::from_millis(300);
    let started = Instant::now();
    let got = collect(generator(c).generate(request(two_sources(), vec![]))).await;
    let elapsed = started.elapsed();
    let Some(AnswerError::Timeout { stage, limit }) = got.error else { panic!("{:?}", got.error) };
    assert_eq!((stage, limit), ("first_token", Duration::from_millis(300)));
    assert!(elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(3), "{elapsed:?}");
    assert_eq!(server.seen().len(), 1, "a first-token timeout is not retried");
    server.wait_closed(0).await;
}

#[tokio::test]
async fn the_total_timeout_bounds_a_never_ending_answer() {
    let server =
        FakeLlm::start(vec![Reply::Stream(vec![Step::Repeat(content("more [1] "), Duration::from_millis(20))])]).await;
    let mut c = config(&server);
    c.total_timeout = Duration::from_millis(400);
    let started = Instant::now();
    let got = collect(generator(c).generate(request(two_sources(), vec![]))).await;
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(!got.deltas.is_empty());
    let Some(AnswerError::Timeout { stage, .. }) = got.error else { panic!("{:?}", got.error) };
    assert_eq!(stage, "total");
}

#[tokio::test]
async fn retry_after_is_honoured_on_429_then_the_answer_streams() {
    let server = FakeLlm::start(vec![
        Reply::Status {
            status: 429,
            headers: vec![("retry-after", "1".into())],
            body: r#"{"error":{"message":"slow down","type":"rate_limit"}}"#.into(),
        },
        answer(&["Refunds within 30 days [1]."]),
    ])
    .await;
    let got = collect(generator(config(&server)).generate(request(two_sources(), vec![]))).await;
    assert!(got.error.is_none(), "{:?}", got.error);
    assert_eq!(got.text(), "Refunds within 30 days [1].");
    let seen = server.seen();
    assert_eq!(seen.len(), 2, "one retry");
    let gap = seen[1].at - seen[0].at;
    assert!(
        gap >= Duration::from_secs(1) && gap < Duration::from_millis(2500),
        "Retry-After: 1 but the retry came after {gap:?}"
    );
}

#[tokio::test]
async fn a_retry_after_beyond_the_limit_fails_at_once() {
    let server = FakeLlm::start(vec![Reply::Status {
        status: 503,
        headers: vec![("retry-after", "120".into())],
        body: "overloaded".into(),
    }])
    .await;
    let got = collect(generator(config(&server)).generate(request(two_sources(), vec![]))).await;
    let Some(AnswerError::Upstream { status, retryable, message }) = got.error else { panic!("{:?}", got.error) };
    assert_eq!((status, retryable), (Some(503), true));
    assert!(message.contains("overloaded"), "{message}");
    assert_eq!(server.seen().len(), 1);
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff_then_given_up() {
    let fail = || Reply::Status { status: 500, headers: vec![], body: r#"{"error":{"message":"kaputt"}}"#.into() };
    let server = FakeLlm::start(vec![fail(), fail(), fail(), answer(&["too late [1]"])]).await;
    let mut c = config(&server);
    c.max_retries = 2;
    let got = collect(generator(c).generate(request(two_sources(), vec![]))).await;
    let Some(AnswerError::Upstream { status, retryable, message }) = got.error else { panic!("{:?}", got.error) };
    assert_eq!((status, retryable), (Some(500), true));
    assert!(message.contains("kaputt"), "{message}");
    let seen = server.seen();
    assert_eq!(seen.len(), 3, "the first attempt and max_retries = 2 more");
    // Back-off steps are 20 ms then 40 ms, at least half of each (equal jitter).
    assert!(seen[1].at - seen[0].at >= Duration::from_millis(10), "{:?}", seen[1].at - seen[0].at);
    assert!(seen[2].at - seen[1].at >= Duration::from_millis(20), "{:?}", seen[2].at - seen[1].at);
}

#[tokio::test]
async fn client_errors_are_not_retried_and_never_show_the_key() {
    let server = FakeLlm::start(vec![Reply::Status {
        status: 400,
        headers: vec![],
        body: r#"{"error":{"message":"bad key sk-test-SECRET-123 for model"}}"#.into(),
    }])
    .await;
    let mut c = config(&server);
    c.api_key = Some(ApiKey::new("sk-test-SECRET-123"));
    let llm = generator(c);
    assert!(!format!("{llm:?}").contains("SECRET"));
    let got = collect(llm.generate(request(two_sources(), vec![]))).await;
    let error = got.error.unwrap();
    let shown = format!("{error} {error:?}");
    assert!(!shown.contains("SECRET"), "{shown}");
    assert!(shown.contains("bad key *** for model"), "{shown}");
    assert!(!error.retryable());
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].headers["authorization"], "Bearer sk-test-SECRET-123");
}

#[tokio::test]
async fn an_unreachable_server_is_a_retryable_upstream_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut c = LlmConfig::new(format!("http://127.0.0.1:{port}/v1"), "m");
    c.max_retries = 1;
    c.backoff_base = Duration::from_millis(5);
    let got = collect(generator(c).generate(request(two_sources(), vec![]))).await;
    let Some(AnswerError::Upstream { status: None, retryable: true, message }) = got.error else {
        panic!("{:?}", got.error)
    };
    assert!(message.contains("cannot connect"), "{message}");
}

#[tokio::test]
async fn dropping_the_stream_closes_the_upstream_connection() {
    let mut server =
        FakeLlm::start(vec![Reply::Stream(vec![Step::Repeat(content("token [1] "), Duration::from_millis(20))])]).await;
    let mut stream = generator(config(&server)).generate(request(two_sources(), vec![]));
    for _ in 0..3 {
        assert!(matches!(next(&mut stream).await, Some(Ok(AnswerEvent::Delta(_)))));
    }
    drop(stream);
    server.wait_closed(0).await;
}

#[tokio::test]
async fn dropping_a_stream_waiting_for_the_first_token_closes_it_too() {
    let mut server = FakeLlm::start(vec![Reply::Stream(vec![Step::Send(role()), Step::Hang])]).await;
    let mut stream = generator(config(&server)).generate(request(two_sources(), vec![]));
    // Drive the stream until the request is at the server, then drop it.
    let arrived = tokio::time::timeout(Duration::from_secs(10), async {
        tokio::select! {
            n = server.arrived.recv() => n,
            _ = next(&mut stream) => panic!("the stream yielded without a token"),
        }
    })
    .await
    .unwrap();
    assert_eq!(arrived, Some(0));
    drop(stream);
    server.wait_closed(0).await;
}

#[tokio::test]
async fn the_prompt_has_numbered_sources_history_and_the_question_last() {
    let server = FakeLlm::start(vec![answer(&["ok [1]"])]).await;
    let mut c = config(&server);
    c.max_tokens = 200;
    c.extra_body.insert("repeat_penalty".into(), serde_json::json!(1.0));
    c.headers.insert("X-Tenant".into(), "docs".into());
    let history = vec![
        Turn { role: Role::User, content: "Do you offer refunds?".into() },
        Turn { role: Role::Assistant, content: "Yes, within a window [1].".into() },
    ];
    let mut req = request(two_sources(), history);
    req.system_prompt = Some("You are Lumen's helper.".into());
    let got = collect(generator(c).generate(req)).await;
    assert!(got.error.is_none(), "{:?}", got.error);

    let seen = server.seen();
    let body = &seen[0].body;
    assert_eq!(body["model"], "fake-model");
    assert_eq!(body["stream"], true);
    assert_eq!(body["max_tokens"], 200, "the lower of the config's and the request's bound");
    assert_eq!(body["repeat_penalty"], 1.0);
    assert_eq!(body["stream_options"]["include_usage"], true);
    assert_eq!(seen[0].headers["x-tenant"], "docs");
    let messages = body["messages"].as_array().unwrap();
    let roles: Vec<&str> = messages.iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["system", "user", "assistant", "user"]);
    let system = messages[0]["content"].as_str().unwrap();
    assert!(system.starts_with("You are Lumen's helper."), "{system}");
    assert!(
        system.contains(
            "[1] Refunds — Details\nhttps://help.example/1#part\nRefunds are available within 30 days of purchase."
        ),
        "{system}"
    );
    assert!(system.contains("[2] Billing — Details\nhttps://help.example/2#part\nInvoices are sent monthly."));
    assert!(system.contains("reply exactly: I could not find that in the documentation."));
    assert!(system.contains("only the numbered sources"));
    assert_eq!(messages[1]["content"], "Do you offer refunds?");
    assert_eq!(messages[2]["content"], "Yes, within a window [1].");
    assert_eq!(messages[3]["content"], "How long is the refund window?");
}

#[tokio::test]
async fn unanswerable_requests_never_reach_the_llm() {
    let server = FakeLlm::start(vec![]).await;
    let mut req = request(two_sources(), vec![]);
    req.answerable = false;
    let got = collect(generator(config(&server)).generate(req)).await;
    assert_eq!(got.text(), "I could not find that in the documentation.");
    assert_eq!(got.done, Some((FinishReason::NoAnswer, Usage::default())));
    assert!(server.seen().is_empty());
}

#[tokio::test]
async fn invalid_markers_are_removed_by_the_citation_filter_and_reported() {
    let server = FakeLlm::start(vec![answer(&["Refunds take 30 days [1] and [", "5] more [1,", " 9] so [2]."])]).await;
    let got = collect(generator(config(&server)).generate(request(two_sources(), vec![]))).await;
    assert_eq!(got.done.unwrap().0, FinishReason::Stop);
    let mut filter = CitationFilter::new(2);
    let mut shown = String::new();
    for d in &got.deltas {
        shown.push_str(&filter.push(d));
    }
    shown.push_str(&filter.finish());
    assert_eq!(shown, "Refunds take 30 days [1] and more [1] so [2].");
    assert_eq!(filter.dropped(), ["[5]".to_string(), "[1, 9]".to_string()]);
    assert_eq!(filter.cited_sources(), vec![1, 2]);
}

#[tokio::test]
async fn grounded_or_silent_uncited_answers_become_the_fallback() {
    let (go_tx, go_rx) = oneshot::channel();
    let server = FakeLlm::start(vec![
        answer(&["The moon ", "is made of cheese [7]."]),
        Reply::Stream(vec![
            Step::Send(content("Refunds are ")),
            Step::Send(content("available [")),
            Step::Send(content("1] within 30 days.")),
            Step::Wait(go_rx),
            Step::Send(finish("stop")),
            Step::Send(done()),
        ]),
    ])
    .await;
    let llm = generator(config(&server));
    let uncited = collect(llm.generate(request(two_sources(), vec![]))).await;
    assert_eq!(uncited.deltas, ["I could not find that in the documentation."]);
    assert_eq!(uncited.done.unwrap().0, FinishReason::NoAnswer);

    // The held text is released in one piece as soon as a valid marker completes,
    // while the upstream is still open.
    let mut stream = llm.generate(request(two_sources(), vec![]));
    assert_eq!(
        next(&mut stream).await.unwrap().unwrap(),
        AnswerEvent::Delta("Refunds are available [1] within 30 days.".into())
    );
    go_tx.send(()).unwrap();
    let rest = collect(stream).await;
    assert!(rest.deltas.is_empty(), "{:?}", rest.deltas);
    assert_eq!(rest.done.unwrap().0, FinishReason::Stop);
}

#[tokio::test]
async fn without_require_citation_text_streams_at_once_and_refusals_are_no_answer() {
    let server =
        FakeLlm::start(vec![answer(&["I could not find that ", "in the documentation."]), answer(&["Plain words."])])
            .await;
    let mut c = config(&server);
    c.require_citation = false;
    let llm = generator(c);
    let refusal = collect(llm.generate(request(two_sources(), vec![]))).await;
    assert_eq!(refusal.deltas.len(), 2);
    assert_eq!(refusal.done.unwrap().0, FinishReason::NoAnswer);
    let plain = collect(llm.generate(request(two_sources(), vec![]))).await;
    assert_eq!(plain.text(), "Plain words.");
    assert_eq!(plain.done.unwrap().0, FinishReason::Stop);
}

#[tokio::test]
async fn a_server_that_ignores_stream_true_still_answers() {
    let server = FakeLlm::start(vec![Reply::Whole {
        content_type: "application/json",
        body: r#"{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"Within 30 days [1]."},"finish_reason":"stop"}],"usage":{"prompt_tokens":50,"completion_tokens":6}}"#.into(),
    }])
    .await;
    let got = collect(generator(config(&server)).generate(request(two_sources(), vec![]))).await;
    assert_eq!(got.text(), "Within 30 days [1].");
    assert_eq!(got.done, Some((FinishReason::Stop, Usage { prompt_tokens: 50, completion_tokens: 6 })));
}

#[tokio::test]
async fn a_break_before_the_first_token_is_retried() {
    let server =
        FakeLlm::start(vec![Reply::Stream(vec![Step::Send(role()), Step::Fail]), answer(&["Second try [1]."])]).await;
    let got = collect(generator(config(&server)).generate(request(two_sources(), vec![]))).await;
    assert!(got.error.is_none(), "{:?}", got.error);
    assert_eq!(got.text(), "Second try [1].");
    assert_eq!(server.seen().len(), 2);
}
