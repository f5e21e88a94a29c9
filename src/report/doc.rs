//! A small document model that every report renders into, and its Markdown
//! and CSV renderers. Keeping reports as data (sections, tables, charts)
//! makes each output format one renderer instead of one per report.

use std::fmt::Write;

use crate::output::{escape, escape_lines};

/// A whole report.
#[derive(Debug, Clone, Default)]
pub(crate) struct Document {
    pub title: String,
    /// Key/value lines under the title (period, source, generated at).
    pub meta: Vec<(String, String)>,
    pub sections: Vec<Section>,
}

/// A titled part of a report.
#[derive(Debug, Clone, Default)]
pub(crate) struct Section {
    pub heading: String,
    /// 2 for a top-level section, 3 below it.
    pub level: u8,
    pub blocks: Vec<Block>,
}

/// Content of a section.
#[derive(Debug, Clone)]
pub(crate) enum Block {
    Paragraph(String),
    List(Vec<String>),
    Table(Table),
    Chart(Chart),
    /// A command or query, shown verbatim.
    Code(String),
}

/// A table; `numeric[i]` right-aligns column `i`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Table {
    pub headers: Vec<String>,
    pub numeric: Vec<bool>,
    pub rows: Vec<Vec<String>>,
}

/// A line chart over time.
#[derive(Debug, Clone, Default)]
pub(crate) struct Chart {
    pub title: String,
    pub unit: String,
    pub series: Vec<Series>,
}

/// One line of a chart: points are (Unix seconds, value).
#[derive(Debug, Clone, Default)]
pub(crate) struct Series {
    pub name: String,
    pub points: Vec<(i64, f64)>,
}

impl Table {
    /// A table with the given headers; numeric columns are marked with a
    /// leading `>` in the header text (stripped).
    pub(crate) fn new(headers: &[&str]) -> Self {
        Table {
            headers: headers
                .iter()
                .map(|h| h.trim_start_matches('>').to_owned())
                .collect(),
            numeric: headers.iter().map(|h| h.starts_with('>')).collect(),
            rows: Vec::new(),
        }
    }

    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }
}

impl Section {
    pub(crate) fn new(heading: impl Into<String>, level: u8) -> Self {
        Section {
            heading: heading.into(),
            level,
            blocks: Vec::new(),
        }
    }
}

impl Document {
    /// The document with every text [`escape`]d (names come from brokers and
    /// hand-edited files): what the Markdown and HTML renderers are given.
    pub(crate) fn escaped(mut self) -> Document {
        let one = |text: &mut String| *text = escape(text).into_owned();
        let lines = |text: &mut String| *text = escape_lines(text).into_owned();
        one(&mut self.title);
        for (key, value) in &mut self.meta {
            one(key);
            one(value);
        }
        for section in &mut self.sections {
            one(&mut section.heading);
            for block in &mut section.blocks {
                match block {
                    Block::Paragraph(text) | Block::Code(text) => lines(text),
                    Block::List(items) => items.iter_mut().for_each(lines),
                    Block::Table(table) => {
                        table.headers.iter_mut().for_each(one);
                        table.rows.iter_mut().flatten().for_each(one);
                    }
                    Block::Chart(chart) => {
                        one(&mut chart.title);
                        one(&mut chart.unit);
                        chart.series.iter_mut().for_each(|s| one(&mut s.name));
                    }
                }
            }
        }
        self
    }
}

/// Escapes a Markdown table cell.
fn md_cell(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('\n', " ")
}

