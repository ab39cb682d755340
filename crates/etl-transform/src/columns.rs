//! The columns a transform names, read from its SQL and steps before any data exists: what
//! staging needs to keep of the sources (projection). Erring on the side of keeping: any word
//! that could be a column counts, and a transform that can carry or read columns it does not
//! name (`SELECT *`, steps without `select` or `group_by`, `distinct` of whole rows) says so.

use std::collections::{BTreeMap, BTreeSet};

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
    /// Names (lowercase) the SQL uses only as `t.name`, each qualifier a table of a `FROM`
    /// or `JOIN` or its alias: the tables (lowercase) whose column it can be. Any other use
    /// in the SQL (unqualified, behind an unknown qualifier) leaves it out of here.
    pub qualified_only: BTreeMap<String, BTreeSet<String>>,
}

impl Transform {
    /// The columns this transform names, in its SQL or steps and its checks.
    pub fn named_columns(&self) -> Named {
        let mut named = match &self.kind {
            TransformKind::Sql(sql) => Named {
                qualified_only: qualified_only(sql),
                ..sql_named(sql)
            },
            TransformKind::Steps { steps, .. } => steps_named(steps),
        };
        // The checks read the result: a column of it that comes from a source is named in
        // the SQL (or passed through, and then the source is read whole).
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
    let tokens = tokens(sql);
    for (i, token) in tokens.iter().enumerate() {
        match token {
            Token::Word(word, true) => {
                named.names.insert(word.clone());
            }
            Token::Word(word, false) => {
                let called = tokens.get(i + 1) == Some(&Token::Open);
                let lower = word.to_ascii_lowercase();
                if (called && lower == "columns") || lower == "natural" {
                    // `COLUMNS('regex')`; `NATURAL JOIN` on the columns both sides have.
                    named.passes_through = true;
                    named.reads_all = true;
                }
                if !called {
                    named.names.insert(word.clone());
                }
            }
            Token::Star => {
                // `SELECT *`, `DISTINCT ON (id) *`, `t.*`, `, *`; not `a * b` or `COUNT(*)`.
                let selects = match i.checked_sub(1).map(|p| &tokens[p]) {
                    Some(Token::Comma | Token::Dot | Token::Close) => true,
                    Some(Token::Word(w, false)) => {
                        matches!(
                            w.to_ascii_lowercase().as_str(),
                            "select" | "distinct" | "all"
                        )
                    }
                    _ => false,
                };
                if selects {
                    named.passes_through = true;
                    named.reads_all = true;
                }
            }
            _ => {}
        }
    }
    named
}

/// A token of SQL, as [`sql_named`] and [`qualified_only`] read it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// A name or keyword as written, and whether it was quoted.
    Word(String, bool),
    Dot,
    Comma,
    Open,
    Close,
    Star,
    /// A string literal, or any other mark.
    Other,
}

/// SQL as tokens: comments skipped, string literals as [`Token::Other`], quoted names
/// unquoted (the quote doubled is the quote itself).
fn tokens(sql: &str) -> Vec<Token> {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
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
        } else if c == '\'' || c == '"' || c == '`' {
            let mut text = String::new();
            i += 1;
            while i < chars.len() {
                if chars[i] == c && chars.get(i + 1) == Some(&c) {
                    text.push(c);
                    i += 2;
                } else if chars[i] == c {
                    break;
                } else {
                    text.push(chars[i]);
                    i += 1;
                }
            }
            out.push(if c == '\'' {
                Token::Other
            } else {
                Token::Word(text, true)
            });
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$')
            {
                i += 1;
            }
            out.push(Token::Word(chars[start..i].iter().collect(), false));
            continue;
        } else if !c.is_whitespace() {
            out.push(match c {
                '.' => Token::Dot,
                ',' => Token::Comma,
                '(' => Token::Open,
                ')' => Token::Close,
                '*' => Token::Star,
                _ => Token::Other,
            });
        }
        i += 1;
    }
    out
}

/// Words after a table that end its clause rather than name an alias.
const NOT_ALIASES: &[&str] = &[
    "where",
    "group",
    "order",
    "having",
    "limit",
    "offset",
    "on",
    "using",
    "join",
    "inner",
    "left",
    "right",
    "full",
    "outer",
    "cross",
    "natural",
    "semi",
    "anti",
    "union",
    "except",
    "intersect",
    "window",
    "qualify",
    "select",
    "from",
    "as",
    "lateral",
];

/// Words that end a `FROM a, b` list.
const END_FROM: &[&str] = &[
    "where",
    "group",
    "order",
    "having",
    "limit",
    "offset",
    "on",
    "using",
    "union",
    "except",
    "intersect",
    "select",
    "window",
    "qualify",
];

