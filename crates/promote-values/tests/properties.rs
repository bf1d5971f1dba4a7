//! Properties over generated documents of random shape and over mutated real files.

mod generate;
mod support;

use generate::{Found, Leaf, document, reads_as, render, version};
use promote_values::{ValuesErrorKind, get, set, set_many};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Set, then get, on a random scalar of a random document: the value reads back, only its
    /// bytes changed, an independent reader sees exactly that change, and setting it again is
    /// a no-op.
    #[test]
    fn set_then_get_on_generated_documents(
        (root, layout) in document(),
        pick in any::<prop::sample::Index>(),
        value in version(),
    ) {
        let (content, found) = render(&root, &layout);
        prop_assume!(!found.is_empty());
        let target = pick.get(&found);
        let text = String::from_utf8_lossy(&content).into_owned();
        let result = set("gen.yaml", &content, &target.path, &value);
        let empty = matches!(&target.leaf, Leaf::Plain(s) if s.is_empty());
        if empty && target.in_flow {
            let err = result.expect_err("an empty flow value is refused");
            prop_assert_eq!(err.kind.label(), "EmptyValue");
            return Ok(());
        }
        let edit = result.map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(&edit.previous, reads_as(&target.leaf));
        let read = get("gen.yaml", &edit.content, &target.path);
        prop_assert_eq!(read.as_deref(), Ok(value.as_str()), "{}", text);
        if edit.changed {
            support::only_span_changed(&content, &edit.content, &edit.span);
        } else {
            prop_assert_eq!(&edit.content, &content);
        }
        prop_assert!(support::same_except(&content, &edit.content, &target.path, &value), "serde_yaml cannot read:\n{}", text);

        let again = set("gen.yaml", &edit.content, &target.path, &value).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(!again.changed);
        prop_assert_eq!(again.content, edit.content);
    }

    /// Setting two scalars at once equals setting them one after the other.
    #[test]
    fn set_many_equals_sequential_sets(
        (root, layout) in document(),
        picks in (any::<prop::sample::Index>(), any::<prop::sample::Index>()),
        values in (version(), version()),
    ) {
        let (content, found) = render(&root, &layout);
        let editable: Vec<&Found> = found.iter().filter(|f| !(f.in_flow && reads_as(&f.leaf).is_empty())).collect();
        if editable.len() < 2 {
            return Ok(());
        }
        let i = picks.0.index(editable.len());
        let j = picks.1.index(editable.len() - 1);
        let (a, b) = (editable[i], editable[if j >= i { j + 1 } else { j }]);
        let many = set_many("gen.yaml", &content, &[(&a.path, &values.0), (&b.path, &values.1)])
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let first = set("gen.yaml", &content, &a.path, &values.0).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let second = set("gen.yaml", &first.content, &b.path, &values.1).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&many.content, &second.content);
        for field in &many.fields {
            prop_assert_eq!(std::str::from_utf8(&many.content[field.span.clone()]).map(|t| t.contains(field.value.as_str())), Ok(true));
        }
    }

    /// Random damage to real files never panics, and whenever the editor still accepts the
    /// file, it changes only the value's bytes and the value reads back. (A refusal cannot
    /// change the input: it is borrowed read-only; the CLI tests check the file on disk.)
    #[test]
    fn mutated_files_edit_exactly_or_refuse(
        (base, path) in prop::sample::select(vec![
            ("helm-chart-values", "image.tag"), ("helm-chart-values", "sidecars[1].image.tag"),
            ("release-file-windows", "image.tag"), ("flow-style", "multi.tag"), ("flow-style", "sidecars[1].tag"),
            ("quoted-keys", "podLabels.\"app.kubernetes.io/version\""), ("escapes-and-multiline", "b"),
            ("escapes-and-multiline", "e"), ("empty-values", "image.digest"), ("empty-values", "list[1]"),
            ("anchors", "lonely.tag"), ("comment-between-key-and-value", "image.tag"), ("unicode", "image.ключ"),
            ("explicit-keys", "image.repository"), ("tabs-in-comments", "image.tag"), ("document-markers", "image.tag"),
        ]),
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0u8..3, prop::sample::select(b":-#'\"{}[],\n\r\t&*!|>? %@`\\ax".to_vec())), 1..4),
        value in version(),
    ) {
        let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(base).join("input.yaml");
        let mut content = std::fs::read(file).map_err(|e| TestCaseError::fail(e.to_string()))?;
        for (at, op, byte) in edits {
            let i = at.index(content.len() + 1);
            match op {
                0 => content.insert(i, byte),
                1 if i < content.len() => { content.remove(i); }
                _ if i < content.len() => content[i] = byte,
                _ => {}
            }
        }
        match set("mutated.yaml", &content, path, &value) {
            Ok(edit) => {
                let read = get("mutated.yaml", &edit.content, path);
                prop_assert_eq!(read.as_deref(), Ok(value.as_str()));
                if edit.changed {
                    support::only_span_changed(&content, &edit.content, &edit.span);
                }
                support::same_except(&content, &edit.content, path, &value);
            }
            Err(err) => {
                prop_assert_ne!(err.kind.label(), "VerifyFailed", "{}", err);
                prop_assert!(err.to_string().starts_with("mutated.yaml: "));
            }
        }
    }
}

#[test]
fn set_many_is_all_or_nothing() {
    let src = b"a: v1\nb: &x v2\nc: *x\n";
    let err = set_many("f.yaml", src, &[("a", "v3"), ("b", "v4")]).expect_err("b is anchored");
    assert_eq!(err.path, "b");
    assert!(matches!(err.kind, ValuesErrorKind::TargetAnchor { .. }));
    let err =
        set_many("f.yaml", src, &[("a", "v3"), ("a", "bad value")]).expect_err("invalid version");
    assert!(matches!(err.kind, ValuesErrorKind::InvalidVersion { .. }));
}
