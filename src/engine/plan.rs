//! Proactive messages: what is scheduled for a person (`plan`) and what happens when a
//! scheduled moment arrives (`fire`).
//!
//! Planning is a pure function of the record and "now": the next reminder, check-in and
//! milestone strictly after now. Because it looks only forward, re-planning after any
//! change can never bring back a message already sent.
//!
//! Downtime rule: a job found late still goes out while it is useful — a reminder until
//! its session starts, a check-in or milestone within [`LATE_LIMIT`] — and is otherwise
//! dropped. Either way the next one is planned from the present.
//!
//! Texting limits (SMS only): a scheduled text also waits for the sending window, and
//! within the daily and weekly caps the more useful message wins; a check-in that loses
//! moves to the next day with room, anything else is dropped and noted in `held`.

use chrono::{DateTime, Duration, SubsecRound, Utc};

use super::care::close_open_checkin;
use super::state::{EscalationReason, Held, Job, JobKind, UserRecord};
use super::{Button, Change, Engine, Outcome, Reply, Route, Stored, plain};
use crate::content::Msg;
use crate::engine::buttons::Action;
use crate::engine::state::{Checkin, RsvpAnswer};
use crate::schedule::milestone::next_milestone;
use crate::schedule::recurrence::resolve_wall;
use crate::schedule::{Mark, TextingCaps, Verdict};
use crate::user::Channel;

/// How late a check-in or milestone may still go out after downtime.
pub const LATE_LIMIT: Duration = Duration::hours(24);

/// How many held-back texts a record remembers.
const HELD_KEPT: usize = 20;

impl Engine {
    /// Everything scheduled for `record` strictly after `now`, at most one job per kind.
    pub fn plan(&self, record: &UserRecord, now: DateTime<Utc>) -> Vec<Job> {
        let mut jobs = self.plan_exact(record, now);
        // Whole seconds: the due index keeps milliseconds, and people read minutes.
        for job in &mut jobs {
            job.at = job.at.trunc_subsecs(0);
            if job.at <= now {
                job.at += Duration::seconds(1);
            }
        }
        jobs
    }

    fn plan_exact(&self, record: &UserRecord, now: DateTime<Utc>) -> Vec<Job> {
        if record.paused || record.unreachable {
            return Vec::new();
        }
        let schedules = &self.settings.schedules;
        let tz = self.zone_of(record);
        let mut jobs = Vec::new();
        if record.discharged_on.is_none()
            && let Some(program) = self.program_of(record)
            && let Some(slot) = program.next_reminder(tz, &schedules.quiet, now)
        {
            jobs.push(Job {
                at: slot.at,
                kind: JobKind::Reminder {
                    session: slot.session,
                },
            });
        }
        if let Some(discharged) = record.discharged_on
            && let Some(at) = schedules.ladder.next_checkin(tz, discharged, now)
        {
            jobs.push(Job {
                at: schedules
                    .quiet
                    .defer(tz, at)
                    .max(now + Duration::seconds(1)),
                kind: JobKind::Checkin,
            });
        }
        if let Some(sober) = &record.sober {
            let mut after = now
                .with_timezone(&tz)
                .date_naive()
                .pred_opt()
                .unwrap_or_default();
            for _ in 0..3 {
                let Some((date, mark)) = next_milestone(sober.since, after) else {
                    break;
                };
                let at = schedules.quiet.defer(
                    tz,
                    resolve_wall(tz, date.and_time(schedules.milestone_time)),
                );
                if at > now {
                    jobs.push(Job {
                        at,
                        kind: JobKind::Milestone { date, mark },
                    });
                    break;
                }
                after = date;
            }
        }
        jobs
    }

    /// [`Engine::plan`], except that a job already due but not yet fired (the scheduler
    /// is a moment behind, or this very wake is firing several) keeps its place: a
    /// change to the record must never swallow a message that is due.
    pub fn replan(&self, previous: &[Job], record: &UserRecord, now: DateTime<Utc>) -> Vec<Job> {
        let mut jobs = self.plan(record, now);
        for job in jobs.iter_mut() {
            if let Some(pending) = previous
                .iter()
                .find(|p| p.at <= now && p.kind.tag() == job.kind.tag())
            {
                *job = pending.clone();
            }
        }
        jobs
    }

