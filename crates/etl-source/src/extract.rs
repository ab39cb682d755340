//! The page loop of one source: request, select records, stage, advance, guard against loops.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use tracing::{debug, info};

use crate::client::{HttpClient, RequestCounts};
use crate::config::{SourceConfig, display_url};
use crate::pagination::{self, PageInfo};
use crate::ratelimit::RateLimiters;
use crate::stage::{StageWriter, StagedTable};
use crate::{Error, records};

/// What one source did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceStats {
    pub pages: u64,
    pub records: u64,
    pub counts: RequestCounts,
    pub elapsed: Duration,
    /// The largest page the server returned when it returned fewer records than asked and
    /// then more: it caps page sizes at about this.
    pub page_size_cap: Option<u64>,
    /// Set when `max_pages` or `max_records` ended the source before the API did.
    pub stopped_by: Option<Bound>,
}

/// A configured bound that cut a source short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    MaxPages(u64),
    MaxRecords(u64),
}

impl std::fmt::Display for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Bound::MaxPages(n) => write!(f, "max_pages: {n}"),
            Bound::MaxRecords(n) => write!(f, "max_records: {n}"),
        }
    }
}

/// Runs sources: one HTTP client and one set of host rate limiters for a whole run.
#[derive(Debug, Clone)]
pub struct Extractor {
    client: HttpClient,
    limiters: RateLimiters,
}

impl Extractor {
    pub fn new() -> Result<Self, Error> {
        Ok(Self {
            client: HttpClient::new()?,
            limiters: RateLimiters::new(),
        })
    }

    /// Fetches every page of `source` and stages its records at `stage_path`.
    pub async fn run(
        &self,
        source: &SourceConfig,
        stage_path: &Path,
    ) -> Result<(SourceStats, StagedTable), Error> {
        let started = tokio::time::Instant::now();
        let limiter = self
            .limiters
            .for_origin(&source.origin(), source.rate_limit);
        let mut paginator = pagination::paginator(&source.pagination);
        let mut stage = StageWriter::create(stage_path, &source.name, source.flatten.clone())?;
        let mut stats = SourceStats::default();
        let mut positions = HashSet::new();
        let mut previous: Option<(u64, u64)> = None; // (fingerprint, records) of the last page
        let mut largest_page = 0u64;
        loop {
            let params = paginator.params();
            if !positions.insert(params.clone()) {
                return Err(Error::Loop {
                    source_name: source.name.clone(),
                    message: format!(
                        "the paging came back to {} after {} pages; the API's paging does not \
                         advance",
                        paginator.position(),
                        stats.pages
                    ),
                });
            }
            let fetched = self
                .client
                .fetch(source, &limiter, &params, &mut stats.counts)
                .await?;
            let mut body = fetched.body;
            let mut page =
                records::take(&mut body, source.records.as_deref()).map_err(|message| {
                    Error::Records {
                        source_name: source.name.clone(),
                        url: display_url(&source.url, &params),
                        message,
                    }
                })?;
            // `Some(true)`: records of this page were left out for `max_records`;
            // `Some(false)`: the bound is reached exactly, more pages would exceed it.
            let mut cut = None;
            if let Some(max) = source.max_records {
                let room = max.saturating_sub(stats.records);
                if page.len() as u64 >= room {
                    cut = Some(page.len() as u64 > room);
                    page.truncate(room as usize);
                }
            }
            let n = page.len() as u64;
            let fingerprint = stage.prepare_page(page)?;
            stats.pages += 1;
            debug!(source = %source.name, page = stats.pages, records = n, at = %paginator.position(), "Fetched page.");

            if let (Some((last, last_n)), Some(asked)) = (previous, paginator.page_size()) {
                if n > 0 && last == fingerprint {
                    if last_n < asked && largest_page > last_n {
                        // The short last page again, after fuller pages: the API answers
                        // positions past the end with its last page. The data is complete.
                        debug!(source = %source.name, "The page after the last repeated it; done.");
                        break;
                    }
                    return Err(Error::Loop {
                        source_name: source.name.clone(),
                        message: format!(
                            "page {} ({}) holds the same {n} records as the page before: the \
                             API ignores the paging parameters `{}`; check `pagination` (if \
                             the API repeats its last page past the end, set `short_page: end`)",
                            stats.pages,
                            paginator.position(),
                            params
                                .iter()
                                .map(|(k, _)| k.as_str())
                                .collect::<Vec<_>>()
                                .join("`, `"),
                        ),
                    });
                }
                if n > 0 && last_n < asked {
                    stats.page_size_cap = Some(stats.page_size_cap.unwrap_or(0).max(last_n));
                }
            }
            stage.commit_page()?;
            stats.records += n;
            largest_page = largest_page.max(n);
            previous = Some((fingerprint, n));

            let more = paginator.advance(&PageInfo {
                records: n,
                body: &body,
            });
            if let (Some(dropped), Some(max)) = (cut, source.max_records) {
                if dropped || more {
                    stats.stopped_by = Some(Bound::MaxRecords(max));
                }
                break;
            }
            if !more {
                break;
            }
            if let Some(max) = source.max_pages {
                if stats.pages >= max {
                    stats.stopped_by = Some(Bound::MaxPages(max));
                    break;
                }
            }
        }
        let table = stage.finish()?;
        stats.elapsed = started.elapsed();
        if stats.records == 0 && !source.allow_empty {
            return Err(Error::Empty {
                source_name: source.name.clone(),
                url: display_url(&source.url, &source.params),
            });
        }
        info!(
            source = %source.name,
            pages = stats.pages,
            records = stats.records,
            requests = stats.counts.requests,
            retries = stats.counts.retries,
            "Source complete."
        );
        Ok((stats, table))
    }
}
