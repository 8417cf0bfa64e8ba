//! Masking of personal data (e-mail addresses, phone numbers) in what the server logs.
//!
//! Visitors type their e-mail or phone number into chat boxes and search fields, and
//! the request line of a `GET /v1/search?q=…` carries it. Logs go to places with
//! weaker access control than the database, so what the server logs about a request
//! (its URI) passes through [`mask`] first. Stored conversations keep the text: the
//! operator needs it, and it is deleted with the conversation.
//!
//! Useful for: any log field that may contain user text. Not for: redacting stored
//! data, or secrets (keys never reach a log line at all).

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;

/// What replaces an e-mail address.
pub const EMAIL_MASK: &str = "[email]";
/// What replaces a phone number.
pub const PHONE_MASK: &str = "[phone]";

/// E-mail addresses, also percent-encoded (`%40`) as in a query string.
static EMAIL: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"(?i)[a-z0-9._%+-]+(?:@|%40)[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}").ok());

/// Candidate phone numbers: an optional `+`, then digits with spaces (`%20`, `+` in a
/// query string), dots, dashes or brackets between them; kept only with 7-15 digits.
static PHONE: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"(?:\+|%2B)?\(?\d(?:[\d.()\-]|\s|%20|\+)*\d").ok());

fn digits(s: &str) -> usize {
    // `%20` and `%2B` contain digits that are not part of the number.
    s.replace("%20", " ").replace("%2B", "+").chars().filter(char::is_ascii_digit).count()
}

/// `text` with e-mail addresses and phone numbers replaced by [`EMAIL_MASK`] and
/// [`PHONE_MASK`] (borrowed when there is nothing to mask).
pub fn mask(text: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(text);
    if let Some(re) = EMAIL.as_ref() {
        if re.is_match(&out) {
            out = Cow::Owned(re.replace_all(&out, EMAIL_MASK).into_owned());
        }
    }
    if let Some(re) = PHONE.as_ref() {
        let masked = re.replace_all(&out, |c: &regex::Captures<'_>| {
            let m = &c[0];
            if (7..=15).contains(&digits(m)) {
                PHONE_MASK.to_string()
            } else {
                m.to_string()
            }
        });
        if let Cow::Owned(s) = masked {
            // `replace_all` allocates on any candidate, masked or not.
            if s != *out {
                out = Cow::Owned(s);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::mask;

    #[test]
    fn emails_and_phone_numbers_are_masked() {
        assert_eq!(mask("write to jane.doe+docs@example.co.uk today"), "write to [email] today");
        assert_eq!(mask("/v1/search?q=jane%40example.com&k=3"), "/v1/search?q=[email]&k=3");
        assert_eq!(mask("call +1 (555) 010-9999 now"), "call [phone] now");
        assert_eq!(mask("q=call+me+on+%2B44%2020%207946%200958"), "q=call+me+on+[phone]");
        assert_eq!(mask("my number is 0612345678"), "my number is [phone]");
    }

    #[test]
    fn ordinary_text_and_ids_are_left_alone() {
        for text in [
            "/v1/conversations/conv_01jf3k2m4n5p6q7r8s9t0v/messages",
            "/v1/search?bot_id=docs&q=refund+window+30+days&k=5",
            "version 2.4.1 released in 2026",
            "a 404 on port 8080",
        ] {
            assert_eq!(mask(text), text);
            assert!(matches!(mask(text), std::borrow::Cow::Borrowed(_)), "{text}");
        }
    }
}
