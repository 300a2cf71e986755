//! The conversation: `(stored state, inbound message, now) -> (replies, state change)`.
//!
//! Invariants: pure (no I/O, no clock, no channel or store types); total (every input gets
//! replies, bad input a polite one, never an error or a panic); the crisis check runs first
//! on every text in every state; every reply text comes from `messages/`.

pub mod buttons;
mod care;
pub mod choices;
use care::{invite_problem, needs_alias};
mod compose;
mod plan;
pub mod state;
mod texting;
pub mod timezone;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::command::Command;
use crate::content::{Content, Msg};
use crate::enroll::InviteStatus;
use crate::faq::Match;
use crate::locale::Locale;
use crate::safety::{Assessment, Layers, Request};
use crate::schedule::Schedules;
use crate::user::UserKey;
use buttons::Action;
pub use plan::LAG_GRACE;
pub use state::{Dialogue, Job, JobKind, OutreachReason, OutreachRequest, UserRecord};
pub use texting::Keyword;

/// The most of one text that is read, in characters: Telegram's own limit (4,096 UTF-16
/// units, so a Telegram text is never cut), and the same for every other channel, so no
/// text costs more to read than the longest Telegram message.
pub const MAX_TEXT_CHARS: usize = 4096;

/// The part of `text` that is read (its first [`MAX_TEXT_CHARS`] characters), and how
/// many characters after it are ignored.
pub fn clip(text: &str) -> (&str, usize) {
    match text.char_indices().nth(MAX_TEXT_CHARS) {
        Some((end, _)) => (&text[..end], text[end..].chars().count()),
        None => (text, 0),
    }
}

/// One message or button press from a person.
#[derive(Debug, Clone)]
pub struct Inbound {
    pub user: UserKey,
    pub at: DateTime<Utc>,
    /// The channel's hint of the person's language (Telegram's `language_code`).
    pub language: Option<Locale>,
    pub chat: ChatKind,
    pub body: Body,
    /// Who wrote or pressed, as the channel names them (Telegram's user id), when that
    /// differs from the chat (groups). Only used to recognise staff.
    pub sender: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatKind {
    Private,
    /// Groups, supergroups and channels: Waypoint answers only in private chats.
    Shared,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Text(String),
    /// The data of a pressed button.
    Button(String),
    /// A sticker, photo, voice note, location or anything else that is not text.
    Unsupported,
}

/// One message to send back.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Reply {
    pub text: String,
    /// Rows of buttons.
    pub buttons: Vec<Vec<Button>>,
    /// Crisis replies (and the answers carriers require to STOP and HELP) go out before
    /// anything queued, even if saving state fails, and even to a number that opted out.
    pub urgent: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Button {
    pub label: String,
    pub data: String,
}

/// What the store should do after this message.
// The record is moved once per message; boxing it would buy nothing measurable.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Keep,
    /// Write the record; `durable` asks for a flush to disk before the replies go out
    /// (consent, so a crash cannot lose an agreement the person saw acknowledged).
    Save {
        record: UserRecord,
        durable: bool,
    },
    /// Erase every record of the person, durably, before replying.
    Forget,
}

/// Which path a message took: for the triage tool and for counting, never for content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Crisis,
    /// "Are you safe right now?": possible risk, asked about before anything else.
    Check,
    Support,
    Clinical,
    Faq,
    Smalltalk,
    Fallback,
    Command,
    Button,
    Dialogue,
    /// A scheduled message: reminder, check-in, milestone, cancellation notice.
    Scheduled,
    /// Over the person's pace (see `pace`): told to slow down once, or dropped.
    Paced,
    Other,
}

impl Route {
    pub fn name(self) -> &'static str {
        match self {
            Route::Crisis => "crisis",
            Route::Check => "check",
            Route::Support => "support",
            Route::Clinical => "clinical",
            Route::Faq => "faq",
            Route::Smalltalk => "smalltalk",
            Route::Fallback => "fallback",
            Route::Command => "command",
            Route::Button => "button",
            Route::Dialogue => "dialogue",
            Route::Scheduled => "scheduled",
            Route::Paced => "paced",
            Route::Other => "other",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub replies: Vec<Reply>,
    pub change: Change,
    pub route: Route,
    pub locale: Locale,
    /// The FAQ entry answered, when the route is [`Route::Faq`].
    pub faq_id: Option<String>,
}

/// The person's stored state as the store found it.
#[allow(clippy::large_enum_variant)] // see `Change`
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// No record: the person has not consented (or has been forgotten).
    Nothing,
    Found(UserRecord),
    /// A record exists but cannot be decoded. The person still gets crisis help and can
    /// /forget it; nothing else touches it.
    Unreadable,
}

