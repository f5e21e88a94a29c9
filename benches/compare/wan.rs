//! The WAN case: the source cluster in its own network namespace, joined
//! to the host by a veth pair. Only the addresses created here
//! (10.213.0.0/30) are used; the namespace, the veth pair, the proxy and
//! the broker are removed on drop, also when a case panics.
//!
//! This machine's kernel has neither `sch_netem` nor `sch_fq`
//! (`CONFIG_NET_SCH_NETEM is not set`), so `tc netem delay` is refused
//! ("Specified qdisc kind is unknown"). The delay is therefore added by a
//! TCP proxy on the host end of the veth pair that holds every chunk
//! 40 ms in each direction (80 ms round trip for every request and
//! response); the broker advertises the proxy. Loss is real packet loss
//! on the veth pair: nftables in the namespace drops 0.1 % of packets in
//! each direction (`numgen random mod 1000 == 0 drop`). Limits of this
//! emulation: the clients' TCP connections end at the proxy, so TCP's
//! window growth over a long fat pipe is not reproduced, and the lossy leg
//! (proxy to broker) has a sub-millisecond RTT, so retransmissions recover
//! faster than over a real 80 ms path.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::kit::{self, Shape, Tool};
use crate::report;
use crate::support;

const NS: &str = "kcpcmp";
const HOST_IF: &str = "kcpcmp0";
const NS_IF: &str = "kcpcmp1";
const HOST_ADDR: &str = "10.213.0.1";
const NS_ADDR: &str = "10.213.0.2";

fn run(args: &[&str]) -> Result<(), String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("{}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The namespace and its veth pair; deleted on drop.
pub struct Netns;

impl Netns {
    pub fn create() -> Result<Netns, String> {
        Self::cleanup();
        let guard = Netns;
        run(&["ip", "netns", "add", NS])?;
        run(&[
            "ip", "link", "add", HOST_IF, "type", "veth", "peer", "name", NS_IF,
        ])?;
        run(&["ip", "link", "set", NS_IF, "netns", NS])?;
        run(&[
            "ip",
            "addr",
            "add",
            &format!("{HOST_ADDR}/30"),
            "dev",
            HOST_IF,
        ])?;
        run(&["ip", "link", "set", HOST_IF, "up"])?;
        run(&[
            "ip",
            "netns",
            "exec",
            NS,
            "ip",
            "addr",
            "add",
            &format!("{NS_ADDR}/30"),
            "dev",
            NS_IF,
        ])?;
        run(&["ip", "netns", "exec", NS, "ip", "link", "set", NS_IF, "up"])?;
        run(&["ip", "netns", "exec", NS, "ip", "link", "set", "lo", "up"])?;
        Ok(guard)
    }

    /// Drops `per_mille` of the packets in each direction inside the
    /// namespace (0: no loss).
    pub fn loss(&self, per_mille: u32) -> Result<(), String> {
        let nft = |args: &[&str]| {
            let mut a = vec!["ip", "netns", "exec", NS, "nft"];
            a.extend_from_slice(args);
            run(&a)
        };
        let _ = nft(&["delete", "table", "inet", "kcpcmp_loss"]);
        if per_mille == 0 {
            return Ok(());
        }
        nft(&["add", "table", "inet", "kcpcmp_loss"])?;
        for (chain, hook) in [("in", "input"), ("out", "output")] {
            nft(&[
                "add",
                "chain",
                "inet",
                "kcpcmp_loss",
                chain,
                &format!("{{ type filter hook {hook} priority 0; }}"),
            ])?;
            nft(&[
                "add",
                "rule",
                "inet",
                "kcpcmp_loss",
                chain,
                "numgen",
                "random",
                "mod",
                "1000",
                "<",
                &per_mille.to_string(),
                "drop",
            ])?;
        }
        Ok(())
    }

    fn cleanup() {
        let _ = run(&["ip", "netns", "del", NS]);
        let _ = run(&["ip", "link", "del", HOST_IF]);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        Self::cleanup();
    }
}

/// A TCP proxy that holds every chunk `delay` before passing it on, in
/// both directions. The delay can be changed while it runs.
pub struct DelayProxy {
    stop: Arc<AtomicBool>,
    pub delay_ms: Arc<AtomicU64>,
    pub addr: SocketAddr,
}

impl DelayProxy {
    pub fn start(listen: &str, upstream: SocketAddr) -> Result<DelayProxy, String> {
        let listener = TcpListener::bind(listen).map_err(|e| format!("proxy bind: {e}"))?;
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let delay_ms = Arc::new(AtomicU64::new(0));
        let (s, d) = (stop.clone(), delay_ms.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        client.set_nonblocking(false).unwrap();
                        let Ok(server) = TcpStream::connect(upstream) else {
                            continue;
                        };
                        let _ = client.set_nodelay(true);
                        let _ = server.set_nodelay(true);
                        pipe(
                            client.try_clone().unwrap(),
                            server.try_clone().unwrap(),
                            d.clone(),
                            s.clone(),
                        );
                        pipe(server, client, d.clone(), s.clone());
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Ok(DelayProxy {
            stop,
            delay_ms,
            addr,
        })
    }
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// One direction: a reader stamps chunks, a writer sends each one when
/// its delay is over.
fn pipe(mut from: TcpStream, mut to: TcpStream, delay: Arc<AtomicU64>, stop: Arc<AtomicBool>) {
    let (tx, rx) = std::sync::mpsc::channel::<Option<(Instant, Vec<u8>)>>();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => {
                    let _ = tx.send(None);
                    return;
                }
                Ok(n) => {
                    if tx.send(Some((Instant::now(), buf[..n].to_vec()))).is_err() {
                        return;
                    }
                }
            }
        }
    });
    std::thread::spawn(move || {
        while let Ok(Some((at, chunk))) = rx.recv() {
            let due = at + Duration::from_millis(delay.load(Ordering::Relaxed));
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            if stop.load(Ordering::Relaxed) || to.write_all(&chunk).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Both);
    });
}

