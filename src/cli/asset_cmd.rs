//! `kcp create-asset`.

use chrono::Utc;
use tabled::Tabled;

use super::args::{AssetKind, CreateAssetArgs, GlobalArgs, TargetType};
use crate::assets::{self, PrincipalMap, Request};
use crate::exit::ExitStatus;
use crate::output::{Format, Printer};
use crate::state::{Access, StateFile};

pub(super) fn run(
    args: CreateAssetArgs,
    global: &GlobalArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let principals = match &args.principal_map {
        Some(path) => PrincipalMap::load(path)?,
        None => PrincipalMap::default(),
    };
    // A replicator plan and a gateway connect to the target by this name.
    let default_target =
        matches!(args.kind, AssetKind::Replicator | AssetKind::Gateway) && args.target.is_none();
    let request = Request {
        kind: match args.kind {
            AssetKind::TargetInfra => assets::AssetKind::TargetInfra,
            AssetKind::Topics => assets::AssetKind::Topics,
            AssetKind::Acls => assets::AssetKind::Acls,
            AssetKind::Replicator => assets::AssetKind::Replicator,
            AssetKind::Connectors => assets::AssetKind::Connectors,
            AssetKind::Quotas => assets::AssetKind::Quotas,
            AssetKind::Gateway => assets::AssetKind::Gateway,
        },
        source: args.source,
        target_type: match args.target_type {
            TargetType::ConfluentCloud => assets::TargetType::ConfluentCloud,
            TargetType::Msk => assets::TargetType::Msk,
            TargetType::Kafka => assets::TargetType::Kafka,
        },
        target: args.target,
        topics_include: args.topics_include,
        topics_exclude: args.topics_exclude,
        principals,
        connect_clusters: args.connect_clusters,
        topic_prefix: args.topic_prefix,
        topic_suffix: args.topic_suffix,
    };
    let file = StateFile::open(&global.state_file, Access::Shared)?;
    let state = file.load(Utc::now())?.state;
    let project = assets::generate(&state, &request)?;
    if args.dry_run {
        assets::check_writable(&project, &args.out, args.force)?;
    } else {
        assets::write(&project, &args.out, args.force)?;
    }
    match printer.format() {
        Format::Json => printer.json(&Summary {
            out: args.out.display().to_string(),
            dry_run: args.dry_run,
            files: project.summary(),
            left_out: &project.left_out,
        })?,
        Format::Table => {
            let rows: Vec<Row> = project
                .files
                .iter()
                .map(|f| Row {
                    file: args.out.join(&f.path).display().to_string(),
                    bytes: f.contents.len(),
                })
                .collect();
            printer.table(rows)?;
        }
    }
    if args.dry_run {
        for item in &project.left_out {
            printer.warn(&format!("left out {}: {}", item.subject, item.reason));
        }
    } else if !project.left_out.is_empty() {
        printer.warn(&format!(
            "{} item(s) left out; README.md lists each with the reason",
            project.left_out.len()
        ));
    }
    if default_target {
        printer.warn(&format!(
            "the {} names its target `{}`, a default no credentials file has: pass --target with the target's name in the credentials file{}",
            if args.kind == AssetKind::Gateway {
                "gateway's Deployment"
            } else {
                "replicator's plan"
            },
            request.target_name(),
            if args.kind == AssetKind::Gateway {
                ""
            } else {
                " (or edit `target:` in plan.yaml)"
            }
        ));
    }
    printer.status(&if args.dry_run {
        format!(
            "dry run: {} file(s) would be written to `{}`",
            project.files.len(),
            args.out.display()
        )
    } else {
        format!(
            "{} file(s) written to `{}`; see README.md there",
            project.files.len(),
            args.out.display()
        )
    });
    Ok(ExitStatus::Success)
}

#[derive(serde::Serialize)]
struct Summary<'a> {
    out: String,
    dry_run: bool,
    files: Vec<assets::FileSummary>,
    left_out: &'a [assets::LeftOut],
}

#[derive(Tabled)]
struct Row {
    file: String,
    bytes: usize,
}