/// Phone numbers and lines for the crisis reply; US defaults, overridable per region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resources {
    pub emergency: String,
    pub lifeline: String,
    pub text_line: String,
    pub helpline: String,
    pub poison: String,
    pub clinic_line: Option<String>,
}

impl Default for Resources {
    fn default() -> Self {
        Self {
            emergency: "911".into(),
            lifeline: "988".into(),
            text_line: "741741".into(),
            helpline: "1-800-662-4357".into(),
            poison: "1-800-222-1222".into(),
            clinic_line: None,
        }
    }
}

/// Settings the engine needs from the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub resources: Resources,
    pub default_locale: Locale,
    pub default_timezone: Tz,
    /// Offered as buttons when asking for a time zone, after the default.
    pub timezone_choices: Vec<Tz>,
    pub schedules: Schedules,
    pub staff: Staff,
    /// How texts name the service (SMS HELP, STOP and START replies).
    pub texting_name: String,
}

/// Clinic staff on Telegram: who may use staff commands, and where alerts go.
#[derive(Debug, Clone, Default)]
pub struct Staff {
    pub members: Vec<StaffMember>,
    /// The staff group's chat id (negative), where alerts are posted.
    pub group: Option<i64>,
    /// The bot's @username, for invite links.
    pub bot_username: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffMember {
    /// The Telegram user id (not a chat id, not a username).
    pub id: i64,
    pub name: String,
}

impl Staff {
    /// The staff member with this channel user id, if any.
    pub fn member(&self, sender: Option<&str>) -> Option<&StaffMember> {
        let id: i64 = sender?.parse().ok()?;
        self.members.iter().find(|m| m.id == id)
    }
}

impl Default for Settings {
    fn default() -> Self {
        use chrono_tz::America;
        Self {
            resources: Resources::default(),
            default_locale: Locale::En,
            default_timezone: America::New_York,
            timezone_choices: vec![
                America::New_York,
                America::Chicago,
                America::Denver,
                America::Phoenix,
                America::Los_Angeles,
                America::Anchorage,
                chrono_tz::Pacific::Honolulu,
                America::Puerto_Rico,
            ],
            schedules: Schedules::default(),
            texting_name: "Waypoint".into(),
            staff: Staff::default(),
        }
    }
}

/// The conversation engine: content and settings, shared by every channel.
pub struct Engine {
    content: Arc<Content>,
    settings: Settings,
    /// Which triage layers decide; always both, except when `waypoint eval` measures one.
    layers: Layers,
    /// Which FAQ scorers decide; always the hybrid, except when `waypoint faq eval`
    /// measures one.
    faq_mode: crate::faq::Mode,
}

/// A message's context while the engine works on it.
struct Turn<'a> {
    inbound: &'a Inbound,
    stored: &'a Stored,
    locale: Locale,
    /// The verdict on an invite code in this message, looked up by the app.
    invite: Option<&'a InviteStatus>,
}

impl Turn<'_> {
    fn record(&self) -> Option<&UserRecord> {
        match self.stored {
            Stored::Found(r) => Some(r),
            _ => None,
        }
    }
}

impl Engine {
    pub fn new(content: Arc<Content>, settings: Settings) -> Self {
        Self {
            content,
            settings,
            layers: Layers::Both,
            faq_mode: crate::faq::Mode::Hybrid,
        }
    }

    /// The same engine with only some triage layers, for measuring each on its own.
    pub fn with_layers(&self, layers: Layers) -> Engine {
        Engine {
            content: self.content.clone(),
            settings: self.settings.clone(),
            layers,
            faq_mode: self.faq_mode,
        }
    }

    /// The same engine with only some FAQ scorers, for measuring each on its own.
    pub fn with_faq_mode(&self, faq_mode: crate::faq::Mode) -> Engine {
        Engine {
            content: self.content.clone(),
            settings: self.settings.clone(),
            layers: self.layers,
            faq_mode,
        }
    }

    /// Screens a text with this engine's layers.
    pub fn screen(&self, text: &str) -> Assessment {
        self.content.screener.screen_with(text, self.layers)
    }

