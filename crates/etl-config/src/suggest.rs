//! Did-you-mean: the one typo matcher, used for keys, names, columns and functions.

/// The candidate closest to `word`, if it is close enough to be a likely typo: within
/// a third of the word's length in edits (at least 2; transpositions count once), ignoring
/// case, or sharing most of its shape (Jaro-Winkler above 0.88: a dropped suffix, a shared
/// prefix). `word` itself is never suggested.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lower = word.to_lowercase();
    let allowed = (word.chars().count() / 3).max(2);
    candidates
        .into_iter()
        .filter(|c| *c != word)
        .map(|c| {
            let edits = strsim::damerau_levenshtein(&lower, &c.to_lowercase());
            (edits, strsim::jaro_winkler(word, c), c)
        })
        .filter(|(edits, shape, _)| *edits <= allowed || *shape > 0.88)
        .min_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)))
        .map(|(_, _, c)| c)
}

/// "did you mean `x`?" when a candidate is close, else "the {what} are `a`, `b`".
pub fn hint_or_list<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str> + Clone,
    what: &str,
) -> String {
    match did_you_mean(word, candidates.clone()) {
        Some(m) => format!("did you mean `{m}`?"),
        None => {
            let all: Vec<&str> = candidates.into_iter().collect();
            format!("the {what} are {}", quote_list(&all))
        }
    }
}

/// `a`, `b`, `c` (each in backticks).
pub fn quote_list<S: AsRef<str>>(items: &[S]) -> String {
    items
        .iter()
        .map(|s| format!("`{}`", s.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let keys = ["offset_param", "limit_param", "page_size"];
        assert_eq!(did_you_mean("limit_parm", keys), Some("limit_param"));
        assert_eq!(did_you_mean("pagesize", keys), Some("page_size"));
        assert_eq!(did_you_mean("colour", keys), None);
        assert_eq!(did_you_mean("page_size", keys), None);
        assert_eq!(did_you_mean("usr", ["user_id", "x"]), None);
        assert_eq!(
            did_you_mean("total_comment", ["total_comments"]),
            Some("total_comments")
        );
    }

    #[test]
    fn hints_or_lists() {
        assert_eq!(
            hint_or_list("nmae", ["name", "id"], "columns"),
            "did you mean `name`?"
        );
        assert_eq!(
            hint_or_list("zzz", ["name", "id"], "columns"),
            "the columns are `name`, `id`"
        );
    }
}
