//! GitHub-style heading anchors, so the `#fragment` Docent links to is the one the
//! rendered Markdown page (GitHub, most static site generators) actually has.

use std::collections::{HashMap, HashSet};

/// The GitHub anchor of a heading: lowercased, punctuation and symbols dropped except
/// `-` and `_`, each space turned into `-`; Unicode letters, digits and combining
/// marks are kept. `Step 2: Create the application in your IdP` →
/// `step-2-create-the-application-in-your-idp`.
///
/// Like GitHub, runs of spaces are *not* collapsed (`A – B` → `a--b`), because the
/// anchor must match the rendered page, not look pretty. Duplicates are handled by
/// the per-page registry, not here.
pub fn slugify(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| {
            if c.is_whitespace() {
                Some('-')
            } else if c.is_alphanumeric() || c == '-' || c == '_' || is_mark(c) || is_connector(c) {
                Some(c)
            } else {
                None
            }
        })
        .collect()
}

/// Combining marks (general category M) that `is_alphanumeric` does not cover, so
/// `é` written as `e` + U+0301 keeps its accent like GitHub does.
fn is_mark(c: char) -> bool {
    matches!(c,
        '\u{0300}'..='\u{036F}'
        | '\u{0483}'..='\u{0489}'
        | '\u{0591}'..='\u{05BD}'
        | '\u{05BF}' | '\u{05C1}' | '\u{05C2}' | '\u{05C4}' | '\u{05C5}' | '\u{05C7}'
        | '\u{0610}'..='\u{061A}'
        | '\u{064B}'..='\u{065F}'
        | '\u{0670}'
        | '\u{06D6}'..='\u{06DC}'
        | '\u{06DF}'..='\u{06E4}'
        | '\u{06E7}' | '\u{06E8}'
        | '\u{06EA}'..='\u{06ED}'
        | '\u{0900}'..='\u{0903}'
        | '\u{093A}'..='\u{094F}'
        | '\u{1AB0}'..='\u{1AFF}'
        | '\u{1DC0}'..='\u{1DFF}'
        | '\u{20D0}'..='\u{20FF}'
        | '\u{302A}'..='\u{302F}'
        | '\u{3099}' | '\u{309A}'
        | '\u{FE00}'..='\u{FE0F}'
        | '\u{FE20}'..='\u{FE2F}')
}

/// Connector punctuation (general category Pc) other than `_`, kept by GitHub.
fn is_connector(c: char) -> bool {
    matches!(c, '\u{203F}' | '\u{2040}' | '\u{2054}' | '\u{FE33}' | '\u{FE34}' | '\u{FE4D}'..='\u{FE4F}' | '\u{FF3F}')
}

/// The anchors used on one page, handing out GitHub's `-1`, `-2`… suffixes for
/// repeated headings and never reusing an explicit `{#id}`.
#[derive(Debug, Default)]
pub(crate) struct SlugRegistry {
    used: HashSet<String>,
    next_suffix: HashMap<String, usize>,
}

impl SlugRegistry {
    /// Records an anchor given explicitly (heading attribute), so a generated slug does
    /// not collide with it later.
    pub(crate) fn reserve(&mut self, anchor: &str) {
        self.used.insert(anchor.to_owned());
    }

    /// A unique anchor for `heading`, or `None` when the slug is empty (a heading of
    /// only punctuation or emoji has no usable anchor).
    pub(crate) fn unique(&mut self, heading: &str) -> Option<String> {
        let base = slugify(heading);
        if base.is_empty() {
            return None;
        }
        if self.used.insert(base.clone()) {
            return Some(base);
        }
        let next = self.next_suffix.entry(base.clone()).or_insert(1);
        loop {
            let candidate = format!("{base}-{next}");
            *next += 1;
            if self.used.insert(candidate.clone()) {
                return Some(candidate);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readme_example() {
        assert_eq!(slugify("Step 2: Create the application in your IdP"), "step-2-create-the-application-in-your-idp");
    }

    #[test]
    fn punctuation_and_spaces() {
        assert_eq!(slugify("Payments stuck in \"processing\""), "payments-stuck-in-processing");
        assert_eq!(slugify("Is it legal to charge late fees?"), "is-it-legal-to-charge-late-fees");
        assert_eq!(slugify("Re-enabling a disabled endpoint"), "re-enabling-a-disabled-endpoint");
        assert_eq!(slugify("snake_case & more!"), "snake_case--more");
        assert_eq!(slugify("A – B"), "a--b");
        assert_eq!(slugify("  Trimmed  "), "trimmed");
        assert_eq!(slugify("v2.0 (beta)"), "v20-beta");
        assert_eq!(slugify("`code` in *heading*"), "code-in-heading");
    }

    #[test]
    fn unicode_is_kept() {
        assert_eq!(slugify("Überblick über Größen"), "überblick-über-größen");
        assert_eq!(slugify("日本語の見出し"), "日本語の見出し");
        assert_eq!(slugify("مرحبا بالعالم"), "مرحبا-بالعالم");
        // e + combining acute keeps the mark.
        assert_eq!(slugify("Cafe\u{301}"), "cafe\u{301}");
        assert_eq!(slugify("🎉 Party time 🎉"), "-party-time-");
        assert_eq!(slugify("?!"), "");
    }

    #[test]
    fn registry_suffixes_duplicates() {
        let mut reg = SlugRegistry::default();
        assert_eq!(reg.unique("Attributes").as_deref(), Some("attributes"));
        assert_eq!(reg.unique("Attributes").as_deref(), Some("attributes-1"));
        assert_eq!(reg.unique("attributes!").as_deref(), Some("attributes-2"));
        assert_eq!(reg.unique("???"), None);
    }

    #[test]
    fn registry_avoids_explicit_and_literal_collisions() {
        let mut reg = SlugRegistry::default();
        reg.reserve("intro");
        assert_eq!(reg.unique("Intro").as_deref(), Some("intro-1"));
        assert_eq!(reg.unique("Intro 1").as_deref(), Some("intro-1-1"));
        let mut reg = SlugRegistry::default();
        assert_eq!(reg.unique("Foo 1").as_deref(), Some("foo-1"));
        assert_eq!(reg.unique("Foo").as_deref(), Some("foo"));
        assert_eq!(reg.unique("Foo").as_deref(), Some("foo-2"));
    }
}
