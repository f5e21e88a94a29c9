//! Admin calls that rust-rdkafka does not wrap, over librdkafka's C admin
//! API (bundled librdkafka 2.12.1): DescribeCluster, DescribeAcls,
//! CreateAcls, DeleteAcls, ListConsumerGroups, DescribeConsumerGroups,
//! ListConsumerGroupOffsets, DeleteConsumerGroupOffsets, ListOffsets,
//! DescribeTopics (topic ids) and IncrementalAlterConfigs (topic configs).
//!
//! This is the only module with `unsafe` code. Every call follows one
//! pattern, kept in [`Pending`]: create a result queue and admin options
//! (with the connection's timeout), start the request, poll the queue once,
//! copy everything out of the result event into owned Rust values, and free
//! the C objects in `Drop`. Nothing borrowed from librdkafka escapes.
//! Requests are started before any is awaited, so many can be in flight at
//! once (one per consumer group, for example).
#![allow(unsafe_code)]

use std::ffi::{CStr, CString, c_char};
use std::ptr;
use std::time::Duration;

use rdkafka::TopicPartitionList;
use rdkafka::bindings as rd;
use rdkafka::consumer::Consumer;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::types::RDKafkaRespErr;

use super::Connection;

/// A failed admin call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminError {
    #[error("{call} did not answer within {}s", timeout.as_secs_f32())]
    Timeout {
        call: &'static str,
        timeout: Duration,
    },
    #[error("{call} failed: {code}: {message}")]
    Failed {
        call: &'static str,
        /// librdkafka's error name, e.g. `SECURITY_DISABLED`, `_TIMED_OUT`.
        code: String,
        message: String,
    },
}

impl AdminError {
    /// The error name (`_TIMED_OUT` for a timeout).
    pub fn code(&self) -> &str {
        match self {
            AdminError::Timeout { .. } => "_TIMED_OUT",
            AdminError::Failed { code, .. } => code,
        }
    }
}

/// A broker as described by DescribeCluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub id: i32,
    pub host: String,
    pub port: u16,
    pub rack: Option<String>,
}

/// The answer to DescribeCluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterDescription {
    pub cluster_id: Option<String>,
    pub controller_id: Option<i32>,
    pub nodes: Vec<Node>,
}

/// An ACL binding as librdkafka names its parts (`TOPIC`, `LITERAL`,
/// `READ`, `ALLOW`); turned into typed state by the scanner.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct RawAcl {
    pub resource_type: String,
    pub resource_name: String,
    pub pattern_type: String,
    pub principal: String,
    pub host: String,
    pub operation: String,
    pub permission: String,
}

/// A group from ListConsumerGroups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    pub group_id: String,
    /// `Stable`, `Empty`, ... or `Unknown`.
    pub state: String,
    /// A group that only commits offsets, with no members ever joining.
    pub simple: bool,
}

/// A member of a described group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberInfo {
    pub member_id: String,
    pub client_id: String,
    pub host: String,
    /// `group.instance.id` of a static member: it stays in the group for
    /// `session.timeout.ms` after its consumer stops.
    pub group_instance_id: Option<String>,
    pub assignment: Vec<(String, i32)>,
}

/// A group from DescribeConsumerGroups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    pub group_id: String,
    pub state: String,
    pub partition_assignor: String,
    pub simple: bool,
    pub members: Vec<MemberInfo>,
    /// Set when this group could not be described.
    pub error: Option<String>,
    /// The Kafka error code's name (`NOT_COORDINATOR`, ...) with `error`.
    pub error_code: Option<String>,
}

/// One partition's answer to ListOffsets or ListConsumerGroupOffsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionOffset {
    pub topic: String,
    pub partition: i32,
    /// The offset, or the partition-level error.
    pub offset: Result<i64, String>,
}

/// Which offset ListOffsets asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpec {
    Earliest,
    /// The high watermark: after the last record written, committed or not.
    Latest,
    /// The last stable offset: where a `read_committed` consumer stops, the
    /// first record of the oldest open transaction (the high watermark when
    /// none is open).
    LastStable,
    /// The first offset whose record's timestamp is at or after this many
    /// milliseconds since the epoch; -1 when there is none.
    Timestamp(i64),
}

/// Describes the cluster: id, controller and brokers with racks.
pub fn describe_cluster(conn: &Connection) -> Result<ClusterDescription, AdminError> {
    let pending = Pending::new(
        conn,
        "DescribeCluster",
        rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBECLUSTER,
    )?;
    // SAFETY: `pending` holds a valid client, options and queue.
    unsafe { rd::rd_kafka_DescribeCluster(pending.rk, pending.options, pending.queue) };
    let event = pending.wait()?;
    // SAFETY: the event is a DescribeCluster result that lives until `event` drops;
    // strings and nodes are copied before that.
    unsafe {
        let result = rd::rd_kafka_event_DescribeCluster_result(event.0);
        if result.is_null() {
            return Err(event.unexpected("DescribeCluster"));
        }
        let mut count = 0usize;
        let nodes = rd::rd_kafka_DescribeCluster_result_nodes(result, &mut count);
        let nodes = slice(nodes, count).iter().map(|n| node(*n)).collect();
        let controller = rd::rd_kafka_DescribeCluster_result_controller(result);
        Ok(ClusterDescription {
            cluster_id: opt_string(rd::rd_kafka_DescribeCluster_result_cluster_id(result)),
            controller_id: (!controller.is_null()).then(|| rd::rd_kafka_Node_id(controller)),
            nodes,
        })
    }
}

