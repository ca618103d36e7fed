//! `splitbrain serve`: a small static file server for the results root, on 127.0.0.1 only,
//! answering GET and HEAD, one request per connection, never outside the root.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::text;

/// Connections served at once; more wait in the listen backlog.
const CONNECTIONS_MAX: usize = 64;
/// The request line and headers must fit in this.
const REQUEST_HEAD_BYTES_MAX: usize = 16 * 1024;
/// A client that sends no complete request head in this time is dropped.
const REQUEST_READ_TIMEOUT_MS: u64 = 10_000;

pub fn run(root: &Path, port: u16) -> anyhow::Result<()> {
    let root = root
        .canonicalize()
        .with_context(|| format!("cannot serve {}: no such directory", root.display()))?;
    anyhow::ensure!(
        root.is_dir(),
        "cannot serve {}: not a directory",
        root.display()
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the server's runtime")?;
    runtime.block_on(serve(root, port))
}

async fn serve(root: PathBuf, port: u16) -> anyhow::Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("cannot listen on 127.0.0.1:{port}"))?;
    let addr = listener.local_addr().context("no local address")?;
    println!("serving {} at http://{addr}/", root.display());
    // The URL is what a caller waits for; a pipe would otherwise hold it back.
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    let root = Arc::new(root);
    let slots = Arc::new(tokio::sync::Semaphore::new(CONNECTIONS_MAX));
    loop {
        let permit = slots
            .clone()
            .acquire_owned()
            .await
            .context("connection limit closed")?;
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                continue;
            }
        };
        let root = root.clone();
        tokio::spawn(async move {
            if let Err(e) = handle(stream, &root).await {
                tracing::debug!("connection ended: {e}");
            }
            drop(permit);
        });
    }
}

async fn handle(mut stream: TcpStream, root: &Path) -> std::io::Result<()> {
    let timeout = Duration::from_millis(REQUEST_READ_TIMEOUT_MS);
    let head = match tokio::time::timeout(timeout, read_head(&mut stream)).await {
        Ok(Ok(Some(head))) => head,
        Ok(Ok(None)) => {
            return respond(&mut stream, 400, "text/plain", b"bad request\n", false).await
        }
        Ok(Err(e)) => return Err(e),
        Err(_) => return Ok(()),
    };
    let mut words = head.lines().next().unwrap_or("").split_whitespace();
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let head_only = method == "HEAD";
    if method != "GET" && !head_only {
        return respond(
            &mut stream,
            405,
            "text/plain",
            b"only GET and HEAD\n",
            false,
        )
        .await;
    }
    match resolve(root, target) {
        Resolved::File(path) => send_file(&mut stream, &path, head_only).await,
        Resolved::Listing(dir, url) => {
            let html = listing(&dir, &url);
            respond(
                &mut stream,
                200,
                "text/html; charset=utf-8",
                html.as_bytes(),
                head_only,
            )
            .await
        }
        Resolved::Redirect(to) => {
            let head = format!("HTTP/1.1 301 Moved Permanently\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            stream.write_all(head.as_bytes()).await
        }
        Resolved::Refused(status, why) => {
            respond(&mut stream, status, "text/plain", why.as_bytes(), head_only).await
        }
    }
}

/// Reads up to the blank line ending the request head; `None` if it is too long or not text.
async fn read_head(stream: &mut TcpStream) -> std::io::Result<Option<String>> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && !buf.windows(2).any(|w| w == b"\n\n") {
        if buf.len() > REQUEST_HEAD_BYTES_MAX {
            return Ok(None);
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(String::from_utf8(buf).ok())
}

#[derive(Debug, PartialEq)]
enum Resolved {
    File(PathBuf),
    Listing(PathBuf, String),
    Redirect(String),
    Refused(u16, &'static str),
}

/// Maps a request target to a path inside `root` (already canonical). Every `..`, `.`,
/// backslash or NUL segment is refused before touching the file system, and the
/// canonical result (symlinks resolved) must still lie inside the root.
fn resolve(root: &Path, target: &str) -> Resolved {
    let path = target.split(['?', '#']).next().unwrap_or("");
    if !path.starts_with('/') {
        return Resolved::Refused(400, "bad request target\n");
    }
    let Some(decoded) = percent_decode(path) else {
        return Resolved::Refused(400, "bad percent-encoding\n");
    };
    let mut full = root.to_path_buf();
    for segment in decoded.split('/').filter(|s| !s.is_empty()) {
        if segment == ".." || segment == "." || segment.contains(['\\', '\0']) {
            return Resolved::Refused(403, "forbidden\n");
        }
        full.push(segment);
    }
    let Ok(canonical) = full.canonicalize() else {
        return Resolved::Refused(404, "not found\n");
    };
    if !canonical.starts_with(root) {
        return Resolved::Refused(403, "forbidden\n");
    }
    if canonical.is_dir() {
        if !decoded.ends_with('/') {
            return Resolved::Redirect(format!("{path}/"));
        }
        let index = canonical.join("index.html");
        return if index.is_file() {
            Resolved::File(index)
        } else {
            Resolved::Listing(canonical, decoded)
        };
    }
    Resolved::File(canonical)
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("json") => "application/json",
        Some("jsonl") | Some("log") | Some("txt") | Some("md") => "text/plain; charset=utf-8",
        Some("png") => "image/png",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    }
}

async fn send_file(stream: &mut TcpStream, path: &Path, head_only: bool) -> std::io::Result<()> {
    let mut file = match tokio::fs::File::open(path).await {
        Ok(f) => f,
        Err(_) => return respond(stream, 404, "text/plain", b"not found\n", head_only).await,
    };
    let len = file.metadata().await?.len();
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nContent-Length: {len}\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n",
        content_type(path)
    );
    stream.write_all(head.as_bytes()).await?;
    if !head_only {
        tokio::io::copy(&mut file, stream).await?;
    }
    stream.shutdown().await
}

async fn respond(
    stream: &mut TcpStream,
    status: u16,
    kind: &str,
    body: &[u8],
    head_only: bool,
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Error",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    if !head_only {
        stream.write_all(body).await?;
    }
    stream.shutdown().await
}

