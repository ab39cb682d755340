//! What a shard leaves on the stage, under `runs/PIPELINE/RUN_ID/shard-K/`: `manifest.json` once
//! everything it fetched is uploaded (written last, so a shard with a manifest is complete),
//! `failed.json` when it failed, and for shard 0 `published/SOURCE.json` (with its parts in
//! `published/SOURCE/`) for each source the other shards split over.

use std::collections::BTreeMap;
use std::time::Duration;

use etl_source::{Bound, Cursor, CursorReport, FieldType, RequestCounts, SourceStats, StagedTable};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A shard that finished: every source it fetched, and where its parts are.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ShardManifest {
    pub(crate) etl_version: String,
    pub(crate) pipeline: String,
    /// sha256 of the pipeline file: the finish runs the same file.
    pub(crate) pipeline_sha256: String,
    pub(crate) run_id: String,
    pub(crate) shard: u32,
    pub(crate) shards: u32,
    /// This attempt's folder under `shard-K/`: a rerun writes a new one.
    pub(crate) attempt: String,
    pub(crate) started_at: String,
    pub(crate) finished_at: String,
    pub(crate) sources: Vec<StagedSource>,
    /// In shard 0: per source the other shards split over, the sha256 of its publication.
    #[serde(default)]
    pub(crate) published: BTreeMap<String, String>,
    /// In the other shards: per source this shard split over, the sha256 of the publication
    /// it read.
    #[serde(default)]
    pub(crate) parents_from: BTreeMap<String, String>,
    /// The run whose state (published on the stage by its finish) this shard started from,
    /// and the sha256 of that state file: the finish must go on from the same.
    #[serde(default)]
    pub(crate) state_run_id: Option<String>,
    #[serde(default)]
    pub(crate) state_sha256: Option<String>,
    /// Per source fetched once per distinct parent key under a split source: the keys this
    /// shard fetched (another shard may hold the same key; the finish checks none did).
    #[serde(default)]
    pub(crate) keys: BTreeMap<String, Vec<String>>,
}

/// A shard that failed, for the finish to name.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct FailedNote {
    pub(crate) shard: u32,
    pub(crate) shards: u32,
    pub(crate) attempt: String,
    pub(crate) finished_at: String,
    pub(crate) error: String,
}

/// One source as a shard staged it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StagedSource {
    pub(crate) source: String,
    pub(crate) rows: u64,
    pub(crate) columns: Vec<(String, FieldType)>,
    pub(crate) parts: Vec<PartEntry>,
    pub(crate) stats: StatsEntry,
    /// The attempt of the shard that staged it.
    pub(crate) attempt: String,
    /// The sha256 of the published state the shard started from: a publication serves only
    /// shards that started from the same.
    #[serde(default)]
    pub(crate) state_sha256: Option<String>,
}

/// A Parquet part on the stage.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PartEntry {
    /// Relative to the stage.
    pub(crate) key: String,
    pub(crate) bytes: u64,
    pub(crate) sha256: String,
}

/// [`SourceStats`] as a manifest holds them (times in milliseconds, cursors as JSON).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct StatsEntry {
    pub(crate) pages: u64,
    pub(crate) records: u64,
    pub(crate) requests: u64,
    pub(crate) retries: u64,
    pub(crate) rate_limited: u64,
    pub(crate) waited_ms: u64,
    pub(crate) bytes: u64,
    pub(crate) parsing_ms: u64,
    pub(crate) elapsed_ms: u64,
    pub(crate) staging_ms: u64,
    pub(crate) page_size_cap: Option<u64>,
    pub(crate) max_pages: Option<u64>,
    pub(crate) max_records: Option<u64>,
    pub(crate) parents: Option<u64>,
    pub(crate) parallel_pages: u64,
    pub(crate) pages_ahead: u64,
    pub(crate) cursor: Option<CursorEntry>,
}

/// A [`CursorReport`] as a manifest holds it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct CursorEntry {
    pub(crate) field: String,
    pub(crate) before: Option<Value>,
    pub(crate) sent: Option<Value>,
    pub(crate) after: Option<Value>,
    #[serde(default)]
    pub(crate) parents: BTreeMap<String, Value>,
    pub(crate) missing: u64,
    pub(crate) after_until: u64,
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl From<&SourceStats> for StatsEntry {
    fn from(s: &SourceStats) -> Self {
        let cursor = s.cursor.as_ref().map(|c| CursorEntry {
            field: c.field.clone(),
            before: c.before.map(Cursor::to_json),
            sent: c.sent.map(Cursor::to_json),
            after: c.after.map(Cursor::to_json),
            parents: c
                .parents
                .iter()
                .map(|(k, v)| (k.clone(), v.to_json()))
                .collect(),
            missing: c.missing,
            after_until: c.after_until,
        });
        Self {
            pages: s.pages,
            records: s.records,
            requests: s.counts.requests,
            retries: s.counts.retries,
            rate_limited: s.counts.rate_limited,
            waited_ms: ms(s.counts.waited),
            bytes: s.counts.bytes,
            parsing_ms: ms(s.counts.parsing),
            elapsed_ms: ms(s.elapsed),
            staging_ms: ms(s.staging),
            page_size_cap: s.page_size_cap,
            max_pages: match s.stopped_by {
                Some(Bound::MaxPages(n)) => Some(n),
                _ => None,
            },
            max_records: match s.stopped_by {
                Some(Bound::MaxRecords(n)) => Some(n),
                _ => None,
            },
            parents: s.parents,
            parallel_pages: s.parallel_pages,
            pages_ahead: s.pages_ahead,
            cursor,
        }
    }
}