/// Lists every ACL binding (a match-all filter).
pub fn describe_acls(conn: &Connection) -> Result<Vec<RawAcl>, AdminError> {
    let pending = Pending::new(
        conn,
        "DescribeAcls",
        rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBEACLS,
    )?;
    let mut errstr = [0 as c_char; 512];
    // SAFETY: a filter with null strings matches everything; it is copied by
    // DescribeAcls and destroyed right after.
    unsafe {
        let filter = rd::rd_kafka_AclBindingFilter_new(
            rd::rd_kafka_ResourceType_t::RD_KAFKA_RESOURCE_ANY,
            ptr::null(),
            rd::rd_kafka_ResourcePatternType_t::RD_KAFKA_RESOURCE_PATTERN_ANY,
            ptr::null(),
            ptr::null(),
            rd::rd_kafka_AclOperation_t::RD_KAFKA_ACL_OPERATION_ANY,
            rd::rd_kafka_AclPermissionType_t::RD_KAFKA_ACL_PERMISSION_TYPE_ANY,
            errstr.as_mut_ptr(),
            errstr.len(),
        );
        if filter.is_null() {
            return Err(AdminError::Failed {
                call: "DescribeAcls",
                code: "_INVALID_ARG".into(),
                message: string(errstr.as_ptr()),
            });
        }
        rd::rd_kafka_DescribeAcls(pending.rk, filter, pending.options, pending.queue);
        rd::rd_kafka_AclBinding_destroy(filter);
    }
    let event = pending.wait()?;
    // SAFETY: the event is a DescribeAcls result; bindings are copied out.
    unsafe {
        let result = rd::rd_kafka_event_DescribeAcls_result(event.0);
        if result.is_null() {
            return Err(event.unexpected("DescribeAcls"));
        }
        let mut count = 0usize;
        let acls = rd::rd_kafka_DescribeAcls_result_acls(result, &mut count);
        Ok(slice(acls, count)
            .iter()
            .map(|&acl| RawAcl {
                resource_type: string(rd::rd_kafka_ResourceType_name(
                    rd::rd_kafka_AclBinding_restype(acl),
                )),
                resource_name: string(rd::rd_kafka_AclBinding_name(acl)),
                pattern_type: string(rd::rd_kafka_ResourcePatternType_name(
                    rd::rd_kafka_AclBinding_resource_pattern_type(acl),
                )),
                principal: string(rd::rd_kafka_AclBinding_principal(acl)),
                host: string(rd::rd_kafka_AclBinding_host(acl)),
                operation: string(rd::rd_kafka_AclOperation_name(
                    rd::rd_kafka_AclBinding_operation(acl),
                )),
                permission: string(rd::rd_kafka_AclPermissionType_name(
                    rd::rd_kafka_AclBinding_permission_type(acl),
                )),
            })
            .collect())
    }
}

/// A `Write` binding on one topic (literal pattern), as kcp creates and
/// deletes it exactly: the producer fence of the cutover.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct TopicWriteAcl {
    pub topic: String,
    /// `User:alice`.
    pub principal: String,
    /// `*` for every host.
    pub host: String,
    /// `DENY` (else `ALLOW`).
    pub deny: bool,
}

impl TopicWriteAcl {
    fn permission(&self) -> rd::rd_kafka_AclPermissionType_t {
        if self.deny {
            rd::rd_kafka_AclPermissionType_t::RD_KAFKA_ACL_PERMISSION_TYPE_DENY
        } else {
            rd::rd_kafka_AclPermissionType_t::RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW
        }
    }

    /// A C binding (or, with `filter`, the filter matching exactly this
    /// binding); the caller destroys it.
    fn to_c(
        &self,
        call: &'static str,
        filter: bool,
    ) -> Result<*mut rd::rd_kafka_AclBinding_t, AdminError> {
        acl_c(
            call,
            filter,
            rd::rd_kafka_ResourceType_t::RD_KAFKA_RESOURCE_TOPIC,
            [&self.topic, &self.principal, &self.host],
            rd::rd_kafka_ResourcePatternType_t::RD_KAFKA_RESOURCE_PATTERN_LITERAL,
            rd::rd_kafka_AclOperation_t::RD_KAFKA_ACL_OPERATION_WRITE,
            self.permission(),
        )
    }
}

impl RawAcl {
    /// A C binding (or, with `filter`, the filter matching exactly this
    /// binding) from librdkafka's names; a name librdkafka cannot send
    /// (`UNKNOWN`, a delegation token) is an `_INVALID_ARG` error.
    fn to_c(
        &self,
        call: &'static str,
        filter: bool,
    ) -> Result<*mut rd::rd_kafka_AclBinding_t, AdminError> {
        use rd::rd_kafka_AclOperation_t as O;
        use rd::rd_kafka_ResourcePatternType_t as P;
        use rd::rd_kafka_ResourceType_t as R;
        let invalid = |what: &str, value: &str| AdminError::Failed {
            call,
            code: "_INVALID_ARG".into(),
            message: format!("librdkafka cannot send the {what} `{value}`"),
        };
        let restype = match self.resource_type.as_str() {
            "TOPIC" => R::RD_KAFKA_RESOURCE_TOPIC,
            "GROUP" => R::RD_KAFKA_RESOURCE_GROUP,
            "BROKER" | "CLUSTER" => R::RD_KAFKA_RESOURCE_BROKER,
            "TRANSACTIONAL_ID" => R::RD_KAFKA_RESOURCE_TRANSACTIONAL_ID,
            other => return Err(invalid("resource type", other)),
        };
        let pattern = match self.pattern_type.as_str() {
            "LITERAL" => P::RD_KAFKA_RESOURCE_PATTERN_LITERAL,
            "PREFIXED" => P::RD_KAFKA_RESOURCE_PATTERN_PREFIXED,
            other => return Err(invalid("pattern type", other)),
        };
        let operation = match self.operation.as_str() {
            "ALL" => O::RD_KAFKA_ACL_OPERATION_ALL,
            "READ" => O::RD_KAFKA_ACL_OPERATION_READ,
            "WRITE" => O::RD_KAFKA_ACL_OPERATION_WRITE,
            "CREATE" => O::RD_KAFKA_ACL_OPERATION_CREATE,
            "DELETE" => O::RD_KAFKA_ACL_OPERATION_DELETE,
            "ALTER" => O::RD_KAFKA_ACL_OPERATION_ALTER,
            "DESCRIBE" => O::RD_KAFKA_ACL_OPERATION_DESCRIBE,
            "CLUSTER_ACTION" => O::RD_KAFKA_ACL_OPERATION_CLUSTER_ACTION,
            "DESCRIBE_CONFIGS" => O::RD_KAFKA_ACL_OPERATION_DESCRIBE_CONFIGS,
            "ALTER_CONFIGS" => O::RD_KAFKA_ACL_OPERATION_ALTER_CONFIGS,
            "IDEMPOTENT_WRITE" => O::RD_KAFKA_ACL_OPERATION_IDEMPOTENT_WRITE,
            other => return Err(invalid("operation", other)),
        };
        let permission = match self.permission.as_str() {
            "ALLOW" => rd::rd_kafka_AclPermissionType_t::RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW,
            "DENY" => rd::rd_kafka_AclPermissionType_t::RD_KAFKA_ACL_PERMISSION_TYPE_DENY,
            other => return Err(invalid("permission", other)),
        };
        acl_c(
            call,
            filter,
            restype,
            [&self.resource_name, &self.principal, &self.host],
            pattern,
            operation,
            permission,
        )
    }
}

