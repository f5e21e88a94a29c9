//! The opt-in HTTP listener (`--metrics-addr`): `/metrics` (Prometheus text
//! format), `/healthz` (liveness) and `/readyz` (readiness). hyper's HTTP/1
//! server on a thread of its own with a one-thread tokio runtime, so that
//! serving never runs on, or waits for, the copy loop's thread.

use std::convert::Infallible;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};

use super::Telemetry;
use crate::exit::{Diagnostic, ExitStatus};

/// Why the listener could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("`{addr}` is not an address to listen on (HOST:PORT)")]
    Address {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot listen on `{addr}` for metrics")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
}

impl Diagnostic for ServeError {
    fn status(&self) -> ExitStatus {
        match self {
            ServeError::Address { .. } => ExitStatus::BadInput,
            ServeError::Bind { .. } => ExitStatus::Failure,
        }
    }

    fn hint(&self) -> Option<String> {
        Some(match self {
            ServeError::Address { .. } => {
                "give a host and a port, e.g. `--metrics-addr 127.0.0.1:9464` or `--metrics-addr 0.0.0.0:9464`".into()
            }
            ServeError::Bind { .. } => {
                "another process may be listening on that port: choose another one with --metrics-addr".into()
            }
        })
    }
}

/// A running listener; it serves until the process ends.
#[derive(Debug)]
pub struct Listener {
    addr: SocketAddr,
}

impl Listener {
    /// The address it listens on (the real port when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// Starts serving `telemetry` on `addr` (`HOST:PORT`). The address is bound
/// before this returns, so a port in use fails the command at once.
pub fn serve(addr: &str, telemetry: Arc<Telemetry>) -> Result<Listener, ServeError> {
    let resolved: Vec<SocketAddr> = addr
        .to_socket_addrs()
        .map_err(|source| ServeError::Address {
            addr: addr.to_owned(),
            source,
        })?
        .collect();
    let bind_error = |source| ServeError::Bind {
        addr: addr.to_owned(),
        source,
    };
    let listener = TcpListener::bind(&resolved[..]).map_err(bind_error)?;
    listener.set_nonblocking(true).map_err(bind_error)?;
    let local = listener.local_addr().map_err(bind_error)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(bind_error)?;
    std::thread::Builder::new()
        .name("kcp-metrics".into())
        .spawn(move || runtime.block_on(accept(listener, telemetry)))
        .map_err(bind_error)?;
    Ok(Listener { addr: local })
}

async fn accept(listener: TcpListener, telemetry: Arc<Telemetry>) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("metrics listener: {e}");
            return;
        }
    };
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors and the like: try again shortly.
                tracing::warn!("metrics listener: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let telemetry = telemetry.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let telemetry = telemetry.clone();
                async move { Ok::<_, Infallible>(respond(&telemetry, &req)) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn respond(telemetry: &Telemetry, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "GET only\n".into());
    }
    match req.uri().path() {
        "/metrics" => {
            let mut r = Response::new(Full::new(Bytes::from(telemetry.encode())));
            r.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static(super::PROMETHEUS_CONTENT_TYPE),
            );
            r
        }
        "/healthz" => report(&telemetry.health.liveness()),
        "/readyz" => report(&telemetry.health.readiness()),
        "/" => text(
            StatusCode::OK,
            "kcp: /metrics (Prometheus), /healthz (liveness), /readyz (readiness)\n".into(),
        ),
        _ => text(StatusCode::NOT_FOUND, "not found\n".into()),
    }
}

fn report(r: &super::Report) -> Response<Full<Bytes>> {
    let status = if r.ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut body = serde_json::to_vec(r).unwrap_or_default();
    body.push(b'\n');
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}