impl StatsEntry {
    /// Back to [`SourceStats`]; a cursor that cannot be read is an error naming the source.
    pub(crate) fn to_stats(&self, source: &str) -> Result<SourceStats, String> {
        let bad = |e: etl_source::CursorError| {
            format!("source `{source}`: a cursor in a shard manifest: {e}")
        };
        let read = |v: &Option<Value>| v.as_ref().map(Cursor::from_json).transpose().map_err(bad);
        let cursor = match &self.cursor {
            Some(c) => {
                let mut parents = BTreeMap::new();
                for (k, v) in &c.parents {
                    parents.insert(k.clone(), Cursor::from_json(v).map_err(bad)?);
                }
                Some(CursorReport {
                    field: c.field.clone(),
                    before: read(&c.before)?,
                    sent: read(&c.sent)?,
                    after: read(&c.after)?,
                    parents,
                    missing: c.missing,
                    after_until: c.after_until,
                })
            }
            None => None,
        };
        Ok(SourceStats {
            pages: self.pages,
            records: self.records,
            counts: RequestCounts {
                requests: self.requests,
                retries: self.retries,
                rate_limited: self.rate_limited,
                waited: Duration::from_millis(self.waited_ms),
                bytes: self.bytes,
                parsing: Duration::from_millis(self.parsing_ms),
            },
            elapsed: Duration::from_millis(self.elapsed_ms),
            page_size_cap: self.page_size_cap,
            stopped_by: self
                .max_pages
                .map(Bound::MaxPages)
                .or(self.max_records.map(Bound::MaxRecords)),
            parents: self.parents,
            parallel_pages: self.parallel_pages,
            pages_ahead: self.pages_ahead,
            cursor,
            staging: Duration::from_millis(self.staging_ms),
        })
    }
}

/// The stats of one source over every shard that fetched it: counts added, the longest
/// time, cursors folded (the latest high-water mark, every parent's own).
pub(crate) fn merge_stats(all: &[SourceStats]) -> SourceStats {
    let mut total = SourceStats::default();
    for s in all {
        total.pages += s.pages;
        total.records += s.records;
        let c = &mut total.counts;
        c.requests += s.counts.requests;
        c.retries += s.counts.retries;
        c.rate_limited += s.counts.rate_limited;
        c.waited += s.counts.waited;
        c.bytes += s.counts.bytes;
        c.parsing += s.counts.parsing;
        total.elapsed = total.elapsed.max(s.elapsed);
        total.staging += s.staging;
        total.page_size_cap = total.page_size_cap.max(s.page_size_cap);
        total.stopped_by = total.stopped_by.or(s.stopped_by);
        total.parents = match (total.parents, s.parents) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
        };
        total.parallel_pages += s.parallel_pages;
        total.pages_ahead += s.pages_ahead;
        if let Some(r) = &s.cursor {
            let t = total.cursor.get_or_insert_with(|| CursorReport {
                field: r.field.clone(),
                ..CursorReport::default()
            });
            t.before = t.before.or(r.before);
            t.sent = t.sent.or(r.sent);
            t.after = match (t.after, r.after) {
                (Some(a), Some(b)) if b.is_after(a).unwrap_or(false) => Some(b),
                (a, b) => a.or(b),
            };
            for (key, cursor) in &r.parents {
                let later = |held: &Cursor| cursor.is_after(*held).unwrap_or(false);
                if t.parents.get(key).is_none_or(later) {
                    t.parents.insert(key.clone(), *cursor);
                }
            }
            t.missing += r.missing;
            t.after_until += r.after_until;
        }
    }
    total
}

impl StagedSource {
    /// The table of this source once its parts are downloaded to `paths` (in order).
    pub(crate) fn table(&self, paths: Vec<std::path::PathBuf>) -> StagedTable {
        StagedTable {
            parts: paths,
            rows: self.rows,
            columns: self.columns.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(records: u64, after: i64, parents: &[(&str, i64)]) -> SourceStats {
        SourceStats {
            pages: records / 10 + 1,
            records,
            counts: RequestCounts {
                requests: records / 10 + 2,
                retries: 1,
                rate_limited: 0,
                waited: Duration::from_millis(250),
                bytes: records * 100,
                parsing: Duration::from_millis(7),
            },
            elapsed: Duration::from_millis(1000 + records),
            parents: Some(parents.len() as u64),
            cursor: Some(CursorReport {
                field: "id".to_owned(),
                before: Some(Cursor::Int(5)),
                sent: Some(Cursor::Int(4)),
                after: Some(Cursor::Int(after)),
                parents: parents
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), Cursor::Int(*v)))
                    .collect(),
                missing: 1,
                after_until: 0,
            }),
            ..SourceStats::default()
        }
    }

    #[test]
    fn stats_survive_a_manifest_and_add_up_over_shards() {
        let a = stats(30, 90, &[("1", 90), ("3", 40)]);
        let b = stats(20, 70, &[("2", 70)]);
        let json = serde_json::to_string(&StatsEntry::from(&a)).unwrap();
        let back: StatsEntry = serde_json::from_str(&json).unwrap();
        assert_eq!(back.to_stats("s").unwrap(), a);
        let total = merge_stats(&[a, b]);
        assert_eq!(
            (total.records, total.pages, total.parents),
            (50, 7, Some(3))
        );
        assert_eq!(total.counts.requests, 9);
        assert_eq!(total.elapsed, Duration::from_millis(1030));
        let cursor = total.cursor.unwrap();
        assert_eq!(cursor.after, Some(Cursor::Int(90)));
        assert_eq!(cursor.before, Some(Cursor::Int(5)));
        assert_eq!(cursor.parents.len(), 3);
        assert_eq!(cursor.missing, 2);
    }
}
