//! A small HTTP/1.1 server on 127.0.0.1 serving pre-rendered pages of GitHub
//! issues from memory, so that serving costs little next to the client under test.
//!
//! Routes (every page holds [`PAGE_SIZE`] issues; page `p` serves the items
//! pre-rendered for page `p % distinct`, so a source larger than what is held in
//! memory repeats ids):
//!
//! - `GET /next/issues?page=N` (N from 1; absent is 1): `{"items":[...],"next":URL}`
//!   where `next` is the absolute URL of page N+1, or `null` on the last page (the
//!   next-URL-in-body style of Microsoft Graph, Jira Cloud, Okta);
//! - `GET /offset/issues?offset=O&limit=100`: `{"total":T,"items":[...]}`, an empty
//!   array past the end (offset/limit with a total);
//! - `GET /ping`: `{"ok":true}`, for per-request overhead;
//! - `POST /token` (any body): an OAuth 2.0 token response (`bench-access-token`,
//!   bearer, expiring in an hour), so the per-request overhead runs can fill an
//!   OAuth2 token cache.
//!
//! The server either runs in a thread of the current process ([`Server::start`])
//! or in a child process ([`Server::spawn`], so a memory measurement of the client
//! does not count the pages the server holds). A child server exits when its
//! parent closes its stdin (or dies), and after at most 30 minutes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::data::{PAGE_SIZE, issue_page_items};

/// The longest a child server lives.
const MAX_LIFETIME: Duration = Duration::from_secs(30 * 60);

/// The pre-rendered pages.
#[derive(Debug)]
pub struct Catalog {
    /// The items array of each distinct page.
    pages: Vec<Vec<u8>>,
    /// The number of records the source holds.
    total: u64,
}

impl Catalog {
    /// Renders `distinct` pages for a source of `total` records (`distinct` is
    /// capped at the number of pages the source has).
    ///
    /// # Panics
    ///
    /// When `total` is not a whole number of pages.
    pub fn new(total: u64, distinct: u64) -> Self {
        assert!(
            total.is_multiple_of(PAGE_SIZE as u64),
            "the source holds whole pages of {PAGE_SIZE}"
        );
        let npages = total.div_ceil(PAGE_SIZE as u64);
        let distinct = distinct.clamp(1, npages.max(1));
        let pages = (0..distinct).map(issue_page_items).collect();
        Self { pages, total }
    }

    fn npages(&self) -> u64 {
        self.total.div_ceil(PAGE_SIZE as u64)
    }

    fn items(&self, page: u64) -> &[u8] {
        &self.pages[(page % self.pages.len() as u64) as usize]
    }
}

/// A running server.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    child: Option<(Child, ChildStdin)>,
}

impl Server {
    /// Starts a server in a thread of this process (with its own single-threaded
    /// runtime); it lives as long as the process.
    ///
    /// # Panics
    ///
    /// When it cannot bind 127.0.0.1.
    pub fn start(catalog: Catalog) -> Self {
        let std_listener =
            std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port on 127.0.0.1");
        std_listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let addr = std_listener.local_addr().expect("the listener's address");
        let catalog = Arc::new(catalog);
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a server runtime");
            runtime.block_on(async move {
                let listener = TcpListener::from_std(std_listener).expect("a tokio listener");
                accept_loop(listener, catalog).await;
            });
        });
        Self { addr, child: None }
    }

    /// Starts a server in a child process: `current_exe() serve <total>
    /// <distinct>`, which the binary must hand to [`serve_main`].
    ///
    /// # Panics
    ///
    /// When the child cannot be started or does not report its port.
    pub fn spawn(total: u64, distinct: u64) -> Self {
        let exe = std::env::current_exe().expect("the path of this executable");
        let mut child = Command::new(exe)
            .args(["serve", &total.to_string(), &distinct.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the server process");
        let stdin = child.stdin.take().expect("the server's stdin");
        let stdout = child.stdout.take().expect("the server's stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the server's port");
        let port: u16 = line
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .expect("the server prints `PORT <n>`");
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            child: Some((child, stdin)),
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some((mut child, stdin)) = self.child.take() {
            drop(stdin);
            if child.try_wait().ok().flatten().is_none() {
                std::thread::sleep(Duration::from_millis(50));
                if child.try_wait().ok().flatten().is_none() {
                    let _ = child.kill();
                }
            }
            let _ = child.wait();
        }
    }
}

/// The `serve <total> <distinct>` mode of a benchmark binary: renders the pages,
/// prints `PORT <n>`, serves until stdin closes.
///
/// # Panics
///
/// On bad arguments or when it cannot bind.
pub fn serve_main(args: &[String]) {
    let total: u64 = args
        .first()
        .and_then(|a| a.parse().ok())
        .expect("serve <total> <distinct>");
    let distinct: u64 = args
        .get(1)
        .and_then(|a| a.parse().ok())
        .expect("serve <total> <distinct>");
    let catalog = Arc::new(Catalog::new(total, distinct));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a server runtime");
    runtime.block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a port on 127.0.0.1");
        let port = listener
            .local_addr()
            .expect("the listener's address")
            .port();
        let mut out = std::io::stdout();
        writeln!(out, "PORT {port}").expect("print the port");
        out.flush().expect("flush the port");
        // Exit when the parent closes stdin or goes away.
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let mut sink = [0u8; 64];
            let mut stdin = std::io::stdin();
            while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
            let _ = tx.send(());
        });
        tokio::select! {
            () = accept_loop(listener, catalog) => {}
            _ = rx => {}
            () = tokio::time::sleep(MAX_LIFETIME) => {}
        }
    });
}

