//! What a request says about its client, for routing (pure): the client id
//! of every request, and the groups and topics of the few requests that
//! name them, decoded with the `kafka-protocol` crate. Only a gateway with
//! a target cluster reads this much; the transparent one reads the first
//! 8 bytes (`frame.rs`).

use bytes::Bytes;
use kafka_protocol::messages::{
    ApiKey, ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse, FindCoordinatorRequest,
    HeartbeatRequest, HeartbeatResponse, JoinGroupRequest, LeaveGroupRequest, MetadataRequest,
    OffsetCommitRequest, OffsetFetchRequest, RequestHeader, ResponseHeader, SyncGroupRequest,
    TxnOffsetCommitRequest,
};
use kafka_protocol::protocol::{Decodable, Encodable};

/// The groups and topics a request names.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Names {
    pub(crate) client_id: String,
    pub(crate) groups: Vec<String>,
    pub(crate) topics: Vec<String>,
}

/// How a request is served when its client's route is not the
/// connection's cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Connection set-up (ApiVersions, SASL): always served where the
    /// connection is, so a client can connect anywhere and then ask for
    /// metadata.
    Setup,
    /// A group's last words (OffsetCommit, LeaveGroup, Heartbeat): served
    /// where the connection is while the client is held (a last commit
    /// lands); a held member's Heartbeat is answered by the gateway.
    Passes,
    /// Everything else: held while the client is, else sent to its route.
    Routed,
}

pub(crate) fn kind(api_key: i16) -> Kind {
    match ApiKey::try_from(api_key) {
        Ok(ApiKey::ApiVersions | ApiKey::SaslHandshake | ApiKey::SaslAuthenticate) => Kind::Setup,
        Ok(ApiKey::OffsetCommit | ApiKey::Heartbeat | ApiKey::LeaveGroup) => Kind::Passes,
        _ => Kind::Routed,
    }
}

/// Reads a request's client id and, for the APIs that name groups or
/// topics, those. `frame` includes the length prefix. `None` when the
/// request cannot be decoded (it is then forwarded on the connection's own
/// cluster, as the transparent gateway would).
pub(crate) fn names(frame: &Bytes, api_key: i16, version: i16) -> Option<Names> {
    let api = ApiKey::try_from(api_key).ok()?;
    let mut buf = frame.slice(4..);
    let header = RequestHeader::decode(&mut buf, api.request_header_version(version)).ok()?;
    let mut names = Names {
        client_id: header.client_id.map(|c| c.to_string()).unwrap_or_default(),
        ..Names::default()
    };
    let group = |g: &kafka_protocol::messages::GroupId| g.0.to_string();
    match api {
        ApiKey::FindCoordinator => {
            let r = FindCoordinatorRequest::decode(&mut buf, version).ok()?;
            // Key type 0 is a group (1 a transactional id, 2 a share group).
            if r.key_type == 0 {
                if version < 4 {
                    names.groups.push(r.key.to_string());
                } else {
                    names
                        .groups
                        .extend(r.coordinator_keys.iter().map(ToString::to_string));
                }
            }
        }
        ApiKey::JoinGroup => names.groups.push(group(
            &JoinGroupRequest::decode(&mut buf, version).ok()?.group_id,
        )),
        ApiKey::SyncGroup => names.groups.push(group(
            &SyncGroupRequest::decode(&mut buf, version).ok()?.group_id,
        )),
        ApiKey::Heartbeat => names.groups.push(group(
            &HeartbeatRequest::decode(&mut buf, version).ok()?.group_id,
        )),
        ApiKey::LeaveGroup => names.groups.push(group(
            &LeaveGroupRequest::decode(&mut buf, version).ok()?.group_id,
        )),
        ApiKey::OffsetCommit => names.groups.push(group(
            &OffsetCommitRequest::decode(&mut buf, version)
                .ok()?
                .group_id,
        )),
        ApiKey::TxnOffsetCommit => names.groups.push(group(
            &TxnOffsetCommitRequest::decode(&mut buf, version)
                .ok()?
                .group_id,
        )),
        ApiKey::ConsumerGroupHeartbeat => names.groups.push(group(
            &ConsumerGroupHeartbeatRequest::decode(&mut buf, version)
                .ok()?
                .group_id,
        )),
        ApiKey::OffsetFetch => {
            let r = OffsetFetchRequest::decode(&mut buf, version).ok()?;
            if version < 8 {
                names.groups.push(group(&r.group_id));
            } else {
                names
                    .groups
                    .extend(r.groups.iter().map(|g| group(&g.group_id)));
            }
        }
        ApiKey::Metadata => {
            let r = MetadataRequest::decode(&mut buf, version).ok()?;
            names.topics.extend(
                r.topics
                    .iter()
                    .flatten()
                    .filter_map(|t| t.name.as_ref().map(|n| n.0.to_string())),
            );
        }
        _ => {}
    }
    Some(names)
}

