//! `nib image bump [major|minor|patch]`: increase `version` in babel.yaml and set the tag of
//! `container_uri` to the new version in the same edit, keeping comments and layout.

use std::path::Path;

use eyre::{Context, Result, bail, eyre};
use semver::Version;

use crate::cli::{BumpPart, Format};

/// The result of a bump.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Bumped {
    pub text: String,
    pub old_version: String,
    pub new_version: String,
    pub old_uri: String,
    pub new_uri: String,
}

pub fn run(path: &Path, part: BumpPart, format: Format) -> Result<()> {
    let text = std::fs::read_to_string(path)
        .wrap_err_with(|| format!("cannot read {}", path.display()))?;
    let bumped = bump_text(&text, part).map_err(|e| eyre!("{}: {e}", path.display()))?;
    // the result must still be a valid definition before it replaces the file
    babel_manifest::babel_yaml::Image::from_yaml_str(&bumped.text)
        .map_err(|e| eyre!("{}: bumped text is invalid: {e}", path.display()))?;
    bv_base::write_atomic_mode(path, bumped.text.as_bytes(), 0o644)
        .wrap_err_with(|| format!("cannot write {}", path.display()))?;
    match format {
        Format::Text => {
            println!("version: {} -> {}", bumped.old_version, bumped.new_version);
            println!("container_uri: {} -> {}", bumped.old_uri, bumped.new_uri);
            println!(
                "Next: `nib image build`, then `nib image upgrade <node>` or `nib image push`"
            );
        }
        Format::Json => println!(
            "{}",
            serde_json::json!({
                "old_version": bumped.old_version,
                "new_version": bumped.new_version,
                "old_container_uri": bumped.old_uri,
                "new_container_uri": bumped.new_uri,
            })
        ),
    }
    Ok(())
}

/// Increase `part` of the top-level `version:` and retag the top-level `container_uri:`.
pub fn bump_text(text: &str, part: BumpPart) -> Result<Bumped> {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let version_line = top_level(&lines, "version")
        .ok_or_else(|| eyre!("no top-level `version:` line to bump"))?;
    let uri_line = top_level(&lines, "container_uri")
        .ok_or_else(|| eyre!("no top-level `container_uri:` line to retag"))?;
    let old_version = value(&lines[version_line]).to_string();
    let mut v = Version::parse(&old_version)
        .map_err(|e| eyre!("version '{old_version}' is not a semantic version: {e}"))?;
    match part {
        BumpPart::Major => v = Version::new(v.major + 1, 0, 0),
        BumpPart::Minor => v = Version::new(v.major, v.minor + 1, 0),
        BumpPart::Patch => v = Version::new(v.major, v.minor, v.patch + 1),
    }
    let new_version = v.to_string();
    let old_uri = value(&lines[uri_line]).to_string();
    let new_uri = retag(&old_uri, &new_version)?;
    lines[version_line] = format!("version: {new_version}");
    lines[uri_line] = format!("container_uri: {new_uri}");
    let mut out = lines.join("\n");
    if text.ends_with('\n') {
        out.push('\n');
    }
    Ok(Bumped {
        text: out,
        old_version,
        new_version,
        old_uri,
        new_uri,
    })
}

fn top_level(lines: &[String], key: &str) -> Option<usize> {
    let prefix = format!("{key}:");
    lines.iter().position(|l| l.starts_with(&prefix))
}

/// The scalar of a `key: value  # comment` line, without quotes.
fn value(line: &str) -> &str {
    let v = line.split_once(':').map_or("", |(_, v)| v);
    let v = v.split(" #").next().unwrap_or(v).trim();
    v.trim_matches(|c| c == '"' || c == '\'')
}

/// `uri` with its tag replaced by `tag` (a tag is added when there is none).
fn retag(uri: &str, tag: &str) -> Result<String> {
    if uri.contains('@') {
        bail!("container_uri '{uri}' is pinned by digest; retag it by hand");
    }
    let (scheme, reference) = ["docker-daemon://", "docker://", "oci:"]
        .iter()
        .find_map(|s| uri.strip_prefix(s).map(|r| (*s, r)))
        .ok_or_else(|| eyre!("unsupported container_uri '{uri}'"))?;
    let name_start = reference.rfind('/').map_or(0, |i| i + 1);
    let base = match reference[name_start..].rfind(':') {
        Some(i) => &reference[..name_start + i],
        None => reference,
    };
    Ok(format!("{scheme}{base}:{tag}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = "# comment\nversion: 0.1.9 # keep\ncontainer_uri: docker-daemon://demo-a-b-c:0.1.9\nvariants:\n  - version: 9.9.9\n";

    #[test]
    fn bump_moves_version_and_tag_together() {
        let b = bump_text(YAML, BumpPart::Patch).unwrap();
        assert_eq!(
            b.text,
            "# comment\nversion: 0.1.10\ncontainer_uri: docker-daemon://demo-a-b-c:0.1.10\nvariants:\n  - version: 9.9.9\n"
        );
        assert_eq!(
            bump_text(YAML, BumpPart::Minor).unwrap().new_version,
            "0.2.0"
        );
        assert_eq!(
            bump_text(YAML, BumpPart::Major).unwrap().new_version,
            "1.0.0"
        );
    }

    #[test]
    fn retag_handles_registries_ports_and_missing_tags() {
        assert_eq!(
            retag("docker://reg:5000/a/b:1", "2").unwrap(),
            "docker://reg:5000/a/b:2"
        );
        assert_eq!(
            retag("docker-daemon://x", "2").unwrap(),
            "docker-daemon://x:2"
        );
        assert!(retag("docker://a@sha256:00", "2").is_err());
    }
}
