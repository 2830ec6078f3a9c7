//! Loading the JSON Schemas, and a small checker for the part of draft 2020-12 they use.
//!
//! Not a full validator (a validator crate is a heavy dependency for this): it checks
//! types, required and documented properties, const, enum, numeric and size ranges,
//! oneOf, allOf, if/then and $ref across files; it skips `pattern` and `format`. Its
//! point is to catch a Rust type and its schema drifting apart: a field written but
//! not in the schema, a required field missing, a variant the schema does not know.

use super::vectors::schemas_dir;
use serde_json::Value;
use std::collections::BTreeMap;

/// Every `schemas/*.schema.json`, by file stem (`PoolDeclared`, `defs`, ...).
pub type Schemas = BTreeMap<String, Value>;

pub fn load_all() -> Schemas {
    let dir = schemas_dir();
    let mut schemas = Schemas::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display())) {
        let path = entry.expect("dir entry").path();
        let file = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
        let Some(stem) = file.strip_suffix(".schema.json") else { continue };
        let text = std::fs::read_to_string(&path).expect("read schema");
        let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file} is not valid JSON: {e}"));
        schemas.insert(stem.to_owned(), value);
    }
    assert!(schemas.contains_key("Envelope"), "no schemas found in {}", dir.display());
    schemas
}

/// The strings of a string enum schema.
pub fn enum_strings(node: &Value) -> Vec<String> {
    let list = node["enum"].as_array().expect("an enum schema");
    list.iter().map(|v| v.as_str().expect("enum strings").to_owned()).collect()
}

/// Resolves `$ref` (`X.schema.json`, `X.schema.json#/ptr`, `#`, `#/ptr`) from `file`.
fn resolve<'a>(schemas: &'a Schemas, file: &str, reference: &str) -> Option<(String, &'a Value)> {
    let (target, pointer) = reference.split_once('#').unwrap_or((reference, ""));
    let target = if target.is_empty() { file } else { target.strip_suffix(".schema.json")? };
    let node = schemas.get(target)?.pointer(pointer)?;
    Some((target.to_owned(), node))
}

/// Panics unless every `$ref` in `schema` resolves.
pub fn check_refs(file: &str, schema: &Value, schemas: &Schemas) {
    match schema {
        Value::Object(map) => {
            if let Some(reference) = map.get("$ref").and_then(Value::as_str) {
                assert!(
                    resolve(schemas, file, reference).is_some(),
                    "{file}.schema.json: $ref {reference} does not resolve"
                );
            }
            map.values().for_each(|v| check_refs(file, v, schemas));
        }
        Value::Array(list) => list.iter().for_each(|v| check_refs(file, v, schemas)),
        _ => {}
    }
}

/// Checks `instance` against the schema at `pointer` in `file`.
pub fn check(schemas: &Schemas, file: &str, pointer: &str, instance: &Value) -> Result<(), Vec<String>> {
    let node = schemas
        .get(file)
        .and_then(|s| s.pointer(pointer))
        .ok_or_else(|| vec![format!("no schema {file}#{pointer}")])?;
    let mut errors = Vec::new();
    Checker { schemas, errors: &mut errors }.node(file, node, instance, "");
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

struct Checker<'a> {
    schemas: &'a Schemas,
    errors: &'a mut Vec<String>,
}

