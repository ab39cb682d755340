//! Just enough HTTP/1.1 for a mock: one request at a time per connection, keep-alive,
//! `Content-Length` bodies. Written by hand so that faults (a dropped connection, a body cut
//! short) can be served exactly.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

const MAX_HEAD: usize = 64 * 1024;
const MAX_BODY: usize = 16 * 1024 * 1024;

#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
    pub(crate) keep_alive: bool,
    /// The request target was absolute (`GET http://host/path`): it came through a proxy.
    pub(crate) proxied: bool,
}

impl Request {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Response {
    pub(crate) fn json(status: u16, body: Vec<u8>) -> Self {
        Self {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body,
        }
    }

    pub(crate) fn error(status: u16, message: &str) -> Self {
        Self::json(
            status,
            serde_json::json!({ "error": message })
                .to_string()
                .into_bytes(),
        )
    }

    pub(crate) fn with_header(mut self, name: &str, value: &dyn ToString) -> Self {
        self.headers.push((name.to_owned(), value.to_string()));
        self
    }

    fn head(&self, keep_alive: bool) -> Vec<u8> {
        use std::fmt::Write as _;
        let mut head = format!("HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        for (name, value) in &self.headers {
            let _ = write!(head, "{name}: {value}\r\n");
        }
        let _ = write!(head, "Content-Length: {}\r\n", self.body.len());
        if !keep_alive {
            head.push_str("Connection: close\r\n");
        }
        head.push_str("\r\n");
        head.into_bytes()
    }

    pub(crate) async fn write(
        &self,
        stream: &mut (impl AsyncWrite + Unpin),
        keep_alive: bool,
    ) -> io::Result<()> {
        stream.write_all(&self.bytes(keep_alive)).await?;
        stream.flush().await
    }

    /// The whole response: head and body.
    fn bytes(&self, keep_alive: bool) -> Vec<u8> {
        let mut out = self.head(keep_alive);
        out.extend_from_slice(&self.body);
        out
    }

    /// Sends the response in ten pieces, 50 ms apart.
    pub(crate) async fn write_dripping(
        &self,
        stream: &mut (impl AsyncWrite + Unpin),
        keep_alive: bool,
    ) -> io::Result<()> {
        let out = self.bytes(keep_alive);
        let piece = out.len().div_ceil(10).max(1);
        for chunk in out.chunks(piece) {
            stream.write_all(chunk).await?;
            stream.flush().await?;
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        Ok(())
    }

    /// Announces the whole body, sends half of it and stops: the client sees a truncated body.
    pub(crate) async fn write_truncated(
        &self,
        stream: &mut (impl AsyncWrite + Unpin),
    ) -> io::Result<()> {
        let mut out = self.head(false);
        out.extend_from_slice(&self.body[..self.body.len() / 2]);
        stream.write_all(&out).await?;
        stream.flush().await?;
        stream.shutdown().await
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// Reads one request; `Ok(None)` when the client closed the connection between requests.
pub(crate) async fn read_request(
    stream: &mut (impl AsyncRead + Unpin),
    buf: &mut Vec<u8>,
) -> io::Result<Option<Request>> {
    loop {
        if !buf.is_empty() {
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut parsed = httparse::Request::new(&mut headers);
            match parsed.parse(buf) {
                Ok(httparse::Status::Complete(head_len)) => {
                    let (mut request, content_length) = head(&parsed)?;
                    buf.drain(..head_len);
                    request.body = read_body(content_length, buf, stream).await?;
                    return Ok(Some(request));
                }
                Ok(httparse::Status::Partial) => {}
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
            }
            if buf.len() > MAX_HEAD {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "request head too large",
                ));
            }
        }
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return if buf.is_empty() {
                Ok(None)
            } else {
                Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed mid-request",
                ))
            };
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The request line and headers, and the announced body length.
fn head(parsed: &httparse::Request<'_, '_>) -> io::Result<(Request, usize)> {
    let method = parsed.method.unwrap_or("GET").to_owned();
    let mut target = parsed.path.unwrap_or("/");
    // A proxy forwards `GET http://host/path`: serve the path.
    let proxied = target.starts_with("http://") || target.starts_with("https://");
    if proxied {
        let after_scheme = &target[target.find("://").map_or(0, |i| i + 3)..];
        target = after_scheme.find('/').map_or("/", |i| &after_scheme[i..]);
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, parse_query(q)),
        None => (target, Vec::new()),
    };
    let headers: Vec<(String, String)> = parsed
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_owned(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();
    let mut request = Request {
        method,
        path: percent_decode(path),
        query,
        headers,
        body: Vec::new(),
        keep_alive: parsed.version == Some(1),
        proxied,
    };
    match request.header("connection") {
        Some(v) if v.eq_ignore_ascii_case("close") => request.keep_alive = false,
        Some(v) if v.eq_ignore_ascii_case("keep-alive") => request.keep_alive = true,
        _ => {}
    }
    let content_length: usize = request
        .header("content-length")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    if content_length > MAX_BODY {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "request body too large",
        ));
    }
    Ok((request, content_length))
}

async fn read_body(
    content_length: usize,
    buf: &mut Vec<u8>,
    stream: &mut (impl AsyncRead + Unpin),
) -> io::Result<Vec<u8>> {
    while buf.len() < content_length {
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed mid-body",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(buf.drain(..content_length).collect())
}

pub(crate) fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(pair), String::new()),
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Standard base64 with padding (basic credentials).
pub(crate) fn base64(input: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_pairs_are_decoded() {
        assert_eq!(
            parse_query("a=1&b=x%20y&c&d=%2Fp+q"),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "x y".into()),
                ("c".into(), String::new()),
                ("d".into(), "/p q".into()),
            ]
        );
        assert_eq!(
            parse_query("bad=%zz&end=%4"),
            vec![("bad".into(), "%zz".into()), ("end".into(), "%4".into())]
        );
    }
}
