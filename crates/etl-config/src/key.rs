//! Where a key is in a pipeline file: `sources.posts.pagination.limit_param`.

use std::fmt;

/// One step of a [`KeyPath`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    /// A mapping key.
    Key(String),
    /// An item of a list, 0-based.
    Index(usize),
}

/// The path of a key in a pipeline file, shown dotted with list items as `[i]`:
/// `transforms.report.steps.[1].join.on`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct KeyPath(Vec<Segment>);

impl KeyPath {
    /// The whole file.
    pub fn root() -> Self {
        Self::default()
    }

    /// Parses a dotted path (`a.b.[2].c`); a segment `[n]` is a list item.
    pub fn parse(dotted: &str) -> Self {
        if dotted.is_empty() {
            return Self::root();
        }
        Self(
            dotted
                .split('.')
                .map(|s| {
                    match s
                        .strip_prefix('[')
                        .and_then(|r| r.strip_suffix(']'))
                        .and_then(|i| i.parse().ok())
                    {
                        Some(i) => Segment::Index(i),
                        None => Segment::Key(s.to_owned()),
                    }
                })
                .collect(),
        )
    }

    /// This path with a key below it.
    #[must_use]
    pub fn key(&self, key: impl Into<String>) -> Self {
        let mut next = self.clone();
        next.0.push(Segment::Key(key.into()));
        next
    }

    /// This path with a list item below it.
    #[must_use]
    pub fn index(&self, index: usize) -> Self {
        let mut next = self.clone();
        next.0.push(Segment::Index(index));
        next
    }

    /// `self` followed by `rest`.
    #[must_use]
    pub fn join(&self, rest: &KeyPath) -> Self {
        let mut next = self.clone();
        next.0.extend(rest.0.iter().cloned());
        next
    }

    pub fn segments(&self) -> &[Segment] {
        &self.0
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The last mapping key, if any (`limit_param` in `http.pagination.limit_param`).
    pub fn last_key(&self) -> Option<&str> {
        self.0.iter().rev().find_map(|s| match s {
            Segment::Key(k) => Some(k.as_str()),
            Segment::Index(_) => None,
        })
    }

    /// Whether the path ends at a list item.
    pub fn ends_in_item(&self) -> bool {
        matches!(self.0.last(), Some(Segment::Index(_)))
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            match segment {
                Segment::Key(k) => f.write_str(k)?,
                Segment::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

impl From<&str> for KeyPath {
    fn from(dotted: &str) -> Self {
        Self::parse(dotted)
    }
}

impl From<String> for KeyPath {
    fn from(dotted: String) -> Self {
        Self::parse(&dotted)
    }
}

impl From<&String> for KeyPath {
    fn from(dotted: &String) -> Self {
        Self::parse(dotted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_dotted_paths() {
        let p = KeyPath::parse("transforms.t.steps.[1].join.on");
        assert_eq!(p.to_string(), "transforms.t.steps.[1].join.on");
        assert_eq!(p.segments()[3], Segment::Index(1));
        assert_eq!(p.last_key(), Some("on"));
        assert!(!p.ends_in_item());
        let built = KeyPath::root().key("a").index(0);
        assert_eq!(built.to_string(), "a.[0]");
        assert!(built.ends_in_item());
        assert_eq!(KeyPath::parse("").to_string(), "");
        assert_eq!(
            KeyPath::parse("sinks").join(&"x.from".into()).to_string(),
            "sinks.x.from"
        );
    }
}
