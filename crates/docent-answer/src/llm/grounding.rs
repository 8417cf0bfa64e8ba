//! Grounded or silent: what the generator does with an answer that cites nothing.
//!
//! Text that was streamed cannot be taken back, and [`crate::AnswerEvent`] has no
//! "retract". So with `require_citation` (the default) the gate holds the model's
//! text back until it contains a marker that points to a real source (judged by the
//! same [`CitationFilter`] the server applies); from then on every delta passes
//! through at once. An answer that ends without one valid citation — a refusal in the
//! model's own words, an off-source answer, an empty answer — is never shown: the
//! bot's fallback text is streamed instead and the answer finishes `NoAnswer`.
//! The price is latency: the first delta waits for the first citation (normally the
//! end of the first sentence).
//!
//! Without `require_citation` text streams as it arrives, and the answer finishes
//! `NoAnswer` only if it cites nothing and is the fallback (the model followed the
//! refusal instruction) or empty (then the fallback is streamed).

use crate::citations::CitationFilter;

/// Decides when model text may be shown.
#[derive(Debug)]
pub(crate) struct Gate {
    require_citation: bool,
    /// Sees the raw deltas only to know when a valid citation has appeared.
    filter: CitationFilter,
    /// Text not yet released (only while waiting for the first citation).
    held: String,
    /// A valid citation was seen (or none is required): deltas pass through.
    open: bool,
    /// The whole raw answer.
    raw: String,
}

/// How the answer ends.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Ending {
    /// Text still to stream (the fallback, when the answer is replaced).
    pub(crate) emit: Option<String>,
    /// The answer is the fallback: finish `NoAnswer`.
    pub(crate) no_answer: bool,
    /// The model's own text was withheld and replaced.
    pub(crate) replaced: bool,
    /// Markers pointing to no source in the raw answer (the server removes them).
    pub(crate) dropped_markers: usize,
}

impl Gate {
    pub(crate) fn new(sources: usize, require_citation: bool) -> Self {
        Gate {
            require_citation,
            filter: CitationFilter::new(sources),
            held: String::new(),
            open: !require_citation,
            raw: String::new(),
        }
    }

    /// Take the next model delta; returns the text to stream now, if any.
    pub(crate) fn push(&mut self, delta: &str) -> Option<String> {
        self.raw.push_str(delta);
        self.filter.push(delta);
        if self.open {
            return (!delta.is_empty()).then(|| delta.to_string());
        }
        self.held.push_str(delta);
        if self.filter.citations().is_empty() {
            return None;
        }
        self.open = true;
        Some(std::mem::take(&mut self.held))
    }

    /// The model is done (stop or length).
    pub(crate) fn finish(&mut self, fallback: &str) -> Ending {
        self.filter.finish();
        let cited = !self.filter.citations().is_empty();
        let dropped_markers = self.filter.dropped().len();
        let empty = self.raw.trim().is_empty();
        if self.require_citation {
            if cited {
                return Ending { emit: None, no_answer: false, replaced: false, dropped_markers };
            }
            self.held.clear();
            return Ending { emit: Some(fallback.to_string()), no_answer: true, replaced: !empty, dropped_markers };
        }
        if empty {
            return Ending { emit: Some(fallback.to_string()), no_answer: true, replaced: false, dropped_markers };
        }
        let no_answer = !cited && is_refusal(&self.raw, fallback);
        Ending { emit: None, no_answer, replaced: false, dropped_markers }
    }
}

/// Whether `answer` says the fallback (case, punctuation and spacing aside).
fn is_refusal(answer: &str, fallback: &str) -> bool {
    let want = normalise(fallback);
    !want.is_empty() && normalise(answer).contains(&want)
}

fn normalise(s: &str) -> String {
    let kept: String = s.chars().map(|c| if c.is_alphanumeric() { c.to_ascii_lowercase() } else { ' ' }).collect();
    kept.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const FALLBACK: &str = "I can't find that in the docs.";

    fn run(gate: &mut Gate, deltas: &[&str]) -> Vec<String> {
        deltas.iter().filter_map(|d| gate.push(d)).collect()
    }

    #[test]
    fn held_until_the_first_valid_citation() {
        let mut g = Gate::new(2, true);
        assert_eq!(
            run(&mut g, &["Refunds take ", "30 days [", "9]. Really [", "2", "]", " ok."]),
            vec!["Refunds take 30 days [9]. Really [2]".to_string(), " ok.".to_string()]
        );
        assert_eq!(g.finish(FALLBACK), Ending { emit: None, no_answer: false, replaced: false, dropped_markers: 1 });
    }

    #[test]
    fn uncited_answer_is_replaced_by_the_fallback() {
        let mut g = Gate::new(2, true);
        assert!(run(&mut g, &["The moon ", "is cheese [7]."]).is_empty());
        let end = g.finish(FALLBACK);
        assert_eq!(end.emit.as_deref(), Some(FALLBACK));
        assert!(end.no_answer && end.replaced);
    }

    #[test]
    fn without_requirement_text_streams_and_refusals_are_detected() {
        let mut g = Gate::new(1, false);
        assert_eq!(run(&mut g, &["I can't find ", "that in the docs"]).len(), 2);
        assert!(g.finish(FALLBACK).no_answer);

        let mut g = Gate::new(1, false);
        run(&mut g, &["It is blue."]);
        assert!(!g.finish(FALLBACK).no_answer, "uncited but not a refusal: the server still shows it");

        let mut g = Gate::new(1, false);
        run(&mut g, &["  "]);
        assert_eq!(g.finish(FALLBACK).emit.as_deref(), Some(FALLBACK));
    }
}
