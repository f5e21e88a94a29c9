//! HCL text helpers: quoting values so that any topic name, config value or
//! principal survives as a literal, and a small layout pass that gives
//! rendered templates the exact layout `terraform fmt` produces (indentation
//! by nesting, `=` aligned across runs of one-line attributes).
//!
//! The layout pass understands the subset of HCL our templates write: one
//! attribute, block header, closing brace or comment per line, and no
//! heredocs. `terraform fmt -check` over every generated file (tests) keeps
//! that promise honest.

/// A quoted HCL string literal whose value is exactly `s`.
///
/// Besides `"` and `\`, HCL treats `${` and `%{` as the start of a template
/// sequence; they are written `$${` and `%%{`. Control characters are escaped;
/// everything else (dots, spaces, unicode) is kept as it is.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' | '%' if chars.peek() == Some(&'{') => {
                out.push(c);
                out.push(c);
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Lays out HCL text the way `terraform fmt` does, for the subset described
/// in the module docs. Blank lines are kept (runs of them collapse to one),
/// trailing blanks removed, and the text ends with exactly one newline.
pub(crate) fn layout(text: &str) -> String {
    let mut lines: Vec<Line> = Vec::new();
    let mut depth = 0usize;
    for raw in text.lines() {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            if !matches!(lines.last(), None | Some(Line::Blank)) {
                lines.push(Line::Blank);
            }
            continue;
        }
        let closes = trimmed.starts_with(['}', ']', ')']);
        if closes {
            depth = depth.saturating_sub(1);
        }
        let opens = trimmed.ends_with(['{', '[', '(']) && !trimmed.starts_with('#');
        let line = match split_attribute(trimmed) {
            Some((key, value)) if !opens => Line::Attr {
                depth,
                key: key.to_owned(),
                value: value.to_owned(),
            },
            _ => Line::Other {
                depth,
                text: trimmed.to_owned(),
            },
        };
        lines.push(line);
        if opens {
            depth += 1;
        }
    }
    while matches!(lines.last(), Some(Line::Blank)) {
        lines.pop();
    }
    // Drop blank lines right after an opening or right before a closing line.
    let mut kept: Vec<Line> = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        if matches!(line, Line::Blank) {
            let after_open = matches!(kept.last(), Some(Line::Other { text, .. }) if text.ends_with(['{', '[', '(']));
            let before_close = matches!(lines.get(i + 1), Some(Line::Other { text, .. }) if text.starts_with(['}', ']', ')']));
            if after_open || before_close {
                continue;
            }
        }
        kept.push(line.clone());
    }

    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < kept.len() {
        match &kept[i] {
            Line::Blank => {
                out.push('\n');
                i += 1;
            }
            Line::Other { depth, text } => {
                push_indent(&mut out, *depth);
                out.push_str(text);
                out.push('\n');
                i += 1;
            }
            Line::Attr { depth, .. } => {
                let run_depth = *depth;
                let end = kept[i..]
                    .iter()
                    .position(|l| !matches!(l, Line::Attr { depth, .. } if *depth == run_depth))
                    .map_or(kept.len(), |n| i + n);
                let width = kept[i..end]
                    .iter()
                    .map(|l| match l {
                        Line::Attr { key, .. } => key.chars().count(),
                        _ => 0,
                    })
                    .max()
                    .unwrap_or(0);
                for line in &kept[i..end] {
                    if let Line::Attr { key, value, .. } = line {
                        push_indent(&mut out, run_depth);
                        out.push_str(key);
                        for _ in key.chars().count()..width {
                            out.push(' ');
                        }
                        out.push_str(" = ");
                        out.push_str(value);
                        out.push('\n');
                    }
                }
                i = end;
            }
        }
    }
    out
}

#[derive(Debug, Clone)]
enum Line {
    Blank,
    Attr {
        depth: usize,
        key: String,
        value: String,
    },
    Other {
        depth: usize,
        text: String,
    },
}

fn push_indent(out: &mut String, depth: usize) {
    for _ in 0..depth {
        out.push_str("  ");
    }
}

/// `key = value` where key is an identifier or a quoted string.
fn split_attribute(line: &str) -> Option<(&str, &str)> {
    let key_end = if line.starts_with('"') {
        let mut escaped = false;
        let mut end = None;
        for (i, c) in line.char_indices().skip(1) {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => {
                    end = Some(i + 1);
                    break;
                }
                _ => {}
            }
        }
        end?
    } else {
        line.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))?
    };
    if key_end == 0 {
        return None;
    }
    let (key, rest) = line.split_at(key_end);
    let rest = rest.trim_start();
    let value = rest.strip_prefix('=')?;
    if value.starts_with('=') {
        return None;
    }
    Some((key, value.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_template_sequences_and_controls() {
        assert_eq!(quote("orders.v1"), r#""orders.v1""#);
        assert_eq!(quote(r#"a "b" \c"#), r#""a \"b\" \\c""#);
        assert_eq!(quote("${x} %{y} $ % {"), r#""$${x} %%{y} $ % {""#);
        assert_eq!(quote("tab\there\nü\u{1}"), "\"tab\\there\\nü\\u0001\"");
    }

    #[test]
    fn aligns_runs_and_indents_by_nesting() {
        let text = "resource \"x\" \"y\" {\nname = \"a\"\npartitions_count = 3\n\nconfig = {\n\"cleanup.policy\" = \"compact\"\n\"é\" = \"1\"\n}\n# comment\nb = 2\n}\n\n\n";
        assert_eq!(
            layout(text),
            "resource \"x\" \"y\" {\n  name             = \"a\"\n  partitions_count = 3\n\n  config = {\n    \"cleanup.policy\" = \"compact\"\n    \"é\"              = \"1\"\n  }\n  # comment\n  b = 2\n}\n"
        );
    }

    #[test]
    fn keeps_comparisons_and_strings_out_of_alignment() {
        assert_eq!(split_attribute("a == b"), None);
        assert_eq!(
            split_attribute(r#""k = \"v\"" = "x = y""#),
            Some((r#""k = \"v\"""#, r#""x = y""#))
        );
    }
}
