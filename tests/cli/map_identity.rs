//! Offset maps belong to one source topic and one target topic: a map is
//! never trusted for a topic deleted and re-created on either side, nor for
//! another plan's copy of the same source topic (two plans sharing the map
//! topic with different renames); and copies on the target that skip source
//! records are never taken for a gap on the source. Real Apache Kafka on
//! both sides.

use std::time::Duration;

use kcp::replicator::Translation;

use crate::kafka::{admin, block, create_topics, produce, producer, read_partition, send};
use crate::replicate::{Api, Pair, pair, provenance, replicate};
use crate::require_testbed;

/// Deletes `topic` on `bootstrap`, waits until it is gone, and creates it
/// again with `partitions` partitions.
pub(crate) fn recreate(bootstrap: &str, topic: &str, partitions: i32) {
    let options = rdkafka::admin::AdminOptions::new();
    for r in block(admin(bootstrap).delete_topics(&[topic], &options)).unwrap() {
        r.unwrap();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let spec = rdkafka::admin::NewTopic::new(
            topic,
            partitions,
            rdkafka::admin::TopicReplication::Fixed(1),
        );
        let created = block(admin(bootstrap).create_topics(&[spec], &options)).unwrap();
        match &created[0] {
            Ok(_) => return,
            Err((_, code)) => assert!(
                std::time::Instant::now() < deadline,
                "`{topic}` could not be created again: {code:?}"
            ),
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Where a group committed at `committed` on `topic-0` resumes on the
/// target, as `migrate` computes it (maps loaded, placed on the target).
fn translate(plan: &std::path::Path, topic: &str, committed: i64) -> Translation {
    let api = Api::new(plan);
    let mut maps = api.offset_maps();
    let map = maps.get_mut(&(topic.to_owned(), 0)).unwrap();
    api.placer().translate(map, topic, 0, committed).unwrap()
}

/// The target offset in `topic-0` of the copy of source offset `src`.
fn copy_offset(p: &Pair, topic: &str, src: i64) -> i64 {
    read_partition(&p.target.bootstrap(), topic, 0, 0)
        .iter()
        .find(|r| provenance(r).is_some_and(|v| v.ends_with(&format!(";{src}"))))
        .map(|r| r.offset)
        .expect("a copy of the source offset")
}

/// The source offsets named by the provenance of `topic-0` on the target,
/// in target order (records without kcp's provenance are left out).
fn copied_source_offsets(p: &Pair, topic: &str) -> Vec<i64> {
    read_partition(&p.target.bootstrap(), topic, 0, 0)
        .iter()
        .filter_map(provenance)
        .map(|v| v.rsplit(';').next().unwrap().parse().unwrap())
        .collect()
}

/// A rehearsal copied `orders`; its target topic was then deleted, created
/// again and written by someone else (a smoke test), so the target holds
/// more records than the old map claims. The old map must not be trusted:
/// the copy starts again from the source's beginning.
#[test]
fn a_target_topic_recreated_and_written_by_others_is_copied_again() {
    let tb = require_testbed!();
    let p = pair(&tb, "topics:\n  include: 'orders'\n");
    create_topics(&p.source.bootstrap(), &[("orders", 1, &[])]);
    produce(&p.source.bootstrap(), "orders", &[300]);
    let out = replicate(&p.plan, &["--until-caught-up"]);
    assert_eq!(out.code, 0, "{}", out.stderr);

    recreate(&p.target.bootstrap(), "orders", 1);
    produce(&p.target.bootstrap(), "orders", &[500]);
    let out = replicate(&p.plan, &["--until-caught-up"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        copied_source_offsets(&p, "orders"),
        (0..300).collect::<Vec<_>>(),
        "every source record copied once to the re-created topic; log: {}",
        out.stderr
    );
    assert!(
        out.stderr.contains("re-created"),
        "the notice says why the map was dropped: {}",
        out.stderr
    );
    let at = copy_offset(&p, "orders", 10);
    assert!(at >= 510, "after the 500 other records: {at}");
    assert_eq!(translate(&p.plan, "orders", 10), Translation::Exact(at));
}

/// Two plans copy the same source topic through one map topic, renamed
/// differently (`a.orders`, `b.orders`); `b.orders` already held 200
/// records, so the copies sit at different offsets. Each plan translates
/// with its own map, whichever checkpointed last.
#[test]
fn two_plans_sharing_the_map_topic_keep_their_own_maps() {
    let tb = require_testbed!();
    let p = pair(
        &tb,
        "topics:\n  include: 'orders'\n  rename:\n    prefix: 'a.'\n",
    );
    let plan_b = p.dir.path().join("plan-b.yaml");
    std::fs::write(
        &plan_b,
        std::fs::read_to_string(&p.plan)
            .unwrap()
            .replace("name: test", "name: other")
            .replace("prefix: 'a.'", "prefix: 'b.'"),
    )
    .unwrap();
    create_topics(&p.source.bootstrap(), &[("orders", 1, &[])]);
    create_topics(&p.target.bootstrap(), &[("b.orders", 1, &[])]);
    produce(&p.source.bootstrap(), "orders", &[300]);
    produce(&p.target.bootstrap(), "b.orders", &[200]);

    let out = replicate(&p.plan, &["--until-caught-up"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = replicate(&plan_b, &["--until-caught-up"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        copied_source_offsets(&p, "b.orders"),
        (0..300).collect::<Vec<_>>()
    );

    let (in_a, in_b) = (
        copy_offset(&p, "a.orders", 10),
        copy_offset(&p, "b.orders", 10),
    );
    assert!(in_b >= 210, "after the 200 other records: {in_b}");
    assert_eq!(translate(&p.plan, "orders", 10), Translation::Exact(in_a));
    assert_eq!(translate(&plan_b, "orders", 10), Translation::Exact(in_b));

    // Either plan resumes from its own map: nothing is copied again.
    for plan in [&p.plan, &plan_b] {
        let out = replicate(plan, &["--until-caught-up"]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let summary: serde_json::Value =
            serde_json::from_str(out.stdout.lines().last().unwrap()).unwrap();
        assert_eq!(summary["summary"]["copied"], 0, "{summary}");
    }
    assert_eq!(
        copied_source_offsets(&p, "a.orders"),
        (0..300).collect::<Vec<_>>()
    );
}

/// The source topic was deleted and created again after a first copy, and
/// its new records outnumber the old: resuming at the old map's end would
/// copy the new topic's tail after the old topic's copy. The run stops with
/// an error (exit 1) that names the topic and what to do, copying nothing.
#[test]
fn a_source_topic_recreated_after_its_copy_stops_the_run() {
    let tb = require_testbed!();
    let p = pair(&tb, "topics:\n  include: 'orders'\n");
    create_topics(&p.source.bootstrap(), &[("orders", 1, &[])]);
    produce(&p.source.bootstrap(), "orders", &[100]);
    let out = replicate(&p.plan, &["--until-caught-up"]);
    assert_eq!(out.code, 0, "{}", out.stderr);

    recreate(&p.source.bootstrap(), "orders", 1);
    produce(&p.source.bootstrap(), "orders", &[150]);
    let out = replicate(&p.plan, &["--until-caught-up"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("`orders` was deleted and created again on the source")
            && out.stderr.contains("hint:"),
        "{}",
        out.stderr
    );
    // The first copy is still the old topic's 100 records, untouched.
    assert_eq!(
        copied_source_offsets(&p, "orders"),
        (0..100).collect::<Vec<_>>()
    );
}

/// Another tool copied `orders` to the target with kcp's provenance headers
/// but lost ten records in the middle (source offsets 50..60). The map is
/// rebuilt from those headers; resuming after offset 99 would take the hole
/// for a gap on the source and never copy the ten. The run stops instead,
/// naming the partition, the offsets and the count.
#[test]
fn a_hole_another_writer_left_on_the_target_stops_the_run() {
    let tb = require_testbed!();
    let p = pair(&tb, "topics:\n  include: 'orders'\n");
    create_topics(&p.source.bootstrap(), &[("orders", 1, &[])]);
    create_topics(&p.target.bootstrap(), &[("orders", 1, &[])]);
    produce(&p.source.bootstrap(), "orders", &[100]);
    let copier = producer(&p.target.bootstrap());
    for record in read_partition(&p.source.bootstrap(), "orders", 0, 0) {
        if (50..60).contains(&record.offset) {
            continue;
        }
        let origin = format!("v1;{};orders;0;{}", p.source.cluster_id, record.offset);
        let headers = rdkafka::message::OwnedHeaders::new().insert(rdkafka::message::Header {
            key: "kcp.provenance",
            value: Some(&origin),
        });
        send(
            &copier,
            rdkafka::producer::BaseRecord::to("orders")
                .partition(0)
                .key(record.key.as_deref().unwrap_or_default())
                .payload(record.value.as_deref().unwrap_or_default())
                .headers(headers),
        );
    }
    crate::kafka::flush(&copier);

    let out = replicate(&p.plan, &["--until-caught-up"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("skip source offsets 50..60, where the source holds 10 record(s)")
            && out.stderr.contains("hint:"),
        "{}",
        out.stderr
    );
    assert_eq!(
        copied_source_offsets(&p, "orders").len(),
        90,
        "nothing written"
    );
}

/// After the producers moved, their records keep arriving on the target
/// while `migrate status` (like verify and the offset moves) loads the
/// maps. A partition whose last offset is a transaction marker (every
/// partition copied with transactions ends with one) delivers no record
/// at its end; another partition that keeps delivering must not hide
/// that: the maps load in seconds, not when the producers stop.
#[test]
fn maps_load_while_producers_write_to_the_target() {
    let tb = require_testbed!();
    let p = pair(&tb, "topics:\n  include: 'orders'\n");
    create_topics(&p.source.bootstrap(), &[("orders", 2, &[])]);
    produce(&p.source.bootstrap(), "orders", &[100, 100]);
    let out = replicate(&p.plan, &["--until-caught-up"]);
    assert_eq!(out.code, 0, "{}", out.stderr);

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (stop, bootstrap) = (stop.clone(), p.target.bootstrap());
        std::thread::spawn(move || {
            let producer = producer(&bootstrap);
            let deadline = std::time::Instant::now() + Duration::from_secs(90);
            while !stop.load(std::sync::atomic::Ordering::SeqCst)
                && std::time::Instant::now() < deadline
            {
                send(
                    &producer,
                    rdkafka::producer::BaseRecord::to("orders")
                        .partition(1)
                        .key("k")
                        .payload("moved producer"),
                );
                producer.poll(Duration::from_millis(20));
            }
        })
    };
    std::thread::sleep(Duration::from_secs(2));
    let started = std::time::Instant::now();
    let r = crate::run(
        crate::kcp()
            .args(["--output", "json", "migrate", "status", "--plan"])
            .arg(&p.plan)
            .timeout(Duration::from_secs(75)),
    );
    let took = started.elapsed();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    writer.join().unwrap();
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        took < Duration::from_secs(30),
        "status took {took:?} while a producer wrote to the target"
    );
}
