//! What `make bench` needs besides the server: a large JSONPlaceholder-shaped fixture set
//! (deterministic, generated on demand), the floor (a minimal client downloading every page
//! once over keep-alive connections), and an independent computation of the engagement
//! report to check `etl`'s against.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Write as _};
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::orders::Rng;

/// Sizes of a generated fixture set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scale {
    pub users: u64,
    pub posts: u64,
    pub comments: u64,
}

impl Scale {
    /// 10,000 users, 200,000 posts, 1,000,000 comments.
    pub const LARGE: Self = Self {
        users: 10_000,
        posts: 200_000,
        comments: 1_000_000,
    };
    /// A tenth of [`Scale::LARGE`], for quick runs.
    pub const MEDIUM: Self = Self {
        users: 1_000,
        posts: 20_000,
        comments: 100_000,
    };
}

const WORDS: [&str; 16] = [
    "data",
    "pipeline",
    "report",
    "engagement",
    "user",
    "post",
    "comment",
    "api",
    "rate",
    "limit",
    "page",
    "record",
    "join",
    "polars",
    "rust",
    "nightly",
];

fn sentence(rng: &mut Rng, words: u64) -> String {
    let mut out = String::new();
    for i in 0..words {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(WORDS[rng.below(WORDS.len() as u64) as usize]);
    }
    out
}

/// Writes `users.json`, `posts.json` and `comments.json` into `dir`: the same shape as
/// JSONPlaceholder's (nested `address` and `company` on users), the same files for the same
/// scale and seed. Posts go to users and comments to posts at random, so some users have no
/// post and some posts no comment.
pub fn generate_jsonplaceholder(dir: &Path, scale: Scale, seed: u64) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut rng = Rng::new(seed);
    write_array(&dir.join("users.json"), scale.users, |i| {
        let id = i + 1;
        json!({
            "id": id,
            "name": format!("User {id}"),
            "username": format!("user{id}"),
            "email": format!("user{id}@example.org"),
            "address": {
                "street": format!("{} Main Street", 1 + rng.below(999)),
                "suite": format!("Apt. {}", 1 + rng.below(999)),
                "city": "Springfield",
                "zipcode": format!("{:05}", rng.below(100_000)),
                "geo": { "lat": format!("{:.4}", rng.below(180_000) as f64 / 1000.0 - 90.0), "lng": format!("{:.4}", rng.below(360_000) as f64 / 1000.0 - 180.0) }
            },
            "phone": format!("555-{:04}", rng.below(10_000)),
            "website": format!("user{id}.example.org"),
            "company": {
                "name": format!("Company {}", 1 + rng.below(500)),
                "catchPhrase": sentence(&mut rng, 3),
                "bs": sentence(&mut rng, 3)
            }
        })
    })?;
    write_array(&dir.join("posts.json"), scale.posts, |i| {
        json!({
            "userId": 1 + rng.below(scale.users),
            "id": i + 1,
            "title": sentence(&mut rng, 5),
            "body": sentence(&mut rng, 20)
        })
    })?;
    write_array(&dir.join("comments.json"), scale.comments, |i| {
        let id = i + 1;
        json!({
            "postId": 1 + rng.below(scale.posts),
            "id": id,
            "name": sentence(&mut rng, 4),
            "email": format!("reader{}@example.org", rng.below(50_000)),
            "body": sentence(&mut rng, 15)
        })
    })
}

/// A JSON array of `count` records, one per line, written as it is generated.
fn write_array(path: &Path, count: u64, mut record: impl FnMut(u64) -> Value) -> io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    let mut out = BufWriter::new(File::create(&tmp)?);
    out.write_all(b"[\n")?;
    for i in 0..count {
        if i > 0 {
            out.write_all(b",\n")?;
        }
        serde_json::to_writer(&mut out, &record(i))?;
    }
    out.write_all(b"\n]\n")?;
    out.into_inner()
        .map_err(io::IntoInnerError::into_error)?
        .sync_all()?;
    std::fs::rename(tmp, path)
}

