//! Canonical JSON: the byte encoding that stage keys hash.
//!
//! Object keys are sorted and numbers normalised, so that `{b: 1, a: 2.0}` and `{a: 2, b: 1}`
//! encode the same: an integral float within the 64-bit integer range is written as that
//! integer, any other float in Rust's shortest round-trip form. Strings are kept as written.

use serde_json::{Map, Number, Value};

/// Returns `value` with every integral float replaced by the equal integer.
///
/// Applied before a kind deserializes its params, so `epochs: 1.0` is accepted by an integer
/// field, and after, so a float field holding `1.0` keys like `1`.
pub fn normalize_numbers(value: &Value) -> Value {
    match value {
        Value::Number(number) => Value::Number(normalize_number(number)),
        Value::Array(items) => Value::Array(items.iter().map(normalize_numbers).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, item)| (key.clone(), normalize_numbers(item)))
                .collect::<Map<String, Value>>(),
        ),
        other => other.clone(),
    }
}

fn normalize_number(number: &Number) -> Number {
    if number.is_i64() || number.is_u64() {
        return number.clone();
    }
    let Some(float) = number.as_f64() else {
        return number.clone();
    };
    // 2^63 is exactly representable; floats at or beyond it do not fit an i64.
    let in_range = (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&float);
    if float.fract() == 0.0 && in_range {
        return Number::from(float as i64);
    }
    number.clone()
}

/// Encodes `value` canonically: sorted keys, normalised numbers, no whitespace.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(&normalize_numbers(value), &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (index, key) in keys.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_order_does_not_change_encoding() {
        let first = json!({"b": 1, "a": {"y": [1, 2], "x": "s"}});
        let second = json!({"a": {"x": "s", "y": [1, 2]}, "b": 1});
        assert_eq!(canonical_json(&first), canonical_json(&second));
    }

    #[test]
    fn integral_float_encodes_as_integer() {
        assert_eq!(
            canonical_json(&json!({"a": 1.0})),
            canonical_json(&json!({"a": 1}))
        );
        assert_eq!(canonical_json(&json!(-3.0)), "-3");
    }

    #[test]
    fn fractional_float_differs_from_integer() {
        assert_ne!(canonical_json(&json!(1.5)), canonical_json(&json!(1)));
        assert_ne!(canonical_json(&json!("1")), canonical_json(&json!(1)));
    }
}
