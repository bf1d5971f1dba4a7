//! Parity: the environments' configuration files compared key path by key path, every
//! difference outside the allow list on `status.parity` and `ParityCompliant`, secrets never
//! shown, and `gates.parity` holding promotions while they differ.

mod common;

use common::*;
use promote_api::conditions::{reasons, types};
use promote_api::{DifferenceKind, Parity, ParityStatus, Phase};
use promote_lane::{Admission, ConfigFiles, Failure, LaneSpec, SpecErrorKind};

const DEV: &str = "\
image:
  repository: registry.example.com/web/app
command: [next, dev, --port, \"3000\"]
service:
  port: 3000
ingress:
  hosts: [dev.example.com]
env:
  - name: NODE_ENV
    value: development
  - name: DB_HOST
    value: db.dev
resources:
  limits: {cpu: 500m}
containers:
  - name: web
    image: web:1
  - name: sidecar
    image: envoy:1
";

const PROD: &str = "\
image:
  repository: registry.example.com/web/app
command: [next, start]
service:
  port: 80
ingress:
  hosts: [www.example.com]
env:
  - name: DB_HOST
    value: db.prod
  - name: NODE_ENV
    value: production
resources:
  limits: {cpu: \"2\"}
containers:
  - name: sidecar
    image: envoy:1
  - name: web
    image: web:2
";

/// An Auto lane whose dev holds a newer version, comparing `dev` with `prod`.
fn compared(dev: &str, prod: &str) -> World {
    let mut w = World::new("sha-b", "sha-a").auto();
    w.spec.source.config_file = Some("deploy/env/dev/app.yaml".into());
    w.spec.target.config_file = Some("deploy/env/prod/app.yaml".into());
    w.config = ConfigFiles::Read {
        source: Ok(dev.to_owned()),
        target: Ok(prod.to_owned()),
    };
    w
}

fn parity(d: &Decision) -> ParityStatus {
    d.status.parity.clone().expect("status.parity")
}

fn paths(p: &ParityStatus) -> Vec<&str> {
    p.differences.iter().map(|d| d.path.as_str()).collect()
}

#[test]
fn differences_outside_the_allow_list_are_listed_with_both_values() {
    let d = compared(DEV, PROD).decide();
    let p = parity(&d);
    assert!(!p.compliant);
    assert_eq!(
        paths(&p),
        [
            "command[1]",
            "command[2]",
            "command[3]",
            "service.port",
            "containers[name=web].image"
        ]
    );
    assert_eq!(p.total, 5);
    // ingress.hosts, env (two values), resources.limits.cpu are allowed by default.
    assert_eq!(p.allowed, 4, "{p:?}");
    assert_eq!(p.revision.as_deref(), Some(TIP));
    let port = &p.differences[3];
    assert_eq!(port.kind, DifferenceKind::Different);
    assert_eq!(
        (port.source.as_deref(), port.target.as_deref()),
        (Some("3000"), Some("80"))
    );
    assert_eq!(p.differences[1].kind, DifferenceKind::OnlyInSource);
    assert_eq!(p.differences[1].source.as_deref(), Some("--port"));
    let c = condition(&d, types::PARITY_COMPLIANT);
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("False", reasons::PARITY_DIFFERENCES)
    );
    assert!(
        c.message.starts_with(
            "5 differences outside spec.parity.allow: command[1] (dev dev, prod start); command[2] (only in dev: --port); command[3] (only in dev: \"3000\"); and 2 more (status.parity.differences)"
        ),
        "{}",
        c.message
    );
    assert!(
        c.message
            .contains("add command (or args) to spec.parity.allow"),
        "the hot-mode run command gets a hint: {}",
        c.message
    );
    assert_eq!(c.observed_generation, Some(3));
}

#[test]
fn without_the_gate_a_difference_is_reported_but_does_not_hold_the_version() {
    let d = compared(DEV, PROD).decide();
    assert!(
        matches!(d.action, Action::Write(_)),
        "{:?}",
        d.status.message
    );
}

#[test]
fn the_gate_holds_a_version_while_the_files_differ_and_lets_it_go_once_they_match() {
    let mut w = compared(DEV, PROD);
    w.spec.gates.parity = true;
    let d = w.decide();
    assert_eq!(d.action, Action::None);
    assert_eq!(phase(&d), Phase::Gated);
    let message = d.status.message.clone().unwrap_or_default();
    assert!(
        message.starts_with("gate: parity: 5 differences outside spec.parity.allow: command[1]"),
        "{message}"
    );
    // The allow list takes the differences the team expects.
    w.spec.parity = Some(Parity {
        allow: vec![
            "command".into(),
            "service.port".into(),
            "containers.*.image".into(),
        ],
        default_allow: true,
    });
    let d = w.decide();
    assert!(parity(&d).compliant, "{:?}", parity(&d));
    assert!(
        matches!(d.action, Action::Write(_)),
        "{:?}",
        d.status.message
    );
    let c = condition(&d, types::PARITY_COMPLIANT);
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("True", reasons::COMPLIANT)
    );
    assert_eq!(
        c.message,
        "dev and prod configuration match outside the allow list (9 allowed differences)"
    );
}

