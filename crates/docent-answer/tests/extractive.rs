//! The extractive generator on hand-made sources: verbatim answers with valid markers,
//! the fallback, the word cap, cancellation, odd Unicode and empty input.

mod extractive_support;

use std::time::{Duration, Instant};

use docent_answer::extractive::{ExtractiveConfig, ExtractiveGenerator, Refusal};
use docent_answer::{AnswerError, AnswerEvent, FinishReason, Generator, Source};
use extractive_support::{request, run, source, unfaithful, with_history};
use futures::StreamExt;

const REFUNDS: &str = "https://help.test/billing/refunds#refund-window";
const PRICING: &str = "https://help.test/pricing/#plan-prices";
const WEBHOOKS: &str = "https://help.test/api/webhooks#retries";

fn sources() -> Vec<Source> {
    vec![
        source(
            1,
            REFUNDS,
            &["Refund policy", "Refund window"],
            "You can request a full refund of a subscription charge within:\n\n\
             - 30 days of the charge date for annual plans, and\n\
             - 14 days of the charge date for monthly plans.\n\n\
             The window applies to first-time charges and to renewals alike. It is counted in calendar days from \
             the date shown on the receipt, in UTC.\n\n\
             Outside the refund window, subscription charges are not refundable, e.g. when you downgrade.",
        ),
        source(
            2,
            PRICING,
            &["Plans and pricing", "Plan prices"],
            "Prices are per workspace and exclude VAT, GST and sales tax.\n\n\
             | Plan | Monthly (USD) | Annual (USD) |\n| --- | --- | --- |\n| Starter | $0 | $0 |\n\
             | Pro | $49.50 | $490 |\n| Scale | $129 | $1,290 |",
        ),
        source(
            3,
            WEBHOOKS,
            &["Webhooks", "Retries"],
            "Failed webhook deliveries are retried with exponential backoff for up to three days. \
             After that, the event is marked as failed (v2.1 and later).",
        ),
    ]
}

fn generator() -> ExtractiveGenerator {
    ExtractiveGenerator::default()
}

#[test]
fn answers_quote_the_best_source_verbatim_with_markers_before_the_period() {
    let g = generator();
    let a = run(&g, request("How long is the refund window for monthly plans?", sources()));
    assert_eq!(a.finish, FinishReason::Stop);
    assert_eq!(a.cited.first(), Some(&1), "{}", a.content);
    assert!(
        a.content.starts_with(
            "You can request a full refund of a subscription charge within:\n- 30 days of the charge date for \
             annual plans, and\n- 14 days of the charge date for monthly plans [1]."
        ),
        "{}",
        a.content
    );
    assert_eq!(unfaithful(&a, &sources()), None);
    assert!(a.usage.completion_tokens > 0);
    // The decimal price and the version number stay inside their sentences.
    let a = run(&g, request("What does the Pro plan cost?", sources()));
    assert!(a.content.contains("| Pro | $49.50 | $490 | [2]"), "{}", a.content);
    assert!(a.content.starts_with("| Plan | Monthly (USD) | Annual (USD) |\n| --- | --- | --- |\n"), "{}", a.content);
    assert_eq!(unfaithful(&a, &sources()), None);
    let a = run(&g, request("How long are failed webhook deliveries retried?", sources()));
    assert!(
        a.content
            .starts_with("Failed webhook deliveries are retried with exponential backoff for up to three days [3]."),
        "{}",
        a.content
    );
    assert_eq!(unfaithful(&a, &sources()), None);
}

#[test]
fn a_pronoun_sentence_brings_its_antecedent_and_order_follows_the_source() {
    let g = generator();
    let a = run(&g, request("Are refund days counted in UTC calendar days?", sources()));
    let window = a.content.find("The window applies").expect("antecedent quoted");
    let counted = a.content.find("It is counted in calendar days").expect("answer quoted");
    assert!(window < counted, "{}", a.content);
    assert_eq!(unfaithful(&a, &sources()), None);
}

#[test]
fn every_delta_is_one_word_with_its_following_whitespace() {
    let g = generator();
    let a = run(&g, request("What is the refund window?", sources()));
    assert!(a.deltas.len() > 5);
    for d in &a.deltas {
        let runs = d.split_whitespace().count();
        assert_eq!(runs, 1, "delta {d:?}");
        assert!(!d.starts_with(char::is_whitespace), "delta {d:?}");
    }
    assert!(a.deltas.iter().any(|d| d.starts_with("[1]")), "markers are their own deltas: {:?}", a.deltas);
    let words = a.deltas.iter().filter(|d| !d.starts_with('[')).count();
    assert_eq!(a.usage.completion_tokens as usize, words);
}

