//! The test bed itself: moto behind the CBOR shim answers MSK, CloudWatch
//! (as RPC-v2 CBOR, the Rust SDK's protocol) and Cost Explorer, and every
//! process is gone once its handle drops.

use std::net::TcpStream;
use std::process::Command;

use crate::require_testbed;
use crate::support::{KafkaCluster, Moto, testbed_dir};

#[test]
fn moto_and_the_cbor_shim_serve_msk_cloudwatch_and_costs() {
    let tb = require_testbed!();
    let moto = Moto::start(&tb);
    let out = Command::new(&tb.python)
        .arg(testbed_dir().join("selfcheck.py"))
        .args(["--endpoint", &moto.endpoint()])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("selfcheck ok"), "{text}");
    let (shim, upstream) = (moto.port, moto.moto_port);
    drop(moto);
    assert!(
        TcpStream::connect(("127.0.0.1", shim)).is_err(),
        "shim still listening"
    );
    assert!(
        TcpStream::connect(("127.0.0.1", upstream)).is_err(),
        "moto still listening"
    );
}

#[test]
fn brokers_stop_when_dropped_even_after_a_panic() {
    let tb = require_testbed!();
    let port = std::panic::catch_unwind(|| {
        let broker = KafkaCluster::start(&tb);
        let port = broker.port;
        assert!(TcpStream::connect(("127.0.0.1", port)).is_ok());
        std::panic::panic_any(port)
    })
    .unwrap_err()
    .downcast::<u16>()
    .map(|p| *p)
    .unwrap();
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "broker on {port} survived the panic"
    );
}