/// A one-broker cluster run inside the namespace (testbed/kafka.sh with
/// `--host`), advertising its PLAINTEXT listener through a delay proxy on
/// the host end; killed on drop.
pub struct NsBroker {
    child: Child,
    pub bootstrap: String,
    pub proxy: DelayProxy,
    _dir: tempfile::TempDir,
}

impl NsBroker {
    pub fn start(tb: &support::Testbed) -> Result<NsBroker, String> {
        let dir = tempfile::Builder::new()
            .prefix("kcp-compare-wan-source-")
            .tempdir()
            .unwrap();
        let script = support::testbed_dir().join("kafka.sh");
        let out = Command::new("bash")
            .arg(&script)
            .arg("init")
            .arg(dir.path())
            .args(["--name", "wan_source", "--host", NS_ADDR])
            .env("KCP_KAFKA_ROOT", &tb.kafka_root)
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!(
                "kafka.sh init --host: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let direct = String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("KAFKA_BOOTSTRAP="))
            .ok_or("no KAFKA_BOOTSTRAP")?
            .to_owned();
        let proxy = DelayProxy::start(&format!("{HOST_ADDR}:0"), direct.parse().unwrap())?;
        let bootstrap = proxy.addr.to_string();
        // Clients (and the broker itself) reach PLAINTEXT through the proxy.
        let props = dir.path().join("node-1/server.properties");
        let text = std::fs::read_to_string(&props).unwrap().replace(
            &format!("advertised.listeners=PLAINTEXT://{direct}"),
            &format!("advertised.listeners=PLAINTEXT://{bootstrap}"),
        );
        std::fs::write(&props, text).unwrap();
        let log = std::fs::File::create(dir.path().join("stdout.log")).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", NS, "bash"])
            .arg(&script)
            .arg("run")
            .arg(dir.path())
            .arg("1")
            .env("KCP_KAFKA_ROOT", &tb.kafka_root)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .map_err(|e| e.to_string())?;
        let mut broker = NsBroker {
            child,
            bootstrap,
            proxy,
            _dir: dir,
        };
        let started = Instant::now();
        let log = broker._dir.path().join("node-1/server.log");
        loop {
            if std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains("Kafka Server started")
            {
                return Ok(broker);
            }
            if let Ok(Some(status)) = broker.child.try_wait() {
                return Err(format!("namespaced broker exited: {status}"));
            }
            if started.elapsed() > Duration::from_secs(90) {
                return Err("namespaced broker did not start in 90 s".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn dir(&self) -> &Path {
        self._dir.path()
    }
}

impl Drop for NsBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// On SIGINT or SIGTERM (Drop does not run then): remove the namespace
/// and the veth pair, and exit 130.
pub fn cleanup_on_signal() {
    std::thread::spawn(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            use tokio::signal::unix::{SignalKind, signal};
            let mut term = signal(SignalKind::terminate()).unwrap();
            let mut int = signal(SignalKind::interrupt()).unwrap();
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        });
        Netns::cleanup();
        eprintln!("[compare] interrupted: network namespace removed");
        #[allow(clippy::exit)]
        std::process::exit(130);
    });
}

/// kcp's source settings for a long fat pipe: larger fetches per
/// partition and a deeper prefetch queue, so one fetch round trip carries
/// more (the socket buffers are left to the kernel's autotuning).
pub const KCP_WAN_SOURCE: [(&str, &str); 3] = [
    ("fetch.max.bytes", "104857600"),
    ("max.partition.fetch.bytes", "8388608"),
    ("queued.max.messages.kbytes", "131072"),
];

pub fn wan_case(
    tb: &support::Testbed,
    shapes: &[Shape],
    tools: &[Tool],
    out: &mut serde_json::Map<String, Value>,
) {
    let result = (|| -> Result<Value, String> {
        let ns = Netns::create()?;
        let broker = NsBroker::start(tb)?;
        let sb = broker.bootstrap.clone();
        let base = shapes[shapes.len() - 1];
        let shape = Shape {
            records: std::env::var("KCP_COMPARE_WAN_RECORDS")
                .ok()
                .and_then(|v| v.parse().ok())
                // The loopback case's workload: the same comparison.
                .unwrap_or(base.records),
            ..base
        };
        let topic = format!("wan-{}", shape.name);
        kit::create_topic(&sb, &topic, kit::PARTITIONS, &[]);
        kit::produce_shape(&sb, &topic, shape.name, shape.value, shape.records, false);
        let mut runs = Vec::new();
        let max = Duration::from_secs(
            std::env::var("KCP_COMPARE_WAN_MAX_SECS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(300),
        );
        // Each repetition: first the same path without delay (what the
        // namespace, the veth pair and the proxy cost by themselves), then
        // 40 ms each way, without and with loss; the tools' order rotates.
        let reps = crate::env_usize("KCP_COMPARE_WAN_REPS", 1);
        for rep in 0..reps {
            for (label, delay, loss) in [
                (report::NO_DELAY, 0, 0),
                ("rtt-80ms", 40, 0),
                ("rtt-80ms-loss-0.1%", 40, 1),
            ] {
                broker.proxy.delay_ms.store(delay, Ordering::Relaxed);
                ns.loss(loss)?;
                let rtt = probe_rtt(&broker.bootstrap);
                kit::note(&format!(
                    "wan rep {rep} {label}: {delay} ms proxy delay each way, {loss}/1000 packets dropped each way on the veth pair; metadata round trip {rtt:.0} ms"
                ));
                let mut order: Vec<Tool> = tools
                    .iter()
                    .copied()
                    .filter(|t| *t != Tool::Mm2Eos)
                    .collect();
                let k = rep % order.len().max(1);
                order.rotate_left(k);
                for tool in order {
                    let props: &[(&str, &str)] = if tool == Tool::Kcp {
                        &KCP_WAN_SOURCE
                    } else {
                        &[]
                    };
                    let m = crate::copy_once(tb, tool, &sb, &topic, &shape, props, &[], max);
                    let mut j = crate::measured_json(tool, &shape, rep, &m);
                    j["network"] = json!(label);
                    kit::note(&format!(
                        "wan rep {rep} {label} {}: {:.0} records/s, {:.1} MB/s, steady {:.1} MB/s, first {:.1} s{}",
                        tool.name(),
                        j["records_per_s"].as_f64().unwrap_or(0.0),
                        j["mb_per_s"].as_f64().unwrap_or(0.0),
                        j["steady_mb_per_s"].as_f64().unwrap_or(0.0),
                        m.first,
                        if m.timed_out {
                            " (stopped at the time limit)"
                        } else {
                            ""
                        }
                    ));
                    runs.push(j);
                }
            }
        }
        ns.loss(0)?;
        let _ = broker.dir();
        drop(broker);
        drop(ns);
        Ok(json!({
            "shape": shape.name, "records": shape.records, "max_secs": max.as_secs(), "reps": reps,
            "emulation": "40 ms each way by a delaying TCP proxy on the host end of the veth pair (the kernel has no sch_netem); loss by nftables numgen in the namespace",
            "kcp_source_client_properties": KCP_WAN_SOURCE.iter().map(|(k, v)| json!({k.to_string(): v})).collect::<Vec<_>>(),
            "runs": runs,
        }))
    })();
    match result {
        Ok(v) => {
            out.insert("wan".into(), v);
        }
        Err(e) => {
            kit::note(&format!("wan case failed: {e}"));
            out.insert("wan".into(), json!({"error": e}));
        }
    }
}

/// Milliseconds of one metadata request through the proxy.
fn probe_rtt(bootstrap: &str) -> f64 {
    let c = kit::consumer(bootstrap, "compare-probe", false);
    let _ = kit::partitions_of(&c, "__none__");
    let t = Instant::now();
    let _ = kit::partitions_of(&c, "__none__");
    t.elapsed().as_secs_f64() * 1000.0
}
