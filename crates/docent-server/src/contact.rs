//! A visitor's contact details as domain types: a value of [`Email`], [`Phone`] or
//! [`Name`] has been checked, so nothing downstream (the store, a webhook receiver's
//! CRM) sees a malformed one.
//!
//! - [`Email`]: `local@domain` in the common ASCII syntax (RFC 5321 lengths: 64 for
//!   the local part, 254 in all; dot-atoms, no quoted local parts, no IP literals; the
//!   domain has at least two labels of letters, digits and inner hyphens, and a TLD of
//!   letters), domain lower-cased.
//! - [`Phone`]: E.164-like: an optional leading `+`, then 7–15 digits; spaces, dots,
//!   hyphens and parentheses are accepted as separators and dropped.
//! - [`Name`]: 1–200 characters after trimming, no control or bidirectional-override
//!   characters (they can hide or reorder text in whatever shows the name).
//!
//! Useful for: `POST /v1/leads`. Not for: proving an address exists (no DNS, no mail).

use std::fmt;

/// Why a value was refused; the message is safe to show.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

fn invalid(message: impl Into<String>) -> Invalid {
    Invalid(message.into())
}

/// A syntactically valid email address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

/// Longest address (RFC 5321 path limit less the angle brackets).
const EMAIL_MAX: usize = 254;
/// Longest local part.
const LOCAL_MAX: usize = 64;

impl Email {
    /// Check and normalise (trimmed, domain lower-cased).
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        let text = text.trim();
        if text.is_empty() {
            return Err(invalid("the email address is empty"));
        }
        if text.len() > EMAIL_MAX {
            return Err(invalid(format!("an email address is at most {EMAIL_MAX} characters")));
        }
        if !text.is_ascii() {
            return Err(invalid("the email address may only contain ASCII characters"));
        }
        let Some((local, domain)) = text.rsplit_once('@') else {
            return Err(invalid("an email address looks like name@example.com (no `@` found)"));
        };
        if local.is_empty() || local.len() > LOCAL_MAX {
            return Err(invalid(format!("the part before `@` must be 1 to {LOCAL_MAX} characters")));
        }
        let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c);
        if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return Err(invalid("the part before `@` cannot start or end with a dot or have two in a row"));
        }
        if !local.chars().all(|c| c == '.' || atext(c)) {
            return Err(invalid("the part before `@` has a character an address cannot have"));
        }
        let labels: Vec<&str> = domain.split('.').collect();
        if labels.len() < 2 {
            return Err(invalid("the domain after `@` needs a dot (example.com)"));
        }
        for label in &labels {
            if label.is_empty() || label.len() > 63 {
                return Err(invalid("each part of the domain must be 1 to 63 characters"));
            }
            if label.starts_with('-') || label.ends_with('-') {
                return Err(invalid("a part of the domain cannot start or end with a hyphen"));
            }
            if !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                return Err(invalid("the domain may only have letters, digits, hyphens and dots"));
            }
        }
        let tld = labels.last().copied().unwrap_or_default();
        let punycode =
            tld.strip_prefix("xn--").is_some_and(|r| !r.is_empty() && r.chars().all(|c| c.is_ascii_alphanumeric()));
        if !punycode && (tld.len() < 2 || !tld.chars().all(|c| c.is_ascii_alphabetic())) {
            return Err(invalid("the domain must end in a top-level domain of letters (.com, .org, …)"));
        }
        Ok(Email(format!("{local}@{}", domain.to_ascii_lowercase())))
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A phone number: an optional `+` and 7–15 digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone(String);

/// Fewest digits (a short local number).
const PHONE_MIN_DIGITS: usize = 7;
/// Most digits (E.164).
const PHONE_MAX_DIGITS: usize = 15;