    pub fn content(&self) -> &Content {
        &self.content
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Handles one inbound message. Never fails: bad input gets a polite reply.
    pub fn handle(&self, stored: &Stored, inbound: &Inbound) -> Outcome {
        self.handle_invited(stored, inbound, None)
    }

    /// [`Engine::handle`] for a message that presents an invite code (`/start <code>`,
    /// or consent given after one), with the store's verdict on it.
    pub fn handle_invited(
        &self,
        stored: &Stored,
        inbound: &Inbound,
        invite: Option<&InviteStatus>,
    ) -> Outcome {
        let mut outcome = self.respond(stored, inbound, invite);
        self.number_choices(inbound.user.channel, outcome.locale, &mut outcome.replies);
        self.finish(stored, outcome, inbound.at)
    }

    fn respond(
        &self,
        stored: &Stored,
        inbound: &Inbound,
        invite: Option<&InviteStatus>,
    ) -> Outcome {
        let locale = match stored {
            Stored::Found(r) => r.locale,
            _ => inbound.language.unwrap_or(self.settings.default_locale),
        };
        let turn = Turn {
            inbound,
            stored,
            locale,
            invite,
        };
        // 1. The crisis check, first, on every text, in every state and every chat.
        let assessment = match &inbound.body {
            Body::Text(text) => self.screen(text),
            _ => Assessment::default(),
        };
        if let Body::Text(text) = &inbound.body
            && assessment.is_risk()
        {
            let locale = self.reply_locale(&turn, text);
            return if assessment.is_crisis() {
                self.crisis(&turn, &assessment, locale)
            } else {
                self.check(locale)
            };
        }
        if inbound.chat == ChatKind::Shared {
            return self.outcome(
                &turn,
                vec![self.say(locale, Msg::PrivateOnly)],
                Change::Keep,
                Route::Other,
            );
        }
        match &inbound.body {
            Body::Unsupported => self.outcome(
                &turn,
                vec![self.say(locale, Msg::UnsupportedMedia)],
                Change::Keep,
                Route::Other,
            ),
            Body::Button(data) => self.button(&turn, data),
            Body::Text(text) => self.text(&turn, text, &assessment),
        }
    }

    /// Whether a message gets the crisis reply or the "are you safe?" check (what step 1
    /// of the pipeline decides).
    pub fn is_risk(&self, body: &Body) -> bool {
        matches!(body, Body::Text(text) if self.screen(text).is_risk())
    }

    /// Every saved record leaves with its jobs re-planned from this moment; a person who
    /// writes again is reachable again.
    fn finish(&self, stored: &Stored, mut outcome: Outcome, now: DateTime<Utc>) -> Outcome {
        if let (Change::Keep, Stored::Found(record)) = (&outcome.change, stored)
            && record.unreachable
        {
            outcome.change = Change::Save {
                record: record.clone(),
                durable: false,
            };
        }
        if let Change::Save { record, .. } = &mut outcome.change {
            record.unreachable = false;
            let previous = match stored {
                Stored::Found(old) => old.jobs.as_slice(),
                _ => &[],
            };
            record.jobs = self.replan(previous, record, now);
        }
        outcome
    }

    /// What a consented participant with no open dialogue would receive for `text`:
    /// the basis of `waypoint triage` and `waypoint eval`.
    pub fn triage(&self, text: &str, locale: Locale, at: DateTime<Utc>) -> Outcome {
        let mut record = UserRecord::new(locale, at);
        record.dialogue = Dialogue::Idle;
        record.timezone = Some(self.settings.default_timezone.name().to_string());
        let inbound = Inbound {
            user: UserKey::new(crate::user::Channel::Terminal, "triage"),
            at,
            language: Some(locale),
            chat: ChatKind::Private,
            body: Body::Text(text.to_string()),
            sender: None,
        };
        self.handle(&Stored::Found(record), &inbound)
    }

    fn text(&self, turn: &Turn, text: &str, assessment: &Assessment) -> Outcome {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return self.outcome(
                turn,
                vec![self.say(turn.locale, Msg::EmptyMessage)],
                Change::Keep,
                Route::Other,
            );
        }
        if let Some(command) = Command::parse(trimmed) {
            return self.command(turn, &command);
        }
        if let Some(number) = bare_number(trimmed) {
            return self.stray_number(turn, number);
        }
        if let Some(record) = turn.record()
            && record.dialogue == Dialogue::AwaitingTimezone
            && let Some(outcome) = self.typed_timezone(turn, record, trimmed)
        {
            return outcome;
        }
        if let Some(record) = turn.record()
            && record.dialogue == Dialogue::AwaitingAlias
        {
            return self.set_alias(turn, record, trimmed);
        }
        if *turn.stored == Stored::Unreadable {
            return self.store_trouble(turn);
        }
        self.question(turn, trimmed, assessment)
    }

