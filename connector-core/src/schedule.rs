//! When scheduled syncs run.
//!
//! A connector config's [`SyncSchedule`] says how often a sync runs (hourly, daily,
//! weekly on Mondays, monthly on the first) and at what time of day (UTC; midnight
//! when absent; for hourly schedules only the minutes count). This module computes
//! the run times; it starts nothing. The embedding application drives the runs: it
//! asks [`next_run`] when to wake up, sleeps with its own runtime's timer, and runs
//! the [`ImportPipeline`](crate::pipeline::ImportPipeline) when [`is_due`] says so.
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use connector_core::{Frequency, SyncSchedule};
//! use connector_core::schedule::{is_due, next_run, upcoming};
//!
//! let schedule: SyncSchedule =
//!     serde_json::from_str(r#"{ "frequency": "daily", "time": "02:30" }"#).unwrap();
//! let now = Utc.with_ymd_and_hms(2025, 3, 10, 12, 0, 0).unwrap();
//! assert_eq!(next_run(&schedule, now), Some(Utc.with_ymd_and_hms(2025, 3, 11, 2, 30, 0).unwrap()));
//! assert_eq!(upcoming(&schedule, now).take(3).count(), 3);
//!
//! // In the application's loop: last run yesterday at 02:30, so today's is due.
//! let last = Utc.with_ymd_and_hms(2025, 3, 9, 2, 30, 0).unwrap();
//! assert!(is_due(&schedule, Some(last), now));
//! // In a real service:
//! // loop {
//! //     let wake = next_run(&schedule, last_run).unwrap_or(far_future);
//! //     tokio::time::sleep((wake - Utc::now()).to_std().unwrap_or_default()).await;
//! //     let report = pipeline.run().await?;
//! //     last_run = wake;
//! // }
//! ```

use chrono::{DateTime, Datelike, Days, Duration, NaiveDate, NaiveTime, Timelike, Utc};

use crate::config::{Frequency, SyncSchedule};

/// The first run time of `schedule` strictly after `after`, or `None` when the
/// schedule is disabled.
pub fn next_run(schedule: &SyncSchedule, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if !schedule.enabled {
        return None;
    }
    let time = schedule.time.unwrap_or(NaiveTime::MIN);
    let date = after.date_naive();
    let at = |d: NaiveDate, t: NaiveTime| d.and_time(t).and_utc();
    let next = match schedule.frequency {
        Frequency::Hourly => {
            let minute = NaiveTime::from_hms_opt(after.hour(), time.minute(), 0)?;
            let candidate = at(date, minute);
            if candidate > after {
                candidate
            } else {
                candidate + Duration::hours(1)
            }
        }
        Frequency::Daily => {
            let candidate = at(date, time);
            if candidate > after {
                candidate
            } else {
                at(date.checked_add_days(Days::new(1))?, time)
            }
        }
        Frequency::Weekly => {
            let to_monday = (7 - date.weekday().num_days_from_monday()) % 7;
            let candidate = at(
                date.checked_add_days(Days::new(u64::from(to_monday)))?,
                time,
            );
            if candidate > after {
                candidate
            } else {
                candidate.checked_add_days(Days::new(7))?
            }
        }
        Frequency::Monthly => {
            let first = NaiveDate::from_ymd_opt(date.year(), date.month(), 1)?;
            let candidate = at(first, time);
            if candidate > after {
                candidate
            } else {
                let (year, month) = if date.month() == 12 {
                    (date.year() + 1, 1)
                } else {
                    (date.year(), date.month() + 1)
                };
                at(NaiveDate::from_ymd_opt(year, month, 1)?, time)
            }
        }
    };
    Some(next)
}

/// Whether a run is due at `now`: the schedule is enabled and either nothing has
/// run yet (`last_run` is `None`) or a run time has passed since `last_run`.
pub fn is_due(
    schedule: &SyncSchedule,
    last_run: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> bool {
    if !schedule.enabled {
        return false;
    }
    match last_run {
        None => true,
        Some(last) => next_run(schedule, last).is_some_and(|next| next <= now),
    }
}

/// The run times of `schedule` after `after`, in order (empty when disabled).
pub fn upcoming(schedule: &SyncSchedule, after: DateTime<Utc>) -> Upcoming<'_> {
    Upcoming { schedule, after }
}

/// The iterator of [`upcoming`].
#[derive(Debug, Clone)]
pub struct Upcoming<'a> {
    schedule: &'a SyncSchedule,
    after: DateTime<Utc>,
}

