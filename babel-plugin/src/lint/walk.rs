//! Static checks over the AST of each plugin file.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;

use rhai::{AST, ASTFlags, ASTNode, Expr, FnCallExpr, Position, Stmt};

use super::report::{Finding, Severity};
use crate::pure::validate_schedule;

/// Arities of the functions the host registers (methods on response types excluded).
const BABEL_FUNCTIONS: &[(&str, &[usize])] = &[
    ("create_job", &[2]),
    ("start_job", &[1, 2]),
    ("stop_job", &[1]),
    ("job_info", &[1]),
    ("job_status", &[1]),
    ("get_jobs", &[0]),
    ("run_jrpc", &[1, 2]),
    ("run_rest", &[1, 2]),
    ("run_sh", &[1, 2]),
    ("sanitize_sh_param", &[1]),
    ("render_template", &[3]),
    ("node_params", &[0]),
    ("node_env", &[0]),
    ("save_data", &[1]),
    ("load_data", &[0]),
    ("put_secret", &[2]),
    ("get_secret", &[1]),
    ("file_write", &[2]),
    ("file_read", &[1]),
    ("add_task", &[3, 4]),
    ("delete_task", &[1]),
    ("info", &[1]),
    ("warn", &[1]),
    ("error", &[1]),
    ("parse_json", &[1]),
    ("parse_hex", &[1]),
    ("system_time", &[0]),
    ("parse_rfc3339", &[1]),
    ("parse_rfc2822", &[1]),
    ("parse_time", &[2]),
    ("default_init", &[0]),
    ("default_upload", &[0]),
];

/// One compiled plugin file and what other checks need to know about it.
pub(super) struct FileInfo {
    /// Path relative to the plugin directory, as reported in findings.
    pub name: String,
    pub ast: AST,
    /// Script functions by name: the numbers of parameters of their overloads.
    pub functions: HashMap<String, BTreeSet<usize>>,
    /// Top-level `const` names (reachable as `global::X`).
    pub constants: HashSet<String>,
    /// `import "path" as alias` at top level: alias → path.
    pub imports: HashMap<String, String>,
    /// Every variable and parameter name (a call `f(x)` may call a function pointer in `f`).
    pub variables: HashSet<String>,
}

impl FileInfo {
    pub fn new(name: String, ast: AST) -> Self {
        let mut functions: HashMap<String, BTreeSet<usize>> = HashMap::new();
        let mut variables = HashSet::new();
        for f in ast.iter_functions() {
            functions
                .entry(f.name.to_string())
                .or_default()
                .insert(f.params.len());
            variables.extend(f.params.iter().map(|p| p.to_string()));
        }
        ast.walk(&mut |path: &[ASTNode]| {
            match path.last() {
                Some(ASTNode::Stmt(Stmt::Var(x, _, _))) => {
                    variables.insert(x.0.name.to_string());
                }
                Some(ASTNode::Stmt(Stmt::For(x, _))) => {
                    variables.insert(x.0.name.to_string());
                    if let Some(counter) = &x.1 {
                        variables.insert(counter.name.to_string());
                    }
                }
                _ => {}
            }
            true
        });
        let mut constants = HashSet::new();
        let mut imports = HashMap::new();
        for stmt in ast.statements() {
            match stmt {
                Stmt::Var(x, flags, _) if flags.intersects(ASTFlags::CONSTANT) => {
                    constants.insert(x.0.name.to_string());
                }
                Stmt::Import(x, _) => {
                    if let Expr::StringConstant(path, _) = &x.0 {
                        imports.insert(x.1.name.to_string(), path.to_string());
                    }
                }
                _ => {}
            }
        }
        Self {
            name,
            ast,
            functions,
            constants,
            imports,
            variables,
        }
    }

    pub fn has_fn(&self, name: &str, params: usize) -> bool {
        self.functions
            .get(name)
            .is_some_and(|arities| arities.contains(&params))
    }

    pub fn finding(&self, pos: Position, severity: Severity, message: String) -> Finding {
        Finding {
            file: self.name.clone(),
            line: pos.line().unwrap_or(0),
            column: pos.position().unwrap_or(0),
            message,
            severity,
        }
    }

