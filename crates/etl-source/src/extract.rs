//! Running a source: one request series (or one per parent record, with `for_each`); per
//! series the page loop: request, select records, stage, advance, guard against loops.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hasher};
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::stream::{self, Peekable, Stream, StreamExt};
use serde_json::{Map, Value};
use tracing::{debug, info};
use url::Url;

use crate::Error;
use crate::client::{Fetched, Fetcher, HttpClient, RequestCounts, Target};
use crate::config::{SINCE, SourceConfig, TlsMaterial, UNTIL};
use crate::incremental::{Cursor, CursorError, CursorReport, Window};
use crate::pagination::{self, PageInfo, PageRequest, Paginator};
use crate::parents::{ParentReader, ParentRef};
use crate::progress::{Progress, ProgressSink};
use crate::ratelimit::RateLimiters;
use crate::records::Records;
use crate::redact::{display_url, shown_param};
use crate::spec::ForEachSpec;
use crate::stage::{StageWriter, StagedTable};
use crate::stager::Stager;

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
    /// Set when `max_pages` or `max_records` ended a series before the API did.
    pub stopped_by: Option<Bound>,
    /// With `for_each`: the parent records fanned out over (one request series each).
    pub parents: Option<u64>,
    /// Pages fetched ahead in parallel, once a first page stated the total.
    pub parallel_pages: u64,
    /// Pages fetched ahead without a stated total: the next page while the one before was
    /// staged, or pages at the positions the last page's size predicts.
    pub pages_ahead: u64,
    /// For an incremental source: the cursor before and after.
    pub cursor: Option<CursorReport>,
    /// Time spent flattening records and writing them to the staging file (on the source's
    /// staging thread, beside the requests).
    pub staging: Duration,
}

impl SourceStats {
    fn add(&mut self, other: &SourceStats) {
        self.pages += other.pages;
        self.records += other.records;
        self.counts.add(&other.counts);
        self.staging += other.staging;
        self.page_size_cap = self.page_size_cap.max(other.page_size_cap);
        self.stopped_by = self.stopped_by.or(other.stopped_by);
        self.parallel_pages += other.parallel_pages;
        self.pages_ahead += other.pages_ahead;
    }
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

/// Runs sources: HTTP clients (one per TLS setup) and the host rate limiters, shared by a
/// whole run, and where progress goes.
#[derive(Debug, Clone, Default)]
pub struct Extractor {
    clients: Arc<Mutex<HashMap<Option<TlsMaterial>, HttpClient>>>,
    limiters: RateLimiters,
    progress: Option<Arc<dyn ProgressSink>>,
}

/// Pages fetched ahead, in order, each with the position it was asked at.
type PageStream<'a> =
    Pin<Box<dyn Stream<Item = (PageRequest, Result<Fetched, Error>)> + Send + 'a>>;

/// Pages asked for before paging reaches them, in order, `concurrency` in flight at most.
struct Prefetch<'a> {
    pages: Peekable<PageStream<'a>>,
    /// Predicted from a stated total (else from the page before).
    from_total: bool,
}

impl Extractor {
    pub fn new() -> Result<Self, Error> {
        let extractor = Self::default();
        extractor.client(None)?;
        Ok(extractor)
    }

    /// The same extractor, reporting the progress of every source it runs to `sink`.
    #[must_use]
    pub fn with_progress(mut self, sink: Arc<dyn ProgressSink>) -> Self {
        self.progress = Some(sink);
        self
    }

    fn client(&self, tls: Option<&TlsMaterial>) -> Result<HttpClient, Error> {
        let mut clients = self
            .clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(c) = clients.get(&tls.cloned()) {
            return Ok(c.clone());
        }
        let client = HttpClient::new(tls)?;
        clients.insert(tls.cloned(), client.clone());
        Ok(client)
    }

