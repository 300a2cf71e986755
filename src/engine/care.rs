//! The participant and alumnus side of the conversation: choosing a program, answering
//! reminders, check-ins, discharge (terminal only, until staff tools exist) and the day
//! count. Texts come from `messages/`; answers are stored as button values only.

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use chrono_tz::Tz;

use super::buttons::Action;
use super::state::Dialogue;
use super::state::{
    Checkin, EscalationReason, Rsvp, RsvpAnswer, Sobriety, Streak, UseAnswer, UserRecord,
    push_bounded,
};
use super::{Button, Change, Engine, Outcome, Reply, Route, Turn, plain};
use crate::content::Msg;
use crate::enroll::{InviteStatus, Role};
use crate::locale::Locale;
use crate::schedule::milestone::days_since;
use crate::user::Channel;

impl Engine {
    /// The zone a person's own times are shown and scheduled in: theirs, else their
    /// program's, else the clinic's.
    pub(super) fn zone_of(&self, record: &UserRecord) -> Tz {
        record
            .timezone
            .as_deref()
            .and_then(|name| name.parse().ok())
            .or_else(|| self.program_of(record).map(|p| p.timezone))
            .unwrap_or(self.settings.default_timezone)
    }

    /// The program a person is in, if the configuration still has it.
    pub(super) fn program_of(&self, record: &UserRecord) -> Option<&crate::schedule::Program> {
        self.settings.schedules.program(record.program.as_deref()?)
    }

    /// "6:00 PM" on the person's clock (`tz`).
    pub(super) fn time_text(&self, locale: Locale, at: DateTime<Utc>, tz: Tz) -> String {
        let format = self.content.text(locale, Msg::TimeFormat);
        at.with_timezone(&tz).format(format).to_string()
    }

    /// A session's time on the person's clock, with their zone's abbreviation ("1:00 PM
    /// HST") when the program keeps another zone's time, so it cannot be misread as the
    /// clinic's. The same in the confirmation, reminders and notices.
    pub(super) fn session_time_text(
        &self,
        locale: Locale,
        session: DateTime<Utc>,
        tz: Tz,
        program: &crate::schedule::Program,
    ) -> String {
        let mut time = self.time_text(locale, session, tz);
        if tz != program.timezone {
            time.push_str(&session.with_timezone(&tz).format(" %Z").to_string());
        }
        time
    }

    pub(super) fn date_text(&self, locale: Locale, date: NaiveDate) -> String {
        date.format(self.content.text(locale, Msg::DateFormat))
            .to_string()
    }

    /// "tonight", "tomorrow", "on Thursday 2026-12-03": when `at` is, seen from `now`.
    pub(super) fn when_text(
        &self,
        locale: Locale,
        at: DateTime<Utc>,
        now: DateTime<Utc>,
        tz: Tz,
    ) -> String {
        let (day, today) = (at.with_timezone(&tz), now.with_timezone(&tz).date_naive());
        let text = |msg| self.content.text(locale, msg).to_string();
        if day.date_naive() == today {
            text(if day.hour() >= 17 {
                Msg::WhenTonight
            } else {
                Msg::WhenToday
            })
        } else if today.succ_opt() == Some(day.date_naive()) {
            text(Msg::WhenTomorrow)
        } else {
            let names: Vec<&str> = self
                .content
                .text(locale, Msg::Weekdays)
                .split(',')
                .collect();
            let index = day.weekday().num_days_from_monday() as usize;
            let weekday = names.get(index).copied().unwrap_or("").trim();
            self.content.render(
                locale,
                Msg::WhenWeekday,
                &[
                    ("weekday", weekday),
                    ("date", &self.date_text(locale, day.date_naive())),
                ],
            )
        }
    }

    pub(super) fn choose_program(&self, turn: &Turn, record: &UserRecord) -> Outcome {
        let locale = turn.locale;
        let programs = &self.settings.schedules.programs;
        let reply = if record.discharged_on.is_some() {
            self.say(locale, Msg::ProgramAlumnus)
        } else if programs.is_empty() {
            self.say(locale, Msg::ProgramNone)
        } else {
            Reply {
                text: self.content.text(locale, Msg::ProgramAsk).to_string(),
                buttons: programs
                    .iter()
                    .map(|p| {
                        vec![Button {
                            label: p.name.clone(),
                            data: Action::Program(p.id.clone()).encode(),
                        }]
                    })
                    .collect(),
                urgent: false,
            }
        };
        self.outcome(turn, vec![reply], Change::Keep, Route::Command)
    }

