//! `kcp gateway`: starts the proxy, prints where it serves (data), and
//! serves until SIGINT or SIGTERM.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use super::args::GatewayArgs;
use crate::connect::CredentialsFile;
use crate::exit::ExitStatus;
use crate::gateway::{self, Gateway, Listening};
use crate::output::{Format, Printer};

pub(super) fn run(args: GatewayArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let stop = Arc::new(AtomicBool::new(false));
    super::signals::install_signal_handlers(stop.clone())?;
    let creds = CredentialsFile::load(&args.credentials_file)?;
    let cluster = creds.cluster(&args.cluster)?;
    let config = gateway::Config {
        listen: args.listen,
        advertised_host: args.advertised_host,
        broker_port_base: args.broker_port_base,
        tls: args.tls_cert.zip(args.tls_key),
        timeout: Duration::from_secs(args.timeout),
        target_broker_port_base: args.target_broker_port_base,
        admin_addr: args.admin_addr,
        routes_file: args.routes_file,
        routes_topic: args.routes_topic,
        hold_timeout: Duration::from_millis(args.hold_timeout_ms),
    };
    let target = match &args.target_cluster {
        Some(name) => Some(creds.cluster(name)?),
        None => None,
    };
    let gateway = Gateway::start(&config, cluster, target)?;
    print_listening(gateway.listening(), printer)?;
    if let Some(admin) = &gateway.listening().admin {
        printer.status(&format!("admin interface at http://{admin}/routes"));
    }
    printer.status(&format!(
        "serving cluster `{}` at {}{}; SIGINT or SIGTERM stops",
        cluster.name,
        gateway.listening().bootstrap,
        if gateway.listening().tls {
            " (TLS)"
        } else {
            ""
        }
    ));
    gateway.run_until(&stop);
    printer.status("gateway stopped");
    Ok(ExitStatus::Interrupted)
}

#[derive(tabled::Tabled)]
struct Row<'a> {
    #[tabled(rename = "NODE")]
    node: String,
    #[tabled(rename = "GATEWAY")]
    gateway: &'a str,
    #[tabled(rename = "UPSTREAM")]
    upstream: &'a str,
}

fn print_listening(listening: &Listening, printer: &Printer) -> anyhow::Result<()> {
    match printer.format() {
        Format::Json => printer.json(listening)?,
        Format::Table => {
            let bootstrap = Row {
                node: "bootstrap".into(),
                gateway: &listening.bootstrap,
                upstream: "(any bootstrap server)",
            };
            let brokers = listening.brokers.iter().map(|b| Row {
                node: b.node_id.to_string(),
                gateway: &b.gateway,
                upstream: &b.upstream,
            });
            let target = listening.target_brokers.iter().map(|b| Row {
                node: format!("target {}", b.node_id),
                gateway: &b.gateway,
                upstream: &b.upstream,
            });
            printer.table(std::iter::once(bootstrap).chain(brokers).chain(target))?;
        }
    }
    Ok(())
}
