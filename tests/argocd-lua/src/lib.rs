//! Runs Promote's Argo CD customizations for Promotions (`charts/promote/argocd`: the health
//! check and the actions) under the real Lua 5.1 interpreter, the way Argo CD's gopher-lua runs
//! them, and renders the `argocd-cm` snippet that inlines them.
//!
//! A test rig: the library depends on no operator crate, only on the Lua files, the `lua5.1`
//! binary and the YAML test tables beside the scripts; its tests use `promote-api` to check
//! that what the actions write is a Promotion the API server accepts.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Deserialize;
use serde_json::Value;

/// The Lua interpreter used unless `PROMOTE_LUA` names another.
pub const DEFAULT_LUA: &str = "lua5.1";

/// The checked-in snippet, relative to [`argocd_dir`].
pub const ARGOCD_CM: &str = "argocd-cm.yaml";

/// The command that rewrites [`ARGOCD_CM`].
pub const REGENERATE: &str = "cargo run -p promote-argocd-lua --bin argocd-cm -- --write";

/// The health check's key in `argocd-cm`.
pub const HEALTH_KEY: &str = "resource.customizations.health.promote.dev_Promotion";

/// The actions' key in `argocd-cm`.
pub const ACTIONS_KEY: &str = "resource.customizations.actions.promote.dev_Promotion";

const HARNESS: &str = include_str!("harness.lua");

/// What can go wrong running a script or reading its fixtures.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The interpreter is not installed.
    #[error(
        "the Lua interpreter `{0}` was not found: install it with `apt-get install -y lua5.1` (scripts/test installs it), or point PROMOTE_LUA at a Lua 5.1 binary"
    )]
    LuaMissing(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A fixture is not valid YAML.
    #[error("{path}: {source}")]
    Yaml {
        path: PathBuf,
        source: serde_yaml::Error,
    },
    /// The interpreter failed, or printed something that is not the harness's JSON.
    #[error("{program} on {script}: {detail}")]
    Interpreter {
        program: String,
        script: PathBuf,
        detail: String,
    },
    /// The script raised an error (or returned nothing).
    #[error("{script}: {message}")]
    Script { script: PathBuf, message: String },
    /// A Lua file cannot be inlined into YAML as it is.
    #[error("{path}: {reason}")]
    Unrenderable { path: PathBuf, reason: String },
}

/// `charts/promote/argocd`, the directory of the scripts and their tests.
pub fn argocd_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../charts/promote/argocd")
}

/// A Lua 5.1 interpreter.
#[derive(Debug, Clone)]
pub struct Lua {
    program: String,
}

impl Lua {
    /// `PROMOTE_LUA`, or [`DEFAULT_LUA`] from `PATH`.
    pub fn system() -> Self {
        Self::at(std::env::var("PROMOTE_LUA").unwrap_or_else(|_| DEFAULT_LUA.to_owned()))
    }

    /// The interpreter at `program` (a path, or a name looked up in `PATH`).
    pub fn at(program: impl Into<String>) -> Self {
        Self {
            program: program.into(),
        }
    }

    /// Runs `script` with the global `obj` set to `obj` and returns what it returned.
    pub fn run(&self, script: &Path, obj: &Value) -> Result<Value, Error> {
        let script_path = script.to_str().ok_or_else(|| Error::Script {
            script: script.to_owned(),
            message: "the path is not UTF-8".to_owned(),
        })?;
        let program = format!(
            "{HARNESS}\npromote_run({}, {})\n",
            lua_string(script_path),
            lua_literal(obj)
        );
        let interpreter = |detail: String| Error::Interpreter {
            program: self.program.clone(),
            script: script.to_owned(),
            detail,
        };
        let mut child = Command::new(&self.program)
            .arg("-")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => Error::LuaMissing(self.program.clone()),
                _ => interpreter(e.to_string()),
            })?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(program.as_bytes())
                .map_err(|e| interpreter(format!("writing the program: {e}")))?;
        }
        let out = child
            .wait_with_output()
            .map_err(|e| interpreter(e.to_string()))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            return Err(interpreter(format!(
                "{}: {}{}",
                out.status,
                String::from_utf8_lossy(&out.stderr),
                stdout
            )));
        }
        let reply: Value = serde_json::from_str(stdout.trim())
            .map_err(|e| interpreter(format!("unreadable output ({e}): {stdout}")))?;
        match (reply.get("ok"), reply.get("error")) {
            (Some(result), _) => Ok(result.clone()),
            (None, Some(message)) => Err(Error::Script {
                script: script.to_owned(),
                message: message.as_str().unwrap_or_default().to_owned(),
            }),
            (None, None) => Err(Error::Script {
                script: script.to_owned(),
                message: "the script returned nothing".to_owned(),
            }),
        }
    }
}

/// A Lua expression that builds `value`: objects become tables with string keys, arrays
/// become sequences, null becomes nil (as Argo CD hands absent fields to scripts).
pub fn lua_literal(value: &Value) -> String {
    let mut out = String::new();
    push_literal(&mut out, value);
    out
}

fn push_literal(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("nil"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => out.push_str(&lua_string(s)),
        Value::Array(items) => {
            out.push('{');
            for item in items {
                push_literal(out, item);
                out.push_str(", ");
            }
            out.push('}');
        }
        Value::Object(map) => {
            out.push('{');
            for (k, v) in map {
                out.push('[');
                out.push_str(&lua_string(k));
                out.push_str("] = ");
                push_literal(out, v);
                out.push_str(", ");
            }
            out.push('}');
        }
    }
}