    /// The scheduled job with kind `tag` due at `due` arrives at `now`. A job the record no
    /// longer holds (re-planned, forgotten) does nothing.
    /// `cancelled`: sessions of the person's program staff cancelled (beyond the
    /// configuration's own list).
    pub fn fire(
        &self,
        stored: &Stored,
        channel: Channel,
        (tag, due): (u8, DateTime<Utc>),
        cancelled: &[DateTime<Utc>],
        now: DateTime<Utc>,
    ) -> Outcome {
        let Stored::Found(record) = stored else {
            return self.quiet_outcome(self.settings.default_locale, Change::Keep);
        };
        let locale = record.locale;
        let Some(job) = record
            .jobs
            .iter()
            // The due index keeps milliseconds.
            .find(|j| j.kind.tag() == tag && j.at.timestamp_millis() == due.timestamp_millis())
            .cloned()
        else {
            return self.quiet_outcome(locale, Change::Keep);
        };
        let mut next = record.clone();
        let others: Vec<Job> = record.jobs.iter().filter(|j| **j != job).cloned().collect();
        let tz = self.zone_of(record);
        let active = !record.paused && !record.unreachable;
        let texting = (channel == Channel::Sms).then_some(&self.settings.schedules.texting);
        if active && let Some(morning) = self.quiet_until(tz, now, texting) {
            // Found late (downtime, a backlog) in the person's night: not now. It moves to
            // the morning if it will still be useful then.
            let useful = match job.kind {
                JobKind::Reminder { session } => morning < session,
                _ => morning - due <= LATE_LIMIT,
            };
            return self.postpone(&others, next, &job, useful.then_some(morning), now);
        }
        let mut replies = if active {
            match job.kind {
                JobKind::Reminder { session } => self.remind(&mut next, session, cancelled, now),
                JobKind::Checkin if now - due <= LATE_LIMIT => self.send_checkin(&mut next, now),
                JobKind::Milestone { mark, .. } if now - due <= LATE_LIMIT => {
                    vec![self.congratulate(locale, mark)]
                }
                _ => Vec::new(),
            }
        } else {
            Vec::new()
        };
        if let (Some(caps), false) = (texting, replies.is_empty()) {
            let rivals: Vec<(DateTime<Utc>, u8)> =
                others.iter().map(|j| (j.at, j.kind.usefulness())).collect();
            let deferrable = job.kind == JobKind::Checkin;
            let rank = job.kind.usefulness();
            match caps.judge(tz, &record.texted, rank, &rivals, now, deferrable) {
                Verdict::Send => {
                    TextingCaps::prune(&mut next.texted, now);
                    next.texted.push(now);
                }
                Verdict::Defer(at) => {
                    return self.postpone(&others, record.clone(), &job, Some(at), now);
                }
                Verdict::Drop(reason) => {
                    let mut held = record.clone();
                    held.held.push(Held {
                        at: now,
                        what: job.kind.name().to_string(),
                        reason,
                    });
                    if held.held.len() > HELD_KEPT {
                        held.held.remove(0);
                    }
                    held.jobs = self.replan(&others, &held, now);
                    return self.scheduled(locale, Vec::new(), held);
                }
            }
        }
        self.number_choices(channel, locale, &mut replies);
        next.jobs = self.replan(&others, &next, now);
        self.scheduled(locale, replies, next)
    }

