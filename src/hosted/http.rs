//! One HTTP/1.1 exchange over any connected stream (hyper): the request written, the whole answer
//! read, within a timeout, for every hosted transport (turmoil's simulated TCP, real TCP).
//!
//! What it does not do: connect (the transport opens its own stream), keep-alive, TLS, HTTP/2.

use std::future::Future;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

use crate::sim::net::text_headers;
use crate::sim::{NetError, Request, Response};

/// Sends `req` over the stream `connect` opens and waits up to `timeout_ms` for the whole answer.
/// A connection that cannot be made is [`NetError::Refused`]; no answer in time, or a connection
/// broken after the request left, is [`NetError::Timeout`].
pub async fn exchange<S, C>(connect: C, host: &str, req: Request, timeout_ms: u64) -> Result<Response, NetError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    C: Future<Output = std::io::Result<S>>,
{
    // The connection's driver task, stopped when the exchange ends however it ends (a timed-out
    // attempt must not leave a task behind holding its connection).
    let mut driver: Option<tokio::task::JoinHandle<()>> = None;
    let exchange = async {
        let stream = connect.await.map_err(|_| NetError::Refused)?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|_| NetError::Refused)?;
        driver = Some(tokio::spawn(async move {
            let _ = conn.await;
        }));
        let mut builder = http::Request::builder().method(req.method).uri(req.path).header(http::header::HOST, host);
        for (name, value) in &req.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let request = builder.body(Full::new(req.body)).map_err(|_| NetError::Refused)?;
        let answer = sender.send_request(request).await.map_err(|_| NetError::Timeout)?;
        let status = answer.status().as_u16();
        let headers = text_headers(answer.headers());
        let body = answer.into_body().collect().await.map_err(|_| NetError::Timeout)?.to_bytes();
        Ok(Response { status, body, headers })
    };
    let result = match tokio::time::timeout(Duration::from_millis(timeout_ms), exchange).await {
        Ok(result) => result,
        Err(_) => Err(NetError::Timeout),
    };
    if let Some(d) = driver.take() {
        d.abort();
    }
    result
}