/// What the floor measured.
#[derive(Debug, Clone, Copy, Default)]
pub struct Floor {
    pub pages: u64,
    pub records: u64,
    pub bytes: u64,
    pub elapsed: Duration,
}

/// Downloads every page of each endpoint (`/users`, ...) once, `_start`/`_limit` paging, one
/// keep-alive connection per endpoint, all endpoints at once; the bodies are counted and
/// dropped. The number of records comes from `X-Total-Count`.
pub async fn floor(addr: &str, endpoints: &[&str], page_size: u64) -> io::Result<Floor> {
    let started = Instant::now();
    let tasks: Vec<_> = endpoints
        .iter()
        .map(|e| tokio::spawn(download(addr.to_owned(), (*e).to_owned(), page_size)))
        .collect();
    let mut total = Floor::default();
    for task in tasks {
        let one = task.await.map_err(io::Error::other)??;
        total.pages += one.pages;
        total.records += one.records;
        total.bytes += one.bytes;
    }
    total.elapsed = started.elapsed();
    Ok(total)
}

async fn download(addr: String, endpoint: String, page_size: u64) -> io::Result<Floor> {
    let stream = TcpStream::connect(&addr).await?;
    stream.set_nodelay(true)?;
    let mut stream = BufReader::new(stream);
    let mut one = Floor::default();
    let mut start = 0;
    loop {
        let request = format!(
            "GET {endpoint}?_start={start}&_limit={page_size} HTTP/1.1\r\nHost: {addr}\r\n\r\n"
        );
        stream.get_mut().write_all(request.as_bytes()).await?;
        let (length, total) = read_head(&mut stream).await?;
        let mut body = vec![0; length];
        stream.read_exact(&mut body).await?;
        one.pages += 1;
        one.bytes += length as u64;
        start += page_size;
        if start >= total {
            one.records = total;
            return Ok(one);
        }
    }
}

/// Reads a response head: `Content-Length` and `X-Total-Count`.
async fn read_head(stream: &mut BufReader<TcpStream>) -> io::Result<(usize, u64)> {
    let mut line = String::new();
    let (mut length, mut total) = (None, 0);
    loop {
        line.clear();
        if stream.read_line(&mut line).await? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        if let Some((name, value)) = trimmed.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse().ok();
            } else if name.eq_ignore_ascii_case("x-total-count") {
                total = value.parse().unwrap_or(0);
            }
        } else if !trimmed.starts_with("HTTP/1.1 200") {
            return Err(io::Error::other(format!("the server answered `{trimmed}`")));
        }
    }
    let length = length.ok_or_else(|| io::Error::other("a response without Content-Length"))?;
    Ok((length, total))
}

/// One line of the engagement report.
#[derive(Debug, Clone, PartialEq)]
pub struct Engagement {
    pub id: i64,
    pub total_posts: u64,
    pub total_comments: u64,
}

/// The engagement report computed from the fixture files, without `etl` or polars: per user
/// (in id order) the posts they wrote and the comments those posts received.
pub fn expected_engagement(dir: &Path) -> io::Result<Vec<Engagement>> {
    let read = |name: &str| -> io::Result<Vec<Value>> {
        let file = File::open(dir.join(name))?;
        serde_json::from_reader(io::BufReader::new(file)).map_err(io::Error::other)
    };
    let int = |v: &Value, k: &str| v.get(k).and_then(Value::as_i64).unwrap_or(-1);
    let mut comments_of_post: HashMap<i64, u64> = HashMap::new();
    for c in read("comments.json")? {
        *comments_of_post.entry(int(&c, "postId")).or_default() += 1;
    }
    let mut per_user: HashMap<i64, (u64, u64)> = HashMap::new();
    for p in read("posts.json")? {
        let entry = per_user.entry(int(&p, "userId")).or_default();
        entry.0 += 1;
        entry.1 += comments_of_post.get(&int(&p, "id")).copied().unwrap_or(0);
    }
    let mut users: Vec<i64> = read("users.json")?.iter().map(|u| int(u, "id")).collect();
    users.sort_unstable();
    Ok(users
        .into_iter()
        .map(|id| {
            let (total_posts, total_comments) = per_user.get(&id).copied().unwrap_or((0, 0));
            Engagement {
                id,
                total_posts,
                total_comments,
            }
        })
        .collect())
}

