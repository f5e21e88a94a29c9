//! The provenance header every copied record carries:
//! `kcp.provenance: v1;<source cluster id>;<topic>;<partition>;<offset>`.
//!
//! `;` appears neither in Kafka topic names nor in cluster ids, so the text
//! form stays unambiguous and readable in any console. It lets the
//! replicator find, after a crash, the last source offset that really landed
//! on the target, rebuild the offset map from the target alone, and skip
//! records that came from the cluster it writes to (no replication cycles).

/// Header key.
pub const HEADER: &str = "kcp.provenance";

/// Where a copied record came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    pub cluster_id: String,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

impl Provenance {
    /// The header value.
    pub fn encode(&self) -> String {
        Self::header_value(&self.cluster_id, &self.topic, self.partition, self.offset)
    }

    /// The header value of a copy, from borrowed parts (the per-record
    /// path builds no `Provenance`).
    pub fn header_value(cluster_id: &str, topic: &str, partition: i32, offset: i64) -> String {
        let mut out = String::new();
        Self::write_header_value(&mut out, cluster_id, topic, partition, offset);
        out
    }

    /// Writes the header value of a copy into `out`, replacing what it
    /// held: the copy loop reuses one buffer, and spells the numbers out
    /// without `core::fmt` (this runs once per record).
    pub fn write_header_value(
        out: &mut String,
        cluster_id: &str,
        topic: &str,
        partition: i32,
        offset: i64,
    ) {
        out.clear();
        out.push_str("v1;");
        out.push_str(cluster_id);
        out.push(';');
        out.push_str(topic);
        out.push(';');
        push_decimal(out, i64::from(partition));
        out.push(';');
        push_decimal(out, offset);
    }

    /// Parses a header value; `None` for anything else.
    pub fn decode(value: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(value).ok()?;
        let mut parts = text.split(';');
        if parts.next()? != "v1" {
            return None;
        }
        let cluster_id = parts.next()?.to_owned();
        let topic = parts.next()?.to_owned();
        let partition = parts.next()?.parse().ok()?;
        let offset = parts.next()?.parse().ok()?;
        if parts.next().is_some() || cluster_id.is_empty() || topic.is_empty() {
            return None;
        }
        Some(Provenance {
            cluster_id,
            topic,
            partition,
            offset,
        })
    }

    /// Decodes the newest provenance header among a record's headers: the
    /// last one. A record copied more than once (a chained migration, A to
    /// B then B to C) keeps every hop's header in order, each copy adding
    /// its own at the end.
    pub fn find<'a>(
        headers: impl IntoIterator<Item = (&'a str, Option<&'a [u8]>)>,
    ) -> Option<Self> {
        Self::all(headers).last()
    }

    /// Whether any provenance header names `cluster_id`: the record was
    /// copied from that cluster at some hop.
    pub fn names<'a>(
        headers: impl IntoIterator<Item = (&'a str, Option<&'a [u8]>)>,
        cluster_id: &str,
    ) -> bool {
        Self::all(headers).any(|p| p.cluster_id == cluster_id)
    }

    fn all<'a>(
        headers: impl IntoIterator<Item = (&'a str, Option<&'a [u8]>)>,
    ) -> impl Iterator<Item = Self> {
        headers
            .into_iter()
            .filter(|(k, _)| *k == HEADER)
            .filter_map(|(_, v)| v.and_then(Self::decode))
    }
}

/// Appends `n` in decimal.
fn push_decimal(out: &mut String, n: i64) {
    if n < 0 {
        out.push('-');
    }
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = n.unsigned_abs();
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    for &d in &digits[at..] {
        out.push(char::from(d));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_hop_is_the_last_header_and_any_hop_names_a_cluster() {
        let headers = [
            ("trace", Some(&b"x"[..])),
            (HEADER, Some(&b"v1;cluster-a;orders;0;7"[..])),
            (HEADER, Some(&b"not provenance"[..])),
            (HEADER, Some(&b"v1;cluster-b;orders;0;42"[..])),
        ];
        let newest = Provenance::find(headers).unwrap();
        assert_eq!(
            (newest.cluster_id.as_str(), newest.offset),
            ("cluster-b", 42)
        );
        assert!(Provenance::names(headers, "cluster-a"));
        assert!(!Provenance::names(headers, "cluster-c"));
    }

    #[test]
    fn round_trip() {
        let p = Provenance {
            cluster_id: "Xk3v9Q-T9mJ_8f".into(),
            topic: "orders.v1-eu".into(),
            partition: 7,
            offset: 1_234_567,
        };
        assert_eq!(p.encode(), "v1;Xk3v9Q-T9mJ_8f;orders.v1-eu;7;1234567");
        assert_eq!(Provenance::decode(p.encode().as_bytes()), Some(p.clone()));
        let encoded = p.encode();
        let headers = [
            ("trace", Some(&b"x"[..])),
            (HEADER, Some(encoded.as_bytes())),
        ];
        assert_eq!(Provenance::find(headers), Some(p));
    }

    #[test]
    fn the_written_value_is_the_formatted_one() {
        let mut buf = String::from("left over");
        for (partition, offset) in [(0, 0), (7, 1_234_567), (-1, -1001), (i32::MAX, i64::MAX)] {
            Provenance::write_header_value(&mut buf, "Xk3v9Q", "orders.v1-eu", partition, offset);
            assert_eq!(buf, format!("v1;Xk3v9Q;orders.v1-eu;{partition};{offset}"));
        }
        assert_eq!(
            Provenance::header_value("c", "t", 3, i64::MIN),
            format!("v1;c;t;3;{}", i64::MIN)
        );
    }

    #[test]
    fn rejects_foreign_values() {
        for bad in [
            "",
            "v2;a;t;0;1",
            "v1;a;t;x;1",
            "v1;;t;0;1",
            "v1;a;t;0;1;extra",
            "v1;a;t;0",
        ] {
            assert_eq!(Provenance::decode(bad.as_bytes()), None, "{bad}");
        }
        assert_eq!(Provenance::decode(&[0xff, 0xfe]), None);
    }
}
