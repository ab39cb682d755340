//! Sharded runs: one pipeline fetched by N processes (`etl run FILE --shard K/N --run-id ID
//! --stage URL`), put together by one more (`--finish`).
//!
//! Sources without `for_each` are fetched by shard 0 only. A `for_each` source whose parent is
//! such a source is **split**: each shard fetches the parents whose key hashes to it
//! ([`Shard::owns`]); shard 0 publishes the parent's records on the stage as soon as they are
//! staged (fixed for the run: a rerun of shard 0 takes them from there), and the other shards
//! wait for them. A `for_each` below a split source **follows** it: each shard fetches it for
//! its own share of parents. Each shard uploads its parts under
//! `runs/PIPELINE/ID/shard-K/ATTEMPT/` and writes `.../shard-K/manifest.json` last; a
//! rerun writes a new attempt and replaces the manifest (one PUT: the finish sees the old
//! attempt or the new one, never a mix), then deletes the old attempt. The finish checks
//! every manifest (same N, pipeline file, publications, starting state; no parent key fetched
//! twice), reads the parts against their sha256, and runs transforms, checks and sinks as one
//! run does. Rate limits are divided between the shards unless `per_shard: true`.

pub(crate) mod manifest;
mod stage;

use std::path::Path;
use std::time::Duration;

use etl_source::{Shard, SourceStats, StagedTable};

use crate::error::RunError;
use crate::pipeline::Pipeline;

pub(crate) use manifest::{FailedNote, ShardManifest, StagedSource, merge_stats};
pub(crate) use stage::Stage;

/// A sharded run as the command line gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sharding {
    /// The run the shards and the finish share.
    pub run_id: String,
    /// `--stage` as given.
    pub stage: String,
    pub mode: Mode,
    /// `--wait`: how long a shard waits for shard 0's records, and the finish for the shards.
    pub wait: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Shard(Shard),
    Finish,
}

/// How long a shard waits for what shard 0 fetches for it, without `--wait`.
pub(crate) const SHARD_WAIT: Duration = Duration::from_secs(3600);

/// `K/N`: shard K (from 0) of N.
pub fn parse_shard(text: &str) -> Result<Shard, String> {
    let bad = || {
        format!(
            "--shard `{text}`: expected K/N, shard K (from 0) of N, e.g. `--shard 0/4` ... `--shard 3/4`"
        )
    };
    let (k, n) = text.trim().split_once('/').ok_or_else(bad)?;
    let index: u32 = k.trim().parse().map_err(|_| bad())?;
    let count: u32 = n.trim().parse().map_err(|_| bad())?;
    if count == 0 || count > 4096 {
        return Err(format!("--shard `{text}`: N must be between 1 and 4096"));
    }
    if index >= count {
        return Err(format!(
            "--shard `{text}`: K counts from 0, so the shards of {count} are 0/{count} to {}/{count}",
            count - 1
        ));
    }
    Ok(Shard { index, count })
}

/// A character a stage key takes as it is (no encoding).
fn plain_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

/// Text usable as one folder of a stage key as it is: plain characters, not `.` or `..`.
fn plain_key_part(text: &str) -> bool {
    !text.is_empty() && text != "." && text != ".." && text.chars().all(plain_char)
}

/// A run id usable as a folder of the stage: letters, digits, `.`, `_` and `-`, 1 to 128,
/// starting with a letter or digit.
pub fn check_run_id(id: &str) -> Result<(), String> {
    let ok = id.len() <= 128
        && id.starts_with(|c: char| c.is_ascii_alphanumeric())
        && plain_key_part(id);
    if ok {
        Ok(())
    } else {
        Err(format!(
            "--run-id `{id}`: use 1 to 128 letters, digits, `.`, `_` or `-`, starting with a \
             letter or digit (e.g. the scheduler's run id or `$(date +%Y%m%d)`); every shard and the finish take the same"
        ))
    }
}

/// A pipeline name usable in the stage's keys as it is (no key of the stage needs encoding).
pub(crate) fn check_pipeline_name(name: &str) -> Result<(), String> {
    if plain_key_part(name) {
        Ok(())
    } else {
        Err(format!(
            "pipeline `{name}`: a sharded run keeps its parts under the pipeline's name on the \
             stage, which takes letters, digits, `.`, `_` and `-` only; set `name:` in the \
             pipeline file (e.g. `name: {}`)",
            suggested_name(name)
        ))
    }
}

fn suggested_name(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| if plain_char(c) { c } else { '_' })
        .collect();
    if s.is_empty() {
        "pipeline".to_owned()
    } else {
        s
    }
}

