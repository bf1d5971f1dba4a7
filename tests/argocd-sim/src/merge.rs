//! JSON merge patches (RFC 7386) computed from two versions of a document.

use serde_json::{Map, Value};

/// The merge patch that turns `old` into `new`, or `None` when they are equal.
///
/// `new` must not contain nulls (a null in a merge patch deletes); the simulator never writes
/// any into status.
pub(crate) fn diff(old: &Value, new: &Value) -> Option<Value> {
    match (old, new) {
        (Value::Object(old), Value::Object(new)) => {
            let mut patch = Map::new();
            for (key, new_value) in new {
                match old.get(key) {
                    Some(old_value) => {
                        if let Some(d) = diff(old_value, new_value) {
                            patch.insert(key.clone(), d);
                        }
                    }
                    None => {
                        patch.insert(key.clone(), new_value.clone());
                    }
                }
            }
            for key in old.keys() {
                if !new.contains_key(key) {
                    patch.insert(key.clone(), Value::Null);
                }
            }
            (!patch.is_empty()).then_some(Value::Object(patch))
        }
        _ => (old != new).then(|| new.clone()),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// Applies a merge patch, as the API server does.
    pub(crate) fn apply(target: &mut Value, patch: &Value) {
        match (target.as_object_mut(), patch) {
            (Some(t), Value::Object(p)) => {
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(k);
                    } else {
                        apply(t.entry(k.clone()).or_insert(Value::Null), v);
                    }
                }
            }
            (_, Value::Object(_)) => {
                *target = json!({});
                apply(target, patch);
            }
            _ => *target = patch.clone(),
        }
    }

    #[test]
    fn the_patch_turns_old_into_new() {
        let cases = [
            (json!(null), json!({"sync": {"status": "Synced"}})),
            (
                json!({"sync": {"status": "OutOfSync", "revision": "a"}, "conditions": [{"type": "X"}]}),
                json!({"sync": {"status": "Synced", "revision": "a"}}),
            ),
            (
                json!({"summary": {"images": ["a", "b"]}}),
                json!({"summary": {"images": ["b"]}}),
            ),
            (json!({"a": 1}), json!({"a": {"b": 2}})),
        ];
        for (old, new) in cases {
            let patch = diff(&old, &new).expect("differs");
            let mut patched = old.clone();
            apply(&mut patched, &patch);
            assert_eq!(patched, new, "patch {patch}");
        }
    }

    #[test]
    fn equal_documents_need_no_patch() {
        let v = json!({"sync": {"status": "Synced"}, "history": [{"id": 1}]});
        assert_eq!(diff(&v, &v.clone()), None);
    }
}
