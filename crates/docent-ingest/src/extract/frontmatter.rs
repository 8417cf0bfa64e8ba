//! YAML front matter at the top of Markdown files (`---` … `---`): the page's title,
//! description and tags. Other keys (`slug`, `aliases`, `date`, …) are ignored.
//!
//! A broken block is an error rather than being indexed as body text, because it
//! means the site's own generator would fail on (or mis-render) the page too.

use serde_yaml_ng::Value;

use super::blocks::clean_line;
use super::ExtractError;

/// The front matter fields extraction uses.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct FrontMatter {
    pub(crate) title: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) tags: Vec<String>,
}

/// Splits `source` into its front matter and the Markdown body after it.
///
/// The block must start on the first line with `---` and end with a `---` (or `...`)
/// line. A first-line `---` without a closing line is a thematic break, unless the
/// next line looks like a YAML `key:` — then it is an unterminated block (error).
pub(crate) fn split<'a>(source: &'a str, url: &str) -> Result<(FrontMatter, &'a str), ExtractError> {
    let error = |detail: String| ExtractError::FrontMatter { url: url.to_owned(), detail };

    let mut lines = LineSpans::new(source);
    match lines.next() {
        Some((_, first)) if first.trim_end() == "---" => {}
        _ => return Ok((FrontMatter::default(), source)),
    }
    let yaml_start = lines.pos;
    let mut first_content: Option<&str> = None;
    let mut closing = None;
    for (start, line) in lines.by_ref() {
        let trimmed = line.trim_end();
        if trimmed == "---" || trimmed == "..." {
            closing = Some(start);
            break;
        }
        if first_content.is_none() && !trimmed.is_empty() {
            first_content = Some(trimmed);
        }
    }
    let Some(yaml_end) = closing else {
        if first_content.is_some_and(looks_like_yaml_key) {
            return Err(error("the block opened by `---` on line 1 is never closed by a `---` line".to_owned()));
        }
        return Ok((FrontMatter::default(), source));
    };
    let yaml = source.get(yaml_start..yaml_end).unwrap_or_default();
    let body = source.get(lines.pos..).unwrap_or_default();
    Ok((parse(yaml).map_err(error)?, body))
}

/// Byte offsets and contents of lines (without their `\n` / `\r\n`).
struct LineSpans<'a> {
    source: &'a str,
    pos: usize,
}

impl<'a> LineSpans<'a> {
    fn new(source: &'a str) -> Self {
        LineSpans { source, pos: 0 }
    }
}

impl<'a> Iterator for LineSpans<'a> {
    type Item = (usize, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.source.get(self.pos..).filter(|r| !r.is_empty())?;
        let start = self.pos;
        let (line, advance) = match rest.find('\n') {
            Some(i) => (rest.get(..i).unwrap_or_default(), i + 1),
            None => (rest, rest.len()),
        };
        self.pos += advance;
        Some((start, line.strip_suffix('\r').unwrap_or(line)))
    }
}

/// `title: …`, `tags:` — a plain YAML key at the start of a line.
fn looks_like_yaml_key(line: &str) -> bool {
    match line.split_once(':') {
        Some((key, _)) => {
            !key.is_empty() && key.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-' || c == ' ')
        }
        None => false,
    }
}

fn parse(yaml: &str) -> Result<FrontMatter, String> {
    if yaml.trim().is_empty() {
        return Ok(FrontMatter::default());
    }
    // Line numbers in YAML errors count from the block's first line; the block starts
    // on line 2 of the file.
    let value: Value = serde_yaml_ng::from_str(yaml).map_err(|e| match e.location() {
        Some(loc) => format!("{e} (file line {})", loc.line() + 1),
        None => e.to_string(),
    })?;
    let map = match value {
        Value::Null => return Ok(FrontMatter::default()),
        Value::Mapping(map) => map,
        other => return Err(format!("expected a mapping of keys to values, found {}", kind(&other))),
    };
    let field = |name: &str| map.get(name).filter(|v| !v.is_null());
    Ok(FrontMatter {
        title: field("title").map(|v| scalar(v, "title")).transpose()?.filter(|t| !t.is_empty()),
        description: field("description").map(|v| scalar(v, "description")).transpose()?.filter(|d| !d.is_empty()),
        tags: field("tags").map(tags).transpose()?.unwrap_or_default(),
    })
}