    /// The job waits until `until` (or is dropped, if `None`); nothing is sent now.
    fn postpone(
        &self,
        others: &[Job],
        mut record: UserRecord,
        job: &Job,
        until: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Outcome {
        let tag = job.kind.tag();
        record.jobs = self.replan(others, &record, now);
        record.jobs.retain(|j| j.kind.tag() != tag);
        if let Some(at) = until {
            record.jobs.push(Job {
                at,
                kind: job.kind.clone(),
            });
        }
        self.scheduled(record.locale, Vec::new(), record)
    }

    /// When the quiet hours around `now` end (and, for texts, the hours outside the
    /// texting window); `None` if `now` is in neither.
    fn quiet_until(
        &self,
        tz: chrono_tz::Tz,
        now: DateTime<Utc>,
        texting: Option<&TextingCaps>,
    ) -> Option<DateTime<Utc>> {
        let windows = [
            Some(self.settings.schedules.quiet),
            texting.map(|c| c.quiet()),
        ];
        let mut t = now;
        // The end of one window may fall in the other; two steps settle it.
        for _ in 0..windows.len() {
            match windows.iter().flatten().find(|q| q.contains(tz, t)) {
                Some(q) => t = q.end_after(tz, t),
                None => break,
            }
        }
        (t != now).then_some(t)
    }

    /// A scheduled moment's outcome: its messages and the saved record.
    fn scheduled(
        &self,
        locale: crate::locale::Locale,
        replies: Vec<Reply>,
        record: UserRecord,
    ) -> Outcome {
        Outcome {
            replies,
            change: Change::Save {
                record,
                durable: false,
            },
            route: Route::Scheduled,
            locale,
            faq_id: None,
        }
    }

    fn quiet_outcome(&self, locale: crate::locale::Locale, change: Change) -> Outcome {
        Outcome {
            replies: Vec::new(),
            change,
            route: Route::Scheduled,
            locale,
            faq_id: None,
        }
    }

    /// A reminder with RSVP buttons — or, for a cancelled session, the notice (once).
    fn remind(
        &self,
        record: &mut UserRecord,
        session: DateTime<Utc>,
        cancelled: &[DateTime<Utc>],
        now: DateTime<Utc>,
    ) -> Vec<Reply> {
        let locale = record.locale;
        let Some(program) = self.program_of(record) else {
            return Vec::new();
        };
        let Some(occurrence) = program.session_at(session) else {
            return Vec::new();
        };
        if session <= now {
            return Vec::new(); // too late to be useful
        }
        let tz = self.zone_of(record);
        let when = self.when_text(locale, session, now, tz);
        let mut time = self.time_text(locale, session, tz);
        if tz != program.timezone {
            time.push_str(&session.with_timezone(&tz).format(" %Z").to_string());
        }
        if program.is_cancelled(session) || cancelled.contains(&session) {
            if record.cancel_notices.contains(&session) {
                return Vec::new();
            }
            push_recent(&mut record.cancel_notices, session);
            return vec![self.cancellation_notice(locale, &program.name, session, now, tz)];
        }
        if record.cancel_notices.contains(&session) {
            return Vec::new(); // cancelled by staff; the person was told then
        }
        push_recent(&mut record.notified, session);
        let place = if occurrence.session.place.is_empty() {
            self.content.text(locale, Msg::PlaceUsual).to_string()
        } else {
            occurrence.session.place.clone()
        };
        let minutes = session.timestamp().div_euclid(60);
        let button = |msg, answer| Button {
            label: self.content.text(locale, msg).to_string(),
            data: Action::Rsvp {
                session: minutes,
                answer,
            }
            .encode(),
        };
        vec![Reply {
            text: self.content.render(
                locale,
                Msg::Reminder,
                &[
                    ("name", &program.name),
                    ("when", &when),
                    ("time", &time),
                    ("place", &place),
                ],
            ),
            buttons: vec![vec![
                button(Msg::BtnGoing, RsvpAnswer::Going),
                button(Msg::BtnLate, RsvpAnswer::Late),
                button(Msg::BtnAbsent, RsvpAnswer::Absent),
            ]],
            urgent: false,
        }]
    }

    fn cancellation_notice(
        &self,
        locale: crate::locale::Locale,
        name: &str,
        session: DateTime<Utc>,
        now: DateTime<Utc>,
        tz: chrono_tz::Tz,
    ) -> Reply {
        plain(self.content.render(
            locale,
            Msg::SessionCancelled,
            &[
                ("name", name),
                ("when", &self.when_text(locale, session, now, tz)),
                ("time", &self.time_text(locale, session, tz)),
            ],
        ))
    }

    /// Staff cancelled the session starting at `session`: tell this person now (once),
    /// and no reminder for it follows.
    pub fn cancel_session(
        &self,
        stored: &Stored,
        session: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Outcome {
        let Stored::Found(record) = stored else {
            return self.quiet_outcome(self.settings.default_locale, Change::Keep);
        };
        let Some(program) = self.program_of(record) else {
            return self.quiet_outcome(record.locale, Change::Keep);
        };
        if record.cancel_notices.contains(&session) || session <= now {
            return self.quiet_outcome(record.locale, Change::Keep);
        }
        let mut next = record.clone();
        push_recent(&mut next.cancel_notices, session);
        next.jobs = self.replan(&record.jobs, &next, now);
        let replies = if record.paused || record.unreachable || record.discharged_on.is_some() {
            Vec::new()
        } else {
            vec![self.cancellation_notice(
                record.locale,
                &program.name,
                session,
                now,
                self.zone_of(record),
            )]
        };
        self.scheduled(record.locale, replies, next)
    }

    /// A session was cancelled after this person was reminded of it: tell them now (once).
    /// Those not yet reminded hear at their reminder time instead.
    pub fn announce_cancellation(
        &self,
        stored: &Stored,
        session: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Outcome {
        let Stored::Found(record) = stored else {
            return self.quiet_outcome(self.settings.default_locale, Change::Keep);
        };
        let program = self.program_of(record);
        let due = program.is_some_and(|p| {
            session > now && p.session_at(session).is_some() && p.is_cancelled(session)
        }) && record.notified.contains(&session)
            && !record.cancel_notices.contains(&session)
            && !record.paused
            && !record.unreachable;
        let (Some(program), true) = (program, due) else {
            return self.quiet_outcome(record.locale, Change::Keep);
        };
        let mut next = record.clone();
        push_recent(&mut next.cancel_notices, session);
        next.jobs = self.replan(&record.jobs, &next, now);
        let reply = self.cancellation_notice(
            record.locale,
            &program.name,
            session,
            now,
            self.zone_of(record),
        );
        self.scheduled(record.locale, vec![reply], next)
    }

    /// Sends a scheduled check-in; an earlier one left wholly unanswered counts as missed,
    /// and two missed in a row are escalated.
    fn send_checkin(&self, record: &mut UserRecord, now: DateTime<Utc>) -> Vec<Reply> {
        if close_open_checkin(record) {
            record.missed_checkins += 1;
            if record.missed_checkins == 2 {
                record.escalate(
                    now,
                    EscalationReason::MissedCheckins {
                        count: record.missed_checkins,
                    },
                );
            }
        }
        record.open_checkin = Some(Checkin {
            started: now,
            mood: None,
            used: None,
            reach_out: None,
        });
        vec![self.checkin_question(record.locale)]
    }

    fn congratulate(&self, locale: crate::locale::Locale, mark: Mark) -> Reply {
        plain(match mark {
            Mark::Days(days) => {
                self.content
                    .render(locale, Msg::MilestoneDays, &[("days", &days.to_string())])
            }
            Mark::Years(years) => self.content.render(
                locale,
                Msg::MilestoneYears,
                &[("years", &years.to_string())],
            ),
        })
    }
}

/// How many recent sessions are remembered as reminded or told-cancelled.
const RECENT_SESSIONS: usize = 20;

/// Remembers a session, keeping only the most recent few.
fn push_recent(list: &mut Vec<DateTime<Utc>>, session: DateTime<Utc>) {
    if !list.contains(&session) {
        list.push(session);
        let excess = list.len().saturating_sub(RECENT_SESSIONS);
        list.drain(..excess);
    }
}