/// A C binding or filter (`filter`) of one resource, principal and host;
/// the caller destroys it.
fn acl_c(
    call: &'static str,
    filter: bool,
    restype: rd::rd_kafka_ResourceType_t,
    [name, principal, host]: [&String; 3],
    pattern: rd::rd_kafka_ResourcePatternType_t,
    operation: rd::rd_kafka_AclOperation_t,
    permission: rd::rd_kafka_AclPermissionType_t,
) -> Result<*mut rd::rd_kafka_AclBinding_t, AdminError> {
    let [name, principal, host] =
        [name, principal, host].map(|v| CString::new(v.as_str()).map_err(|_| nul_error(call)));
    let (name, principal, host) = (name?, principal?, host?);
    let mut errstr = [0 as c_char; 512];
    // SAFETY: the strings outlive the call, which copies them.
    let binding = unsafe {
        let new = if filter {
            rd::rd_kafka_AclBindingFilter_new
        } else {
            rd::rd_kafka_AclBinding_new
        };
        new(
            restype,
            name.as_ptr(),
            pattern,
            principal.as_ptr(),
            host.as_ptr(),
            operation,
            permission,
            errstr.as_mut_ptr(),
            errstr.len(),
        )
    };
    if binding.is_null() {
        return Err(AdminError::Failed {
            call,
            code: "_INVALID_ARG".into(),
            message: string(errstr.as_ptr()),
        });
    }
    Ok(binding)
}

/// C bindings or filters, destroyed on drop.
struct Bindings(Vec<*mut rd::rd_kafka_AclBinding_t>);

impl Drop for Bindings {
    fn drop(&mut self) {
        for b in &self.0 {
            // SAFETY: created by `TopicWriteAcl::to_c`, freed only here.
            unsafe { rd::rd_kafka_AclBinding_destroy(*b) };
        }
    }
}

fn bindings<A>(
    acls: &[A],
    to_c: impl Fn(&A) -> Result<*mut rd::rd_kafka_AclBinding_t, AdminError>,
) -> Result<Bindings, AdminError> {
    let mut out = Bindings(Vec::with_capacity(acls.len()));
    for acl in acls {
        out.0.push(to_c(acl)?);
    }
    Ok(out)
}

/// The error of one binding's result, if any.
///
/// # Safety
/// `error` must be null or a live error of a live result event.
unsafe fn binding_error(
    call: &'static str,
    error: *const rd::rd_kafka_error_t,
) -> Result<(), AdminError> {
    if error.is_null() {
        return Ok(());
    }
    // SAFETY: per the contract.
    unsafe {
        Err(AdminError::Failed {
            call,
            code: string(rd::rd_kafka_error_name(error)),
            message: string(rd::rd_kafka_error_string(error)),
        })
    }
}

/// Creates ACL bindings (CreateAcls); the first refused one is the error.
pub fn create_acls(conn: &Connection, acls: &[TopicWriteAcl]) -> Result<(), AdminError> {
    create(conn, bindings(acls, |a| a.to_c(CREATE_ACLS, false))?)
}

/// Creates any ACL bindings, named as [`describe_acls`] names them
/// (CreateAcls); the first refused one is the error.
pub fn create_raw_acls(conn: &Connection, acls: &[RawAcl]) -> Result<(), AdminError> {
    create(conn, bindings(acls, |a| a.to_c(CREATE_ACLS, false))?)
}

const CREATE_ACLS: &str = "CreateAcls";

fn create(conn: &Connection, mut c: Bindings) -> Result<(), AdminError> {
    const CALL: &str = CREATE_ACLS;
    if c.0.is_empty() {
        return Ok(());
    }
    let pending = Pending::new(
        conn,
        CALL,
        rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_CREATEACLS,
    )?;
    // SAFETY: the bindings outlive the call, which copies them.
    unsafe {
        rd::rd_kafka_CreateAcls(
            pending.rk,
            c.0.as_mut_ptr(),
            c.0.len(),
            pending.options,
            pending.queue,
        );
    }
    let event = pending.wait()?;
    // SAFETY: the event is a CreateAcls result; errors are copied out.
    unsafe {
        let result = rd::rd_kafka_event_CreateAcls_result(event.0);
        if result.is_null() {
            return Err(event.unexpected(CALL));
        }
        let mut count = 0usize;
        let results = rd::rd_kafka_CreateAcls_result_acls(result, &mut count);
        for &r in slice(results, count) {
            binding_error(CALL, rd::rd_kafka_acl_result_error(r))?;
        }
    }
    Ok(())
}

/// Deletes exactly these bindings (DeleteAcls with one filter per binding,
/// every field given, the pattern literal); returns how many bindings the
/// cluster removed. A binding already gone is no error.
pub fn delete_acls(conn: &Connection, acls: &[TopicWriteAcl]) -> Result<usize, AdminError> {
    delete(conn, bindings(acls, |a| a.to_c(DELETE_ACLS, true))?)
}

