//! The pipeline file: parsing, matrix expansion and validation into a [`Pipeline`].
//!
//! Everything is checked before anything runs. Every problem is collected (not just the
//! first) with its file, line, column and stage. The checks cover YAML syntax, unknown
//! top-level or stage keys, unknown kinds, params the kind rejects, unknown or missing inputs,
//! references to missing stages, duplicate names, undefined substitutions, unknown target
//! members and cycles.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use crate::canonical::normalize_numbers;
use crate::error::{SpecError, SpecErrors};
use crate::position::{Position, Positions};
use crate::registry::Registry;
use crate::stage::{InputSpec, Resources, StageKind};
use crate::substitute::{render, substitute, substitute_string, Bindings};

/// A validated, expanded pipeline, stages in topological order.
pub struct Pipeline {
    /// The pipeline file.
    pub file: PathBuf,
    /// The directory `publish` paths are relative to.
    pub root: PathBuf,
    pub stages: Vec<Stage>,
    /// Each target with the expanded names of its member stages.
    pub targets: BTreeMap<String, Vec<String>>,
}

/// One expanded stage.
pub struct Stage {
    /// The expanded name (`train.centered-square`).
    pub name: String,
    /// The name as written in the file (`train`).
    pub source_name: String,
    pub kind: Arc<dyn StageKind>,
    /// Canonical params: defaults filled in, numbers normalised.
    pub params: Value,
    pub resources: Resources,
    pub inputs: Vec<StageInput>,
    /// Where to publish the output tree, resolved against the pipeline file's directory.
    pub publish: Option<PathBuf>,
}

/// One named input of a stage.
pub struct StageInput {
    pub name: String,
    pub reference: Reference,
}

/// A resolved reference to other stages' outputs (indices into [`Pipeline::stages`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    /// `stage` or `stage:path`.
    Single { stage: usize, path: Option<String> },
    /// `pattern*`: every matching stage, sorted by name.
    List(Vec<usize>),
}

impl Reference {
    /// Returns the stages this reference reads.
    pub fn stages(&self) -> Vec<usize> {
        match self {
            Reference::Single { stage, .. } => vec![*stage],
            Reference::List(stages) => stages.clone(),
        }
    }
}

/// A `--set STAGE.PARAM=VALUE` override.
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    /// `STAGE.PARAM` as given; split against the known stage names while loading.
    pub target: String,
    pub value: Value,
    /// The argument as given, for messages.
    pub text: String,
}

impl Override {
    /// Parses `STAGE.PARAM=VALUE`, the value as YAML.
    pub fn parse(text: &str) -> Result<Self, String> {
        let Some((target, value)) = text.split_once('=') else {
            return Err(format!(
                "invalid --set `{text}`: expected STAGE.PARAM=VALUE"
            ));
        };
        if !target.contains('.') {
            return Err(format!(
                "invalid --set `{text}`: expected STAGE.PARAM=VALUE"
            ));
        }
        let yaml: serde_yaml::Value = serde_yaml::from_str(value)
            .map_err(|error| format!("invalid value in --set `{text}`: {error}"))?;
        let value = serde_json::to_value(yaml)
            .map_err(|error| format!("invalid value in --set `{text}`: {error}"))?;
        Ok(Self {
            target: target.to_string(),
            value,
            text: text.to_string(),
        })
    }
}

/// Why a pipeline could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read pipeline file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Spec(#[from] SpecErrors),
}

const STAGE_FIELDS: &[&str] = &["kind", "params", "inputs", "matrix", "publish"];
const TOP_LEVEL_FIELDS: &[&str] = &["vars", "stages", "targets"];

/// A stage after expansion, before references are resolved.
struct Expanded {
    name: String,
    source_name: String,
    kind: Arc<dyn StageKind>,
    params: Value,
    inputs: Vec<(String, String)>,
    publish: Option<PathBuf>,
    /// The params before `--set`, and each overridden param with its `--set` argument.
    written_params: Value,
    overrides: BTreeMap<String, String>,
}

/// Collects errors with positions for one file.
struct Reporter<'a> {
    file: &'a Path,
    positions: Positions,
    errors: Vec<SpecError>,
}

impl Reporter<'_> {
    fn error(&mut self, path: &[&str], stage: Option<&str>, message: impl Into<String>) {
        self.errors.push(SpecError {
            file: self.file.to_path_buf(),
            position: self.positions.of(path),
            stage: stage.map(str::to_string),
            message: message.into(),
            override_argument: None,
        });
    }
}

