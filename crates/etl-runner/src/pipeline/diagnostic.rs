//! Errors in a pipeline file, each with its key path and, where it can be found, its line and
//! column.

use std::fmt;
use std::path::{Path, PathBuf};

use etl_config::{ConfigError, KeyPath, Segment};

/// One problem in a pipeline file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    /// 1-based line and column.
    pub position: Option<(usize, usize)>,
    /// Dotted key path (`sources.posts.pagination.limit_param`); empty for the whole file.
    pub key: String,
    pub message: String,
    /// The offending line as written, and how many characters from `position` to underline.
    pub excerpt: Option<(String, usize)>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some((line, col)) = self.position {
            write!(f, ":{line}:{col}")?;
        }
        if self.key.is_empty() {
            write!(f, ": {}", self.message)?;
        } else {
            // A key with control characters is shown escaped, never raw on a terminal.
            write!(f, ": `{}`: {}", escape_controls(&self.key), self.message)?;
        }
        if let (Some((line, col)), Some((text, width))) = (self.position, &self.excerpt) {
            // The line, with a caret under the offending text (tabs shown as one space, so
            // that the caret lines up).
            let shown: String = escape_controls(&text.replace('\t', " "));
            let number = line.to_string();
            let pad = " ".repeat(number.len());
            let before = " ".repeat(col.saturating_sub(1));
            write!(
                f,
                "\n{pad} |\n{number} | {shown}\n{pad} | {before}{}",
                "^".repeat((*width).max(1))
            )?;
        }
        Ok(())
    }
}

/// Text with its control characters escaped (`\u{7}`), safe to print on one terminal line.
pub(crate) fn escape_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Every problem found in one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            writeln!(f, "error: {d}")?;
        }
        let n = self.0.len();
        let file = self
            .0
            .first()
            .map(|d| d.file.display().to_string())
            .unwrap_or_default();
        write!(f, "{n} error{} in {file}", if n == 1 { "" } else { "s" })
    }
}

impl std::error::Error for Diagnostics {}

/// Collects diagnostics for one file, locating key paths in its text.
#[derive(Debug)]
pub(crate) struct Collector<'a> {
    file: &'a Path,
    text: &'a str,
    pub(crate) found: Vec<Diagnostic>,
}

impl<'a> Collector<'a> {
    pub(crate) fn new(file: &'a Path, text: &'a str) -> Self {
        Self {
            file,
            text,
            found: Vec::new(),
        }
    }

    /// A problem at a key path, with no more to it than its message.
    pub(crate) fn at(&mut self, key: impl Into<KeyPath>, message: impl Into<String>) {
        self.error(ConfigError::new(key, message));
    }

    /// A problem found by a config stage: placed at its key, the caret under its token where
    /// the key's entry writes it (at or after the key, on its lines), else under the key.
    pub(crate) fn error(&mut self, error: ConfigError) {
        let message = error.text();
        let ConfigError { key, token, .. } = error;
        let mut position = locate(self.text, &key);
        let mut word = key.last_key().unwrap_or("");
        if let (Some(token), Some(at_key)) = (&token, position) {
            if let Some(at) = find_in_item(self.text, at_key, token) {
                position = Some(at);
                word = token;
            }
        }
        let excerpt = self.excerpt(position, word);
        self.found.push(Diagnostic {
            file: self.file.to_owned(),
            position,
            key: key.to_string(),
            message,
            excerpt,
        });
    }

    /// A problem at a key whose line must not be shown (it holds a secret): placed, without
    /// the excerpt.
    pub(crate) fn secret(&mut self, error: ConfigError) {
        let message = error.text();
        let ConfigError { key, .. } = error;
        self.found.push(Diagnostic {
            file: self.file.to_owned(),
            position: locate(self.text, &key),
            key: key.to_string(),
            message,
            excerpt: None,
        });
    }

    /// Every problem found, in the order they are written in the file.
    pub(crate) fn finish(self) -> Diagnostics {
        let mut found = self.found;
        found.sort_by_key(|d| d.position.map_or((usize::MAX, 0), |p| p));
        Diagnostics(found)
    }