    /// "What time is my group tonight?": the person's next session, in their zone.
    pub(super) fn next_session(&self, turn: &Turn, locale: Locale) -> Outcome {
        let now = turn.inbound.at;
        let next = turn
            .record()
            .filter(|r| r.discharged_on.is_none())
            .and_then(|r| Some((r, self.program_of(r)?)))
            .and_then(|(r, p)| Some((self.zone_of(r), p, upcoming(p, now)?)));
        let reply = match next {
            Some((tz, program, start)) => plain(self.content.render(
                locale,
                Msg::NextSession,
                &[
                    ("name", &program.name),
                    ("when", &self.when_text(locale, start, now, tz)),
                    ("time", &self.time_text(locale, start, tz)),
                ],
            )),
            None => self.say(locale, Msg::NextSessionNone),
        };
        self.outcome_in(locale, vec![reply], Change::Keep, Route::Other)
    }

    /// "Can't make it to group tonight", "running late": the RSVP for the person's next
    /// session, when it starts within a day; `None` otherwise (then it is an ordinary
    /// message).
    pub(super) fn rsvp_in_words(
        &self,
        turn: &Turn,
        answer: crate::safety::Attendance,
    ) -> Option<Outcome> {
        let record = turn.record()?;
        let now = turn.inbound.at;
        let start = upcoming(self.program_of(record)?, now)?;
        if start - now > chrono::Duration::hours(24) || record.discharged_on.is_some() {
            return None;
        }
        let answer = match answer {
            crate::safety::Attendance::Going => RsvpAnswer::Going,
            crate::safety::Attendance::Late => RsvpAnswer::Late,
            crate::safety::Attendance::Absent => RsvpAnswer::Absent,
        };
        let mut outcome = self.rsvp(turn, record, start.timestamp() / 60, answer);
        outcome.route = Route::Other;
        Some(outcome)
    }

    pub(super) fn set_program(&self, turn: &Turn, record: &UserRecord, id: &str) -> Outcome {
        let locale = turn.locale;
        let Some(program) = self.settings.schedules.program(id) else {
            return self.expired(turn);
        };
        if record.discharged_on.is_some() {
            let reply = self.say(locale, Msg::ProgramAlumnus);
            return self.outcome(turn, vec![reply], Change::Keep, Route::Button);
        }
        let mut next = record.clone();
        next.program = Some(program.id.clone());
        let tz = self.zone_of(&next);
        let now = turn.inbound.at;
        let text = match upcoming(program, now) {
            Some(start) => self.content.render(
                locale,
                Msg::ProgramSet,
                &[
                    ("name", &program.name),
                    ("when", &self.when_text(locale, start, now, tz)),
                    ("time", &self.session_time_text(locale, start, tz, program)),
                ],
            ),
            None => self
                .content
                .render(locale, Msg::ProgramSetNoNext, &[("name", &program.name)]),
        };
        // Reminders whose time came before joining are not owed.
        self.pass_over_owed_reminders(&mut next, now);
        self.saved(turn, next, vec![plain(text)], Route::Button)
    }

    pub(super) fn rsvp(
        &self,
        turn: &Turn,
        record: &UserRecord,
        session: i64,
        answer: RsvpAnswer,
    ) -> Outcome {
        let locale = turn.locale;
        let now = turn.inbound.at;
        let start = DateTime::from_timestamp(session.saturating_mul(60), 0);
        let program = self.program_of(record);
        let open = match (start, program) {
            (Some(start), Some(p)) => {
                start > now
                    && p.session_at(start).is_some()
                    && !p.is_cancelled(start)
                    && !record.cancel_notices.contains(&start)
            }
            _ => false,
        };
        let (Some(start), true) = (start, open) else {
            let reply = self.say(locale, Msg::RsvpClosed);
            return self.outcome(turn, vec![reply], Change::Keep, Route::Button);
        };
        let mut next = record.clone();
        next.rsvps.retain(|r| r.session != start);
        push_bounded(
            &mut next.rsvps,
            Rsvp {
                session: start,
                answer,
                at: now,
            },
        );
        let reply = match answer {
            RsvpAnswer::Going => self.say(locale, Msg::RsvpGoing),
            RsvpAnswer::Late => self.say(locale, Msg::RsvpLate),
            RsvpAnswer::Absent if next.has_care_team() => {
                next.escalate(now, EscalationReason::Absent { session: start });
                plain(self.content.render(
                    locale,
                    Msg::RsvpAbsent,
                    &[("lifeline", &self.settings.resources.lifeline)],
                ))
            }
            RsvpAnswer::Absent => plain(self.content.render(
                locale,
                Msg::RsvpAbsentPrivate,
                &[
                    ("lifeline", &self.settings.resources.lifeline),
                    ("clinic", &self.clinic_call(locale)),
                ],
            )),
        };
        self.saved(turn, next, vec![reply], Route::Button)
    }