    /// A bare number that answers no open question (the channel maps the ones that do to
    /// their buttons): never read as a question for the FAQ, nor as a name or a zone. The
    /// open step, if any, is asked again.
    fn stray_number(&self, turn: &Turn, number: &str) -> Outcome {
        let locale = turn.locale;
        let mut replies = vec![plain(self.content.render(
            locale,
            Msg::NumberNoChoice,
            &[("number", number)],
        ))];
        match turn.record().map(|r| &r.dialogue) {
            Some(Dialogue::AwaitingAlias) => replies.push(self.say(locale, Msg::AliasAsk)),
            Some(Dialogue::AwaitingTimezone) => replies.push(self.timezone_prompt(locale)),
            _ => {}
        }
        self.outcome(turn, replies, Change::Keep, Route::Other)
    }

    /// Steps 4–6 of the pipeline: the clinical-advice guard, support, small talk; then the
    /// honest fallback.
    fn question(&self, turn: &Turn, text: &str, assessment: &Assessment) -> Outcome {
        let locale = self.reply_locale(turn, text);
        if let Some(kind) = assessment.clinical {
            return self.outcome_in(
                locale,
                vec![self.clinical(locale, kind)],
                Change::Keep,
                Route::Clinical,
            );
        }
        if let Some(kind) = assessment.support {
            return self.outcome_in(
                locale,
                self.support(turn, locale, kind),
                Change::Keep,
                Route::Support,
            );
        }
        if let Some(kind) = assessment.smalltalk {
            return self.outcome_in(
                locale,
                vec![self.smalltalk(locale, kind)],
                Change::Keep,
                Route::Smalltalk,
            );
        }
        // From here on the reply would be some kind of "I can't help with that": a sign
        // of risk, however faint, is met with the check instead, never a shrug.
        let found = self.content.faq.lookup_with(text, locale, self.faq_mode);
        // An answer to tomorrow's reminder in words is an answer, not a shrug: taken
        // before the faint-signal check (its reply carries the lifeline all the same).
        if let Some(Request::Attend(answer)) = assessment.request
            && let Some(outcome) = self.rsvp_in_words(turn, answer)
        {
            return outcome;
        }
        if assessment.signal && !matches!(found, (_, Match::Answer(_))) {
            return self.check(locale);
        }
        let msg = match assessment.request {
            Some(Request::Personal) => Some(Msg::RequestPersonal),
            Some(Request::Action) => Some(Msg::RequestAction),
            Some(Request::Session) => return self.next_session(turn, locale),
            // No session within a day to answer for: an ordinary question.
            Some(Request::Attend(_)) | None => None,
        };
        if let Some(msg) = msg {
            return self.outcome_in(
                locale,
                vec![self.say(locale, msg)],
                Change::Keep,
                Route::Fallback,
            );
        }
        match found {
            (locale, Match::Answer(entry)) => {
                let reply = self.faq_answer(locale, entry);
                let mut outcome = self.outcome_in(locale, vec![reply], Change::Keep, Route::Faq);
                outcome.faq_id = Some(entry.id.clone());
                outcome
            }
            // A suggestion is not an answer: the route stays honest for triage and eval.
            (locale, Match::Suggest(entries)) => {
                let reply = self.did_you_mean(locale, &entries);
                self.outcome_in(locale, vec![reply], Change::Keep, Route::Fallback)
            }
            (_, Match::Nothing) => {
                let r = &self.settings.resources;
                let reply = plain(self.content.render(
                    locale,
                    Msg::Fallback,
                    &[("emergency", &r.emergency), ("lifeline", &r.lifeline)],
                ));
                self.outcome_in(locale, vec![reply], Change::Keep, Route::Fallback)
            }
        }
    }

    /// The locale to answer free text in: the message's own language when it is clearly
    /// another supported one, else the person's.
    fn reply_locale(&self, turn: &Turn, text: &str) -> Locale {
        Locale::guess(text).unwrap_or(turn.locale)
    }