/// Renders a document as GitHub-flavoured Markdown.
pub(crate) fn markdown(doc: &Document) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {}\n", doc.title);
    for (key, value) in &doc.meta {
        let _ = writeln!(out, "- **{key}:** {value}");
    }
    for section in &doc.sections {
        let _ = writeln!(
            out,
            "\n{} {}",
            "#".repeat(section.level as usize),
            section.heading
        );
        for block in &section.blocks {
            out.push('\n');
            match block {
                Block::Paragraph(text) => {
                    let _ = writeln!(out, "{text}");
                }
                Block::List(items) => {
                    for item in items {
                        let _ = writeln!(out, "- {item}");
                    }
                }
                Block::Code(code) => {
                    let _ = writeln!(out, "```sh\n{code}\n```");
                }
                Block::Chart(chart) => {
                    let points: usize = chart.series.iter().map(|s| s.points.len()).sum();
                    let _ = writeln!(
                        out,
                        "_Chart: {} ({} series, {points} points; see the HTML report)._",
                        chart.title,
                        chart.series.len()
                    );
                }
                Block::Table(table) => {
                    let _ = writeln!(
                        out,
                        "| {} |",
                        table
                            .headers
                            .iter()
                            .map(|h| md_cell(h))
                            .collect::<Vec<_>>()
                            .join(" | ")
                    );
                    let align: Vec<&str> = table
                        .numeric
                        .iter()
                        .map(|n| if *n { "---:" } else { "---" })
                        .collect();
                    let _ = writeln!(out, "| {} |", align.join(" | "));
                    for row in &table.rows {
                        let _ = writeln!(
                            out,
                            "| {} |",
                            row.iter()
                                .map(|c| md_cell(c))
                                .collect::<Vec<_>>()
                                .join(" | ")
                        );
                    }
                }
            }
        }
    }
    out
}

/// A CSV field: control characters [`escape`]d, a text a spreadsheet would
/// take for a formula (starting with `=`, `+`, `-`, `@`, tab or CR, and not
/// a number) prefixed with `'` as OWASP recommends, quoted as RFC 4180
/// requires.
pub(crate) fn csv_field(text: &str) -> String {
    let formula =
        text.starts_with(['=', '+', '-', '@', '\t', '\r']) && text.parse::<f64>().is_err();
    let text = if formula {
        format!("'{}", escape(text))
    } else {
        escape(text).into_owned()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// Renders rows as RFC 4180 CSV (CRLF line ends, header first).
pub(crate) fn csv(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = String::new();
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .map(|c| csv_field(c))
            .collect::<Vec<_>>()
            .join(",")
            + "\r\n"
    };
    out.push_str(&line(headers.iter().map(|h| (*h).to_owned()).collect()));
    for row in rows {
        out.push_str(&line(row.clone()));
    }
    out
}

/// Formats a number with thousands separators and `decimals` decimals.
pub(crate) fn num(value: f64, decimals: usize) -> String {
    let text = format!("{:.*}", decimals, value.abs());
    let (int, frac) = text
        .split_once('.')
        .map_or((text.as_str(), None), |(i, f)| (i, Some(f)));
    let mut grouped = String::new();
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    let sign = if value < 0.0 && text.chars().any(|c| c.is_ascii_digit() && c != '0') {
        "-"
    } else {
        ""
    };
    match frac {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_per_rfc_4180() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "two\\nlines");
        assert_eq!(
            csv(&["a", "b"], &[vec!["1".into(), "x,y".into()]]),
            "a,b\r\n1,\"x,y\"\r\n"
        );
    }

    #[test]
    fn csv_cells_that_look_like_formulas_are_neutralised() {
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_field("+cmd"), "'+cmd");
        assert_eq!(csv_field("-x"), "'-x");
        assert_eq!(csv_field("\tx"), "'\\tx");
        assert_eq!(csv_field("-12.5"), "-12.5");
        assert_eq!(csv_field("a\x1b[2Jb"), "a\\u{1b}[2Jb");
    }

    #[test]
    fn numbers_are_grouped() {
        assert_eq!(num(1234567.891, 2), "1,234,567.89");
        assert_eq!(num(999.0, 0), "999");
        assert_eq!(num(-1000.5, 1), "-1,000.5");
        assert_eq!(num(-0.001, 2), "0.00");
        assert_eq!(num(0.0, 0), "0");
    }

    #[test]
    fn markdown_escapes_cells() {
        let mut t = Table::new(&["name", ">n"]);
        t.row(vec!["a|b".into(), "1".into()]);
        let doc = Document {
            title: "T".into(),
            meta: vec![],
            sections: vec![Section {
                heading: "S".into(),
                level: 2,
                blocks: vec![Block::Table(t)],
            }],
        };
        let md = markdown(&doc);
        assert!(md.contains("| a\\|b | 1 |"), "{md}");
        assert!(md.contains("| --- | ---: |"), "{md}");
    }
}
