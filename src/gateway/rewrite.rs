//! The responses the gateway edits (pure: bytes in, bytes out, no I/O).
//!
//! Every response that names a broker's address is decoded with the
//! `kafka-protocol` crate, its addresses replaced by the gateway's and
//! re-encoded: Metadata, FindCoordinator, DescribeCluster, and the
//! `node_endpoints` that Produce (v10+), Fetch (v16+), ShareFetch and
//! ShareAcknowledge carry when a partition's leader moved (KIP-951). An
//! ApiVersions response is capped so that clients never use a version of
//! those APIs this crate cannot decode. Every other response, and these
//! when nothing needed changing, is passed on as the original bytes.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, DescribeClusterResponse, FetchResponse, FindCoordinatorResponse,
    MetadataResponse, ProduceResponse, ResponseHeader, ShareAcknowledgeResponse,
    ShareFetchResponse,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

/// Where clients reach a broker: the gateway's address for an upstream
/// node. Called for every broker address a response names, so it also
/// learns each node's upstream address.
pub(crate) trait Advertise {
    /// The gateway's host and port for node `node_id`, which the upstream
    /// cluster advertises at `host:port`.
    fn advertise(&self, node_id: i32, host: &str, port: i32) -> (String, i32);
}

/// A response the gateway could not decode or encode.
#[derive(Debug, thiserror::Error)]
#[error("cannot {action} a {api:?} v{version} response: {message}")]
pub(crate) struct RewriteError {
    pub(crate) api: ApiKey,
    pub(crate) version: i16,
    pub(crate) action: &'static str,
    pub(crate) message: String,
}

/// Whether a response of this API and version may need editing (and so is
/// decoded); all others pass through as bytes.
pub(crate) fn needs_decode(api_key: i16, version: i16) -> bool {
    match ApiKey::try_from(api_key) {
        Ok(
            ApiKey::ApiVersions
            | ApiKey::Metadata
            | ApiKey::FindCoordinator
            | ApiKey::DescribeCluster
            | ApiKey::ShareFetch
            | ApiKey::ShareAcknowledge,
        ) => true,
        Ok(ApiKey::Produce) => version >= 10,
        Ok(ApiKey::Fetch) => version >= 16,
        _ => false,
    }
}

/// The APIs whose responses the gateway decodes, and the requests a
/// switching gateway reads groups from: their versions are capped in
/// ApiVersions to what `kafka-protocol` decodes.
const DECODED: [ApiKey; 16] = [
    ApiKey::ApiVersions,
    ApiKey::Metadata,
    ApiKey::FindCoordinator,
    ApiKey::DescribeCluster,
    ApiKey::Produce,
    ApiKey::Fetch,
    ApiKey::ShareFetch,
    ApiKey::ShareAcknowledge,
    ApiKey::JoinGroup,
    ApiKey::SyncGroup,
    ApiKey::Heartbeat,
    ApiKey::LeaveGroup,
    ApiKey::OffsetCommit,
    ApiKey::OffsetFetch,
    ApiKey::TxnOffsetCommit,
    ApiKey::ConsumerGroupHeartbeat,
];

/// Rewrites a response's `node_endpoints` (KIP-951); true when any.
macro_rules! endpoints {
    ($m:expr, $advertise:expr) => {{
        for e in &mut $m.node_endpoints {
            (e.host, e.port) = gateway($advertise, *e.node_id, &e.host, e.port);
        }
        !$m.node_endpoints.is_empty()
    }};
}

