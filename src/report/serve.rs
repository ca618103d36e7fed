//! `splitbrain serve`: the results tree over HTTP on 127.0.0.1 only. It answers GET and
//! HEAD with regular files and escaped directory listings from inside the root, to
//! requests whose `Host` names the address it is bound to; every connection has a
//! deadline for its request head, for its response, and for each byte it moves.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;

use super::idle::Idle;
use super::text;

/// Limits of one server; `LIMITS` in use, shorter ones in tests.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Connections served at once; more wait in the listen backlog.
    pub connections_max: usize,
    /// A client must send its whole request head within this.
    pub header_read_timeout_ms: u64,
    /// A handler must produce its response head within this (else 408).
    pub request_timeout_ms: u64,
    /// A connection that moves no byte either way for this long is closed.
    pub io_idle_timeout_ms: u64,
    /// No connection lives longer than this, however steadily it trickles.
    pub connection_secs_max: u64,
}

pub const LIMITS: Limits = Limits {
    connections_max: 512,
    header_read_timeout_ms: 5_000,
    request_timeout_ms: 10_000,
    io_idle_timeout_ms: 15_000,
    connection_secs_max: 300,
};

/// The request line and headers must fit in this.
const REQUEST_HEAD_BYTES_MAX: usize = 16 * 1024;
/// Entries a directory listing shows; a larger directory says how many it left out.
const LISTING_ENTRIES_MAX: usize = 5_000;
/// Entries of a would-be results root looked at for a run directory.
const ROOT_ENTRIES_SCANNED_MAX: usize = 10_000;
/// Bytes read from a file per body chunk.
const FILE_CHUNK_BYTES: usize = 64 * 1024;
/// A failed accept (out of file descriptors) is retried after this.
const ACCEPT_RETRY_MS: u64 = 100;

/// Served pages run only their own inline script and style, load nothing, and cannot be
/// framed; the timeline decodes its data from a Blob.
const CSP_PAGE: &str = "default-src 'none'; script-src 'unsafe-inline'; \
     style-src 'unsafe-inline'; img-src data: blob:; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";
/// Listings are plain links.
const CSP_LISTING: &str = "default-src 'none'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

pub fn run(root: &Path, port: u16) -> anyhow::Result<()> {
    let root = results_root(root)?;
    raise_open_files_limit(LIMITS.connections_max);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the server's runtime")?;
    runtime.block_on(async {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .with_context(|| format!("cannot listen on 127.0.0.1:{port}"))?;
        let addr = listener.local_addr().context("no local address")?;
        println!("serving {} at http://{addr}/", root.display());
        // The URL is what a caller waits for; a pipe would otherwise hold it back.
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
        serve(listener, root, LIMITS).await;
        Ok(())
    })
}

/// The canonical results root, or an error naming why `dir` is not one. A results root
/// holds at least one run directory: a subdirectory with a test.json or results.json.
/// Anything else, `/` above all, is refused rather than published to every local page.
pub fn results_root(dir: &Path) -> anyhow::Result<PathBuf> {
    let root = dir
        .canonicalize()
        .with_context(|| format!("cannot serve {}: no such directory", dir.display()))?;
    anyhow::ensure!(
        root.is_dir(),
        "cannot serve {}: not a directory",
        dir.display()
    );
    anyhow::ensure!(
        root.parent().is_some(),
        "cannot serve {}: the file system's root is not a results directory",
        dir.display()
    );
    if is_run_dir(&root) {
        anyhow::bail!(
            "cannot serve {}: it is one run's directory; serve its results root with --results {}",
            dir.display(),
            root.parent()
                .map_or(root.clone(), Path::to_path_buf)
                .display()
        );
    }
    let entries =
        std::fs::read_dir(&root).with_context(|| format!("cannot list {}", root.display()))?;
    let has_run = entries
        .take(ROOT_ENTRIES_SCANNED_MAX)
        .filter_map(Result::ok)
        .any(|e| is_run_dir(&e.path()));
    anyhow::ensure!(
        has_run,
        "cannot serve {}: not a results directory (no subdirectory with a test.json or \
         results.json among its first {ROOT_ENTRIES_SCANNED_MAX} entries)",
        dir.display()
    );
    Ok(root)
}

/// Each connection holds a socket and, while it sends a file, the file: a common soft
/// limit of 1024 open files would refuse connections before `connections_max` is reached.
/// Raised towards the hard limit, best effort.
fn raise_open_files_limit(connections_max: usize) {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let wanted = 2 * connections_max as u64 + 64;
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if soft < wanted {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, wanted.min(hard), hard);
        }
    }
}