impl Phone {
    /// Check and normalise (separators dropped: `+1 (555) 010-0199` → `+15550100199`).
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        let text = text.trim();
        if text.is_empty() {
            return Err(invalid("the phone number is empty"));
        }
        if text.len() > 40 {
            return Err(invalid("the phone number is too long"));
        }
        let (plus, rest) = match text.strip_prefix('+') {
            Some(r) => (true, r),
            None => (false, text),
        };
        let mut digits = String::with_capacity(rest.len());
        for c in rest.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '.' | '(' | ')' => {}
                '+' => return Err(invalid("`+` may only start a phone number")),
                _ => return Err(invalid(
                    "a phone number has digits, an optional leading `+`, spaces, dots, hyphens and parentheses only",
                )),
            }
        }
        if !(PHONE_MIN_DIGITS..=PHONE_MAX_DIGITS).contains(&digits.len()) {
            return Err(invalid(format!(
                "a phone number has {PHONE_MIN_DIGITS} to {PHONE_MAX_DIGITS} digits (this one {})",
                digits.len()
            )));
        }
        if plus && digits.starts_with('0') {
            return Err(invalid("after `+` comes a country code, which never starts with 0"));
        }
        Ok(Phone(if plus { format!("+{digits}") } else { digits }))
    }

    /// The number.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A person's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(String);

/// Longest name, in characters.
const NAME_MAX: usize = 200;

impl Name {
    /// Check (trimmed; inner runs of whitespace become one space).
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        if let Some(c) = text.chars().find(|&c| c.is_control() || is_bidi_control(c)) {
            return Err(invalid(format!("the name contains a control character (U+{:04X})", u32::from(c))));
        }
        let name = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if name.is_empty() {
            return Err(invalid("the name is empty"));
        }
        if name.chars().count() > NAME_MAX {
            return Err(invalid(format!("a name is at most {NAME_MAX} characters")));
        }
        Ok(Name(name))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Characters that reorder or hide text (bidirectional embeddings, overrides,
/// isolates; zero-width joiners are fine in names).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        for ok in ["ada@example.com", "a.b+tag@sub.Example.CO.uk", "x_y-z@e-x.io", "o'neil@example.org", "a@b.xn--p1ai"]
        {
            assert!(Email::parse(ok).is_ok(), "{ok}");
        }
        assert_eq!(Email::parse(" Ada@Example.COM ").expect("valid").as_str(), "Ada@example.com");
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "ada@@example.com",
            "a..b@example.com",
            ".ada@example.com",
            "ada@-example.com",
            "ada@example..com",
            "ada@exa_mple.com",
            "ada@example.c",
            "ada@example.123",
            "ad a@example.com",
            "adä@example.com",
            "ada@exam ple.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(65))).is_err());
        assert!(Email::parse(&format!("a@{}.com", "b".repeat(250))).is_err());
    }

    #[test]
    fn phones() {
        assert_eq!(Phone::parse("+1 (555) 010-0199").expect("valid").as_str(), "+15550100199");
        assert_eq!(Phone::parse("030 1234567").expect("valid").as_str(), "0301234567");
        assert_eq!(Phone::parse("+44.20.7946.0958").expect("valid").as_str(), "+442079460958");
        for bad in
            ["", "12345", "+1234567890123456", "555-CALL-NOW", "+1+2345678", "1234567+", "+0123456789", "☎ 5550100"]
        {
            assert!(Phone::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn names() {
        assert_eq!(Name::parse("  Ada   Lovelace ").expect("valid").as_str(), "Ada Lovelace");
        assert_eq!(Name::parse("José Ñúñez 李小龍").expect("valid").as_str(), "José Ñúñez 李小龍");
        for bad in ["", "   ", "Ada\u{0007}", "Ada\u{202E}ecalevol", "a\u{0000}b", "\u{2066}x"] {
            assert!(Name::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(Name::parse(&"x".repeat(201)).is_err());
        assert!(Name::parse(&"é".repeat(200)).is_ok(), "characters, not bytes");
    }
}
