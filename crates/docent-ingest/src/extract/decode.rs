//! Bytes → text. The rules, in order:
//!
//! 1. A byte-order mark decides (UTF-8, UTF-16LE/BE), as in browsers.
//! 2. A declared charset (HTTP `Content-Type`, or for HTML the `<meta charset>` found
//!    by [`sniff_html_charset`]) that encoding_rs knows and that is not UTF-8 is used
//!    to decode — except when the body is valid, non-ASCII UTF-8 anyway: legacy labels
//!    on UTF-8 bodies are a common server misconfiguration, while real legacy text
//!    almost never happens to form valid multi-byte UTF-8.
//! 3. Otherwise the body must be valid UTF-8.
//!
//! Anything that does not decode cleanly is an [`ExtractError::InvalidEncoding`]: the
//! pipeline reports the page rather than indexing replacement characters.

use encoding_rs::{Encoding, REPLACEMENT, UTF_16BE, UTF_16LE, UTF_8, WINDOWS_1252, X_USER_DEFINED};

use super::ExtractError;

/// How far into an HTML body a `<meta charset>` is looked for. The HTML standard says
/// 1024 bytes; real pages put long comments and scripts first, so look a bit further.
const META_SNIFF_BYTES: usize = 4096;

/// Decodes a page body to a `String` (see the module docs for the rules).
///
/// `charset` is the declared charset label (e.g. from `Content-Type: text/html;
/// charset=ISO-8859-1`); unknown labels are ignored and the body must then be UTF-8.
/// `url` only labels the error. A leading BOM is stripped.
pub fn decode_body(bytes: &[u8], charset: Option<&str>, url: &str) -> Result<String, ExtractError> {
    let invalid = |detail: String| ExtractError::InvalidEncoding { url: url.to_owned(), detail };

    if let Some((encoding, bom_len)) = Encoding::for_bom(bytes) {
        let rest = bytes.get(bom_len..).unwrap_or_default();
        let (text, had_errors) = encoding.decode_without_bom_handling(rest);
        if had_errors {
            return Err(invalid(format!("malformed {} after its byte-order mark", encoding.name())));
        }
        return Ok(text.into_owned());
    }

    let label = charset.map(clean_label).filter(|l| !l.is_empty());
    let mut unknown_label = None;
    if let Some(label) = label {
        match Encoding::for_label(label.as_bytes()) {
            Some(encoding) if encoding == UTF_8 => {}
            Some(encoding) if encoding == REPLACEMENT => {
                return Err(invalid(format!("charset `{label}` is not supported")));
            }
            Some(encoding) => {
                if encoding.is_ascii_compatible() && !bytes.is_ascii() && std::str::from_utf8(bytes).is_ok() {
                    tracing::debug!(charset = label, "body is valid UTF-8 despite its label; decoding as UTF-8");
                    return Ok(String::from_utf8_lossy(bytes).into_owned());
                }
                let (text, had_errors) = encoding.decode_without_bom_handling(bytes);
                if had_errors {
                    return Err(invalid(format!("body is not valid {} (declared charset `{label}`)", encoding.name())));
                }
                return Ok(text.into_owned());
            }
            None => {
                tracing::debug!(charset = label, "unknown charset label; the body must be UTF-8");
                unknown_label = Some(label);
            }
        }
    }

    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(text.to_owned()),
        Err(err) => {
            let note = match unknown_label {
                Some(label) => format!(" (declared charset `{label}` is unknown)"),
                None if label.is_none() => " and no charset was declared".to_owned(),
                None => String::new(),
            };
            Err(invalid(format!("invalid UTF-8 at byte {}{note}", err.valid_up_to())))
        }
    }
}

/// The charset an HTML document declares for itself in its first few KB:
/// `<meta charset="…">`, `<meta http-equiv="Content-Type" content="…; charset=…">` or
/// an XML declaration's `encoding="…"`. Returns the canonical encoding name, only for
/// labels encoding_rs knows.
///
/// As the HTML standard requires, a UTF-16 declaration read from ASCII-compatible bytes
/// means UTF-8 (the document cannot really be UTF-16 if we could read its `<meta>`),
/// and `x-user-defined` means windows-1252.
pub(crate) fn sniff_html_charset(bytes: &[u8]) -> Option<&'static str> {
    let head = bytes.get(..META_SNIFF_BYTES).unwrap_or(bytes);
    let head = String::from_utf8_lossy(head).to_ascii_lowercase();

    let mut candidates = Vec::new();
    if let Some(decl) = head.trim_start().strip_prefix("<?xml") {
        let decl = decl.split("?>").next().unwrap_or_default();
        if let Some(value) = attr_value_after(decl, "encoding") {
            candidates.push(value);
        }
    }
    let mut rest = head.as_str();
    while let Some(pos) = rest.find("<meta") {
        let after = rest.get(pos + 5..).unwrap_or_default();
        let tag = after.split('>').next().unwrap_or_default();
        if let Some(value) = attr_value_after(tag, "charset") {
            candidates.push(value);
        }
        rest = after;
    }

    candidates.into_iter().find_map(|label| {
        let encoding = Encoding::for_label(label.as_bytes())?;
        let encoding = match encoding {
            e if e == UTF_16LE || e == UTF_16BE => UTF_8,
            e if e == X_USER_DEFINED => WINDOWS_1252,
            e if e == REPLACEMENT => return None,
            e => e,
        };
        Some(encoding.name())
    })
}