    fn typed_timezone(&self, turn: &Turn, record: &UserRecord, text: &str) -> Option<Outcome> {
        match timezone::resolve(text) {
            Some(tz) => Some(self.set_timezone(turn, record, tz)),
            None if timezone::looks_like_attempt(text) => {
                let mut reply =
                    self.content
                        .render(turn.locale, Msg::TimezoneInvalid, &[("input", text)]);
                reply.push_str("\n\n");
                reply.push_str(&self.timezone_prompt_text(turn.locale));
                Some(self.outcome(
                    turn,
                    vec![Reply {
                        text: reply,
                        buttons: self.timezone_buttons(turn.locale),
                        urgent: false,
                    }],
                    Change::Keep,
                    Route::Dialogue,
                ))
            }
            None => None,
        }
    }

    fn set_timezone(&self, turn: &Turn, record: &UserRecord, tz: Tz) -> Outcome {
        let first_time = record.timezone.is_none();
        let mut next = record.clone();
        next.timezone = Some(tz.name().to_string());
        next.dialogue = Dialogue::Idle;
        let mut text =
            self.content
                .render(next.locale, Msg::TimezoneSet, &[("timezone", tz.name())]);
        if first_time && needs_alias(&next) {
            next.dialogue = Dialogue::AwaitingAlias;
            text.push_str("\n\n");
            text.push_str(self.content.text(next.locale, Msg::AliasAsk));
        } else if first_time {
            text.push_str("\n\n");
            text.push_str(self.content.text(next.locale, Msg::OnboardingDone));
        }
        self.outcome(
            turn,
            vec![plain(text)],
            Change::Save {
                record: next,
                durable: false,
            },
            Route::Dialogue,
        )
    }

    fn command(&self, turn: &Turn, command: &Command) -> Outcome {
        let (name, args) = (&command.name, command.args);
        let locale = turn.locale;
        let say = |msg| vec![self.say(locale, msg)];
        let keep = |replies| self.outcome(turn, replies, Change::Keep, Route::Command);
        let save = |record: UserRecord, replies| self.saved(turn, record, replies, Route::Command);
        if *turn.stored == Stored::Unreadable && !matches!(name.as_str(), "forget" | "help" | "faq")
        {
            return self.store_trouble(turn);
        }
        match (name.as_str(), turn.record()) {
            ("start", None) => match turn.invite {
                Some(InviteStatus::Valid { .. }) => keep(self.welcome(
                    locale,
                    args.split_whitespace().next(),
                    turn.inbound.user.channel,
                )),
                Some(bad) => {
                    let mut replies = vec![self.say(locale, invite_problem(bad))];
                    replies.extend(self.welcome(locale, None, turn.inbound.user.channel));
                    keep(replies)
                }
                None => keep(self.welcome(locale, None, turn.inbound.user.channel)),
            },
            ("start", Some(record)) if turn.invite.is_some() => self.join(turn, record),
            ("start", Some(record)) if record.timezone.is_none() => {
                let mut next = record.clone();
                next.dialogue = Dialogue::AwaitingTimezone;
                save(next, vec![self.timezone_prompt(locale)])
            }
            ("start", Some(_)) => keep(say(Msg::AlreadyEnrolled)),
            ("help", _) => keep(say(Msg::Help)),
            ("faq", _) => keep(vec![self.faq_topics(locale)]),
            ("privacy", None) => keep(say(Msg::PrivacyNothing)),
            ("privacy", Some(record)) => keep(vec![self.privacy(turn, record)]),
            ("language", _) => keep(vec![self.language_prompt(locale)]),
            (
                "stop" | "resume" | "timezone" | "program" | "checkin" | "sober" | "days"
                | "_discharge",
                None,
            ) => keep(say(Msg::ConsentNeeded)),
            ("program", Some(record)) => self.choose_program(turn, record),
            ("checkin", Some(record)) => self.start_checkin(turn, record),
            ("sober", Some(record)) => self.sober(turn, record, args),
            ("days", Some(record)) => self.days(turn, record),
            ("_discharge", Some(record)) => self.discharge(turn, record, args),
            ("stop", Some(record)) if record.paused => keep(say(Msg::AlreadyStopped)),
            ("stop", Some(record)) => save(
                UserRecord {
                    paused: true,
                    ..record.clone()
                },
                say(Msg::Stopped),
            ),
            ("resume", Some(record)) if !record.paused => keep(say(Msg::AlreadyActive)),
            ("resume", Some(record)) => save(
                UserRecord {
                    paused: false,
                    ..record.clone()
                },
                say(Msg::Resumed),
            ),
            ("timezone", Some(record)) => save(
                UserRecord {
                    dialogue: Dialogue::AwaitingTimezone,
                    ..record.clone()
                },
                vec![self.timezone_prompt(locale)],
            ),
            ("forget", None) if *turn.stored == Stored::Nothing => keep(say(Msg::ForgetNothing)),
            ("forget", None) => keep(vec![self.forget_prompt(locale)]),
            ("forget", Some(record)) => save(
                UserRecord {
                    dialogue: Dialogue::ConfirmForget,
                    ..record.clone()
                },
                vec![self.forget_prompt(locale)],
            ),
            _ => keep(say(Msg::UnknownCommand)),
        }
    }