    /// The first check-in question, opening a new check-in (an unanswered earlier one is
    /// closed as missed by the caller when the scheduler sends it).
    pub(super) fn checkin_question(&self, locale: Locale) -> Reply {
        let row = (1..=5)
            .map(|score| Button {
                label: score.to_string(),
                data: Action::Mood(score).encode(),
            })
            .collect();
        Reply {
            text: self.content.text(locale, Msg::CheckinMood).to_string(),
            buttons: vec![row],
            urgent: false,
        }
    }

    pub(super) fn start_checkin(&self, turn: &Turn, record: &UserRecord) -> Outcome {
        let mut next = record.clone();
        close_open_checkin(&mut next);
        next.open_checkin = Some(Checkin {
            started: turn.inbound.at,
            mood: None,
            used: None,
            reach_out: None,
        });
        let reply = self.checkin_question(turn.locale);
        self.saved(turn, next, vec![reply], Route::Command)
    }

    /// One check-in answer: store it, escalate a worrying one at once (so nothing is lost
    /// if the rest goes unanswered), ask the next question or close.
    pub(super) fn checkin_answer(
        &self,
        turn: &Turn,
        record: &UserRecord,
        action: Action,
    ) -> Outcome {
        let locale = turn.locale;
        let now = turn.inbound.at;
        let Some(mut open) = record.open_checkin.clone() else {
            let reply = self.say(locale, Msg::CheckinClosed);
            return self.outcome(turn, vec![reply], Change::Keep, Route::Button);
        };
        let mut next = record.clone();
        next.missed_checkins = 0;
        let yes_no_row = |yes: Action, no: Action| {
            vec![vec![
                Button {
                    label: self.content.text(locale, Msg::BtnYes).to_string(),
                    data: yes.encode(),
                },
                Button {
                    label: self.content.text(locale, Msg::BtnNo).to_string(),
                    data: no.encode(),
                },
            ]]
        };
        let reply = match action {
            Action::Mood(score) => {
                if score <= 2 && open.mood.is_none_or(|m| m > 2) {
                    next.escalate(now, EscalationReason::LowMood { score });
                }
                open.mood = Some(score);
                let mut buttons =
                    yes_no_row(Action::Used(UseAnswer::Yes), Action::Used(UseAnswer::No));
                buttons.push(vec![Button {
                    label: self.content.text(locale, Msg::BtnPreferNot).to_string(),
                    data: Action::Used(UseAnswer::Undisclosed).encode(),
                }]);
                Reply {
                    text: self.content.text(locale, Msg::CheckinUse).to_string(),
                    buttons,
                    urgent: false,
                }
            }
            Action::Used(answer) => {
                if answer == UseAnswer::Yes && open.used != Some(UseAnswer::Yes) {
                    next.escalate(now, EscalationReason::Use);
                }
                open.used = Some(answer);
                if !next.has_care_team() {
                    // No one at a clinic would see a request to reach out: not asked.
                    return self.close_checkin(turn, next, open);
                }
                Reply {
                    text: self.content.text(locale, Msg::CheckinReach).to_string(),
                    buttons: yes_no_row(Action::ReachOut(true), Action::ReachOut(false)),
                    urgent: false,
                }
            }
            Action::ReachOut(want) if next.has_care_team() => {
                if want && open.reach_out != Some(true) {
                    next.escalate(now, EscalationReason::ReachOut);
                }
                open.reach_out = Some(want);
                return self.close_checkin(turn, next, open);
            }
            _ => return self.expired(turn),
        };
        next.open_checkin = Some(open);
        self.saved(turn, next, vec![reply], Route::Button)
    }

