//! Producer ids across two clusters (pure). A cluster numbers the ids it
//! gives idempotent producers from 0, so the id a producer got from the
//! source may be another producer's on the target, where the broker would
//! take the switched producer's sequence numbers for that producer's (a
//! batch whose sequence matches one of the other's is acknowledged as a
//! duplicate and never written). librdkafka never asks for a new id (on
//! an error it bumps its epoch itself), so the gateway asks the target for
//! an id for each switched producer (`init_producer_id_request`) and
//! writes it into the record batches of the producer's Produce requests
//! (`rewrite_produce`), recomputing each batch's CRC.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, InitProducerIdRequest, InitProducerIdResponse, ProduceRequest, ProducerId,
    RequestHeader, ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

/// Where a record batch (magic 2) keeps its CRC, what the CRC covers (from
/// the attributes to the end) and where the producer id is.
const CRC_AT: usize = 17;
const CRC_FROM: usize = 21;
const MAGIC_AT: usize = 16;
const PRODUCER_ID_AT: usize = 43;
const BATCH_HEADER: usize = 61;
/// The InitProducerId version the gateway sends (Kafka 2.4 and later).
const INIT_VERSION: i16 = 2;

/// The producer id of an idempotent, non-transactional Produce request
/// (`frame`, length prefix included): its first record batch's. `None` for
/// a transactional one, one without a producer id, or no Produce request.
pub(crate) fn idempotent_producer_id(frame: &Bytes, version: i16) -> Option<i64> {
    let (_, request) = decode_produce(frame, version)?;
    if request.transactional_id.is_some() {
        return None;
    }
    let id = request
        .topic_data
        .iter()
        .flat_map(|t| &t.partition_data)
        .find_map(|p| p.records.as_ref())
        .and_then(|r| r.get(PRODUCER_ID_AT..PRODUCER_ID_AT + 8))
        .map(|b| i64::from_be_bytes(b.try_into().unwrap_or([0xff; 8])))?;
    (id >= 0).then_some(id)
}

fn decode_produce(frame: &Bytes, version: i16) -> Option<(RequestHeader, ProduceRequest)> {
    let mut buf = frame.slice(4..);
    let header =
        RequestHeader::decode(&mut buf, ApiKey::Produce.request_header_version(version)).ok()?;
    let request = ProduceRequest::decode(&mut buf, version).ok()?;
    Some((header, request))
}

/// The Produce request with `producer_id` in every record batch (CRCs
/// recomputed); `None` when it cannot be decoded or re-encoded.
pub(crate) fn rewrite_produce(frame: &Bytes, version: i16, producer_id: i64) -> Option<Bytes> {
    let (header, mut request) = decode_produce(frame, version)?;
    for partition in request
        .topic_data
        .iter_mut()
        .flat_map(|t| t.partition_data.iter_mut())
    {
        if let Some(records) = &partition.records {
            partition.records = Some(rewrite_batches(records, producer_id)?);
        }
    }
    let header_version = ApiKey::Produce.request_header_version(version);
    let size = header.compute_size(header_version).ok()? + request.compute_size(version).ok()?;
    let mut out = BytesMut::with_capacity(4 + size);
    bytes::BufMut::put_u32(&mut out, u32::try_from(size).ok()?);
    header.encode(&mut out, header_version).ok()?;
    request.encode(&mut out, version).ok()?;
    Some(out.freeze())
}

/// Every batch of `records` with `producer_id` and its CRC recomputed.
fn rewrite_batches(records: &Bytes, producer_id: i64) -> Option<Bytes> {
    let mut out = BytesMut::from(&records[..]);
    let mut at = 0;
    while at + BATCH_HEADER <= out.len() {
        let length = i32::from_be_bytes(out[at + 8..at + 12].try_into().ok()?);
        let end = at + 12 + usize::try_from(length).ok()?;
        if end > out.len() || out[at + MAGIC_AT] != 2 {
            return None;
        }
        let batch = &mut out[at..end];
        batch[PRODUCER_ID_AT..PRODUCER_ID_AT + 8].copy_from_slice(&producer_id.to_be_bytes());
        let crc = crc32c::crc32c(&batch[CRC_FROM..]);
        batch[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
        at = end;
    }
    Some(out.freeze())
}

/// An InitProducerId request for a new idempotent producer id, with its
/// length prefix.
pub(crate) fn init_producer_id_request(correlation_id: i32) -> Option<Bytes> {
    let header = RequestHeader::default()
        .with_request_api_key(ApiKey::InitProducerId as i16)
        .with_request_api_version(INIT_VERSION)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("kcp-gateway")));
    let body = InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_transaction_timeout_ms(i32::MAX)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    let header_version = ApiKey::InitProducerId.request_header_version(INIT_VERSION);
    let size = header.compute_size(header_version).ok()? + body.compute_size(INIT_VERSION).ok()?;
    let mut out = BytesMut::with_capacity(4 + size);
    bytes::BufMut::put_u32(&mut out, u32::try_from(size).ok()?);
    header.encode(&mut out, header_version).ok()?;
    body.encode(&mut out, INIT_VERSION).ok()?;
    Some(out.freeze())
}