fn listing(dir: &Path, url: &str) -> String {
    let mut names: Vec<(String, bool)> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| {
                    (
                        e.file_name().to_string_lossy().into_owned(),
                        e.path().is_dir(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let mut items = String::new();
    for (name, is_dir) in names {
        let (href, shown) = if is_dir {
            (text::href(&[&name, ""]), format!("{name}/"))
        } else {
            (text::href(&[&name]), name)
        };
        let _ = writeln!(
            items,
            "<li><a href=\"{href}\">{}</a></li>",
            text::html(&shown)
        );
    }
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{0}</title></head>\
         <body><h1>{0}</h1><ul><li><a href=\"../\">../</a></li>\n{items}</ul></body></html>\n",
        text::html(url)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_link_only_inside_the_directory() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("javascript:alert(1)")).unwrap();
        std::fs::write(tmp.path().join("a\"onclick=\"alert(1)"), "").unwrap();
        std::fs::write(tmp.path().join("<b>"), "").unwrap();
        let html = listing(tmp.path(), "/<run>/");
        let links = text::hrefs(&html);
        assert_eq!(
            links,
            [
                "../",
                "./%3Cb%3E",
                "./a%22onclick%3D%22alert%281%29",
                "./javascript%3Aalert%281%29/"
            ]
        );
        assert!(!html.contains("<b>"), "{html}");
    }

    #[test]
    fn resolve_stays_inside_the_root() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("results");
        std::fs::create_dir_all(root.join("run")).unwrap();
        std::fs::write(root.join("run/history.jsonl"), "").unwrap();
        std::fs::write(tmp.path().join("secret"), "").unwrap();
        std::os::unix::fs::symlink(tmp.path().join("secret"), root.join("escape")).unwrap();
        let root = root.canonicalize().unwrap();
        assert_eq!(
            resolve(&root, "/run/history.jsonl?x=1"),
            Resolved::File(root.join("run/history.jsonl"))
        );
        assert_eq!(resolve(&root, "/run"), Resolved::Redirect("/run/".into()));
        assert!(matches!(resolve(&root, "/run/"), Resolved::Listing(..)));
        for bad in [
            "/../secret",
            "/run/%2e%2e/../secret",
            "/%2E%2E/secret",
            "/run/..%2f..%2fsecret",
            "/escape",
        ] {
            assert_eq!(
                resolve(&root, bad),
                Resolved::Refused(403, "forbidden\n"),
                "{bad}"
            );
        }
        assert_eq!(
            resolve(&root, "/nope"),
            Resolved::Refused(404, "not found\n")
        );
        assert_eq!(
            resolve(&root, "/%zz"),
            Resolved::Refused(400, "bad percent-encoding\n")
        );
        assert_eq!(
            resolve(&root, "secret"),
            Resolved::Refused(400, "bad request target\n")
        );
    }
}