    /// Fetches every page of `source` and stages its records at `stage_path`. A source with
    /// `for_each` needs its parent's staged table; an incremental source starts from
    /// `window` (the first run's start when `None`).
    pub async fn run(
        &self,
        source: &SourceConfig,
        stage_path: &Path,
        parent: Option<&StagedTable>,
        window: Option<&Window>,
    ) -> Result<(SourceStats, StagedTable), Error> {
        let started = tokio::time::Instant::now();
        let progress = Progress::new(self.progress.as_deref(), &source.name);
        progress.started();
        let client = self.client(source.tls.as_ref())?;
        let stage = Stager::start(
            StageWriter::create(
                stage_path,
                &source.name,
                source.flatten.clone(),
                source.stage_columns.as_ref(),
            ),
            &source.name,
            stage_path.to_owned(),
        )?;
        let default_window = Window::default();
        let runner = SeriesRunner {
            fetcher: Fetcher {
                client: &client,
                source,
                limiters: &self.limiters,
                progress,
            },
            source,
            stage: &stage,
            window: window.unwrap_or(&default_window),
        };
        let mut report = source.incremental.as_ref().map(|i| {
            let w = runner.window;
            CursorReport {
                field: i.field_name(),
                before: w.since.or(w.stored).or(i.initial),
                ..CursorReport::default()
            }
        });
        let walked = runner.run_all(parent, &mut report).await;
        // A staging error comes first: it is about a page handed over before the walk ended.
        let (table, staging) = stage.finish().await?;
        let mut stats = walked?;
        stats.staging = staging;
        stats.elapsed = started.elapsed();
        // An incremental run that finds nothing new is normal once a cursor is stored.
        let nothing_new_is_fine = report.as_ref().is_some_and(|r| r.before.is_some())
            && window.is_some_and(|w| w.stored.is_some() || w.since.is_some());
        if let Some(r) = &mut report {
            if r.after.is_none() {
                r.after = r.before;
            }
        }
        stats.cursor = report;
        // A child with no parent records asked nothing: not an API answering nothing.
        let nothing_asked = stats.parents == Some(0);
        if stats.records == 0 && !source.allow_empty && !nothing_new_is_fine && !nothing_asked {
            return Err(Error::Empty {
                source_name: source.name.clone(),
                url: display_url(&source.url, &source.params),
            });
        }
        progress.finished();
        info!(
            source = %source.name,
            pages = stats.pages,
            records = stats.records,
            requests = stats.counts.requests,
            retries = stats.counts.retries,
            pages_ahead = stats.pages_ahead,
            "Source complete."
        );
        Ok((stats, table))
    }
}

/// What one series needs; shared by the series of a `for_each` source.
struct SeriesRunner<'a> {
    fetcher: Fetcher<'a>,
    source: &'a SourceConfig,
    stage: &'a Stager,
    window: &'a Window,
}

/// The column that carries each record's cursor as a number, in sources with a primary key.
pub const CURSOR_COLUMN: &str = "_etl_cursor";

/// The cursor of one series of an incremental source.
#[derive(Debug, Default)]
struct SeriesCursor {
    /// Where it started (before `lookback`).
    start: Option<Cursor>,
    /// What was sent (after `lookback`).
    sent: Option<Cursor>,
    /// The largest cursor among its records.
    seen: Option<Cursor>,
    missing: u64,
    after_until: u64,
}

/// What every request of a series starts from, before the paginator adds its part: the URL,
/// the parameters and the body, with the parent's key and the incremental window filled in.
struct SeriesBase {
    url: Url,
    params: Vec<(String, String)>,
    body: Option<Value>,
    /// `--until` of an incremental source: records after it are left out.
    until: Option<Cursor>,
}

/// A series' way through its pages so far.
#[derive(Default)]
struct Walk {
    stats: SourceStats,
    /// The page number each position was first asked for.
    seen: HashMap<String, u64>,
    /// Fingerprint and records of the last page.
    previous: Option<(u64, u64)>,
    /// Pages staged with records, all different.
    distinct_pages: u64,
}

impl Walk {
    /// Refuses a position asked for before: the paging would go round in a circle.
    fn check_position(&mut self, request: &PageRequest, source: &str) -> Result<(), Error> {
        let number = self.stats.pages + 1;
        match self.seen.insert(request.key(), number) {
            None => Ok(()),
            Some(first) => Err(Error::Loop {
                source_name: source.to_owned(),
                message: format!(
                    "the paging came back to {} (asked for page {first}, again for page \
                     {number}); the API's paging goes round in a circle",
                    describe(request)
                ),
            }),
        }
    }

    /// How a page of `n` records with this fingerprint compares with the page before.
    fn verdict(&self, n: u64, fingerprint: u64) -> Verdict {
        match self.previous {
            Some((last, _)) if n > 0 && last == fingerprint => {
                // After two different pages the parameters are known to work: the same page
                // again is an API answering past the end with its last page. Before that, it
                // is an API ignoring them.
                if self.distinct_pages >= 2 {
                    Verdict::RepeatedLast
                } else {
                    Verdict::Loop
                }
            }
            _ => Verdict::Staged,
        }
    }