/// Kafka's REBALANCE_IN_PROGRESS error code.
const REBALANCE_IN_PROGRESS: i16 = 27;

/// Kafka's FENCED_MEMBER_EPOCH error code.
const FENCED_MEMBER_EPOCH: i16 = 110;

/// The gateway's own answer to a Heartbeat request (`frame`, length
/// prefix included): REBALANCE_IN_PROGRESS, which makes the member rejoin.
/// The answer with its length prefix; `None` when the request is not one.
pub(crate) fn rebalance_in_progress(frame: &Bytes, version: i16) -> Option<Bytes> {
    let body = HeartbeatResponse::default().with_error_code(REBALANCE_IN_PROGRESS);
    answer(frame, ApiKey::Heartbeat, version, &body)
}

/// The group and member epoch of a ConsumerGroupHeartbeat (KIP-848):
/// epoch 0 joins, above 0 is a member's heartbeat, below 0 leaves.
pub(crate) fn consumer_heartbeat(frame: &Bytes, version: i16) -> Option<(String, i32)> {
    let mut buf = frame.slice(4..);
    RequestHeader::decode(
        &mut buf,
        ApiKey::ConsumerGroupHeartbeat.request_header_version(version),
    )
    .ok()?;
    let r = ConsumerGroupHeartbeatRequest::decode(&mut buf, version).ok()?;
    Some((r.group_id.0.to_string(), r.member_epoch))
}

/// The gateway's own answer to a ConsumerGroupHeartbeat (KIP-848):
/// FENCED_MEMBER_EPOCH, on which the member gives up its partitions and
/// joins again with epoch 0 (sending its whole subscription), the
/// KIP-848 counterpart of a rejoin. With its length prefix; `None` when
/// the request is not one.
pub(crate) fn fenced_member_epoch(frame: &Bytes, version: i16) -> Option<Bytes> {
    let body = ConsumerGroupHeartbeatResponse::default().with_error_code(FENCED_MEMBER_EPOCH);
    answer(frame, ApiKey::ConsumerGroupHeartbeat, version, &body)
}

/// A response of `api` to the request `frame` (its correlation id),
/// with its length prefix.
fn answer<B: Encodable>(frame: &Bytes, api: ApiKey, version: i16, body: &B) -> Option<Bytes> {
    let mut buf = frame.slice(4..);
    let header = RequestHeader::decode(&mut buf, api.request_header_version(version)).ok()?;
    if header.request_api_key != api as i16 {
        return None;
    }
    let response_header = ResponseHeader::default().with_correlation_id(header.correlation_id);
    let header_version = api.response_header_version(version);
    let size =
        response_header.compute_size(header_version).ok()? + body.compute_size(version).ok()?;
    let mut out = bytes::BytesMut::with_capacity(4 + size);
    bytes::BufMut::put_u32(&mut out, u32::try_from(size).ok()?);
    response_header.encode(&mut out, header_version).ok()?;
    body.encode(&mut out, version).ok()?;
    Some(out.freeze())
}