    fn button(&self, turn: &Turn, data: &str) -> Outcome {
        let locale = turn.locale;
        let expired = || {
            self.outcome(
                turn,
                vec![self.say(locale, Msg::ButtonExpired)],
                Change::Keep,
                Route::Button,
            )
        };
        let Some(action) = Action::decode(data) else {
            return expired();
        };
        let record = turn.record();
        let reply = |msg| vec![self.say(locale, msg)];
        let done = |replies, change| self.outcome(turn, replies, change, Route::Button);
        match (action, record) {
            (
                Action::Consent {
                    agree: true,
                    locale,
                    ..
                },
                None,
            ) if *turn.stored == Stored::Nothing => {
                let mut record = UserRecord::new(locale, turn.inbound.at);
                let mut replies = Vec::new();
                match turn.invite {
                    Some(InviteStatus::Valid { program, role }) => {
                        if let Some(name) =
                            self.enroll(&mut record, program, *role, turn.inbound.at)
                        {
                            replies.push(plain(self.content.render(
                                locale,
                                Msg::InviteJoined,
                                &[("name", &name)],
                            )));
                        }
                    }
                    Some(bad) => replies.push(self.say(locale, invite_problem(bad))),
                    None => {}
                }
                replies.push(self.timezone_prompt(locale));
                self.outcome_in(
                    locale,
                    replies,
                    Change::Save {
                        record,
                        durable: true,
                    },
                    Route::Button,
                )
            }
            (
                Action::Consent {
                    agree: false,
                    locale,
                    ..
                },
                None,
            ) => self.outcome_in(
                locale,
                vec![self.say(locale, Msg::ConsentDeclined)],
                Change::Keep,
                Route::Button,
            ),
            (Action::Consent { .. }, Some(_)) => done(reply(Msg::AlreadyEnrolled), Change::Keep),
            (Action::Timezone(name), Some(record)) => match timezone::resolve(&name) {
                Some(tz) => {
                    let mut outcome = self.set_timezone(turn, record, tz);
                    outcome.route = Route::Button;
                    outcome
                }
                None => expired(),
            },
            (Action::Language(to), Some(record)) => {
                let next = UserRecord {
                    locale: to,
                    ..record.clone()
                };
                self.outcome_in(
                    to,
                    vec![self.say(to, Msg::LanguageSet)],
                    Change::Save {
                        record: next,
                        durable: false,
                    },
                    Route::Button,
                )
            }
            (Action::Language(to), None) if *turn.stored == Stored::Nothing => self.outcome_in(
                to,
                self.welcome(to, None, turn.inbound.user.channel),
                Change::Keep,
                Route::Button,
            ),
            (Action::ShareText(share), Some(record)) if record.care_team_consent => {
                self.set_share(turn, record, share)
            }
            (Action::Forget { confirm: true }, Some(record))
                if record.dialogue == Dialogue::ConfirmForget =>
            {
                done(reply(Msg::ForgetDone), Change::Forget)
            }
            (Action::Forget { confirm: true }, None) if *turn.stored == Stored::Unreadable => {
                done(reply(Msg::ForgetDone), Change::Forget)
            }
            (Action::Forget { confirm: false }, Some(record))
                if record.dialogue == Dialogue::ConfirmForget =>
            {
                done(
                    reply(Msg::ForgetCancelled),
                    Change::Save {
                        record: UserRecord {
                            dialogue: Dialogue::Idle,
                            ..record.clone()
                        },
                        durable: false,
                    },
                )
            }
            (Action::FaqTopic(topic), _) => match self.faq_topic(locale, &topic) {
                Some(reply) => done(vec![reply], Change::Keep),
                None => expired(),
            },
            (Action::FaqEntry(id), _) => match self.content.faq.catalog(locale).entry(&id) {
                Some(entry) => {
                    let mut outcome = done(vec![self.faq_answer(locale, entry)], Change::Keep);
                    outcome.faq_id = Some(entry.id.clone());
                    outcome
                }
                None => expired(),
            },
            (Action::Program(id), Some(record)) => self.set_program(turn, record, &id),
            (Action::Rsvp { session, answer }, Some(record)) => {
                self.rsvp(turn, record, session, answer)
            }
            (action @ (Action::Mood(_) | Action::Used(_) | Action::ReachOut(_)), Some(record)) => {
                self.checkin_answer(turn, record, action)
            }
            (Action::Safe(true), _) => done(vec![self.safe_yes(locale)], Change::Keep),
            (Action::Safe(false), _) => done(vec![self.safe_no(locale)], Change::Keep),
            (Action::NeedHelp, _) => {
                let confirmed = Assessment {
                    crisis: vec![crate::safety::Crisis::Distress],
                    ..Assessment::default()
                };
                self.crisis(turn, &confirmed, locale)
            }
            (Action::Outreach { want: true, reason }, Some(record)) if record.has_care_team() => {
                let mut next = record.clone();
                next.outreach_requests.push(OutreachRequest {
                    at: turn.inbound.at,
                    reason,
                });
                next.escalate(turn.inbound.at, state::EscalationReason::Outreach);
                done(
                    vec![self.outreach_recorded(locale)],
                    Change::Save {
                        record: next,
                        durable: true,
                    },
                )
            }
            (Action::Outreach { want: false, .. }, Some(_)) => {
                done(reply(Msg::TeamDeclined), Change::Keep)
            }
            _ => expired(),
        }
    }