    /// Counts a staged page of `n` records; `asked` is the page size asked for.
    fn staged(&mut self, n: u64, fingerprint: u64, asked: Option<u64>) {
        if let (Some((_, last_n)), Some(asked)) = (self.previous, asked) {
            if n > 0 && last_n < asked {
                self.stats.page_size_cap = Some(self.stats.page_size_cap.unwrap_or(0).max(last_n));
            }
        }
        self.stats.records += n;
        self.distinct_pages += u64::from(n > 0);
        self.previous = Some((fingerprint, n));
    }
}

/// How a staged page compared with the one before.
enum Verdict {
    Staged,
    /// The last page again, after two different pages: the API clamps positions past the end.
    RepeatedLast,
    /// The same records again: the API ignores the paging parameters.
    Loop,
}

impl SeriesRunner<'_> {
    /// Every series of the source: one, or one per parent record (`for_each`).
    async fn run_all(
        &self,
        parent: Option<&StagedTable>,
        report: &mut Option<CursorReport>,
    ) -> Result<SourceStats, Error> {
        match (&self.source.for_each, parent) {
            (None, _) => {
                let (stats, cursor) = self.run(None, self.source.concurrency > 1).await?;
                self.fold_cursor(report, None, cursor)?;
                Ok(stats)
            }
            (Some(each), Some(parent)) => self.run_per_parent(each, parent, report).await,
            (Some(each), None) => Err(Error::ParentNotRun {
                source_name: self.source.name.clone(),
                parent: each.source.clone(),
            }),
        }
    }

    /// One series per parent record, `concurrency` at a time; a key seen before is fetched
    /// once (unless `include_from_parent` makes each record's series its own).
    async fn run_per_parent(
        &self,
        each: &ForEachSpec,
        parent: &StagedTable,
        report: &mut Option<CursorReport>,
    ) -> Result<SourceStats, Error> {
        let source = self.source;
        let parents = ParentReader::open(parent, &source.name, each, &source.include_from_parent);
        let mut seen = HashSet::new();
        let dedupe = source.include_from_parent.is_empty();
        // In a sharded run, only this shard's parents (every other shard takes the rest).
        let shard = source.shard;
        let wanted = parents.filter(|p| match p {
            Ok(p) if shard.is_some_and(|s| !s.owns(&p.key)) => false,
            Ok(p) if dedupe => seen.insert(p.key.clone()),
            _ => true,
        });
        let mut series = stream::iter(wanted)
            .map(|p| async move {
                let p = p?;
                let (stats, cursor) = self.run(Some(&p), false).await?;
                Ok::<_, Error>((p.key, stats, cursor))
            })
            .buffer_unordered(source.concurrency);
        let mut stats = SourceStats::default();
        let mut count = 0u64;
        while let Some(result) = series.next().await {
            let (key, series_stats, cursor) = result?;
            stats.add(&series_stats);
            self.fold_cursor(report, Some(&key), cursor)?;
            count += 1;
        }
        stats.parents = Some(count);
        Ok(stats)
    }

    /// Folds one series' cursor into the source's report.
    fn fold_cursor(
        &self,
        report: &mut Option<CursorReport>,
        parent: Option<&str>,
        series: Option<SeriesCursor>,
    ) -> Result<(), Error> {
        let (Some(r), Some(c)) = (report.as_mut(), series) else {
            return Ok(());
        };
        r.missing += c.missing;
        r.after_until += c.after_until;
        r.sent = r.sent.or(c.sent);
        r.add_series(parent, c.start, c.seen)
            .map_err(|e| Error::Records {
                source_name: self.source.name.clone(),
                url: display_url(&self.source.url, &self.source.params),
                message: e.to_string(),
            })
    }

    /// One request series: the pages of the source, or of one parent record's request.
    async fn run(
        &self,
        parent: Option<&ParentRef>,
        parallel: bool,
    ) -> Result<(SourceStats, Option<SeriesCursor>), Error> {
        let mut cursor = self.series_cursor(parent)?;
        let base = self.base(parent, cursor.as_ref())?;
        let mut paginator = pagination::paginator(&self.source.pagination);
        let mut request = paginator.first();
        let mut walk = Walk::default();
        let mut from = base.url.clone();
        // Requests for pages asked ahead, counted as they are sent: paging may drop some.
        let ahead_counts = Mutex::new(RequestCounts::default());
        let mut prefetch: Option<Prefetch<'_>> = None;
        loop {
            walk.check_position(&request, &self.source.name)?;
            let Fetched {
                body,
                records,
                headers,
                url,
            } = self
                .fetch_page(&mut prefetch, &request, &base, &from, &mut walk.stats)
                .await?;
            let (mut page, cut) = self.select(records, parent, &url, walk.stats.records)?;
            let n = page.len() as u64;
            walk.stats.pages += 1;
            debug!(source = %self.source.name, page = walk.stats.pages, records = n, at = %describe(&request), "Fetched page.");
            // Paging goes by the records received; `--until` only leaves some out of staging.
            if let Some(c) = cursor.as_mut() {
                let values = self.values(page, &url)?;
                page = Records::Values(self.track_cursor(values, c, base.until, &url)?);
            }
            // A repeated page ends the series or fails it before anything past it is asked.
            // (Compared as staged: records after `--until` left out.)
            let fingerprint = fingerprint(&page);
            match walk.verdict(page.len() as u64, fingerprint) {
                Verdict::Staged => {}
                Verdict::RepeatedLast => {
                    debug!(source = %self.source.name, "The page after the last repeated it; done.");
                    break;
                }
                Verdict::Loop => return Err(self.loop_error(&request, walk.stats.pages, n)),
            }
            let last_n = walk.previous.map(|(_, n)| n);
            walk.staged(n, fingerprint, paginator.page_size());
            self.fetcher.progress.page(n);
            let info = PageInfo {
                records: n,
                body: &body,
                headers: &headers,
                url: &url,
            };
            if parallel && walk.stats.pages == 1 {
                prefetch = self.prefetch_rest(paginator.as_ref(), &info, &base, &ahead_counts);
            }
            let next = paginator
                .next(&info)
                .map_err(|message| self.records_error(&url, message))?;
            let next = self.bounded(next, cut, &mut walk.stats);
            if let (true, Some(next), None) = (parallel, &next, &prefetch) {
                let ahead = Ahead {
                    next,
                    records: n,
                    last_records: last_n,
                    from: &url,
                };
                prefetch = Some(self.ahead(
                    paginator.as_ref(),
                    &ahead,
                    &walk.stats,
                    &base,
                    &ahead_counts,
                ));
            }
            if let Some(p) = &mut prefetch {
                // Sends the requests now, so that they travel while this page is handed over.
                let _ = futures_util::poll!(Pin::new(&mut p.pages).peek());
            }
            self.stage.stage(page, display_url(&url, &[])).await?;
            match next {
                Some(next) => {
                    from = url;
                    request = next;
                }
                None => break,
            }
        }
        drop(prefetch);
        walk.stats
            .counts
            .add(&ahead_counts.lock().unwrap_or_else(PoisonError::into_inner));
        Ok((walk.stats, cursor))
    }

    /// Where an incremental series starts: the stored cursor (of its parent, with
    /// `for_each`), `--since` or `initial`.
    fn series_cursor(&self, parent: Option<&ParentRef>) -> Result<Option<SeriesCursor>, Error> {
        let Some(inc) = &self.source.incremental else {
            return Ok(None);
        };
        let key = parent.map(|p| p.key.as_str());
        let sent = self
            .window
            .since_for(key, inc)
            .map_err(|e| self.request_error(&self.source.url, e.to_string()))?;
        Ok(Some(SeriesCursor {
            start: self.window.start_of(key, inc.initial),
            sent,
            ..SeriesCursor::default()
        }))
    }

    /// The URL, parameters and body of a series, `{key}`, `{since}` and `{until}` filled.
    fn base(
        &self,
        parent: Option<&ParentRef>,
        cursor: Option<&SeriesCursor>,
    ) -> Result<SeriesBase, Error> {
        let source = self.source;
        let format = source
            .incremental
            .as_ref()
            .and_then(|i| i.format.as_deref());
        let since = cursor.and_then(|c| c.sent);
        let until = self.window.until.filter(|_| source.incremental.is_some());
        let since_text = since.map(|c| c.format(format));
        let until_text = until.map(|c| c.format(format));
        let window = Placed {
            since,
            until,
            since_text: since_text.as_deref(),
            until_text: until_text.as_deref(),
        };
        let url = source
            .url_for(
                parent.map(|p| p.key.as_str()),
                since_text.as_deref(),
                until_text.as_deref(),
            )
            .map_err(|message| self.request_error(&source.url, message))?;
        if url.origin() != source.url.origin() {
            // A parent value must not choose which host receives the credentials.
            return Err(self.request_error(
                &url,
                format!(
                    "the parent's `{}` value moved the request off `{}`; keep `{{...}}` out of \
                     the host part of `endpoint`",
                    source.for_each.as_ref().map_or("", |f| f.key.as_str()),
                    source.url.origin().ascii_serialization()
                ),
            ));
        }
        let mut params: Vec<(String, String)> = source
            .params
            .iter()
            .map(|(k, v)| (k.clone(), fill_text(v, source, parent, &window)))
            .collect();
        if let Some(inc) = &source.incremental {
            for (param, value) in [(&inc.param, &since_text), (&inc.until_param, &until_text)] {
                if let (Some(p), Some(v)) = (param, value) {
                    params.retain(|(k, _)| k != p);
                    params.push((p.clone(), v.clone()));
                }
            }
        }
        let body = source
            .body
            .clone()
            .map(|b| fill_value(b, source, parent, &window));
        Ok(SeriesBase {
            url,
            params,
            body,
            until,
        })
    }

    /// The page at `request`: prefetched, or fetched now. Its counts go to `stats`.
    async fn fetch_page(
        &self,
        prefetch: &mut Option<Prefetch<'_>>,
        request: &PageRequest,
        base: &SeriesBase,
        from: &Url,
        stats: &mut SourceStats,
    ) -> Result<Fetched, Error> {
        if let Some((result, from_total)) = self.take_prefetched(prefetch, request).await {
            if from_total {
                stats.parallel_pages += 1;
            } else {
                stats.pages_ahead += 1;
            }
            return result;
        }
        let target = self.target(base, request, from)?;
        self.fetcher.fetch(&target, &mut stats.counts).await
    }

    /// The records of a page, each given its parent's fields, cut to what `max_records`
    /// leaves room for after `staged` records. The cut is `Some(true)` when records of this
    /// page were left out, `Some(false)` when the bound is reached exactly.
    fn select(
        &self,
        records: Result<Records, String>,
        parent: Option<&ParentRef>,
        url: &Url,
        staged: u64,
    ) -> Result<(Records, Option<bool>), Error> {
        let mut page = records.map_err(|message| self.records_error(url, message))?;
        if let Some(p) = parent.filter(|p| !p.include.is_empty()) {
            let mut values = self.values(page, url)?;
            include_parent(&mut values, p);
            page = Records::Values(values);
        }
        let mut cut = None;
        if let Some(max) = self.source.max_records {
            let room = max.saturating_sub(staged);
            if page.len() as u64 >= room {
                cut = Some(page.len() as u64 > room);
                page.truncate(usize::try_from(room).unwrap_or(usize::MAX));
            }
        }
        Ok((page, cut))
    }

    /// Page `number` (`n` records, at `request`) repeats the page before.
    fn loop_error(&self, request: &PageRequest, number: u64, n: u64) -> Error {
        let names: Vec<String> = request
            .params
            .iter()
            .map(|(k, _)| format!("`{k}`"))
            .chain(request.body.iter().map(|(k, _)| format!("`{k}`")))
            .collect();
        let what = if names.is_empty() {
            "its next links".to_owned()
        } else {
            format!("the paging parameters {}", names.join(", "))
        };
        Error::Loop {
            source_name: self.source.name.clone(),
            message: format!(
                "page {number} ({}) holds the same {n} records as the page before: the API \
                 ignores {what}; check `pagination` (a last page repeated past the end is taken \
                 as the end only after two different pages)",
                describe(request),
            ),
        }
    }

    /// After the first page, the remaining pages the paginator can predict, fetched ahead in
    /// parallel (never past `max_pages`).
    fn prefetch_rest<'s>(
        &'s self,
        paginator: &dyn Paginator,
        first: &PageInfo<'_>,
        base: &'s SeriesBase,
        counts: &'s Mutex<RequestCounts>,
    ) -> Option<Prefetch<'s>> {
        let mut predicted = paginator.predict(first).filter(|p| !p.is_empty())?;
        if let Some(max) = self.source.max_pages {
            let room = usize::try_from(max.saturating_sub(1)).unwrap_or(usize::MAX);
            predicted.truncate(room);
        }
        debug!(source = %self.source.name, pages = predicted.len(), "Fetching the remaining pages in parallel.");
        Some(self.prefetch(predicted.into_iter(), true, first.url, base, counts))
    }

    /// The next page asked for now, before this one is staged; and when the pages come
    /// steadily (the last one full, or as long as the one before) and the style can predict
    /// positions, the pages after it too, `concurrency` in flight, never past `max_pages`
    /// or the pages `max_records` still needs. The paging rules stay in charge: a position
    /// they do not confirm drops the rest.
    fn ahead<'s>(
        &'s self,
        paginator: &dyn Paginator,
        ahead: &Ahead<'_>,
        stats: &SourceStats,
        base: &'s SeriesBase,
        counts: &'s Mutex<RequestCounts>,
    ) -> Prefetch<'s> {
        let n = ahead.records;
        let steady = n > 0
            && (paginator.page_size().is_some_and(|size| n >= size)
                || ahead.last_records == Some(n));
        let predicted: pagination::Ahead = match paginator.ahead(n) {
            Some(rest) if steady && self.source.concurrency > 1 => rest,
            _ => Box::new(std::iter::empty()),
        };
        let mut room = usize::MAX;
        if let Some(max) = self.source.max_pages {
            room = room.min(usize::try_from(max.saturating_sub(stats.pages)).unwrap_or(room));
        }
        if let Some(max) = self.source.max_records {
            let left = max.saturating_sub(stats.records).div_ceil(n.max(1));
            room = room.min(usize::try_from(left).unwrap_or(room));
        }
        let pages = std::iter::once(ahead.next.clone())
            .chain(predicted)
            .take(room.max(1));
        self.prefetch(pages, false, ahead.from, base, counts)
    }

    /// The next page, unless the API or a bound (`max_records`, `max_pages`) ends the series
    /// here; a bound that ends it is noted in `stats`.
    fn bounded(
        &self,
        next: Option<PageRequest>,
        cut: Option<bool>,
        stats: &mut SourceStats,
    ) -> Option<PageRequest> {
        if let (Some(dropped), Some(max)) = (cut, self.source.max_records) {
            if dropped || next.is_some() {
                stats.stopped_by = Some(Bound::MaxRecords(max));
            }
            return None;
        }
        let next = next?;
        if let Some(max) = self.source.max_pages {
            if stats.pages >= max {
                stats.stopped_by = Some(Bound::MaxPages(max));
                return None;
            }
        }
        Some(next)
    }

    /// Notes the largest cursor of a page and leaves out records after `--until`.
    fn track_cursor(
        &self,
        page: Vec<Value>,
        cursor: &mut SeriesCursor,
        until: Option<Cursor>,
        url: &Url,
    ) -> Result<Vec<Value>, Error> {
        let Some(inc) = &self.source.incremental else {
            return Ok(page);
        };
        let error = |e: CursorError| self.records_error(url, e.to_string());
        let mut kept = Vec::with_capacity(page.len());
        for mut record in page {
            match inc.cursor_of(&record) {
                None => cursor.missing += 1,
                Some(Err(m)) => {
                    return Err(self.records_error(
                        url,
                        format!("the cursor field `{}` of a record: {m}", inc.field_name()),
                    ));
                }
                Some(Ok(c)) => {
                    if let Some(u) = until {
                        if c.is_after(u).map_err(&error)? {
                            cursor.after_until += 1;
                            continue;
                        }
                    }
                    if !self.source.primary_key.is_empty() {
                        // Orders the versions of one record within a run (the merge keeps
                        // the latest); removed before anyone sees the table.
                        if let Value::Object(map) = &mut record {
                            map.insert(CURSOR_COLUMN.into(), Value::from(c.sort_key()));
                        }
                    }
                    cursor.seen = Some(match cursor.seen {
                        Some(s) => s.max(c).map_err(|m| {
                            self.records_error(
                                url,
                                format!("the cursor field `{}`: {m}", inc.field_name()),
                            )
                        })?,
                        None => c,
                    });
                }
            }
            kept.push(record);
        }
        Ok(kept)
    }

    /// The result for `request` if it is the next prefetched one; a mismatch drops the
    /// prefetch (the pages then continue one by one).
    async fn take_prefetched(
        &self,
        prefetch: &mut Option<Prefetch<'_>>,
        request: &PageRequest,
    ) -> Option<(Result<Fetched, Error>, bool)> {
        let p = prefetch.as_mut()?;
        match p.pages.next().await {
            Some((predicted, result)) if predicted == *request => Some((result, p.from_total)),
            _ => {
                debug!(source = %self.source.name, "The pages did not go as predicted; going on one by one.");
                *prefetch = None;
                None
            }
        }
    }

    /// Fetches `pages` ahead, `concurrency` at a time, in order; `from` is the page whose
    /// links they follow. Requests are counted in `counts` as they are sent.
    fn prefetch<'s>(
        &'s self,
        pages: impl Iterator<Item = PageRequest> + Send + 's,
        from_total: bool,
        from: &Url,
        base: &'s SeriesBase,
        counts: &'s Mutex<RequestCounts>,
    ) -> Prefetch<'s> {
        let from = from.clone();
        let stream = stream::iter(pages)
            .map(move |request| {
                let target = self.target(base, &request, &from);
                async move {
                    let result = match target {
                        Ok(target) => self.fetcher.fetch_counted(&target, counts).await,
                        Err(e) => Err(e),
                    };
                    (request, result)
                }
            })
            .buffered(self.source.concurrency.max(1));
        let pages: PageStream<'s> = Box::pin(stream);
        Prefetch {
            pages: pages.peekable(),
            from_total,
        }
    }

    /// Where a page request goes, and whether with credentials.
    fn target(
        &self,
        base: &SeriesBase,
        request: &PageRequest,
        from: &Url,
    ) -> Result<Target, Error> {
        let mut body = base.body.clone();
        if !request.body.is_empty() {
            let b = body.get_or_insert_with(|| Value::Object(Map::new()));
            for (path, value) in &request.body {
                set_path(b, path, value.clone());
            }
        }
        match &request.url {
            Some(url) => {
                let credentials =
                    self.source
                        .credentials_for(from, url)
                        .map_err(|why| Error::ForeignLink {
                            source_name: self.source.name.clone(),
                            message: format!("the next link {why}"),
                        })?;
                // The source's own parameters go with every request; a link to its own origin
                // that does not carry them gets them added.
                let params = if url.origin() == self.source.url.origin() {
                    base.params
                        .iter()
                        .filter(|(k, _)| !url.query_pairs().any(|(q, _)| q == *k))
                        .cloned()
                        .collect()
                } else {
                    Vec::new()
                };
                Ok(Target {
                    url: url.clone(),
                    params,
                    body,
                    credentials,
                })
            }
            None => {
                let mut params = base.params.clone();
                params.extend(request.params.iter().cloned());
                Ok(Target {
                    url: base.url.clone(),
                    params,
                    body,
                    credentials: true,
                })
            }
        }
    }

    fn request_error(&self, url: &Url, message: String) -> Error {
        Error::Request {
            source_name: self.source.name.clone(),
            method: self.source.method.as_str(),
            url: display_url(url, &[]),
            message,
        }
    }

    fn records_error(&self, url: &Url, message: String) -> Error {
        Error::Records {
            source_name: self.source.name.clone(),
            url: display_url(url, &[]),
            message,
        }
    }

    /// The records of a page as values.
    fn values(&self, page: Records, url: &Url) -> Result<Vec<Value>, Error> {
        page.into_values()
            .map_err(|e| self.records_error(url, format!("a record is not valid JSON ({e})")))
    }
}