/// Edits one response. `body` is the frame without its length prefix
/// (header and message). Returns the new frame with its length prefix, or
/// `None` when the original bytes are to be forwarded.
pub(crate) fn rewrite_response(
    api_key: i16,
    version: i16,
    body: Bytes,
    advertise: &dyn Advertise,
) -> Result<Option<Bytes>, RewriteError> {
    let Ok(api) = ApiKey::try_from(api_key) else {
        return Ok(None);
    };
    match api {
        ApiKey::ApiVersions => edit::<ApiVersionsResponse>(api, version, body, cap_versions),
        ApiKey::Metadata => edit::<MetadataResponse>(api, version, body, |m| {
            for b in &mut m.brokers {
                (b.host, b.port) = gateway(advertise, *b.node_id, &b.host, b.port);
            }
            !m.brokers.is_empty()
        }),
        ApiKey::FindCoordinator => edit::<FindCoordinatorResponse>(api, version, body, |m| {
            let mut changed = false;
            // v0-3 name one coordinator; v4+ a list (the single fields
            // must then stay at their defaults, or encoding fails).
            if version < 4 && *m.node_id >= 0 {
                (m.host, m.port) = gateway(advertise, *m.node_id, &m.host, m.port);
                changed = true;
            }
            for c in m.coordinators.iter_mut().filter(|c| *c.node_id >= 0) {
                (c.host, c.port) = gateway(advertise, *c.node_id, &c.host, c.port);
                changed = true;
            }
            changed
        }),
        ApiKey::DescribeCluster => edit::<DescribeClusterResponse>(api, version, body, |m| {
            for b in &mut m.brokers {
                (b.host, b.port) = gateway(advertise, *b.broker_id, &b.host, b.port);
            }
            !m.brokers.is_empty()
        }),
        ApiKey::Produce if version >= 10 => {
            edit::<ProduceResponse>(api, version, body, |m| endpoints!(m, advertise))
        }
        ApiKey::Fetch if version >= 16 => {
            edit::<FetchResponse>(api, version, body, |m| endpoints!(m, advertise))
        }
        ApiKey::ShareFetch => {
            edit::<ShareFetchResponse>(api, version, body, |m| endpoints!(m, advertise))
        }
        ApiKey::ShareAcknowledge => {
            edit::<ShareAcknowledgeResponse>(api, version, body, |m| endpoints!(m, advertise))
        }
        _ => Ok(None),
    }
}

fn gateway(advertise: &dyn Advertise, node_id: i32, host: &StrBytes, port: i32) -> (StrBytes, i32) {
    let (host, port) = advertise.advertise(node_id, host, port);
    (StrBytes::from_string(host), port)
}

/// Caps the versions of the decoded APIs to what `kafka-protocol` can
/// decode; APIs it does not know keep the upstream's versions.
fn cap_versions(m: &mut ApiVersionsResponse) -> bool {
    let mut changed = false;
    for entry in &mut m.api_keys {
        let Ok(api) = ApiKey::try_from(entry.api_key) else {
            continue;
        };
        if !DECODED.contains(&api) {
            continue;
        }
        let max = api.valid_versions().max;
        if entry.max_version > max {
            entry.max_version = max;
            changed = true;
        }
    }
    changed
}

