//! Kafka's framing: a 4-byte big-endian length, then the message. The
//! gateway reads whole frames into one buffer and hands out each as a
//! zero-copy slice; it peeks at a request's first bytes (API key, version,
//! correlation id) to route it and to know how to read its response, and
//! never decodes a request body, except the `acks` of a Produce request
//! (`acks=0` has no response).

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

/// The largest request a client may send (Kafka's own default for
/// `socket.request.max.bytes`); a larger length is most likely not Kafka
/// (a TLS hello on a plaintext port) and ends the connection.
pub(crate) const MAX_REQUEST: usize = 100 * 1024 * 1024;
/// The largest response the gateway buffers from a broker.
pub(crate) const MAX_RESPONSE: usize = 1024 * 1024 * 1024;

/// Reads frames from one side of a connection.
pub(crate) struct FrameReader<R> {
    inner: R,
    buf: BytesMut,
    max: usize,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub(crate) fn new(inner: R, max: usize) -> Self {
        FrameReader {
            inner,
            buf: BytesMut::with_capacity(64 * 1024),
            max,
        }
    }

    /// The next whole frame, length prefix included, waiting for more bytes
    /// when none is buffered; `None` at a clean end of stream.
    pub(crate) async fn next(&mut self) -> std::io::Result<Option<Bytes>> {
        loop {
            if let Some(frame) = self.buffered()? {
                return Ok(Some(frame));
            }
            if self.inner.read_buf(&mut self.buf).await? == 0 {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    /// The next whole frame already buffered, without reading.
    pub(crate) fn buffered(&mut self) -> std::io::Result<Option<Bytes>> {
        if self.buf.len() < 4 {
            return Ok(None);
        }
        let len = u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]) as usize;
        if len > self.max {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "a frame of {len} bytes is larger than {} (not Kafka, or TLS on a plaintext port?)",
                    self.max
                ),
            ));
        }
        if self.buf.len() < 4 + len {
            self.buf.reserve(4 + len - self.buf.len());
            return Ok(None);
        }
        Ok(Some(self.buf.split_to(4 + len).freeze()))
    }
}

/// What the gateway needs of a request: how to read its response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RequestInfo {
    pub(crate) api_key: i16,
    pub(crate) api_version: i16,
    pub(crate) correlation_id: i32,
    /// Whether the broker answers it (not a Produce with `acks=0`).
    pub(crate) expects_response: bool,
}

/// Reads the request header's first fields from a frame (length prefix
/// included); `None` when the frame is too short to be a request.
pub(crate) fn request_info(frame: &[u8]) -> Option<RequestInfo> {
    let mut b = frame.get(4..)?;
    if b.len() < 8 {
        return None;
    }
    let api_key = b.get_i16();
    let api_version = b.get_i16();
    let correlation_id = b.get_i32();
    let expects_response = api_key != PRODUCE || produce_acks(b, api_version) != Some(0);
    Some(RequestInfo {
        api_key,
        api_version,
        correlation_id,
        expects_response,
    })
}

const PRODUCE: i16 = 0;

/// A Produce request's `acks`, from the header's rest (`b` starts at the
/// client id): client id (nullable string), tagged fields from v9, then
/// the transactional id (v3+, compact from v9) and `acks`.
fn produce_acks(mut b: &[u8], version: i16) -> Option<i16> {
    skip_nullable_string(&mut b)?;
    let flexible = version >= 9;
    if flexible {
        skip_tagged_fields(&mut b)?;
    }
    if version >= 3 {
        if flexible {
            let len = varint(&mut b)?;
            let skip = usize::try_from(len.saturating_sub(1)).ok()?;
            advance(&mut b, skip)?;
        } else {
            skip_nullable_string(&mut b)?;
        }
    }
    (b.len() >= 2).then(|| b.get_i16())
}

fn skip_nullable_string(b: &mut &[u8]) -> Option<()> {
    if b.len() < 2 {
        return None;
    }
    let len = b.get_i16();
    advance(b, usize::try_from(len.max(0)).ok()?)
}

fn skip_tagged_fields(b: &mut &[u8]) -> Option<()> {
    for _ in 0..varint(b)? {
        let _tag = varint(b)?;
        let size = varint(b)?;
        advance(b, usize::try_from(size).ok()?)?;
    }
    Some(())
}

fn advance(b: &mut &[u8], n: usize) -> Option<()> {
    (b.len() >= n).then(|| b.advance(n))
}

/// An unsigned varint (protobuf style), as flexible versions use.
fn varint(b: &mut &[u8]) -> Option<u32> {
    let mut value = 0u32;
    for shift in (0..35).step_by(7) {
        let byte = *b.first()?;
        b.advance(1);
        value |= u32::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BufMut;
    use kafka_protocol::messages::{ProduceRequest, RequestHeader, TransactionalId};
    use kafka_protocol::protocol::{Encodable, HeaderVersion, StrBytes};

    /// A Produce request framed by `kafka-protocol`'s own encoder.
    fn produce(version: i16, acks: i16, txn: Option<&'static str>) -> Bytes {
        let header = RequestHeader::default()
            .with_request_api_key(0)
            .with_request_api_version(version)
            .with_correlation_id(42)
            .with_client_id(Some(StrBytes::from_static_str("rdkafka")));
        let body = ProduceRequest::default()
            .with_acks(acks)
            .with_timeout_ms(30_000)
            .with_transactional_id(txn.map(|t| TransactionalId(StrBytes::from_static_str(t))));
        let mut msg = BytesMut::new();
        header
            .encode(&mut msg, ProduceRequest::header_version(version))
            .unwrap();
        body.encode(&mut msg, version).unwrap();
        let mut out = BytesMut::new();
        out.put_u32(msg.len() as u32);
        out.extend_from_slice(&msg);
        out.freeze()
    }

    #[test]
    fn produce_acks_at_every_version() {
        for version in 3..=13 {
            for acks in [-1, 0, 1] {
                for txn in [None, Some("txn-1")] {
                    let info = request_info(&produce(version, acks, txn)).unwrap();
                    assert_eq!(
                        (info.api_key, info.api_version, info.correlation_id),
                        (0, version, 42)
                    );
                    assert_eq!(
                        info.expects_response,
                        acks != 0,
                        "v{version} acks={acks} {txn:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn short_frames_are_not_requests() {
        assert_eq!(request_info(&[0, 0, 0, 2, 0, 3]), None);
    }

    #[tokio::test]
    async fn frames_are_cut_at_their_lengths_and_oversized_ones_refused() {
        let data: &[u8] = &[0, 0, 0, 2, 9, 9, 0, 0, 0, 1, 7];
        let mut r = FrameReader::new(data, 10);
        assert_eq!(&r.next().await.unwrap().unwrap()[..], &[0, 0, 0, 2, 9, 9]);
        assert_eq!(&r.next().await.unwrap().unwrap()[..], &[0, 0, 0, 1, 7]);
        assert!(r.next().await.unwrap().is_none());
        let mut r = FrameReader::new(&[0x16u8, 3, 1, 0, 5][..], 10);
        assert!(
            r.next()
                .await
                .unwrap_err()
                .to_string()
                .contains("TLS on a plaintext port")
        );
    }
}