impl Pipeline {
    /// Reads, expands and validates the pipeline file at `file`.
    pub fn load(
        file: &Path,
        registry: &Registry,
        overrides: &[Override],
    ) -> Result<Pipeline, LoadError> {
        let text = std::fs::read_to_string(file).map_err(|source| LoadError::Read {
            path: file.to_path_buf(),
            source,
        })?;
        Ok(Self::parse(file, &text, registry, overrides)?)
    }

    /// Expands and validates pipeline text read from `file`.
    pub fn parse(
        file: &Path,
        text: &str,
        registry: &Registry,
        overrides: &[Override],
    ) -> Result<Pipeline, SpecErrors> {
        let mut reporter = Reporter {
            file,
            positions: Positions::scan(text),
            errors: Vec::new(),
        };
        let root = file
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));

        let document: serde_yaml::Value = match serde_yaml::from_str(text) {
            Ok(document) => document,
            Err(error) => {
                let position = error
                    .location()
                    .map_or(Position { line: 1, column: 1 }, |at| Position {
                        line: at.line(),
                        column: at.column(),
                    });
                let duplicate = duplicate_key_position(text, &error.to_string(), position);
                let message = match &duplicate {
                    Some((key, _)) => format!(
                        "duplicate key `{key}` (first written at line {}); rename or remove one",
                        position.line
                    ),
                    None => format!("invalid YAML: {error}"),
                };
                let position = duplicate.map_or(position, |(_, position)| position);
                return Err(SpecErrors(vec![SpecError {
                    file: file.to_path_buf(),
                    position,
                    stage: stage_at_line(text, position.line),
                    message,
                    override_argument: None,
                }]));
            }
        };
        // serde_json's maps are sorted, so the written order of stages and matrix keys (which
        // names expanded stages) is taken from the YAML mapping.
        let written_order = WrittenOrder::of(&document);
        let document = match yaml_to_json(&document) {
            Ok(Value::Object(map)) => map,
            Ok(Value::Null) => serde_json::Map::new(),
            Ok(_) => {
                reporter.error(
                    &[],
                    None,
                    "a pipeline file must be a mapping with `stages:`",
                );
                return Err(SpecErrors(reporter.errors));
            }
            Err(message) => {
                reporter.error(&[], None, message);
                return Err(SpecErrors(reporter.errors));
            }
        };
        for key in document.keys() {
            if !TOP_LEVEL_FIELDS.contains(&key.as_str()) {
                reporter.error(
                    &[key],
                    None,
                    format!("unknown top-level key `{key}`; expected vars, stages or targets"),
                );
            }
        }

        let vars = match document.get("vars") {
            None | Some(Value::Null) => serde_json::Map::new(),
            Some(Value::Object(vars)) => vars.clone(),
            Some(_) => {
                reporter.error(
                    &["vars"],
                    None,
                    "`vars` must be a mapping of names to values",
                );
                serde_json::Map::new()
            }
        };

        let mut expanded = Vec::new();
        match document.get("stages") {
            Some(Value::Object(stages)) => {
                for name in &written_order.stages {
                    let Some(body) = stages.get(name) else {
                        continue;
                    };
                    let matrix_order = written_order
                        .matrix_keys
                        .get(name)
                        .map(Vec::as_slice)
                        .unwrap_or(&[]);
                    expand_stage(
                        name,
                        body,
                        matrix_order,
                        &vars,
                        registry,
                        &root,
                        &mut reporter,
                        &mut expanded,
                    );
                }
            }
            None | Some(Value::Null) => {
                reporter.error(&[], None, "the pipeline has no `stages:` mapping");
            }
            Some(_) => reporter.error(&["stages"], None, "`stages` must be a mapping"),
        }

        apply_overrides(&mut expanded, overrides, &mut reporter);
        check_all_params(&mut expanded, &mut reporter);
        let pipeline = resolve(file, root, expanded, &document, &mut reporter);
        if !reporter.errors.is_empty() {
            return Err(SpecErrors(reporter.errors));
        }
        pipeline.ok_or_else(|| SpecErrors(Vec::new()))
    }

    /// Finds the index of the stage named `name`.
    pub fn stage_index(&self, name: &str) -> Option<usize> {
        self.stages.iter().position(|stage| stage.name == name)
    }

    /// Marks the stages that `names` (targets, stage names, or names as written before
    /// expansion) reach, with all their ancestors. An empty `names` selects every stage.
    pub fn select(&self, names: &[String]) -> Result<Vec<bool>, String> {
        let mut selected = vec![names.is_empty(); self.stages.len()];
        for name in names {
            let members: Vec<usize> = if let Some(target) = self.targets.get(name) {
                target
                    .iter()
                    .filter_map(|stage| self.stage_index(stage))
                    .collect()
            } else {
                self.stages
                    .iter()
                    .enumerate()
                    .filter(|(_, stage)| &stage.name == name || &stage.source_name == name)
                    .map(|(index, _)| index)
                    .collect()
            };
            if members.is_empty() {
                let targets: Vec<&str> = self.targets.keys().map(String::as_str).collect();
                return Err(format!(
                    "`{name}` is neither a target nor a stage of {} (targets: {})",
                    self.file.display(),
                    if targets.is_empty() {
                        "none".to_string()
                    } else {
                        targets.join(", ")
                    }
                ));
            }
            for member in members {
                selected[member] = true;
            }
        }

        // Stages are in topological order, so one backward pass marks every ancestor.
        for index in (0..self.stages.len()).rev() {
            if !selected[index] {
                continue;
            }
            for input in &self.stages[index].inputs {
                for upstream in input.reference.stages() {
                    selected[upstream] = true;
                }
            }
        }
        Ok(selected)
    }
}