/// A double-quoted Lua string; bytes outside printable ASCII are escaped as `\ddd`, which Lua
/// 5.1 reads back byte for byte.
fn lua_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for b in s.bytes() {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(char::from(b)),
            _ => {
                let _ = write!(out, "\\{b:03}");
            }
        }
    }
    out.push('"');
    out
}

/// Reads a YAML file (a Promotion, or a test table).
pub fn read_yaml<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, Error> {
    let text = read(path)?;
    serde_yaml::from_str(&text).map_err(|source| Error::Yaml {
        path: path.to_owned(),
        source,
    })
}

fn read(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })
}

/// `health_test.yaml`: each input and the health it must get.
#[derive(Debug, Deserialize)]
pub struct HealthTests {
    /// The cases, in file order.
    pub tests: Vec<HealthTest>,
}

/// One health case.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthTest {
    /// The Promotion, relative to the test file.
    pub input_path: PathBuf,
    /// What the health check must return.
    pub health_status: ExpectedHealth,
}

/// Expected `hs`: the exact status and a substring of the message.
#[derive(Debug, Deserialize)]
pub struct ExpectedHealth {
    /// Healthy, Progressing, Degraded, Suspended or Missing.
    pub status: String,
    /// Must appear in `hs.message`.
    pub message: String,
}

/// `actions/action_test.yaml`: what discovery offers and what each action writes.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionTests {
    /// Discovery cases.
    pub discovery_tests: Vec<DiscoveryTest>,
    /// Action cases.
    pub action_tests: Vec<ActionTest>,
}

/// One discovery case.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiscoveryTest {
    /// The Promotion, relative to the test file.
    pub input_path: PathBuf,
    /// Every action offered, sorted by name.
    pub result: Vec<DiscoveredAction>,
}

/// An action as discovery reports it.
#[derive(Debug, Deserialize, PartialEq, Eq, Clone)]
pub struct DiscoveredAction {
    /// The action's name (its directory under `actions/`).
    pub name: String,
    /// Whether Argo CD greys it out.
    #[serde(default)]
    pub disabled: bool,
}

/// One action case.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionTest {
    /// The action's name.
    pub action: String,
    /// The Promotion before, relative to the test file.
    pub input_path: PathBuf,
    /// The Promotion the action must return, relative to the test file.
    pub expected_output_path: PathBuf,
}

/// Discovery's result as a list sorted by name (Lua tables have no order).
pub fn discovered(result: &Value) -> Vec<DiscoveredAction> {
    let mut actions: Vec<DiscoveredAction> = result
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, a)| DiscoveredAction {
            name: name.clone(),
            disabled: a.get("disabled").and_then(Value::as_bool).unwrap_or(false),
        })
        .collect();
    actions.sort_by(|a, b| a.name.cmp(&b.name));
    actions
}

/// The actions defined under `actions/`, each a directory with an `action.lua`, sorted.
pub fn action_names(dir: &Path) -> Result<Vec<String>, Error> {
    let actions = dir.join("actions");
    let entries = std::fs::read_dir(&actions).map_err(|source| Error::Io {
        path: actions.clone(),
        source,
    })?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| Error::Io {
            path: actions.clone(),
            source,
        })?;
        if entry.path().join("action.lua").is_file() {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// The `argocd-cm` snippet for the scripts in `dir`: the health check and the actions
/// (`discovery.lua` plus one definition per action), inlined as literal blocks.
pub fn render_argocd_cm(dir: &Path) -> Result<String, Error> {
    let mut out = format!(
        "# Generated by `{REGENERATE}` from the .lua files beside it; do not edit.\n\
         # Where it goes: README.md.\n\
         data:\n"
    );
    let _ = writeln!(out, "  {HEALTH_KEY}: |");
    push_block(&mut out, &dir.join("health.lua"), 4)?;
    let _ = writeln!(out, "  {ACTIONS_KEY}: |");
    out.push_str("    discovery.lua: |\n");
    push_block(&mut out, &dir.join("actions/discovery.lua"), 6)?;
    out.push_str("    definitions:\n");
    for name in action_names(dir)? {
        let _ = writeln!(out, "    - name: {name}\n      action.lua: |");
        push_block(
            &mut out,
            &dir.join("actions").join(&name).join("action.lua"),
            8,
        )?;
    }
    Ok(out)
}

/// Appends the file as the body of a `|` block at `indent`; blank lines stay empty.
fn push_block(out: &mut String, path: &Path, indent: usize) -> Result<(), Error> {
    let text = read(path)?;
    let unrenderable = |reason: &str| Error::Unrenderable {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    // A `|` block takes its indentation from its first line and keeps one final newline.
    if text.starts_with([' ', '\t', '\n']) {
        return Err(unrenderable("the first line must not be blank or indented"));
    }
    if !text.ends_with('\n') || text.ends_with("\n\n") {
        return Err(unrenderable("the file must end with exactly one newline"));
    }
    for line in text.lines() {
        if line.ends_with([' ', '\t']) {
            return Err(unrenderable("a line ends with whitespace"));
        }
        if !line.is_empty() {
            out.extend(std::iter::repeat_n(' ', indent));
            out.push_str(line);
        }
        out.push('\n');
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_escape_quotes_backslashes_and_non_ascii() {
        assert_eq!(lua_string(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(lua_string("é\n"), r#""\195\169\010""#);
    }

    #[test]
    fn literals_drop_nulls_and_keep_order_of_arrays() {
        let v = serde_json::json!({"a": [1, "x"], "b": null, "c": true});
        assert_eq!(
            lua_literal(&v),
            r#"{["a"] = {1, "x", }, ["b"] = nil, ["c"] = true, }"#
        );
    }
}
