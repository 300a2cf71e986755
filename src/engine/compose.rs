//! Building replies from content: which texts, in which order, with which buttons.

use chrono_tz::Tz;

use crate::content::Msg;
use crate::engine::buttons::Action;
use crate::engine::state::{OutreachReason, UserRecord};
use crate::engine::{Button, Change, Dialogue, Engine, Outcome, Reply, Route, Turn, plain};
use crate::faq::Entry;
use crate::locale::Locale;
use crate::safety::{Assessment, Clinical, Crisis, Smalltalk, Support};
use crate::user::Channel;

impl Engine {
    fn button_for(&self, locale: Locale, msg: Msg, action: Action) -> Button {
        Button {
            label: self.content.text(locale, msg).to_string(),
            data: action.encode(),
        }
    }

    /// The welcome and the consent question; `invite` rides on the "I agree" button.
    /// By text, a shorter pair that also says what texting costs and how to stop it, as
    /// carriers require of a first message.
    pub(super) fn welcome(
        &self,
        locale: Locale,
        invite: Option<&str>,
        channel: Channel,
    ) -> Vec<Reply> {
        let (hello, mut ask) = if channel.has_buttons() {
            (
                self.content.text(locale, Msg::Welcome).to_string(),
                self.content.text(locale, Msg::ConsentAsk).to_string(),
            )
        } else {
            let r = &self.settings.resources;
            let name = self.settings.texting_name.as_str();
            (
                self.content.render(
                    locale,
                    Msg::SmsWelcome,
                    &[
                        ("program", name),
                        ("emergency", &r.emergency),
                        ("lifeline", &r.lifeline),
                    ],
                ),
                self.content.render(
                    locale,
                    Msg::SmsConsent,
                    &[(
                        "per_day",
                        &self.settings.schedules.texting.per_day.to_string(),
                    )],
                ),
            )
        };
        if invite.is_some() {
            ask.push_str("\n\n");
            ask.push_str(self.content.text(locale, Msg::ConsentInviteAlso));
        }
        vec![
            plain(hello),
            Reply {
                text: ask,
                buttons: vec![vec![
                    self.button_for(
                        locale,
                        Msg::BtnAgree,
                        Action::Consent {
                            agree: true,
                            locale,
                            invite: invite.map(str::to_string),
                        },
                    ),
                    self.button_for(
                        locale,
                        Msg::BtnNotNow,
                        Action::Consent {
                            agree: false,
                            locale,
                            invite: None,
                        },
                    ),
                ]],
                urgent: false,
            },
        ]
    }

    pub(super) fn timezone_prompt_text(&self, locale: Locale) -> String {
        let default = self.settings.default_timezone.name();
        self.content
            .render(locale, Msg::TimezoneAsk, &[("default", default)])
    }

    /// The configured default first, then the common zones, two to a row.
    pub(super) fn timezone_buttons(&self, locale: Locale) -> Vec<Vec<Button>> {
        let mut zones = vec![self.settings.default_timezone];
        for tz in &self.settings.timezone_choices {
            if !zones.contains(tz) {
                zones.push(*tz);
            }
        }
        zones
            .chunks(2)
            .map(|pair| {
                pair.iter()
                    .map(|tz| Button {
                        label: self.timezone_label(locale, *tz),
                        data: Action::Timezone(tz.name().to_string()).encode(),
                    })
                    .collect()
            })
            .collect()
    }

    /// "New York (Eastern)": the zone's city, and the everyday name of its region when
    /// `messages/` gives one (`timezone_regions`, one `Zone = Name` per line).
    pub(super) fn timezone_label(&self, locale: Locale, tz: Tz) -> String {
        let name = tz.name();
        let city = name.rsplit('/').next().unwrap_or(name).replace('_', " ");
        let region = self
            .content
            .text(locale, Msg::TimezoneRegions)
            .lines()
            .filter_map(|line| line.split_once('='))
            .find(|(zone, _)| zone.trim() == name)
            .map(|(_, region)| region.trim());
        match region {
            Some(region) if region != city => format!("{city} ({region})"),
            _ => city,
        }
    }

    pub(super) fn timezone_prompt(&self, locale: Locale) -> Reply {
        Reply {
            text: self.timezone_prompt_text(locale),
            buttons: self.timezone_buttons(locale),
            urgent: false,
        }
    }

