//! Proactive messages: what is scheduled for a person (`plan`) and what happens when a
//! scheduled moment arrives (`fire`).
//!
//! A schedule is derived, never remembered. It follows from the record — program, role,
//! zone, day count — and from what is already handled, each occurrence recorded by its
//! identity (a session and lead time, a check-in's local wall time, a milestone's date),
//! never by the instant it went out. Planning at `now` finds, for each kind, the one
//! occurrence owed (its moment passed, it is not handled, it is still useful) or else the
//! next one. A restart, a late scheduler, downtime or a zone change re-derives the same
//! answer, so nothing handled comes back, nothing still useful is skipped, and an active
//! person always has a next message. The jobs (and the store's due index) only say when
//! to look again: firing one re-derives what is owed rather than trusting it.
//!
//! Owed after lateness or downtime: a reminder while its session has not started (the
//! latest of a session's missed reminders, once); the latest missed check-in, once; a
//! milestone on its own local day. Quiet hours hold: something found inside them waits
//! for the morning if it will still be useful then, and is passed over otherwise — except
//! that a message due outside them and reached less than [`LAG_GRACE`] late goes out.
//!
//! Texting limits (SMS only): a scheduled text also waits for the sending window (no
//! grace there), and within the daily and weekly caps the more useful message wins; a
//! check-in that loses moves to the next day with room, anything else is passed over and
//! noted in `held`.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, SubsecRound, Utc};
use chrono_tz::Tz;

use super::care::close_open_checkin;
use super::state::{EscalationReason, Held, Job, JobKind, Reminded, UserRecord};
use super::{Button, Change, Engine, Outcome, Reply, Route, Stored, plain};
use crate::content::Msg;
use crate::engine::buttons::Action;
use crate::engine::state::{Checkin, RsvpAnswer};
use crate::schedule::milestone::next_milestone;
use crate::schedule::recurrence::resolve_wall;
use crate::schedule::{Mark, TextingCaps, Verdict};
use crate::user::Channel;

/// How late a message due outside quiet hours may be reached and still go out although
/// quiet hours have begun: a scheduler a minute behind must not lose the reminder placed
/// at 20:59 because the morning would be too late.
pub const LAG_GRACE: Duration = Duration::minutes(15);

/// How many held-back texts a record remembers.
const HELD_KEPT: usize = 20;

/// The three kinds of job, by their due-index tag, in planning order.
const TAGS: [u8; 3] = [b'r', b'c', b'm'];

/// One occurrence of a kind: when it is (or was) due, the job that stands for it, and
/// how to record it as handled.
struct Occurrence {
    at: DateTime<Utc>,
    kind: JobKind,
    identity: Identity,
}

/// What identifies an occurrence in the record, whatever the zone or the clock.
#[derive(Clone, Copy)]
enum Identity {
    Reminder {
        session: DateTime<Utc>,
        lead: Duration,
    },
    /// The ladder check-in's local wall time.
    Checkin(NaiveDateTime),
    /// The milestone's date.
    Milestone(NaiveDate),
}

/// Where one kind stands at a moment.
enum Place {
    /// Its moment has passed and it is not handled: it should go now.
    Owed(Occurrence),
    /// Nothing owed; this is the next one, strictly later.
    Next(Occurrence),
}

impl Engine {
    /// Everything scheduled for `record` at `now`, at most one job per kind: an owed one
    /// at its due time (or, found in quiet hours, at their end), else the next one.
    pub fn plan(&self, record: &UserRecord, now: DateTime<Utc>) -> Vec<Job> {
        if record.paused || record.unreachable {
            return Vec::new();
        }
        let tz = self.zone_of(record);
        TAGS.iter()
            .filter_map(|&tag| {
                let (at, kind, owed) = match self.place(record, tag, tz, now)? {
                    Place::Owed(o) => {
                        let at = match self.wait_until(tz, o.at, now, None) {
                            Some(morning) if useful(&o.kind, o.at, tz, morning) => morning,
                            _ => o.at,
                        };
                        (at, o.kind, true)
                    }
                    Place::Next(o) => (o.at, o.kind, false),
                };
                // Whole seconds: the due index keeps milliseconds, and people read
                // minutes. What is next stays strictly after now.
                let mut at = at.trunc_subsecs(0);
                if !owed && at <= now {
                    at += Duration::seconds(1);
                }
                Some(Job { at, kind })
            })
            .collect()
    }

