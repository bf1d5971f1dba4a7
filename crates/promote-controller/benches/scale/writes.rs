//! The bench's own watch of the Promotions: their phases and statuses, when each write landed,
//! and which status fields a stretch of writes changed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::api::Api;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use promote_api::{Phase, Promotion};
use serde_json::Value;

use crate::Res;
use crate::fixtures::Lane;

/// The Promotions as the watch last saw them, and the time of every change it saw.
#[derive(Debug)]
pub struct Writes {
    store: Store<Promotion>,
    changes: Arc<Mutex<Vec<Instant>>>,
    task: tokio::task::JoinHandle<()>,
    ns: String,
}

impl Writes {
    /// Starts the watch on `api` (namespace `ns`) and waits for its first list.
    pub async fn watch(api: Api<Promotion>, ns: &str) -> Res<Self> {
        let (store, writer) = reflector::store::<Promotion>();
        let changes: Arc<Mutex<Vec<Instant>>> = Arc::default();
        let task = tokio::spawn({
            let changes = changes.clone();
            watcher(api, watcher::Config::default())
                .default_backoff()
                .reflect(writer)
                .applied_objects()
                .for_each(move |_| {
                    changes
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push(Instant::now());
                    futures::future::ready(())
                })
        });
        store.wait_until_ready().await?;
        Ok(Self {
            store,
            changes,
            task,
            ns: ns.to_owned(),
        })
    }

    /// How many Promotions the watch knows.
    pub fn count(&self) -> usize {
        self.store.state().len()
    }

    pub fn get(&self, lane: Lane) -> Option<Arc<Promotion>> {
        self.store
            .get(&ObjectRef::new(&lane.name()).within(&self.ns))
    }

    /// How many Promotions are in each phase.
    pub fn phases(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for p in self.store.state() {
            let phase = p
                .status
                .as_ref()
                .and_then(|s| s.phase)
                .map_or("none", Phase::as_str);
            *out.entry(phase.to_owned()).or_insert(0) += 1;
        }
        out
    }

    /// Each Promotion's status as JSON, by name.
    pub fn statuses(&self) -> HashMap<String, Value> {
        self.store
            .state()
            .iter()
            .map(|p| {
                let status = serde_json::to_value(&p.status).unwrap_or(Value::Null);
                (p.metadata.name.clone().unwrap_or_default(), status)
            })
            .collect()
    }

    fn changes(&self) -> MutexGuard<'_, Vec<Instant>> {
        self.changes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// When the last change was seen.
    pub fn last(&self) -> Option<Instant> {
        self.changes().last().copied()
    }

    /// Changes seen since `since`.
    pub fn count_since(&self, since: Instant) -> usize {
        self.changes().iter().filter(|at| **at >= since).count()
    }

    /// Changes seen since `since`, by 10-second stretch; `stretches` of them.
    pub fn by_ten_seconds(&self, since: Instant, stretches: usize) -> Vec<usize> {
        let mut out = vec![0usize; stretches];
        for at in self.changes().iter().filter(|at| **at >= since) {
            let i = (at.duration_since(since).as_secs() / 10) as usize;
            if let Some(n) = out.get_mut(i) {
                *n += 1;
            }
        }
        out
    }

    /// Ends the watch.
    pub fn stop(self) {
        self.task.abort();
    }
}

/// Ten-second stretches covering `span` (at least one).
pub fn stretches(span: Duration) -> usize {
    span.as_secs().div_ceil(10).max(1) as usize
}

/// For each status field (array indexes folded into `[]`), how many Promotions changed it.
pub fn changed_fields(
    before: &HashMap<String, Value>,
    after: &HashMap<String, Value>,
) -> BTreeMap<String, usize> {
    fn walk(a: &Value, b: &Value, path: &str, out: &mut BTreeSet<String>) {
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                for key in x.keys().chain(y.keys()) {
                    let (u, v) = (
                        x.get(key).unwrap_or(&Value::Null),
                        y.get(key).unwrap_or(&Value::Null),
                    );
                    walk(u, v, &format!("{path}.{key}"), out);
                }
            }
            (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
                for (u, v) in x.iter().zip(y) {
                    walk(u, v, &format!("{path}[]"), out);
                }
            }
            _ if a != b => {
                out.insert(path.to_owned());
            }
            _ => {}
        }
    }
    let mut counts = BTreeMap::new();
    for (name, b) in after {
        let a = before.get(name).unwrap_or(&Value::Null);
        let mut fields = BTreeSet::new();
        walk(a, b, "status", &mut fields);
        for f in fields {
            *counts.entry(f).or_insert(0) += 1;
        }
    }
    counts
}
