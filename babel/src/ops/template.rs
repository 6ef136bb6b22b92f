//! `render_template`: Tera templates rendered inside the node.

use std::path::Path;

#[derive(Debug, thiserror::Error)]
#[error("failed to render template file with: {0}")]
pub struct TemplateError(String);

/// Renders the Tera template file `template` with the JSON object `params` into
/// `destination` (parent directories created, file truncated).
pub fn render_template(
    template: &Path,
    destination: &Path,
    params: &str,
) -> Result<(), TemplateError> {
    let err = |e: &dyn std::fmt::Display| TemplateError(e.to_string());
    let params: serde_json::Value = serde_json::from_str(params).map_err(|e| err(&e))?;
    let context = tera::Context::from_value(params).map_err(|e| err(&e))?;
    let source = std::fs::read_to_string(template)
        .map_err(|e| err(&format!("can't read {}: {e}", template.display())))?;
    let name = destination
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "template".into());
    let mut tera = tera::Tera::default();
    tera.add_raw_template(&name, &source)
        .map_err(|e| err(&error_chain(&e)))?;
    let rendered = tera
        .render(&name, &context)
        .map_err(|e| err(&error_chain(&e)))?;
    if let Some(parent) = destination.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| err(&e))?;
    }
    std::fs::write(destination, rendered)
        .map_err(|e| err(&format!("can't write {}: {e}", destination.display())))
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