    /// Keeps a finished check-in and thanks the person; a worrying one gets the lines to
    /// call now and, as the case is, the promise that staff will follow up or the honest
    /// word that no one at a clinic sees it.
    fn close_checkin(&self, turn: &Turn, mut next: UserRecord, done: Checkin) -> Outcome {
        let locale = turn.locale;
        let worrying = done.reach_out == Some(true)
            || done.used == Some(UseAnswer::Yes)
            || done.mood.is_some_and(|m| m <= 2);
        push_bounded(&mut next.checkins, done);
        next.open_checkin = None;
        let r = &self.settings.resources;
        let reply = match (worrying, next.has_care_team()) {
            (false, _) => self.say(locale, Msg::CheckinThanks),
            (true, true) => plain(self.content.render(
                locale,
                Msg::CheckinConcern,
                &[("lifeline", &r.lifeline), ("helpline", &r.helpline)],
            )),
            (true, false) => plain(self.content.render(
                locale,
                Msg::CheckinConcernPrivate,
                &[
                    ("lifeline", &r.lifeline),
                    ("helpline", &r.helpline),
                    ("clinic", &self.clinic_call(locale)),
                ],
            )),
        };
        self.saved(turn, next, vec![reply], Route::Button)
    }

    /// "call your clinic at …", or what to do when the clinic's line is not configured.
    fn clinic_call(&self, locale: Locale) -> String {
        match &self.settings.resources.clinic_line {
            Some(line) => self
                .content
                .render(locale, Msg::ClinicCall, &[("clinic_line", line)]),
            None => self
                .content
                .text(locale, Msg::ClinicCallUnknown)
                .to_string(),
        }
    }

    /// `/_discharge YYYY-MM-DD`: the terminal's stand-in for the staff `/discharge`.
    pub(super) fn discharge(&self, turn: &Turn, record: &UserRecord, args: &str) -> Outcome {
        let locale = turn.locale;
        if turn.inbound.user.channel != Channel::Terminal {
            return self.outcome(
                turn,
                vec![self.say(locale, Msg::UnknownCommand)],
                Change::Keep,
                Route::Command,
            );
        }
        let Ok(date) = NaiveDate::parse_from_str(args.trim(), "%Y-%m-%d") else {
            let reply = self.say(locale, Msg::DischargeUsage);
            return self.outcome(turn, vec![reply], Change::Keep, Route::Command);
        };
        if date
            > turn
                .inbound
                .at
                .with_timezone(&self.zone_of(record))
                .date_naive()
        {
            let reply = plain(self.content.render(
                locale,
                Msg::DischargeFuture,
                &[("date", &date.to_string())],
            ));
            return self.outcome(turn, vec![reply], Change::Keep, Route::Command);
        }
        let (next, reply) = self.discharged(record, date, turn.inbound.at);
        self.saved(turn, next, vec![reply], Route::Command)
    }

    /// The record after discharge on `date` (the check-in ladder starts), and the message
    /// that tells the person when the first check-in comes. For the terminal's
    /// `/_discharge` and the staff's `/discharge`.
    pub fn discharged(
        &self,
        record: &UserRecord,
        date: NaiveDate,
        now: DateTime<Utc>,
    ) -> (UserRecord, Reply) {
        let locale = record.locale;
        let mut next = record.clone();
        next.discharged_on = Some(date);
        let tz = self.zone_of(&next);
        start_checkins(&mut next, tz, now);
        let first = self
            .settings
            .schedules
            .ladder
            .next_checkin(tz, date, now)
            .map(|at| self.settings.schedules.quiet.defer(tz, at));
        let when = first
            .map(|at| {
                format!(
                    "{} {}",
                    self.when_text(locale, at, now, tz),
                    self.time_text(locale, at, tz)
                )
            })
            .unwrap_or_default();
        let text = self.content.render(
            locale,
            Msg::DischargeDone,
            &[("date", &self.date_text(locale, date)), ("when", &when)],
        );
        next.jobs = self.replan(&record.jobs, &next, now);
        (next, plain(text))
    }