/// Finds the second occurrence of the key a "duplicate entry" error names, because the
/// position YAML reports is the first one, which is not the line to fix.
fn duplicate_key_position(
    text: &str,
    message: &str,
    first: Position,
) -> Option<(String, Position)> {
    let key = message
        .split("duplicate entry with key \"")
        .nth(1)?
        .split('"')
        .next()?;
    text.lines()
        .enumerate()
        .skip(first.line)
        .find(|(_, line)| {
            let indent = line.len() - line.trim_start().len();
            indent + 1 == first.column && line.trim_start().starts_with(&format!("{key}:"))
        })
        .map(|(index, _)| {
            let position = Position {
                line: index + 1,
                column: first.column,
            };
            (key.to_string(), position)
        })
}

/// Finds the stage whose block contains `line` (1-based) by indentation, because a file with a
/// syntax error cannot be parsed. It is the last key before `line` indented one level under
/// the top-level `stages:`.
fn stage_at_line(text: &str, line: usize) -> Option<String> {
    let mut in_stages = false;
    let mut stage_indent = None;
    let mut stage = None;
    for (index, content) in text.lines().enumerate() {
        if index + 1 > line {
            break;
        }
        let trimmed = content.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = content.len() - trimmed.len();
        if indent == 0 {
            in_stages = trimmed.starts_with("stages:");
            continue;
        }
        if !in_stages {
            continue;
        }
        let indent_of_stages = *stage_indent.get_or_insert(indent);
        if indent == indent_of_stages {
            stage = trimmed
                .split(':')
                .next()
                .map(|name| name.trim().to_string());
        }
    }
    stage
}

/// The order in which stages and each stage's matrix keys are written.
#[derive(Default)]
struct WrittenOrder {
    stages: Vec<String>,
    matrix_keys: HashMap<String, Vec<String>>,
}

