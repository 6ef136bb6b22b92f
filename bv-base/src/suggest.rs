//! "Did you mean" suggestions: the closest known name to a misspelt one.

/// Edit distance (insertions, deletions, substitutions) between two strings, by chars.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if ca == *cb {
                diagonal
            } else {
                1 + diagonal.min(above).min(row[j])
            };
            diagonal = above;
        }
    }
    row[b.len()]
}

/// The known name closest to `name`: within about a third of its length in edits, or one that
/// starts with `name` (so `restart` suggests `restart_config`). `None` when nothing is close.
pub fn did_you_mean<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = name.chars().count().div_ceil(3);
    known
        .into_iter()
        .filter(|k| *k != name)
        .filter_map(|k| {
            let distance = edit_distance(name, k);
            let prefix = name.len() >= 3 && k.starts_with(name);
            (distance <= limit || prefix).then_some((distance, k))
        })
        .min_by_key(|(distance, k)| (*distance, *k))
        .map(|(_, k)| k)
}

/// ` (did you mean `x`?)` or nothing, to append to a message.
pub fn hint<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> String {
    did_you_mean(name, known)
        .map(|k| format!(" (did you mean `{k}`?)"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_counts_edits() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }

    #[test]
    fn suggests_close_names_and_prefixes() {
        let known = ["restart_config", "run_sh", "run_as", "name"];
        assert_eq!(did_you_mean("restart", known), Some("restart_config"));
        assert_eq!(did_you_mean("rn_sh", known), Some("run_sh"));
        assert_eq!(did_you_mean("needs", known), None);
        assert_eq!(hint("nmae", known), " (did you mean `name`?)");
        assert_eq!(hint("zzzzzz", known), "");
    }
}
