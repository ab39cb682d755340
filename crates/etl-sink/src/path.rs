//! Output path templates: `reports/{pipeline}_{timestamp}.csv`.

use std::path::{Component, Path, PathBuf};

use etl_config::ConfigError;

use crate::error::problem;

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
    /// `allow_outside`). The error has no key: place it under the template's key with
    /// [`ConfigError::under`].
    pub fn parse(template: &str, allow_outside: bool) -> Result<Self, ConfigError> {
        if template.trim().is_empty() {
            return Err(problem("is empty")
                .with_hint("give a file path such as `reports/{pipeline}_{timestamp}.csv`"));
        }
        if template.chars().any(char::is_control) {
            return Err(problem("contains control characters"));
        }
        if let Some((scheme, _)) = template.split_once("://") {
            return Err(problem(format!(
                "`{template}` is a `{scheme}://` URL, not a file path"
            ))
            .with_hint("object storage (`s3://BUCKET/KEY`) is for csv, parquet and ndjson sinks"));
        }
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            let Some(close) = rest[open..].find('}') else {
                return Err(problem(format!("`{template}` has a `{{` without its `}}`")));
            };
            let name = &rest[open + 1..open + close];
            if !PLACEHOLDERS.contains(&name) {
                return Err(
                    problem(format!("`{{{name}}}` is not a placeholder")).with_hint(format!(
                        "use {}",
                        PLACEHOLDERS.map(|p| format!("`{{{p}}}`")).join(", ")
                    )),
                );
            }
            rest = &rest[open + close + 1..];
        }
        if template.ends_with('/') || template.ends_with(std::path::MAIN_SEPARATOR) {
            return Err(problem(format!("`{template}` is a folder"))
                .with_hint(format!("name the file, e.g. `{template}{{sink}}.csv`")));
        }
        if !allow_outside && escapes(Path::new(template)) {
            return Err(
                problem(format!("`{template}` leaves the working directory")).with_hint(
                    "use a relative path inside it, or set `allow_outside: true` on the sink",
                ),
            );
        }
        Ok(Self {
            template: template.to_owned(),
        })
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

    /// Whether the run-dependent placeholders (`{date}`, `{timestamp}`, `{run_id}`) stand in
    /// the file name only, and at least one does.
    pub(crate) fn varies_in_file_name_only(&self) -> bool {
        let (folder, name) = self
            .template
            .rsplit_once('/')
            .unwrap_or(("", &self.template));
        let varying = ["{date}", "{timestamp}", "{run_id}"];
        !varying.iter().any(|v| folder.contains(v)) && varying.iter().any(|v| name.contains(v))
    }

    /// Whether `file_name` could have been written by this template for this pipeline and sink.
    ///
    /// `{pipeline}` and `{sink}` match their values; `{date}`, `{timestamp}` and `{run_id}`
    /// match text shaped like this run's value: as long, with a letter or digit wherever it
    /// has one and the same other characters (`2026-11-26` matches `2025-01-31`, not
    /// `latest`). So a hand-written `engagement_latest.csv` or `engagement_notes.csv` beside
    /// `engagement_{timestamp}.csv` is never taken for one of this sink's files.
    pub(crate) fn matches(&self, file_name: &str, vars: &RenderVars<'_>) -> bool {
        let name = self
            .template
            .rsplit_once('/')
            .map_or(self.template.as_str(), |(_, n)| n);
        let name = name
            .replace("{pipeline}", &sanitize(vars.pipeline))
            .replace("{sink}", &sanitize(vars.sink));
        let mut rest = file_name;
        let mut pattern = name.as_str();
        while let Some(open) = pattern.find('{') {
            let Some(after) = rest.strip_prefix(&pattern[..open]) else {
                return false;
            };
            let close = pattern[open..]
                .find('}')
                .map_or(pattern.len(), |c| open + c + 1);
            let value = match &pattern[open..close] {
                "{date}" => vars.date,
                "{timestamp}" => vars.timestamp,
                "{run_id}" => vars.run_id,
                _ => return false,
            };
            let mut chars = after.chars();
            for v in value.chars() {
                match chars.next() {
                    Some(c)
                        if c == v || (v.is_ascii_alphanumeric() && c.is_ascii_alphanumeric()) => {}
                    _ => return false,
                }
            }
            rest = chars.as_str();
            pattern = &pattern[close..];
        }
        rest == pattern
    }

    /// Removes the files of this sink beside `written` but the newest `keep` (by modification
    /// time; the file just written is always kept). Returns what it removed.
    pub fn prune(
        &self,
        written: &Path,
        vars: &RenderVars<'_>,
        keep: usize,
    ) -> std::io::Result<Vec<PathBuf>> {
        let folder = folder_of(written);
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&folder)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || !entry.file_type()?.is_file() || !self.matches(&name, vars)
            {
                continue;
            }
            let path = folder.join(&name);
            if path.file_name() == written.file_name() {
                continue;
            }
            files.push((entry.metadata()?.modified()?, path));
        }
        files.sort();
        let remove = files.len().saturating_sub(keep.saturating_sub(1));
        let mut removed = Vec::new();
        for (_, path) in files.into_iter().take(remove) {
            std::fs::remove_file(&path)?;
            removed.push(path);
        }
        Ok(removed)
    }
}

