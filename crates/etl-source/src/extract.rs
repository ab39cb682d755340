//! Running a source: one request series (or one per parent record, with `for_each`); per
//! series the page loop: request, select records, stage, advance, guard against loops.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::stream::{self, Stream, StreamExt};
use serde_json::{Map, Value};
use tracing::{debug, info};
use url::Url;

use crate::Error;
use crate::client::{Fetched, HttpClient, RequestCounts, Target};
use crate::config::{SINCE, SourceConfig, TlsMaterial, UNTIL, display_url};
use crate::incremental::{Cursor, CursorReport, Window};
use crate::pagination::{self, PageInfo, PageRequest};
use crate::parents::{ParentReader, ParentRef};
use crate::ratelimit::RateLimiters;
use crate::records::Records;
use crate::stage::{StageWriter, StagedTable};

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
    /// For an incremental source: the cursor before and after.
    pub cursor: Option<CursorReport>,
    /// Time spent flattening records and writing them to the staging file.
    pub staging: Duration,
}

impl SourceStats {
    fn add(&mut self, other: &SourceStats) {
        self.pages += other.pages;
        self.records += other.records;
        self.counts.requests += other.counts.requests;
        self.counts.retries += other.counts.retries;
        self.counts.rate_limited += other.counts.rate_limited;
        self.counts.waited += other.counts.waited;
        self.counts.bytes += other.counts.bytes;
        self.counts.parsing += other.counts.parsing;
        self.staging += other.staging;
        self.page_size_cap = self.page_size_cap.max(other.page_size_cap);
        self.stopped_by = self.stopped_by.or(other.stopped_by);
        self.parallel_pages += other.parallel_pages;
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
/// whole run.
#[derive(Debug, Clone, Default)]
pub struct Extractor {
    clients: Arc<Mutex<HashMap<Option<TlsMaterial>, HttpClient>>>,
    limiters: RateLimiters,
}

type Prefetch<'a> =
    Pin<Box<dyn Stream<Item = (PageRequest, Result<(Fetched, RequestCounts), Error>)> + Send + 'a>>;

impl Extractor {
    pub fn new() -> Result<Self, Error> {
        let extractor = Self::default();
        extractor.client(None)?;
        Ok(extractor)
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
        crate::progress::started(&source.name);
        let client = self.client(source.tls.as_ref())?;
        let stage = Mutex::new(StageWriter::create(
            stage_path,
            &source.name,
            source.flatten.clone(),
        )?);
        let default_window = Window::default();
        let runner = SeriesRunner {
            client: &client,
            limiters: &self.limiters,
            source,
            stage: &stage,
            window: window.unwrap_or(&default_window),
        };
        let mut stats = SourceStats::default();
        let mut report = source.incremental.as_ref().map(|i| {
            let w = window.unwrap_or(&default_window);
            CursorReport {
                field: i.field_name(),
                before: w.since.or(w.stored).or(i.initial),
                ..CursorReport::default()
            }
        });
        let fold = |report: &mut Option<CursorReport>,
                    parent: Option<&str>,
                    series: Option<SeriesCursor>|
         -> Result<(), Error> {
            let (Some(r), Some(c)) = (report.as_mut(), series) else {
                return Ok(());
            };
            r.missing += c.missing;
            r.after_until += c.after_until;
            r.sent = r.sent.or(c.sent);
            r.add_series(parent, c.start, c.seen)
                .map_err(|message| Error::Records {
                    source_name: source.name.clone(),
                    url: display_url(&source.url, &source.params),
                    message,
                })
        };
        match (&source.for_each, parent) {
            (None, _) => {
                let (series, cursor) = runner.run(None, source.concurrency > 1).await?;
                stats.add(&series);
                fold(&mut report, None, cursor)?;
            }
            (Some(each), Some(parent)) => {
                let parents =
                    ParentReader::open(parent, &source.name, each, &source.include_from_parent)?;
                let mut seen = HashSet::new();
                let dedupe = source.include_from_parent.is_empty();
                let mut count = 0u64;
                let wanted = parents.filter(|p| match p {
                    Ok(p) if dedupe => seen.insert(p.key.clone()),
                    _ => true,
                });
                let mut series = stream::iter(wanted)
                    .map(|p| {
                        let runner = &runner;
                        async move {
                            let p = p?;
                            let (stats, cursor) = runner.run(Some(&p), false).await?;
                            Ok::<_, Error>((p.key, stats, cursor))
                        }
                    })
                    .buffer_unordered(source.concurrency);
                while let Some(result) = series.next().await {
                    let (key, series_stats, cursor) = result?;
                    stats.add(&series_stats);
                    fold(&mut report, Some(&key), cursor)?;
                    count += 1;
                }
                stats.parents = Some(count);
            }
            (Some(each), None) => {
                return Err(Error::Config {
                    key: format!("sources.{}.for_each.source", source.name),
                    message: format!("`{}` has not run before this source", each.source),
                });
            }
        }
        let table = stage
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .finish()?;
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
        crate::progress::finished(&source.name);
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

/// What one series needs; shared by the series of a `for_each` source.
struct SeriesRunner<'a> {
    client: &'a HttpClient,
    limiters: &'a RateLimiters,
    source: &'a SourceConfig,
    stage: &'a Mutex<StageWriter>,
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

/// How a staged page compared with the one before.
enum Verdict {
    Staged,
    /// The last page again, after two different pages: the API clamps positions past the end.
    RepeatedLast,
    /// The same records again: the API ignores the paging parameters.
    Loop,
}

impl SeriesRunner<'_> {
    /// One request series: the pages of the source, or of one parent record's request.
    async fn run(
        &self,
        parent: Option<&ParentRef>,
        parallel: bool,
    ) -> Result<(SourceStats, Option<SeriesCursor>), Error> {
        let source = self.source;
        let mut cursor = match &source.incremental {
            Some(inc) => {
                let key = parent.map(|p| p.key.as_str());
                let sent = self
                    .window
                    .since_for(key, inc)
                    .map_err(|message| self.request_error(&source.url, message))?;
                Some(SeriesCursor {
                    start: self.window.start_of(key, inc.initial),
                    sent,
                    ..SeriesCursor::default()
                })
            }
            None => None,
        };
        let format = source
            .incremental
            .as_ref()
            .and_then(|i| i.format.as_deref());
        let since = cursor.as_ref().and_then(|c| c.sent);
        let until = self.window.until.filter(|_| source.incremental.is_some());
        let since_text = since.map(|c| c.format(format));
        let until_text = until.map(|c| c.format(format));
        let window = Placed {
            since,
            until,
            since_text: since_text.as_deref(),
            until_text: until_text.as_deref(),
        };
        let base_url = source
            .url_for(
                parent.map(|p| p.key.as_str()),
                since_text.as_deref(),
                until_text.as_deref(),
            )
            .map_err(|message| self.request_error(&source.url, message))?;
        if base_url.origin() != source.url.origin() {
            // A parent value must not choose which host receives the credentials.
            return Err(self.request_error(
                &base_url,
                format!(
                    "the parent's `{}` value moved the request off `{}`; keep `{{...}}` out of \
                     the host part of `endpoint`",
                    source.for_each.as_ref().map_or("", |f| f.key.as_str()),
                    source.url.origin().ascii_serialization()
                ),
            ));
        }
        let mut base_params: Vec<(String, String)> = source
            .params
            .iter()
            .map(|(k, v)| (k.clone(), fill_text(v, source, parent, &window)))
            .collect();
        if let Some(inc) = &source.incremental {
            for (param, value) in [(&inc.param, &since_text), (&inc.until_param, &until_text)] {
                if let (Some(p), Some(v)) = (param, value) {
                    base_params.retain(|(k, _)| k != p);
                    base_params.push((p.clone(), v.clone()));
                }
            }
        }
        let base_body = source
            .body
            .clone()
            .map(|b| fill_value(b, source, parent, &window));
        let mut paginator = pagination::paginator(&source.pagination);
        let mut request = paginator.first();
        let mut stats = SourceStats::default();
        let mut seen: HashMap<String, u64> = HashMap::new();
        let mut previous: Option<(u64, u64)> = None; // (fingerprint, records) of the last page
        let mut distinct_pages = 0u64;
        let mut from = base_url.clone();
        let mut prefetch: Option<Prefetch<'_>> = None;
        loop {
            let number = stats.pages + 1;
            if let Some(first) = seen.insert(request.key(), number) {
                return Err(Error::Loop {
                    source_name: source.name.clone(),
                    message: format!(
                        "the paging came back to {} (asked for page {first}, again for page \
                         {number}); the API's paging goes round in a circle",
                        describe(&request)
                    ),
                });
            }
            let fetched = match self.take_prefetched(&mut prefetch, &request).await {
                Some(result) => {
                    let (fetched, counts) = result?;
                    add_counts(&mut stats.counts, &counts);
                    stats.parallel_pages += 1;
                    fetched
                }
                None => {
                    let target =
                        self.target(&base_url, &base_params, base_body.as_ref(), &request, &from)?;
                    self.client
                        .fetch(source, self.limiters, &target, &mut stats.counts)
                        .await?
                }
            };
            let Fetched {
                body,
                records,
                headers,
                url,
            } = fetched;
            let records_error = |message: String| Error::Records {
                source_name: source.name.clone(),
                url: display_url(&url, &[]),
                message,
            };
            let mut page = records.map_err(records_error)?;
            if let Some(p) = parent.filter(|p| !p.include.is_empty()) {
                let mut values = values(page, &records_error)?;
                include_parent(&mut values, p);
                page = Records::Values(values);
            }

            // `Some(true)`: records of this page were left out for `max_records`;
            // `Some(false)`: the bound is reached exactly, more pages would exceed it.
            let mut cut = None;
            if let Some(max) = source.max_records {
                let room = max.saturating_sub(stats.records);
                if page.len() as u64 >= room {
                    cut = Some(page.len() as u64 > room);
                    page.truncate(usize::try_from(room).unwrap_or(usize::MAX));
                }
            }
            let n = page.len() as u64;
            stats.pages += 1;
            debug!(source = %source.name, page = stats.pages, records = n, at = %describe(&request), "Fetched page.");
            let asked = paginator.page_size();
            // Paging goes by the records received; `--until` only leaves some out of staging.
            if let Some(c) = cursor.as_mut() {
                let values = values(page, &records_error)?;
                page = Records::Values(self.track_cursor(values, c, until, &url)?);
            }
            let staging = std::time::Instant::now();
            let origin = display_url(&url, &[]);
            let (verdict, fingerprint) =
                self.stage_page(page, &origin, previous, distinct_pages)?;
            stats.staging += staging.elapsed();
            match verdict {
                Verdict::Staged => {}
                Verdict::RepeatedLast => {
                    debug!(source = %source.name, "The page after the last repeated it; done.");
                    break;
                }
                Verdict::Loop => {
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
                    return Err(Error::Loop {
                        source_name: source.name.clone(),
                        message: format!(
                            "page {} ({}) holds the same {n} records as the page before: the API \
                             ignores {what}; check `pagination` (a last page repeated past the \
                             end is taken as the end only after two different pages)",
                            stats.pages,
                            describe(&request),
                        ),
                    });
                }
            }
            if let (Some((_, last_n)), Some(asked)) = (previous, asked) {
                if n > 0 && last_n < asked {
                    stats.page_size_cap = Some(stats.page_size_cap.unwrap_or(0).max(last_n));
                }
            }
            stats.records += n;
            crate::progress::page(&source.name, n);
            distinct_pages += u64::from(n > 0);
            previous = Some((fingerprint, n));

            let info = PageInfo {
                records: n,
                body: &body,
                headers: &headers,
                url: &url,
            };
            if parallel && stats.pages == 1 {
                if let Some(mut predicted) = paginator.predict(&info).filter(|p| !p.is_empty()) {
                    // Never ahead of `max_pages`.
                    if let Some(max) = source.max_pages {
                        let room = usize::try_from(max.saturating_sub(1)).unwrap_or(usize::MAX);
                        predicted.truncate(room);
                    }
                    debug!(source = %source.name, pages = predicted.len(), "Fetching the remaining pages in parallel.");
                    prefetch = Some(self.prefetch(
                        predicted,
                        &base_url,
                        &base_params,
                        base_body.as_ref(),
                        &base_url,
                    ));
                }
            }
            let next = paginator.next(&info).map_err(|message| Error::Records {
                source_name: source.name.clone(),
                url: display_url(&url, &[]),
                message,
            })?;
            from = url.clone();
            if let (Some(dropped), Some(max)) = (cut, source.max_records) {
                if dropped || next.is_some() {
                    stats.stopped_by = Some(Bound::MaxRecords(max));
                }
                break;
            }
            let Some(next) = next else { break };
            if let Some(max) = source.max_pages {
                if stats.pages >= max {
                    stats.stopped_by = Some(Bound::MaxPages(max));
                    break;
                }
            }
            request = next;
        }
        Ok((stats, cursor))
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
        let error = |message: String| Error::Records {
            source_name: self.source.name.clone(),
            url: display_url(url, &[]),
            message,
        };
        let mut kept = Vec::with_capacity(page.len());
        for mut record in page {
            match inc.cursor_of(&record) {
                None => cursor.missing += 1,
                Some(Err(m)) => {
                    return Err(error(format!(
                        "the cursor field `{}` of a record: {m}",
                        inc.field_name()
                    )));
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
                            error(format!("the cursor field `{}`: {m}", inc.field_name()))
                        })?,
                        None => c,
                    });
                }
            }
            kept.push(record);
        }
        Ok(kept)
    }

    fn lock_stage(&self) -> MutexGuard<'_, StageWriter> {
        self.stage
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Prepares the page, compares it with the one before, and stages it unless it repeats.
    /// Under one lock: pages of concurrent series never interleave within a page.
    fn stage_page(
        &self,
        page: Records,
        origin: &str,
        previous: Option<(u64, u64)>,
        distinct_pages: u64,
    ) -> Result<(Verdict, u64), Error> {
        let n = page.len() as u64;
        let mut stage = self.lock_stage();
        let fingerprint = match page {
            Records::Values(values) => stage.prepare_page(values)?,
            Records::Raw { text, spans } => stage.prepare_raw(&text, &spans, origin)?,
        };
        if let Some((last, _)) = previous {
            if n > 0 && last == fingerprint {
                // After two different pages the parameters are known to work: the same page
                // again is an API answering past the end with its last page. Before that, it
                // is an API ignoring them.
                let verdict = if distinct_pages >= 2 {
                    Verdict::RepeatedLast
                } else {
                    Verdict::Loop
                };
                return Ok((verdict, fingerprint));
            }
        }
        stage.commit_page()?;
        Ok((Verdict::Staged, fingerprint))
    }

    /// The result for `request` if it is the next prefetched one; a mismatch drops the
    /// prefetch (the pages then continue one by one).
    async fn take_prefetched(
        &self,
        prefetch: &mut Option<Prefetch<'_>>,
        request: &PageRequest,
    ) -> Option<Result<(Fetched, RequestCounts), Error>> {
        let stream = prefetch.as_mut()?;
        match stream.next().await {
            Some((predicted, result)) if predicted == *request => Some(result),
            _ => {
                debug!(source = %self.source.name, "The pages did not go as predicted; going on one by one.");
                *prefetch = None;
                None
            }
        }
    }

    fn prefetch<'s>(
        &'s self,
        predicted: Vec<PageRequest>,
        base_url: &'s Url,
        base_params: &'s [(String, String)],
        base_body: Option<&'s Value>,
        from: &'s Url,
    ) -> Prefetch<'s> {
        let stream = stream::iter(predicted)
            .map(move |request| async move {
                let result = match self.target(base_url, base_params, base_body, &request, from) {
                    Ok(target) => {
                        let mut counts = RequestCounts::default();
                        let fetched = self
                            .client
                            .fetch(self.source, self.limiters, &target, &mut counts)
                            .await;
                        fetched.map(|f| (f, counts))
                    }
                    Err(e) => Err(e),
                };
                (request, result)
            })
            .buffered(self.source.concurrency);
        Box::pin(stream)
    }

    /// Where a page request goes, and whether with credentials.
    fn target(
        &self,
        base_url: &Url,
        base_params: &[(String, String)],
        base_body: Option<&Value>,
        request: &PageRequest,
        from: &Url,
    ) -> Result<Target, Error> {
        let mut body = base_body.cloned();
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
                    base_params
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
                let mut params = base_params.to_vec();
                params.extend(request.params.iter().cloned());
                Ok(Target {
                    url: base_url.clone(),
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
            method: match self.source.method {
                crate::Method::Get => "GET",
                crate::Method::Post => "POST",
            },
            url: display_url(url, &[]),
            message,
        }
    }
}

fn add_counts(total: &mut RequestCounts, more: &RequestCounts) {
    total.requests += more.requests;
    total.retries += more.retries;
    total.rate_limited += more.rate_limited;
    total.waited += more.waited;
    total.bytes += more.bytes;
    total.parsing += more.parsing;
}

/// A page position as people read it: `` `cursor=c00` `` or the URL.
fn describe(request: &PageRequest) -> String {
    if let Some(url) = &request.url {
        return format!("`{}`", display_url(url, &[]));
    }
    let parts: Vec<String> = request
        .params
        .iter()
        .map(|(k, v)| {
            let v = if crate::config::is_sensitive_param(k) {
                "***"
            } else {
                v.as_str()
            };
            format!("{k}={v}")
        })
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

/// The records of a page as values.
fn values(page: Records, error: &impl Fn(String) -> Error) -> Result<Vec<Value>, Error> {
    page.into_values()
        .map_err(|e| error(format!("a record is not valid JSON ({e})")))
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
}