fn is_run_dir(dir: &Path) -> bool {
    dir.is_dir() && (dir.join("test.json").is_file() || dir.join("results.json").is_file())
}

/// What every request handler needs.
struct Site {
    /// Canonical.
    root: PathBuf,
    /// `Host` values naming the bound address: `127.0.0.1:PORT` and `localhost:PORT`.
    hosts: [String; 2],
}

/// Serves `listener` for ever.
pub async fn serve(listener: TcpListener, root: PathBuf, limits: Limits) {
    let addr = listener
        .local_addr()
        .expect("a bound listener has an address");
    let app = router(root, addr, limits);
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.connections_max));
    loop {
        let permit = slots
            .clone()
            .acquire_owned()
            .await
            .expect("the connection semaphore is never closed");
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(ACCEPT_RETRY_MS)).await;
                continue;
            }
        };
        let service = TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let io = TokioIo::new(Idle::new(
                stream,
                Duration::from_millis(limits.io_idle_timeout_ms),
            ));
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_millis(limits.header_read_timeout_ms))
                .max_header_size(REQUEST_HEAD_BYTES_MAX)
                .keep_alive(false)
                .serve_connection(io, service);
            let lifetime = Duration::from_secs(limits.connection_secs_max);
            match tokio::time::timeout(lifetime, connection).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::debug!("connection ended: {e}"),
                Err(_) => tracing::debug!("connection cut after {lifetime:?}"),
            }
            drop(permit);
        });
    }
}

fn router(root: PathBuf, addr: SocketAddr, limits: Limits) -> Router {
    let port = addr.port();
    let site = Arc::new(Site {
        root,
        hosts: [format!("127.0.0.1:{port}"), format!("localhost:{port}")],
    });
    Router::new()
        .fallback(handle)
        .with_state(site)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_millis(limits.request_timeout_ms),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-cache"),
        ))
}

async fn handle(State(site): State<Arc<Site>>, req: Request) -> Response {
    if !host_allowed(&site.hosts, req.headers(), req.uri()) {
        return refuse(
            StatusCode::MISDIRECTED_REQUEST,
            &format!(
                "this server answers only to Host {} or {}\n",
                site.hosts[0], site.hosts[1]
            ),
        );
    }
    let head_only = match *req.method() {
        Method::GET => false,
        Method::HEAD => true,
        _ => {
            let mut r = refuse(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return r;
        }
    };
    let path = req.uri().path().to_string();
    let site2 = site.clone();
    // Everything below touches the file system, which can block (a slow disk, NFS).
    let answer = tokio::task::spawn_blocking(move || answer(&site2.root, &path)).await;
    let mut response = match answer {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!("request handler failed: {e}");
            refuse(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n")
        }
    };
    if head_only {
        *response.body_mut() = Body::empty();
    }
    response
}

/// Whether the request names this server: its `Host` (and the authority of an
/// absolute-form target, if any) must be `127.0.0.1:PORT` or `localhost:PORT`. A page
/// from another site that rebinds its own name to 127.0.0.1 sends its own name here.
fn host_allowed(hosts: &[String; 2], headers: &HeaderMap, uri: &axum::http::Uri) -> bool {
    let ok = |h: &str| hosts.iter().any(|a| a.eq_ignore_ascii_case(h));
    let mut values = headers.get_all(header::HOST).iter();
    let host_ok = match (values.next(), values.next()) {
        (Some(v), None) => v.to_str().is_ok_and(ok),
        _ => false,
    };
    host_ok && uri.authority().is_none_or(|a| ok(a.as_str()))
}

fn refuse(status: StatusCode, why: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        why.to_string(),
    )
        .into_response()
}