#[test]
fn follow_ups_use_the_earlier_turn() {
    let g = generator();
    let r = with_history(request("And what does it cost annually?", sources()), &["How much is the Pro plan?"]);
    let a = run(&g, r);
    assert!(a.content.contains("| Pro | $49.50 | $490 |"), "{}", a.content);
}

#[test]
fn not_answerable_or_not_relevant_streams_the_fallback_without_citations() {
    let g = generator();
    let mut r = request("How long is the refund window?", sources());
    r.answerable = false;
    let fallback = r.fallback.clone();
    let a = run(&g, r.clone());
    assert_eq!(a.finish, FinishReason::NoAnswer);
    assert_eq!(a.content, fallback);
    assert!(a.filter.citations().is_empty());
    assert_eq!(a.deltas.concat(), fallback);
    assert_eq!(g.plan(&r).refusal, Some(Refusal::NotAnswerable));

    // Retrieval said yes, but nothing in the sources is about the question.
    let r = request("Recommend a lasagna recipe with spinach", sources());
    let plan = g.plan(&r);
    assert!(matches!(plan.refusal, Some(Refusal::NotRelevant { .. })), "{plan:?}");
    let a = run(&g, r);
    assert_eq!(a.finish, FinishReason::NoAnswer);
    assert!(a.filter.citations().is_empty());

    // An empty fallback is an empty answer, still no_answer.
    let mut r = request("x", vec![]);
    r.fallback = String::new();
    let a = run(&g, r);
    assert_eq!((a.content.as_str(), a.finish), ("", FinishReason::NoAnswer));
}

#[test]
fn empty_or_unusable_sources_are_a_refusal() {
    let g = generator();
    for sources in [
        vec![],
        vec![source(1, REFUNDS, &[], "")],
        vec![source(1, REFUNDS, &[], "   \n\n  ")],
        vec![source(1, REFUNDS, &[], "```\nrefund window code\n```")],
    ] {
        let r = request("What is the refund window?", sources.clone());
        assert_eq!(g.plan(&r).refusal, Some(Refusal::NoSources), "{sources:?}");
        assert_eq!(run(&g, r).finish, FinishReason::NoAnswer);
    }
}

#[test]
fn an_empty_question_is_an_invalid_request() {
    let g = generator();
    let events = futures::executor::block_on(g.generate(request("  ", sources())).collect::<Vec<_>>());
    assert_eq!(events.len(), 1);
    assert!(matches!(events[0], Err(AnswerError::Invalid(_))), "{events:?}");
}

#[test]
fn the_word_cap_ends_with_length_and_a_cited_prefix() {
    let g = generator();
    let full = run(&g, request("What is the refund window?", sources()));
    let words = full.usage.completion_tokens as usize;
    assert!(words > 6);
    let mut r = request("What is the refund window?", sources());
    r.max_tokens = 5;
    let a = run(&g, r.clone());
    assert_eq!(a.finish, FinishReason::Length);
    assert_eq!(a.usage.completion_tokens, 5);
    assert_eq!(a.deltas.iter().filter(|d| !d.starts_with('[')).count(), 5);
    assert_eq!(a.cited, vec![1], "the partial sentence is still cited: {}", a.content);
    assert_eq!(unfaithful(&a, &sources()), None);
    // Exactly the answer's length is not a cut.
    r.max_tokens = words;
    assert_eq!(run(&g, r.clone()).finish, FinishReason::Stop);
    r.max_tokens = 0;
    let a = run(&g, r);
    assert_eq!((a.content.as_str(), a.finish), ("", FinishReason::Length));
}

#[test]
fn settings_limit_sentences_and_duplicates_are_quoted_once() {
    let dup = "Failed webhook deliveries are retried with exponential backoff for up to three days.";
    let mut s = sources();
    s.push(source(4, "https://help.test/api/events#retries", &["Events"], dup));
    let g = generator();
    let a = run(&g, request("Are failed webhook deliveries retried with backoff?", s.clone()));
    assert_eq!(a.content.matches("exponential backoff").count(), 1, "{}", a.content);
    assert_eq!(unfaithful(&a, &s), None);

    let one = ExtractiveGenerator::new(ExtractiveConfig { max_sentences: 1, ..Default::default() }).expect("config");
    let a = run(&one, request("Are failed webhook deliveries retried, and until when?", s));
    assert_eq!(a.filter.citations().len(), 1, "{}", a.content);
}