/// The folder a file goes in: `.` for a bare file name.
pub(crate) fn folder_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
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

    #[test]
    fn keep_last_removes_only_older_files_of_the_same_sink() {
        let dir = tempfile::tempdir().unwrap();
        let t = PathTemplate::parse(
            &format!("{}/{{pipeline}}_{{timestamp}}.csv", dir.path().display()),
            true,
        )
        .unwrap();
        assert!(t.varies_in_file_name_only());
        for (i, name) in [
            "engagement_20260101_000000.csv",
            "engagement_20260102_000000.csv",
            "engagement_20260103_000000.csv",
            "other_20260101_000000.csv",
            "engagement_notes.txt",
            "engagement_latest.csv",
            "engagement_2026.csv",
            ".engagement_20260104_000000.csv.x.tmp",
        ]
        .iter()
        .enumerate()
        {
            std::fs::write(dir.path().join(name), "x").unwrap();
            // Distinct modification times, oldest first.
            let when = std::time::SystemTime::UNIX_EPOCH
                + std::time::Duration::from_secs(1_000_000 + i as u64);
            std::fs::File::options()
                .write(true)
                .open(dir.path().join(name))
                .unwrap()
                .set_modified(when)
                .unwrap();
        }
        let written = dir.path().join("engagement_20260104_000000.csv");
        std::fs::write(&written, "new").unwrap();
        let vars = RenderVars {
            pipeline: "engagement",
            sink: "report",
            date: "2026-01-04",
            timestamp: "20260104_000000",
            run_id: "20260104_000000-0a1f",
        };
        let removed = t.prune(&written, &vars, 2).unwrap();
        let names: Vec<String> = removed
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "engagement_20260101_000000.csv",
                "engagement_20260102_000000.csv"
            ]
        );
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                ".engagement_20260104_000000.csv.x.tmp",
                "engagement_2026.csv",
                "engagement_20260103_000000.csv",
                "engagement_20260104_000000.csv",
                "engagement_latest.csv",
                "engagement_notes.txt",
                "other_20260101_000000.csv"
            ]
        );
        assert!(
            !PathTemplate::parse("r/{date}/x.csv", false)
                .unwrap()
                .varies_in_file_name_only()
        );
    }

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
                .to_string()
                .contains("`{time}` is not a placeholder")
        );
        assert!(
            PathTemplate::parse("../../etc/x", false)
                .unwrap_err()
                .to_string()
                .contains("leaves the working directory")
        );
        assert!(
            PathTemplate::parse("/tmp/x.csv", false)
                .unwrap_err()
                .to_string()
                .contains("allow_outside")
        );
        assert!(PathTemplate::parse("a/../b.csv", false).is_ok());
        assert!(PathTemplate::parse("/tmp/x.csv", true).is_ok());
        assert!(
            PathTemplate::parse("reports/", false)
                .unwrap_err()
                .to_string()
                .contains("is a folder")
        );
    }

    #[test]
    fn placeholders_match_only_values_shaped_like_this_runs() {
        let v = RenderVars {
            run_id: "20261126_020000-9c4e",
            ..vars()
        };
        let t = PathTemplate::parse("r/{pipeline}_{date}_{run_id}.csv", false).unwrap();
        assert!(t.matches("engagement_2025-01-31_20250131_235959-ffff.csv", &v));
        assert!(t.matches("engagement_2026-11-26_20261126_020000-0123.csv", &v));
        for other in [
            "engagement_latest.csv",
            "engagement_2025-01-31_latest.csv",
            "engagement_2025-1-31_20250131_235959-ffff.csv",
            "engagement_2025-01-31_20250131_235959-ffff.csv.bak",
            "engagement_2025/01/31_20250131_235959-ffff.csv",
            "other_2025-01-31_20250131_235959-ffff.csv",
        ] {
            assert!(!t.matches(other, &v), "{other}");
        }
        let fixed = PathTemplate::parse("r/{pipeline}_latest.csv", false).unwrap();
        assert!(fixed.matches("engagement_latest.csv", &v));
        assert!(!fixed.matches("engagement_latest.csv.tmp", &v));
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
