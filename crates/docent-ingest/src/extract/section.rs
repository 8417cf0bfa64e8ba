//! Heading hierarchy → [`Section`]s. Every extractor feeds headings (level, text,
//! anchor) and body blocks in document order; this module keeps the open-heading stack
//! that gives each section its heading path and the anchor to link to.

use super::blocks::{clean_line, clean_text};
use crate::page::Section;

/// An open heading on the stack.
#[derive(Debug)]
struct Open {
    level: u8,
    text: String,
    anchor: Option<String>,
}

/// Collects sections. Text before the first heading becomes a section with no
/// headings; sections whose body is empty are left out (their heading still shows in
/// the paths of their subsections).
#[derive(Debug, Default)]
pub(crate) struct SectionBuilder {
    stack: Vec<Open>,
    current: Section,
    blocks: Vec<String>,
    sections: Vec<Section>,
}

impl SectionBuilder {
    /// Appends body blocks to the current section.
    pub(crate) fn blocks(&mut self, blocks: impl IntoIterator<Item = String>) {
        self.blocks.extend(blocks.into_iter().filter(|b| !b.trim().is_empty()));
    }

    /// Starts a section at heading `level` (1–6). Headings at the same or a deeper
    /// level close; the new section's path is what remains plus this heading, and it
    /// links to its own anchor or else the nearest ancestor's.
    pub(crate) fn heading(&mut self, level: u8, text: &str, anchor: Option<String>) {
        self.close_current();
        while self.stack.last().is_some_and(|open| open.level >= level) {
            self.stack.pop();
        }
        let anchor = anchor.map(|a| a.trim().to_owned()).filter(|a| !a.is_empty());
        self.stack.push(Open { level, text: clean_line(text), anchor: anchor.clone() });
        self.current = Section {
            headings: self.stack.iter().map(|open| open.text.clone()).collect(),
            link_anchor: self.stack.iter().rev().find_map(|open| open.anchor.clone()),
            anchor,
            text: String::new(),
        };
    }

    fn close_current(&mut self) {
        let text = clean_text(&std::mem::take(&mut self.blocks).join("\n\n"));
        let mut section = std::mem::take(&mut self.current);
        if !text.is_empty() {
            section.text = text;
            self.sections.push(section);
        }
    }

    /// The sections in document order.
    pub(crate) fn finish(mut self) -> Vec<Section> {
        self.close_current();
        self.sections
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| (*x).to_owned()).collect()
    }

    #[test]
    fn hierarchy_paths_and_link_anchors() {
        let mut b = SectionBuilder::default();
        b.blocks(s(&["intro"]));
        b.heading(2, "System errors", Some("system-errors".into()));
        b.heading(3, "LL-5000", None);
        b.blocks(s(&["unexpected"]));
        b.heading(4, "Deep", Some("deep".into()));
        b.blocks(s(&["deep text"]));
        b.heading(3, "LL-5003", None);
        b.blocks(s(&["maintenance", "  ", "more"]));
        b.heading(2, "No id", None);
        b.blocks(s(&["orphan"]));
        b.heading(1, "Top", Some("top".into()));
        b.heading(5, "Skipped levels", Some(" ".into()));
        b.blocks(s(&["x"]));
        let sections = b.finish();

        assert_eq!(sections.len(), 6, "{sections:#?}");
        assert_eq!(sections[0].headings, Vec::<String>::new());
        assert_eq!((sections[0].anchor.as_deref(), sections[0].link_anchor.as_deref()), (None, None));
        // "System errors" has no own text: omitted, but still in the path below.
        assert_eq!(sections[1].headings, s(&["System errors", "LL-5000"]));
        assert_eq!(sections[1].anchor, None);
        assert_eq!(sections[1].link_anchor.as_deref(), Some("system-errors"));
        assert_eq!(sections[2].headings, s(&["System errors", "LL-5000", "Deep"]));
        assert_eq!(sections[2].link_anchor.as_deref(), Some("deep"));
        assert_eq!(sections[3].headings, s(&["System errors", "LL-5003"]));
        assert_eq!(sections[3].text, "maintenance\n\nmore");
        assert_eq!(sections[4].headings, s(&["No id"]));
        assert_eq!(sections[4].link_anchor, None);
        assert_eq!(sections[5].headings, s(&["Top", "Skipped levels"]));
        assert_eq!(sections[5].anchor, None, "blank anchors are no anchors");
        assert_eq!(sections[5].link_anchor.as_deref(), Some("top"));
    }

    #[test]
    fn no_text_no_sections() {
        let mut b = SectionBuilder::default();
        b.heading(2, "Empty", Some("e".into()));
        b.blocks(s(&["\u{0}"]));
        assert!(b.finish().is_empty());
    }
}
