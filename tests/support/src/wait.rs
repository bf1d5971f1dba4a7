//! Waiting until something is true: the one polling loop of the test suites.

use std::fmt;
use std::time::Duration;

use tokio::time::{Instant, MissedTickBehavior};

/// The shortest pause between two checks (a zero interval would spin).
const MIN_INTERVAL: Duration = Duration::from_millis(1);

/// What one check of [`wait_until`] found: done with a value, or not yet.
///
/// Implemented for `Option<T>` (`None`: not yet) and for `Result<Option<T>, E>`, where
/// `Err(e)` also means not yet and says why: an error to retry, or what was seen instead
/// (`Err(format!("phase is {phase}"))`). The last such reason goes into the timeout error.
pub trait Check {
    /// The value the wait returns once the check passes.
    type Output;

    /// `Ok(value)` when done; `Err(None)` not yet; `Err(Some(why))` not yet, and why.
    fn into_outcome(self) -> Result<Self::Output, Option<String>>;
}

impl<T> Check for Option<T> {
    type Output = T;

    fn into_outcome(self) -> Result<T, Option<String>> {
        self.ok_or(None)
    }
}

impl<T, E: fmt::Display> Check for Result<Option<T>, E> {
    type Output = T;

    fn into_outcome(self) -> Result<T, Option<String>> {
        match self {
            Ok(Some(value)) => Ok(value),
            Ok(None) => Err(None),
            Err(why) => Err(Some(why.to_string())),
        }
    }
}

/// A wait that ran out of time: what it waited for, and the last reason it was not done.
#[derive(Clone, Debug, thiserror::Error)]
#[error(
    "timed out after {timeout:?} waiting until {what} ({checks} checks finished; last: {})",
    last.as_deref().unwrap_or("no reason given")
)]
pub struct WaitTimeout {
    /// The description the caller gave.
    pub what: String,
    /// How long the caller waited.
    pub timeout: Duration,
    /// How many checks ran to the end (0: the first one never returned).
    pub checks: u32,
    /// The last reason a check gave for not being done (an error, or what it saw).
    pub last: Option<String>,
}

/// Runs `check` until it is done, starting one check at most every `interval`, and returns
/// its value; gives up after `timeout`, cutting a check in progress.
///
/// A check may itself wait (for the next watch event, say): checks start back to back
/// when one takes longer than `interval`, so `interval` only bounds how often a check
/// that returns at once runs. Errors a check returns are retried; a check that can never
/// pass should say why (it is shown in the [`WaitTimeout`]) or, in a test, panic.
pub async fn wait_until<C: Check>(
    what: impl fmt::Display,
    timeout: Duration,
    interval: Duration,
    mut check: impl AsyncFnMut() -> C,
) -> Result<C::Output, WaitTimeout> {
    let deadline = Instant::now() + timeout;
    let mut ticks = tokio::time::interval(interval.max(MIN_INTERVAL));
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut checks = 0_u32;
    let mut last = None;
    let done = tokio::time::timeout_at(deadline, async {
        loop {
            ticks.tick().await;
            let outcome = check().await.into_outcome();
            checks = checks.saturating_add(1);
            match outcome {
                Ok(value) => return value,
                Err(Some(why)) => last = Some(why),
                Err(None) => {}
            }
        }
    })
    .await;
    done.map_err(|_| WaitTimeout {
        what: what.to_string(),
        timeout,
        checks,
        last,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TICK: Duration = Duration::from_millis(1);

    #[tokio::test]
    async fn returns_the_value_of_the_first_passing_check() {
        let mut n = 0;
        let got = wait_until("n reaches 3", Duration::from_secs(5), TICK, async || {
            n += 1;
            (n >= 3).then_some(n)
        })
        .await
        .expect("passes");
        assert_eq!(got, 3);
    }

    #[tokio::test]
    async fn errors_are_retried_and_the_last_one_is_reported() {
        let mut n = 0;
        let err = wait_until("never", Duration::from_millis(50), TICK, async || {
            n += 1;
            Err::<Option<()>, _>(format!("attempt {n} failed"))
        })
        .await
        .expect_err("times out");
        assert_eq!(err.what, "never");
        assert!(err.checks > 1, "{err}");
        assert_eq!(err.last, Some(format!("attempt {} failed", err.checks)));
        assert!(err.to_string().contains("waiting until never"), "{err}");
    }

    #[tokio::test]
    async fn a_hanging_check_is_cut_at_the_timeout() {
        let err = wait_until(
            "a check returns",
            Duration::from_millis(20),
            TICK,
            async || std::future::pending::<Option<()>>().await,
        )
        .await
        .expect_err("times out");
        assert_eq!((err.checks, err.last), (0, None));
    }

    #[tokio::test(start_paused = true)]
    async fn checks_that_return_at_once_run_once_per_interval() {
        let mut n = 0_u32;
        let err = wait_until(
            "never",
            Duration::from_millis(1050),
            Duration::from_millis(100),
            async || {
                n += 1;
                None::<()>
            },
        )
        .await
        .expect_err("times out");
        assert_eq!(err.checks, 11, "at 0, 100, …, 1000 ms");
    }
}
