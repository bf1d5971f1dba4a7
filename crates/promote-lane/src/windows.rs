//! Release windows (`spec.windows`, the shape of Argo CD sync windows): parsed once into cron
//! schedules in their IANA time zones, and evaluated at an instant, purely: whether a
//! promotion may move, which window decides, and when that changes.
//!
//! A window is open for `duration` from every time its schedule fires, read on the wall clock
//! of its time zone (so `0 9 * * 1-4` in Europe/Berlin is 09:00 there in winter and in
//! summer). With any Allow window, promotions move only while one is open; while a Deny window
//! is open nothing moves (Deny wins, as in Argo CD).

use std::time::Duration;

use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, Zoned};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use promote_api::{Window, WindowKind, WindowStatus};

use crate::duration::parse_duration;
use crate::spec::{SpecError, SpecErrorKind, Written, error};

/// Starts followed through windows that run into each other before a window counts as
/// never closing (`* * * * *` for 1h, say).
const CHAIN_LIMIT: usize = 200;

/// Steps of the search for the next opening (each skips a whole window or gap).
const SEARCH_LIMIT: usize = 200;

/// How far ahead the next opening is looked for.
const HORIZON: SignedDuration = SignedDuration::from_hours(366 * 24);

/// One release window, valid by construction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseWindow {
    /// Allow or Deny.
    pub kind: WindowKind,
    /// The schedule as written.
    pub schedule: String,
    /// How long it stays open each time it fires.
    pub duration: Written<Duration>,
    /// The time zone's name as written (`UTC` by default).
    pub zone: String,
    cron: Cron,
    tz: TimeZone,
    span: SignedDuration,
}

/// The lane's release windows, in spec order; none means promotions always may move.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Windows(Vec<ReleaseWindow>);

/// Whether a promotion may move at one instant, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowState {
    /// A promotion may move now.
    pub open: bool,
    /// The window that decides: the open Deny (closed), the next Allow (closed), the window
    /// that ends the opening (open), if any.
    pub window: Option<ReleaseWindow>,
    /// When promotions may move next, while closed; None when not within a year.
    pub next_open: Option<Zoned>,
    /// When promotions stop being allowed, while open; None when no window ends it.
    pub closes_at: Option<Zoned>,
}

impl ReleaseWindow {
    /// `Deny 0 18 * * 5 for 64h (Europe/Berlin)`, as `status.window.window` says it.
    pub fn describe(&self) -> String {
        format!(
            "{} {} for {} ({})",
            self.kind.as_str(),
            self.schedule,
            self.duration.text,
            self.zone
        )
    }

    /// `Deny 0 18 * * 5 for 64h, Europe/Berlin`, for messages that already use parentheses.
    pub fn words(&self) -> String {
        format!(
            "{} {} for {}, {}",
            self.kind.as_str(),
            self.schedule,
            self.duration.text,
            self.zone
        )
    }

    fn zoned(&self, t: Timestamp) -> Zoned {
        t.to_zoned(self.tz.clone())
    }

    /// The latest time the schedule fired at or before `t`.
    fn last_start(&self, t: Timestamp) -> Option<Timestamp> {
        self.cron
            .find_previous_occurrence(&self.zoned(t), true)
            .ok()
            .map(|z| z.timestamp())
    }

    /// The first time the schedule fires at or after `t`.
    fn next_start(&self, t: Timestamp) -> Option<Timestamp> {
        self.cron
            .find_next_occurrence(&self.zoned(t), true)
            .ok()
            .map(|z| z.timestamp())
    }

    /// None when closed at `t`; otherwise when it closes, following openings that start
    /// before (or as) the previous one ends; `Some(None)` when it does not close in sight.
    fn open_until(&self, t: Timestamp) -> Option<Option<Timestamp>> {
        let mut start = self.last_start(t)?;
        let mut end = start.checked_add(self.span).ok()?;
        if t >= end {
            return None;
        }
        for _ in 0..CHAIN_LIMIT {
            match self.last_start(end) {
                Some(later) if later > start => {
                    start = later;
                    end = later.checked_add(self.span).ok()?;
                }
                _ => return Some(Some(end)),
            }
        }
        Some(None)
    }
}

impl Windows {
    /// No windows listed.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The windows, in spec order.
    pub fn iter(&self) -> impl Iterator<Item = &ReleaseWindow> {
        self.0.iter()
    }

    /// Whether a promotion may move at `now`; None when the lane lists no window.
    pub fn at(&self, now: Timestamp) -> Option<WindowState> {
        if self.0.is_empty() {
            return None;
        }
        let denies = self.open_of(WindowKind::Deny, now);
        let allows = self.open_of(WindowKind::Allow, now);
        let any_allow = self.0.iter().any(|w| w.kind == WindowKind::Allow);
        if denies.is_empty() && (!any_allow || !allows.is_empty()) {
            return Some(self.opened(now, &allows));
        }
        let next = self.next_open(now);
        // Closed by Deny: the one that stays open longest decides. Otherwise the next Allow.
        let window = match denies
            .iter()
            .max_by_key(|(_, end)| end.unwrap_or(Timestamp::MAX))
        {
            Some((w, _)) => Some(*w),
            None => self
                .0
                .iter()
                .filter(|w| w.kind == WindowKind::Allow)
                .min_by_key(|w| w.next_start(now).unwrap_or(Timestamp::MAX)),
        };
        Some(WindowState {
            open: false,
            next_open: window.zip(next).map(|(w, t)| w.zoned(t)),
            window: window.cloned(),
            closes_at: None,
        })
    }

