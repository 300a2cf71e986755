//! The staff desk: alert buttons and staff commands, accepted only from the Telegram
//! user ids in `[staff]`. Anyone else never reaches this module — their `/roster` is an
//! ordinary unknown command — so nothing leaks, not even that the commands exist.
//!
//! Not part of the pure core: staff work is about many people at once (rosters,
//! broadcasts, cancellations), so the desk reads and writes the store directly. What it
//! changes in a person's record still goes through the engine (`discharged`,
//! `cancel_session`) and the one transactional save.

pub mod alerts;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::command::Command;
use crate::content::Msg;
use crate::engine::buttons::Action;
use crate::engine::state::RsvpAnswer;
use crate::engine::{Body, Button, Change, ChatKind, Engine, Inbound, Reply, StaffMember, Stored};
use crate::enroll::{self, Invite, Role};
use crate::schedule::program::revealing_word;
use crate::store::{Outgoing, Priority, Store, StoreError};
use crate::user::UserKey;

/// How long a staff-made invite lasts.
const INVITE_DAYS: i64 = 14;

#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Enroll(#[from] enroll::EnrollError),
    #[error("cannot encode a draft: {0}")]
    Encode(#[from] serde_json::Error),
}

/// A broadcast being composed by one staff member.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Draft {
    program: String,
    text: Option<String>,
}

pub struct Desk {
    store: Store,
}

impl Desk {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Files the alerts a saved change calls for (new escalations of enrolled people).
    /// A failure is logged: the escalation itself is in the record and the export.
    pub fn file_alerts(
        &self,
        user: &UserKey,
        old: Option<&crate::engine::UserRecord>,
        new: &crate::engine::UserRecord,
        crisis_text: Option<&str>,
    ) {
        let alerts = alerts::new_alerts(user, old, new, crisis_text);
        if !alerts.is_empty()
            && let Err(e) = self.store.add_alerts(alerts)
        {
            tracing::error!(error = %e, "cannot file alerts for staff");
        }
    }

    /// Handles `inbound` if it is staff work from a staff member; `None` sends it on to
    /// the engine. The caller has already checked the text for crisis language.
    /// Whether `inbound` could be staff work at all: from a staff member, or in the staff
    /// group. Cheap, so everyone else's messages go straight to the engine.
    pub fn concerns(&self, engine: &Engine, inbound: &Inbound) -> bool {
        in_staff_group(engine, inbound)
            || (inbound.chat == ChatKind::Private
                && engine
                    .settings()
                    .staff
                    .member(inbound.sender.as_deref())
                    .is_some())
    }

    /// Whether `inbound` is staff talk whatever its words: anything in the staff group, or
    /// the text a staff member is drafting as a broadcast.
    pub fn is_staff_talk(&self, engine: &Engine, inbound: &Inbound) -> bool {
        if in_staff_group(engine, inbound) {
            return true;
        }
        let drafting =
            |staff: &StaffMember| matches!(self.draft(staff), Ok(Some(Draft { text: None, .. })));
        inbound.chat == ChatKind::Private
            && matches!(inbound.body, Body::Text(_))
            && engine
                .settings()
                .staff
                .member(inbound.sender.as_deref())
                .is_some_and(drafting)
    }

    pub fn handle(&self, engine: &Engine, inbound: &Inbound) -> Option<Vec<Reply>> {
        // The staff group is where colleagues talk: the bot answers only its own buttons
        // and staff commands there, and is otherwise silent.
        let silent = || in_staff_group(engine, inbound).then(Vec::new);
        // Rosters and stats are for the staff group or a private chat, never another group.
        let Some(staff) = engine
            .settings()
            .staff
            .member(inbound.sender.as_deref())
            .filter(|_| in_staff_group(engine, inbound) || inbound.chat == ChatKind::Private)
        else {
            return silent();
        };
        let Some(result) = self.staff_work(engine, staff, inbound) else {
            return silent();
        };
        Some(result.unwrap_or_else(|e| {
            tracing::error!(error = %e, "staff request failed");
            vec![engine.trouble_reply(engine.settings().default_locale)]
        }))
    }