impl WrittenOrder {
    fn of(document: &serde_yaml::Value) -> Self {
        let mut order = Self::default();
        let Some(stages) = document
            .get("stages")
            .and_then(serde_yaml::Value::as_mapping)
        else {
            return order;
        };
        for (name, body) in stages {
            let Some(name) = name.as_str() else { continue };
            order.stages.push(name.to_string());
            let keys = body
                .get("matrix")
                .and_then(serde_yaml::Value::as_mapping)
                .map(|matrix| {
                    matrix
                        .keys()
                        .filter_map(|key| key.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            order.matrix_keys.insert(name.to_string(), keys);
        }
        order
    }
}

/// Converts YAML to JSON, rejecting what JSON cannot hold (non-string keys, tags).
fn yaml_to_json(value: &serde_yaml::Value) -> Result<Value, String> {
    serde_json::to_value(value).map_err(|error| format!("unsupported YAML value: {error}"))
}

#[allow(clippy::too_many_arguments)]
fn expand_stage(
    name: &str,
    body: &Value,
    matrix_order: &[String],
    vars: &serde_json::Map<String, Value>,
    registry: &Registry,
    root: &Path,
    reporter: &mut Reporter,
    expanded: &mut Vec<Expanded>,
) {
    let stage_path = ["stages", name];
    if name.is_empty() || name.contains([':', '*', ' ', '/']) {
        reporter.error(
            &stage_path,
            Some(name),
            "invalid stage name: it must not be empty or contain `:`, `*`, `/` or spaces",
        );
        return;
    }
    let Value::Object(body) = body else {
        reporter.error(
            &stage_path,
            Some(name),
            "a stage must be a mapping with `kind:`",
        );
        return;
    };
    for key in body.keys() {
        if !STAGE_FIELDS.contains(&key.as_str()) {
            reporter.error(
                &["stages", name, key],
                Some(name),
                format!(
                    "unknown stage key `{key}`; expected one of {}",
                    STAGE_FIELDS.join(", ")
                ),
            );
        }
    }

    let kind = match body.get("kind") {
        Some(Value::String(kind_name)) => match registry.get(kind_name) {
            Some(kind) => Some(kind.clone()),
            None => {
                let known: Vec<&str> = registry.names().collect();
                reporter.error(
                    &["stages", name, "kind"],
                    Some(name),
                    format!(
                        "unknown kind `{kind_name}`; known kinds: {}",
                        known.join(", ")
                    ),
                );
                None
            }
        },
        Some(_) => {
            reporter.error(
                &["stages", name, "kind"],
                Some(name),
                "`kind` must be a string",
            );
            None
        }
        None => {
            reporter.error(&stage_path, Some(name), "missing `kind`");
            None
        }
    };

    let params = match body.get("params") {
        None | Some(Value::Null) => Value::Object(serde_json::Map::new()),
        Some(params @ Value::Object(_)) => params.clone(),
        Some(_) => {
            reporter.error(
                &["stages", name, "params"],
                Some(name),
                "`params` must be a mapping",
            );
            return;
        }
    };
    let inputs = match body.get("inputs") {
        None | Some(Value::Null) => serde_json::Map::new(),
        Some(Value::Object(inputs)) => inputs.clone(),
        Some(_) => {
            reporter.error(
                &["stages", name, "inputs"],
                Some(name),
                "`inputs` must be a mapping of input names to stage references",
            );
            return;
        }
    };
    let publish = match body.get("publish") {
        None | Some(Value::Null) => None,
        Some(Value::String(publish)) => Some(publish.clone()),
        Some(_) => {
            reporter.error(
                &["stages", name, "publish"],
                Some(name),
                "`publish` must be a path",
            );
            None
        }
    };
    let Some(combinations) = matrix_combinations(name, body.get("matrix"), matrix_order, reporter)
    else {
        return;
    };
    let Some(kind) = kind else { return };

    for (suffix, matrix) in combinations {
        let stage_name = if suffix.is_empty() {
            name.to_string()
        } else {
            format!("{name}.{}", suffix.join("."))
        };
        let bindings = Bindings {
            vars,
            matrix: &matrix,
        };

        let params = match substitute(&params, &bindings) {
            Ok(params) => params,
            Err(message) => {
                reporter.error(&["stages", name, "params"], Some(name), message);
                continue;
            }
        };
        let mut stage_inputs = Vec::new();
        for (input_name, reference) in &inputs {
            let at = ["stages", name, "inputs", input_name.as_str()];
            let Value::String(reference) = reference else {
                reporter.error(
                    &at,
                    Some(name),
                    format!(
                        "input `{input_name}` must be a stage reference (`stage` or `stage:path`)"
                    ),
                );
                continue;
            };
            match substitute_string(reference, &bindings) {
                Ok(value) => stage_inputs.push((input_name.clone(), render(&value))),
                Err(message) => reporter.error(&at, Some(name), message),
            }
        }
        let publish = match publish
            .as_deref()
            .map(|dir| substitute_string(dir, &bindings))
        {
            None => None,
            Some(Ok(dir)) => {
                let dir = root.join(render(&dir));
                if let Err(message) = check_publish_dir(&dir, root) {
                    reporter.error(&["stages", name, "publish"], Some(name), message);
                }
                Some(dir)
            }
            Some(Err(message)) => {
                reporter.error(&["stages", name, "publish"], Some(name), message);
                None
            }
        };

        expanded.push(Expanded {
            name: stage_name,
            source_name: name.to_string(),
            kind: kind.clone(),
            params,
            inputs: stage_inputs,
            publish,
            written_params: Value::Null,
            overrides: BTreeMap::new(),
        });
    }
}

/// Rejects a publish directory that is the pipeline file's folder or one of its ancestors,
/// because publishing replaces the directory it names.
fn check_publish_dir(dir: &Path, root: &Path) -> Result<(), String> {
    let root = if root.as_os_str().is_empty() {
        Path::new(".")
    } else {
        root
    };
    let root = std::fs::canonicalize(root).unwrap_or_else(|_| absolute_lexically(root));
    let target = absolute_lexically(dir);
    let target = std::fs::canonicalize(&target).unwrap_or(target);
    if root.starts_with(&target) {
        return Err(format!(
            "`publish: {}` names the pipeline file's folder or one of its ancestors, which \
             publishing would replace; name a subfolder such as `reports`",
            dir.display()
        ));
    }
    Ok(())
}

/// Rejects two stages publishing to one folder: each publish replaces the folder, so its
/// content would depend on which stage finished last. A folder inside another stage's is
/// fine, since publishing carries nested publishes over.
fn check_publish_clashes(expanded: &[Expanded], reporter: &mut Reporter) {
    let mut published: Vec<(PathBuf, &Expanded)> = Vec::new();
    for stage in expanded {
        let Some(dir) = &stage.publish else {
            continue;
        };
        let dir = absolute_lexically(dir);
        if let Some((other_dir, other)) = published.iter().find(|(other, _)| *other == dir) {
            reporter.error(
                &["stages", &stage.source_name, "publish"],
                Some(&stage.source_name),
                format!(
                    "publishes to the same folder as stage `{}` ({}); each publish replaces \
                     its folder, so give each stage its own",
                    other.name,
                    other_dir.display()
                ),
            );
            continue;
        }
        published.push((dir, stage));
    }
}

/// Returns `path` made absolute against the working folder, with `.` and `..` resolved
/// without touching the file system.
fn absolute_lexically(path: &Path) -> PathBuf {
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    normalize_lexically(&path)
}

/// Resolves `.` and `..` components without touching the file system.
fn normalize_lexically(path: &Path) -> PathBuf {
    let mut normalized = PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                normalized.pop();
            }
            other => normalized.push(other),
        }
    }
    normalized
}