/// The page `next` has confirmed, and what predicts the ones after it.
struct Ahead<'a> {
    next: &'a PageRequest,
    /// Records on the page just received, and on the one before.
    records: u64,
    last_records: Option<u64>,
    /// The page just received, whose links `next` may follow.
    from: &'a Url,
}

/// A fingerprint of a page's records (equal pages, equal prints): each record's text as it
/// arrived, or as JSON when it was built as a value.
fn fingerprint(page: &Records) -> u64 {
    let mut hasher = foldhash::quality::FixedState::with_seed(0).build_hasher();
    match page {
        Records::Raw { text, spans } => {
            for span in spans {
                hasher.write(text[span.clone()].as_bytes());
                hasher.write_u8(b'\n');
            }
        }
        Records::Values(values) => {
            let mut bytes = Vec::new();
            for value in values {
                bytes.clear();
                // Writing to a Vec cannot fail.
                let _ = serde_json::to_writer(&mut bytes, value);
                hasher.write(&bytes);
                hasher.write_u8(b'\n');
            }
        }
    }
    hasher.finish()
}

/// A page position as people read it: `` `cursor=c00` `` or the URL.
fn describe(request: &PageRequest) -> String {
    if let Some(url) = &request.url {
        return format!("`{}`", display_url(url, &[]));
    }
    let parts: Vec<String> = request
        .params
        .iter()
        .map(|(k, v)| shown_param(k, v))
        .chain(request.body.iter().map(|(k, v)| format!("{k}: {v}")))
        .collect();
    if parts.is_empty() {
        "the first page".to_owned()
    } else {
        format!("`{}`", parts.join("&"))
    }
}

