//! The self-heal policy check: each Application's self-heal against what the lane expects.

use promote_api::{Policy, PolicyCheck};

use crate::observation::{AppView, Observation};

/// The policy check of both environments.
pub(crate) fn policy(obs: &Observation) -> Policy {
    let spec = &obs.spec;
    Policy {
        source: policy_check(
            &obs.source_app,
            spec.source.expected_self_heal,
            &spec.source.environment,
            "source",
        ),
        target: policy_check(
            &obs.target_app,
            spec.target.expected_self_heal,
            &spec.target.environment,
            "target",
        ),
    }
}

fn policy_check(app: &AppView, expected: bool, env: &str, side: &str) -> Option<PolicyCheck> {
    match app {
        AppView::NotConfigured => None,
        AppView::Missing(name) => Some(PolicyCheck {
            application: Some(name.clone()),
            expected_self_heal: expected,
            self_heal: None,
            compliant: false,
            message: Some(format!("the {env} Application {name} does not exist")),
        }),
        AppView::Error(f) => Some(PolicyCheck {
            application: None,
            expected_self_heal: expected,
            self_heal: None,
            compliant: false,
            message: Some(f.message.clone()),
        }),
        AppView::Found(app) => {
            let actual = app.sync_policy.self_heal;
            let compliant = actual == expected;
            let message = (!compliant).then(|| {
                if expected {
                    format!(
                        "{env} Application {} has self-heal off but this lane expects it on: set spec.syncPolicy.automated.selfHeal: true (with auto-sync enabled) on {}, or spec.{side}.expectedSelfHeal: false on the Promotion",
                        app.key(),
                        app.key()
                    )
                } else {
                    format!(
                        "{env} Application {} has self-heal on but this lane expects it off (hot-reload sessions would be reverted): set spec.syncPolicy.automated.selfHeal: false on {}, or spec.{side}.expectedSelfHeal: true on the Promotion",
                        app.key(),
                        app.key()
                    )
                }
            });
            Some(PolicyCheck {
                application: Some(app.key()),
                expected_self_heal: expected,
                self_heal: Some(actual),
                compliant,
                message,
            })
        }
    }
}
