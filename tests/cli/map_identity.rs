//! Offset maps belong to one source topic and one target topic: a map is
//! never trusted for a topic deleted and re-created on either side, nor for
//! another plan's copy of the same source topic (two plans sharing the map
//! topic with different renames). Real Apache Kafka on both sides.

use std::time::Duration;

use kcp::replicator::Translation;

use crate::kafka::{admin, block, create_topics, produce, read_partition};
use crate::replicate::{Pair, offset_maps, offset_maps_of, pair, provenance, replicate};
use crate::require_testbed;

/// Deletes `topic` on `bootstrap`, waits until it is gone, and creates it
/// again with `partitions` partitions.
fn recreate(bootstrap: &str, topic: &str, partitions: i32) {
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
    let maps = offset_maps(&p);
    assert_eq!(
        maps[&("orders".to_owned(), 0)].translate(10),
        Translation::Exact(510)
    );
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

    let a = offset_maps(&p);
    let b = offset_maps_of(&plan_b);
    assert_eq!(
        a[&("orders".to_owned(), 0)].translate(10),
        Translation::Exact(10)
    );
    assert_eq!(
        b[&("orders".to_owned(), 0)].translate(10),
        Translation::Exact(210)
    );

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