/// A JoinGroup's group and whether it carries a member id.
pub(crate) fn join_group(frame: &Bytes, version: i16) -> Option<(String, bool)> {
    let mut buf = frame.slice(4..);
    RequestHeader::decode(&mut buf, ApiKey::JoinGroup.request_header_version(version)).ok()?;
    let join = JoinGroupRequest::decode(&mut buf, version).ok()?;
    Some((join.group_id.0.to_string(), !join.member_id.is_empty()))
}

/// The JoinGroup `frame` without its member id: a member id is given by
/// the cluster that answered the member's JoinGroup, and another cluster
/// answers it `UNKNOWN_MEMBER_ID` (after which librdkafka waits about a
/// second before it joins again); with none, it is given one at once.
pub(crate) fn join_as_new_member(frame: &Bytes, version: i16) -> Option<Bytes> {
    let header_version = ApiKey::JoinGroup.request_header_version(version);
    let mut buf = frame.slice(4..);
    let header = RequestHeader::decode(&mut buf, header_version).ok()?;
    let join = JoinGroupRequest::decode(&mut buf, version)
        .ok()?
        .with_member_id(Default::default());
    let size = header.compute_size(header_version).ok()? + join.compute_size(version).ok()?;
    let mut out = bytes::BytesMut::with_capacity(4 + size);
    bytes::BufMut::put_u32(&mut out, u32::try_from(size).ok()?);
    header.encode(&mut out, header_version).ok()?;
    join.encode(&mut out, version).ok()?;
    Some(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{BufMut, BytesMut};
    use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
    use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestGroup;
    use kafka_protocol::messages::{GroupId, TopicName};
    use kafka_protocol::protocol::{Encodable, HeaderVersion, StrBytes};

    fn frame<M: Encodable + HeaderVersion>(api_key: i16, version: i16, m: &M) -> Bytes {
        let header = RequestHeader::default()
            .with_request_api_key(api_key)
            .with_request_api_version(version)
            .with_correlation_id(1)
            .with_client_id(Some(StrBytes::from_static_str("app-1")));
        let mut msg = BytesMut::new();
        header.encode(&mut msg, M::header_version(version)).unwrap();
        m.encode(&mut msg, version).unwrap();
        let mut out = BytesMut::new();
        out.put_u32(msg.len() as u32);
        out.extend_from_slice(&msg);
        out.freeze()
    }

    /// The body of the gateway's own answer `out` (length prefix and
    /// header checked: the request's correlation id, 1).
    fn answered<R: Decodable>(mut out: Bytes, api: ApiKey, version: i16) -> R {
        let len = u32::from_be_bytes(out[..4].try_into().unwrap()) as usize;
        assert_eq!(len, out.len() - 4);
        let _ = out.split_to(4);
        let hv = api.response_header_version(version);
        assert_eq!(
            ResponseHeader::decode(&mut out, hv).unwrap().correlation_id,
            1
        );
        R::decode(&mut out, version).unwrap()
    }

    #[test]
    fn a_join_loses_its_member_id_and_nothing_else() {
        for version in [1, 5, 6, 9] {
            let join = JoinGroupRequest::default()
                .with_group_id(GroupId(s("billing")))
                .with_member_id(s("m-1"))
                .with_protocol_type(s("consumer"))
                .with_session_timeout_ms(45_000);
            let f = frame(11, version, &join);
            assert_eq!(join_group(&f, version), Some(("billing".into(), true)));
            let fresh = join_as_new_member(&f, version).unwrap();
            assert_eq!(join_group(&fresh, version), Some(("billing".into(), false)));
            let names = names(&fresh, 11, version).unwrap();
            assert_eq!(names.client_id, "app-1");
            let mut buf = fresh.slice(4..);
            RequestHeader::decode(&mut buf, ApiKey::JoinGroup.request_header_version(version))
                .unwrap();
            let decoded = JoinGroupRequest::decode(&mut buf, version).unwrap();
            assert_eq!(decoded, join.clone().with_member_id(s("")), "v{version}");
        }
    }

    fn s(v: &'static str) -> StrBytes {
        StrBytes::from_static_str(v)
    }

    #[test]
    fn groups_of_find_coordinator_join_group_and_offset_fetch_at_old_and_new_versions() {
        for version in [0, 3] {
            let r = FindCoordinatorRequest::default().with_key(s("g1"));
            let n = names(&frame(10, version, &r), 10, version).unwrap();
            assert_eq!(
                (n.client_id.as_str(), n.groups),
                ("app-1", vec!["g1".into()])
            );
        }
        let r = FindCoordinatorRequest::default().with_coordinator_keys(vec![s("g1"), s("g2")]);
        assert_eq!(
            names(&frame(10, 4, &r), 10, 4).unwrap().groups,
            ["g1", "g2"]
        );
        let txn = FindCoordinatorRequest::default()
            .with_key_type(1)
            .with_key(s("tx"));
        assert!(names(&frame(10, 3, &txn), 10, 3).unwrap().groups.is_empty());
        for version in [2, 5, 9] {
            let r = JoinGroupRequest::default().with_group_id(GroupId(s("g")));
            assert_eq!(
                names(&frame(11, version, &r), 11, version).unwrap().groups,
                ["g"]
            );
        }
        let old = OffsetFetchRequest::default().with_group_id(GroupId(s("g")));
        assert_eq!(names(&frame(9, 7, &old), 9, 7).unwrap().groups, ["g"]);
        let new = OffsetFetchRequest::default().with_groups(vec![
            OffsetFetchRequestGroup::default().with_group_id(GroupId(s("g"))),
        ]);
        assert_eq!(names(&frame(9, 8, &new), 9, 8).unwrap().groups, ["g"]);
    }

    #[test]
    fn topics_of_metadata_and_none_for_all_topics() {
        for version in [1, 9, 12] {
            let r = MetadataRequest::default().with_topics(Some(vec![
                MetadataRequestTopic::default().with_name(Some(TopicName(s("orders")))),
            ]));
            let n = names(&frame(3, version, &r), 3, version).unwrap();
            assert_eq!(n.topics, ["orders"], "v{version}");
            let all = MetadataRequest::default().with_topics(None);
            assert!(
                names(&frame(3, version, &all), 3, version)
                    .unwrap()
                    .topics
                    .is_empty()
            );
        }
    }

    #[test]
    fn a_heartbeat_is_answered_rebalance_in_progress_at_every_version() {
        for version in 0..=4 {
            let r = HeartbeatRequest::default().with_group_id(GroupId(s("g")));
            let out = rebalance_in_progress(&frame(12, version, &r), version).unwrap();
            let m: HeartbeatResponse = answered(out, ApiKey::Heartbeat, version);
            assert_eq!(m.error_code, 27, "v{version}");
        }
    }

    #[test]
    fn a_kip_848_heartbeat_is_read_and_answered_fenced_at_every_version() {
        for version in 0..=1 {
            let r = ConsumerGroupHeartbeatRequest::default()
                .with_group_id(GroupId(s("g")))
                .with_member_epoch(7);
            let f = frame(68, version, &r);
            assert_eq!(consumer_heartbeat(&f, version), Some(("g".into(), 7)));
            let out = fenced_member_epoch(&f, version).unwrap();
            let m: ConsumerGroupHeartbeatResponse =
                answered(out, ApiKey::ConsumerGroupHeartbeat, version);
            assert_eq!(m.error_code, 110, "v{version}");
        }
        // Not a ConsumerGroupHeartbeat: no answer of that kind.
        let beat = HeartbeatRequest::default().with_group_id(GroupId(s("g")));
        assert!(fenced_member_epoch(&frame(12, 4, &beat), 4).is_none());
    }

    #[test]
    fn kinds() {
        assert_eq!(kind(3), Kind::Routed);
        assert_eq!(kind(18), Kind::Setup);
        assert_eq!(kind(8), Kind::Passes);
        assert_eq!(kind(0), Kind::Routed);
        assert_eq!(kind(1), Kind::Routed);
    }
}
