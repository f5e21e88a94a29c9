//! Results of the comparison bench: medians and spreads, goals, a
//! Markdown summary and a small hand-written SVG bar chart.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::{Value, json};

/// nproc, memory, CPU model, kernel, Java.
pub fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown".to_owned(), |(_, v)| v.trim().to_owned());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kb: f64 = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    let cmd = |c: &str, a: &[&str]| {
        std::process::Command::new(c)
            .args(a)
            .output()
            .ok()
            .map(|o| {
                let s = if o.stdout.is_empty() {
                    o.stderr
                } else {
                    o.stdout
                };
                String::from_utf8_lossy(&s)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_owned()
            })
            .unwrap_or_default()
    };
    json!({
        "nproc": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "memory_gib": (mem_kb / 1024.0 / 1024.0 * 10.0).round() / 10.0,
        "cpu": model,
        "kernel": cmd("uname", &["-r"]),
        "java": cmd(&crate::kit::java(), &["-version"]),
        "kcp": env!("CARGO_PKG_VERSION"),
    })
}

const METRICS: [&str; 7] = [
    "records_per_s",
    "mb_per_s",
    "steady_records_per_s",
    "steady_mb_per_s",
    "first_record_s",
    "cpu_s_per_gb",
    "peak_rss_mb",
];