    /// The line at `position`, and the width to underline: `word` if it is written there.
    fn excerpt(&self, position: Option<(usize, usize)>, word: &str) -> Option<(String, usize)> {
        let (line, col) = position?;
        let text = self.text.lines().nth(line.checked_sub(1)?)?;
        let rest: String = text.chars().skip(col.saturating_sub(1)).collect();
        let rest = rest.trim_start_matches(['"', '\'']);
        let width = if !word.is_empty() && rest.starts_with(word) {
            word.chars().count()
        } else {
            1
        };
        Some((text.to_owned(), width))
    }

    /// A problem with a known position (the YAML parser's).
    pub(crate) fn at_position(
        &mut self,
        position: Option<(usize, usize)>,
        message: impl Into<String>,
    ) {
        let excerpt = self.excerpt(position, "");
        self.found.push(Diagnostic {
            file: self.file.to_owned(),
            position,
            key: String::new(),
            message: message.into(),
            excerpt,
        });
    }
}

/// Finds where a dotted key path is written in block or flow YAML. A best effort: `None` when
/// the text does not show it plainly (anchors, unusual quoting).
pub(crate) fn locate(text: &str, key: &KeyPath) -> Option<(usize, usize)> {
    let mut start = 0usize;
    let mut end = text.len();
    let mut found = None;
    for segment in key.segments() {
        let segment = match segment {
            Segment::Key(k) => k.as_str(),
            Segment::Index(index) => {
                // A block sequence item (`- ...`); a flow sequence keeps the enclosing key.
                if let Some((item, item_end)) = find_item(&text[start..end], *index) {
                    found = Some(start + item);
                    end = start + item_end;
                    start += item;
                }
                continue;
            }
        };
        let at = find_key(&text[start..end], segment)? + start;
        found = Some(at);
        // The key's value runs until the next line indented no deeper than the key's line.
        let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
        let indent = text[line_start..at].len() - text[line_start..at].trim_start().len();
        let key_is_line_first =
            text[line_start..at].trim().is_empty() || text[line_start..at].trim() == "-";
        let value_start = at + segment.len();
        let mut block_end = end;
        let mut offset = text[value_start..end]
            .find('\n')
            .map_or(end, |i| value_start + i + 1);
        while offset < end {
            let line_end = text[offset..end].find('\n').map_or(end, |i| offset + i);
            let line = &text[offset..line_end];
            let trimmed = line.trim_start();
            if !trimmed.is_empty() && !trimmed.starts_with('#') {
                let this_indent = line.len() - trimmed.len();
                let limit = if key_is_line_first {
                    indent
                } else {
                    indent.max(at - line_start)
                };
                if this_indent <= limit {
                    block_end = offset;
                    break;
                }
            }
            offset = line_end + 1;
        }
        start = value_start;
        end = block_end;
    }
    let at = found?;
    let line = text[..at].matches('\n').count() + 1;
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let col = text[line_start..at].chars().count() + 1;
    Some((line, col))
}

/// Where `word` is written, as a whole word, in the entry (a key or a list item) starting at
/// `item` (line and column): on its first line from there, or on the lines indented deeper
/// below it.
fn find_in_item(text: &str, item: (usize, usize), word: &str) -> Option<(usize, usize)> {
    let (line, col) = item;
    let first = text.lines().nth(line.checked_sub(1)?)?;
    // The item ends at the next line indented no deeper than its `-`.
    let dash = first.len() - first.trim_start().len();
    for (i, l) in text.lines().enumerate().skip(line - 1) {
        let from = if i + 1 == line {
            l.char_indices().nth(col - 1).map_or(l.len(), |(b, _)| b)
        } else {
            let indent = l.len() - l.trim_start().len();
            if !l.trim().is_empty() && indent <= dash {
                return None;
            }
            0
        };
        let mut start = from;
        while let Some(found) = l[start..].find(word) {
            let at = start + found;
            let end = at + word.len();
            let boundary = |c: Option<char>| c.is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
            if boundary(l[..at].chars().next_back()) && boundary(l[end..].chars().next()) {
                return Some((i + 1, l[..at].chars().count() + 1));
            }
            start = end;
        }
    }
    None
}

