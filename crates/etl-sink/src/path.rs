//! Output path templates: `reports/{pipeline}_{timestamp}.csv`.

use std::path::{Component, Path, PathBuf};

const PLACEHOLDERS: [&str; 5] = ["pipeline", "sink", "date", "timestamp", "run_id"];

/// A checked path template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathTemplate {
    template: String,
}

/// The values placeholders take in one run.
#[derive(Debug, Clone)]
pub struct RenderVars<'a> {
    pub pipeline: &'a str,
    pub sink: &'a str,
    /// `YYYY-MM-DD`, UTC.
    pub date: &'a str,
    /// `YYYYmmdd_HHMMSS`, UTC.
    pub timestamp: &'a str,
    pub run_id: &'a str,
}

impl PathTemplate {
    /// Checks placeholders and that the path stays in the working directory (unless
    /// `allow_outside`).
    pub fn parse(template: &str, allow_outside: bool) -> Result<Self, String> {
        if template.trim().is_empty() {
            return Err(
                "is empty; give a file path such as `reports/{pipeline}_{timestamp}.csv`".into(),
            );
        }
        if template.chars().any(char::is_control) {
            return Err("contains control characters".into());
        }
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            let Some(close) = rest[open..].find('}') else {
                return Err(format!("`{template}` has a `{{` without its `}}`"));
            };
            let name = &rest[open + 1..open + close];
            if !PLACEHOLDERS.contains(&name) {
                return Err(format!(
                    "`{{{name}}}` is not a placeholder; use {}",
                    PLACEHOLDERS.map(|p| format!("`{{{p}}}`")).join(", ")
                ));
            }
            rest = &rest[open + close + 1..];
        }
        if template.ends_with('/') || template.ends_with(std::path::MAIN_SEPARATOR) {
            return Err(format!(
                "`{template}` is a folder; name the file, e.g. `{template}{{sink}}.csv`"
            ));
        }
        let this = Self {
            template: template.to_owned(),
        };
        if !allow_outside && escapes(Path::new(template)) {
            return Err(format!(
                "`{template}` leaves the working directory; use a relative path inside it, or set \
                 `allow_outside: true` on the sink"
            ));
        }
        Ok(this)
    }

    /// The path for one run.
    pub fn render(&self, vars: &RenderVars<'_>) -> PathBuf {
        let text = self
            .template
            .replace("{pipeline}", &sanitize(vars.pipeline))
            .replace("{sink}", &sanitize(vars.sink))
            .replace("{date}", vars.date)
            .replace("{timestamp}", vars.timestamp)
            .replace("{run_id}", vars.run_id);
        PathBuf::from(text)
    }

    pub fn as_str(&self) -> &str {
        &self.template
    }
}

/// A name used in a path: path separators and other awkward characters become `_`.
fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect::<String>()
        .trim_start_matches('.')
        .to_owned()
}

/// Whether a path, taken relative to the working directory, ends up outside it.
fn escapes(path: &Path) -> bool {
    let mut depth = 0i32;
    for c in path.components() {
        match c {
            Component::Prefix(_) | Component::RootDir => return true,
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return true;
                }
            }
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> RenderVars<'static> {
        RenderVars {
            pipeline: "engagement",
            sink: "report",
            date: "2026-11-26",
            timestamp: "20261126_020000",
            run_id: "r1",
        }
    }

    #[test]
    fn renders_every_placeholder() {
        let t = PathTemplate::parse(
            "out/{pipeline}/{sink}_{date}_{timestamp}_{run_id}.csv",
            false,
        )
        .unwrap();
        assert_eq!(
            t.render(&vars()),
            PathBuf::from("out/engagement/report_2026-11-26_20261126_020000_r1.csv")
        );
    }

    #[test]
    fn unknown_placeholders_and_escapes_are_refused() {
        assert!(
            PathTemplate::parse("r/{time}.csv", false)
                .unwrap_err()
                .contains("`{time}` is not a placeholder")
        );
        assert!(
            PathTemplate::parse("../../etc/x", false)
                .unwrap_err()
                .contains("leaves the working directory")
        );
        assert!(
            PathTemplate::parse("/tmp/x.csv", false)
                .unwrap_err()
                .contains("allow_outside")
        );
        assert!(PathTemplate::parse("a/../b.csv", false).is_ok());
        assert!(PathTemplate::parse("/tmp/x.csv", true).is_ok());
        assert!(
            PathTemplate::parse("reports/", false)
                .unwrap_err()
                .contains("is a folder")
        );
    }

    #[test]
    fn names_cannot_smuggle_separators() {
        let t = PathTemplate::parse("{pipeline}.csv", false).unwrap();
        let v = RenderVars {
            pipeline: "../x/y",
            ..vars()
        };
        assert_eq!(t.render(&v), PathBuf::from("_x_y.csv"));
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn rendered_paths_never_leave_the_working_directory(
            dirs in "[a-z./]{0,20}", pipeline in ".{0,20}", sink in ".{0,20}", run_id in "[0-9a-f_-]{0,20}",
        ) {
            let template = format!("{dirs}/{{pipeline}}/{{sink}}_{{run_id}}.csv");
            if let Ok(t) = PathTemplate::parse(&template, false) {
                let vars = RenderVars { pipeline: &pipeline, sink: &sink, date: "2026-01-01", timestamp: "20260101_000000", run_id: &run_id };
                let rendered = t.render(&vars);
                prop_assert!(!escapes(&rendered), "{} escapes", rendered.display());
            }
        }
    }
}