impl Iterator for Upcoming<'_> {
    type Item = DateTime<Utc>;

    fn next(&mut self) -> Option<DateTime<Utc>> {
        let next = next_run(self.schedule, self.after)?;
        self.after = next;
        Some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn schedule(frequency: Frequency, time: Option<(u32, u32)>) -> SyncSchedule {
        let json = match time {
            Some((h, m)) => {
                serde_json::json!({ "frequency": frequency, "time": format!("{h:02}:{m:02}") })
            }
            None => serde_json::json!({ "frequency": frequency }),
        };
        serde_json::from_value(json).unwrap()
    }

    fn t(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    #[test]
    fn hourly_runs_at_the_minute_past_each_hour() {
        let s = schedule(Frequency::Hourly, Some((5, 15)));
        assert_eq!(
            next_run(&s, t(2025, 1, 1, 10, 0)),
            Some(t(2025, 1, 1, 10, 15))
        );
        assert_eq!(
            next_run(&s, t(2025, 1, 1, 10, 15)),
            Some(t(2025, 1, 1, 11, 15))
        );
        assert_eq!(
            next_run(&s, t(2025, 12, 31, 23, 20)),
            Some(t(2026, 1, 1, 0, 15))
        );
        let top = schedule(Frequency::Hourly, None);
        assert_eq!(
            next_run(&top, t(2025, 1, 1, 10, 0)),
            Some(t(2025, 1, 1, 11, 0))
        );
        let runs: Vec<_> = upcoming(&top, t(2025, 1, 1, 22, 30)).take(3).collect();
        assert_eq!(
            runs,
            vec![
                t(2025, 1, 1, 23, 0),
                t(2025, 1, 2, 0, 0),
                t(2025, 1, 2, 1, 0)
            ]
        );
    }

    #[test]
    fn daily_runs_at_the_time_of_day() {
        let s = schedule(Frequency::Daily, Some((2, 30)));
        assert_eq!(
            next_run(&s, t(2025, 3, 10, 1, 0)),
            Some(t(2025, 3, 10, 2, 30))
        );
        assert_eq!(
            next_run(&s, t(2025, 3, 10, 2, 30)),
            Some(t(2025, 3, 11, 2, 30))
        );
        assert_eq!(
            next_run(&s, t(2025, 2, 28, 3, 0)),
            Some(t(2025, 3, 1, 2, 30))
        );
        assert_eq!(
            next_run(&s, t(2024, 2, 28, 3, 0)),
            Some(t(2024, 2, 29, 2, 30))
        );
        let midnight = schedule(Frequency::Daily, None);
        assert_eq!(
            next_run(&midnight, t(2025, 3, 10, 0, 0)),
            Some(t(2025, 3, 11, 0, 0))
        );
    }

    #[test]
    fn weekly_runs_on_mondays() {
        let s = schedule(Frequency::Weekly, Some((6, 0)));
        // 2025-03-10 is a Monday.
        assert_eq!(
            next_run(&s, t(2025, 3, 10, 5, 59)),
            Some(t(2025, 3, 10, 6, 0))
        );
        assert_eq!(
            next_run(&s, t(2025, 3, 10, 6, 0)),
            Some(t(2025, 3, 17, 6, 0))
        );
        assert_eq!(
            next_run(&s, t(2025, 3, 12, 12, 0)),
            Some(t(2025, 3, 17, 6, 0))
        );
        assert_eq!(
            next_run(&s, t(2025, 3, 16, 23, 59)),
            Some(t(2025, 3, 17, 6, 0))
        );
        // Across a year end: 2025-12-29 is a Monday.
        assert_eq!(
            next_run(&s, t(2025, 12, 24, 0, 0)),
            Some(t(2025, 12, 29, 6, 0))
        );
        assert_eq!(
            next_run(&s, t(2025, 12, 30, 0, 0)),
            Some(t(2026, 1, 5, 6, 0))
        );
    }

    #[test]
    fn monthly_runs_on_the_first_across_month_ends() {
        let s = schedule(Frequency::Monthly, Some((1, 0)));
        assert_eq!(
            next_run(&s, t(2025, 1, 31, 23, 59)),
            Some(t(2025, 2, 1, 1, 0))
        );
        assert_eq!(
            next_run(&s, t(2025, 2, 1, 0, 59)),
            Some(t(2025, 2, 1, 1, 0))
        );
        assert_eq!(next_run(&s, t(2025, 2, 1, 1, 0)), Some(t(2025, 3, 1, 1, 0)));
        assert_eq!(
            next_run(&s, t(2024, 2, 29, 12, 0)),
            Some(t(2024, 3, 1, 1, 0))
        );
        assert_eq!(
            next_run(&s, t(2025, 12, 31, 12, 0)),
            Some(t(2026, 1, 1, 1, 0))
        );
        let runs: Vec<_> = upcoming(&s, t(2025, 10, 15, 0, 0)).take(4).collect();
        assert_eq!(
            runs,
            vec![
                t(2025, 11, 1, 1, 0),
                t(2025, 12, 1, 1, 0),
                t(2026, 1, 1, 1, 0),
                t(2026, 2, 1, 1, 0)
            ]
        );
    }

    #[test]
    fn disabled_schedules_never_run_and_due_follows_the_last_run() {
        let mut s = schedule(Frequency::Daily, Some((2, 30)));
        let now = t(2025, 3, 10, 12, 0);
        assert!(is_due(&s, None, now));
        assert!(is_due(&s, Some(t(2025, 3, 9, 2, 30)), now));
        assert!(!is_due(&s, Some(t(2025, 3, 10, 2, 30)), now));
        s.enabled = false;
        assert_eq!(next_run(&s, now), None);
        assert!(!is_due(&s, None, now));
        assert_eq!(upcoming(&s, now).next(), None);
    }
}