impl Checker<'_> {
    fn fails(&mut self, file: &str, node: &Value, instance: &Value, at: &str) -> Vec<String> {
        let mut errors = Vec::new();
        Checker { schemas: self.schemas, errors: &mut errors }.node(file, node, instance, at);
        errors
    }

    fn node(&mut self, file: &str, node: &Value, instance: &Value, at: &str) {
        if let Some(reference) = node.get("$ref").and_then(Value::as_str) {
            match resolve(self.schemas, file, reference) {
                Some((target, resolved)) => self.node(&target, resolved, instance, at),
                None => self.errors.push(format!("{at}: $ref {reference} does not resolve")),
            }
        }
        for branch in node.get("allOf").and_then(Value::as_array).into_iter().flatten() {
            self.node(file, branch, instance, at);
        }
        if let Some(branches) = node.get("oneOf").and_then(Value::as_array) {
            let results: Vec<Vec<String>> = branches.iter().map(|b| self.fails(file, b, instance, at)).collect();
            let passing = results.iter().filter(|r| r.is_empty()).count();
            if passing != 1 {
                let detail = results.concat().join("; ");
                self.errors.push(format!("{at}: fits {passing} oneOf branches, not 1 ({detail})"));
            }
        }
        if let (Some(condition), Some(then)) = (node.get("if"), node.get("then")) {
            if self.fails(file, condition, instance, at).is_empty() {
                self.node(file, then, instance, at);
            }
        }
        self.values(node, instance, at);
        self.object(file, node, instance, at);
        if let (Some(items), Some(list)) = (node.get("items"), instance.as_array()) {
            for (i, item) in list.iter().enumerate() {
                self.node(file, items, item, &format!("{at}/{i}"));
            }
        }
    }

    fn values(&mut self, node: &Value, instance: &Value, at: &str) {
        let mut fail = |what: String| self.errors.push(format!("{at}: {what}"));
        if let Some(ty) = node.get("type").and_then(Value::as_str) {
            let fits = match ty {
                "object" => instance.is_object(),
                "array" => instance.is_array(),
                "string" => instance.is_string(),
                "boolean" => instance.is_boolean(),
                "null" => instance.is_null(),
                "number" => instance.is_number(),
                "integer" => instance.is_i64() || instance.is_u64(),
                other => panic!("schema type {other} not handled"),
            };
            if !fits {
                fail(format!("{instance} is not of type {ty}"));
            }
        }
        if let Some(expected) = node.get("const") {
            if expected != instance {
                fail(format!("{instance} is not {expected}"));
            }
        }
        if let Some(options) = node.get("enum").and_then(Value::as_array) {
            if !options.contains(instance) {
                fail(format!("{instance} is not one of {options:?}"));
            }
        }
        if let Some(x) = instance.as_f64() {
            let bound = |key| node.get(key).and_then(Value::as_f64);
            if bound("minimum").is_some_and(|min| x < min)
                || bound("maximum").is_some_and(|max| x > max)
                || bound("exclusiveMinimum").is_some_and(|min| x <= min)
            {
                fail(format!("{x} is out of range"));
            }
        }
        let size = instance.as_str().map(|s| s.chars().count()).or_else(|| instance.as_array().map(Vec::len));
        if let Some(n) = size {
            let bound = |keys: [&str; 2]| keys.iter().find_map(|k| node.get(*k).and_then(Value::as_u64));
            if bound(["minLength", "minItems"]).is_some_and(|min| (n as u64) < min)
                || bound(["maxLength", "maxItems"]).is_some_and(|max| (n as u64) > max)
            {
                fail(format!("length {n} is out of range"));
            }
        }
    }

    fn object(&mut self, file: &str, node: &Value, instance: &Value, at: &str) {
        let Some(fields) = instance.as_object() else { return };
        for key in node.get("required").and_then(Value::as_array).into_iter().flatten() {
            if !fields.contains_key(key.as_str().unwrap_or_default()) {
                self.errors.push(format!("{at}: required field {key} is missing"));
            }
        }
        let Some(properties) = node.get("properties").and_then(Value::as_object) else { return };
        // A full object schema (not an allOf overlay) must document every field written.
        let complete = node.get("type").and_then(Value::as_str) == Some("object");
        for (key, value) in fields {
            match properties.get(key) {
                Some(property) => self.node(file, property, value, &format!("{at}/{key}")),
                None if complete => self.errors.push(format!("{at}: field {key} is not in the schema")),
                None => {}
            }
        }
    }
}