/// The start and end of an incremental series, as values and as sent.
struct Placed<'a> {
    since: Option<Cursor>,
    until: Option<Cursor>,
    since_text: Option<&'a str>,
    until_text: Option<&'a str>,
}

/// `{key}` in a parameter value, filled from the parent record; `{since}` and `{until}`
/// from the window of an incremental source.
fn fill_text(
    text: &str,
    source: &SourceConfig,
    parent: Option<&ParentRef>,
    window: &Placed<'_>,
) -> String {
    let mut text = match (&source.for_each, parent) {
        (Some(each), Some(p)) => text.replace(&format!("{{{}}}", each.key), &p.key),
        _ => text.to_owned(),
    };
    if source.incremental.is_some() {
        text = text
            .replace(SINCE, window.since_text.unwrap_or_default())
            .replace(UNTIL, window.until_text.unwrap_or_default());
    }
    text
}

/// `{key}` in the body: a string that is only the placeholder takes the parent's value with
/// its type (a number stays a number); inside longer strings it is replaced as text. The
/// same for `{since}` and `{until}` (an integer cursor stays a number; none is `null`).
fn fill_value(
    value: Value,
    source: &SourceConfig,
    parent: Option<&ParentRef>,
    window: &Placed<'_>,
) -> Value {
    let own = |c: Option<Cursor>, text: Option<&str>| match (c, text) {
        (Some(Cursor::Int(n)), _) => Value::from(n),
        (_, Some(t)) => Value::String(t.to_owned()),
        (_, None) => Value::Null,
    };
    match value {
        Value::String(s) if source.incremental.is_some() && s == SINCE => {
            own(window.since, window.since_text)
        }
        Value::String(s) if source.incremental.is_some() && s == UNTIL => {
            own(window.until, window.until_text)
        }
        Value::String(s) => match (&source.for_each, parent) {
            (Some(each), Some(p)) if s == format!("{{{}}}", each.key) => p.raw.clone(),
            _ => Value::String(fill_text(&s, source, parent, window)),
        },
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|v| fill_value(v, source, parent, window))
                .collect(),
        ),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, fill_value(v, source, parent, window)))
                .collect(),
        ),
        other => other,
    }
}

