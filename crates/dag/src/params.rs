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
    let typed: T = serde_json::from_value(params.clone()).map_err(|error| error.to_string())?;
    serde_json::to_value(&typed).map_err(|error| error.to_string())
}
