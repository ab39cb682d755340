//! The columns a transform names, read from its SQL and steps before any data exists: what
//! staging needs to keep of the sources (projection). Erring on the side of keeping: any word
//! that could be a column counts, and a transform that can carry or read columns it does not
//! name (`SELECT *`, steps without `select` or `group_by`, `distinct` of whole rows) says so.

use std::collections::BTreeSet;

use crate::spec::ChecksSpec;
use crate::steps::Step;
use crate::transform::{Transform, TransformKind};

/// What a transform reads of its input tables' columns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Named {
    /// Every name that may be a column it reads (table names and aliases among them).
    pub names: BTreeSet<String>,
    /// Its result carries columns of its inputs that it does not name (`SELECT *`, steps
    /// without `select` or `group_by`): whatever reads the result may need any of them.
    pub passes_through: bool,
    /// It reads columns it does not name (`distinct` of whole rows before any `select`).
    pub reads_all: bool,
}

impl Transform {
    /// The columns this transform names, in its SQL or steps and its checks.
    pub fn named_columns(&self) -> Named {
        let mut named = match &self.kind {
            TransformKind::Sql(sql) => sql_named(sql),
            TransformKind::Steps { steps, .. } => steps_named(steps),
        };
        if let Some(checks) = &self.checks {
            named.names.extend(check_columns(checks));
        }
        named
    }
}

fn check_columns(checks: &ChecksSpec) -> impl Iterator<Item = String> + '_ {
    checks
        .not_null
        .iter()
        .cloned()
        .chain(checks.unique.iter().flat_map(crate::spec::OneOrMany::names))
        .chain(checks.accepted_values.keys().cloned())
}

fn steps_named(steps: &[Step]) -> Named {
    let mut named = Named {
        passes_through: true,
        ..Named::default()
    };
    let mut suffixes = Vec::new();
    for step in steps {
        let columns: Vec<&String> = match step {
            Step::Select(items) => {
                named.passes_through = false;
                items.iter().map(|i| &i.column).collect()
            }
            Step::GroupBy { by, agg } => {
                named.passes_through = false;
                by.iter()
                    .chain(agg.values().filter_map(|a| a.column.as_ref()))
                    .collect()
            }
            Step::Rename(map) => map.keys().collect(),
            Step::Cast(map) => map.keys().collect(),
            Step::FillNull(map) => map.keys().collect(),
            Step::Filter(expression) => {
                named.names.extend(sql_named(expression).names);
                Vec::new()
            }
            Step::WithColumns(map) => {
                for expression in map.values() {
                    named.names.extend(sql_named(expression).names);
                }
                Vec::new()
            }
            Step::Join(join) => {
                // Every column of `with` comes in (but for `semi` and `anti`), after a
                // `select` too.
                if !matches!(
                    join.how,
                    crate::spec::JoinHow::Semi | crate::spec::JoinHow::Anti
                ) {
                    named.passes_through = true;
                    suffixes.push(join.suffix.clone());
                }
                join.left.iter().chain(&join.right).collect()
            }
            Step::Sort(keys) => keys.iter().map(|k| &k.column).collect(),
            Step::Distinct(Some(columns)) | Step::Explode(columns) => columns.iter().collect(),
            Step::Distinct(None) => {
                // Rows are told apart by every column they still have.
                named.reads_all |= named.passes_through;
                Vec::new()
            }
            Step::Union(_) => {
                // Every column of the other tables comes in, aligned by name.
                named.passes_through = true;
                Vec::new()
            }
            Step::Limit(_) => Vec::new(),
        };
        named.names.extend(columns.into_iter().cloned());
    }
    // `name_right` after a join is `with`'s `name`: both sides' `name` are read.
    let unsuffixed: Vec<String> = named
        .names
        .iter()
        .flat_map(|n| suffixes.iter().filter_map(|s| n.strip_suffix(s.as_str())))
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .collect();
    named.names.extend(unsuffixed);
    named
}

/// Words of SQL that cannot be an unquoted column name in a query (a column of that name is
/// written quoted there). They are kept among the names all the same (a step's expression
/// may name such a column unquoted); `etl plan` leaves them out of the list it shows.
const RESERVED: [&str; 47] = [
    "all",
    "and",
    "as",
    "asc",
    "between",
    "by",
    "case",
    "cross",
    "desc",
    "distinct",
    "else",
    "end",
    "except",
    "exists",
    "false",
    "from",
    "full",
    "group",
    "having",
    "in",
    "inner",
    "intersect",
    "interval",
    "is",
    "join",
    "left",
    "like",
    "limit",
    "natural",
    "not",
    "null",
    "offset",
    "on",
    "or",
    "order",
    "outer",
    "over",
    "partition",
    "right",
    "select",
    "then",
    "true",
    "union",
    "using",
    "when",
    "where",
    "with",
];

/// Whether `word` is a reserved SQL word (shown apart by `etl plan`).
pub fn is_reserved(word: &str) -> bool {
    RESERVED.contains(&word.to_ascii_lowercase().as_str())
}