/// The names of `sql` used only as `t.name`, with the tables each can belong to: see
/// [`Named::qualified_only`]. Errs on the side of keeping: a qualifier that is neither a
/// table of a `FROM`/`JOIN` nor an alias of one, a name qualified twice (`a.b.c`), or any
/// unqualified use makes the name unrestricted (left out here).
pub(crate) fn qualified_only(sql: &str) -> BTreeMap<String, BTreeSet<String>> {
    let tokens: Vec<Token> = tokens(sql)
        .into_iter()
        .map(|t| match t {
            Token::Word(w, quoted) => Token::Word(w.to_lowercase(), quoted),
            other => other,
        })
        .collect();
    let word = |i: usize| match tokens.get(i) {
        Some(Token::Word(w, quoted)) => Some((w.as_str(), *quoted)),
        _ => None,
    };
    // Tables of FROM and JOIN, and their aliases.
    let mut tables: BTreeSet<String> = BTreeSet::new();
    let mut aliases: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut in_from = false;
    for i in 0..tokens.len() {
        let starts_table = match (i.checked_sub(1).map(|p| &tokens[p]), word(i)) {
            (Some(Token::Word(w, false)), Some(_)) if w == "from" || w == "join" => true,
            (Some(Token::Comma), Some(_)) => in_from,
            _ => false,
        };
        if let Some((w, false)) = word(i) {
            if w == "from" {
                in_from = true;
            } else if END_FROM.contains(&w) || w == "join" {
                in_from = false;
            }
        }
        if matches!(tokens[i], Token::Open | Token::Close) {
            in_from = false;
        }
        if !starts_table || tokens.get(i + 1) == Some(&Token::Dot) {
            continue;
        }
        let Some((table, _)) = word(i) else { continue };
        tables.insert(table.to_owned());
        let mut at = i + 1;
        if word(at) == Some(("as", false)) {
            at += 1;
        }
        if let Some((alias, quoted)) = word(at) {
            if quoted || !NOT_ALIASES.contains(&alias) {
                aliases
                    .entry(alias.to_owned())
                    .or_default()
                    .insert(table.to_owned());
            }
        }
    }
    let mut restricted: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut free: BTreeSet<String> = BTreeSet::new();
    for i in 0..tokens.len() {
        let Some((name, _)) = word(i) else { continue };
        if tokens.get(i + 1) == Some(&Token::Dot) {
            // A qualifier, not a column.
            continue;
        }
        let before = |back: usize| i.checked_sub(back).map(|p| &tokens[p]);
        if before(1) != Some(&Token::Dot) {
            free.insert(name.to_owned());
            continue;
        }
        let qualifier = i.checked_sub(2).and_then(word);
        let resolved: Option<BTreeSet<String>> = match qualifier {
            Some((q, _)) if before(3) != Some(&Token::Dot) => {
                let mut to: BTreeSet<String> = aliases.get(q).cloned().unwrap_or_default();
                if tables.contains(q) {
                    to.insert(q.to_owned());
                }
                (!to.is_empty()).then_some(to)
            }
            _ => None,
        };
        match resolved {
            Some(to) => restricted.entry(name.to_owned()).or_default().extend(to),
            None => {
                free.insert(name.to_owned());
            }
        }
    }
    restricted.retain(|name, _| !free.contains(name));
    restricted
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
    fn names_used_only_behind_a_table_or_its_alias_belong_to_it() {
        let sql = "WITH per_post AS (SELECT postId, COUNT(*) AS n FROM comments GROUP BY postId) \
                   SELECT u.id, u.name, U.\"Email\", p.title, c.n, s.x, comments.body, t.v, a.b.c \
                   FROM users AS u JOIN posts p ON p.userId = u.id LEFT JOIN per_post c ON \
                   c.postId = p.id, comments, (SELECT 1 AS x) s WHERE kind = 'u.kind' AND name2 = 1";
        let got = qualified_only(sql);
        let tables = |names: &[&str]| -> BTreeSet<String> {
            names.iter().map(|n| (*n).to_owned()).collect()
        };
        assert_eq!(got["name"], tables(&["users"]));
        assert_eq!(got["email"], tables(&["users"]));
        assert_eq!(got["id"], tables(&["posts", "users"]));
        assert_eq!(got["title"], tables(&["posts"]));
        assert_eq!(got["userid"], tables(&["posts"]));
        assert_eq!(got["body"], tables(&["comments"]));
        // Unqualified somewhere (`postId` and `n` in the CTE, `kind`), behind an unknown
        // qualifier (`s`, `t`), or qualified twice (`a.b.c`): kept for every table.
        for free in ["postid", "n", "kind", "x", "v", "c", "name2"] {
            assert!(!got.contains_key(free), "{free}: {got:?}");
        }
        // A check reads the result: `name` there is the result's, from `u.name`.
        let spec: crate::spec::TransformSpec = serde_json::from_value(serde_json::json!({
            "sql": "SELECT u.name, u.id FROM users u",
            "checks": { "not_null": ["name"] }
        }))
        .unwrap();
        let t = crate::transform::build("t", &spec).unwrap();
        let named = t.named_columns();
        assert_eq!(named.qualified_only["name"], tables(&["users"]));
        assert_eq!(named.qualified_only["id"], tables(&["users"]));
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