/// The producer id of an InitProducerId response (length prefix
/// included) to [`init_producer_id_request`]; the error code otherwise.
pub(crate) fn init_producer_id_response(frame: &Bytes) -> Result<i64, i16> {
    let mut buf = frame.slice(4..);
    let header_version = ApiKey::InitProducerId.response_header_version(INIT_VERSION);
    ResponseHeader::decode(&mut buf, header_version).map_err(|_| -1i16)?;
    let r = InitProducerIdResponse::decode(&mut buf, INIT_VERSION).map_err(|_| -1i16)?;
    if r.error_code != 0 {
        return Err(r.error_code);
    }
    Ok(r.producer_id.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::TopicName;
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::protocol::HeaderVersion;
    use kafka_protocol::records::{
        Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions,
        TimestampType,
    };

    fn records(producer_id: i64) -> Bytes {
        let record = |offset: i64| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id,
            producer_epoch: 0,
            timestamp_type: TimestampType::Creation,
            offset,
            sequence: offset as i32,
            timestamp: 0,
            key: Some(Bytes::from_static(b"k")),
            value: Some(Bytes::from(format!("v{offset}"))),
            headers: Default::default(),
        };
        let mut out = BytesMut::new();
        let options = RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        };
        RecordBatchEncoder::encode(&mut out, &[record(0), record(1)], &options).unwrap();
        out.freeze()
    }

    fn frame(request: &ProduceRequest, version: i16) -> Bytes {
        let header = RequestHeader::default()
            .with_request_api_key(0)
            .with_request_api_version(version)
            .with_correlation_id(9)
            .with_client_id(Some(StrBytes::from_static_str("app")));
        let mut msg = BytesMut::new();
        header
            .encode(&mut msg, ProduceRequest::header_version(version))
            .unwrap();
        request.encode(&mut msg, version).unwrap();
        let mut out = BytesMut::new();
        bytes::BufMut::put_u32(&mut out, msg.len() as u32);
        out.extend_from_slice(&msg);
        out.freeze()
    }

    fn produce(producer_id: i64) -> ProduceRequest {
        ProduceRequest::default()
            .with_acks(-1)
            .with_topic_data(vec![
                TopicProduceData::default()
                    .with_name(TopicName(StrBytes::from_static_str("orders")))
                    .with_partition_data(vec![
                        PartitionProduceData::default()
                            .with_index(0)
                            .with_records(Some(records(producer_id))),
                    ]),
            ])
    }

    #[test]
    fn a_produce_request_gets_another_producer_id_and_valid_batches() {
        for version in [3, 9, 10, 13] {
            let f = frame(&produce(0), version);
            assert_eq!(idempotent_producer_id(&f, version), Some(0));
            let rewritten = rewrite_produce(&f, version, 4242).unwrap();
            assert_eq!(idempotent_producer_id(&rewritten, version), Some(4242));
            let (header, request) = decode_produce(&rewritten, version).unwrap();
            assert_eq!(header.correlation_id, 9);
            let mut batch = request.topic_data[0].partition_data[0]
                .records
                .clone()
                .unwrap();
            // The decoder checks the CRC.
            let decoded = RecordBatchDecoder::decode(&mut batch).unwrap();
            let values: Vec<_> = decoded
                .records
                .iter()
                .map(|r| (r.producer_id, r.sequence, r.value.clone().unwrap()))
                .collect();
            assert_eq!(
                values,
                [
                    (4242, 0, Bytes::from_static(b"v0")),
                    (4242, 1, Bytes::from_static(b"v1"))
                ],
                "v{version}"
            );
        }
        assert_eq!(idempotent_producer_id(&frame(&produce(-1), 9), 9), None);
    }

    #[test]
    fn an_init_producer_id_round_trip() {
        let request = init_producer_id_request(-7).unwrap();
        let len = u32::from_be_bytes(request[..4].try_into().unwrap()) as usize;
        assert_eq!(len, request.len() - 4);
        let response = InitProducerIdResponse::default().with_producer_id(ProducerId(12));
        let mut msg = BytesMut::new();
        ResponseHeader::default()
            .with_correlation_id(-7)
            .encode(
                &mut msg,
                ApiKey::InitProducerId.response_header_version(INIT_VERSION),
            )
            .unwrap();
        response.encode(&mut msg, INIT_VERSION).unwrap();
        let mut out = BytesMut::new();
        bytes::BufMut::put_u32(&mut out, msg.len() as u32);
        out.extend_from_slice(&msg);
        assert_eq!(init_producer_id_response(&out.freeze()), Ok(12));
    }
}