/// Deletes exactly these bindings, named as [`describe_acls`] names them
/// (one filter per binding, every field given); returns how many bindings
/// the cluster removed. A binding already gone is no error.
pub fn delete_raw_acls(conn: &Connection, acls: &[RawAcl]) -> Result<usize, AdminError> {
    delete(conn, bindings(acls, |a| a.to_c(DELETE_ACLS, true))?)
}

const DELETE_ACLS: &str = "DeleteAcls";

fn delete(conn: &Connection, mut c: Bindings) -> Result<usize, AdminError> {
    const CALL: &str = DELETE_ACLS;
    if c.0.is_empty() {
        return Ok(0);
    }
    let pending = Pending::new(
        conn,
        CALL,
        rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DELETEACLS,
    )?;
    // SAFETY: the filters outlive the call, which copies them.
    unsafe {
        rd::rd_kafka_DeleteAcls(
            pending.rk,
            c.0.as_mut_ptr(),
            c.0.len(),
            pending.options,
            pending.queue,
        );
    }
    let event = pending.wait()?;
    // SAFETY: the event is a DeleteAcls result; counts and errors are copied out.
    unsafe {
        let result = rd::rd_kafka_event_DeleteAcls_result(event.0);
        if result.is_null() {
            return Err(event.unexpected(CALL));
        }
        let mut count = 0usize;
        let responses = rd::rd_kafka_DeleteAcls_result_responses(result, &mut count);
        let mut deleted = 0;
        for &r in slice(responses, count) {
            binding_error(CALL, rd::rd_kafka_DeleteAcls_result_response_error(r))?;
            let mut matching = 0usize;
            rd::rd_kafka_DeleteAcls_result_response_matching_acls(r, &mut matching);
            deleted += matching;
        }
        Ok(deleted)
    }
}

/// Lists consumer groups. Returns the groups and the per-broker errors
/// (a broker that could not answer does not hide the others' groups).
pub fn list_consumer_groups(
    conn: &Connection,
) -> Result<(Vec<GroupListing>, Vec<String>), AdminError> {
    let pending = Pending::new(
        conn,
        "ListConsumerGroups",
        rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPS,
    )?;
    // SAFETY: valid client, options and queue.
    unsafe { rd::rd_kafka_ListConsumerGroups(pending.rk, pending.options, pending.queue) };
    let event = pending.wait()?;
    // SAFETY: the event is a ListConsumerGroups result; everything is copied out.
    unsafe {
        let result = rd::rd_kafka_event_ListConsumerGroups_result(event.0);
        if result.is_null() {
            return Err(event.unexpected("ListConsumerGroups"));
        }
        let mut count = 0usize;
        let valid = rd::rd_kafka_ListConsumerGroups_result_valid(result, &mut count);
        let groups = slice(valid, count)
            .iter()
            .map(|&g| GroupListing {
                group_id: string(rd::rd_kafka_ConsumerGroupListing_group_id(g)),
                state: string(rd::rd_kafka_consumer_group_state_name(
                    rd::rd_kafka_ConsumerGroupListing_state(g),
                )),
                simple: rd::rd_kafka_ConsumerGroupListing_is_simple_consumer_group(g) != 0,
            })
            .collect();
        let mut count = 0usize;
        let errors = rd::rd_kafka_ListConsumerGroups_result_errors(result, &mut count);
        let errors = slice(errors, count)
            .iter()
            .map(|&e| string(rd::rd_kafka_error_string(e)))
            .collect();
        Ok((groups, errors))
    }
}

/// Describes consumer groups: state, assignor and members with assignments.
pub fn describe_consumer_groups(
    conn: &Connection,
    group_ids: &[String],
) -> Result<Vec<GroupDescription>, AdminError> {
    if group_ids.is_empty() {
        return Ok(Vec::new());
    }
    let names = c_strings(group_ids, "DescribeConsumerGroups")?;
    let mut pointers: Vec<*const c_char> = names.iter().map(|n| n.as_ptr()).collect();
    let pending = Pending::new(
        conn,
        "DescribeConsumerGroups",
        rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS,
    )?;
    // SAFETY: the names outlive the call, which copies them.
    unsafe {
        rd::rd_kafka_DescribeConsumerGroups(
            pending.rk,
            pointers.as_mut_ptr(),
            pointers.len(),
            pending.options,
            pending.queue,
        );
    }
    let event = pending.wait()?;
    // SAFETY: the event is a DescribeConsumerGroups result; everything is copied out.
    unsafe {
        let result = rd::rd_kafka_event_DescribeConsumerGroups_result(event.0);
        if result.is_null() {
            return Err(event.unexpected("DescribeConsumerGroups"));
        }
        let mut count = 0usize;
        let groups = rd::rd_kafka_DescribeConsumerGroups_result_groups(result, &mut count);
        Ok(slice(groups, count)
            .iter()
            .map(|&g| {
                let error = rd::rd_kafka_ConsumerGroupDescription_error(g);
                let members = (0..rd::rd_kafka_ConsumerGroupDescription_member_count(g))
                    .map(|i| {
                        let m = rd::rd_kafka_ConsumerGroupDescription_member(g, i);
                        let assignment = rd::rd_kafka_MemberDescription_assignment(m);
                        let partitions = if assignment.is_null() {
                            Vec::new()
                        } else {
                            partitions(rd::rd_kafka_MemberAssignment_partitions(assignment))
                                .into_iter()
                                .map(|p| (p.topic, p.partition))
                                .collect()
                        };
                        MemberInfo {
                            member_id: string(rd::rd_kafka_MemberDescription_consumer_id(m)),
                            client_id: string(rd::rd_kafka_MemberDescription_client_id(m)),
                            host: string(rd::rd_kafka_MemberDescription_host(m)),
                            group_instance_id: opt_string(
                                rd::rd_kafka_MemberDescription_group_instance_id(m),
                            )
                            .filter(|id| !id.is_empty()),
                            assignment: partitions,
                        }
                    })
                    .collect();
                GroupDescription {
                    group_id: string(rd::rd_kafka_ConsumerGroupDescription_group_id(g)),
                    state: string(rd::rd_kafka_consumer_group_state_name(
                        rd::rd_kafka_ConsumerGroupDescription_state(g),
                    )),
                    partition_assignor: string(
                        rd::rd_kafka_ConsumerGroupDescription_partition_assignor(g),
                    ),
                    simple: rd::rd_kafka_ConsumerGroupDescription_is_simple_consumer_group(g) != 0,
                    members,
                    error: (!error.is_null()).then(|| string(rd::rd_kafka_error_string(error))),
                    error_code: (!error.is_null()).then(|| string(rd::rd_kafka_error_name(error))),
                }
            })
            .collect())
    }
}