#[test]
fn a_pin_is_not_held_by_the_parity_gate() {
    let mut w = compared(DEV, PROD);
    w.spec.gates.parity = true;
    w.spec.pin = Some("sha-0".into());
    assert!(matches!(w.decide().action, Action::Write(_)));
}

#[test]
fn lists_of_named_items_compare_by_name_and_lists_of_values_by_position() {
    let dev = "env: [{name: A, value: '1'}, {name: B, value: '2'}]\nargs: [a, b]\n";
    let prod = "env: [{name: B, value: '2'}, {name: A, value: '1'}]\nargs: [b, a]\n";
    let mut w = compared(dev, prod);
    w.spec.parity = Some(Parity {
        allow: vec![],
        default_allow: false,
    });
    let p = parity(&w.decide());
    assert_eq!(
        paths(&p),
        ["args[0]", "args[1]"],
        "reordered env is no difference"
    );
}

#[test]
fn values_under_secret_looking_keys_are_never_shown() {
    let dev = "\
database:
  password: hunter2-dev
auth:
  apiToken: tok-dev
extra: {name: x, apiKey: key-dev}
env:
  - name: SESSION_SECRET
    value: s3cr3t-dev
";
    let prod = "database:\n  password: hunter2-prod\nauth:\n  apiToken: tok-prod\nenv: []\n";
    let mut w = compared(dev, prod);
    w.spec.parity = Some(Parity {
        allow: vec![],
        default_allow: false,
    });
    let d = w.decide();
    let p = parity(&d);
    assert_eq!(
        paths(&p),
        ["database.password", "auth.apiToken", "extra", "env[0]"]
    );
    assert!(p.differences[0].hidden && p.differences[1].hidden);
    assert_eq!(p.differences[0].source, None);
    assert_eq!(
        p.differences[2].source.as_deref(),
        Some("{name: x, apiKey: (hidden)}")
    );
    assert_eq!(
        p.differences[3].source.as_deref(),
        Some("{name: SESSION_SECRET, value: (hidden)}")
    );
    let everything = serde_json::to_string(&d.status).expect("status");
    for secret in ["hunter2", "tok-", "key-dev", "s3cr3t"] {
        assert!(
            !everything.contains(secret),
            "{secret} leaked: {everything}"
        );
    }
}

#[test]
fn without_the_default_allow_list_hosts_env_and_resources_are_compared_too() {
    let mut w = compared(DEV, PROD);
    w.spec.parity = Some(Parity {
        allow: vec![],
        default_allow: false,
    });
    let p = parity(&w.decide());
    for path in [
        "ingress.hosts[0]",
        "env[name=NODE_ENV].value",
        "env[name=DB_HOST].value",
        "resources.limits.cpu",
    ] {
        assert!(paths(&p).contains(&path), "{path} in {:?}", paths(&p));
    }
    assert_eq!(p.allowed, 0);
}

