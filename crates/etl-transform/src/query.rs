//! What a SQL query reads: the tables it names, less those its `WITH` clause defines.

use polars::prelude::PolarsError;

/// The tables a SQL query reads, without the names its `WITH` clause defines; an error if it
/// does not parse.
pub(crate) fn sql_tables(sql: &str) -> Result<Vec<String>, PolarsError> {
    let tables = polars::sql::extract_table_identifiers(sql, false, true)?;
    let defined = cte_names(sql);
    Ok(tables
        .into_iter()
        .filter(|t| !defined.iter().any(|d| d.eq_ignore_ascii_case(t)))
        .collect())
}

/// Names defined as `name AS (` (common table expressions).
fn cte_names(sql: &str) -> Vec<String> {
    let words: Vec<&str> = sql
        .split(|c: char| c.is_whitespace())
        .filter(|w| !w.is_empty())
        .collect();
    let mut names = Vec::new();
    for (i, w) in words.iter().enumerate() {
        let next = words.get(i + 1).copied().unwrap_or("");
        let after = words.get(i + 2).copied().unwrap_or("");
        let name = w.trim_start_matches(',').trim_matches('"');
        if next.eq_ignore_ascii_case("as") && after.starts_with('(') && !name.is_empty() {
            names.push(name.to_owned());
        } else if let Some(n) = next
            .strip_prefix("AS(")
            .or_else(|| next.strip_prefix("as("))
            .map(|_| name)
        {
            names.push(n.to_owned());
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_of_sql_leave_ctes_out() {
        let sql = "WITH per_post AS (SELECT postId FROM comments) SELECT * FROM posts p JOIN per_post c ON c.postId = p.id";
        let mut t = sql_tables(sql).unwrap();
        t.sort();
        assert_eq!(t, vec!["comments".to_owned(), "posts".to_owned()]);
    }
}