/// Lists the combinations of a stage's matrix as (name suffix, bindings), in the order the keys
/// and values are written. A stage without a matrix has one empty combination.
#[allow(clippy::type_complexity)]
fn matrix_combinations(
    name: &str,
    matrix: Option<&Value>,
    matrix_order: &[String],
    reporter: &mut Reporter,
) -> Option<Vec<(Vec<String>, BTreeMap<String, Value>)>> {
    let mut combinations = vec![(Vec::new(), BTreeMap::new())];
    let matrix = match matrix {
        None | Some(Value::Null) => return Some(combinations),
        Some(Value::Object(matrix)) => matrix,
        Some(_) => {
            reporter.error(
                &["stages", name, "matrix"],
                Some(name),
                "`matrix` must map each key to a list of values",
            );
            return None;
        }
    };
    for key in matrix_order {
        let Some(values) = matrix.get(key) else {
            continue;
        };
        let at = ["stages", name, "matrix", key.as_str()];
        let values = match values {
            Value::Array(values) if !values.is_empty() => values,
            _ => {
                reporter.error(
                    &at,
                    Some(name),
                    format!("matrix key `{key}` must be a non-empty list"),
                );
                return None;
            }
        };
        let mut next = Vec::new();
        for (suffix, bindings) in &combinations {
            for value in values {
                if value.is_object() || value.is_array() {
                    reporter.error(
                        &at,
                        Some(name),
                        format!("matrix key `{key}` must list scalars"),
                    );
                    return None;
                }
                let rendered = render(value);
                if rendered.is_empty()
                    || rendered.contains(['/', ':', '*', '\0'])
                    || rendered.chars().any(char::is_whitespace)
                {
                    reporter.error(
                        &at,
                        Some(name),
                        format!(
                            "matrix value `{rendered}` of key `{key}` cannot be part of a stage \
                             name: it must not be empty or contain `/`, `:`, `*` or spaces"
                        ),
                    );
                    return None;
                }
                let mut suffix = suffix.clone();
                suffix.push(rendered);
                let mut bindings = bindings.clone();
                bindings.insert(key.clone(), value.clone());
                next.push((suffix, bindings));
            }
        }
        combinations = next;
    }
    Some(combinations)
}

fn apply_overrides(expanded: &mut [Expanded], overrides: &[Override], reporter: &mut Reporter) {
    for override_ in overrides {
        // The stage part may itself contain dots (`train.centered-square.epochs`), so match the
        // longest known stage name.
        let mut applied = false;
        let mut candidates: Vec<(usize, &str)> = Vec::new();
        for (index, stage) in expanded.iter().enumerate() {
            for stage_name in [&stage.name, &stage.source_name] {
                if let Some(param) = override_
                    .target
                    .strip_prefix(stage_name.as_str())
                    .and_then(|rest| rest.strip_prefix('.'))
                {
                    candidates.push((index, param));
                    break;
                }
            }
        }
        let longest = candidates.iter().map(|(_, param)| param.len()).min();
        let owned: Vec<(usize, String)> = candidates
            .into_iter()
            .filter(|(_, param)| Some(param.len()) == longest)
            .map(|(index, param)| (index, param.to_string()))
            .collect();
        for (index, param) in owned {
            let stage = &mut expanded[index];
            if stage.overrides.is_empty() {
                stage.written_params = stage.params.clone();
            }
            if let Value::Object(params) = &mut stage.params {
                params.insert(param.clone(), override_.value.clone());
                stage.overrides.insert(param, override_.text.clone());
                applied = true;
            }
        }
        if !applied {
            reporter.error(
                &[],
                None,
                format!(
                    "--set {}: no stage matches; use STAGE.PARAM with a stage of this file",
                    override_.target
                ),
            );
        }
    }
}