    /// `/sober DATE`, `/sober off`, `/sober`.
    pub(super) fn sober(&self, turn: &Turn, record: &UserRecord, args: &str) -> Outcome {
        let locale = turn.locale;
        let args = args.trim();
        let keep = |msg| {
            self.outcome(
                turn,
                vec![self.say(locale, msg)],
                Change::Keep,
                Route::Command,
            )
        };
        if args.eq_ignore_ascii_case("off") {
            let mut next = record.clone();
            next.sober = None;
            next.milestones_through = None;
            return self.saved(
                turn,
                next,
                vec![self.say(locale, Msg::SoberOff)],
                Route::Command,
            );
        }
        let Ok(date) = NaiveDate::parse_from_str(args, "%Y-%m-%d") else {
            return keep(Msg::SoberUsage);
        };
        let today = turn
            .inbound
            .at
            .with_timezone(&self.zone_of(record))
            .date_naive();
        if date > today || date.year() < 1900 {
            return keep(Msg::SoberFuture);
        }
        let mut next = record.clone();
        let days = days_since(date, today).to_string();
        let date_text = self.date_text(locale, date);
        let reply = match &record.sober {
            Some(current) if current.since < date => {
                let earlier_days = days_since(current.since, date).to_string();
                let mut earlier = current.earlier.clone();
                push_bounded(
                    &mut earlier,
                    Streak {
                        since: current.since,
                        until: date,
                    },
                );
                next.sober = Some(Sobriety {
                    since: date,
                    earlier,
                });
                self.content.render(
                    locale,
                    Msg::SoberRestart,
                    &[("date", &date_text), ("earlier_days", &earlier_days)],
                )
            }
            _ => {
                let earlier = record
                    .sober
                    .as_ref()
                    .map(|s| s.earlier.clone())
                    .unwrap_or_default();
                next.sober = Some(Sobriety {
                    since: date,
                    earlier,
                });
                self.content.render(
                    locale,
                    Msg::SoberSet,
                    &[("date", &date_text), ("days", &days)],
                )
            }
        };
        // Milestones already past (today's too, once its time has come) are not owed; the
        // same date again keeps what was congratulated.
        let kept = record
            .sober
            .as_ref()
            .filter(|s| s.since == date)
            .and(record.milestones_through);
        next.milestones_through = self.milestones_start(&next, turn.inbound.at).max(kept);
        self.saved(turn, next, vec![plain(reply)], Route::Command)
    }

    pub(super) fn days(&self, turn: &Turn, record: &UserRecord) -> Outcome {
        let locale = turn.locale;
        let reply = match &record.sober {
            None => self.say(locale, Msg::DaysNone),
            Some(sober) => {
                let today = turn
                    .inbound
                    .at
                    .with_timezone(&self.zone_of(record))
                    .date_naive();
                let mut text = self.content.render(
                    locale,
                    Msg::DaysCount,
                    &[
                        ("days", &days_since(sober.since, today).to_string()),
                        ("date", &self.date_text(locale, sober.since)),
                    ],
                );
                if !sober.earlier.is_empty() {
                    text.push('\n');
                    text.push_str(&self.content.render(
                        locale,
                        Msg::DaysEarlier,
                        &[("count", &sober.earlier.len().to_string())],
                    ));
                }
                plain(text)
            }
        };
        self.outcome(turn, vec![reply], Change::Keep, Route::Command)
    }

    /// Enrolls `record` in a program with a role, as an invite says; returns the
    /// program's name, or `None` if the configuration no longer has that program.
    pub(super) fn enroll(
        &self,
        record: &mut UserRecord,
        program: &str,
        role: Role,
        at: DateTime<Utc>,
    ) -> Option<String> {
        let program = self.settings.schedules.program(program)?;
        record.program = Some(program.id.clone());
        // Enrolled through the clinic: there is a care team to alert.
        record.care_team_consent = true;
        let tz = self.zone_of(record);
        match role {
            Role::Participant => {
                record.discharged_on = None;
                self.pass_over_owed_reminders(record, at);
            }
            Role::Alumnus => {
                record.discharged_on = Some(at.with_timezone(&tz).date_naive());
                start_checkins(record, tz, at);
            }
        }
        Some(program.name.clone())
    }

    /// `/start <code>` from someone already set up.
    pub(super) fn join(&self, turn: &Turn, record: &UserRecord) -> Outcome {
        let locale = turn.locale;
        let Some(InviteStatus::Valid { program, role }) = turn.invite else {
            let reply = self.say(
                locale,
                turn.invite.map_or(Msg::InviteUnknown, invite_problem),
            );
            return self.outcome(turn, vec![reply], Change::Keep, Route::Command);
        };
        let mut next = record.clone();
        let Some(name) = self.enroll(&mut next, program, *role, turn.inbound.at) else {
            let reply = self.say(locale, Msg::InviteUnknown);
            return self.outcome(turn, vec![reply], Change::Keep, Route::Command);
        };
        let mut replies = vec![plain(self.content.render(
            locale,
            Msg::InviteJoined,
            &[("name", &name)],
        ))];
        if next.timezone.is_none() {
            next.dialogue = Dialogue::AwaitingTimezone;
            replies.push(self.timezone_prompt(locale));
        } else if needs_alias(&next) {
            next.dialogue = Dialogue::AwaitingAlias;
            replies.push(self.say(locale, Msg::AliasAsk));
        }
        self.saved(turn, next, replies, Route::Command)
    }