    pub(super) fn language_prompt(&self, locale: Locale) -> Reply {
        Reply {
            text: self.content.text(locale, Msg::LanguageAsk).to_string(),
            buttons: vec![
                Locale::ALL
                    .iter()
                    .map(|&l| self.button_for(l, Msg::LanguageName, Action::Language(l)))
                    .collect(),
            ],
            urgent: false,
        }
    }

    pub(super) fn forget_prompt(&self, locale: Locale) -> Reply {
        Reply {
            text: self.content.text(locale, Msg::ForgetConfirm).to_string(),
            buttons: vec![vec![
                self.button_for(locale, Msg::BtnForgetYes, Action::Forget { confirm: true }),
                self.button_for(locale, Msg::BtnForgetNo, Action::Forget { confirm: false }),
            ]],
            urgent: false,
        }
    }

    /// Everything stored about the person, read from the record the store returned, in
    /// sections (about you, your program, your care team, texting), times in their zone.
    pub(super) fn privacy(&self, turn: &Turn, record: &UserRecord) -> Reply {
        let locale = record.locale;
        let text = |msg| self.content.text(locale, msg).to_string();
        let tz = self.zone_of(record);
        let channel = turn.inbound.user.to_string();
        let timezone = record
            .timezone
            .clone()
            .unwrap_or_else(|| text(Msg::PrivacyNotSet));
        let reminders = text(if record.paused {
            Msg::RemindersOff
        } else {
            Msg::RemindersOn
        });
        let waiting = match record.dialogue {
            Dialogue::Idle => None,
            Dialogue::AwaitingTimezone => Some(Msg::PrivacyWaitingTimezone),
            Dialogue::ConfirmForget => Some(Msg::PrivacyWaitingForget),
            Dialogue::AwaitingAlias => Some(Msg::PrivacyWaitingAlias),
        };
        let dialogue = waiting
            .map(|what| {
                self.content
                    .render(locale, Msg::PrivacyWaiting, &[("what", &text(what))])
            })
            .unwrap_or_default();
        let mut sections = vec![self.content.render(
            locale,
            Msg::PrivacyReport,
            &[
                ("channel", &channel),
                ("language", self.content.text(locale, Msg::LanguageName)),
                ("timezone", &timezone),
                (
                    "consented",
                    &self.moment_text(locale, record.consented_at, tz),
                ),
                ("reminders", &reminders),
                ("dialogue", &dialogue),
            ],
        )];
        sections.push(self.privacy_care(record, tz));
        sections.push(self.privacy_team(record, tz));
        if !record.texted.is_empty() || !record.held.is_empty() {
            sections.push(self.privacy_texting(turn, record));
        }
        sections.push(text(Msg::PrivacyFooter));
        plain(sections.join("\n\n"))
    }

    /// "2026-12-02 4:00 PM": a moment in the person's zone, as /privacy lists them.
    fn moment_text(&self, locale: Locale, at: chrono::DateTime<chrono::Utc>, tz: Tz) -> String {
        let local = at.with_timezone(&tz);
        format!(
            "{} {}",
            local.format(self.content.text(locale, Msg::DateFormat)),
            local.format(self.content.text(locale, Msg::TimeFormat))
        )
    }