    /// The windows of `kind` open at `t`, each with when it closes.
    fn open_of(&self, kind: WindowKind, t: Timestamp) -> Vec<(&ReleaseWindow, Option<Timestamp>)> {
        self.0
            .iter()
            .filter(|w| w.kind == kind)
            .filter_map(|w| w.open_until(t).map(|end| (w, end)))
            .collect()
    }

    /// Open at `now`: it closes when the longest open Allow ends or the next Deny starts,
    /// whichever comes first.
    fn opened(
        &self,
        now: Timestamp,
        allows: &[(&ReleaseWindow, Option<Timestamp>)],
    ) -> WindowState {
        let allow = allows
            .iter()
            .max_by_key(|(_, end)| end.unwrap_or(Timestamp::MAX))
            .map(|(w, end)| (*w, *end));
        let deny = self
            .0
            .iter()
            .filter(|w| w.kind == WindowKind::Deny)
            .filter_map(|w| w.next_start(now).map(|t| (w, t)))
            .min_by_key(|(_, t)| *t);
        let closing = match (allow, deny) {
            (Some((_, Some(end))), Some((d, start))) if start < end => Some((d, start)),
            (Some((a, Some(end))), _) => Some((a, end)),
            (Some((_, None)) | None, Some((d, start))) => Some((d, start)),
            _ => None,
        };
        WindowState {
            open: true,
            window: closing.map(|(w, _)| w).or(allow.map(|(w, _)| w)).cloned(),
            next_open: None,
            closes_at: closing.map(|(w, t)| w.zoned(t)),
        }
    }

    /// The first instant at or after `from` when no Deny is open and (with any Allow) an
    /// Allow is; None when not within [`HORIZON`].
    fn next_open(&self, from: Timestamp) -> Option<Timestamp> {
        let horizon = from.checked_add(HORIZON).ok()?;
        let any_allow = self.0.iter().any(|w| w.kind == WindowKind::Allow);
        let mut t = from;
        for _ in 0..SEARCH_LIMIT {
            if t > horizon {
                return None;
            }
            let denies = self.open_of(WindowKind::Deny, t);
            if !denies.is_empty() {
                // Nothing moves before the last open Deny ends (one that never ends: never).
                let ends: Option<Vec<Timestamp>> = denies.iter().map(|(_, end)| *end).collect();
                t = ends?.into_iter().max()?;
                continue;
            }
            if !any_allow || !self.open_of(WindowKind::Allow, t).is_empty() {
                return Some(t);
            }
            t = self
                .0
                .iter()
                .filter(|w| w.kind == WindowKind::Allow)
                .filter_map(|w| w.next_start(t))
                .min()?;
        }
        None
    }
}

impl WindowState {
    /// As `status.window` reports it.
    pub fn status(&self) -> WindowStatus {
        WindowStatus {
            open: self.open,
            window: self.window.as_ref().map(ReleaseWindow::describe),
            next_open: self.next_open.as_ref().map(|z| Time(z.timestamp())),
            closes_at: self.closes_at.as_ref().map(|z| Time(z.timestamp())),
        }
    }
}

/// Validates `spec.windows`: every schedule, duration and time zone, each error naming its
/// entry.
pub(crate) fn parse(windows: &[Window]) -> Result<Windows, SpecError> {
    windows
        .iter()
        .enumerate()
        .map(|(i, w)| window(w, &format!("spec.windows[{i}]")))
        .collect::<Result<Vec<_>, _>>()
        .map(Windows)
}

fn window(w: &Window, at: &str) -> Result<ReleaseWindow, SpecError> {
    let schedule = w.schedule.trim();
    let cron = CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build()
        .parse(schedule)
        .map_err(|e| {
            error(
                &format!("{at}.schedule"),
                SpecErrorKind::Schedule,
                format!("{schedule:?} is not a cron schedule: {e}"),
                "write five fields, minute hour day-of-month month day-of-week, such as 0 9 * * 1-4 (09:00 Monday to Thursday)",
            )
        })?;
    let text = w.duration.trim();
    let value = parse_duration(text)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            error(
                &format!("{at}.duration"),
                SpecErrorKind::Duration,
                format!("{text:?} is not a positive duration"),
                "write how long the window stays open, such as 30m, 8h or 64h",
            )
        })?;
    let span = SignedDuration::try_from(value).map_err(|_| {
        error(
            &format!("{at}.duration"),
            SpecErrorKind::Duration,
            format!("{text:?} is too long"),
            "write a duration of at most a few years, such as 8h",
        )
    })?;
    let zone = w.time_zone.as_deref().map_or("UTC", str::trim).to_owned();
    let tz = jiff::tz::db().get(&zone).map_err(|_| {
        error(
            &format!("{at}.timeZone"),
            SpecErrorKind::TimeZone,
            format!("{zone:?} is not an IANA time zone"),
            "name a zone such as Europe/Berlin, America/New_York or UTC",
        )
    })?;
    let window = ReleaseWindow {
        kind: w.kind,
        schedule: schedule.to_owned(),
        duration: Written {
            value,
            text: text.to_owned(),
        },
        zone,
        cron,
        tz,
        span,
    };
    // A schedule such as `0 0 30 2 *` parses but never fires: say so rather than never open.
    if window.next_start(Timestamp::UNIX_EPOCH).is_none() {
        return Err(error(
            &format!("{at}.schedule"),
            SpecErrorKind::Schedule,
            format!("{schedule:?} never fires"),
            "name a day that exists, such as 0 0 28 2 * rather than 0 0 30 2 *",
        ));
    }
    Ok(window)
}