    /// The alias typed during enrollment.
    pub(super) fn set_alias(&self, turn: &Turn, record: &UserRecord, text: &str) -> Outcome {
        let locale = turn.locale;
        let alias = text.trim();
        let valid = (1..=32).contains(&alias.chars().count())
            && alias
                .chars()
                .all(|c| c.is_alphabetic() || matches!(c, ' ' | '.' | '-' | '\''))
            && alias.chars().any(char::is_alphabetic);
        if !valid {
            let reply = self.say(locale, Msg::AliasInvalid);
            return self.outcome(turn, vec![reply], Change::Keep, Route::Dialogue);
        }
        let mut next = record.clone();
        next.alias = Some(alias.to_string());
        next.dialogue = Dialogue::Idle;
        let button = |msg, share| Button {
            label: self.content.text(locale, msg).to_string(),
            data: Action::ShareText(share).encode(),
        };
        let reply = Reply {
            text: self.content.text(locale, Msg::ShareAsk).to_string(),
            buttons: vec![vec![
                button(Msg::BtnShareNo, false),
                button(Msg::BtnShareYes, true),
            ]],
            urgent: false,
        };
        self.saved(turn, next, vec![reply], Route::Dialogue)
    }

    pub(super) fn set_share(&self, turn: &Turn, record: &UserRecord, share: bool) -> Outcome {
        let mut next = record.clone();
        next.share_crisis_text = share;
        let alias = record.alias.clone().unwrap_or_default();
        let reply = plain(
            self.content
                .render(turn.locale, Msg::EnrollDone, &[("alias", &alias)]),
        );
        self.saved(turn, next, vec![reply], Route::Button)
    }

    pub(super) fn saved(
        &self,
        turn: &Turn,
        record: UserRecord,
        replies: Vec<Reply>,
        route: Route,
    ) -> Outcome {
        self.outcome(
            turn,
            replies,
            Change::Save {
                record,
                durable: false,
            },
            route,
        )
    }

    pub(super) fn expired(&self, turn: &Turn) -> Outcome {
        let reply = self.say(turn.locale, Msg::ButtonExpired);
        self.outcome(turn, vec![reply], Change::Keep, Route::Button)
    }
}

/// Enrolled by an invite but no alias yet: enrollment asks for one.
pub(super) fn needs_alias(record: &UserRecord) -> bool {
    record.care_team_consent && record.program.is_some() && record.alias.is_none()
}

/// The reply for a code that cannot enroll anyone.
pub(super) fn invite_problem(status: &InviteStatus) -> Msg {
    match status {
        InviteStatus::Expired => Msg::InviteExpired,
        InviteStatus::UsedUp => Msg::InviteUsedUp,
        InviteStatus::Valid { .. } | InviteStatus::Unknown | InviteStatus::Revoked => {
            Msg::InviteUnknown
        }
    }
}

/// The check-in ladder starts at `now`: the check-ins it had before are not owed.
fn start_checkins(record: &mut UserRecord, tz: Tz, now: DateTime<Utc>) {
    let wall = now.with_timezone(&tz).naive_local();
    record.checkins_through = Some(record.checkins_through.map_or(wall, |t| t.max(wall)));
}

/// Files the open check-in in the history; one with no answer at all counts as missed.
pub(super) fn close_open_checkin(record: &mut UserRecord) -> bool {
    let Some(open) = record.open_checkin.take() else {
        return false;
    };
    let unanswered = open.mood.is_none() && open.used.is_none() && open.reach_out.is_none();
    push_bounded(&mut record.checkins, open);
    unanswered
}

/// The program's next session after `now` that is not cancelled (looking a few dozen
/// sessions ahead).
fn upcoming(program: &crate::schedule::Program, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    (0..32)
        .scan(now, |t, _| {
            let o = program.next_session(*t)?;
            *t = o.start;
            Some(o.start)
        })
        .find(|start| !program.is_cancelled(*start))
}