#[test]
fn a_file_that_cannot_be_read_or_parsed_is_unknown_and_holds_a_gated_lane() {
    for (source, target, expected) in [
        (
            Err(Failure::permanent(
                reasons::GIT_ERROR,
                "file deploy/env/dev/app.yaml not found",
            )),
            Ok(PROD.to_owned()),
            "cannot read dev's configFile deploy/env/dev/app.yaml: file deploy/env/dev/app.yaml not found",
        ),
        (
            Ok("a: [1, 2\n".to_owned()),
            Ok(PROD.to_owned()),
            "dev's configFile deploy/env/dev/app.yaml is not valid:",
        ),
        (
            Ok(DEV.to_owned()),
            Ok("a: 1\n---\nb: 2\n".to_owned()),
            "prod's configFile deploy/env/prod/app.yaml is not valid: the file holds 2 YAML documents",
        ),
        (
            Ok(DEV.to_owned()),
            Ok("- just\n- a list\n".to_owned()),
            "is not valid: the document is not a mapping",
        ),
        (
            Ok("a: 1\na: 2\n".to_owned()),
            Ok(PROD.to_owned()),
            "is not valid:",
        ),
    ] {
        let mut w = compared(DEV, PROD);
        w.spec.gates.parity = true;
        w.config = ConfigFiles::Read { source, target };
        let d = w.decide();
        let c = condition(&d, types::PARITY_COMPLIANT);
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            ("Unknown", reasons::CONFIG_FILE_ERROR)
        );
        assert!(c.message.contains(expected), "{expected} in {}", c.message);
        assert_eq!(d.action, Action::None);
        assert_eq!(phase(&d), Phase::Gated);
    }
}

#[test]
fn files_not_read_again_keep_the_last_comparison() {
    let first = compared(DEV, PROD).decide();
    let mut w = compared(DEV, PROD).next(&first, 30);
    w.config = ConfigFiles::NotRead;
    let d = w.decide();
    assert_eq!(d.status.parity, first.status.parity);
    let c = condition(&d, types::PARITY_COMPLIANT);
    assert_eq!(c.reason, reasons::PARITY_DIFFERENCES);
}

#[test]
fn a_lane_that_stops_comparing_drops_its_parity_condition() {
    let first = compared(DEV, PROD).decide();
    let mut w = World::new("sha-b", "sha-a").auto().next(&first, 30);
    w.previous = first.status.clone();
    let d = w.decide();
    assert!(d.status.parity.is_none());
    assert!(
        !d.status
            .conditions
            .iter()
            .any(|c| c.type_ == types::PARITY_COMPLIANT)
    );
    assert!(
        World::new("sha-b", "sha-a")
            .decide()
            .status
            .conditions
            .iter()
            .all(|c| c.type_ != types::PARITY_COMPLIANT),
        "a lane without configuration files reports no ParityCompliant"
    );
}

#[test]
fn a_parity_spec_that_cannot_be_acted_on_names_the_field() {
    let parse = |w: &World| LaneSpec::parse(&w.spec, &Admission::default());
    let mut w = compared(DEV, PROD);
    w.spec.target.config_file = None;
    let e = parse(&w).expect_err("one file");
    assert_eq!(
        (e.field.as_str(), e.kind),
        ("spec.target.configFile", SpecErrorKind::Empty)
    );

    let mut w = World::new("sha-b", "sha-a");
    w.spec.gates.parity = true;
    let e = parse(&w).expect_err("gate without files");
    assert_eq!(e.field, "spec.source.configFile");
    assert!(
        e.fix
            .contains("name both environments' configuration files"),
        "{e}"
    );

    let mut w = compared(DEV, PROD);
    w.spec.target.config_file = Some("deploy/env/release-prod/app.yaml".into());
    let e = parse(&w).expect_err("release file");
    assert_eq!(
        (e.field.as_str(), e.kind),
        ("spec.target.configFile", SpecErrorKind::Same)
    );

    let mut w = compared(DEV, PROD);
    w.spec.target.config_file = Some("../prod.yaml".into());
    assert_eq!(
        parse(&w).expect_err("outside").kind,
        SpecErrorKind::RepositoryPath
    );

    let mut w = compared(DEV, PROD);
    w.spec.parity = Some(Parity {
        allow: vec!["env.*".into(), "a..b".into()],
        default_allow: true,
    });
    let e = parse(&w).expect_err("bad glob");
    assert_eq!(
        (e.field.as_str(), e.kind),
        ("spec.parity.allow[1]", SpecErrorKind::FieldPath)
    );
    assert!(e.problem.contains("empty key"), "{e}");
}
