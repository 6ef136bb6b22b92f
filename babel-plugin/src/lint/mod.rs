//! The plugin linter: a dry run of `init` against a permissive stub
//! engine, then static checks of every `*.rhai` file. Findings carry file:line:column.

mod report;
mod stub;
mod walk;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::script::base_engine;
use super::{MAIN_SCRIPT, Plugin, PluginError, PluginLimits, pure};
use babel_api::node_env::NodeEnv;

pub use report::{Finding, LintReport, Severity};
use walk::{Context, FileInfo};

/// Limits of the dry run: a looping plugin fails the check instead of hanging it.
fn lint_limits() -> PluginLimits {
    PluginLimits {
        call_timeout: Duration::from_secs(3),
        ..PluginLimits::default()
    }
}

/// Checks the plugin in `plugin_dir` (entry `main.rhai`) as it would run on a node with
/// `node_env` and the image variant's `properties`.
pub fn lint(
    plugin_dir: &Path,
    node_env: NodeEnv,
    properties: BTreeMap<String, String>,
) -> LintReport {
    let mut findings = Vec::new();
    let (modules, main) = compile_all(plugin_dir, &mut findings);
    let engine_functions = engine_functions(plugin_dir);
    let main_info = main.as_ref().and_then(|key| modules.get(key));

    let stub = Arc::new(stub::StubEngine::new(node_env, properties.clone()));
    if main_info.is_some() {
        dry_run(plugin_dir, stub.clone(), main_info, &mut findings);
    }

    let ctx = Context {
        modules: &modules,
        main: main_info,
        properties: &properties,
        engine_functions: &engine_functions,
    };
    let mut keys: Vec<&String> = modules.keys().collect();
    keys.sort();
    for key in keys {
        findings.extend(walk::check_file(&modules[key], &ctx));
    }
    if let Some(main) = main_info {
        check_tasks(main, &stub.tasks(), &mut findings);
    }
    findings.sort_by(|a, b| {
        (&a.file, a.line, a.column, &a.message).cmp(&(&b.file, b.line, b.column, &b.message))
    });
    findings.dedup();
    LintReport { findings }
}

/// Names of every function the plugin engine registers.
fn engine_functions(plugin_dir: &Path) -> BTreeSet<String> {
    base_engine(&lint_limits(), Some(plugin_dir))
        .collect_fn_metadata(None, |info| Some(info.metadata.name.to_string()), true)
        .into_iter()
        .collect()
}

/// Compiles every `*.rhai` file; returns them by module key and the key of `main.rhai`.
fn compile_all(
    plugin_dir: &Path,
    findings: &mut Vec<Finding>,
) -> (HashMap<String, FileInfo>, Option<String>) {
    let mut modules = HashMap::new();
    let mut main = None;
    let files = match walk::rhai_files(plugin_dir) {
        Ok(files) => files,
        Err(err) => {
            findings.push(file_finding(
                plugin_dir.display().to_string(),
                format!("cannot read plugin directory: {err}"),
            ));
            return (modules, None);
        }
    };
    let mut engine = base_engine(&lint_limits(), Some(plugin_dir));
    engine.set_optimization_level(rhai::OptimizationLevel::None);
    for path in files {
        let name = path
            .strip_prefix(plugin_dir)
            .unwrap_or(&path)
            .display()
            .to_string();
        let source = match std::fs::read_to_string(&path) {
            Ok(source) => source,
            Err(err) => {
                findings.push(file_finding(name, format!("cannot read: {err}")));
                continue;
            }
        };
        match engine.compile(&source) {
            Ok(ast) => {
                let key = walk::module_key(&name);
                if name == MAIN_SCRIPT {
                    main = Some(key.clone());
                }
                modules.insert(key, FileInfo::new(name, ast));
            }
            Err(err) => findings.push(Finding {
                file: name,
                line: err.1.line().unwrap_or(0),
                column: err.1.position().unwrap_or(0),
                message: format!("syntax error: {}", err.0),
                severity: Severity::Error,
            }),
        }
    }
    if main.is_none() && !findings.iter().any(|f| f.file == MAIN_SCRIPT) {
        findings.push(file_finding(
            MAIN_SCRIPT.to_string(),
            "missing main.rhai".to_string(),
        ));
    }
    (modules, main)
}

fn file_finding(file: String, message: String) -> Finding {
    Finding {
        file,
        line: 0,
        column: 0,
        message,
        severity: Severity::Error,
    }
}

/// Loads the plugin against the stub and runs `init` (config evaluation + validation, then
/// the script's or the default init).
fn dry_run(
    plugin_dir: &Path,
    stub: Arc<stub::StubEngine>,
    main: Option<&FileInfo>,
    findings: &mut Vec<Finding>,
) {
    let error = |err: PluginError| {
        let (line, column) = err.position().unwrap_or((0, 0));
        Finding {
            file: MAIN_SCRIPT.to_string(),
            line,
            column,
            message: err.to_string(),
            severity: Severity::Error,
        }
    };
    let mut plugin = match Plugin::load(plugin_dir, stub, lint_limits()) {
        Ok(plugin) => plugin,
        Err(err) => {
            findings.push(error(err));
            return;
        }
    };
    if let Err(err) = plugin.init() {
        findings.push(error(err));
    }
    for unknown in plugin.config_warnings() {
        let parent = unknown
            .path
            .strip_suffix(&format!(".{}", unknown.key))
            .and_then(|p| p.rsplit('.').next())
            .map(|p| p.split('[').next().unwrap_or(p));
        let pos = main
            .and_then(|m| m.find_map_key(parent, &unknown.key))
            .unwrap_or(rhai::Position::NONE);
        findings.push(Finding {
            file: MAIN_SCRIPT.to_string(),
            line: pos.line().unwrap_or(0),
            column: pos.position().unwrap_or(0),
            message: unknown.to_string(),
            severity: Severity::Warning,
        });
    }
    if main.is_some_and(|m| !m.has_fn("plugin_config", 0)) {
        findings.push(Finding {
            file: MAIN_SCRIPT.to_string(),
            line: 0,
            column: 0,
            message: "Deprecated API used: missing plugin_config function".to_string(),
            severity: Severity::Warning,
        });
    }
}

/// Tasks registered during the dry run (from `plugin_config.scheduled` or `add_task`): the
/// schedule must parse and the function must exist.
fn check_tasks(main: &FileInfo, tasks: &[stub::RecordedTask], findings: &mut Vec<Finding>) {
    for task in tasks {
        let at = |text: &str| main.find_string(text).unwrap_or(rhai::Position::NONE);
        if let Err(err) = pure::validate_schedule(&task.schedule) {
            findings.push(main.finding(
                at(&task.schedule),
                Severity::Error,
                format!("task '{}': {err}", task.name),
            ));
        }
        let exists = main.has_fn(&task.function, 1)
            || (task.param.is_empty() && main.has_fn(&task.function, 0));
        if !exists {
            findings.push(main.finding(
                at(&task.function),
                Severity::Error,
                format!(
                    "task '{}': scheduled function '{}' is not defined in {}",
                    task.name, task.function, main.name
                ),
            ));
        }
    }
}