    /// [`Engine::plan`], except that a job already due but not yet fired (the scheduler
    /// is a moment behind, or this very wake is firing several) keeps its place: firing
    /// re-derives what is owed, so keeping it can only help — a record from before
    /// check-ins and milestones were recorded by identity plans only forward until its
    /// next one fires, and without this a change could swallow one that is due.
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

    /// Where the kind with `tag` stands for `record` at `now`.
    fn place(&self, record: &UserRecord, tag: u8, tz: Tz, now: DateTime<Utc>) -> Option<Place> {
        match tag {
            b'r' => self.reminder_place(record, tz, now),
            b'c' => self.checkin_place(record, tz, now),
            b'm' => self.milestone_place(record, tz, now),
            _ => None,
        }
    }

    /// Reminders: of every session still ahead, the latest reminder whose time has passed
    /// and that is not handled is owed, if it can still go before the session (the
    /// earliest such across sessions goes first); else the earliest reminder to come.
    fn reminder_place(&self, record: &UserRecord, tz: Tz, now: DateTime<Utc>) -> Option<Place> {
        if record.discharged_on.is_some() {
            return None;
        }
        let program = self.program_of(record)?;
        let quiet = &self.settings.schedules.quiet;
        // No reminder comes earlier than its lead plus the quiet hours it may be moved
        // back across: sessions after this cannot owe anything.
        let horizon = now + program.longest_lead()? + Duration::days(1);
        let mut owed: Option<crate::schedule::ReminderSlot> = None;
        let mut next: Option<crate::schedule::ReminderSlot> = None;
        for occurrence in program.sessions_after(now).take(64) {
            if occurrence.start > horizon && next.is_some() {
                break;
            }
            let handled = reminder_handled(record, occurrence.start);
            let open: Vec<_> = program
                .reminder_slots(tz, quiet, occurrence.start)
                .into_iter()
                .filter(|slot| handled.is_none_or(|h| slot.lead < h))
                .collect();
            // A reminder found in quiet hours that cannot wait for the morning is not
            // owed (in another zone it may be).
            if let Some(slot) = open.iter().rev().find(|s| s.at <= now)
                && self
                    .wait_until(tz, slot.at, now, None)
                    .is_none_or(|morning| morning < slot.session)
                && owed.is_none_or(|o| slot.at < o.at)
            {
                owed = Some(*slot);
            }
            if let Some(slot) = open.iter().find(|s| s.at > now)
                && next.is_none_or(|n| slot.at < n.at)
            {
                next = Some(*slot);
            }
        }
        let occurrence = |slot: crate::schedule::ReminderSlot| Occurrence {
            at: slot.at,
            kind: JobKind::Reminder {
                session: slot.session,
            },
            identity: Identity::Reminder {
                session: slot.session,
                lead: slot.lead,
            },
        };
        match (owed, next) {
            (Some(slot), _) => Some(Place::Owed(occurrence(slot))),
            (None, Some(slot)) => Some(Place::Next(occurrence(slot))),
            (None, None) => None,
        }
    }

