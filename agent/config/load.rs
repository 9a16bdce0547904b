//! Text → typed model: YAML syntax, structure (via serde) and then the semantic rules in
//! `validate`. Every problem of every file is collected before returning.

use super::deserialize::{FieldError, deserialize_all};
use super::diagnostic::{Diagnostic, Diagnostics};
use super::limits::{self, Scan};
use super::model::{EnvironmentSpec, Model, Pipeline, Service};
use super::position::{FieldPath, Position, PositionIndex, duplicate_key};
use super::printable::short_name;
use super::read_dir::Budget;
use super::units::{FileKind, Located, PartialEnvironment, PartialPipeline, SourceFile, file_stem};
use super::validate;
use serde_yaml::Value;

/// Load every environment and pipeline among `files` (other paths are ignored).
pub fn load_sources(files: &[SourceFile]) -> Result<Model, Diagnostics> {
    let mut diagnostics = Vec::new();
    let mut environments = Vec::new();
    let mut pipelines = Vec::new();
    let mut budget = Budget::default();
    for file in files {
        if FileKind::of(&file.path).is_some()
            && !budget.admit(&file.path, file.text.len() as u64, &mut diagnostics)
        {
            continue;
        }
        match FileKind::of(&file.path) {
            Some(FileKind::Environment) => {
                if let Some(env) = read_environment(file, &mut diagnostics) {
                    environments.push(env);
                }
            }
            Some(FileKind::Pipeline) => {
                if let Some(p) = read_pipeline(file, &mut diagnostics) {
                    pipelines.push(p);
                }
            }
            None => {}
        }
    }
    check_shadowed(files, &mut diagnostics);
    let stems = |kind: FileKind| -> Vec<&str> {
        let mut names: Vec<&str> = files
            .iter()
            .filter(|f| FileKind::of(&f.path) == Some(kind))
            .map(|f| file_stem(&f.path))
            .collect();
        names.sort();
        names.dedup();
        names
    };
    validate::check(
        &environments,
        &pipelines,
        &stems(FileKind::Environment),
        &stems(FileKind::Pipeline),
        &mut diagnostics,
    );
    if !diagnostics.is_empty() {
        let mut d = Diagnostics(diagnostics);
        d.sort();
        return Err(d);
    }
    Ok(assemble(environments, pipelines))
}

/// `staging.yaml` and `staging.yml` side by side would silently shadow each other.
fn check_shadowed(files: &[SourceFile], diagnostics: &mut Vec<Diagnostic>) {
    let mut seen: std::collections::HashMap<(FileKind, &str), &str> = Default::default();
    for f in files {
        let Some(kind) = FileKind::of(&f.path) else {
            continue;
        };
        if let Some(first) = seen.insert((kind, file_stem(&f.path)), &f.path) {
            diagnostics.push(Diagnostic {
                file: f.path.clone(),
                line: 1,
                column: 1,
                message: format!(
                    "{} and {first} both define `{}`",
                    f.path,
                    file_stem(&f.path)
                ),
                hint: Some("keep one of the two files".into()),
            });
        }
    }
}

/// The model from units that all read without a diagnostic.
fn assemble(environments: Vec<PartialEnvironment>, pipelines: Vec<PartialPipeline>) -> Model {
    let mut model = Model::default();
    for env in environments {
        let header = env.header.expect("no diagnostics implies a valid header");
        let services = env.services.into_iter().map(|(_, s)| s).collect();
        let environment = EnvironmentSpec {
            api_version: header.api_version,
            kind: header.kind,
            name: header.name,
            aws: header.aws,
            ecs: header.ecs,
            database: header.database,
            ecr: header.ecr,
            ssm: header.ssm,
            promotion: header.promotion,
            self_heal: header.self_heal,
            github: header.github,
            notify: header.notify,
            services,
        };
        model
            .environments
            .insert(environment.name.clone(), environment);
    }
    for p in pipelines {
        let pipeline = p.pipeline.expect("no diagnostics implies a valid pipeline");
        model.pipelines.insert(pipeline.name.clone(), pipeline);
    }
    model
}

/// YAML text → value, or a syntax diagnostic with serde_yaml's own position.
fn parse_yaml(file: &SourceFile, out: &mut Vec<Diagnostic>) -> Option<(Value, Located)> {
    // Bounds first: the readers below recurse, and are quadratic in flow nesting.
    let scanned = limits::scan(&file.path, &file.text);
    if let Scan::Refused(d) = scanned {
        out.push(d);
        return None;
    }
    let located = Located {
        file: file.path.clone(),
        index: PositionIndex::build(&file.text),
    };
    let diagnostic = |pos: Position, message: String, hint: &str| Diagnostic {
        file: file.path.clone(),
        line: pos.line,
        column: pos.column,
        message,
        hint: Some(hint.to_string()),
    };
    // After a syntax error serde_yaml only reads up to its line: past it may lie anything the
    // bounds check did not get to see.
    let text = match &scanned {
        Scan::Unreadable(e) => text_through_line(&file.text, e.marker().line()),
        _ => &file.text,
    };
    match serde_yaml::from_str::<Value>(text) {
        Ok(_) if let Scan::Unreadable(e) = &scanned => {
            // serde_yaml reads what the bounds check could not: refuse rather than trust it.
            let mark = e.marker();
            let pos = Position {
                line: mark.line().max(1),
                column: mark.col() + 1,
            };
            out.push(diagnostic(
                pos,
                format!("invalid YAML: {}", e.info()),
                "check the indentation and quoting on this line and the one before",
            ));
            None
        }
        Ok(Value::Null) => {
            out.push(diagnostic(
                Position::START,
                "the file is empty".into(),
                "start with `apiVersion: amagent/v1` and `kind:`, as in docs/configuration.md",
            ));
            None
        }
        Ok(value) => Some((value, located)),
        Err(err) => {
            out.push(syntax_error(file, &err));
            None
        }
    }
}