/// Decodes a response, lets `change` edit it and re-encodes it when it says
/// it changed something.
fn edit<M: Decodable + Encodable>(
    api: ApiKey,
    version: i16,
    body: Bytes,
    change: impl FnOnce(&mut M) -> bool,
) -> Result<Option<Bytes>, RewriteError> {
    let fail = |action, e: anyhow::Error| RewriteError {
        api,
        version,
        action,
        message: e.to_string(),
    };
    let header_version = api.response_header_version(version);
    let mut buf = body;
    let header = ResponseHeader::decode(&mut buf, header_version).map_err(|e| fail("decode", e))?;
    let mut message = M::decode(&mut buf, version).map_err(|e| fail("decode", e))?;
    if !change(&mut message) {
        return Ok(None);
    }
    let size = header
        .compute_size(header_version)
        .and_then(|h| Ok(h + message.compute_size(version)?))
        .map_err(|e| fail("encode", e))?;
    let mut out = BytesMut::with_capacity(4 + size);
    out.put_u32(u32::try_from(size).map_err(|e| fail("encode", e.into()))?);
    header
        .encode(&mut out, header_version)
        .and_then(|()| message.encode(&mut out, version))
        .map_err(|e| fail("encode", e))?;
    Ok(Some(out.freeze()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::BrokerId;
    use kafka_protocol::messages::api_versions_response::ApiVersion;
    use kafka_protocol::messages::find_coordinator_response::Coordinator;
    use kafka_protocol::messages::metadata_response::MetadataResponseBroker;
    use kafka_protocol::protocol::HeaderVersion;

    /// Maps node N to gw:9000+N.
    struct Fixed;
    impl Advertise for Fixed {
        fn advertise(&self, node_id: i32, _host: &str, _port: i32) -> (String, i32) {
            ("gw".into(), 9000 + node_id)
        }
    }

    fn frame<M: Encodable + HeaderVersion>(m: &M, version: i16) -> Bytes {
        let hv = M::header_version(version);
        let header = ResponseHeader::default().with_correlation_id(7);
        let mut out = BytesMut::new();
        header.encode(&mut out, hv).unwrap();
        m.encode(&mut out, version).unwrap();
        out.freeze()
    }

    fn decode<M: Decodable + HeaderVersion>(mut framed: Bytes, version: i16) -> (i32, M) {
        let len = u32::from_be_bytes(framed[..4].try_into().unwrap()) as usize;
        assert_eq!(len, framed.len() - 4);
        let _ = framed.split_to(4);
        let header = ResponseHeader::decode(&mut framed, M::header_version(version)).unwrap();
        (
            header.correlation_id,
            M::decode(&mut framed, version).unwrap(),
        )
    }

    #[test]
    fn metadata_brokers_get_gateway_addresses_at_every_version() {
        for version in 0..=13 {
            let m = MetadataResponse::default().with_brokers(vec![
                MetadataResponseBroker::default()
                    .with_node_id(BrokerId(1))
                    .with_host(StrBytes::from_static_str("b1.internal"))
                    .with_port(9092),
                MetadataResponseBroker::default()
                    .with_node_id(BrokerId(2))
                    .with_host(StrBytes::from_static_str("b2.internal"))
                    .with_port(9092),
            ]);
            let out = rewrite_response(3, version, frame(&m, version), &Fixed)
                .unwrap()
                .unwrap();
            let (corr, m): (_, MetadataResponse) = decode(out, version);
            assert_eq!(corr, 7);
            let addrs: Vec<_> = m
                .brokers
                .iter()
                .map(|b| (b.host.to_string(), b.port))
                .collect();
            assert_eq!(addrs, [("gw".to_owned(), 9001), ("gw".to_owned(), 9002)]);
        }
    }

    #[test]
    fn find_coordinator_old_and_batched_forms() {
        let old = FindCoordinatorResponse::default()
            .with_node_id(BrokerId(3))
            .with_host(StrBytes::from_static_str("b3"))
            .with_port(1);
        let (_, m): (_, FindCoordinatorResponse) = decode(
            rewrite_response(10, 2, frame(&old, 2), &Fixed)
                .unwrap()
                .unwrap(),
            2,
        );
        assert_eq!((m.host.to_string(), m.port), ("gw".into(), 9003));

        let batched = FindCoordinatorResponse::default().with_coordinators(vec![
            Coordinator::default()
                .with_node_id(BrokerId(2))
                .with_host(StrBytes::from_static_str("b2"))
                .with_port(1),
            // A key without a coordinator yet (error) keeps its -1.
            Coordinator::default()
                .with_node_id(BrokerId(-1))
                .with_port(-1),
        ]);
        let (_, m): (_, FindCoordinatorResponse) = decode(
            rewrite_response(10, 6, frame(&batched, 6), &Fixed)
                .unwrap()
                .unwrap(),
            6,
        );
        assert_eq!(m.coordinators[0].port, 9002);
        assert_eq!(m.coordinators[1].port, -1);
    }

    #[test]
    fn produce_without_node_endpoints_passes_through_unchanged() {
        let m = ProduceResponse::default();
        assert!(
            rewrite_response(0, 11, frame(&m, 11), &Fixed)
                .unwrap()
                .is_none()
        );
        assert!(!needs_decode(0, 9));
        assert!(!needs_decode(1, 15));
        assert!(needs_decode(1, 16));
        assert!(!needs_decode(19, 7), "CreateTopics is never decoded");
    }

    #[test]
    fn api_versions_are_capped_for_decoded_apis_only() {
        let m = ApiVersionsResponse::default().with_api_keys(vec![
            ApiVersion::default().with_api_key(3).with_max_version(99),
            ApiVersion::default().with_api_key(19).with_max_version(99),
            ApiVersion::default().with_api_key(1).with_max_version(17),
            ApiVersion::default().with_api_key(999).with_max_version(5),
        ]);
        let (_, m): (_, ApiVersionsResponse) = decode(
            rewrite_response(18, 3, frame(&m, 3), &Fixed)
                .unwrap()
                .unwrap(),
            3,
        );
        let max: Vec<_> = m
            .api_keys
            .iter()
            .map(|k| (k.api_key, k.max_version))
            .collect();
        assert_eq!(max, [(3, 13), (19, 99), (1, 17), (999, 5)]);
    }

    #[test]
    fn a_truncated_response_is_an_error_naming_the_api() {
        let e = rewrite_response(3, 12, Bytes::from_static(&[0, 0, 0, 7, 0]), &Fixed).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("cannot decode a Metadata v12 response"),
            "{e}"
        );
    }
}
