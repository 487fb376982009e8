//! HTTP/1.1 over turmoil's simulated TCP: serving an axum `Router` as a turmoil host, and
//! sending one request to a turmoil host and reading its answer.
//!
//! Both are plain hyper on `turmoil::net` sockets, so every byte crosses turmoil's network and
//! its partitions, holds, latencies and message loss apply. A provider's webhooks go through
//! [`send`]; a user's service may use it too to call a provider's API (or use any client built
//! on `turmoil::net`).
//!
//! What it does not do: HTTP/2, TLS, keep-alive between requests (each [`send`] opens its own
//! connection, as a webhook sender does), or redirects.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr};

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tower::Service;

use crate::sim::{NetError, Request, Response};

/// An error serving a router: the port could not be bound, or accepting failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    #[error("cannot listen on port {port} of this turmoil host: {source}")]
    Bind { port: u16, source: std::io::Error },
    #[error("accepting a connection on port {port} failed: {source}")]
    Accept { port: u16, source: std::io::Error },
}

/// Serves `router` on `port` of the current turmoil host until the host stops. Each connection
/// is served by its own task; a connection that breaks is dropped, as a server drops it.
pub async fn serve(port: u16, router: Router) -> Result<(), ServeError> {
    let addr = (IpAddr::V4(Ipv4Addr::UNSPECIFIED), port);
    let listener = ::turmoil::net::TcpListener::bind(addr).await.map_err(|source| ServeError::Bind { port, source })?;
    loop {
        let (stream, _peer) = listener.accept().await.map_err(|source| ServeError::Accept { port, source })?;
        let router = router.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: http::Request<Incoming>| {
                let mut router = router.clone();
                async move { Ok::<_, Infallible>(router.call(req).await.unwrap_or_else(|never| match never {})) }
            });
            // A broken connection ends only this connection; the client sees a timeout.
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

/// Sends `req` to `host:port` over turmoil's network and waits up to `timeout_ms` for the whole
/// answer ([`crate::hosted::http::exchange`]). A connection that cannot be made is
/// [`NetError::Refused`]; no answer in time, or a connection broken after the request left, is
/// [`NetError::Timeout`] (the sender cannot know whether the request was handled).
pub async fn send(host: &str, port: u16, req: Request, timeout_ms: u64) -> Result<Response, NetError> {
    crate::hosted::http::exchange(::turmoil::net::TcpStream::connect((host, port)), host, req, timeout_ms).await
}