/// The first difference between a report and the expected one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference(pub String);

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Difference {}

impl From<String> for Difference {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl From<&str> for Difference {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

/// Compares an engagement report (CSV with `id`, `total_posts`, `total_comments` and
/// `avg_comments_per_post` columns, as `pipelines/engagement.yaml` writes it) with
/// [`expected_engagement`]; `Err` says the first difference.
pub fn check_engagement(report: &str, expected: &[Engagement]) -> Result<(), Difference> {
    let mut rows = csv_rows(report).into_iter();
    let header = rows.next().ok_or("the report is empty")?;
    let column = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .ok_or(format!("the report has no `{name}` column"))
    };
    let (id, posts, comments, avg) = (
        column("id")?,
        column("total_posts")?,
        column("total_comments")?,
        column("avg_comments_per_post")?,
    );
    let rows: Vec<Vec<String>> = rows.collect();
    if rows.len() != expected.len() {
        return Err(Difference(format!(
            "{} rows in the report, {} users in the fixtures",
            rows.len(),
            expected.len()
        )));
    }
    for (row, want) in rows.iter().zip(expected) {
        let got = (
            row[id].parse::<i64>().ok(),
            row[posts].parse::<u64>().ok(),
            row[comments].parse::<u64>().ok(),
        );
        if got
            != (
                Some(want.id),
                Some(want.total_posts),
                Some(want.total_comments),
            )
        {
            return Err(Difference(format!("report row {row:?}, expected {want:?}")));
        }
        let want_avg = if want.total_posts == 0 {
            0.0
        } else {
            want.total_comments as f64 / want.total_posts as f64
        };
        let got_avg: f64 = row[avg]
            .parse()
            .map_err(|_| format!("row {row:?}: average"))?;
        if (got_avg - want_avg).abs() > 1e-9 {
            return Err(Difference(format!(
                "report row {row:?}: average, expected {want_avg}"
            )));
        }
    }
    Ok(())
}

/// CSV text as rows of fields (RFC 4180 quoting).
fn csv_rows(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, '\r') => {}
            (false, c) => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use super::*;

    #[test]
    fn generated_fixtures_are_deterministic_and_checked() {
        let scale = Scale {
            users: 20,
            posts: 60,
            comments: 300,
        };
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        generate_jsonplaceholder(a.path(), scale, 1).unwrap();
        generate_jsonplaceholder(b.path(), scale, 1).unwrap();
        for f in ["users.json", "posts.json", "comments.json"] {
            assert_eq!(
                std::fs::read(a.path().join(f)).unwrap(),
                std::fs::read(b.path().join(f)).unwrap()
            );
        }
        let expected = expected_engagement(a.path()).unwrap();
        assert_eq!(expected.len(), 20);
        assert_eq!(expected.iter().map(|e| e.total_posts).sum::<u64>(), 60);
        assert_eq!(expected.iter().map(|e| e.total_comments).sum::<u64>(), 300);
        let csv = |rows: &[Engagement]| {
            let mut csv =
                String::from("id,name,total_posts,total_comments,avg_comments_per_post\n");
            for e in rows {
                let avg = if e.total_posts == 0 {
                    0.0
                } else {
                    e.total_comments as f64 / e.total_posts as f64
                };
                let _ = writeln!(
                    csv,
                    "{},\"A, \"\"B\"\"\",{},{},{avg}",
                    e.id, e.total_posts, e.total_comments
                );
            }
            csv
        };
        assert_eq!(check_engagement(&csv(&expected), &expected), Ok(()));
        let mut wrong = expected.clone();
        wrong[0].total_comments += 1;
        assert!(check_engagement(&csv(&wrong), &expected).is_err());
        assert!(check_engagement(&csv(&expected[1..]), &expected).is_err());
        assert!(check_engagement("id,total_posts\n", &expected).is_err());
    }
}