/// Whether a Kafka error code (by name) says a group's coordinator is
/// moving or still loading: asking again soon will do.
pub fn coordinator_not_ready(code: &str) -> bool {
    matches!(
        code,
        "NOT_COORDINATOR" | "COORDINATOR_NOT_AVAILABLE" | "COORDINATOR_LOAD_IN_PROGRESS"
    )
}

/// Waits (up to the connection's timeout) until every group's coordinator
/// answers, and returns the groups whose coordinator never did.
///
/// librdkafka 2.12 crashes the whole process (a NULL dereference,
/// confluentinc/librdkafka#5040, open) when a ListConsumerGroupOffsets
/// answer says NOT_COORDINATOR, which Kafka answers while a coordinator
/// loads: on a cluster that never had a group (the target of a migration),
/// right after a broker restart or a leader move. DescribeConsumerGroups
/// reports the same condition as a per-group error instead, so it is asked
/// first, until the coordinators are ready.
fn coordinators_not_ready(conn: &Connection, group_ids: &[String]) -> Vec<String> {
    let deadline = std::time::Instant::now() + conn.timeout();
    let mut waiting: Vec<String> = group_ids.to_vec();
    while !waiting.is_empty() {
        let Ok(described) = describe_consumer_groups(conn, &waiting) else {
            // Not describable at all (an old broker, a missing ACL): the
            // offsets request reports its own error, as before.
            return Vec::new();
        };
        waiting = described
            .into_iter()
            .filter(|g| g.error_code.as_deref().is_some_and(coordinator_not_ready))
            .map(|g| g.group_id)
            .collect();
        if waiting.is_empty() || std::time::Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    waiting
}

/// Committed offsets of several groups, all requested at once. The result
/// has one entry per group, in order. Groups whose coordinator is not ready
/// within the connection's timeout get an error, and are never asked (see
/// [`coordinators_not_ready`]).
pub fn list_group_offsets(
    conn: &Connection,
    group_ids: &[String],
) -> Vec<Result<Vec<PartitionOffset>, AdminError>> {
    let not_ready = coordinators_not_ready(conn, group_ids);
    let started: Vec<Result<Pending, AdminError>> = group_ids
        .iter()
        .map(|group| {
            if not_ready.contains(group) {
                return Err(AdminError::Failed {
                    call: "ListConsumerGroupOffsets",
                    code: "COORDINATOR_NOT_AVAILABLE".to_owned(),
                    message: format!(
                        "the coordinator of group `{group}` did not become ready within {} s",
                        conn.timeout().as_secs()
                    ),
                });
            }
            let name =
                CString::new(group.as_str()).map_err(|_| nul_error("ListConsumerGroupOffsets"))?;
            let pending = Pending::new(
                conn,
                "ListConsumerGroupOffsets",
                rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS,
            )?;
            // SAFETY: a request for all partitions of one group (librdkafka
            // accepts one group per call); it is copied by the call and
            // destroyed after it.
            unsafe {
                let mut request =
                    rd::rd_kafka_ListConsumerGroupOffsets_new(name.as_ptr(), ptr::null());
                rd::rd_kafka_ListConsumerGroupOffsets(
                    pending.rk,
                    &mut request,
                    1,
                    pending.options,
                    pending.queue,
                );
                rd::rd_kafka_ListConsumerGroupOffsets_destroy(request);
            }
            Ok(pending)
        })
        .collect();
    started
        .into_iter()
        .map(|pending| {
            let event = pending?.wait()?;
            // SAFETY: the event is a ListConsumerGroupOffsets result; copied out.
            unsafe {
                let result = rd::rd_kafka_event_ListConsumerGroupOffsets_result(event.0);
                if result.is_null() {
                    return Err(event.unexpected("ListConsumerGroupOffsets"));
                }
                let mut count = 0usize;
                let groups =
                    rd::rd_kafka_ListConsumerGroupOffsets_result_groups(result, &mut count);
                let mut out = Vec::new();
                for &g in slice(groups, count) {
                    let error = rd::rd_kafka_group_result_error(g);
                    if !error.is_null() {
                        return Err(AdminError::Failed {
                            call: "ListConsumerGroupOffsets",
                            code: string(rd::rd_kafka_error_name(error)),
                            message: string(rd::rd_kafka_error_string(error)),
                        });
                    }
                    out.extend(partitions(rd::rd_kafka_group_result_partitions(g)));
                }
                Ok(out)
            }
        })
        .collect()
}

/// Deletes a group's committed offsets of `partitions_wanted`
/// (OffsetDelete, Kafka 2.4+). The group must have no member subscribed to
/// those topics; a partition-level error fails the call.
pub fn delete_group_offsets(
    conn: &Connection,
    group: &str,
    partitions_wanted: &[(String, i32)],
) -> Result<(), AdminError> {
    const CALL: &str = "DeleteConsumerGroupOffsets";
    if partitions_wanted.is_empty() {
        return Ok(());
    }
    let name = CString::new(group).map_err(|_| nul_error(CALL))?;
    let mut list = TopicPartitionList::with_capacity(partitions_wanted.len());
    for (topic, partition) in partitions_wanted {
        list.add_partition(topic, *partition);
    }
    let pending = Pending::new(
        conn,
        CALL,
        rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DELETECONSUMERGROUPOFFSETS,
    )?;
    // SAFETY: one request (librdkafka accepts one group per call), copied by
    // the call and destroyed after it; the list outlives the call.
    unsafe {
        let mut request = rd::rd_kafka_DeleteConsumerGroupOffsets_new(name.as_ptr(), list.ptr());
        rd::rd_kafka_DeleteConsumerGroupOffsets(
            pending.rk,
            &mut request,
            1,
            pending.options,
            pending.queue,
        );
        rd::rd_kafka_DeleteConsumerGroupOffsets_destroy(request);
    }
    let event = pending.wait()?;
    // SAFETY: the event is a DeleteConsumerGroupOffsets result; copied out.
    let results = unsafe {
        let result = rd::rd_kafka_event_DeleteConsumerGroupOffsets_result(event.0);
        if result.is_null() {
            return Err(event.unexpected(CALL));
        }
        let mut count = 0usize;
        let groups = rd::rd_kafka_DeleteConsumerGroupOffsets_result_groups(result, &mut count);
        let mut out = Vec::new();
        for &g in slice(groups, count) {
            let error = rd::rd_kafka_group_result_error(g);
            if !error.is_null() {
                return Err(AdminError::Failed {
                    call: CALL,
                    code: string(rd::rd_kafka_error_name(error)),
                    message: string(rd::rd_kafka_error_string(error)),
                });
            }
            out.extend(partitions(rd::rd_kafka_group_result_partitions(g)));
        }
        out
    };
    match results
        .into_iter()
        .find_map(|p| p.offset.err().map(|e| (p.topic, p.partition, e)))
    {
        Some((topic, partition, message)) => Err(AdminError::Failed {
            call: CALL,
            code: "PARTITION_ERROR".into(),
            message: format!("{topic}[{partition}]: {message}"),
        }),
        None => Ok(()),
    }
}

/// Earliest or latest offsets of many partitions in one request; librdkafka
/// sends one ListOffsets per partition leader.
pub fn list_offsets(
    conn: &Connection,
    partitions_wanted: &[(String, i32)],
    spec: OffsetSpec,
) -> Result<Vec<PartitionOffset>, AdminError> {
    if partitions_wanted.is_empty() {
        return Ok(Vec::new());
    }
    let offset = match spec {
        OffsetSpec::Earliest => rdkafka::Offset::Beginning,
        OffsetSpec::Latest | OffsetSpec::LastStable => rdkafka::Offset::End,
        // ListOffsets takes a non-negative offset as a timestamp.
        OffsetSpec::Timestamp(ms) => rdkafka::Offset::Offset(ms.max(0)),
    };
    let mut list = TopicPartitionList::with_capacity(partitions_wanted.len());
    for (topic, partition) in partitions_wanted {
        list.add_partition_offset(topic, *partition, offset)
            .map_err(|e| AdminError::Failed {
                call: "ListOffsets",
                code: "_INVALID_ARG".into(),
                message: e.to_string(),
            })?;
    }
    let pending = Pending::new(
        conn,
        "ListOffsets",
        rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_LISTOFFSETS,
    )?;
    if spec == OffsetSpec::LastStable {
        // SAFETY: the options belong to `pending` and outlive the call.
        let err = unsafe {
            rd::rd_kafka_AdminOptions_set_isolation_level(
                pending.options,
                rd::rd_kafka_IsolationLevel_t::RD_KAFKA_ISOLATION_LEVEL_READ_COMMITTED,
            )
        };
        if !err.is_null() {
            // SAFETY: a non-null error from the setter, read then destroyed.
            let message = unsafe {
                let m = string(rd::rd_kafka_error_string(err));
                rd::rd_kafka_error_destroy(err);
                m
            };
            return Err(AdminError::Failed {
                call: "ListOffsets",
                code: "_INVALID_ARG".into(),
                message,
            });
        }
    }
    // SAFETY: the list outlives the call, which copies it.
    unsafe { rd::rd_kafka_ListOffsets(pending.rk, list.ptr(), pending.options, pending.queue) };
    let event = pending.wait()?;
    // SAFETY: the event is a ListOffsets result; copied out.
    unsafe {
        let result = rd::rd_kafka_event_ListOffsets_result(event.0);
        if result.is_null() {
            return Err(event.unexpected("ListOffsets"));
        }
        let mut count = 0usize;
        let infos = rd::rd_kafka_ListOffsets_result_infos(result, &mut count);
        Ok(slice(infos, count)
            .iter()
            .map(|&info| partition(&*rd::rd_kafka_ListOffsetsResultInfo_topic_partition(info)))
            .collect())
    }
}

/// Kafka's id of each of `topics` (base64, as Kafka's tools print it), by
/// DescribeTopics. A topic that does not exist, could not be described, or
/// has no id (a cluster from before topic ids answers the zero id) is left
/// out: its id is unknown, not a mismatch.
pub fn topic_ids(
    conn: &Connection,
    topics: &[String],
) -> Result<std::collections::HashMap<String, String>, AdminError> {
    /// The zero UUID in base64: "no id".
    const NO_ID: &str = "AAAAAAAAAAAAAAAAAAAAAA";
    if topics.is_empty() {
        return Ok(std::collections::HashMap::new());
    }
    let names = c_strings(topics, "DescribeTopics")?;
    let mut pointers: Vec<*const c_char> = names.iter().map(|n| n.as_ptr()).collect();
    let pending = Pending::new(
        conn,
        "DescribeTopics",
        rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBETOPICS,
    )?;
    // SAFETY: the names outlive the collection, which copies them; the
    // collection is copied by DescribeTopics and destroyed right after.
    unsafe {
        let collection =
            rd::rd_kafka_TopicCollection_of_topic_names(pointers.as_mut_ptr(), pointers.len());
        rd::rd_kafka_DescribeTopics(pending.rk, collection, pending.options, pending.queue);
        rd::rd_kafka_TopicCollection_destroy(collection);
    }
    let event = pending.wait()?;
    // SAFETY: the event is a DescribeTopics result; names and ids are
    // copied out before it drops.
    unsafe {
        let result = rd::rd_kafka_event_DescribeTopics_result(event.0);
        if result.is_null() {
            return Err(event.unexpected("DescribeTopics"));
        }
        let mut count = 0usize;
        let described = rd::rd_kafka_DescribeTopics_result_topics(result, &mut count);
        Ok(slice(described, count)
            .iter()
            .filter(|&&d| rd::rd_kafka_TopicDescription_error(d).is_null())
            .filter_map(|&d| {
                let id = rd::rd_kafka_TopicDescription_topic_id(d);
                let id = opt_string((!id.is_null()).then(|| rd::rd_kafka_Uuid_base64str(id))?)?;
                (id != NO_ID).then(|| (string(rd::rd_kafka_TopicDescription_name(d)), id))
            })
            .collect())
    }
}

/// One change of a topic config: set to a value, or deleted (back to the
/// cluster's default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicConfigChange {
    pub topic: String,
    pub name: String,
    /// `None`: delete.
    pub value: Option<String>,
}

