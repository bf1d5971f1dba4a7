//! Helpers shared by the integration tests.

use promote_values::{Segment, ValuePath};
use serde_yaml::Value;

/// Checks an edit with an independent reader (serde_yaml, on libyaml): `after` must read as
/// `before` with the string `value` at `path`, and nothing else different. Returns false when
/// that reader cannot read `before` or find the path in it (so the check says nothing).
pub fn same_except(before: &[u8], after: &[u8], path: &str, value: &str) -> bool {
    let strip = |b: &[u8]| b.strip_prefix("\u{feff}".as_bytes()).unwrap_or(b).to_vec();
    let Ok(mut expected) = serde_yaml::from_slice::<Value>(&strip(before)) else {
        return false;
    };
    let actual: Value =
        serde_yaml::from_slice(&strip(after)).expect("the edited file reads with serde_yaml");
    let path = ValuePath::parse(path).expect("valid path");
    let mut cur = &mut expected;
    for segment in path.segments() {
        let next = match segment {
            Segment::Key(k) => cur
                .as_mapping_mut()
                .and_then(|m| m.get_mut(Value::String(k.clone()))),
            Segment::Index(i) => cur.as_sequence_mut().and_then(|s| s.get_mut(*i)),
        };
        // serde_yaml represents some nodes differently (a `!`-tagged key is a TaggedValue).
        let Some(next) = next else { return false };
        cur = next;
    }
    *cur = Value::String(value.to_owned());
    assert_eq!(
        actual, expected,
        "serde_yaml sees a different change than {path} = {value:?}"
    );
    true
}

/// Asserts that `after` equals `before` outside `after_span`, with the old token replaced
/// (and, when an empty value was filled in, one separating space inserted before it).
pub fn only_span_changed(before: &[u8], after: &[u8], after_span: &std::ops::Range<usize>) {
    let tail = after.len() - after_span.end;
    assert!(
        after_span.start <= before.len() + 1 && tail <= before.len(),
        "span out of range"
    );
    let mut lead = after_span.start;
    if before.get(..lead) != after.get(..lead) && lead > 0 && after[lead - 1] == b' ' {
        lead -= 1;
    }
    assert_eq!(
        &after[..lead],
        &before[..lead],
        "bytes before the value changed"
    );
    assert_eq!(
        &after[after_span.end..],
        &before[before.len() - tail..],
        "bytes after the value changed"
    );
}