    /// The program, check-in and day-count part of /privacy: what is kept, in counts and
    /// dates (the answers themselves are button values).
    fn privacy_care(&self, record: &UserRecord, tz: Tz) -> String {
        let locale = record.locale;
        let not_set = || self.content.text(locale, Msg::PrivacyNotSet).to_string();
        let program = record
            .program
            .as_deref()
            .map(|id| {
                self.settings
                    .schedules
                    .program(id)
                    .map_or_else(|| id.to_string(), |p| p.name.clone())
            })
            .unwrap_or_else(not_set);
        let date = |d: Option<chrono::NaiveDate>| d.map(|d| d.to_string()).unwrap_or_else(not_set);
        let scheduled = if record.jobs.is_empty() {
            self.content.text(locale, Msg::PrivacyNone).to_string()
        } else {
            record
                .jobs
                .iter()
                .map(|job| {
                    let kind = self.content.text(
                        locale,
                        match job.kind {
                            super::JobKind::Reminder { .. } => Msg::JobReminder,
                            super::JobKind::Checkin => Msg::JobCheckin,
                            super::JobKind::Milestone { .. } => Msg::JobMilestone,
                        },
                    );
                    format!("{kind} {}", self.moment_text(locale, job.at, tz))
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        self.content.render(
            locale,
            Msg::PrivacyCare,
            &[
                ("program", &program),
                ("discharged", &date(record.discharged_on)),
                ("sober", &date(record.sober.as_ref().map(|s| s.since))),
                ("rsvps", &record.rsvps.len().to_string()),
                ("checkins", &record.checkins.len().to_string()),
                ("scheduled", &scheduled),
            ],
        )
    }

    /// Who at the clinic sees what: for people who joined by invite, the name staff see,
    /// the crisis-words choice, what was noted and the requests to reach out; for everyone
    /// else, that no one at a clinic sees anything.
    fn privacy_team(&self, record: &UserRecord, tz: Tz) -> String {
        let locale = record.locale;
        if !record.has_care_team() {
            return self.content.text(locale, Msg::PrivacyNoTeam).to_string();
        }
        let text = |msg| self.content.text(locale, msg).to_string();
        let requests = if record.outreach_requests.is_empty() {
            text(Msg::PrivacyNone)
        } else {
            record
                .outreach_requests
                .iter()
                .map(|request| {
                    let why = text(match request.reason {
                        OutreachReason::Crisis => Msg::PrivacyRequestCrisis,
                        OutreachReason::Support => Msg::PrivacyRequestSupport,
                    });
                    format!("{} ({why})", self.moment_text(locale, request.at, tz))
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        self.content.render(
            locale,
            Msg::PrivacyTeam,
            &[
                (
                    "alias",
                    &record
                        .alias
                        .clone()
                        .unwrap_or_else(|| text(Msg::PrivacyNotSet)),
                ),
                (
                    "share",
                    &text(if record.share_crisis_text {
                        Msg::BtnYes
                    } else {
                        Msg::BtnNo
                    }),
                ),
                ("escalations", &record.escalations.len().to_string()),
                ("requests", &requests),
            ],
        )
    }

    /// What texting keeps: scheduled texts counted against the caps, and those held back.
    fn privacy_texting(&self, turn: &Turn, record: &UserRecord) -> String {
        let locale = record.locale;
        let last_week = record
            .texted
            .iter()
            .filter(|at| turn.inbound.at - **at < chrono::Duration::days(7))
            .count();
        let held = match record.held.last() {
            Some(last) => format!(
                "{} ({} {}, {})",
                record.held.len(),
                self.content.text(
                    locale,
                    match last.what.as_str() {
                        "reminder" => Msg::JobReminder,
                        "milestone" => Msg::JobMilestone,
                        _ => Msg::JobCheckin,
                    }
                ),
                last.at.format("%Y-%m-%d"),
                self.content.text(
                    locale,
                    match last.reason {
                        crate::schedule::caps::HoldReason::DailyCap => Msg::HeldDaily,
                        crate::schedule::caps::HoldReason::WeeklyCap => Msg::HeldWeekly,
                        crate::schedule::caps::HoldReason::MadeWay => Msg::HeldMadeWay,
                    }
                )
            ),
            None => "0".into(),
        };
        self.content.render(
            locale,
            Msg::PrivacyTexting,
            &[("texted", &last_week.to_string()), ("held", &held)],
        )
    }

    /// The crisis reply: recognise, then the right human help, most urgent line first, then
    /// "are you safe right now?"; and the offer to tell the care team only if the person
    /// agreed to that at enrollment.
    pub(super) fn crisis(&self, turn: &Turn, assessment: &Assessment, locale: Locale) -> Outcome {
        let r = &self.settings.resources;
        let primary = assessment.crisis[0];
        let emergency_first = assessment.crisis.iter().any(|c| c.is_emergency());
        let line =
            |msg: Msg, key: &str, value: &str| self.content.render(locale, msg, &[(key, value)]);
        let mut lines = vec![self.content.text(locale, empathy(primary)).to_string()];
        let emergency = line(Msg::CrisisEmergency, "emergency", &r.emergency);
        if emergency_first {
            lines.push(emergency.clone());
        }
        lines.push(line(Msg::CrisisLifeline, "lifeline", &r.lifeline));
        lines.push(line(Msg::CrisisTextLine, "text_line", &r.text_line));
        if !emergency_first {
            lines.push(emergency);
        }
        if assessment.crisis.contains(&Crisis::Overdose) {
            lines.push(line(Msg::CrisisPoison, "poison", &r.poison));
        }
        lines.push(line(Msg::CrisisHelpline, "helpline", &r.helpline));
        if let Some(clinic) = &r.clinic_line {
            lines.push(line(Msg::CrisisClinic, "clinic_line", clinic));
        }
        lines.push(self.content.text(locale, Msg::CrisisSafeAsk).to_string());
        let mut replies = vec![Reply {
            text: lines.join("\n\n"),
            buttons: vec![vec![
                self.button_for(locale, Msg::BtnSafeYes, Action::Safe(true)),
                self.button_for(locale, Msg::BtnSafeNo, Action::Safe(false)),
            ]],
            urgent: true,
        }];
        let mut change = Change::Keep;
        if let Some(record) = turn.record().filter(|r| r.has_care_team()) {
            replies.push(Reply {
                urgent: true,
                ..self.outreach_offer(locale, OutreachReason::Crisis)
            });
            // Enrolled through the clinic: the staff group is alerted (alias and time).
            let mut next = record.clone();
            next.escalate(turn.inbound.at, super::state::EscalationReason::Crisis);
            change = Change::Save {
                record: next,
                durable: false,
            };
        }
        self.outcome_in(locale, replies, change, Route::Crisis)
    }

    /// The "check" tier: risk is possible but not clear, so ask before anything else, with
    /// the lifeline on one line and a button to the full crisis reply.
    pub(super) fn check(&self, locale: Locale) -> Outcome {
        let r = &self.settings.resources;
        let reply = Reply {
            text: self.content.render(
                locale,
                Msg::CheckAsk,
                &[("emergency", &r.emergency), ("lifeline", &r.lifeline)],
            ),
            buttons: vec![vec![
                self.button_for(locale, Msg::BtnCheckSafe, Action::Safe(true)),
                self.button_for(locale, Msg::BtnCheckHelp, Action::NeedHelp),
            ]],
            urgent: true,
        };
        self.outcome_in(locale, vec![reply], Change::Keep, Route::Check)
    }

    fn outreach_offer(&self, locale: Locale, reason: OutreachReason) -> Reply {
        Reply {
            text: self.content.text(locale, Msg::TeamOffer).to_string(),
            buttons: vec![vec![
                self.button_for(
                    locale,
                    Msg::BtnTeamYes,
                    Action::Outreach { want: true, reason },
                ),
                self.button_for(
                    locale,
                    Msg::BtnTeamNo,
                    Action::Outreach {
                        want: false,
                        reason,
                    },
                ),
            ]],
            urgent: false,
        }
    }

    pub(super) fn safe_yes(&self, locale: Locale) -> Reply {
        let r = &self.settings.resources;
        plain(
            self.content
                .render(locale, Msg::SafeYesReply, &[("lifeline", &r.lifeline)]),
        )
    }

    pub(super) fn safe_no(&self, locale: Locale) -> Reply {
        let r = &self.settings.resources;
        Reply {
            urgent: true,
            ..plain(self.content.render(
                locale,
                Msg::SafeNoReply,
                &[("emergency", &r.emergency), ("lifeline", &r.lifeline)],
            ))
        }
    }

    pub(super) fn outreach_recorded(&self, locale: Locale) -> Reply {
        let r = &self.settings.resources;
        plain(
            self.content
                .render(locale, Msg::TeamRequested, &[("lifeline", &r.lifeline)]),
        )
    }

    pub(super) fn clinical(&self, locale: Locale, _kind: Clinical) -> Reply {
        let r = &self.settings.resources;
        plain(self.content.render(
            locale,
            Msg::ClinicalRefusal,
            &[("emergency", &r.emergency), ("lifeline", &r.lifeline)],
        ))
    }

    /// Warmth first, then concrete options, the helpline, and (for someone enrolled) an
    /// offer to have the care team reach out.
    pub(super) fn support(&self, turn: &Turn, locale: Locale, kind: Support) -> Vec<Reply> {
        let r = &self.settings.resources;
        let opening = match kind {
            Support::Craving => Msg::SupportCraving,
            Support::Lapse => Msg::SupportLapse,
            Support::HighRisk => Msg::SupportHighRisk,
        };
        let text = [
            self.content.text(locale, opening).to_string(),
            self.content.text(locale, Msg::SupportOptions).to_string(),
            self.content
                .render(locale, Msg::SupportHelpline, &[("helpline", &r.helpline)]),
        ]
        .join("\n\n");
        let mut replies = vec![plain(text)];
        // Only people enrolled by their clinic have a care team that will see the request.
        if turn.record().is_some_and(|r| r.has_care_team()) {
            replies.push(self.outreach_offer(locale, OutreachReason::Support));
        }
        replies
    }

    pub(super) fn smalltalk(&self, locale: Locale, kind: Smalltalk) -> Reply {
        self.say(
            locale,
            match kind {
                Smalltalk::Greeting => Msg::SmalltalkGreeting,
                Smalltalk::Thanks => Msg::SmalltalkThanks,
                Smalltalk::Ack => Msg::SmalltalkAck,
            },
        )
    }
}

impl Engine {
    /// An FAQ answer, with its related entries as buttons.
    pub(super) fn faq_answer(&self, locale: Locale, entry: &Entry) -> Reply {
        let catalog = self.content.faq.catalog(locale);
        let related: Vec<&Entry> = entry
            .related
            .iter()
            .filter_map(|id| catalog.entry(id))
            .collect();
        let mut text = entry.answer.clone();
        if !related.is_empty() {
            text.push_str("\n\n");
            text.push_str(self.content.text(locale, Msg::FaqRelated));
        }
        Reply {
            text,
            buttons: entry_buttons(&related),
            urgent: false,
        }
    }

    pub(super) fn did_you_mean(&self, locale: Locale, entries: &[&Entry]) -> Reply {
        Reply {
            text: self.content.text(locale, Msg::FaqDidYouMean).to_string(),
            buttons: entry_buttons(entries),
            urgent: false,
        }
    }

    /// `/faq`: every topic as a button; a topic shows its entries; an entry its answer.
    pub(super) fn faq_topics(&self, locale: Locale) -> Reply {
        let topics = &self.content.faq.catalog(locale).topics;
        Reply {
            text: self.content.text(locale, Msg::FaqTopics).to_string(),
            buttons: topics
                .chunks(2)
                .map(|pair| {
                    pair.iter()
                        .map(|t| Button {
                            label: t.title.clone(),
                            data: Action::FaqTopic(t.id.clone()).encode(),
                        })
                        .collect()
                })
                .collect(),
            urgent: false,
        }
    }

    pub(super) fn faq_topic(&self, locale: Locale, topic: &str) -> Option<Reply> {
        let catalog = self.content.faq.catalog(locale);
        let title = &catalog.topics.iter().find(|t| t.id == topic)?.title;
        let entries: Vec<&Entry> = catalog.in_topic(topic).collect();
        Some(Reply {
            text: self
                .content
                .render(locale, Msg::FaqTopic, &[("topic", title)]),
            buttons: entry_buttons(&entries),
            urgent: false,
        })
    }
}

/// One entry per row, its question as the label.
fn entry_buttons(entries: &[&Entry]) -> Vec<Vec<Button>> {
    entries
        .iter()
        .map(|e| {
            vec![Button {
                label: e.question.clone(),
                data: Action::FaqEntry(e.id.clone()).encode(),
            }]
        })
        .collect()
}

fn empathy(kind: Crisis) -> Msg {
    match kind {
        Crisis::Suicide => Msg::CrisisSuicide,
        Crisis::SelfHarm => Msg::CrisisSelfHarm,
        Crisis::Overdose => Msg::CrisisOverdose,
        Crisis::Withdrawal => Msg::CrisisWithdrawal,
        Crisis::HarmOthers => Msg::CrisisHarmOthers,
        Crisis::Unsafe => Msg::CrisisUnsafe,
        Crisis::Distress => Msg::CrisisDistress,
    }
}
