//! Reading an Application as a test sees it, and waiting until it looks a certain way.

use std::fmt;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use kube::api::{Api, DynamicObject, WatchEvent, WatchParams};
use kube::{Client, ResourceExt};
use promote_testsupport::wait_until;
use serde_json::Value;
use tokio::time::Instant;

use crate::error::{Error, Result};

/// Names one Application: namespace and name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AppRef {
    /// Namespace of the Application object.
    pub namespace: String,
    /// Name of the Application object.
    pub name: String,
}

impl AppRef {
    /// Names the Application `name` in `namespace`.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    pub(crate) fn of(object: &DynamicObject) -> Self {
        Self::new(object.namespace().unwrap_or_default(), object.name_any())
    }
}

impl fmt::Display for AppRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// One observed version of an Application, with accessors for what tests check.
#[derive(Clone, Debug)]
pub struct AppSnapshot {
    /// The object as the API server returned it.
    pub object: DynamicObject,
    json: Value,
}

impl AppSnapshot {
    /// Wraps an Application object.
    pub fn new(object: DynamicObject) -> Self {
        let json = serde_json::to_value(&object).unwrap_or(Value::Null);
        Self { object, json }
    }

    /// The whole object as JSON.
    pub fn json(&self) -> &Value {
        &self.json
    }

    /// `status`, or null.
    pub fn status(&self) -> &Value {
        self.json.get("status").unwrap_or(&Value::Null)
    }

    fn text(&self, pointer: &str) -> Option<&str> {
        self.json.pointer(pointer).and_then(Value::as_str)
    }

    /// `status.sync.status`: `Synced`, `OutOfSync` or `Unknown`.
    pub fn sync_status(&self) -> Option<&str> {
        self.text("/status/sync/status")
    }

    /// `status.sync.revision`, or the first of `status.sync.revisions` (multi-source apps).
    pub fn sync_revision(&self) -> Option<&str> {
        self.text("/status/sync/revision")
            .or_else(|| self.text("/status/sync/revisions/0"))
    }

    /// `status.health.status`.
    pub fn health_status(&self) -> Option<&str> {
        self.text("/status/health/status")
    }