/// What a source is in a sharded run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// Fetched by shard 0 only (no `for_each`).
    Once,
    /// `for_each` over a source fetched once: its parents are split between the shards.
    Split,
    /// `for_each` over a split (or following) source: each shard over its own parents.
    Follows,
}

impl Role {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Role::Once => "fetched by shard 0",
            Role::Split => "split between shards by its parent's key",
            Role::Follows => "fetched by each shard for its own parent records",
        }
    }

    /// Whether `shard` fetches a source of this role.
    pub(crate) fn fetched_by(self, shard: Shard) -> bool {
        self != Role::Once || shard.index == 0
    }
}

/// The role of every source, in order.
pub(crate) fn roles(pipeline: &Pipeline) -> Vec<Role> {
    let sources = &pipeline.sources;
    let mut roles: Vec<Option<Role>> = vec![None; sources.len()];
    // Parents are resolved before their children; a validated pipeline has no cycle.
    for _ in 0..=sources.len() {
        for (i, s) in sources.iter().enumerate() {
            if roles[i].is_some() {
                continue;
            }
            roles[i] = match &s.for_each {
                None => Some(Role::Once),
                Some(each) => match sources.iter().position(|p| p.name == each.source) {
                    Some(p) => match roles[p] {
                        Some(Role::Once) => Some(Role::Split),
                        Some(_) => Some(Role::Follows),
                        None => None,
                    },
                    None => Some(Role::Once),
                },
            };
        }
    }
    roles.into_iter().map(|r| r.unwrap_or(Role::Once)).collect()
}

/// Per source: whether other shards split over its records (shard 0 publishes them).
pub(crate) fn shared(pipeline: &Pipeline, roles: &[Role]) -> Vec<bool> {
    pipeline
        .sources
        .iter()
        .enumerate()
        .map(|(i, s)| {
            roles[i] == Role::Once
                && pipeline.sources.iter().zip(roles).any(|(c, r)| {
                    *r == Role::Split && c.for_each.as_ref().is_some_and(|e| e.source == s.name)
                })
        })
        .collect()
}

/// The pipeline as shard `shard` runs it: split sources take only their share of parents,
/// every rate limit its share of the budget, and a source may come back empty from one shard
/// (whether it is empty is for the finish to say, over every shard).
pub(crate) fn for_shard(pipeline: &Pipeline, shard: Shard, roles: &[Role]) -> Pipeline {
    let mut local = pipeline.clone();
    for (source, role) in local.sources.iter_mut().zip(roles) {
        source.rate_limit = source.rate_limit.map(|r| r.shared_by(shard.count));
        if *role == Role::Split {
            source.shard = Some(shard);
        }
        if *role != Role::Once {
            source.allow_empty = true;
        }
    }
    local
}

/// Where a run's things are on the stage: `runs/PIPELINE/RUN_ID/shard-K/...`, so that one
/// stage serves every pipeline and run, and a lifecycle rule on `runs/` expires them while
/// `state/` stays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Layout {
    pub(crate) pipeline: String,
    pub(crate) run_id: String,
}

impl Layout {
    pub(crate) fn new(pipeline: &str, run_id: &str) -> Self {
        Self {
            pipeline: pipeline.to_owned(),
            run_id: run_id.to_owned(),
        }
    }

    /// `runs/PIPELINE/RUN_ID`: everything of the run.
    pub(crate) fn run_dir(&self) -> String {
        format!("runs/{}/{}", self.pipeline, self.run_id)
    }

    /// `runs/PIPELINE/RUN_ID/shard-K`: everything of one shard.
    pub(crate) fn shard_dir(&self, shard: u32) -> String {
        format!("{}/shard-{shard}", self.run_dir())
    }

    /// Written last by a shard that finished.
    pub(crate) fn manifest(&self, shard: u32) -> String {
        format!("{}/manifest.json", self.shard_dir(shard))
    }

    /// Left by a shard that failed.
    pub(crate) fn failed(&self, shard: u32) -> String {
        format!("{}/failed.json", self.shard_dir(shard))
    }

    /// Shard 0's publication of a source the other shards split over: fixed for the run once
    /// written.
    pub(crate) fn published(&self, source: &str) -> String {
        format!("{}/published/{source}.json", self.shard_dir(0))
    }

    /// The folder of a publication's parts.
    pub(crate) fn published_parts(&self, source: &str) -> String {
        format!("{}/published/{source}", self.shard_dir(0))
    }
}

/// The state shards start from: the finish publishes it here after saving it.
pub(crate) fn state_key(pipeline: &str) -> String {
    format!("state/{pipeline}.json")
}