fn check_all_params(expanded: &mut [Expanded], reporter: &mut Reporter) {
    for stage in expanded.iter_mut() {
        match stage.kind.check_params(&normalize_numbers(&stage.params)) {
            Ok(canonical) => {
                stage.params = normalize_numbers(&canonical);
                let inputs: Vec<&str> =
                    stage.inputs.iter().map(|(name, _)| name.as_str()).collect();
                if let Err(message) = stage.kind.check_inputs(&stage.params, &inputs) {
                    reporter.error(
                        &["stages", stage.source_name.as_str(), "params"],
                        Some(&stage.name),
                        format!("invalid params for kind `{}`: {message}", stage.kind.name()),
                    );
                }
            }
            Err(message) => {
                let path = offending_param(&message, &stage.params)
                    .or_else(|| mistyped_param(stage.kind.as_ref(), &stage.params));
                let message = match &path {
                    Some(param) if !message.contains(&format!("`{param}`")) => {
                        format!("param `{param}`: {message}")
                    }
                    _ => message,
                };
                let mut at = vec!["stages", stage.source_name.as_str(), "params"];
                if let Some(param) = path.as_deref() {
                    at.push(param);
                }
                reporter.error(
                    &at,
                    Some(&stage.name),
                    format!("invalid params for kind `{}`: {message}", stage.kind.name()),
                );
                if let Some(argument) = blamed_override(stage, path.as_deref()) {
                    if let Some(error) = reporter.errors.last_mut() {
                        error.override_argument = Some(argument);
                    }
                }
            }
        }
    }
}

/// Returns the `--set` argument to blame for invalid params: the one that set the offending
/// param, or the only one of the stage when the params as written are valid.
fn blamed_override(stage: &Expanded, param: Option<&str>) -> Option<String> {
    if let Some(argument) = param.and_then(|param| stage.overrides.get(param)) {
        return Some(argument.clone());
    }
    if stage.overrides.len() != 1 {
        return None;
    }
    let written = normalize_numbers(&stage.written_params);
    stage.kind.check_params(&written).ok()?;
    stage.overrides.values().next().cloned()
}

/// Finds the param whose value the kind rejects when serde's message does not name the field
/// (`invalid type: string "soon", expected a number`). It is the key whose removal makes the
/// params valid, or turns the error into `missing field` for that key.
fn mistyped_param(kind: &dyn StageKind, params: &Value) -> Option<String> {
    let Value::Object(map) = params else {
        return None;
    };
    map.keys()
        .find(|key| {
            let mut without = map.clone();
            without.remove(key.as_str());
            match kind.check_params(&normalize_numbers(&Value::Object(without))) {
                Ok(_) => true,
                Err(message) => message.contains(&format!("missing field `{key}`")),
            }
        })
        .cloned()
}

/// Returns the param a serde message names (`unknown field `x``), if it is one of the keys.
fn offending_param(message: &str, params: &Value) -> Option<String> {
    let Value::Object(params) = params else {
        return None;
    };
    let quoted = message.split('`').nth(1)?;
    params.contains_key(quoted).then(|| quoted.to_string())
}