fn stats(mut v: Vec<f64>) -> Value {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return Value::Null;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let median = if v.len() % 2 == 1 {
        v[v.len() / 2]
    } else {
        (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
    };
    json!({"median": median, "min": v[0], "max": v[v.len() - 1], "n": v.len()})
}

/// `a`'s metric `k` over `b`'s, one ratio per repetition both completed:
/// each repetition's copies run back to back, so a ratio per repetition
/// cancels what the machine's pace does between repetitions.
fn paired_ratios(
    by: &BTreeMap<(String, String), Vec<&Value>>,
    shape: &str,
    a: &str,
    b: &str,
    k: &str,
) -> Vec<f64> {
    let runs = |tool: &str| by.get(&(shape.to_owned(), tool.to_owned()));
    let (Some(ra), Some(rb)) = (runs(a), runs(b)) else {
        return Vec::new();
    };
    ra.iter()
        .filter_map(|x| {
            let y = rb.iter().find(|y| y["rep"] == x["rep"])?;
            ratio(&x[k], &y[k]).as_f64()
        })
        .collect()
}

/// Per shape and tool: median, min, max of every metric; the ratios the
/// goals are judged on.
pub fn summarize(runs: &[Value]) -> Value {
    let mut by: BTreeMap<(String, String), Vec<&Value>> = BTreeMap::new();
    // Runs that did not copy every record (a copier that failed) are
    // counted, not averaged in.
    let mut failed: BTreeMap<(String, String), usize> = BTreeMap::new();
    for r in runs {
        let key = (
            r["shape"].as_str().unwrap_or("").to_owned(),
            r["tool"].as_str().unwrap_or("").to_owned(),
        );
        if r["landed"].as_u64() < r["records"].as_u64() {
            *failed.entry(key).or_default() += 1;
            continue;
        }
        by.entry(key).or_default().push(r);
    }
    let mut shapes = serde_json::Map::new();
    for ((shape, tool), rs) in &by {
        let mut m = serde_json::Map::new();
        for k in METRICS {
            let vals: Vec<f64> = rs.iter().filter_map(|r| r[k].as_f64()).collect();
            if !vals.is_empty() {
                m.insert(k.into(), stats(vals));
            }
        }
        let entry = shapes
            .entry(shape.clone())
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .unwrap();
        m.insert(
            "failed_runs".into(),
            json!(
                failed
                    .get(&(shape.clone(), tool.clone()))
                    .copied()
                    .unwrap_or(0)
            ),
        );
        entry.insert(tool.clone(), Value::Object(m));
    }
    let med = |s: &Value, tool: &str, k: &str| s[tool][k]["median"].as_f64();
    let mut ratios = serde_json::Map::new();
    for (shape, s) in &shapes {
        let paired = |k: &str| stats(paired_ratios(&by, shape, "kcp", "plain-loop", k));
        let r = div;
        ratios.insert(
            shape.clone(),
            json!({
                "kcp_vs_mm2_records_per_s": r(med(s, "kcp", "records_per_s"), med(s, "mm2", "records_per_s")),
                "kcp_vs_mm2_eos_records_per_s": r(med(s, "kcp", "records_per_s"), med(s, "mm2-eos", "records_per_s")),
                "kcp_vs_mm2_cpu_per_gb": r(med(s, "kcp", "cpu_s_per_gb"), med(s, "mm2", "cpu_s_per_gb")),
                "kcp_vs_mm2_peak_rss": r(med(s, "kcp", "peak_rss_mb"), med(s, "mm2", "peak_rss_mb")),
                "kcp_vs_plain_records_per_s": r(med(s, "kcp", "records_per_s"), med(s, "plain-loop", "records_per_s")),
                "kcp_steady_vs_plain_steady": r(med(s, "kcp", "steady_records_per_s"), med(s, "plain-loop", "steady_records_per_s")),
                "kcp_vs_plain_per_rep": paired("records_per_s"),
                "kcp_steady_vs_plain_steady_per_rep": paired("steady_records_per_s"),
            }),
        );
    }
    json!({"by_shape": shapes, "ratios": ratios})
}

fn f(v: &Value, digits: usize) -> String {
    match v.as_f64() {
        Some(x) if x.is_finite() => {
            if digits == 0 {
                let s = format!("{:.0}", x);
                // thousands separators
                let (sign, d) = s.strip_prefix('-').map_or(("", s.as_str()), |d| ("-", d));
                let mut out = String::new();
                for (i, c) in d.chars().enumerate() {
                    if i > 0 && (d.len() - i) % 3 == 0 {
                        out.push(',');
                    }
                    out.push(c);
                }
                format!("{sign}{out}")
            } else {
                format!("{x:.digits$}")
            }
        }
        _ => "–".into(),
    }
}

fn cell(s: &Value, digits: usize) -> String {
    if s.is_null() {
        return "–".into();
    }
    if s["n"].as_u64().unwrap_or(0) > 1 {
        format!(
            "{} ({}–{})",
            f(&s["median"], digits),
            f(&s["min"], digits),
            f(&s["max"], digits)
        )
    } else {
        f(&s["median"], digits)
    }
}

const TOOL_ORDER: [&str; 6] = [
    "consume-only",
    "produce-only",
    "plain-loop",
    "kcp",
    "mm2",
    "mm2-eos",
];

/// The summary as Markdown tables.
pub fn markdown(doc: &Value) -> String {
    let mut o = String::new();
    let by = &doc["summary"]["by_shape"];
    if let Some(shapes) = by.as_object() {
        for (shape, tools) in shapes {
            let _ = writeln!(
                o,
                "\n### Throughput, {shape} values (median, min–max over repetitions)\n"
            );
            o.push_str("| run | records/s | MB/s | steady records/s | steady MB/s | first record (s) | CPU s/GB | peak RSS MB | failed runs |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
            for t in TOOL_ORDER {
                let s = &tools[t];
                if s.is_null() {
                    continue;
                }
                let _ = writeln!(
                    o,
                    "| {t} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    cell(&s["records_per_s"], 0),
                    cell(&s["mb_per_s"], 1),
                    cell(&s["steady_records_per_s"], 0),
                    cell(&s["steady_mb_per_s"], 1),
                    cell(&s["first_record_s"], 1),
                    cell(&s["cpu_s_per_gb"], 1),
                    cell(&s["peak_rss_mb"], 0),
                    s["failed_runs"].as_u64().unwrap_or(0),
                );
            }
            let r = &doc["summary"]["ratios"][shape];
            let _ = writeln!(
                o,
                "\nRatios (medians): kcp/MM2 records/s {}, kcp/MM2-EOS records/s {}, kcp/MM2 CPU per GB {}, kcp/MM2 peak RSS {}, kcp/plain loop whole run {}, steady {}; \
                 kcp/plain loop per repetition (copies back to back), whole run {}, steady {}",
                f(&r["kcp_vs_mm2_records_per_s"], 2),
                f(&r["kcp_vs_mm2_eos_records_per_s"], 2),
                f(&r["kcp_vs_mm2_cpu_per_gb"], 2),
                f(&r["kcp_vs_mm2_peak_rss"], 2),
                f(&r["kcp_vs_plain_records_per_s"], 2),
                f(&r["kcp_steady_vs_plain_steady"], 2),
                cell(&r["kcp_vs_plain_per_rep"], 2),
                cell(&r["kcp_steady_vs_plain_steady_per_rep"], 2),
            );
        }
    }
    if let Some(off) = doc.get("offsets") {
        let _ = writeln!(
            o,
            "\n### Offset precision ({} records per topic; compacted topic {} offset gaps, transactional topic {})\n",
            off["records_per_topic"], off["compacted_gaps"], off["transactional_gaps"]
        );
        o.push_str("| tool | groups exact | records re-read | records skipped | partitions without offset | aborted source records on target |\n|---|---:|---:|---:|---:|---:|\n");
        if let Some(tools) = off["tools"].as_object() {
            for (t, v) in tools {
                let _ = writeln!(
                    o,
                    "| {t} | {}/{} | {} | {} | {} | {} |",
                    v["groups_exact"],
                    v["groups"],
                    v["reread"],
                    v["skipped"],
                    v["partitions_without_offset"],
                    v["aborted_records_on_target"]
                );
            }
        }
    }
    if let Some(crash) = doc.get("crash").and_then(|c| c.as_object()) {
        o.push_str("\n### Duplicates after 3 SIGKILLs\n\n| tool | records | read on target | duplicated | missing |\n|---|---:|---:|---:|---:|\n");
        for (t, v) in crash {
            let _ = writeln!(
                o,
                "| {t} | {} | {} | {} | {} |",
                v["records"], v["read"], v["duplicated"], v["missing"]
            );
        }
    }
    if let Some(wan) = doc.get("wan") {
        if let Some(runs) = wan["runs"].as_array() {
            let _ = writeln!(
                o,
                "\n### WAN ({} values, {} records, source 40 ms away each way; at most {} s per copy)\n",
                wan["shape"].as_str().unwrap_or(""),
                wan["records"],
                wan["max_secs"]
            );
            o.push_str("| network | tool | records/s | MB/s | steady MB/s | first record (s) | × own loopback median | × same path without delay, per repetition | landed (min) | stopped at limit |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---|\n");
            let shape = wan["shape"].as_str().unwrap_or("");
            // (network, tool) in the order first run.
            let mut keys: Vec<(&Value, &Value)> = Vec::new();
            for r in runs {
                let key = (&r["network"], &r["tool"]);
                if !keys.contains(&key) {
                    keys.push(key);
                }
            }
            for (network, tool) in keys {
                let these: Vec<&Value> = runs
                    .iter()
                    .filter(|r| r["network"] == *network && r["tool"] == *tool)
                    .collect();
                let of = |k: &str| stats(these.iter().filter_map(|r| r[k].as_f64()).collect());
                let mb = of("mb_per_s");
                let loopback = &doc["summary"]["by_shape"][shape][tool.as_str().unwrap_or("")]["mb_per_s"]
                    ["median"];
                let undelayed = stats(
                    these
                        .iter()
                        .filter_map(|r| {
                            let u = runs.iter().find(|u| {
                                u["tool"] == *tool
                                    && u["rep"] == r["rep"]
                                    && u["network"] == NO_DELAY
                            })?;
                            ratio(&r["mb_per_s"], &u["mb_per_s"]).as_f64()
                        })
                        .collect(),
                );
                let _ = writeln!(
                    o,
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    network.as_str().unwrap_or(""),
                    tool.as_str().unwrap_or(""),
                    cell(&of("records_per_s"), 0),
                    cell(&mb, 1),
                    cell(&of("steady_mb_per_s"), 1),
                    cell(&of("first_record_s"), 1),
                    f(&ratio(&mb["median"], loopback), 2),
                    cell(&undelayed, 2),
                    f(&of("landed")["min"], 0),
                    these.iter().any(|r| r["timed_out"] == true),
                );
            }
        } else if let Some(e) = wan.get("error") {
            let _ = writeln!(o, "\nWAN case failed: {e}");
        }
    }
    o
}

/// The WAN case's network without delay or loss: the same namespace,
/// veth pair and proxy, for what the path itself costs.
pub const NO_DELAY: &str = "same-path-no-delay";

/// `a / b`, or null when either is missing or `b` is not positive.
fn div(a: Option<f64>, b: Option<f64>) -> Value {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => json!(a / b),
        _ => Value::Null,
    }
}

/// [`div`] of two JSON numbers.
fn ratio(a: &Value, b: &Value) -> Value {
    div(a.as_f64(), b.as_f64())
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;")
}

/// A bar chart: per shape, per tool, median MB/s (whole run) with min–max
/// whiskers, and median CPU seconds per GB beside it.
pub fn svg(doc: &Value) -> String {
    let by = &doc["summary"]["by_shape"];
    let tools = ["plain-loop", "kcp", "mm2", "mm2-eos"];
    let colors = ["#9e9e9e", "#1f77b4", "#d62728", "#ff7f0e"];
    let panels = [
        ("mb_per_s", "MB/s, whole run (higher is better)"),
        ("cpu_s_per_gb", "CPU seconds per GB (lower is better)"),
        ("peak_rss_mb", "peak RSS, MB (lower is better)"),
    ];
    let shapes: Vec<String> = by
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    let (pw, ph, top, left) = (300.0, 220.0, 60.0, 50.0);
    let width = left + panels.len() as f64 * (pw + 30.0) + 10.0;
    let height = top + ph + 90.0;
    let mut o = String::new();
    let _ = writeln!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(
        o,
        r#"<rect width="100%" height="100%" fill="white"/><text x="{left}" y="20" font-size="14" font-weight="bold">kcp vs MirrorMaker 2 on two local Kafka {} clusters ({} cores): medians, whiskers min–max</text>"#,
        esc(doc["config"]["kafka"].as_str().unwrap_or("")),
        doc["machine"]["nproc"]
    );
    for (pi, (metric, title)) in panels.iter().enumerate() {
        let x0 = left + pi as f64 * (pw + 30.0);
        let mut maxv: f64 = 0.0;
        for s in &shapes {
            for t in tools {
                maxv = maxv.max(by[s][t][metric]["max"].as_f64().unwrap_or(0.0));
            }
        }
        if maxv <= 0.0 {
            maxv = 1.0;
        }
        let _ = writeln!(
            o,
            r#"<text x="{x0}" y="{}" font-weight="bold">{}</text>"#,
            top - 12.0,
            esc(title)
        );
        let _ = writeln!(
            o,
            r##"<line x1="{x0}" y1="{}" x2="{}" y2="{}" stroke="#333"/>"##,
            top + ph,
            x0 + pw,
            top + ph
        );
        for g in 0..=4 {
            let v = maxv * g as f64 / 4.0;
            let y = top + ph - ph * g as f64 / 4.0;
            let _ = writeln!(
                o,
                r##"<line x1="{x0}" y1="{y}" x2="{}" y2="{y}" stroke="#eee"/><text x="{}" y="{}" text-anchor="end" fill="#555">{}</text>"##,
                x0 + pw,
                x0 - 3.0,
                y + 4.0,
                if v >= 100.0 {
                    format!("{v:.0}")
                } else {
                    format!("{v:.1}")
                }
            );
        }
        let group_w = pw / shapes.len().max(1) as f64;
        let bar_w = (group_w - 20.0) / tools.len() as f64;
        for (si, s) in shapes.iter().enumerate() {
            let gx = x0 + si as f64 * group_w + 10.0;
            for (ti, t) in tools.iter().enumerate() {
                let st = &by[s][*t][metric];
                let Some(med) = st["median"].as_f64() else {
                    continue;
                };
                let x = gx + ti as f64 * bar_w;
                let h = ph * med / maxv;
                let _ = writeln!(
                    o,
                    r#"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="{}"><title>{t} {s}: {med:.1}</title></rect>"#,
                    top + ph - h,
                    bar_w - 2.0,
                    colors[ti]
                );
                if let (Some(lo), Some(hi)) = (st["min"].as_f64(), st["max"].as_f64()) {
                    let cx = x + (bar_w - 2.0) / 2.0;
                    let _ = writeln!(
                        o,
                        r##"<line x1="{cx:.1}" y1="{:.1}" x2="{cx:.1}" y2="{:.1}" stroke="#000"/>"##,
                        top + ph - ph * lo / maxv,
                        top + ph - ph * hi / maxv
                    );
                }
                let _ = writeln!(
                    o,
                    r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="9">{}</text>"#,
                    x + (bar_w - 2.0) / 2.0,
                    top + ph - h - 3.0,
                    if med >= 100.0 {
                        format!("{med:.0}")
                    } else {
                        format!("{med:.1}")
                    }
                );
            }
            let _ = writeln!(
                o,
                r#"<text x="{:.1}" y="{}" text-anchor="middle">{} values</text>"#,
                gx + (group_w - 20.0) / 2.0,
                top + ph + 16.0,
                esc(s)
            );
        }
    }
    for (ti, t) in tools.iter().enumerate() {
        let x = left + ti as f64 * 150.0;
        let y = top + ph + 45.0;
        let _ = writeln!(
            o,
            r#"<rect x="{x}" y="{}" width="12" height="12" fill="{}"/><text x="{}" y="{}">{}</text>"#,
            y - 10.0,
            colors[ti],
            x + 16.0,
            y,
            match *t {
                "plain-loop" => "plain librdkafka loop",
                "kcp" => "kcp migrate replicate",
                "mm2" => "MirrorMaker 2",
                _ => "MirrorMaker 2, exactly-once",
            }
        );
    }
    o.push_str("</svg>\n");
    o
}
