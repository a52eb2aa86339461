//! `${vars.name}` and `${matrix.key}` substitution in params, inputs and `publish`.
//!
//! A string that is exactly one substitution takes the substituted value with its type (so
//! `size: ${vars.size}` stays a number); a substitution inside a longer string is rendered as
//! text.

use std::collections::BTreeMap;

use serde_json::Value;

/// The values a stage's strings may refer to.
pub struct Bindings<'a> {
    pub vars: &'a serde_json::Map<String, Value>,
    pub matrix: &'a BTreeMap<String, Value>,
}

impl Bindings<'_> {
    fn lookup(&self, expression: &str) -> Result<&Value, String> {
        let found = if let Some(name) = expression.strip_prefix("vars.") {
            self.vars.get(name)
        } else if let Some(name) = expression.strip_prefix("matrix.") {
            self.matrix.get(name)
        } else {
            return Err(format!(
                "invalid substitution `${{{expression}}}`: use `${{vars.NAME}}` or `${{matrix.KEY}}`"
            ));
        };
        found.ok_or_else(|| format!("undefined substitution `${{{expression}}}`"))
    }
}

/// Substitutes every string inside `value`.
pub fn substitute(value: &Value, bindings: &Bindings) -> Result<Value, String> {
    match value {
        Value::String(text) => substitute_string(text, bindings),
        Value::Array(items) => items
            .iter()
            .map(|item| substitute(item, bindings))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        Value::Object(map) => {
            let mut substituted = serde_json::Map::new();
            for (key, item) in map {
                substituted.insert(key.clone(), substitute(item, bindings)?);
            }
            Ok(Value::Object(substituted))
        }
        other => Ok(other.clone()),
    }
}

/// Substitutes one string; see the module doc for when the result keeps the value's type.
pub fn substitute_string(text: &str, bindings: &Bindings) -> Result<Value, String> {
    if let Some(expression) = whole_substitution(text) {
        return bindings.lookup(expression).cloned();
    }

    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err(format!(
                "unterminated substitution in `{text}`: add the closing `}}`"
            ));
        };
        out.push_str(&render(bindings.lookup(&after[..end])?));
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(Value::String(out))
}

fn whole_substitution(text: &str) -> Option<&str> {
    let inner = text.strip_prefix("${")?.strip_suffix('}')?;
    if inner.contains('}') || inner.contains("${") {
        return None;
    }
    Some(inner)
}

/// Renders a value as text: strings bare, everything else as JSON.
pub fn render(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn whole_substitution_keeps_number_type() {
        let vars = json!({"size": 64}).as_object().cloned().unwrap();
        let matrix = BTreeMap::new();
        let bindings = Bindings {
            vars: &vars,
            matrix: &matrix,
        };
        assert_eq!(substitute_string("${vars.size}", &bindings), Ok(json!(64)));
        assert_eq!(
            substitute_string("s${vars.size}px", &bindings),
            Ok(json!("s64px"))
        );
    }

    #[test]
    fn undefined_variable_is_rejected() {
        let vars = serde_json::Map::new();
        let matrix = BTreeMap::new();
        let bindings = Bindings {
            vars: &vars,
            matrix: &matrix,
        };
        let error = substitute_string("${vars.nope}", &bindings).unwrap_err();
        assert!(error.contains("vars.nope"), "{error}");
    }
}