/// What a shard needs while it fetches: where to upload, what to wait for.
#[derive(Debug)]
pub(crate) struct ShardFetch {
    pub(crate) stage: Stage,
    pub(crate) shard: Shard,
    pub(crate) layout: Layout,
    pub(crate) attempt: String,
    pub(crate) pipeline: Pipeline,
    pub(crate) roles: Vec<Role>,
    pub(crate) shared: Vec<bool>,
    /// In shard 0: per source, whether an earlier attempt of this run published it (it is
    /// then taken from there, not fetched again).
    pub(crate) republished: Vec<bool>,
    /// The sha256 of the published state this shard started from.
    pub(crate) state_sha256: Option<String>,
    pub(crate) wait: Duration,
}

/// A source taken from shard 0's publication.
pub(crate) struct Borrowed {
    pub(crate) table: StagedTable,
    /// The publication as shard 0 wrote it (its parts, its stats).
    pub(crate) staged: StagedSource,
    /// sha256 of the publication: the finish checks every shard split over the same one.
    pub(crate) sha256: String,
}

impl ShardFetch {
    /// Whether source `index` is taken from shard 0's publication instead of fetched: in a
    /// shard other than 0, a source other shards split over, for a split child this run
    /// fetches; in shard 0, a source an earlier attempt of this run already published.
    pub(crate) fn borrows(&self, index: usize, selected: &[bool]) -> bool {
        if self.shard.index == 0 {
            return self.republished[index];
        }
        let name = &self.pipeline.sources[index].name;
        self.shared[index]
            && self.pipeline.sources.iter().enumerate().any(|(c, s)| {
                selected[c]
                    && self.roles[c] == Role::Split
                    && s.for_each.as_ref().is_some_and(|e| &e.source == name)
            })
    }

    /// Uploads a staged source under this attempt; shard 0 publishes a source others split
    /// over instead (its own folder, kept for the whole run). Returns the manifest entry and,
    /// for a publication, its sha256.
    pub(crate) async fn upload(
        &self,
        index: usize,
        name: &str,
        stats: &SourceStats,
        table: &StagedTable,
    ) -> Result<(StagedSource, Option<String>), RunError> {
        let publish = self.shard.index == 0 && self.shared[index];
        let dir = if publish {
            self.layout.published_parts(name)
        } else {
            format!(
                "{}/{}",
                self.layout.shard_dir(self.shard.index),
                self.attempt
            )
        };
        let mut parts = Vec::new();
        for path in &table.parts {
            let file = path
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            let key = format!("{dir}/{file}");
            let (bytes, sha256) = self
                .stage
                .put_file(&key, path)
                .await
                .map_err(RunError::Shard)?;
            parts.push(manifest::PartEntry { key, bytes, sha256 });
        }
        let staged = StagedSource {
            source: name.to_owned(),
            rows: table.rows,
            columns: table.columns.clone(),
            parts,
            stats: stats.into(),
            attempt: self.attempt.clone(),
            state_sha256: self.state_sha256.clone(),
        };
        if !publish {
            return Ok((staged, None));
        }
        let json =
            serde_json::to_vec_pretty(&staged).map_err(|e| RunError::Shard(e.to_string()))?;
        let sha256 = crate::digest::sha256(&json);
        self.stage
            .put(&self.layout.published(name), json)
            .await
            .map_err(RunError::Shard)?;
        Ok((staged, Some(sha256)))
    }

    /// Waits (up to `wait`) for shard 0 to publish `name`, and downloads its parts beside
    /// `path`. While it waits, a failure shard 0 reported is logged (shard 0 may be rerun).
    pub(crate) async fn download_published(
        &self,
        name: &str,
        path: &Path,
    ) -> Result<Borrowed, RunError> {
        let key = self.layout.published(name);
        let deadline = tokio::time::Instant::now() + self.wait;
        let mut pause = Duration::from_millis(200);
        let mut failure_seen = None;
        let bytes = loop {
            if let Some(bytes) = self.stage.get(&key).await.map_err(RunError::Shard)? {
                break bytes;
            }
            if tokio::time::Instant::now() + pause > deadline {
                return Err(RunError::Shard(format!(
                    "shard {} needs the records of `{name}`, which shard 0 fetches for every \
                     shard, and they did not appear at `{}` within {}; run shard 0 of run `{}` \
                     (before or beside this one), or give it longer with --wait",
                    self.shard,
                    self.stage.show(&key),
                    etl_source::HumanDuration(self.wait),
                    self.layout.run_id
                )));
            }
            let note = self.stage.get(&self.layout.failed(0)).await.ok().flatten();
            if let Some(note) = note.filter(|n| failure_seen.as_ref() != Some(n)) {
                let error = serde_json::from_slice::<FailedNote>(&note)
                    .map_or_else(|_| "unreadable note".to_owned(), |n| n.error);
                tracing::warn!(error = %error, "Shard 0 failed before staging `{name}`; waiting for it to be run again.");
                failure_seen = Some(note);
            }
            tracing::info!(source = name, at = %self.stage.show(&key), "Waiting for shard 0 to stage it.");
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(5));
        };
        let sha256 = crate::digest::sha256(&bytes);
        let staged: StagedSource = serde_json::from_slice(&bytes).map_err(|e| {
            RunError::Shard(format!("`{}` is not readable: {e}", self.stage.show(&key)))
        })?;
        if staged.state_sha256 != self.state_sha256 {
            return Err(RunError::Shard(format!(
                "shard 0 published the records of `{name}` for run `{}` under another state \
                 than the one this shard starts from (the state on the stage changed since: \
                 a finish, `etl state reset` or `etl state publish`); run every shard under a \
                 new --run-id",
                self.layout.run_id
            )));
        }
        let mut paths = Vec::new();
        for (n, part) in staged.parts.iter().enumerate() {
            let local = path.with_extension(format!("shard0.{}.parquet", n + 1));
            self.stage
                .get_file(&part.key, &local, part.bytes, &part.sha256)
                .await
                .map_err(|e| {
                    RunError::Shard(format!(
                        "the records of `{name}` shard 0 published for run `{}` at `{}`: {e}; \
                         run every shard under a new --run-id",
                        self.layout.run_id,
                        self.stage.show(&key)
                    ))
                })?;
            paths.push(local);
        }
        Ok(Borrowed {
            table: staged.table(paths),
            staged,
            sha256,
        })
    }
}