    /// Position of the first string literal equal to `text` (to point at config values).
    pub fn find_string(&self, text: &str) -> Option<Position> {
        let mut found = None;
        self.ast.walk(&mut |path: &[ASTNode]| {
            if let Some(ASTNode::Expr(Expr::StringConstant(s, pos))) = path.last()
                && s.as_str() == text
            {
                found = Some(*pos);
                return false;
            }
            true
        });
        found
    }
    /// Position of the map key `key` (`#{key: ...}`) for the config key path
    /// `parent.key`: first inside a map or array of maps that is the value of a `parent`
    /// key, else anywhere in the file.
    pub fn find_map_key(&self, parent: Option<&str>, key: &str) -> Option<Position> {
        fn key_in(expr: &Expr, key: &str) -> Option<Position> {
            match expr {
                Expr::Map(x, _) => {
                    x.0.iter()
                        .find(|(id, _)| id.name == key)
                        .map(|(id, _)| id.pos)
                }
                Expr::Array(items, _) => items.iter().find_map(|item| key_in(item, key)),
                _ => None,
            }
        }
        let mut under_parent = None;
        let mut anywhere = None;
        self.ast.walk(&mut |path: &[ASTNode]| {
            if let Some(ASTNode::Expr(Expr::Map(x, _))) = path.last() {
                for (id, value) in &x.0 {
                    if anywhere.is_none() && id.name == key {
                        anywhere = Some(id.pos);
                    }
                    if under_parent.is_none() && parent == Some(id.name.as_str()) {
                        under_parent = key_in(value, key);
                    }
                }
            }
            under_parent.is_none()
        });
        under_parent.or(anywhere)
    }
}

/// Module key of an import path (`"base"` or `"lib/base.rhai"` → `lib/base`).
pub(super) fn module_key(path: &str) -> String {
    path.trim_start_matches("./")
        .trim_end_matches(".rhai")
        .to_string()
}

/// What the checks of one file need from the rest of the plugin.
pub(super) struct Context<'a> {
    /// Every compiled file by module key.
    pub modules: &'a HashMap<String, FileInfo>,
    /// The entry script (functions tasks may name).
    pub main: Option<&'a FileInfo>,
    pub properties: &'a BTreeMap<String, String>,
    /// Names of every function the plugin engine provides (standard library, babel
    /// functions, methods of the response types).
    pub engine_functions: &'a BTreeSet<String>,
}

/// Functions the Rhai language itself provides as keywords.
const KEYWORD_FUNCTIONS: &[&str] = &[
    "print",
    "debug",
    "type_of",
    "eval",
    "Fn",
    "call",
    "curry",
    "is_def_var",
    "is_def_fn",
    "is_shared",
];

fn is_node_params_call(expr: &Expr) -> bool {
    matches!(expr, Expr::FnCall(f, _) if f.name == "node_params" && f.args.is_empty() && f.namespace.is_empty())
}

/// The first key of an index/property chain: `["k"]` or `.k`.
fn first_key(expr: &Expr) -> Option<(String, Position)> {
    match expr {
        Expr::StringConstant(s, pos) => Some((s.to_string(), *pos)),
        Expr::Property(x, pos) => Some((x.2.to_string(), *pos)),
        Expr::Index(b, _, _) | Expr::Dot(b, _, _) => first_key(&b.lhs),
        _ => None,
    }
}

fn is_string_literal(expr: &Expr) -> bool {
    matches!(
        expr,
        Expr::StringConstant(..) | Expr::InterpolatedString(..)
    )
}

struct Checker<'a> {
    file: &'a FileInfo,
    ctx: &'a Context<'a>,
    /// Variables assigned `node_params()`.
    params_vars: HashSet<String>,
    findings: Vec<Finding>,
}