/// The value following `name` `=` in a tag's attribute text, quotes stripped:
/// `charset="utf-8"`, `content="text/html; charset=iso-8859-1"`.
fn attr_value_after(tag: &str, name: &str) -> Option<String> {
    let mut search = tag;
    while let Some(pos) = search.find(name) {
        let after = search.get(pos + name.len()..).unwrap_or_default();
        let trimmed = after.trim_start();
        if let Some(value) = trimmed.strip_prefix('=') {
            let value = value.trim_start();
            let value = value.trim_start_matches(['"', '\'']);
            let end = value.find(|c: char| c == '"' || c == '\'' || c == ';' || c == '/' || c.is_whitespace());
            let value = value.get(..end.unwrap_or(value.len())).unwrap_or_default();
            if !value.is_empty() {
                return Some(value.to_owned());
            }
        }
        search = after;
    }
    None
}

/// `"UTF-8"` / `'latin1' ` → the bare label.
fn clean_label(label: &str) -> &str {
    label.trim().trim_matches(['"', '\'']).trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://x.example/p";

    #[test]
    fn utf8_passes_and_bom_is_stripped() {
        assert_eq!(decode_body("héllo ✓".as_bytes(), None, URL).as_deref(), Ok("héllo ✓"));
        assert_eq!(decode_body(b"\xef\xbb\xbfhi", None, URL).as_deref(), Ok("hi"));
        assert_eq!(decode_body(b"\xef\xbb\xbfhi", Some("iso-8859-1"), URL).as_deref(), Ok("hi"));
        assert_eq!(decode_body(b"", None, URL).as_deref(), Ok(""));
    }

    #[test]
    fn utf16_with_bom() {
        let mut bytes = vec![0xff, 0xfe];
        for unit in "Grüße".encode_utf16() {
            bytes.extend_from_slice(&unit.to_le_bytes());
        }
        assert_eq!(decode_body(&bytes, None, URL).as_deref(), Ok("Grüße"));
        // An odd trailing byte is malformed UTF-16.
        bytes.push(0x41);
        assert!(matches!(decode_body(&bytes, None, URL), Err(ExtractError::InvalidEncoding { .. })));
    }

    #[test]
    fn invalid_utf8_is_an_error_with_offset() {
        let err = decode_body(b"abc\xffdef", None, URL).expect_err("invalid");
        match err {
            ExtractError::InvalidEncoding { url, detail } => {
                assert_eq!(url, URL);
                assert!(detail.contains("byte 3"), "{detail}");
            }
            other => panic!("unexpected {other:?}"),
        }
        // Declaring UTF-8 (in any spelling) changes nothing.
        assert!(decode_body(b"\xc3", Some("\"UTF8\""), URL).is_err());
        // An unknown label falls back to strict UTF-8 and says so.
        let err = decode_body(b"\xe9", Some("klingon-7"), URL).expect_err("invalid");
        assert!(err.to_string().contains("klingon-7"), "{err}");
        assert_eq!(decode_body(b"plain", Some("klingon-7"), URL).as_deref(), Ok("plain"));
    }

    #[test]
    fn declared_legacy_charsets_decode() {
        assert_eq!(decode_body(b"caf\xe9 \x80", Some("ISO-8859-1"), URL).as_deref(), Ok("café €"));
        assert_eq!(decode_body(b"\xcf\xf0\xe8\xe2\xe5\xf2", Some("windows-1251"), URL).as_deref(), Ok("Привет"));
        assert_eq!(decode_body(b"\x93\xfa\x96\x7b", Some("shift_jis"), URL).as_deref(), Ok("日本"));
        // Truncated Shift_JIS is malformed, not silently replaced.
        assert!(decode_body(b"\x93\xfa\x96", Some("shift_jis"), URL).is_err());
    }

    #[test]
    fn utf8_body_with_legacy_label_is_read_as_utf8() {
        assert_eq!(decode_body("café".as_bytes(), Some("iso-8859-1"), URL).as_deref(), Ok("café"));
    }

    #[test]
    fn replacement_encoding_is_refused() {
        assert!(decode_body(b"abc", Some("iso-2022-kr"), URL).is_err());
    }

    #[test]
    fn sniffs_meta_charset_variants() {
        assert_eq!(sniff_html_charset(b"<html><head><meta charset=\"ISO-8859-1\">"), Some("windows-1252"));
        assert_eq!(sniff_html_charset(b"<META CHARSET=utf-8/>"), Some("UTF-8"));
        assert_eq!(
            sniff_html_charset(b"<meta http-equiv=\"Content-Type\" content=\"text/html; charset=Shift_JIS\">"),
            Some("Shift_JIS")
        );
        assert_eq!(sniff_html_charset(b"<?xml version=\"1.0\" encoding='windows-1251'?><html>"), Some("windows-1251"));
        assert_eq!(sniff_html_charset(b"<meta charset=\"utf-16\">"), Some("UTF-8"));
        assert_eq!(sniff_html_charset(b"<meta name=\"viewport\"><p>no charset</p>"), None);
        assert_eq!(sniff_html_charset(b"<meta charset=\"bogus\">"), None);
        assert_eq!(sniff_html_charset(b"<meta charset="), None);
        assert_eq!(sniff_html_charset(b"\xff\xfe<meta"), None);
    }
}
