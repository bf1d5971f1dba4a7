//! The harness runs scripts with only what Argo CD gives them, and reports their errors.

use std::io::Write as _;

use promote_argocd_lua::{Error, Lua};

fn run(script: &str) -> Result<serde_json::Value, Error> {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(script.as_bytes()).expect("write");
    Lua::system().run(file.path(), &serde_json::json!({"spec": {"suspend": true}}))
}

#[test]
fn obj_and_the_base_and_table_libraries_are_there() {
    let got = run("local t = {}\ntable.insert(t, tostring(obj.spec.suspend))\nreturn {v = t[1], n = os.time() > 0}")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got, serde_json::json!({"v": "true", "n": true}));
}

#[test]
fn libraries_argo_cd_does_not_open_are_missing() {
    for script in [
        "return string.format('%s', 'x')",
        "return math.floor(1.5)",
        "return io.open('/etc/passwd')",
        "return os.getenv('HOME')",
    ] {
        let err = run(script).expect_err(script);
        assert!(matches!(err, Error::Script { .. }), "{script}: {err}");
    }
}

#[test]
fn a_script_error_is_reported_with_its_message() {
    let err = run("error('nothing to approve', 0)").expect_err("raises");
    assert!(err.to_string().contains("nothing to approve"), "{err}");
    let err = run("local x = 1").expect_err("returns nothing");
    assert!(err.to_string().contains("returned nothing"), "{err}");
}