fn resolve(
    file: &Path,
    root: PathBuf,
    expanded: Vec<Expanded>,
    document: &serde_json::Map<String, Value>,
    reporter: &mut Reporter,
) -> Option<Pipeline> {
    let mut by_name: HashMap<String, usize> = HashMap::new();
    for (index, stage) in expanded.iter().enumerate() {
        if by_name.insert(stage.name.clone(), index).is_some() {
            reporter.error(
                &["stages", &stage.source_name],
                Some(&stage.source_name),
                format!(
                    "duplicate stage name `{}` (a matrix expansion can produce it)",
                    stage.name
                ),
            );
        }
    }

    check_publish_clashes(&expanded, reporter);

    // Input references, by position in `expanded`.
    let mut references: Vec<Vec<(String, Reference)>> = Vec::new();
    for stage in &expanded {
        let mut resolved = Vec::new();
        let accepted = stage.kind.inputs();
        let accepts_any = accepted.iter().any(|spec| spec.name == InputSpec::ANY);
        for (input_name, reference) in &stage.inputs {
            let at = [
                "stages",
                stage.source_name.as_str(),
                "inputs",
                input_name.as_str(),
            ];
            if !accepts_any && !accepted.iter().any(|spec| spec.name == input_name) {
                let names: Vec<&str> = accepted.iter().map(|spec| spec.name).collect();
                reporter.error(
                    &at,
                    Some(&stage.name),
                    format!(
                        "kind `{}` has no input `{input_name}`; its inputs: {}",
                        stage.kind.name(),
                        if names.is_empty() {
                            "none".to_string()
                        } else {
                            names.join(", ")
                        }
                    ),
                );
                continue;
            }
            match resolve_reference(reference, &expanded, &by_name) {
                Ok(reference) => resolved.push((input_name.clone(), reference)),
                Err(message) => reporter.error(&at, Some(&stage.name), message),
            }
        }
        for spec in accepted.iter().filter(|spec| spec.required) {
            if !stage.inputs.iter().any(|(name, _)| name == spec.name) {
                reporter.error(
                    &["stages", &stage.source_name],
                    Some(&stage.name),
                    format!(
                        "missing required input `{}` of kind `{}`",
                        spec.name,
                        stage.kind.name()
                    ),
                );
            }
        }
        references.push(resolved);
    }

    let targets = resolve_targets(document.get("targets"), &expanded, &by_name, reporter);
    if !reporter.errors.is_empty() {
        return None;
    }

    let order = match topological_order(&expanded, &references) {
        Ok(order) => order,
        Err(cycle) => {
            let first = &expanded[cycle[0]];
            let names: Vec<&str> = cycle
                .iter()
                .map(|index| expanded[*index].name.as_str())
                .collect();
            reporter.error(
                &["stages", &first.source_name],
                Some(&first.name),
                format!("dependency cycle: {} -> {}", names.join(" -> "), names[0]),
            );
            return None;
        }
    };

    let mut new_index = vec![0; expanded.len()];
    for (position, old) in order.iter().enumerate() {
        new_index[*old] = position;
    }
    let mut slots: Vec<Option<Expanded>> = expanded.into_iter().map(Some).collect();
    let mut stages = Vec::with_capacity(order.len());
    for old in order {
        let Some(stage) = slots[old].take() else {
            continue;
        };
        let inputs = references[old]
            .iter()
            .map(|(name, reference)| StageInput {
                name: name.clone(),
                reference: match reference {
                    Reference::Single { stage, path } => Reference::Single {
                        stage: new_index[*stage],
                        path: path.clone(),
                    },
                    Reference::List(list) => {
                        Reference::List(list.iter().map(|index| new_index[*index]).collect())
                    }
                },
            })
            .collect();
        let resources = stage.kind.resources(&stage.params);
        stages.push(Stage {
            name: stage.name,
            source_name: stage.source_name,
            kind: stage.kind,
            params: stage.params,
            resources,
            inputs,
            publish: stage.publish,
        });
    }

    Some(Pipeline {
        file: file.to_path_buf(),
        root,
        stages,
        targets,
    })
}

fn resolve_reference(
    reference: &str,
    expanded: &[Expanded],
    by_name: &HashMap<String, usize>,
) -> Result<Reference, String> {
    if reference.contains('*') {
        let mut matches: Vec<(&str, usize)> = expanded
            .iter()
            .enumerate()
            .filter(|(_, stage)| wildcard_matches(reference, &stage.name))
            .map(|(index, stage)| (stage.name.as_str(), index))
            .collect();
        if matches.is_empty() {
            return Err(format!("reference `{reference}` matches no stage"));
        }
        matches.sort();
        return Ok(Reference::List(
            matches.into_iter().map(|(_, index)| index).collect(),
        ));
    }

    let (stage_name, path) = match reference.split_once(':') {
        Some((stage_name, path)) => (stage_name, Some(path.trim_matches('/').to_string())),
        None => (reference, None),
    };
    if let Some(index) = by_name.get(stage_name) {
        return Ok(Reference::Single {
            stage: *index,
            path,
        });
    }
    let expansions: Vec<&str> = expanded
        .iter()
        .filter(|stage| stage.source_name == stage_name)
        .map(|stage| stage.name.as_str())
        .collect();
    if !expansions.is_empty() {
        return Err(format!(
            "stage `{stage_name}` is expanded by its matrix into {}; \
             reference one of them or `{stage_name}.*`",
            expansions.join(", ")
        ));
    }
    Err(format!("reference to missing stage `{stage_name}`"))
}

