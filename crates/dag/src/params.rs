//! Typed params: the round trip through a kind's serde struct that yields canonical params.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Deserializes `params` into `T` (whose unknown keys must be rejected by
/// `#[serde(deny_unknown_fields)]`) and returns `T` serialized back, defaults filled in.
///
/// The error is serde's message, which names the unknown or mistyped key.
pub fn check_params<T: DeserializeOwned + Serialize>(
    params: &serde_json::Value,
) -> Result<serde_json::Value, String> {
    let typed: T = serde_json::from_value(params.clone())
        .map_err(|error| plain_type_names(&error.to_string()))?;
    serde_json::to_value(&typed).map_err(|error| error.to_string())
}

/// Replaces the Rust type names in serde's `expected u32` and the like by what a user writes.
fn plain_type_names(message: &str) -> String {
    const NAMES: [(&str, &str); 10] = [
        ("expected usize", "expected a whole number, 0 or more"),
        ("expected u64", "expected a whole number, 0 or more"),
        ("expected u32", "expected a whole number, 0 or more"),
        ("expected u16", "expected a whole number, 0 or more"),
        ("expected u8", "expected a whole number, 0 or more"),
        ("expected i64", "expected a whole number"),
        ("expected i32", "expected a whole number"),
        ("expected f64", "expected a number"),
        ("expected f32", "expected a number"),
        ("expected a boolean", "expected true or false"),
    ];
    NAMES
        .iter()
        .fold(message.to_string(), |message, (rust, plain)| {
            message.replace(rust, plain)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, serde::Serialize)]
    #[serde(deny_unknown_fields)]
    struct Params {
        count: usize,
        rate: f64,
    }

    #[test]
    fn type_errors_use_plain_words() {
        let negative = serde_json::json!({"count": -3, "rate": 0.5});
        let error = check_params::<Params>(&negative).unwrap_err();
        assert_eq!(
            error,
            "invalid value: integer `-3`, expected a whole number, 0 or more"
        );
        let text = serde_json::json!({"count": 3, "rate": "fast"});
        let error = check_params::<Params>(&text).unwrap_err();
        assert_eq!(error, "invalid type: string \"fast\", expected a number");
    }
}