#[test]
fn generate_is_lazy_and_dropping_the_stream_stops_it() {
    let g = generator();
    let huge = "Refund window details go here. ".repeat(100_000);
    let t = Instant::now();
    let stream = g.generate(request("refund window?", vec![source(1, REFUNDS, &[], &huge)]));
    assert!(t.elapsed() < Duration::from_millis(50), "generate() must not compose: {:?}", t.elapsed());
    assert_eq!(g.active_streams(), 1);
    drop(stream);
    assert_eq!(g.active_streams(), 0, "nothing outlives a dropped stream");

    // Part-way through a paced answer: dropping it ends it, no task keeps running.
    let paced =
        ExtractiveGenerator::new(ExtractiveConfig { pacing: Some(Duration::from_millis(20)), ..Default::default() })
            .expect("config");
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime");
    rt.block_on(async {
        let mut stream = paced.generate(request("What is the refund window?", sources()));
        let t = Instant::now();
        let first = stream.next().await;
        assert!(matches!(first, Some(Ok(AnswerEvent::Delta(_)))));
        assert!(t.elapsed() < Duration::from_millis(15), "no pause before the first word");
        let second = stream.next().await;
        assert!(matches!(second, Some(Ok(AnswerEvent::Delta(_)))));
        assert!(t.elapsed() >= Duration::from_millis(20), "paced");
        assert_eq!(paced.active_streams(), 1);
        drop(stream);
        assert_eq!(paced.active_streams(), 0);
    });
    // Unpaced streams never need a runtime (the tests above ran on a plain executor).
}

#[test]
fn hostile_unicode_is_quoted_faithfully_and_never_panics() {
    let texts = [
        // Arabic and Hebrew (right-to-left), with a direction override.
        "سياسة الاسترداد هي ثلاثون يوما. يمكنك طلب استرداد كامل. \u{202E}refund window reversed\u{202C} is 30 days.",
        "חלון ההחזר הוא 30 יום. refund window in Hebrew docs is 30 days.",
        // Emoji, ZWJ sequences, skin tones and zero-width characters inside words.
        "The refund 💸 window is 30 days 👩\u{200D}💻🏽. Re\u{200B}fund win\u{200C}dow applies to renewals\u{FEFF}.",
        // Combining marks and full-width punctuation.
        "Le de\u{301}lai de remboursement (refund window) est de 30 jours。Voir la FAQ.",
        // A very long sentence without punctuation, then a short one.
        &("refund window ".repeat(2_000) + "\n\nThe refund window is 30 days."),
        // Control characters and lone brackets that look like markers.
        "The refund window [1 is 30 days [see below] \u{0007}. [2] Another refund window sentence [99].",
    ];
    let g = generator();
    for (i, text) in texts.iter().enumerate() {
        let s = vec![source(1, REFUNDS, &["Refunds"], text)];
        let a = run(&g, request("What is the refund window?", s.clone()));
        assert_ne!(a.finish, FinishReason::Length, "{i}");
        if a.finish == FinishReason::Stop {
            assert_eq!(unfaithful(&a, &s), None, "text {i}: {}", a.content);
            assert!(!a.filter.citations().is_empty(), "text {i}");
        }
        for d in &a.deltas {
            assert_eq!(d.split_whitespace().count(), 1, "text {i}: delta {d:?}");
        }
    }
    // The run-on text is not quoted; the real sentence after it is.
    let s = vec![source(1, REFUNDS, &["Refunds"], texts[4])];
    let a = run(&g, request("What is the refund window?", s));
    assert_eq!(a.content, "The refund window is 30 days [1].");
    // Only the run-on text: nothing quotable.
    let s = vec![source(1, REFUNDS, &["Refunds"], &"refund window ".repeat(2_000))];
    assert_eq!(run(&g, request("What is the refund window?", s)).finish, FinishReason::NoAnswer);
}

#[test]
fn faq_and_hard_wrapped_text_is_joined_and_questions_are_not_quoted() {
    let faq = "Q: Can I import my customers and invoices from another tool?\n\
               A: Yes. Go to Settings > Import and upload a CSV file. You can import\n   customers and past invoices. \
               Each CSV file can contain up to 5,000 rows;\n   split larger lists into several files.\n\n\
               Q: Is there a mobile app?\nA: Yes, for iPhone and Android.";
    let s = vec![source(1, "https://help.test/faq", &["FAQ"], faq)];
    let g = generator();
    let a = run(&g, request("How many rows can a CSV import file contain?", s.clone()));
    assert!(
        a.content.contains("Each CSV file can contain up to 5,000 rows; split larger lists into several files [1]."),
        "{}",
        a.content
    );
    assert!(!a.content.contains('?'), "questions are context, not answers: {}", a.content);
    assert_eq!(unfaithful(&a, &s), None);
}