/// serde_yaml's syntax error as a diagnostic, with a hint for the usual causes.
fn syntax_error(file: &SourceFile, err: &serde_yaml::Error) -> Diagnostic {
    let diagnostic = |pos: Position, message: String, hint: &str| Diagnostic {
        file: file.path.clone(),
        line: pos.line,
        column: pos.column,
        message,
        hint: Some(hint.to_string()),
    };
    // serde_yaml points a duplicate key at its mapping; marked-yaml finds the key itself.
    if let Some(dup) = duplicate_key(&file.text) {
        return diagnostic(
            dup.second,
            format!(
                "invalid YAML: key `{}` appears twice in one mapping (first at line {})",
                short_name(&dup.key),
                dup.first.line
            ),
            "each key may appear once per mapping: remove or rename one of them",
        );
    }
    let pos = err
        .location()
        .map(|l| Position {
            line: l.line(),
            column: l.column(),
        })
        .unwrap_or(Position::START);
    let line_text = file
        .text
        .lines()
        .nth(pos.line.saturating_sub(1))
        .unwrap_or("");
    let hint = if line_text.contains('\t') {
        "indent with spaces, not tabs"
    } else if err.to_string().contains("more than one document") {
        "keep one document per file: remove the `---` separator"
    } else {
        "check the indentation and quoting on this line and the one before"
    };
    diagnostic(pos, format!("invalid YAML: {}", syntax_message(err)), hint)
}

/// `text` up to the end of line `line` (1-based).
fn text_through_line(text: &str, line: usize) -> &str {
    let end = text
        .match_indices('\n')
        .nth(line.saturating_sub(1))
        .map_or(text.len(), |(i, _)| i + 1);
    &text[..end]
}

/// serde_yaml's message without its trailing "at line N column M" (we print that in front).
fn syntax_message(err: &serde_yaml::Error) -> String {
    let text = err.to_string();
    match text.find(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

fn push_field_errors(
    at: &Located,
    kind: FileKind,
    errors: Vec<FieldError>,
    out: &mut Vec<Diagnostic>,
) {
    for mut e in errors {
        // Hints for the header fields depend on the file: say exactly what to write here.
        if e.path.parent().is_some_and(|p| p.is_root()) && e.message.starts_with("missing") {
            match e.path.last_key() {
                Some("kind") => e.hint = Some(format!("add `kind: {kind:?}`")),
                Some("name") => e.hint = Some(format!("add `name: {}`", at.stem())),
                _ => {}
            }
        }
        out.push(if e.at_key {
            at.at_key(&e.path, e.message, e.hint)
        } else {
            at.at_value(&e.path, e.message, e.hint)
        });
    }
}

fn read_environment(file: &SourceFile, out: &mut Vec<Diagnostic>) -> Option<PartialEnvironment> {
    let (mut value, at) = parse_yaml(file, out)?;
    let mut errors = Vec::new();
    // Services are read one by one, so a broken service hides nothing in the others.
    let raw_services = match &mut value {
        Value::Mapping(m) => match m.get_mut("services") {
            Some(Value::Sequence(seq)) => std::mem::take(seq),
            _ => Vec::new(),
        },
        _ => Vec::new(),
    };
    let header = deserialize_all::<EnvironmentSpec<Value>>(value, &FieldPath::root(), &mut errors);
    let service_count = raw_services.len();
    let services_path = FieldPath::root().key("services");
    let services = raw_services
        .into_iter()
        .enumerate()
        .filter_map(|(i, raw)| {
            deserialize_all::<Service>(raw, &services_path.index(i), &mut errors).map(|s| (i, s))
        })
        .collect();
    push_field_errors(&at, FileKind::Environment, errors, out);
    Some(PartialEnvironment {
        at,
        header,
        services,
        service_count,
    })
}

fn read_pipeline(file: &SourceFile, out: &mut Vec<Diagnostic>) -> Option<PartialPipeline> {
    let (value, at) = parse_yaml(file, out)?;
    let mut errors = Vec::new();
    let pipeline = deserialize_all::<Pipeline>(value, &FieldPath::root(), &mut errors);
    push_field_errors(&at, FileKind::Pipeline, errors, out);
    Some(PartialPipeline { at, pipeline })
}
