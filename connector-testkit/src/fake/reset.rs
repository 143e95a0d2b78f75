//! A raw TCP server for the faults wiremock cannot produce: a reset connection and
//! a body cut off mid-stream.
//!
//! [`ResetProxy`] listens on 127.0.0.1. For the first `n` connections it reads the
//! request and then misbehaves ([`ResetMode`]); later connections are piped to an
//! upstream (usually a [`FakeApi`](super::FakeApi)), so a read can meet a reset
//! and carry on. Without an upstream every connection misbehaves.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// How a faulty connection misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResetMode {
    /// Read the request, then close with a TCP reset (`SO_LINGER` 0).
    Reset,
    /// Send `200` headers promising a longer body, half of it, then close.
    CloseMidBody,
}

/// A TCP proxy that breaks the first connections it accepts.
#[derive(Debug)]
pub struct ResetProxy {
    port: u16,
    accepted: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl ResetProxy {
    /// Breaks every connection with `mode`.
    ///
    /// # Errors
    ///
    /// When no local port can be bound.
    pub async fn start(mode: ResetMode) -> io::Result<Self> {
        Self::launch(None, mode, u64::MAX).await
    }

    /// Breaks the first `faulty` connections with `mode` and pipes the rest to
    /// `upstream` (a base URL such as [`FakeApi::uri`](super::FakeApi::uri)).
    ///
    /// # Errors
    ///
    /// When no local port can be bound or `upstream` has no host and port.
    pub async fn in_front_of(upstream: &str, mode: ResetMode, faulty: u64) -> io::Result<Self> {
        let url = url::Url::parse(upstream)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        let host = url.host_str().unwrap_or("127.0.0.1").to_owned();
        let port = url
            .port_or_known_default()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "upstream has no port"))?;
        Self::launch(Some(format!("{host}:{port}")), mode, faulty).await
    }

    async fn launch(upstream: Option<String>, mode: ResetMode, faulty: u64) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let accepted = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&accepted);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    match upstream {
                        Some(addr) if n > faulty => pipe(stream, &addr).await,
                        _ => misbehave(stream, mode).await,
                    }
                });
            }
        });
        Ok(Self {
            port,
            accepted,
            task,
        })
    }

    /// The base URL to point a client at.
    pub fn uri(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// How many connections it has accepted.
    pub fn connections(&self) -> u64 {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for ResetProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn read_request_head(stream: &mut TcpStream) {
    let mut buf = [0_u8; 4096];
    let mut seen = Vec::new();
    while let Ok(n) = stream.read(&mut buf).await {
        if n == 0 {
            break;
        }
        seen.extend_from_slice(&buf[..n]);
        if seen.windows(4).any(|w| w == b"\r\n\r\n") || seen.len() > 64 * 1024 {
            break;
        }
    }
}

async fn misbehave(mut stream: TcpStream, mode: ResetMode) {
    read_request_head(&mut stream).await;
    match mode {
        ResetMode::Reset => {
            // Dropping a socket with a zero linger sends RST instead of FIN.
            let _ = stream.set_zero_linger();
        }
        ResetMode::CloseMidBody => {
            let body = br#"{"items": [{"id": "1"}, {"id": "2"}, {"id": "3"}], "next": null}"#;
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(&body[..body.len() / 2]).await;
            let _ = stream.flush().await;
        }
    }
}

async fn pipe(mut client: TcpStream, upstream: &str) {
    if let Ok(mut server) = TcpStream::connect(upstream).await {
        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
    }
}