/// The `index`-th item of the block sequence that opens `region`: the offset of its content
/// (after `- `) and of the end of the item.
fn find_item(region: &str, index: usize) -> Option<(usize, usize)> {
    let mut items = Vec::new();
    let mut item_indent = None;
    let mut offset = 0;
    for line in region.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        let is_item = trimmed.starts_with("- ") || trimmed.trim_end() == "-";
        match item_indent {
            None if is_item => item_indent = Some(indent),
            None if !trimmed.trim().is_empty() && !trimmed.starts_with('#') && offset > 0 => {
                return None;
            }
            Some(i) if !trimmed.trim().is_empty() && !trimmed.starts_with('#') && indent < i => {
                break;
            }
            _ => {}
        }
        if is_item && item_indent == Some(indent) {
            let content = trimmed[1..].len() - trimmed[1..].trim_start().len();
            items.push(offset + indent + 1 + content);
        }
        offset += line.len();
    }
    let at = *items.get(index)?;
    let next = items
        .get(index + 1)
        .map_or(offset, |n| region[..*n].rfind('\n').map_or(*n, |i| i + 1));
    Some((at, next))
}

/// The offset of `key` written as a mapping key in `region`.
fn find_key(region: &str, key: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = region[from..].find(key) {
        let at = from + i;
        from = at + key.len();
        let before = region[..at].chars().next_back();
        let (quoted, open) = match before {
            Some('"' | '\'') => (true, region[..at - 1].chars().next_back()),
            other => (false, other),
        };
        let boundary_before = matches!(open, None | Some('\n' | ' ' | '\t' | '{' | ','));
        let mut after = &region[at + key.len()..];
        if quoted {
            after = after.get(1..).unwrap_or("");
        }
        let after = after.trim_start_matches([' ', '\t']);
        let is_key = after.starts_with(':')
            && after[1..]
                .chars()
                .next()
                .is_none_or(|c| c.is_whitespace() || c == '{' || c == '[');
        // A comment line is not a key.
        let line_start = region[..at].rfind('\n').map_or(0, |n| n + 1);
        let in_comment = region[line_start..at].contains('#');
        if boundary_before && is_key && !in_comment {
            return Some(if quoted { at - 1 } else { at });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(dotted: &str) -> KeyPath {
        KeyPath::parse(dotted)
    }

    const YAML: &str = "version: 1\nhttp:\n  base_url: x\n  pagination: { type: offset, limit_parm: 5 }\nsources:\n  users: { endpoint: /users }\n  posts:\n    endpoint: /posts\n    # max_pages: in a comment\n    max_pages: ten\n";

    #[test]
    fn locates_block_and_flow_keys() {
        assert_eq!(locate(YAML, &k("http.base_url")), Some((3, 3)));
        assert_eq!(
            locate(YAML, &k("http.pagination.limit_parm")),
            Some((4, 31))
        );
        assert_eq!(locate(YAML, &k("sources.users.endpoint")), Some((6, 12)));
        assert_eq!(locate(YAML, &k("sources.posts.endpoint")), Some((8, 5)));
        assert_eq!(locate(YAML, &k("sources.posts.max_pages")), Some((10, 5)));
        assert_eq!(locate(YAML, &k("sources.nothing")), None);
    }

    #[test]
    fn locates_sequence_items() {
        let yaml = "transforms:\n  t:\n    steps:\n      - select: [a]\n      # note\n      -   join:\n          with: x\n          how: outer\n      - limit: 3\n";
        assert_eq!(locate(yaml, &k("transforms.t.steps.[0]")), Some((4, 9)));
        assert_eq!(locate(yaml, &k("transforms.t.steps.[1]")), Some((6, 11)));
        assert_eq!(
            locate(yaml, &k("transforms.t.steps.[1].join.how")),
            Some((8, 11))
        );
        assert_eq!(
            locate(yaml, &k("transforms.t.steps.[2].limit")),
            Some((9, 9))
        );
        // Past the end, or a flow list: the enclosing key.
        assert_eq!(locate(yaml, &k("transforms.t.steps.[3]")), Some((3, 5)));
        assert_eq!(find_in_item(yaml, (6, 11), "outer"), Some((8, 16)));
        assert_eq!(find_in_item(yaml, (4, 9), "select"), Some((4, 9)));
        assert_eq!(find_in_item(yaml, (4, 9), "limit"), None);
        let flow = "t:\n  steps: [{ limit: 3 }]\n";
        assert_eq!(locate(flow, &k("t.steps.[0]")), Some((2, 3)));
    }
}