/// The response for `path`, from the file system.
fn answer(root: &Path, path: &str) -> Response {
    match resolve(root, path) {
        Resolved::File(file) => match open_regular(&file) {
            Ok(Some((f, len))) => file_response(&file, f, len),
            Ok(None) => refuse(StatusCode::FORBIDDEN, "not a regular file\n"),
            Err(_) => refuse(StatusCode::NOT_FOUND, "not found\n"),
        },
        Resolved::Listing(dir, url) => {
            let html = listing(&dir, &url);
            (
                [
                    (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                    (header::CONTENT_SECURITY_POLICY, CSP_LISTING),
                ],
                html,
            )
                .into_response()
        }
        Resolved::Redirect(to) => match HeaderValue::from_str(&to) {
            Ok(location) => (
                StatusCode::MOVED_PERMANENTLY,
                [(header::LOCATION, location)],
            )
                .into_response(),
            Err(_) => refuse(StatusCode::BAD_REQUEST, "bad request target\n"),
        },
        Resolved::Refused(status, why) => refuse(
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            why,
        ),
    }
}

#[derive(Debug, PartialEq)]
enum Resolved {
    File(PathBuf),
    Listing(PathBuf, String),
    Redirect(String),
    Refused(u16, &'static str),
}

/// Maps a request path to a path inside `root` (already canonical). Every `..`, `.`,
/// backslash or NUL segment is refused before touching the file system, and the
/// canonical result (symlinks resolved) must still lie inside the root. A path that is
/// not in its one canonical form (`//run`, a directory without its trailing slash) is
/// redirected to it, always a single-slash absolute path.
fn resolve(root: &Path, path: &str) -> Resolved {
    let path = path.split(['?', '#']).next().unwrap_or("");
    if !path.starts_with('/') {
        return Resolved::Refused(400, "bad request target\n");
    }
    let Some(decoded) = percent_decode(path) else {
        return Resolved::Refused(400, "bad percent-encoding\n");
    };
    let segments: Vec<&str> = decoded.split('/').filter(|s| !s.is_empty()).collect();
    if segments
        .iter()
        .any(|s| *s == ".." || *s == "." || s.contains(['\\', '\0']))
    {
        return Resolved::Refused(403, "forbidden\n");
    }
    let full = segments.iter().fold(root.to_path_buf(), |p, s| p.join(s));
    let Ok(canonical) = full.canonicalize() else {
        return Resolved::Refused(404, "not found\n");
    };
    if !canonical.starts_with(root) {
        return Resolved::Refused(403, "forbidden\n");
    }
    let is_dir = canonical.is_dir();
    let mut clean: String = segments
        .iter()
        .map(|s| format!("/{}", text::url_segment(s)))
        .collect();
    if is_dir {
        clean.push('/');
    }
    if (is_dir && !decoded.ends_with('/')) || decoded.contains("//") {
        return Resolved::Redirect(clean);
    }
    if !is_dir {
        return Resolved::File(canonical);
    }
    let index = canonical.join("index.html");
    if index.is_file() {
        Resolved::File(index)
    } else {
        Resolved::Listing(canonical, decoded)
    }
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

/// Opens `path` without following a final symlink and without waiting for a writer
/// (a FIFO would block an ordinary open for ever); `None` unless it is a regular file.
fn open_regular(path: &Path) -> std::io::Result<Option<(std::fs::File, u64)>> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW | libc::O_NOCTTY)
        .open(path)?;
    let meta = file.metadata()?;
    // O_NONBLOCK means nothing to reads of a regular file, the only kind kept.
    Ok(meta.is_file().then_some((file, meta.len())))
}

/// The type a file is served as. Only the pages splitbrain writes are HTML; any other
/// `.html` in the tree is shown as text, so a file a system under test left there
/// cannot run script on this origin.
fn content_type(path: &Path) -> &'static str {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if name == "index.html" || name == "timeline.html" {
        return "text/html; charset=utf-8";
    }
    match path.extension().and_then(|e| e.to_str()) {
        Some("json") => "application/json",
        Some("png") => "image/png",
        _ => "text/plain; charset=utf-8",
    }
}

fn file_response(path: &Path, file: std::fs::File, len: u64) -> Response {
    use tokio::io::AsyncReadExt;
    // A file still being written (a running test's history) is sent as long as it was.
    let reader = tokio::fs::File::from_std(file).take(len);
    let chunks = futures_util::stream::unfold(Some(reader), |state| async move {
        let mut reader = state?;
        let mut buf = vec![0u8; FILE_CHUNK_BYTES];
        match reader.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(bytes::Bytes::from(buf)), Some(reader)))
            }
            Err(e) => Some((Err(e), None)),
        }
    });
    let kind = content_type(path);
    let mut response = Response::new(Body::from_stream(chunks));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    if kind.starts_with("text/html") {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP_PAGE),
        );
    }
    response
}