    /// Check-ins: the latest ladder check-in after the one last handled is owed once its
    /// moment has passed; else the next one.
    fn checkin_place(&self, record: &UserRecord, tz: Tz, now: DateTime<Utc>) -> Option<Place> {
        let discharged = record.discharged_on?;
        let schedules = &self.settings.schedules;
        let wall = |t: DateTime<Utc>| t.with_timezone(&tz).naive_local();
        let through = record.checkins_through;
        if let Some(through) = through
            && let Some(last) = schedules.ladder.last_checkin(tz, discharged, now)
            && wall(last) > through
        {
            return Some(Place::Owed(Occurrence {
                at: last,
                kind: JobKind::Checkin,
                identity: Identity::Checkin(wall(last)),
            }));
        }
        // After a move west, the one last handled can come round again on the new
        // zone's clock: start after it.
        let after = through.map_or(now, |t| now.max(resolve_wall(tz, t)));
        let at = schedules.ladder.next_checkin(tz, discharged, after)?;
        Some(Place::Next(Occurrence {
            at: schedules.quiet.defer(tz, at),
            kind: JobKind::Checkin,
            identity: Identity::Checkin(wall(at)),
        }))
    }

    /// Milestones: today's, once its time has passed, if it is not handled and can still
    /// go today; else the next.
    fn milestone_place(&self, record: &UserRecord, tz: Tz, now: DateTime<Utc>) -> Option<Place> {
        let sober = record.sober.as_ref()?;
        let schedules = &self.settings.schedules;
        let today = now.with_timezone(&tz).date_naive();
        let mut after = today.pred_opt().unwrap_or(today);
        if let Some(done) = record.milestones_through {
            after = after.max(done);
        }
        // At most one milestone a day, and only today's can be owed: two looks settle it.
        for _ in 0..2 {
            let (date, mark) = next_milestone(sober.since, after)?;
            let at = schedules.quiet.defer(
                tz,
                resolve_wall(tz, date.and_time(schedules.milestone_time)),
            );
            let occurrence = Occurrence {
                at,
                kind: JobKind::Milestone { date, mark },
                identity: Identity::Milestone(date),
            };
            if at > now {
                return Some(Place::Next(occurrence));
            }
            let deliverable = self
                .wait_until(tz, at, now, None)
                .is_none_or(|morning| useful(&occurrence.kind, at, tz, morning));
            if record.milestones_through.is_some()
                && at.with_timezone(&tz).date_naive() == today
                && deliverable
            {
                return Some(Place::Owed(occurrence));
            }
            after = date;
        }
        None
    }

    /// Marks as handled the reminders owed at `now` without sending them: someone who
    /// just chose a program is not owed the reminders that came before.
    pub(super) fn pass_over_owed_reminders(&self, record: &mut UserRecord, now: DateTime<Utc>) {
        let tz = self.zone_of(record);
        for _ in 0..64 {
            match self.reminder_place(record, tz, now) {
                Some(Place::Owed(o)) => handle(record, o.identity),
                _ => break,
            }
        }
    }

    /// For a day count set at `now`: the date through which its milestones are already
    /// past — today, if today's time has come, else yesterday.
    pub(super) fn milestones_start(
        &self,
        record: &UserRecord,
        now: DateTime<Utc>,
    ) -> Option<NaiveDate> {
        let sober = record.sober.as_ref()?;
        let tz = self.zone_of(record);
        let schedules = &self.settings.schedules;
        let today = now.with_timezone(&tz).date_naive();
        let yesterday = today.pred_opt().unwrap_or(today);
        let reached_today = next_milestone(sober.since, yesterday).is_some_and(|(date, _)| {
            let wall = resolve_wall(tz, date.and_time(schedules.milestone_time));
            date == today && schedules.quiet.defer(tz, wall) <= now
        });
        Some(if reached_today { today } else { yesterday })
    }

