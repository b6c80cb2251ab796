//! Printing: errors, YAML and JSON as Docker Compose prints them.

use serde_json::Value;

/// The message for a failed command: the error and its causes, one line.
pub fn error_text(e: &anyhow::Error) -> String {
    let mut s = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !s.contains(&c) {
            s.push_str(": ");
            s.push_str(&c);
        }
    }
    s
}

/// Escapes `$` as `$$` in every string value (not keys), so printed output interpolates back
/// to the same values, as `docker compose config` does.
pub fn escape_dollars(v: &mut Value) {
    match v {
        Value::String(s) if s.contains('$') => *s = s.replace('$', "$$"),
        Value::Array(a) => a.iter_mut().for_each(escape_dollars),
        Value::Object(o) => o.values_mut().for_each(escape_dollars),
        _ => {}
    }
}

/// JSON with two-space indentation.
pub fn json(v: &Value) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(v)?)
}

/// YAML, block style, after escaping `$` as `$$` in values when `escape_dollars` (what
/// [`escape_dollars`] then `yaml_out::to_string` give, faster for a big project).
pub fn yaml_escaped(v: &mut Value, escape_dollars: bool) -> String {
    crate::yaml_out::to_string_escaped(v, escape_dollars)
}

/// Sorts the keys of every map in `v`, as Go writes its maps.
pub fn sort_keys(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.sort_keys();
            m.values_mut().for_each(sort_keys);
        }
        Value::Array(a) => a.iter_mut().for_each(sort_keys),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollars_are_escaped_in_values_only() {
        let mut v = serde_json::json!({"a$": ["x $HOME", {"b": "$$"}], "n": 1});
        escape_dollars(&mut v);
        assert_eq!(
            v,
            serde_json::json!({"a$": ["x $$HOME", {"b": "$$$$"}], "n": 1})
        );
    }
}