    /// `status.summary.images`, as written.
    pub fn images(&self) -> Vec<String> {
        self.json
            .pointer("/status/summary/images")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The top-level `.operation`, when one is requested or running.
    pub fn operation(&self) -> Option<&Value> {
        self.json.get("operation").filter(|o| !o.is_null())
    }

    /// `status.operationState.phase`.
    pub fn operation_phase(&self) -> Option<&str> {
        self.text("/status/operationState/phase")
    }

    /// `status.operationState.syncResult.revision` (or the first of `revisions`).
    pub fn synced_revision(&self) -> Option<&str> {
        self.text("/status/operationState/syncResult/revision")
            .or_else(|| self.text("/status/operationState/syncResult/revisions/0"))
    }

    /// `status.operationState.finishedAt`.
    pub fn operation_finished_at(&self) -> Option<&str> {
        self.text("/status/operationState/finishedAt")
    }

    /// `status.reconciledAt`.
    pub fn reconciled_at(&self) -> Option<&str> {
        self.text("/status/reconciledAt")
    }

    /// Revisions in `status.history`, oldest first.
    pub fn history_revisions(&self) -> Vec<String> {
        self.json
            .pointer("/status/history")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(|h| {
                        h.get("revision")
                            .or_else(|| h.pointer("/revisions/0"))
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `status.conditions[].type`.
    pub fn condition_types(&self) -> Vec<String> {
        self.json
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(|c| c.get("type").and_then(Value::as_str).map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// An annotation's value.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.object.annotations().get(key).map(String::as_str)
    }

    /// A one-line summary for failure messages.
    pub fn summary(&self) -> String {
        format!(
            "sync={} revision={} health={} images={:?} operation={} phase={} reconciledAt={}",
            self.sync_status().unwrap_or("-"),
            self.sync_revision().unwrap_or("-"),
            self.health_status().unwrap_or("-"),
            self.images(),
            if self.operation().is_some() {
                "present"
            } else {
                "none"
            },
            self.operation_phase().unwrap_or("-"),
            self.reconciled_at().unwrap_or("-"),
        )
    }
}

/// Waits until the Application satisfies `predicate`, watching every change (so short-lived
/// states are seen), and returns the version that did. Fails after `timeout` with the last
/// state seen.
pub async fn wait_for<F>(
    client: &Client,
    app: &AppRef,
    predicate: F,
    timeout: Duration,
) -> Result<AppSnapshot>
where
    F: FnMut(&AppSnapshot) -> bool,
{
    wait_for_with_errors(client, app, predicate, timeout, Vec::new).await
}

/// [`wait_for`], with the simulator's recent errors in the timeout error.
pub(crate) async fn wait_for_with_errors<F, E>(
    client: &Client,
    app: &AppRef,
    mut predicate: F,
    timeout: Duration,
    recent_errors: E,
) -> Result<AppSnapshot>
where
    F: FnMut(&AppSnapshot) -> bool,
    E: Fn() -> Vec<String>,
{
    let mut versions = Versions {
        api: crate::applications(client.clone(), &app.namespace),
        app,
        deadline: Instant::now() + timeout,
        stream: None,
    };
    let what = format!("Application {app} looks as expected");
    wait_until(what, timeout, NEXT_VERSION_PACE, async || {
        match versions.next().await? {
            Seen::Version(object) => {
                let snapshot = AppSnapshot::new(*object);
                if predicate(&snapshot) {
                    Ok(Some(snapshot))
                } else {
                    Err(snapshot.summary())
                }
            }
            Seen::Gone => Err("not found".to_owned()),
            Seen::Nothing => Ok(None),
        }
    })
    .await
    .map_err(|t| Error::WaitTimeout {
        app: app.to_string(),
        timeout,
        last: t.last.unwrap_or_else(|| "nothing read yet".to_owned()),
        recent_errors: recent_errors(),
    })
}

/// How often [`wait_for`] may take the next version; a watch delivers versions as they
/// come, so this only paces bursts and re-reads after a failed watch.
const NEXT_VERSION_PACE: Duration = Duration::from_millis(50);

/// What one look at an Application found.
enum Seen {
    /// A version of the object.
    Version(Box<DynamicObject>),
    /// The object does not exist (now, or any more).
    Gone,
    /// Nothing new (a bookmark, or the watch ended and is started again next time).
    Nothing,
}

/// Every version of one Application, in order: a read, then a watch from the version read,
/// and a new read when the watch ends or fails.
struct Versions<'a> {
    api: Api<DynamicObject>,
    app: &'a AppRef,
    deadline: Instant,
    stream: Option<BoxStream<'static, kube::Result<WatchEvent<DynamicObject>>>>,
}

impl Versions<'_> {
    /// The next version; an error when the object cannot be read or watched.
    async fn next(&mut self) -> std::result::Result<Seen, String> {
        let Some(stream) = self.stream.as_mut() else {
            return self.read_and_watch().await;
        };
        match stream.next().await {
            Some(Ok(WatchEvent::Added(object) | WatchEvent::Modified(object))) => {
                Ok(Seen::Version(Box::new(object)))
            }
            Some(Ok(WatchEvent::Deleted(_))) => Ok(Seen::Gone),
            Some(Ok(WatchEvent::Bookmark(_))) => Ok(Seen::Nothing),
            // An expired resourceVersion, a dropped connection or the server's watch timeout:
            // read the object again and watch from there.
            Some(Ok(WatchEvent::Error(_)) | Err(_)) | None => {
                self.stream = None;
                Ok(Seen::Nothing)
            }
        }
    }

    async fn read_and_watch(&mut self) -> std::result::Result<Seen, String> {
        let app = self.app;
        let current = self
            .api
            .get_opt(&app.name)
            .await
            .map_err(|e| Error::kube(format!("reading Application {app}"), e).to_string())?;
        let version = current.as_ref().map_or_else(
            || "0".to_owned(),
            |object| object.resource_version().unwrap_or_default(),
        );
        let remaining = self.deadline.saturating_duration_since(Instant::now());
        let secs = u32::try_from(remaining.as_secs().clamp(1, 290)).unwrap_or(290);
        let params = WatchParams::default()
            .fields(&format!("metadata.name={}", app.name))
            .timeout(secs);
        let stream = self
            .api
            .watch(&params, &version)
            .await
            .map_err(|e| Error::kube(format!("watching Application {app}"), e).to_string())?;
        self.stream = Some(stream.boxed());
        Ok(current.map_or(Seen::Gone, |object| Seen::Version(Box::new(object))))
    }
}