/// Sets `value` at a dotted path, creating objects on the way.
fn set_path(target: &mut Value, path: &str, value: Value) {
    let mut at = target;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        if !at.is_object() {
            *at = Value::Object(Map::new());
        }
        let Value::Object(map) = at else { return };
        if parts.peek().is_none() {
            map.insert(part.to_owned(), value);
            return;
        }
        at = map
            .entry(part.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
    }
}

fn include_parent(page: &mut [Value], parent: &ParentRef) {
    if parent.include.is_empty() {
        return;
    }
    for record in page.iter_mut() {
        if !record.is_object() {
            let mut map = Map::new();
            map.insert("value".into(), record.take());
            *record = Value::Object(map);
        }
        if let Value::Object(map) = record {
            for (column, value) in &parent.include {
                map.insert(column.clone(), value.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn set_path_builds_objects() {
        let mut v = json!({"q": "x"});
        set_path(&mut v, "page.offset", json!(100));
        set_path(&mut v, "page.limit", json!(10));
        assert_eq!(v, json!({"q": "x", "page": {"offset": 100, "limit": 10}}));
    }

    #[test]
    fn equal_pages_have_equal_fingerprints_and_different_pages_different_ones() {
        let page = || vec![json!({"id": 1, "a": {"b": "x"}}), json!({"id": 2})];
        let first = fingerprint(&Records::Values(page()));
        assert_eq!(fingerprint(&Records::Values(page())), first);
        let other = vec![json!({"id": 1, "a": {"b": "y"}}), json!({"id": 2})];
        assert_ne!(fingerprint(&Records::Values(other)), first);
        // Records as they arrived: their text decides.
        let text = r#"[{"id": 1}, {"id": 2}]"#.to_owned();
        let raw = |text: &str| Records::Raw {
            text: text.to_owned(),
            spans: vec![1..10, 12..21],
        };
        assert_eq!(fingerprint(&raw(&text)), fingerprint(&raw(&text)));
        assert_ne!(
            fingerprint(&raw(&text)),
            fingerprint(&raw(r#"[{"id": 1}, {"id": 3}]"#))
        );
    }
}
