//! Where a YAML parse error points. serde_norway reports a duplicate key at
//! the start of the mapping that holds it (for a plan, the line of
//! `version:`), which sends the user to the wrong line; [`locate_duplicate`]
//! adds the line of the duplicate itself. Pure text work.

/// A duplicate-key message (`duplicate field `k` at line L column C`, or
/// `duplicate entry with key "k" at line L column C`) with the line of the
/// key's second occurrence in the block mapping that starts at L:C; any
/// other message (or a flow mapping) unchanged.
pub fn locate_duplicate(text: &str, message: &str) -> String {
    let re = regex::Regex::new(
        r#"duplicate (?:field `([^`]+)`|entry with key "([^"]+)") at line (\d+) column (\d+)"#,
    )
    .expect("a valid regex");
    let Some(c) = re.captures(message) else {
        return message.to_owned();
    };
    let key = c.get(1).or(c.get(2)).map_or("", |m| m.as_str());
    let (Ok(line), Ok(column)) = (c[3].parse::<usize>(), c[4].parse::<usize>()) else {
        return message.to_owned();
    };
    match second_key_line(text, key, line, column) {
        Some(n) => format!("{message} (the second `{key}` is at line {n})"),
        None => message.to_owned(),
    }
}

/// The 1-based line of `key`'s second occurrence among the keys of the
/// block mapping whose first key is at `line`:`column` (1-based).
fn second_key_line(text: &str, key: &str, line: usize, column: usize) -> Option<usize> {
    let indent = column.checked_sub(1)?;
    let mut seen = 0;
    for (i, l) in text.lines().enumerate().skip(line.checked_sub(1)?) {
        let trimmed = l.trim_start_matches(' ');
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let candidate = if i + 1 == line {
            // The first key may follow a sequence's `- `.
            l.get(indent..)?
        } else {
            let own = l.len() - trimmed.len();
            if own < indent {
                break;
            }
            if own > indent {
                continue;
            }
            trimmed
        };
        let is_key = [
            format!("{key}:"),
            format!("\"{key}\":"),
            format!("'{key}':"),
        ]
        .iter()
        .any(|k| {
            candidate
                .strip_prefix(k.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '#']))
        });
        if is_key {
            seen += 1;
            if seen == 2 {
                return Some(i + 1);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duplicate_is_found_where_it_is() {
        let plan = "# c\nversion: 1\ntopics:\n  include: a\nname: x\ntopics:\n  include: b\n";
        assert_eq!(
            locate_duplicate(plan, "duplicate field `topics` at line 2 column 1"),
            "duplicate field `topics` at line 2 column 1 (the second `topics` is at line 6)"
        );
        let creds =
            "clusters:\n  - name: a\n    auth: { method: plaintext }\n    name: b\n  - name: c\n";
        assert_eq!(
            locate_duplicate(
                creds,
                "clusters[0]: duplicate entry with key \"name\" at line 2 column 5"
            ),
            "clusters[0]: duplicate entry with key \"name\" at line 2 column 5 (the second `name` is at line 4)"
        );
        let nested = "cutover:\n  lag_sustain_secs: 1\n  waves: []\n  lag_sustain_secs: 2\n";
        assert!(
            locate_duplicate(
                nested,
                "cutover: duplicate field `lag_sustain_secs` at line 2 column 3"
            )
            .ends_with("(the second `lag_sustain_secs` is at line 4)")
        );
    }

    #[test]
    fn other_messages_and_flow_mappings_are_left_alone() {
        assert_eq!(locate_duplicate("a: 1\n", "invalid type"), "invalid type");
        let flow = "auth: { method: x, method: y }\n";
        assert_eq!(
            locate_duplicate(flow, "duplicate field `method` at line 1 column 7"),
            "duplicate field `method` at line 1 column 7"
        );
    }
}