/// A string, number or boolean as one cleaned line of text.
fn scalar(value: &Value, name: &str) -> Result<String, String> {
    match value {
        Value::String(s) => Ok(clean_line(s)),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Tagged(tagged) => scalar(&tagged.value, name),
        other => Err(format!("`{name}` must be a string, found {}", kind(other))),
    }
}

/// `tags: [a, b]`, `tags: ["a", 429]` or `tags: a, b` (comma-separated string).
fn tags(value: &Value) -> Result<Vec<String>, String> {
    let raw: Vec<String> = match value {
        Value::Sequence(items) => items
            .iter()
            .filter(|item| !item.is_null())
            .map(|item| scalar(item, "tags"))
            .collect::<Result<_, _>>()
            .map_err(|_| "`tags` must be a list of strings or a comma-separated string".to_owned())?,
        Value::String(s) => s.split(',').map(clean_line).collect(),
        other => vec![scalar(other, "tags")?],
    };
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    for tag in raw {
        if !tag.is_empty() && !out.contains(&tag) {
            out.push(tag);
        }
    }
    Ok(out)
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://x.example/doc";

    fn ok(src: &str) -> (FrontMatter, &str) {
        split(src, URL).expect("parses")
    }

    fn err(src: &str) -> String {
        match split(src, URL) {
            Err(ExtractError::FrontMatter { url, detail }) => {
                assert_eq!(url, URL);
                detail
            }
            other => panic!("expected a front matter error, got {other:?}"),
        }
    }

    #[test]
    fn parses_fields_and_returns_body() {
        let src = "---\r\ntitle: Refunds\r\ndescription: \"How  refunds\n  work\"\r\ntags: [billing, \"429\", 7, billing]\r\nslug: x\r\naliases: [/a, /b]\r\n---\r\n\r\nBody text\n";
        let (fm, body) = ok(src);
        assert_eq!(fm.title.as_deref(), Some("Refunds"));
        assert_eq!(fm.description.as_deref(), Some("How refunds work"));
        assert_eq!(fm.tags, vec!["billing", "429", "7"]);
        assert_eq!(body, "\r\nBody text\n");
    }

    #[test]
    fn comma_string_tags_and_dots_terminator() {
        let (fm, body) = ok("---\ntags: api, rate limits ,, sdk\ntitle: 2024\n...\n# Heading");
        assert_eq!(fm.tags, vec!["api", "rate limits", "sdk"]);
        assert_eq!(fm.title.as_deref(), Some("2024"));
        assert_eq!(body, "# Heading");
    }

    #[test]
    fn absent_empty_and_thematic_break() {
        assert_eq!(ok("No front matter"), (FrontMatter::default(), "No front matter"));
        assert_eq!(ok("---\n---\nbody"), (FrontMatter::default(), "body"));
        assert_eq!(ok("---\n# comment only\n---\nbody"), (FrontMatter::default(), "body"));
        assert_eq!(ok("---\ntitle:\n---\n"), (FrontMatter::default(), ""));
        // A leading rule followed by prose and no closing line is plain Markdown.
        let src = "---\nJust a paragraph after a rule.\n";
        assert_eq!(ok(src), (FrontMatter::default(), src));
        // `---` not on the first line is not front matter.
        let src = "\n---\ntitle: x\n---\n";
        assert_eq!(ok(src).1, src);
    }

    #[test]
    fn malformed_yaml_is_an_error() {
        let detail = err("---\ntitle: [unclosed\n---\nbody");
        assert!(!detail.is_empty());
        let detail = err("---\ntitle: ok\n  bad: indent: here\n---\n");
        assert!(detail.contains("line"), "{detail}");
        assert!(err("---\ntitle: a\ntitle: b\n---\n").contains("duplicate"), "duplicate keys");
    }

    #[test]
    fn wrong_shapes_are_errors() {
        assert!(err("---\n- a\n- b\n---\n").contains("mapping"));
        assert!(err("---\ntitle: {a: 1}\n---\n").contains("`title`"));
        assert!(err("---\ntags: [[nested]]\n---\n").contains("`tags`"));
        assert!(err("---\ntitle: Unterminated\n\nBody").contains("never closed"));
    }
}