#[cfg(test)]
mod tests {
    use etl_source::RateLimitSpec;

    use super::*;

    /// users, posts (for_each users), comments (for_each posts), tags (for_each users),
    /// and a rate limit.
    fn pipeline() -> (tempfile::TempDir, Pipeline) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.yaml");
        let text = "version: 1\nhttp: { base_url: http://127.0.0.1:9, rate_limit: { requests: 100, burst: 8 } }\nsources:\n  comments: { endpoint: \"/posts/{id}/comments\", for_each: { source: posts, key: id } }\n  users: { endpoint: /users }\n  posts: { endpoint: \"/users/{id}/posts\", for_each: { source: users, key: id } }\n  tags: { endpoint: /tags }\nsinks:\n  out: { from: users, format: csv, path: out.csv }\n";
        std::fs::write(&path, text).unwrap();
        let pipeline = Pipeline::load(&path, &|_| None, &[]).unwrap();
        (dir, pipeline)
    }

    #[test]
    fn the_first_fan_out_is_split_and_what_hangs_below_it_follows() {
        let (_dir, p) = pipeline();
        let roles = roles(&p);
        // comments (declared first) follows posts, which is split over users.
        assert_eq!(
            roles,
            vec![Role::Follows, Role::Once, Role::Split, Role::Once]
        );
        assert_eq!(shared(&p, &roles), vec![false, true, false, false]);
        let shard = Shard { index: 2, count: 4 };
        let local = for_shard(&p, shard, &roles);
        let posts = &local.sources[2];
        assert_eq!(posts.shard, Some(shard));
        assert!(posts.allow_empty && local.sources[0].allow_empty);
        assert_eq!(local.sources[0].shard, None);
        assert!(!local.sources[1].allow_empty);
        // Four shards share the budget: 100 requests per 4 s each, bursts of 2.
        let r: RateLimitSpec = local.sources[1].rate_limit.unwrap();
        assert_eq!(
            (r.requests, r.per.0, r.burst),
            (100, Duration::from_secs(4), Some(2))
        );
    }

    #[test]
    fn shard_numbers_and_run_ids_are_checked() {
        assert_eq!(parse_shard("3/4"), Ok(Shard { index: 3, count: 4 }));
        assert_eq!(parse_shard("0/1"), Ok(Shard { index: 0, count: 1 }));
        assert!(parse_shard("4/4").unwrap_err().contains("0/4 to 3/4"));
        assert!(
            parse_shard("1/0")
                .unwrap_err()
                .contains("between 1 and 4096")
        );
        for bad in ["4", "a/4", "-1/4", "1/4/5", ""] {
            assert!(
                parse_shard(bad).unwrap_err().contains("expected K/N"),
                "{bad}"
            );
        }
        assert!(check_pipeline_name("daily_sales-v2.1").is_ok());
        let err = check_pipeline_name("ventes été/2").unwrap_err();
        assert!(err.contains("e.g. `name: ventes__t__2`"), "{err}");
        assert!(check_run_id("2026-12-05_nightly.1").is_ok());
        for bad in [
            "",
            "..",
            ".x",
            "_state.json",
            "a/b",
            "a b",
            &"x".repeat(129),
        ] {
            assert!(check_run_id(bad).is_err(), "{bad}");
        }
    }
}