    fn staff_work(
        &self,
        engine: &Engine,
        staff: &StaffMember,
        inbound: &Inbound,
    ) -> Option<Result<Vec<Reply>, DeskError>> {
        Some(match &inbound.body {
            Body::Button(data) => match Action::decode(data)? {
                Action::Alert { claim, id } => self.alert(engine, staff, claim, id),
                Action::Broadcast(send) => self.send_broadcast(engine, staff, send, inbound.at),
                _ => return None,
            },
            Body::Text(text) => match Command::parse(text) {
                Some(command) => {
                    self.command(engine, staff, &inbound.user, &command, inbound.at)?
                }
                None => self.draft_text(engine, staff, text.trim())?,
            },
            Body::Unsupported => return None,
        })
    }

    fn command(
        &self,
        engine: &Engine,
        staff: &StaffMember,
        chat: &UserKey,
        command: &Command,
        now: DateTime<Utc>,
    ) -> Option<Result<Vec<Reply>, DeskError>> {
        let name = command.name.as_str();
        let args: Vec<&str> = command.words().collect();
        let program = |i: usize| {
            args.get(i)
                .and_then(|id| engine.settings().schedules.program(id))
        };
        let date = |i: usize| {
            args.get(i)
                .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        };
        let usage = || Ok(vec![say(engine, Msg::StaffUsage, &[])]);
        let unknown_program = || {
            Ok(vec![say(
                engine,
                Msg::StaffNoProgram,
                &[("program", args.first().copied().unwrap_or(""))],
            )])
        };
        Some(match name {
            "roster" if args.is_empty() => usage(),
            "roster" => match program(0) {
                Some(p) => self.roster(engine, p, date(1), now),
                None => unknown_program(),
            },
            "broadcast" if args.is_empty() => usage(),
            "broadcast" => match program(0) {
                Some(p) => self.start_broadcast(engine, staff, p),
                None => unknown_program(),
            },
            "cancel" => match (program(0), date(1)) {
                (Some(p), Some(d)) => self.cancel(engine, p, d, now),
                (None, _) if !args.is_empty() => unknown_program(),
                _ => usage(),
            },
            "discharge" if args.is_empty() => usage(),
            "discharge" => {
                // The alias may have spaces; a trailing date is the discharge date.
                let (alias, day) = match args
                    .last()
                    .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
                {
                    Some(day) => (args[..args.len() - 1].join(" "), Some(day)),
                    None => (args.join(" "), None),
                };
                self.discharge(engine, &alias, day, now)
            }
            "stats" => crate::report::stats(&self.store)
                .map(|s| vec![plain(s.render())])
                .map_err(DeskError::from),
            "invite" => match (program(0), args.get(1).and_then(|r| r.parse::<Role>().ok())) {
                (Some(p), Some(role)) => self.invite(engine, chat, p, role, now),
                (None, _) if !args.is_empty() => unknown_program(),
                _ => usage(),
            },
            "staff" => usage(),
            _ => return None,
        })
    }

    fn alert(
        &self,
        engine: &Engine,
        staff: &StaffMember,
        claim: bool,
        id: u64,
    ) -> Result<Vec<Reply>, DeskError> {
        let Some(mut alert) = self.store.alert(id)? else {
            return Ok(vec![say(engine, Msg::ButtonExpired, &[])]);
        };
        let id_text = id.to_string();
        if claim {
            if let Some(other) = alert.claimed_by.as_ref().filter(|o| **o != staff.name) {
                return Ok(vec![say(
                    engine,
                    Msg::AlertTaken,
                    &[("id", &id_text), ("staff", other)],
                )]);
            }
            alert.claimed_by = Some(staff.name.clone());
        } else {
            alert.done = true;
            alert.claimed_by.get_or_insert_with(|| staff.name.clone());
        }
        self.store.put_alert(&alert)?;
        let msg = if claim {
            Msg::AlertClaimed
        } else {
            Msg::AlertClosed
        };
        Ok(vec![say(
            engine,
            msg,
            &[("id", &id_text), ("staff", &staff.name)],
        )])
    }

