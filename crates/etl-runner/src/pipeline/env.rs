//! `${VAR}` interpolation, applied to string values after parsing, so an environment value can
//! never change the structure of a pipeline file.

/// A problem with one `${...}` expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EnvError {
    /// `${VAR}` and `VAR` is not set.
    Missing(String),
    /// Not a well-formed expression.
    Malformed(String),
}

/// Replaces `${VAR}`, `${VAR:-default}` (`${VAR:-}` is empty) and `$${` (a literal `${`).
/// Every missing variable is reported, not just the first.
pub(crate) fn interpolate(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, Vec<EnvError>> {
    if !text.contains('$') {
        return Ok(text.to_owned());
    }
    let mut out = String::with_capacity(text.len());
    let mut errors = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(literal) = after.strip_prefix("${") {
            out.push_str("${");
            rest = literal;
        } else if let Some(inner) = after.strip_prefix('{') {
            let Some(end) = inner.find('}') else {
                errors.push(EnvError::Malformed(
                    "has `${` without its `}`; write `$${` for a literal `${`".to_owned(),
                ));
                return Err(errors);
            };
            let expr = &inner[..end];
            let (name, default) = match expr.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (expr, None),
            };
            if valid_name(name) {
                match (lookup(name), default) {
                    (Some(v), _) => out.push_str(&v),
                    (None, Some(d)) => out.push_str(d),
                    (None, None) => errors.push(EnvError::Missing(name.to_owned())),
                }
            } else {
                errors.push(EnvError::Malformed(format!(
                    "`${{{expr}}}` is not a variable reference; names are letters, digits and \
                     `_`, e.g. `${{API_TOKEN}}` or `${{API_TOKEN:-default}}`"
                )));
            }
            rest = &inner[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("api.example".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    fn run(text: &str) -> Result<String, Vec<EnvError>> {
        interpolate(text, &env)
    }

    #[test]
    fn resolves_variables_and_defaults() {
        assert_eq!(run("https://${HOST}/v1").unwrap(), "https://api.example/v1");
        assert_eq!(
            run("${NOPE:-http://localhost}").unwrap(),
            "http://localhost"
        );
        assert_eq!(run("${NOPE:-}").unwrap(), "");
        assert_eq!(run("${EMPTY:-x}").unwrap(), "");
        assert_eq!(
            run("cost: $5, $${HOST} ${HOST}").unwrap(),
            "cost: $5, ${HOST} api.example"
        );
    }

    #[test]
    fn reports_every_missing_variable() {
        assert_eq!(
            run("${A}/${HOST}/${B}").unwrap_err(),
            vec![EnvError::Missing("A".into()), EnvError::Missing("B".into())]
        );
    }

    #[test]
    fn rejects_malformed_references() {
        assert!(
            matches!(&run("${HOST").unwrap_err()[0], EnvError::Malformed(m) if m.contains("without its"))
        );
        assert!(
            matches!(&run("${1X}").unwrap_err()[0], EnvError::Malformed(m) if m.contains("not a variable"))
        );
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn text_without_dollars_is_unchanged(text in "[^$]{0,60}") {
            prop_assert_eq!(interpolate(&text, &|_| None), Ok(text));
        }

        #[test]
        fn variables_take_their_values(
            before in "[^$]{0,20}", name in "[A-Z_][A-Z0-9_]{0,10}", value in "[^$]{0,20}", after in "[^$}]{0,20}",
        ) {
            let text = format!("{before}${{{name}}}{after}");
            let lookup = |n: &str| (n == name).then(|| value.clone());
            prop_assert_eq!(interpolate(&text, &lookup), Ok(format!("{before}{value}{after}")));
            let missing = interpolate(&text, &|_| None).unwrap_err();
            prop_assert_eq!(missing, vec![EnvError::Missing(name.clone())]);
            let default = format!("{before}${{{name}:-{after}}}");
            prop_assert_eq!(interpolate(&default, &|_| None), Ok(format!("{before}{after}")));
        }

        #[test]
        fn escaped_references_stay_literal(name in "[A-Z]{1,8}") {
            let text = format!("$${{{name}}}");
            prop_assert_eq!(interpolate(&text, &|_| Some("x".into())), Ok(format!("${{{name}}}")));
        }

        #[test]
        fn anything_at_all_gives_text_or_errors(text in ".{0,60}") {
            let _ = interpolate(&text, &|_| Some("v".into()));
        }
    }
}
