//! Reading the JSON reference fixtures of `tests/fixtures/` in the models' tests.

use serde_json::Value;

/// A JSON array of numbers as `f32`.
pub fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .expect("an array")
        .iter()
        .map(|x| x.as_f64().expect("a number") as f32)
        .collect()
}

/// A JSON array of non-negative integers as `u32` (labels, ids).
pub fn u32s(v: &Value) -> Vec<u32> {
    v.as_array()
        .expect("an array")
        .iter()
        .map(|x| x.as_u64().expect("an integer") as u32)
        .collect()
}