    fn store_trouble(&self, turn: &Turn) -> Outcome {
        let reply = self.trouble_reply(turn.locale);
        self.outcome(turn, vec![reply], Change::Keep, Route::Other)
    }

    /// "Your message was very long, so I read only the first part": for a text cut at
    /// [`MAX_TEXT_CHARS`].
    pub fn clipped_reply(&self, locale: Locale) -> Reply {
        let limit = MAX_TEXT_CHARS.to_string();
        plain(
            self.content
                .render(locale, Msg::TextClipped, &[("limit", &limit)]),
        )
    }

    /// "You're sending messages faster than I can answer", with the emergency lines: for
    /// a person over their pace, once per burst.
    pub fn slow_down_reply(&self, locale: Locale) -> Reply {
        let r = &self.settings.resources;
        plain(self.content.render(
            locale,
            Msg::SlowDown,
            &[("emergency", &r.emergency), ("lifeline", &r.lifeline)],
        ))
    }

    /// "Something went wrong on my side", with the emergency lines: for a record that
    /// cannot be read here, and for a change the app could not save.
    pub fn trouble_reply(&self, locale: Locale) -> Reply {
        let r = &self.settings.resources;
        plain(self.content.render(
            locale,
            Msg::StoreTrouble,
            &[("emergency", &r.emergency), ("lifeline", &r.lifeline)],
        ))
    }

    fn say(&self, locale: Locale, msg: Msg) -> Reply {
        plain(self.content.text(locale, msg).to_string())
    }

    fn outcome(&self, turn: &Turn, replies: Vec<Reply>, change: Change, route: Route) -> Outcome {
        self.outcome_in(turn.locale, replies, change, route)
    }

    fn outcome_in(
        &self,
        locale: Locale,
        replies: Vec<Reply>,
        change: Change,
        route: Route,
    ) -> Outcome {
        Outcome {
            replies,
            change,
            route,
            locale,
            faq_id: None,
        }
    }
}

/// The digits of a text that is only a number ("3", "#2", "42."), as typed to answer a
/// numbered choice.
fn bare_number(text: &str) -> Option<&str> {
    let digits = text
        .trim_start_matches('#')
        .trim_end_matches(['.', ')', '!'])
        .trim();
    (!digits.is_empty() && digits.len() <= 12 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then_some(digits)
}

/// A reply with no buttons.
fn plain(text: String) -> Reply {
    Reply {
        text,
        buttons: Vec::new(),
        urgent: false,
    }
}
