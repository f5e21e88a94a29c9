//! The source's end offsets, read on a thread of their own while the copy
//! loop goes on: a ListOffsets round trip (tens of milliseconds on a busy
//! broker, a round trip of the link over a WAN) no longer holds the copy
//! up. The loop asks; the answer is picked up at a later tick.

use std::collections::HashMap;
use std::sync::mpsc;
use std::thread::Scope;
use std::time::{Duration, Instant};

use crate::connect::Connection;
use crate::connect::admin::{self, OffsetSpec};

/// End offsets by (topic, partition), or why they could not be read.
pub(super) type Ends = Result<HashMap<(String, i32), i64>, String>;

/// One read's answer.
pub(super) struct Answer {
    pub(super) ends: Ends,
    /// How long the read took.
    pub(super) took: Duration,
}

/// The copy loop's side of the reader thread. At most one read is under
/// way at a time.
pub(super) struct EndOffsets {
    asks: mpsc::Sender<Vec<(String, i32)>>,
    answers: mpsc::Receiver<Answer>,
    pending: bool,
}

impl EndOffsets {
    /// Starts the reader on `scope`, reading `end` offsets of `src`. The
    /// thread ends once this value is dropped and its read under way, if
    /// any, is done.
    pub(super) fn start<'scope>(
        scope: &'scope Scope<'scope, '_>,
        src: &'scope Connection,
        end: OffsetSpec,
    ) -> Self {
        let (asks, asked) = mpsc::channel::<Vec<(String, i32)>>();
        let (answer, answers) = mpsc::channel();
        scope.spawn(move || {
            for partitions in asked {
                let started = Instant::now();
                let ends = read(src, &partitions, end);
                let took = started.elapsed();
                if answer.send(Answer { ends, took }).is_err() {
                    break;
                }
            }
        });
        EndOffsets {
            asks,
            answers,
            pending: false,
        }
    }

    /// Whether a read is under way.
    pub(super) fn pending(&self) -> bool {
        self.pending
    }

    /// Asks for the end offsets of `partitions`, unless a read is under way.
    pub(super) fn ask(&mut self, partitions: Vec<(String, i32)>) {
        if !self.pending && self.asks.send(partitions).is_ok() {
            self.pending = true;
        }
    }

    /// The answer to the last ask, once it has come.
    pub(super) fn answer(&mut self) -> Option<Answer> {
        let answer = self.answers.try_recv().ok()?;
        self.pending = false;
        Some(answer)
    }
}

fn read(src: &Connection, partitions: &[(String, i32)], end: OffsetSpec) -> Ends {
    let offsets = admin::list_offsets(src, partitions, end).map_err(|e| e.to_string())?;
    Ok(offsets
        .into_iter()
        .filter_map(|o| Some(((o.topic, o.partition), o.offset.ok()?)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connect::{ClusterCredentials, ConnectOptions, connect};
    use rdkafka::mocking::MockCluster;
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

    #[test]
    fn a_read_is_answered_on_its_thread_and_one_runs_at_a_time() {
        let cluster = MockCluster::new(1).unwrap();
        cluster.create_topic("orders", 2, 1).unwrap();
        let producer: BaseProducer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", cluster.bootstrap_servers())
            .create()
            .unwrap();
        for _ in 0..3 {
            producer
                .send(
                    BaseRecord::<(), str>::to("orders")
                        .partition(1)
                        .payload("x"),
                )
                .unwrap();
        }
        producer.flush(Duration::from_secs(10)).unwrap();
        let creds = ClusterCredentials::plaintext("src", cluster.bootstrap_servers());
        let src = connect(&creds, ConnectOptions::default()).unwrap();
        let wanted = vec![("orders".to_owned(), 0), ("orders".to_owned(), 1)];

        let answer = std::thread::scope(|scope| {
            let mut ends = EndOffsets::start(scope, &src, OffsetSpec::Latest);
            assert!(ends.answer().is_none(), "nothing asked yet");
            ends.ask(wanted.clone());
            assert!(ends.pending());
            // A second ask while the first runs is not queued.
            ends.ask(wanted.clone());
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if let Some(answer) = ends.answer() {
                    assert!(!ends.pending());
                    std::thread::sleep(Duration::from_millis(200));
                    assert!(ends.answer().is_none(), "the second ask was dropped");
                    break answer;
                }
                assert!(Instant::now() < deadline, "no answer in 10 s");
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        let ends = answer.ends.unwrap();
        assert_eq!(ends.get(&("orders".to_owned(), 0)), Some(&0));
        assert_eq!(ends.get(&("orders".to_owned(), 1)), Some(&3));
    }
}