    /// The scheduled job with kind `tag` due at `due` arrives at `now`: what is owed of
    /// that kind is derived again and sent (or waits, or is passed over), and that kind's
    /// next job is planned; the other kinds' jobs stay as they are. A job the record no
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
        let tz = self.zone_of(record);
        let mut base = record.clone();
        let legacy = adopt_legacy(&mut base, &job, tz, now);
        let active = !record.paused && !record.unreachable;
        let derived = || match self.place(&base, tag, tz, now) {
            Some(Place::Owed(o)) => Some(o),
            _ => None,
        };
        let owed = match legacy.or_else(derived) {
            Some(o) if active => o,
            // Nothing of this kind is owed now (handled already, no longer useful, or
            // the person is paused): plan on.
            _ => return self.replanned(base, tag, Vec::new(), now),
        };
        let texting = (channel == Channel::Sms).then_some(&self.settings.schedules.texting);
        if let Some(morning) = self.wait_until(tz, owed.at, now, texting) {
            // Found in the person's night (or outside the texting window): not now.
            if useful(&owed.kind, owed.at, tz, morning) {
                return self.postpone(base, owed.kind, morning);
            }
            handle(&mut base, owed.identity);
            return self.replanned(base, tag, Vec::new(), now);
        }
        let mut next = base.clone();
        let mut replies = match owed.kind {
            JobKind::Reminder { session } => self.remind(&mut next, session, cancelled, now),
            JobKind::Checkin => self.send_checkin(&mut next, now),
            JobKind::Milestone { mark, .. } => vec![self.congratulate(locale, mark)],
        };
        if let (Some(caps), false) = (texting, replies.is_empty()) {
            let rivals: Vec<(DateTime<Utc>, u8)> = record
                .jobs
                .iter()
                .filter(|j| j.kind.tag() != tag)
                .map(|j| (j.at, j.kind.usefulness()))
                .collect();
            let deferrable = owed.kind == JobKind::Checkin;
            let rank = owed.kind.usefulness();
            match caps.judge(tz, &record.texted, rank, &rivals, now, deferrable) {
                Verdict::Send => {
                    TextingCaps::prune(&mut next.texted, now);
                    next.texted.push(now);
                }
                Verdict::Defer(at) => return self.postpone(base, owed.kind, at),
                Verdict::Drop(reason) => {
                    base.held.push(Held {
                        at: now,
                        what: owed.kind.name().to_string(),
                        reason,
                    });
                    if base.held.len() > HELD_KEPT {
                        base.held.remove(0);
                    }
                    handle(&mut base, owed.identity);
                    return self.replanned(base, tag, Vec::new(), now);
                }
            }
        }
        handle(&mut next, owed.identity);
        self.number_choices(channel, locale, &mut replies);
        self.replanned(next, tag, replies, now)
    }

    /// The record with the job of kind `tag` planned afresh (the others kept), and the
    /// messages to send.
    fn replanned(
        &self,
        mut record: UserRecord,
        tag: u8,
        replies: Vec<Reply>,
        now: DateTime<Utc>,
    ) -> Outcome {
        let fresh = self.plan(&record, now);
        if fresh.is_empty() {
            record.jobs.clear(); // paused or unreachable
        } else {
            record.jobs.retain(|j| j.kind.tag() != tag);
            record
                .jobs
                .extend(fresh.into_iter().filter(|j| j.kind.tag() == tag));
        }
        self.scheduled(record.locale, replies, record)
    }

    /// The owed `kind` waits until `until`; nothing is sent now.
    fn postpone(&self, mut record: UserRecord, kind: JobKind, until: DateTime<Utc>) -> Outcome {
        let tag = kind.tag();
        record.jobs.retain(|j| j.kind.tag() != tag);
        record.jobs.push(Job {
            at: until.trunc_subsecs(0),
            kind,
        });
        self.scheduled(record.locale, Vec::new(), record)
    }

    /// When the person may next get a message due at `due`, if not at `now`: the end of
    /// the quiet hours around `now` (and, for texts, of the hours outside the texting
    /// window); `None` if `now` is in neither. A message due outside quiet hours and
    /// reached less than [`LAG_GRACE`] late is not held back by them.
    fn wait_until(
        &self,
        tz: Tz,
        due: DateTime<Utc>,
        now: DateTime<Utc>,
        texting: Option<&TextingCaps>,
    ) -> Option<DateTime<Utc>> {
        let quiet = self.settings.schedules.quiet;
        let graced = now - due <= LAG_GRACE && !quiet.contains(tz, due);
        let mut t = now;
        // The end of one window may fall in the other; two steps settle it.
        for step in 0..2 {
            let windows = [
                (step > 0 || !graced).then_some(quiet),
                texting.map(|c| c.quiet()),
            ];
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
        let time = self.session_time_text(locale, session, tz, program);
        if program.is_cancelled(session) || cancelled.contains(&session) {
            if record.cancel_notices.contains(&session) {
                return Vec::new();
            }
            push_recent(&mut record.cancel_notices, session);
            return vec![self.cancellation_notice(locale, program, session, now, tz)];
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
        program: &crate::schedule::Program,
        session: DateTime<Utc>,
        now: DateTime<Utc>,
        tz: chrono_tz::Tz,
    ) -> Reply {
        plain(self.content.render(
            locale,
            Msg::SessionCancelled,
            &[
                ("name", &program.name),
                ("when", &self.when_text(locale, session, now, tz)),
                (
                    "time",
                    &self.session_time_text(locale, session, tz, program),
                ),
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
                program,
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
        let reply =
            self.cancellation_notice(record.locale, program, session, now, self.zone_of(record));
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

/// Whether an owed message due at `due` is still worth sending at `at`: a reminder
/// before its session, a milestone on its own day ("today marks day 7"), a check-in
/// always.
fn useful(kind: &JobKind, due: DateTime<Utc>, tz: Tz, at: DateTime<Utc>) -> bool {
    match kind {
        JobKind::Reminder { session } => at < *session,
        JobKind::Checkin => true,
        JobKind::Milestone { .. } => {
            at.with_timezone(&tz).date_naive() == due.with_timezone(&tz).date_naive()
        }
    }
}

/// Records an occurrence as handled (sent, or passed over): it is never owed again.
fn handle(record: &mut UserRecord, identity: Identity) {
    match identity {
        Identity::Reminder { session, lead } => {
            let lead_minutes = lead.num_minutes();
            match record.reminded.iter_mut().find(|r| r.session == session) {
                Some(r) => r.lead_minutes = r.lead_minutes.min(lead_minutes),
                None => {
                    record.reminded.push(Reminded {
                        session,
                        lead_minutes,
                    });
                    let excess = record.reminded.len().saturating_sub(RECENT_SESSIONS);
                    record.reminded.drain(..excess);
                }
            }
        }
        Identity::Checkin(wall) => {
            record.checkins_through = Some(record.checkins_through.map_or(wall, |t| t.max(wall)));
        }
        Identity::Milestone(date) => {
            record.milestones_through =
                Some(record.milestones_through.map_or(date, |d| d.max(date)));
        }
    }
}

/// The shortest lead time of `session`'s reminders already handled, if any. A session
/// only in `notified` was reminded before leads were recorded: all of it is handled.
fn reminder_handled(record: &UserRecord, session: DateTime<Utc>) -> Option<Duration> {
    record
        .reminded
        .iter()
        .find(|r| r.session == session)
        // A stored value out of range covers everything rather than panicking.
        .map(|r| Duration::try_minutes(r.lead_minutes).unwrap_or_else(Duration::zero))
        .or_else(|| {
            record
                .notified
                .contains(&session)
                .then_some(Duration::zero())
        })
}

/// A record from before check-ins and milestones were recorded by identity: the job
/// being fired says what was handled before it. A check-in job is then the check-in
/// itself, owed as it always was, and everything up to now counts as handled after it.
fn adopt_legacy(
    record: &mut UserRecord,
    job: &Job,
    tz: Tz,
    now: DateTime<Utc>,
) -> Option<Occurrence> {
    match job.kind {
        JobKind::Checkin if record.checkins_through.is_none() && record.discharged_on.is_some() => {
            Some(Occurrence {
                at: job.at,
                kind: JobKind::Checkin,
                identity: Identity::Checkin(now.with_timezone(&tz).naive_local()),
            })
        }
        JobKind::Milestone { date, .. } if record.milestones_through.is_none() => {
            record.milestones_through = date.pred_opt();
            None
        }
        _ => None,
    }
}