    /// Who answered what for the next session (or the first on `date`).
    fn roster(
        &self,
        engine: &Engine,
        program: &crate::schedule::Program,
        date: Option<NaiveDate>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Reply>, DeskError> {
        let session = match date {
            Some(d) => program.sessions_on(d).first().copied(),
            None => program.next_session(now).map(|o| o.start),
        };
        let Some(session) = session else {
            let day = date.map(|d| d.to_string()).unwrap_or_default();
            return Ok(vec![say(
                engine,
                Msg::CancelNoSession,
                &[("program", &program.name), ("date", &day)],
            )]);
        };
        let locale = engine.settings().default_locale;
        let content = engine.content();
        let when = session
            .with_timezone(&program.timezone)
            .format("%a %Y-%m-%d %H:%M %Z")
            .to_string();
        let mut lines = vec![content.render(
            locale,
            Msg::RosterHeader,
            &[("program", &program.name), ("when", &when)],
        )];
        let mut rows = Vec::new();
        for user in self.store.members(&program.id)? {
            if let Stored::Found(record) = self.store.load(&user)? {
                if record.discharged_on.is_some() {
                    continue;
                }
                let answer = record
                    .rsvps
                    .iter()
                    .find(|r| r.session == session)
                    .map_or("-", |r| match r.answer {
                        RsvpAnswer::Going => content.text(locale, Msg::BtnGoing),
                        RsvpAnswer::Late => content.text(locale, Msg::BtnLate),
                        RsvpAnswer::Absent => content.text(locale, Msg::BtnAbsent),
                    });
                let alias = record.alias.as_deref().unwrap_or("?");
                rows.push(format!("- {alias}: {answer}"));
            }
        }
        if rows.is_empty() {
            lines.push(content.text(locale, Msg::RosterEmpty).to_string());
        }
        rows.sort();
        lines.extend(rows);
        Ok(vec![plain(lines.join("\n"))])
    }

    fn start_broadcast(
        &self,
        engine: &Engine,
        staff: &StaffMember,
        program: &crate::schedule::Program,
    ) -> Result<Vec<Reply>, DeskError> {
        self.put_draft(
            staff,
            Some(&Draft {
                program: program.id.clone(),
                text: None,
            }),
        )?;
        Ok(vec![say(
            engine,
            Msg::BroadcastAsk,
            &[("program", &program.name)],
        )])
    }

    /// The text of a broadcast being composed; `None` if this staff member has no draft
    /// waiting for text (then the message is an ordinary one).
    fn draft_text(
        &self,
        engine: &Engine,
        staff: &StaffMember,
        text: &str,
    ) -> Option<Result<Vec<Reply>, DeskError>> {
        let draft = match self.draft(staff) {
            Ok(Some(d)) if d.text.is_none() => d,
            Ok(_) => return None,
            Err(e) => return Some(Err(e)),
        };
        Some((|| {
            if let Some(word) = revealing_word(text) {
                return Ok(vec![say(
                    engine,
                    Msg::BroadcastRevealing,
                    &[("word", &word)],
                )]);
            }
            let count = self.audience(&draft.program)?.len().to_string();
            self.put_draft(
                staff,
                Some(&Draft {
                    program: draft.program.clone(),
                    text: Some(text.to_string()),
                }),
            )?;
            let locale = engine.settings().default_locale;
            let content = engine.content();
            Ok(vec![Reply {
                text: content.render(
                    locale,
                    Msg::BroadcastPreview,
                    &[("count", &count), ("text", text)],
                ),
                buttons: vec![vec![
                    Button {
                        label: content.render(locale, Msg::BtnBroadcastSend, &[("count", &count)]),
                        data: Action::Broadcast(true).encode(),
                    },
                    Button {
                        label: content.text(locale, Msg::BtnBroadcastCancel).to_string(),
                        data: Action::Broadcast(false).encode(),
                    },
                ]],
                urgent: false,
            }])
        })())
    }

    fn send_broadcast(
        &self,
        engine: &Engine,
        staff: &StaffMember,
        send: bool,
        now: DateTime<Utc>,
    ) -> Result<Vec<Reply>, DeskError> {
        let draft = self.draft(staff)?;
        self.put_draft(staff, None)?;
        let (
            true,
            Some(Draft {
                program,
                text: Some(text),
            }),
        ) = (send, draft)
        else {
            return Ok(vec![say(engine, Msg::BroadcastCancelled, &[])]);
        };
        let audience = self.audience(&program)?;
        let mut items = Vec::with_capacity(audience.len());
        for user in &audience {
            let mut item = Outgoing::new(user.clone(), plain(text.clone()), Priority::Scheduled);
            item.not_before = engine.texting_hold(user, &self.store.load(user)?, now);
            items.push(item);
        }
        self.store.enqueue(&items)?;
        Ok(vec![say(
            engine,
            Msg::BroadcastSent,
            &[("count", &items.len().to_string())],
        )])
    }

    /// Members who are reachable and have not paused messages.
    fn audience(&self, program: &str) -> Result<Vec<UserKey>, DeskError> {
        let mut out = Vec::new();
        for user in self.store.members(program)? {
            if let Stored::Found(r) = self.store.load(&user)?
                && !r.paused
                && !r.unreachable
            {
                out.push(user);
            }
        }
        Ok(out)
    }

    /// Cancels `date`'s sessions and tells everyone enrolled, through the engine.
    fn cancel(
        &self,
        engine: &Engine,
        program: &crate::schedule::Program,
        date: NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<Vec<Reply>, DeskError> {
        let sessions: Vec<_> = program
            .sessions_on(date)
            .into_iter()
            .filter(|s| *s > now)
            .collect();
        if sessions.is_empty() {
            return Ok(vec![say(
                engine,
                Msg::CancelNoSession,
                &[("program", &program.name), ("date", &date.to_string())],
            )]);
        }
        // Kept for the program, so people who join later are told at their reminder time.
        self.store
            .add_staff_cancellations(&program.id, &sessions, now)?;
        let mut told = 0;
        for user in self.store.members(&program.id)? {
            let _person = self.store.lock_user(&user);
            let mut stored = self.store.load(&user)?;
            for session in &sessions {
                let outcome = engine.cancel_session(&stored, *session, now);
                let hold = engine.texting_hold(&user, &stored, now);
                let items: Vec<Outgoing> = outcome
                    .replies
                    .into_iter()
                    .map(|r| {
                        let mut item = Outgoing::new(user.clone(), r, Priority::Reply);
                        item.not_before = hold;
                        item
                    })
                    .collect();
                told += usize::from(!items.is_empty());
                if let Change::Save { record, durable } = outcome.change {
                    self.store.save_with(&user, &record, &items, durable)?;
                    stored = Stored::Found(record);
                }
            }
        }
        self.store.flush()?;
        Ok(vec![say(
            engine,
            Msg::CancelDone,
            &[
                ("program", &program.name),
                ("date", &date.to_string()),
                ("count", &told.to_string()),
            ],
        )])
    }

    fn discharge(
        &self,
        engine: &Engine,
        alias: &str,
        date: Option<NaiveDate>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Reply>, DeskError> {
        let wanted = alias.trim().to_lowercase();
        let mut matches = Vec::new();
        for entry in self.store.records() {
            let (user, record) = entry?;
            if record.program.is_some()
                && record.discharged_on.is_none()
                && record
                    .alias
                    .as_deref()
                    .is_some_and(|a| a.to_lowercase() == wanted)
            {
                matches.push((user, record));
            }
        }
        let count = matches.len();
        let Some((user, _)) = matches.pop().filter(|_| count == 1) else {
            let msg = if count == 0 {
                Msg::DischargeNotFound
            } else {
                Msg::DischargeAmbiguous
            };
            return Ok(vec![say(
                engine,
                msg,
                &[("alias", alias.trim()), ("count", &count.to_string())],
            )]);
        };
        // Decide on the record as it is now, under the person's lock.
        let _person = self.store.lock_user(&user);
        let Stored::Found(record) = self.store.load(&user)? else {
            return Ok(vec![say(
                engine,
                Msg::DischargeNotFound,
                &[("alias", alias.trim())],
            )]);
        };
        let program_tz = record
            .program
            .as_deref()
            .and_then(|p| engine.settings().schedules.program(p))
            .map_or(engine.settings().default_timezone, |p| p.timezone);
        let today = now.with_timezone(&program_tz).date_naive();
        let day = date.unwrap_or(today);
        if day > today {
            return Ok(vec![say(
                engine,
                Msg::DischargeFuture,
                &[("date", &day.to_string())],
            )]);
        }
        let (next, message) = engine.discharged(&record, day, now);
        let items = if record.paused || record.unreachable {
            Vec::new()
        } else {
            let mut item = Outgoing::new(user.clone(), message, Priority::Reply);
            item.not_before = engine.texting_hold(&user, &Stored::Found(record.clone()), now);
            vec![item]
        };
        self.store.save_with(&user, &next, &items, true)?;
        Ok(vec![say(
            engine,
            Msg::DischargeStaffDone,
            &[
                ("alias", next.alias.as_deref().unwrap_or("?")),
                ("date", &day.to_string()),
            ],
        )])
    }

    /// A fresh invite: the link as the reply, and its QR code as a photo to `chat`.
    fn invite(
        &self,
        engine: &Engine,
        chat: &UserKey,
        program: &crate::schedule::Program,
        role: Role,
        now: DateTime<Utc>,
    ) -> Result<Vec<Reply>, DeskError> {
        let Some(bot) = engine.settings().staff.bot_username.clone() else {
            return Ok(vec![say(engine, Msg::StaffUsage, &[])]);
        };
        let code = enroll::new_code()?;
        let expires = now + chrono::Duration::days(INVITE_DAYS);
        self.store.put_invite(
            &code,
            &Invite {
                program: program.id.clone(),
                role,
                created: now,
                expires: Some(expires),
                max_uses: None,
                uses: 0,
                revoked: false,
            },
        )?;
        let role = match role {
            Role::Participant => "participant",
            Role::Alumnus => "alumnus",
        };
        let link = enroll::deep_link(&bot, &code);
        let reply = say(
            engine,
            Msg::InviteCreated,
            &[
                ("program", &program.name),
                ("role", role),
                ("link", &link),
                ("expires", &expires.format("%Y-%m-%d").to_string()),
            ],
        );
        let mut photo = Outgoing::new(chat.clone(), plain(program.name.clone()), Priority::Reply);
        photo.photo = Some(enroll::qr_png(&link)?);
        self.store.enqueue(&[photo])?;
        Ok(vec![reply])
    }

    fn draft(&self, staff: &StaffMember) -> Result<Option<Draft>, DeskError> {
        Ok(self
            .store
            .meta_get(&draft_key(staff))?
            .and_then(|bytes| serde_json::from_slice(&bytes).ok()))
    }

    fn put_draft(&self, staff: &StaffMember, draft: Option<&Draft>) -> Result<(), StoreError> {
        match draft {
            Some(d) => self
                .store
                .meta_put(&draft_key(staff), &serde_json::to_vec(d)?),
            None => self.store.meta_remove(&draft_key(staff)),
        }
    }
}

fn in_staff_group(engine: &Engine, inbound: &Inbound) -> bool {
    engine.settings().staff.group.is_some_and(|g| {
        inbound.user.channel == crate::user::Channel::Telegram && inbound.user.id == g.to_string()
    })
}

fn draft_key(staff: &StaffMember) -> String {
    format!("broadcast:{}", staff.id)
}

fn say(engine: &Engine, msg: Msg, params: &[(&str, &str)]) -> Reply {
    plain(
        engine
            .content()
            .render(engine.settings().default_locale, msg, params),
    )
}

fn plain(text: String) -> Reply {
    Reply {
        text,
        buttons: Vec::new(),
        urgent: false,
    }
}
