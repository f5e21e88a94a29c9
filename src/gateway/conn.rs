//! One client connection through the gateway: requests go upstream as
//! they came (only their first bytes are read), responses come back in
//! request order and those naming brokers are rewritten.
//!
//! The two directions run in one task; requests tell the response side
//! what to expect through an in-order queue (Kafka answers a connection's
//! requests in the order they were sent). Frames read together are written
//! together: one flush per read, not per frame.

use std::sync::Arc;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::sync::{Notify, mpsc};

use super::frame::{FrameReader, MAX_REQUEST, MAX_RESPONSE, RequestInfo, request_info};
use super::rewrite::{Advertise, RewriteError, needs_decode, rewrite_response};

/// A byte stream of either side: TCP, or TLS over TCP.
pub(crate) trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// Why a connection ended other than by either side closing it.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("the client sent a frame too short to be a Kafka request")]
    NotARequest,
    #[error("the broker sent a response to no pending request (correlation id {0})")]
    Unexpected(i32),
    #[error("the broker answered correlation id {got}, expected {expected}")]
    OutOfOrder { got: i32, expected: i32 },
    #[error(transparent)]
    Rewrite(#[from] RewriteError),
    #[error("the cluster gave no producer id for a switched producer (error code {0})")]
    ProducerId(i16),
}

/// How a connection ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum End {
    ClientClosed,
    UpstreamClosed,
    /// The gateway closed it (shutdown, or to make the client reconnect).
    Closed,
    /// The client was held longer than `--hold-timeout`.
    HeldTooLong,
}

const WRITE_BUFFER: usize = 64 * 1024;

/// Proxies until either side closes, an error, or `close` is notified.
pub(crate) async fn proxy(
    client: Box<dyn Stream>,
    upstream: Box<dyn Stream>,
    advertise: Arc<dyn Advertise + Send + Sync>,
    close: Arc<Notify>,
) -> Result<End, ConnError> {
    let (client_r, client_w) = tokio::io::split(client);
    let (up_r, up_w) = tokio::io::split(upstream);
    let (pending_tx, pending_rx) = mpsc::unbounded_channel();
    let requests = requests(
        FrameReader::new(client_r, MAX_REQUEST),
        BufWriter::with_capacity(WRITE_BUFFER, up_w),
        pending_tx,
    );
    let responses = responses(
        FrameReader::new(up_r, MAX_RESPONSE),
        BufWriter::with_capacity(WRITE_BUFFER, client_w),
        pending_rx,
        advertise.as_ref(),
    );
    tokio::select! {
        r = requests => r.map(|()| End::ClientClosed),
        r = responses => r.map(|()| End::UpstreamClosed),
        () = close.notified() => Ok(End::Closed),
    }
}

/// Client to upstream (a gateway without a target; `switch.rs` has the
/// routed counterpart).
async fn requests<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    mut reader: FrameReader<R>,
    mut writer: W,
    pending: mpsc::UnboundedSender<RequestInfo>,
) -> Result<(), ConnError> {
    while let Some(frame) = reader.next().await? {
        forward_request(&frame, &mut writer, &pending).await?;
        while let Some(frame) = reader.buffered()? {
            forward_request(&frame, &mut writer, &pending).await?;
        }
        writer.flush().await?;
    }
    Ok(())
}

async fn forward_request<W: AsyncWrite + Unpin>(
    frame: &Bytes,
    writer: &mut W,
    pending: &mpsc::UnboundedSender<RequestInfo>,
) -> Result<(), ConnError> {
    let info = request_info(frame).ok_or(ConnError::NotARequest)?;
    if info.expects_response {
        // The receiver lives as long as this task's sibling; if it is gone
        // the select! has ended this future too.
        let _ = pending.send(info);
    }
    writer.write_all(frame).await?;
    Ok(())
}

/// Upstream to client.
async fn responses<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    mut reader: FrameReader<R>,
    mut writer: W,
    mut pending: mpsc::UnboundedReceiver<RequestInfo>,
    advertise: &(dyn Advertise + Send + Sync),
) -> Result<(), ConnError> {
    while let Some(frame) = reader.next().await? {
        next_response(frame, &mut writer, &mut pending, advertise).await?;
        while let Some(frame) = reader.buffered()? {
            next_response(frame, &mut writer, &mut pending, advertise).await?;
        }
        writer.flush().await?;
    }
    Ok(())
}

async fn next_response<W: AsyncWrite + Unpin>(
    frame: Bytes,
    writer: &mut W,
    pending: &mut mpsc::UnboundedReceiver<RequestInfo>,
    advertise: &(dyn Advertise + Send + Sync),
) -> Result<(), ConnError> {
    // The request was queued before it was written upstream, so its entry
    // is there when its response arrives.
    let request = pending
        .try_recv()
        .map_err(|_| ConnError::Unexpected(correlation_id(&frame)))?;
    forward_response(frame, writer, request, advertise).await
}

pub(crate) fn correlation_id(frame: &[u8]) -> i32 {
    frame
        .get(4..8)
        .map_or(-1, |b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Passes on the response to `request`, rewritten if it names brokers.
pub(crate) async fn forward_response<W: AsyncWrite + Unpin>(
    frame: Bytes,
    writer: &mut W,
    request: RequestInfo,
    advertise: &(dyn Advertise + Send + Sync),
) -> Result<(), ConnError> {
    let got = correlation_id(&frame);
    if request.correlation_id != got {
        return Err(ConnError::OutOfOrder {
            got,
            expected: request.correlation_id,
        });
    }
    if !needs_decode(request.api_key, request.api_version) {
        writer.write_all(&frame).await?;
        return Ok(());
    }
    match rewrite_response(
        request.api_key,
        request.api_version,
        frame.slice(4..),
        advertise,
    ) {
        Ok(Some(rewritten)) => writer.write_all(&rewritten).await?,
        Ok(None) => writer.write_all(&frame).await?,
        // An ApiVersions request newer than the broker's is answered in
        // v0's layout with an error; the client asks again with an older
        // version, whose answer is capped.
        Err(e) if request.api_key == API_VERSIONS => {
            tracing::debug!("passing on an ApiVersions response as it came: {e}");
            writer.write_all(&frame).await?;
        }
        // Never pass on a response whose broker addresses were not
        // rewritten: the client would leave the gateway.
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

const API_VERSIONS: i16 = 18;
