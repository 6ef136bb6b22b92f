//! `render_template`: Tera templates rendered inside the node.

use std::path::{Path, PathBuf};

/// Why `render_template` failed; every message starts with the same prefix.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("failed to render template file with: {0}")]
    Params(#[source] serde_json::Error),
    #[error("failed to render template file with: {0}")]
    Context(#[source] tera::Error),
    #[error("failed to render template file with: can't read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The template doesn't parse or doesn't render; the text has Tera's whole cause chain.
    #[error("failed to render template file with: {}", error_chain(.0))]
    Render(#[source] tera::Error),
    #[error("failed to render template file with: {source}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to render template file with: can't write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Renders the Tera template file `template` with the JSON object `params` into
/// `destination` (parent directories created, file truncated).
pub fn render_template(
    template: &Path,
    destination: &Path,
    params: &str,
) -> Result<(), TemplateError> {
    let params: serde_json::Value = serde_json::from_str(params).map_err(TemplateError::Params)?;
    let context = tera::Context::from_value(params).map_err(TemplateError::Context)?;
    let source = std::fs::read_to_string(template).map_err(|source| TemplateError::Read {
        path: template.to_path_buf(),
        source,
    })?;
    let name = destination
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "template".into());
    let mut tera = tera::Tera::default();
    tera.add_raw_template(&name, &source)
        .map_err(TemplateError::Render)?;
    let rendered = tera
        .render(&name, &context)
        .map_err(TemplateError::Render)?;
    if let Some(parent) = destination.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| TemplateError::CreateDir {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    std::fs::write(destination, rendered).map_err(|source| TemplateError::Write {
        path: destination.to_path_buf(),
        source,
    })
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(cause) = src {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        src = cause.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_spec_example() {
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path().join("t.tmpl");
        std::fs::write(&t, "p1: {{ param1 }}, p2: {{param2}}, p3: {% if param3 %}{{ param3 }}{% else %}None{% endif %}; {% for p in vParam %}({{p}}){% endfor %}").unwrap();
        let out = dir.path().join("sub/out.cfg");
        render_template(
            &t,
            &out,
            r#"{"param1":"value1","param2":2,"param3":true,"vParam":["a","bb","ccc"]}"#,
        )
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "p1: value1, p2: 2, p3: true; (a)(bb)(ccc)"
        );
    }

    #[test]
    fn undefined_variable_and_missing_template_fail() {
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path().join("t");
        std::fs::write(&t, "{{ nope }}").unwrap();
        let err = render_template(&t, &dir.path().join("o"), "{}").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("failed to render template file with:")
        );
        assert!(err.to_string().contains("nope"), "{err}");
        let err =
            render_template(&dir.path().join("missing"), &dir.path().join("o"), "{}").unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
    }
}