async fn accept_loop(listener: TcpListener, catalog: Arc<Catalog>) {
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let catalog = Arc::clone(&catalog);
        tokio::spawn(async move {
            let _ = connection(stream, &catalog, port).await;
        });
    }
}

async fn connection(mut stream: TcpStream, catalog: &Catalog, port: u16) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(4096);
    let mut out = Vec::with_capacity(64 * 1024);
    let mut chunk = [0u8; 4096];
    loop {
        // Read one request head, then its body (skipped) when it has one.
        let end = loop {
            if let Some(end) = find_head_end(&buf) {
                break end;
            }
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let end = end + content_length(&buf[..end]);
        while buf.len() < end {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let target = request_target(&buf[..end]).unwrap_or_default();
        respond(&target, catalog, port, &mut out);
        buf.drain(..end);
        stream.write_all(&out).await?;
    }
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

/// The `content-length` of a request head; 0 when absent.
fn content_length(head: &[u8]) -> usize {
    String::from_utf8_lossy(head)
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0)
}

fn request_target(head: &[u8]) -> Option<String> {
    let line = head.split(|&b| b == b'\r').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split(' ');
    let _method = parts.next()?;
    parts.next().map(str::to_owned)
}

fn query_param(query: &str, name: &str) -> Option<u64> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .and_then(|(_, v)| v.parse().ok())
}

fn respond(target: &str, catalog: &Catalog, port: u16, out: &mut Vec<u8>) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut body_head = Vec::new();
    let mut items: &[u8] = b"[]";
    let mut body_tail = Vec::new();
    let mut status = "200 OK";
    match path {
        "/next/issues" => {
            let page = query_param(query, "page").unwrap_or(1).max(1);
            body_head.extend_from_slice(b"{\"items\":");
            if page <= catalog.npages() {
                items = catalog.items(page - 1);
            }
            if page < catalog.npages() {
                let next = page + 1;
                body_tail.extend_from_slice(
                    format!(",\"next\":\"http://127.0.0.1:{port}/next/issues?page={next}\"}}")
                        .as_bytes(),
                );
            } else {
                body_tail.extend_from_slice(b",\"next\":null}");
            }
        }
        "/offset/issues" => {
            let offset = query_param(query, "offset").unwrap_or(0);
            let limit = query_param(query, "limit").unwrap_or(PAGE_SIZE as u64);
            if limit != PAGE_SIZE as u64 || !offset.is_multiple_of(PAGE_SIZE as u64) {
                status = "400 Bad Request";
                body_head.extend_from_slice(
                    b"{\"error\":\"limit must be 100 and offset a multiple of it\"}",
                );
                items = b"";
            } else {
                body_head.extend_from_slice(
                    format!("{{\"total\":{},\"items\":", catalog.total).as_bytes(),
                );
                if offset < catalog.total {
                    items = catalog.items(offset / PAGE_SIZE as u64);
                }
                body_tail.push(b'}');
            }
        }
        "/ping" => {
            body_head.extend_from_slice(b"{\"ok\":true}");
            items = b"";
        }
        "/token" => {
            body_head.extend_from_slice(
                b"{\"access_token\":\"bench-access-token\",\"token_type\":\"bearer\",\"expires_in\":3600}",
            );
            items = b"";
        }
        _ => {
            status = "404 Not Found";
            body_head.extend_from_slice(b"{\"error\":\"no such route\"}");
            items = b"";
        }
    }
    let len = body_head.len() + items.len() + body_tail.len();
    out.clear();
    out.extend_from_slice(
        format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {len}\r\n\r\n"
        )
        .as_bytes(),
    );
    out.extend_from_slice(&body_head);
    out.extend_from_slice(items);
    out.extend_from_slice(&body_tail);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_link_to_the_next_and_end() {
        let catalog = Catalog::new(300, 10);
        let mut out = Vec::new();
        respond("/next/issues?page=3", &catalog, 9, &mut out);
        let text = String::from_utf8(out.clone()).expect("utf-8");
        assert!(
            text.ends_with(",\"next\":null}"),
            "{}",
            &text[text.len() - 40..]
        );
        respond("/next/issues", &catalog, 9, &mut out);
        let text = String::from_utf8(out).expect("utf-8");
        assert!(text.contains("\"next\":\"http://127.0.0.1:9/next/issues?page=2\""));
        let body = text.split("\r\n\r\n").nth(1).expect("a body");
        let page: serde_json::Value = serde_json::from_str(body).expect("JSON");
        assert_eq!(page["items"].as_array().map(Vec::len), Some(100));
    }

    #[test]
    fn bodies_are_skipped_by_their_length() {
        let head = b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Length: 29\r\n\r\n";
        assert_eq!(content_length(head), 29);
        assert_eq!(content_length(b"GET /ping HTTP/1.1\r\n\r\n"), 0);
    }

    #[test]
    fn offsets_report_the_total_and_end_empty() {
        let catalog = Catalog::new(200, 2);
        let mut out = Vec::new();
        respond("/offset/issues?offset=200&limit=100", &catalog, 9, &mut out);
        let text = String::from_utf8(out).expect("utf-8");
        assert!(text.ends_with("{\"total\":200,\"items\":[]}"));
    }
}