/// Changes topic configs (IncrementalAlterConfigs: only the configs named
/// change). Returns one result per change, in order: `Err` with the
/// broker's reason when it refused that topic's change. A topic may appear
/// once per call (Kafka refuses a request naming a resource twice).
pub fn alter_topic_configs(
    conn: &Connection,
    changes: &[TopicConfigChange],
) -> Result<Vec<Result<(), String>>, AdminError> {
    const CALL: &str = "IncrementalAlterConfigs";
    if changes.is_empty() {
        return Ok(Vec::new());
    }
    let strings = changes
        .iter()
        .map(|c| {
            let value = c.value.clone().unwrap_or_default();
            c_strings(&[c.topic.clone(), c.name.clone(), value], CALL)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut resources = ConfigResources(Vec::with_capacity(changes.len()));
    for (change, s) in changes.iter().zip(&strings) {
        use rd::rd_kafka_AlterConfigOpType_t as Op;
        let op = if change.value.is_some() {
            Op::RD_KAFKA_ALTER_CONFIG_OP_TYPE_SET
        } else {
            Op::RD_KAFKA_ALTER_CONFIG_OP_TYPE_DELETE
        };
        // SAFETY: the strings outlive the calls, which copy them; the
        // resource is owned by `resources` from here on.
        unsafe {
            let r = rd::rd_kafka_ConfigResource_new(
                rd::rd_kafka_ResourceType_t::RD_KAFKA_RESOURCE_TOPIC,
                s[0].as_ptr(),
            );
            resources.0.push(r);
            let value = if change.value.is_some() {
                s[2].as_ptr()
            } else {
                ptr::null()
            };
            let error =
                rd::rd_kafka_ConfigResource_add_incremental_config(r, s[1].as_ptr(), op, value);
            if !error.is_null() {
                let e = AdminError::Failed {
                    call: CALL,
                    code: string(rd::rd_kafka_error_name(error)),
                    message: string(rd::rd_kafka_error_string(error)),
                };
                rd::rd_kafka_error_destroy(error);
                return Err(e);
            }
        }
    }
    let pending = Pending::new(
        conn,
        CALL,
        rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_INCREMENTALALTERCONFIGS,
    )?;
    // SAFETY: the resources outlive the call, which copies them.
    unsafe {
        rd::rd_kafka_IncrementalAlterConfigs(
            pending.rk,
            resources.0.as_mut_ptr(),
            resources.0.len(),
            pending.options,
            pending.queue,
        );
    }
    let event = pending.wait()?;
    // SAFETY: the event is an IncrementalAlterConfigs result; names and
    // errors are copied out before it drops.
    unsafe {
        let result = rd::rd_kafka_event_IncrementalAlterConfigs_result(event.0);
        if result.is_null() {
            return Err(event.unexpected(CALL));
        }
        let mut count = 0usize;
        let answered = rd::rd_kafka_IncrementalAlterConfigs_result_resources(result, &mut count);
        let outcome: std::collections::HashMap<String, Result<(), String>> = slice(answered, count)
            .iter()
            .map(|&r| {
                let err = rd::rd_kafka_ConfigResource_error(r);
                let name = string(rd::rd_kafka_ConfigResource_name(r));
                if err == RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR {
                    (name, Ok(()))
                } else {
                    let message = opt_string(rd::rd_kafka_ConfigResource_error_string(r))
                        .unwrap_or_else(|| err_name(err));
                    (name, Err(message))
                }
            })
            .collect();
        Ok(changes
            .iter()
            .map(|c| {
                outcome
                    .get(&c.topic)
                    .cloned()
                    .unwrap_or_else(|| Err("no answer for this topic".into()))
            })
            .collect())
    }
}

/// C config resources, destroyed on drop.
struct ConfigResources(Vec<*mut rd::rd_kafka_ConfigResource_t>);

impl Drop for ConfigResources {
    fn drop(&mut self) {
        for r in &self.0 {
            // SAFETY: created by `alter_topic_configs`, freed only here.
            unsafe { rd::rd_kafka_ConfigResource_destroy(*r) };
        }
    }
}

/// An admin request in flight: its queue and options, freed on drop.
struct Pending {
    rk: *mut rd::rd_kafka_t,
    options: *mut rd::rd_kafka_AdminOptions_t,
    queue: *mut rd::rd_kafka_queue_t,
    call: &'static str,
    timeout: Duration,
}

impl Pending {
    fn new(
        conn: &Connection,
        call: &'static str,
        op: rd::rd_kafka_admin_op_t,
    ) -> Result<Self, AdminError> {
        let rk = conn.consumer().client().native_ptr();
        let timeout = conn.timeout();
        let mut errstr = [0 as c_char; 512];
        // SAFETY: `rk` is a live client owned by `conn`, which outlives this
        // request (the event is polled before `conn` can be dropped).
        unsafe {
            let queue = rd::rd_kafka_queue_new(rk);
            let options = rd::rd_kafka_AdminOptions_new(rk, op);
            let pending = Pending {
                rk,
                options,
                queue,
                call,
                timeout,
            };
            let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
            let err = rd::rd_kafka_AdminOptions_set_request_timeout(
                options,
                ms,
                errstr.as_mut_ptr(),
                errstr.len(),
            );
            if err != RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR {
                return Err(AdminError::Failed {
                    call,
                    code: "_INVALID_ARG".into(),
                    message: string(errstr.as_ptr()),
                });
            }
            Ok(pending)
        }
    }

    /// Waits for the result event, a little longer than the request timeout
    /// so that librdkafka reports its own timeout first.
    fn wait(self) -> Result<Event, AdminError> {
        let ms =
            i32::try_from((self.timeout + Duration::from_secs(2)).as_millis()).unwrap_or(i32::MAX);
        // SAFETY: the queue is live until `self` drops.
        let event = unsafe { rd::rd_kafka_queue_poll(self.queue, ms) };
        if event.is_null() {
            return Err(AdminError::Timeout {
                call: self.call,
                timeout: self.timeout,
            });
        }
        let event = Event(event);
        // SAFETY: a live event.
        let err = unsafe { rd::rd_kafka_event_error(event.0) };
        if err != RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR {
            let code = RDKafkaErrorCode::from(err);
            if code == RDKafkaErrorCode::OperationTimedOut
                || code == RDKafkaErrorCode::RequestTimedOut
            {
                return Err(AdminError::Timeout {
                    call: self.call,
                    timeout: self.timeout,
                });
            }
            return Err(AdminError::Failed {
                call: self.call,
                code: err_name(err),
                // SAFETY: a live event.
                message: string(unsafe { rd::rd_kafka_event_error_string(event.0) }),
            });
        }
        Ok(event)
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        // SAFETY: created in `new` and not freed elsewhere.
        unsafe {
            rd::rd_kafka_AdminOptions_destroy(self.options);
            rd::rd_kafka_queue_destroy(self.queue);
        }
    }
}

/// A result event, destroyed on drop.
struct Event(*mut rd::rd_kafka_event_t);

impl Event {
    fn unexpected(&self, call: &'static str) -> AdminError {
        AdminError::Failed {
            call,
            code: "_BAD_MSG".into(),
            message: "librdkafka returned an event of an unexpected type".into(),
        }
    }
}

impl Drop for Event {
    fn drop(&mut self) {
        // SAFETY: polled from a queue and owned by this value.
        unsafe { rd::rd_kafka_event_destroy(self.0) };
    }
}

fn nul_error(call: &'static str) -> AdminError {
    AdminError::Failed {
        call,
        code: "_INVALID_ARG".into(),
        message: "a name contains a NUL byte".into(),
    }
}

fn c_strings(values: &[String], call: &'static str) -> Result<Vec<CString>, AdminError> {
    values
        .iter()
        .map(|v| CString::new(v.as_str()).map_err(|_| nul_error(call)))
        .collect()
}

fn err_name(err: RDKafkaRespErr) -> String {
    // SAFETY: librdkafka returns a static string for every code.
    string(unsafe { rd::rd_kafka_err2name(err) })
}

/// Copies a C string; null becomes empty.
fn string(p: *const c_char) -> String {
    opt_string(p).unwrap_or_default()
}

fn opt_string(p: *const c_char) -> Option<String> {
    // SAFETY: librdkafka strings are NUL-terminated and live as long as
    // their result event, which outlives this copy.
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
}

/// A C array of `count` items as a slice; an empty slice for null.
///
/// # Safety
/// `items` must point to `count` valid items that outlive the slice.
unsafe fn slice<'a, T>(items: *const T, count: usize) -> &'a [T] {
    if items.is_null() || count == 0 {
        &[]
    } else {
        // SAFETY: guaranteed by the caller.
        unsafe { std::slice::from_raw_parts(items, count) }
    }
}

/// # Safety
/// `node` must be a live librdkafka node.
unsafe fn node(node: *const rd::rd_kafka_Node_t) -> Node {
    // SAFETY: guaranteed by the caller.
    unsafe {
        Node {
            id: rd::rd_kafka_Node_id(node),
            host: string(rd::rd_kafka_Node_host(node)),
            port: rd::rd_kafka_Node_port(node),
            rack: opt_string(rd::rd_kafka_Node_rack(node)),
        }
    }
}

fn partition(p: &rd::rd_kafka_topic_partition_t) -> PartitionOffset {
    PartitionOffset {
        topic: string(p.topic),
        partition: p.partition,
        offset: if p.err == RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR {
            Ok(p.offset)
        } else {
            Err(err_name(p.err))
        },
    }
}

/// # Safety
/// `list` must be null or a live topic-partition list.
unsafe fn partitions(list: *const rd::rd_kafka_topic_partition_list_t) -> Vec<PartitionOffset> {
    if list.is_null() {
        return Vec::new();
    }
    // SAFETY: guaranteed by the caller; `elems` holds `cnt` items.
    unsafe {
        let list = &*list;
        slice(list.elems, usize::try_from(list.cnt).unwrap_or(0))
            .iter()
            .map(partition)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_and_slices_handle_null() {
        assert_eq!(string(ptr::null()), "");
        assert_eq!(opt_string(ptr::null()), None);
        // SAFETY: null with any count is an empty slice.
        assert!(unsafe { slice::<u8>(ptr::null(), 3) }.is_empty());
        let text = CString::new("héllo").unwrap();
        assert_eq!(string(text.as_ptr()), "héllo");
    }

    #[test]
    fn error_names_come_from_librdkafka() {
        assert_eq!(
            err_name(RDKafkaRespErr::RD_KAFKA_RESP_ERR_SECURITY_DISABLED),
            "SECURITY_DISABLED"
        );
        assert_eq!(
            err_name(RDKafkaRespErr::RD_KAFKA_RESP_ERR__TIMED_OUT),
            "_TIMED_OUT"
        );
    }
}