/// The names a SQL query or expression may read: every identifier (quoted or not) that is
/// not a function called, and whether a `*`, `COLUMNS(...)` or `NATURAL JOIN` reads columns
/// without naming them.
pub(crate) fn sql_named(sql: &str) -> Named {
    let mut named = Named::default();
    let chars: Vec<char> = sql.chars().collect();
    let mut i = 0;
    // The last word and punctuation seen, for telling `SELECT *` and `t.*` from `a * b`.
    let mut last_word = String::new();
    let mut last_mark = ' ';
    while i < chars.len() {
        let c = chars[i];
        if c == '-' && chars.get(i + 1) == Some(&'-') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && chars.get(i + 1) == Some(&'*') {
            i += 2;
            while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                i += 1;
            }
            i += 1;
        } else if c == '\'' {
            // A string literal: its text is not a name.
            i += 1;
            while i < chars.len() {
                if chars[i] == '\'' && chars.get(i + 1) == Some(&'\'') {
                    i += 2;
                } else if chars[i] == '\'' {
                    break;
                } else {
                    i += 1;
                }
            }
            last_mark = '\'';
            last_word.clear();
        } else if c == '"' || c == '`' {
            // A quoted name; the quote doubled is the quote itself.
            let mut name = String::new();
            i += 1;
            while i < chars.len() {
                if chars[i] == c && chars.get(i + 1) == Some(&c) {
                    name.push(c);
                    i += 2;
                } else if chars[i] == c {
                    break;
                } else {
                    name.push(chars[i]);
                    i += 1;
                }
            }
            named.names.insert(name);
            last_word.clear();
            last_mark = 'w';
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$')
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let mut next = i;
            while next < chars.len() && chars[next].is_whitespace() {
                next += 1;
            }
            let called = chars.get(next) == Some(&'(');
            let lower = word.to_ascii_lowercase();
            if (called && lower == "columns") || lower == "natural" {
                // `COLUMNS('regex')`; `NATURAL JOIN` on the columns both sides have.
                named.passes_through = true;
                named.reads_all = true;
            }
            if !called {
                named.names.insert(word.clone());
            }
            last_word = lower;
            last_mark = 'w';
            continue;
        } else if c == '*' {
            let selects = matches!(last_mark, ',' | '.' | ')')
                || (last_mark == 'w'
                    && matches!(last_word.as_str(), "select" | "distinct" | "all"));
            if selects {
                named.passes_through = true;
                named.reads_all = true;
            }
            last_mark = '*';
            last_word.clear();
        } else if !c.is_whitespace() {
            last_mark = c;
            last_word.clear();
        }
        i += 1;
    }
    named
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names, less reserved words (which are kept too: see below).
    fn names(sql: &str) -> Vec<String> {
        let named = sql_named(sql).names;
        named.into_iter().filter(|n| !is_reserved(n)).collect()
    }

    #[test]
    fn reserved_words_are_names_too_comments_and_quotes_are_read() {
        // A step expression may name a column `end` unquoted.
        assert!(sql_named("end - start").names.contains("end"));
        assert_eq!(
            names("SELECT /* don't */ a, \"x\"\"y\", `p``q` FROM t"),
            ["a", "p`q", "t", "x\"y"]
        );
        for sql in [
            "SELECT /*x*/ * FROM t",
            "SELECT DISTINCT ON (id) * FROM t",
            "SELECT id FROM a NATURAL JOIN b",
        ] {
            assert!(sql_named(sql).reads_all, "{sql}");
        }
    }

    #[test]
    fn sql_names_are_its_identifiers_less_reserved_words_and_functions() {
        let sql = "WITH per_post AS (SELECT postId, COUNT(*) AS n FROM comments GROUP BY postId) \
                   SELECT u.id, u.\"Full Name\", `x y` FROM users u LEFT JOIN per_post c \
                   ON c.postId = u.id WHERE u.kind = 'a ''b'' c' -- trailing words\n ORDER BY 1";
        assert_eq!(
            names(sql),
            [
                "Full Name",
                "c",
                "comments",
                "id",
                "kind",
                "n",
                "per_post",
                "postId",
                "u",
                "users",
                "x y"
            ]
        );
        let named = sql_named(sql);
        assert!(
            !named.passes_through && !named.reads_all,
            "COUNT(*) selects no column"
        );
    }

    #[test]
    fn a_star_or_columns_selects_what_it_does_not_name() {
        for sql in [
            "SELECT * FROM users",
            "select distinct * from users",
            "SELECT u.*, p.id FROM users u JOIN posts p ON p.userId = u.id",
            "SELECT id, * FROM users",
            "SELECT COLUMNS('^a.*$') FROM users",
        ] {
            let named = sql_named(sql);
            assert!(named.passes_through && named.reads_all, "{sql}");
        }
        for sql in [
            "SELECT a * b AS c FROM t",
            "SELECT count(*) FROM t",
            "SELECT 2*3 FROM t",
        ] {
            assert!(!sql_named(sql).passes_through, "{sql}");
        }
    }
}