/// An HTML list of `dir`'s entries, each a `./`-relative, percent-encoded link.
fn listing(dir: &Path, url: &str) -> String {
    use std::fmt::Write as _;
    let mut names: Vec<(String, bool)> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .take(LISTING_ENTRIES_MAX + 1)
                .map(|e| {
                    (
                        e.file_name().to_string_lossy().into_owned(),
                        e.path().is_dir(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let cut = names.len() > LISTING_ENTRIES_MAX;
    names.truncate(LISTING_ENTRIES_MAX);
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
    if cut {
        let _ = writeln!(
            items,
            "<li>… only the first {LISTING_ENTRIES_MAX} entries are listed</li>"
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

    #[test]
    fn redirects_are_single_slash_paths_on_this_server() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("run1/nodes")).unwrap();
        std::fs::write(tmp.path().join("run1/test.json"), "{}").unwrap();
        let root = tmp.path().canonicalize().unwrap();
        for (from, to) in [
            ("//run1", "/run1/"),
            ("//run1/", "/run1/"),
            ("///run1//nodes", "/run1/nodes/"),
            ("/run1//test.json", "/run1/test.json"),
            ("//", "/"),
        ] {
            assert_eq!(
                resolve(&root, from),
                Resolved::Redirect(to.into()),
                "{from}"
            );
        }
    }

    #[test]
    fn only_the_bound_address_is_a_valid_host() {
        let hosts = ["127.0.0.1:8080".to_string(), "localhost:8080".to_string()];
        let check = |host: Option<&str>, target: &str| {
            let mut headers = HeaderMap::new();
            if let Some(h) = host {
                headers.insert(header::HOST, HeaderValue::from_str(h).unwrap());
            }
            host_allowed(&hosts, &headers, &target.parse().unwrap())
        };
        assert!(check(Some("127.0.0.1:8080"), "/"));
        assert!(check(Some("LOCALHOST:8080"), "/run/"));
        for bad in [
            "evil.example:8080",
            "127.0.0.1:8081",
            "127.0.0.1",
            "localhost",
            "[::1]:8080",
            "localhost.:8080",
            "127.0.0.1:8080.evil.example",
        ] {
            assert!(!check(Some(bad), "/"), "{bad}");
        }
        assert!(!check(None, "/"));
        assert!(!check(Some("127.0.0.1:8080"), "http://evil.example:8080/"));
        assert!(check(Some("127.0.0.1:8080"), "http://127.0.0.1:8080/"));
    }

    #[tokio::test]
    async fn connections_that_stop_moving_are_closed() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let tmp = tempfile::tempdir().unwrap();
        let big = std::fs::File::create(tmp.path().join("big.jsonl")).unwrap();
        big.set_len(64 << 20).unwrap();
        let limits = Limits {
            connections_max: 4,
            header_read_timeout_ms: 200,
            request_timeout_ms: 1_000,
            io_idle_timeout_ms: 200,
            connection_secs_max: 30,
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        let server = tokio::spawn(serve(listener, root, limits));
        let connect = || tokio::net::TcpStream::connect(addr);
        // A reader that stops, and more such than the server has slots.
        let mut stalled = Vec::new();
        for _ in 0..2 * limits.connections_max {
            let mut s = connect().await.unwrap();
            let get = format!("GET /big.jsonl HTTP/1.1\r\nHost: {addr}\r\n\r\n");
            s.write_all(get.as_bytes()).await.unwrap();
            stalled.push(s);
        }
        let mut half = connect().await.unwrap();
        half.write_all(b"GET / HTTP/1.1\r\nHost: ").await.unwrap();
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        for mut s in stalled {
            let mut got = Vec::new();
            let read = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut got));
            // Whatever the socket buffers held, then the end: never the whole file.
            let _ = read.await.expect("the server closed the connection");
            assert!(got.len() < 64 << 20, "{} bytes", got.len());
        }
        let mut rest = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), half.read_to_end(&mut rest));
        let _ = read.await.expect("the server closed the half-sent request");
        server.abort();
    }

    #[test]
    fn a_results_root_must_hold_a_run() {
        let tmp = tempfile::tempdir().unwrap();
        let err = |p: &Path| format!("{:#}", results_root(p).unwrap_err());
        assert!(err(Path::new("/")).contains("file system's root"));
        assert!(err(tmp.path()).contains("not a results directory"));
        let run = tmp.path().join("run-1");
        std::fs::create_dir(&run).unwrap();
        std::fs::write(run.join("test.json"), "{}").unwrap();
        assert!(err(&run).contains("one run's directory"));
        assert_eq!(
            results_root(tmp.path()).unwrap(),
            tmp.path().canonicalize().unwrap()
        );
    }
}
