//! The recipes of docs/pagination.md, run as written against the mock.

use etl_mockapi::{MockConfig, OAuth2Mock};
use polars::prelude::*;

use crate::{etl, mock, repo};

/// The ```yaml blocks of a Markdown file, with the heading above each.
pub(crate) fn yaml_blocks(markdown: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut heading = String::new();
    let mut lines = markdown.lines();
    while let Some(line) = lines.next() {
        if let Some(h) = line.strip_prefix("## ") {
            h.clone_into(&mut heading);
        } else if line.trim() == "```yaml" {
            let body: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
            blocks.push((heading.clone(), body.join("\n") + "\n"));
        }
    }
    blocks
}

#[test]
fn every_pagination_recipe_fetches_every_comment_once() {
    let doc = std::fs::read_to_string(repo().join("docs/pagination.md")).unwrap();
    let recipes = yaml_blocks(&doc);
    assert_eq!(
        recipes.len(),
        8,
        "{:?}",
        recipes.iter().map(|(h, _)| h).collect::<Vec<_>>()
    );
    let capped = mock(MockConfig {
        max_page_size: Some(30),
        ..MockConfig::default()
    });
    let oauth = mock(MockConfig {
        oauth2: Some(OAuth2Mock {
            client_id: "etl".into(),
            client_secret: "client-secret-42".into(),
            expires_in: std::time::Duration::from_secs(3600),
            max_uses: None,
        }),
        ..MockConfig::default()
    });
    for (heading, yaml) in recipes {
        let api = if heading.contains("OAuth2") {
            &oauth
        } else {
            &capped
        };
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("recipe.yaml"), &yaml).unwrap();
        let out = etl(
            dir.path(),
            &["run", "recipe.yaml"],
            &[("API_BASE_URL", &api.url())],
        );
        assert_eq!(out.code, 0, "{heading}: {out:?}");
        let written = crate::files(&dir.path().join("out"));
        assert_eq!(written.len(), 1, "{heading}");
        let df = CsvReadOptions::default()
            .with_has_header(true)
            .try_into_reader_with_file_path(Some(dir.path().join("out").join(&written[0])))
            .unwrap()
            .finish()
            .unwrap();
        let ids = df.column("id").unwrap().as_materialized_series().clone();
        assert_eq!(ids.len(), 500, "{heading}");
        assert_eq!(ids.n_unique().unwrap(), 500, "{heading}");
    }
}