impl Checker<'_> {
    fn error(&mut self, pos: Position, message: String) {
        self.findings
            .push(self.file.finding(pos, Severity::Error, message));
    }

    fn property_key(&mut self, key: &str, pos: Position) {
        if !self.ctx.properties.contains_key(key) {
            self.findings.push(self.file.finding(
                pos,
                Severity::Warning,
                format!("'{key}' not defined in babel.yaml"),
            ));
        }
    }

    fn node(&mut self, node: &ASTNode) {
        match node {
            ASTNode::Stmt(Stmt::Var(x, _, _)) if is_node_params_call(&x.1) => {
                self.params_vars.insert(x.0.name.to_string());
            }
            ASTNode::Stmt(Stmt::FnCall(call, pos)) | ASTNode::Expr(Expr::FnCall(call, pos)) => {
                self.call(call, *pos);
            }
            ASTNode::Expr(Expr::MethodCall(call, pos)) => self.defined(call, *pos, true),
            ASTNode::Expr(Expr::Index(b, _, _) | Expr::Dot(b, _, _)) => {
                let params = is_node_params_call(&b.lhs)
                    || matches!(&b.lhs, Expr::Variable(v, _, _)
                        if v.2.is_empty() && self.params_vars.contains(v.1.as_str()));
                if params && let Some((key, pos)) = first_key(&b.rhs) {
                    self.property_key(&key, pos);
                }
            }
            ASTNode::Expr(Expr::Variable(v, _, pos)) => {
                let ns = &v.2;
                if !ns.is_empty()
                    && ns.path.len() == 1
                    && ns.root() == "global"
                    && !self.file.constants.contains(v.1.as_str())
                {
                    self.error(
                        *pos,
                        format!(
                            "global::{} is not a top-level constant of {}",
                            v.1, self.file.name
                        ),
                    );
                }
            }
            _ => {}
        }
    }

    fn call(&mut self, call: &FnCallExpr, pos: Position) {
        if call.op_token.is_some() {
            return;
        }
        let name = call.name.as_str();
        let n = call.args.len();
        if !call.namespace.is_empty() {
            self.qualified_call(call, pos);
            return;
        }
        if name == "run_jrpc"
            && n == 2
            && (is_string_literal(&call.args[0]) || is_string_literal(&call.args[1]))
        {
            self.error(
                pos,
                "run_jrpc(host, method) is the old signature; use run_jrpc(#{host, method, params}) or run_jrpc(request, timeout_secs)".to_string(),
            );
            return;
        }
        if name == "add_task" && (n == 3 || n == 4) {
            self.add_task(call);
        }
        self.defined(call, pos, false);
        let mut allowed: BTreeSet<usize> =
            self.file.functions.get(name).cloned().unwrap_or_default();
        if let Some((_, arities)) = BABEL_FUNCTIONS.iter().find(|(f, _)| *f == name) {
            allowed.extend(arities.iter().copied());
        }
        if !allowed.is_empty() && !allowed.contains(&n) {
            let expected: Vec<String> = allowed.iter().map(ToString::to_string).collect();
            self.error(
                pos,
                format!(
                    "function '{name}' called with {n} argument(s), but it takes {}",
                    expected.join(" or ")
                ),
            );
        }
    }

    /// An unqualified call must name a script function, an engine function or a variable
    /// holding a function pointer.
    fn defined(&mut self, call: &FnCallExpr, pos: Position, method: bool) {
        let name = call.name.as_str();
        if !call.namespace.is_empty()
            || call.op_token.is_some()
            || self.file.functions.contains_key(name)
            || self.ctx.engine_functions.contains(name)
            || KEYWORD_FUNCTIONS.contains(&name)
            || (!method && self.file.variables.contains(name))
        {
            return;
        }
        let known = self
            .file
            .functions
            .keys()
            .map(String::as_str)
            .chain(self.ctx.engine_functions.iter().map(String::as_str))
            .filter(|f| !f.contains('$'));
        let hint = bv_base::suggest::hint(name, known);
        let kind = if method { "method" } else { "function" };
        self.error(pos, format!("{kind} '{name}' is not defined{hint}"));
    }

    fn qualified_call(&mut self, call: &FnCallExpr, pos: Position) {
        let ns = &call.namespace;
        if ns.path.len() != 1 {
            return;
        }
        let Some(path) = self.file.imports.get(ns.root()) else {
            return;
        };
        let Some(module) = self.ctx.modules.get(&module_key(path)) else {
            return;
        };
        let name = call.name.as_str();
        let n = call.args.len();
        match module.functions.get(name) {
            None => self.error(
                pos,
                format!(
                    "function '{}::{name}' is not defined in {}",
                    ns.root(),
                    module.name
                ),
            ),
            Some(arities) if !arities.contains(&n) => {
                let expected: Vec<String> = arities.iter().map(ToString::to_string).collect();
                self.error(
                    pos,
                    format!(
                        "function '{}::{name}' called with {n} argument(s), but it takes {}",
                        ns.root(),
                        expected.join(" or ")
                    ),
                );
            }
            Some(_) => {}
        }
    }

    fn add_task(&mut self, call: &FnCallExpr) {
        if let Expr::StringConstant(schedule, pos) = &call.args[1]
            && let Err(err) = validate_schedule(schedule)
        {
            self.error(*pos, err.to_string());
        }
        if let (Expr::StringConstant(function, pos), Some(main)) = (&call.args[2], self.ctx.main) {
            let with_param = call.args.len() == 4;
            let exists = main.has_fn(function, 1) || (!with_param && main.has_fn(function, 0));
            if !exists {
                self.error(
                    *pos,
                    format!(
                        "scheduled function '{function}' is not defined in {}",
                        main.name
                    ),
                );
            }
        }
    }
}

/// Every static finding of one file.
pub(super) fn check_file(file: &FileInfo, ctx: &Context) -> Vec<Finding> {
    let mut checker = Checker {
        file,
        ctx,
        params_vars: HashSet::new(),
        findings: Vec::new(),
    };
    file.ast.walk(&mut |path: &[ASTNode]| {
        if let Some(node) = path.last() {
            checker.node(node);
        }
        true
    });
    checker.findings
}

/// Directory of plugin unit tests next to `main.rhai` (run by `nib image test` against a
/// mocked engine, never part of the plugin, so not linted as plugin files).
pub const TESTS_DIR: &str = "tests";

/// Plugin files: every `*.rhai` under `dir`, recursively, sorted; `dir/tests/` excluded.
pub(super) fn rhai_files(dir: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut files = Vec::new();
    let tests = dir.join(TESTS_DIR);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                if path != tests {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "rhai")
                && !path.to_string_lossy().ends_with(".d.rhai")
            {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}
