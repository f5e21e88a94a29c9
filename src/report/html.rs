//! Renders a [`Document`] as one self-contained HTML file: inline CSS, inline
//! SVG charts drawn here, no scripts, no network, no external assets.

use std::fmt::Write;

use chrono::DateTime;

use super::doc::{Block, Chart, Document};

const PALETTE: &[&str] = &[
    "#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563",
];

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:2rem auto;max-width:1100px;padding:0 1rem;color:#111827;line-height:1.45}\
h1{font-size:1.8rem;margin-bottom:.4rem}h2{margin-top:2.2rem;border-bottom:1px solid #e5e7eb;padding-bottom:.2rem}h3{margin-top:1.6rem}\
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:.15rem 1rem;color:#374151}dl.meta dt{font-weight:600}dl.meta dd{margin:0}\
table{border-collapse:collapse;margin:.6rem 0;font-size:.9rem;width:100%}th,td{border:1px solid #e5e7eb;padding:.3rem .55rem;text-align:left;vertical-align:top}\
th{background:#f3f4f6}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}tr:nth-child(even) td{background:#fafafa}\
pre{background:#f3f4f6;padding:.6rem;overflow-x:auto;font-size:.8rem;white-space:pre-wrap;word-break:break-all}\
figure{margin:1rem 0}figcaption{font-weight:600;margin-bottom:.3rem}svg.chart{width:100%;height:auto;background:#fff;border:1px solid #e5e7eb}\
svg.chart text{font-size:11px;fill:#374151}svg.chart .grid{stroke:#e5e7eb}svg.chart .axis{stroke:#9ca3af}";

/// Escapes text for HTML element content and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Renders the document.
pub(crate) fn render(doc: &Document) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        escape(&doc.title),
        escape(&doc.title)
    );
    if !doc.meta.is_empty() {
        out.push_str("<dl class=\"meta\">\n");
        for (key, value) in &doc.meta {
            let _ = writeln!(out, "<dt>{}</dt><dd>{}</dd>", escape(key), escape(value));
        }
        out.push_str("</dl>\n");
    }
    let mut chart_index = 0;
    for section in &doc.sections {
        let level = section.level.clamp(2, 4);
        let _ = writeln!(out, "<h{level}>{}</h{level}>", escape(&section.heading));
        for block in &section.blocks {
            match block {
                Block::Paragraph(text) => {
                    let _ = writeln!(out, "<p>{}</p>", escape(text));
                }
                Block::List(items) => {
                    out.push_str("<ul>\n");
                    for item in items {
                        let _ = writeln!(out, "<li>{}</li>", escape(item));
                    }
                    out.push_str("</ul>\n");
                }
                Block::Code(code) => {
                    let _ = writeln!(out, "<pre><code>{}</code></pre>", escape(code));
                }
                Block::Table(table) => {
                    out.push_str("<table>\n<thead><tr>");
                    for (i, h) in table.headers.iter().enumerate() {
                        let class = if table.numeric.get(i) == Some(&true) {
                            " class=\"n\""
                        } else {
                            ""
                        };
                        let _ = write!(out, "<th{class}>{}</th>", escape(h));
                    }
                    out.push_str("</tr></thead>\n<tbody>\n");
                    for row in &table.rows {
                        out.push_str("<tr>");
                        for (i, cell) in row.iter().enumerate() {
                            let class = if table.numeric.get(i) == Some(&true) {
                                " class=\"n\""
                            } else {
                                ""
                            };
                            let _ = write!(out, "<td{class}>{}</td>", escape(cell));
                        }
                        out.push_str("</tr>\n");
                    }
                    out.push_str("</tbody>\n</table>\n");
                }
                Block::Chart(chart) => {
                    chart_index += 1;
                    out.push_str(&svg_chart(chart, chart_index));
                }
            }
        }
    }
    out.push_str("</body>\n</html>\n");
    out
}

/// Short number for axis labels: 1.2k, 3.4M, 5.6G.
fn short(value: f64) -> String {
    let abs = value.abs();
    let (scaled, suffix) = if abs >= 1e9 {
        (value / 1e9, "G")
    } else if abs >= 1e6 {
        (value / 1e6, "M")
    } else if abs >= 1e3 {
        (value / 1e3, "k")
    } else {
        (value, "")
    };
    let text = if scaled.fract().abs() < 1e-9 {
        format!("{scaled:.0}")
    } else {
        format!("{scaled:.1}")
    };
    format!("{text}{suffix}")
}

/// A "nice" upper bound for the y axis.
fn nice_max(max: f64) -> f64 {
    if max <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(max.log10().floor());
    for step in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if step * magnitude >= max {
            return step * magnitude;
        }
    }
    10.0 * magnitude
}

fn date(t: i64) -> String {
    DateTime::from_timestamp(t, 0)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// An SVG line chart: axes, grid, legend, one polyline and one circle (with
/// a tooltip) per data point.
fn svg_chart(chart: &Chart, index: usize) -> String {
    const W: f64 = 760.0;
    const H: f64 = 280.0;
    const LEFT: f64 = 64.0;
    const RIGHT: f64 = 16.0;
    const TOP: f64 = 40.0;
    const BOTTOM: f64 = 36.0;
    let all: Vec<(i64, f64)> = chart
        .series
        .iter()
        .flat_map(|s| s.points.iter().copied())
        .collect();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<figure><figcaption>{}</figcaption>\n<svg class=\"chart\" id=\"chart-{index}\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{}\" xmlns=\"http://www.w3.org/2000/svg\">",
        escape(&chart.title),
        escape(&chart.title)
    );
    if all.is_empty() {
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\">no data</text></svg></figure>",
            W / 2.0 - 20.0,
            H / 2.0
        );
        return out;
    }
    let (mut x0, mut x1) = (
        all.iter().map(|p| p.0).min().unwrap_or(0),
        all.iter().map(|p| p.0).max().unwrap_or(0),
    );
    if x0 == x1 {
        x0 -= 43_200;
        x1 += 43_200;
    }
    let y_max = nice_max(all.iter().map(|p| p.1).fold(0.0, f64::max));
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let x = |t: i64| LEFT + (t - x0) as f64 / (x1 - x0) as f64 * plot_w;
    let y = |v: f64| TOP + plot_h - (v.max(0.0) / y_max) * plot_h;

    // Grid and y labels.
    for i in 0..=4 {
        let value = y_max * f64::from(i) / 4.0;
        let gy = y(value);
        let _ = writeln!(
            out,
            "<line class=\"grid\" x1=\"{LEFT}\" y1=\"{gy:.1}\" x2=\"{:.1}\" y2=\"{gy:.1}\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            W - RIGHT,
            LEFT - 6.0,
            gy + 4.0,
            short(value)
        );
    }
    // X labels: up to 6 evenly spaced dates.
    for i in 0..=5 {
        let t = x0 + (x1 - x0) * i / 5;
        // The outer labels are anchored inward so they are not clipped.
        let anchor = match i {
            0 => "start",
            5 => "end",
            _ => "middle",
        };
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\">{}</text>",
            x(t),
            H - BOTTOM + 16.0,
            date(t)
        );
    }
    let _ = writeln!(
        out,
        "<line class=\"axis\" x1=\"{LEFT}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\"/><text x=\"4\" y=\"14\">{}</text>",
        TOP + plot_h,
        W - RIGHT,
        TOP + plot_h,
        escape(&chart.unit)
    );
    // Legend.
    let mut lx = LEFT;
    for (i, s) in chart.series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let _ = writeln!(
            out,
            "<rect x=\"{lx:.1}\" y=\"20\" width=\"10\" height=\"10\" fill=\"{color}\"/><text x=\"{:.1}\" y=\"29\">{}</text>",
            lx + 14.0,
            escape(&s.name)
        );
        lx += 24.0 + 7.0 * s.name.chars().count() as f64;
    }
    // Series.
    for (i, s) in chart.series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let path: Vec<String> = s
            .points
            .iter()
            .map(|&(t, v)| format!("{:.1},{:.1}", x(t), y(v)))
            .collect();
        let _ = writeln!(
            out,
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/>",
            path.join(" ")
        );
        for &(t, v) in &s.points {
            let _ = writeln!(
                out,
                "<circle class=\"pt\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.5\" fill=\"{color}\"><title>{} {}: {}</title></circle>",
                x(t),
                y(v),
                escape(&s.name),
                date(t),
                short(v)
            );
        }
    }
    out.push_str("</svg></figure>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::super::doc::{Section, Series};
    use super::*;

    #[test]
    fn escapes_everything_user_controlled() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn charts_have_one_point_per_datapoint() {
        let chart = Chart {
            title: "t <1>".into(),
            unit: "B/s".into(),
            series: vec![Series {
                name: "in".into(),
                points: vec![(0, 1.0), (86_400, 3.0), (172_800, 2.0)],
            }],
        };
        let doc = Document {
            title: "r".into(),
            meta: vec![],
            sections: vec![Section {
                heading: "s".into(),
                level: 2,
                blocks: vec![Block::Chart(chart)],
            }],
        };
        let html = render(&doc);
        assert_eq!(html.matches("<circle class=\"pt\"").count(), 3);
        assert!(html.contains("t &lt;1&gt;"));
        assert!(!html.contains("<script"));
        assert!(
            !html.contains("http://")
                || html.matches("http://").count()
                    == html.matches("xmlns=\"http://www.w3.org/2000/svg\"").count()
        );
    }

    #[test]
    fn nice_axis_bounds() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(7.3), 10.0);
        assert_eq!(nice_max(24_800_000.0), 25_000_000.0);
        assert_eq!(short(25_000_000.0), "25M");
        assert_eq!(short(1_500.0), "1.5k");
    }
}