/// Matches `name` against `pattern`, where `*` stands for any run of characters.
fn wildcard_matches(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let mut rest = name;
    for (index, part) in parts.iter().enumerate() {
        if index == 0 {
            let Some(stripped) = rest.strip_prefix(part) else {
                return false;
            };
            rest = stripped;
        } else if index == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            let Some(found) = rest.find(part) else {
                return false;
            };
            rest = &rest[found + part.len()..];
        }
    }
    rest.is_empty()
}

fn resolve_targets(
    targets: Option<&Value>,
    expanded: &[Expanded],
    by_name: &HashMap<String, usize>,
    reporter: &mut Reporter,
) -> BTreeMap<String, Vec<String>> {
    let mut resolved = BTreeMap::new();
    let targets = match targets {
        None | Some(Value::Null) => return resolved,
        Some(Value::Object(targets)) => targets,
        Some(_) => {
            reporter.error(
                &["targets"],
                None,
                "`targets` must map names to lists of stages",
            );
            return resolved;
        }
    };
    for (target, members) in targets {
        let Value::Array(members) = members else {
            reporter.error(
                &["targets", target],
                None,
                format!("target `{target}` must be a list of stage names"),
            );
            continue;
        };
        let mut names = Vec::new();
        for (index, member) in members.iter().enumerate() {
            let index = index.to_string();
            let at = ["targets", target.as_str(), index.as_str()];
            let Value::String(member) = member else {
                reporter.error(
                    &at,
                    None,
                    format!("target `{target}` must list stage names"),
                );
                continue;
            };
            let matches: Vec<&str> = expanded
                .iter()
                .filter(|stage| {
                    &stage.source_name == member
                        || by_name.contains_key(member.as_str()) && &stage.name == member
                        || member.contains('*') && wildcard_matches(member, &stage.name)
                })
                .map(|stage| stage.name.as_str())
                .collect();
            if matches.is_empty() {
                reporter.error(
                    &at,
                    Some(member),
                    format!("target `{target}` names missing stage `{member}`"),
                );
            }
            names.extend(matches.into_iter().map(str::to_string));
        }
        resolved.insert(target.clone(), names);
    }
    resolved
}

/// Kahn's algorithm, keeping file order among ready stages; on a cycle returns its stages.
fn topological_order(
    expanded: &[Expanded],
    references: &[Vec<(String, Reference)>],
) -> Result<Vec<usize>, Vec<usize>> {
    let count = expanded.len();
    let upstream: Vec<Vec<usize>> = references
        .iter()
        .map(|inputs| {
            inputs
                .iter()
                .flat_map(|(_, reference)| reference.stages())
                .collect()
        })
        .collect();
    let mut waiting: Vec<usize> = upstream.iter().map(Vec::len).collect();
    let mut downstream = vec![Vec::new(); count];
    for (index, ups) in upstream.iter().enumerate() {
        for up in ups {
            downstream[*up].push(index);
        }
    }

    let mut order = Vec::with_capacity(count);
    let mut ready: std::collections::BTreeSet<usize> =
        (0..count).filter(|index| waiting[*index] == 0).collect();
    while let Some(index) = ready.pop_first() {
        order.push(index);
        for down in &downstream[index] {
            waiting[*down] -= 1;
            if waiting[*down] == 0 {
                ready.insert(*down);
            }
        }
    }
    if order.len() == count {
        return Ok(order);
    }

    // Walk upstream from a stuck stage until a stage repeats: that loop is a cycle.
    let Some(start) = (0..count).find(|index| waiting[*index] > 0) else {
        return Err(Vec::new());
    };
    let mut path = vec![start];
    let mut current = start;
    loop {
        let Some(next) = upstream[current]
            .iter()
            .copied()
            .find(|up| waiting[*up] > 0)
        else {
            return Err(path);
        };
        if let Some(seen) = path.iter().position(|index| *index == next) {
            // Upstream walk order reversed is data-flow order; start at the earliest stage.
            let mut cycle = path[seen..].to_vec();
            cycle.reverse();
            if let Some(first) = cycle
                .iter()
                .enumerate()
                .min_by_key(|(_, index)| **index)
                .map(|(at, _)| at)
            {
                cycle.rotate_left(first);
            }
            return Err(cycle);
        }
        path.push(next);
        current = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_matches_prefix_and_suffix() {
        assert!(wildcard_matches("fid.*", "fid.a.b"));
        assert!(!wildcard_matches("fid.*", "fidx"));
        assert!(wildcard_matches("*.a", "x.a"));
        assert!(wildcard_matches("a*b*c", "a-b-c"));
        assert!(!wildcard_matches("a*b*c", "a-c"));
    }
}
