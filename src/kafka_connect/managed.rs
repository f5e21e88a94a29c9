//! Which self-managed connectors have a Confluent Cloud fully managed
//! counterpart, and what of their config cannot go there (pure). Used by
//! `create-asset connectors --target-type confluent-cloud`.
//!
//! The mapping covers the connector classes kcp knows a managed plugin for
//! (its `connector.class` in Confluent Cloud); the config keys are carried
//! as they are, except those that belong to a self-managed worker (the
//! converters, client overrides, bootstrap servers): Confluent Cloud sets
//! the Kafka side itself (`kafka.auth.mode`, a service account) and the
//! record format with `input.data.format` / `output.data.format`.

use std::collections::BTreeMap;

/// Exact self-managed classes and their managed plugin.
const BY_CLASS: &[(&str, &str)] = &[
    ("io.confluent.connect.s3.S3SinkConnector", "S3_SINK"),
    ("io.confluent.connect.gcs.GcsSinkConnector", "GcsSink"),
    (
        "io.confluent.connect.azure.blob.AzureBlobStorageSinkConnector",
        "AzureBlobSink",
    ),
    (
        "io.confluent.connect.elasticsearch.ElasticsearchSinkConnector",
        "ElasticsearchSink",
    ),
    (
        "com.snowflake.kafka.connector.SnowflakeSinkConnector",
        "SnowflakeSink",
    ),
    (
        "com.mongodb.kafka.connect.MongoSinkConnector",
        "MongoDbAtlasSink",
    ),
    (
        "com.mongodb.kafka.connect.MongoSourceConnector",
        "MongoDbAtlasSource",
    ),
    (
        "io.confluent.kafka.connect.datagen.DatagenConnector",
        "DatagenSource",
    ),
    (
        "io.debezium.connector.postgresql.PostgresConnector",
        "PostgresCdcSourceV2",
    ),
    (
        "io.debezium.connector.mysql.MySqlConnector",
        "MySqlCdcSourceV2",
    ),
    ("io.confluent.connect.http.HttpSinkConnector", "HttpSink"),
];

/// The JDBC connectors: the managed plugin depends on the database, read
/// from `connection.url` (`jdbc:<database>:...`): (prefix, source, sink).
const JDBC: &[(&str, &str, &str)] = &[
    ("jdbc:postgresql:", "PostgresSource", "PostgresSink"),
    ("jdbc:mysql:", "MySqlSource", "MySqlSink"),
    (
        "jdbc:sqlserver:",
        "MicrosoftSqlServerSource",
        "MicrosoftSqlServerSink",
    ),
    ("jdbc:oracle:", "OracleDatabaseSource", "OracleDatabaseSink"),
];

/// The managed plugin for a self-managed connector, or why there is none.
pub fn managed_class(
    class: &str,
    config: &BTreeMap<String, String>,
) -> Result<&'static str, String> {
    if let Some((_, managed)) = BY_CLASS.iter().find(|(c, _)| *c == class) {
        return Ok(managed);
    }
    let sink = match class {
        "io.confluent.connect.jdbc.JdbcSourceConnector" => false,
        "io.confluent.connect.jdbc.JdbcSinkConnector" => true,
        _ => {
            return Err(format!(
                "no Confluent Cloud managed connector is known for `{class}`: run it on a self-managed Connect cluster pointed at the target (the REST JSON beside this folder)"
            ));
        }
    };
    let url = config
        .get("connection.url")
        .map(String::as_str)
        .unwrap_or("");
    JDBC.iter()
        .find(|(prefix, _, _)| url.starts_with(prefix))
        .map(|(_, source, sink_class)| if sink { *sink_class } else { *source })
        .ok_or_else(|| {
            "a JDBC connector whose database Confluent Cloud has no managed connector for (or whose `connection.url` the scan hid as a secret): run it on a self-managed Connect cluster".to_owned()
        })
}

/// Whether a key belongs to the self-managed worker and has no place in a
/// managed connector's config.
pub fn worker_only(key: &str) -> bool {
    key.ends_with("converter")
        || key.contains(".converter.")
        || key.starts_with("producer.override.")
        || key.starts_with("consumer.override.")
        || key.starts_with("admin.override.")
        || key.ends_with("bootstrap.servers")
        || key == "connector.client.config.override.policy"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_map_and_jdbc_goes_by_database() {
        let none = BTreeMap::new();
        assert_eq!(
            managed_class("io.confluent.connect.s3.S3SinkConnector", &none),
            Ok("S3_SINK")
        );
        let pg: BTreeMap<String, String> = [(
            "connection.url".to_owned(),
            "jdbc:postgresql://db/x".to_owned(),
        )]
        .into();
        assert_eq!(
            managed_class("io.confluent.connect.jdbc.JdbcSinkConnector", &pg),
            Ok("PostgresSink")
        );
        assert_eq!(
            managed_class("io.confluent.connect.jdbc.JdbcSourceConnector", &pg),
            Ok("PostgresSource")
        );
        assert!(managed_class("io.confluent.connect.jdbc.JdbcSourceConnector", &none).is_err());
        assert!(
            managed_class(
                "org.apache.kafka.connect.file.FileStreamSourceConnector",
                &none
            )
            .unwrap_err()
            .contains("self-managed")
        );
        assert!(worker_only("value.converter") && worker_only("value.converter.schemas.enable"));
        assert!(worker_only("producer.override.bootstrap.servers"));
        assert!(!worker_only("topics") && !worker_only("s3.bucket.name"));
    }
}
