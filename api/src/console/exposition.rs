//! Reads the Prometheus / OpenMetrics text a host daemon serves on `GET /metrics`: one
//! [`Sample`] per series line; comments (`# HELP`, `# TYPE`, `# EOF`) are skipped.

/// One series value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

impl Sample {
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("metrics line {line}: {reason}")]
pub struct ParseError {
    pub line: usize,
    pub reason: &'static str,
}

/// Parses a whole exposition. Timestamps after the value are ignored.
pub fn parse(text: &str) -> Result<Vec<Sample>, ParseError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let err = |reason| ParseError {
            line: i + 1,
            reason,
        };
        let name_end = line
            .find(|c: char| c == '{' || c.is_whitespace())
            .ok_or_else(|| err("no value"))?;
        let name = line[..name_end].to_string();
        let mut rest = &line[name_end..];
        let mut labels = Vec::new();
        if rest.starts_with('{') {
            let (parsed, after) = parse_labels(&rest[1..]).ok_or_else(|| err("bad labels"))?;
            labels = parsed;
            rest = after;
        }
        let value_text = rest
            .split_whitespace()
            .next()
            .ok_or_else(|| err("no value"))?;
        let value = parse_value(value_text).ok_or_else(|| err("bad value"))?;
        out.push(Sample {
            name,
            labels,
            value,
        });
    }
    Ok(out)
}

fn parse_value(text: &str) -> Option<f64> {
    match text {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        t => t.parse().ok(),
    }
}

/// Parses `k="v",k2="v2"}` (the opening brace already consumed); returns the labels and the
/// text after the closing brace.
fn parse_labels(mut s: &str) -> Option<(Vec<(String, String)>, &str)> {
    let mut labels = Vec::new();
    loop {
        s = s.trim_start();
        if let Some(after) = s.strip_prefix('}') {
            return Some((labels, after));
        }
        let eq = s.find('=')?;
        let key = s[..eq].trim().to_string();
        s = s[eq + 1..].trim_start().strip_prefix('"')?;
        let mut value = String::new();
        let mut chars = s.char_indices();
        let end = loop {
            let (idx, c) = chars.next()?;
            match c {
                '"' => break idx,
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                c => value.push(c),
            }
        };
        labels.push((key, value));
        s = s[end + 1..].trim_start();
        if let Some(after) = s.strip_prefix(',') {
            s = after;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_with_escaped_labels() {
        let text = "# HELP bv_node_alert 1 per open alert\n# TYPE bv_node_alert gauge\n\
            bv_node_alert{node_id=\"a\",kind=\"job_failed\",message=\"job `x` said \\\"no\\\"\\nbye\"} 1.0\n\
            bv_host_load1 0.25\n\
            bv_host_network_sent_bytes_total 77 1700000000\n# EOF\n";
        let s = parse(text).unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].name, "bv_node_alert");
        assert_eq!(s[0].label("kind"), Some("job_failed"));
        assert_eq!(s[0].label("message"), Some("job `x` said \"no\"\nbye"));
        assert_eq!(s[1].labels, vec![]);
        assert_eq!(s[1].value, 0.25);
        assert_eq!(s[2].value, 77.0);
    }

    #[test]
    fn broken_lines_are_errors() {
        assert_eq!(parse("bv_x{a=\"1\" 2").unwrap_err().line, 1);
        assert!(parse("\nbv_x").is_err());
        assert!(parse("bv_x one").is_err());
    }
}
