//! Following the Promotion's phase through a watch, so that short phases (Promoting, Syncing)
//! are seen as the operator writes them, not only where polling happens to land.

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow};
use futures::stream::{BoxStream, StreamExt as _, TryStreamExt as _};
use kube::api::Api;
use kube::runtime::WatchStreamExt as _;
use kube::runtime::watcher::{self, watcher};
use promote_api::{Phase, Promotion, PromotionStatus};
use promote_testsupport::wait_until;

use crate::lab::{PROMOTION, WAIT, describe};
use crate::narrate::Narrator;

/// A watch on the demo's Promotion, and the last phase it printed.
pub struct PhaseWatch {
    stream: BoxStream<'static, Result<Promotion, watcher::Error>>,
    last: Option<Phase>,
}

impl PhaseWatch {
    /// Opens the watch and reads where the lane stands now, so that every later change is
    /// seen from here on.
    pub async fn start(api: Api<Promotion>) -> Result<Self> {
        let config = watcher::Config::default().fields(&format!("metadata.name={PROMOTION}"));
        let mut stream = watcher(api, config)
            .default_backoff()
            .applied_objects()
            .boxed();
        let first = tokio::time::timeout(WAIT, stream.try_next())
            .await
            .with_context(|| format!("watching Promotion {PROMOTION}: nothing within {WAIT:?}"))?
            .with_context(|| format!("watching Promotion {PROMOTION}"))?
            .ok_or_else(|| anyhow!("the watch on Promotion {PROMOTION} ended"))?;
        Ok(Self {
            stream,
            last: first.status.and_then(|s| s.phase),
        })
    }

    /// Prints each phase the Promotion moves through until it reaches `goal`; fails at once
    /// when the promotion fails or is rolled back, and after [`WAIT`] otherwise.
    pub async fn until(&mut self, n: &Narrator, goal: Phase) -> Result<PromotionStatus> {
        let started = Instant::now();
        let (stream, last) = (&mut self.stream, &mut self.last);
        let outcome = wait_until(
            format!("Promotion {PROMOTION} reaches phase {goal}"),
            WAIT,
            Duration::from_millis(10),
            async || {
                let status = match stream.try_next().await {
                    Ok(Some(p)) => p.status.unwrap_or_default(),
                    Ok(None) => return Err("the watch ended".to_owned()),
                    Err(e) => return Err(e.to_string()),
                };
                if status.phase != *last {
                    *last = status.phase;
                    n.show(&format!(
                        "{:>5.1} s  {:<17} {}",
                        started.elapsed().as_secs_f64(),
                        status.phase.map(|p| p.as_str()).unwrap_or("-"),
                        status.message.as_deref().unwrap_or("")
                    ));
                }
                match status.phase {
                    Some(p) if p == goal => Ok(Some(Ok(status))),
                    Some(Phase::Failed | Phase::RolledBack) => Ok(Some(Err(describe(&status)))),
                    _ => Err(describe(&status)),
                }
            },
        )
        .await?;
        outcome.map_err(|why| anyhow!("the promotion did not succeed: {why}"))
    }
}
