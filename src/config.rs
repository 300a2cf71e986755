//! The configuration file (`waypoint.toml`): clinic settings that are not content.
//!
//! Every problem names the file, the line and the field. Secrets never live here: the bot
//! token comes from the environment only.

use std::path::{Path, PathBuf};

use chrono::Duration;
use chrono_tz::Tz;
use serde::Deserialize;
use toml::Spanned;

use crate::channels::sms::SmsSettings;
use crate::diagnostic::{Diagnostic, Diagnostics, line_of};
use crate::engine::{Resources, Settings, StaffMember};
use crate::locale::Locale;
use crate::schedule::program::{parse_duration, revealing_word};
use crate::schedule::{Ladder, Phase, Program, QuietHours, Recurrence, Schedules, Session};
use crate::sms::is_e164;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    bot: BotSection,
    #[serde(default)]
    resources: ResourcesSection,
    #[serde(default)]
    telegram: TelegramSection,
    #[serde(default)]
    faq: FaqSection,
    #[serde(default)]
    schedule: ScheduleSection,
    #[serde(default)]
    staff: StaffSection,
    #[serde(default)]
    program: Vec<ProgramSection>,
    sms: Option<SmsSection>,
    #[serde(default)]
    metrics: MetricsSection,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct MetricsSection {
    listen: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SmsSection {
    listen: Option<Spanned<String>>,
    webhook_url: Spanned<String>,
    from: Spanned<String>,
    api_url: Option<Spanned<String>>,
    per_second: Option<Spanned<f64>>,
    name: Option<Spanned<String>>,
    max_per_day: Option<Spanned<u32>>,
    max_per_week: Option<Spanned<u32>>,
    send_window: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct StaffSection {
    #[serde(default)]
    members: Vec<StaffMemberSection>,
    group_chat_id: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StaffMemberSection {
    id: Spanned<i64>,
    name: Spanned<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ScheduleSection {
    quiet_hours: Option<Spanned<String>>,
    milestone_time: Option<Spanned<String>>,
    checkins: Option<Vec<PhaseSection>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PhaseSection {
    until_day: Option<Spanned<u32>>,
    cron: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProgramSection {
    id: Spanned<String>,
    name: Spanned<String>,
    timezone: Option<Spanned<String>>,
    reminders: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    cancelled: Vec<Spanned<String>>,
    #[serde(default)]
    session: Vec<SessionSection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SessionSection {
    cron: Spanned<String>,
    duration: Option<Spanned<String>>,
    #[serde(default)]
    place: String,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FaqSection {
    clinic_file: Option<PathBuf>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct BotSection {
    default_language: Option<Spanned<String>>,
    default_timezone: Option<Spanned<String>>,
    timezone_choices: Option<Spanned<Vec<String>>>,
    data_dir: Option<PathBuf>,
    messages_dir: Option<PathBuf>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ResourcesSection {
    emergency: Option<Spanned<String>>,
    lifeline: Option<Spanned<String>>,
    text_line: Option<Spanned<String>>,
    helpline: Option<Spanned<String>>,
    poison: Option<Spanned<String>>,
    clinic_line: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct TelegramSection {
    api_url: Option<Spanned<String>>,
    bot_username: Option<Spanned<String>>,
    webhook_listen: Option<Spanned<String>>,
}

/// The validated configuration.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub settings: Settings,
    pub data_dir: Option<PathBuf>,
    pub messages_dir: Option<PathBuf>,
    pub api_url: Option<String>,
    /// The bot's @username, for invite links (`https://t.me/<username>?start=<code>`).
    pub bot_username: Option<String>,
    /// `[sms]`: the Twilio channel, when configured.
    pub sms: Option<SmsSettings>,
    /// `[telegram] webhook_listen`: where `waypoint run --webhook URL` listens (default
    /// 127.0.0.1:8443).
    pub webhook_listen: Option<std::net::SocketAddr>,
    /// `[metrics] listen`: where `/metrics` and `/healthz` are served, if anywhere.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// The clinic's own FAQ entries (same format as `messages/<locale>/faq.toml`, with a
    /// `locale` on each item); relative paths are read from the working directory.
    pub faq_clinic_file: Option<PathBuf>,
}

impl Config {
    /// Reads and validates `path`, reporting every problem at once.
    pub fn load(path: &Path) -> Result<Config, Diagnostics> {
        let source = std::fs::read_to_string(path).map_err(|e| {
            Diagnostics(vec![Diagnostic::new(
                path,
                None,
                "file",
                format!("cannot read: {e}"),
            )])
        })?;
        Config::parse(path, &source)
    }

    pub fn parse(path: &Path, source: &str) -> Result<Config, Diagnostics> {
        let file: ConfigFile = toml::from_str(source)
            .map_err(|e| Diagnostics(vec![Diagnostic::from_toml(path, source, &e)]))?;
        let mut problems = Vec::new();
        let mut problem = |span: std::ops::Range<usize>, field: &str, text: String| {
            problems.push(Diagnostic::new(
                path,
                Some(line_of(source, span.start)),
                field,
                text,
            ));
        };
        let mut settings = Settings::default();
        if let Some(lang) = &file.bot.default_language {
            match Locale::from_tag(lang.get_ref()) {
                Some(l) => settings.default_locale = l,
                None => problem(
                    lang.span(),
                    "bot.default_language",
                    format!(
                        "unsupported language {:?} (use \"en\" or \"es\")",
                        lang.get_ref()
                    ),
                ),
            }
        }
        if let Some(tz) = &file.bot.default_timezone {
            match tz.get_ref().parse::<Tz>() {
                Ok(t) => settings.default_timezone = t,
                Err(_) => problem(
                    tz.span(),
                    "bot.default_timezone",
                    format!(
                        "unknown IANA time zone {:?} (e.g. \"America/Chicago\")",
                        tz.get_ref()
                    ),
                ),
            }
        }
        if let Some(list) = &file.bot.timezone_choices {
            let mut zones = Vec::new();
            for name in list.get_ref() {
                match name.parse::<Tz>() {
                    Ok(t) => zones.push(t),
                    Err(_) => problem(
                        list.span(),
                        "bot.timezone_choices",
                        format!("unknown IANA time zone {name:?}"),
                    ),
                }
            }
            settings.timezone_choices = zones;
        }
        let r = &file.resources;
        let mut resources = Resources::default();
        for (field, value, slot) in [
            (
                "resources.emergency",
                &r.emergency,
                &mut resources.emergency,
            ),
            ("resources.lifeline", &r.lifeline, &mut resources.lifeline),
            (
                "resources.text_line",
                &r.text_line,
                &mut resources.text_line,
            ),
            ("resources.helpline", &r.helpline, &mut resources.helpline),
            ("resources.poison", &r.poison, &mut resources.poison),
        ] {
            if let Some(v) = value {
                if is_phone_like(v.get_ref()) {
                    *slot = v.get_ref().trim().to_string();
                } else {
                    problem(
                        v.span(),
                        field,
                        format!("{:?} is not a phone number or short code", v.get_ref()),
                    );
                }
            }
        }
        if let Some(v) = &r.clinic_line {
            if is_phone_like(v.get_ref()) {
                resources.clinic_line = Some(v.get_ref().trim().to_string());
            } else {
                problem(
                    v.span(),
                    "resources.clinic_line",
                    format!("{:?} is not a phone number", v.get_ref()),
                );
            }
        }
        settings.resources = resources;
        let api_url = match &file.telegram.api_url {
            Some(url)
                if url.get_ref().starts_with("http://")
                    || url.get_ref().starts_with("https://") =>
            {
                Some(url.get_ref().clone())
            }
            Some(url) => {
                problem(
                    url.span(),
                    "telegram.api_url",
                    format!("{:?} must start with http:// or https://", url.get_ref()),
                );
                None
            }
            None => None,
        };
        let bot_username = match &file.telegram.bot_username {
            Some(name) => {
                let bare = name.get_ref().trim().trim_start_matches('@');
                if (5..=32).contains(&bare.len())
                    && bare.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                {
                    Some(bare.to_string())
                } else {
                    problem(
                        name.span(),
                        "telegram.bot_username",
                        format!(
                            "{:?} is not a Telegram bot username (5–32 letters, digits or _)",
                            name.get_ref()
                        ),
                    );
                    None
                }
            }
            None => None,
        };
        for (i, member) in file.staff.members.iter().enumerate() {
            let name = member.name.get_ref().trim();
            if *member.id.get_ref() <= 0 {
                problem(
                    member.id.span(),
                    &format!("staff.members[{}].id", i + 1),
                    "must be a person's Telegram user id (a positive number)".into(),
                );
            } else if name.is_empty() || name.chars().count() > 32 {
                problem(
                    member.name.span(),
                    &format!("staff.members[{}].name", i + 1),
                    "must be 1–32 characters".into(),
                );
            } else {
                settings.staff.members.push(StaffMember {
                    id: *member.id.get_ref(),
                    name: name.to_string(),
                });
            }
        }
        if let Some(group) = &file.staff.group_chat_id {
            if *group.get_ref() < 0 {
                settings.staff.group = Some(*group.get_ref());
            } else {
                problem(
                    group.span(),
                    "staff.group_chat_id",
                    "a group's chat id is negative (e.g. -1001234567890)".into(),
                );
            }
        }
        settings.staff.bot_username = bot_username.clone();
        settings.schedules = schedules(&file, settings.default_timezone, &mut problem);
        let sms = file
            .sms
            .as_ref()
            .map(|section| sms(section, &mut settings, &mut problem));
        if let (Some(section), None) = (&file.sms, &settings.resources.clinic_line) {
            problem(
                section.from.span(),
                "resources.clinic_line",
                "texting needs the clinic's phone number: the HELP reply must say how to reach the clinic".into(),
            );
        }
        let mut address = |field: &Option<Spanned<String>>, name: &str, example: &str| {
            let listen = field.as_ref()?;
            match listen.get_ref().trim().parse() {
                Ok(addr) => Some(addr),
                Err(_) => {
                    problem(
                        listen.span(),
                        name,
                        format!(
                            "{:?} is not an address like \"{example}\"",
                            listen.get_ref()
                        ),
                    );
                    None
                }
            }
        };
        let metrics_listen = address(&file.metrics.listen, "metrics.listen", "127.0.0.1:9898");
        let webhook_listen = address(
            &file.telegram.webhook_listen,
            "telegram.webhook_listen",
            "127.0.0.1:8443",
        );
        if !problems.is_empty() {
            return Err(Diagnostics(problems));
        }
        Ok(Config {
            metrics_listen,
            webhook_listen,
            settings,
            data_dir: file.bot.data_dir,
            messages_dir: file.bot.messages_dir,
            api_url,
            bot_username,
            sms,
            faq_clinic_file: file.faq.clinic_file,
        })
    }
}

/// `[schedule]` and every `[[program]]`; problems name the program and the field.
fn schedules(
    file: &ConfigFile,
    default_timezone: Tz,
    problem: &mut impl FnMut(std::ops::Range<usize>, &str, String),
) -> Schedules {
    let mut out = Schedules::default();
    let section = &file.schedule;
    if let Some(text) = &section.quiet_hours {
        match parse_window(text.get_ref()) {
            Some((start, end)) => out.quiet = QuietHours { start, end },
            None => problem(
                text.span(),
                "schedule.quiet_hours",
                format!("{:?} is not a window like \"21:00-08:00\"", text.get_ref()),
            ),
        }
    }
    if let Some(text) = &section.milestone_time {
        match parse_clock(text.get_ref()) {
            Some(t) => out.milestone_time = t,
            None => problem(
                text.span(),
                "schedule.milestone_time",
                format!("{:?} is not a time like \"10:00\"", text.get_ref()),
            ),
        }
    }
    if let Some(phases) = &section.checkins {
        let mut parsed = Vec::new();
        for (i, phase) in phases.iter().enumerate() {
            let field = format!("schedule.checkins[{}].cron", i + 1);
            if let Some(day) = &phase.until_day
                && !(1..=LAST_PHASE_DAY).contains(day.get_ref())
            {
                problem(
                    day.span(),
                    &format!("schedule.checkins[{}].until_day", i + 1),
                    format!("{} must be from 1 to {LAST_PHASE_DAY}", day.get_ref()),
                );
                continue;
            }
            match Recurrence::parse(phase.cron.get_ref()) {
                Ok(recurrence) => parsed.push(Phase {
                    until_day: phase.until_day.as_ref().map(|d| *d.get_ref()),
                    recurrence,
                }),
                Err(e) => problem(phase.cron.span(), &field, e),
            }
        }
        if parsed.len() == phases.len() {
            match Ladder::new(parsed) {
                Ok(ladder) => out.ladder = ladder,
                Err(e) => {
                    let span = phases.first().map(|p| p.cron.span()).unwrap_or(0..0);
                    problem(span, "schedule.checkins", e);
                }
            }
        }
    }
    for section in &file.program {
        if let Some(program) = program(section, default_timezone, &out.programs, problem) {
            out.programs.push(program);
        }
    }
    out
}

fn program(
    section: &ProgramSection,
    default_timezone: Tz,
    earlier: &[Program],
    problem: &mut impl FnMut(std::ops::Range<usize>, &str, String),
) -> Option<Program> {
    let id = section.id.get_ref().trim().to_string();
    let valid_id = !id.is_empty()
        && id.len() <= 32
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    let label = if valid_id { id.clone() } else { "?".into() };
    let field = |name: &str| format!("program {label:?}: {name}");
    let mut ok = true;
    if !valid_id {
        problem(
            section.id.span(),
            &field("id"),
            format!(
                "{:?} must be 1–32 characters of a-z, 0-9, - or _",
                section.id.get_ref()
            ),
        );
        ok = false;
    } else if earlier.iter().any(|p| p.id == id) {
        problem(section.id.span(), &field("id"), "appears twice".into());
        ok = false;
    }
    let name = section.name.get_ref().trim().to_string();
    if name.is_empty() {
        problem(section.name.span(), &field("name"), "is empty".into());
        ok = false;
    } else if let Some(word) = revealing_word(&name) {
        problem(
            section.name.span(),
            &field("name"),
            format!(
                "{name:?} contains {word:?}, which says what the group is for; lock screens show this name, so use neutral words such as \"Tuesday evening group\""
            ),
        );
        ok = false;
    }
    let timezone = match &section.timezone {
        None => default_timezone,
        Some(tz) => match tz.get_ref().parse::<Tz>() {
            Ok(t) => t,
            Err(_) => {
                problem(
                    tz.span(),
                    &field("timezone"),
                    format!("unknown IANA time zone {:?}", tz.get_ref()),
                );
                ok = false;
                default_timezone
            }
        },
    };
    let mut reminders = Vec::new();
    match &section.reminders {
        None => reminders = vec![chrono::Duration::hours(24), chrono::Duration::hours(2)],
        Some(list) => {
            for text in list.get_ref() {
                match duration_within(text, REMINDER_LEAD) {
                    Ok(d) => reminders.push(d),
                    Err(e) => {
                        problem(list.span(), &field("reminders"), e);
                        ok = false;
                    }
                }
            }
        }
    }
    reminders.sort_by(|a, b| b.cmp(a));
    let mut cancelled = std::collections::BTreeSet::new();
    for date in &section.cancelled {
        match chrono::NaiveDate::parse_from_str(date.get_ref().trim(), "%Y-%m-%d") {
            Ok(d) => {
                cancelled.insert(d);
            }
            Err(_) => {
                problem(
                    date.span(),
                    &field("cancelled"),
                    format!("{:?} is not a date like \"2026-12-24\"", date.get_ref()),
                );
                ok = false;
            }
        }
    }
    if section.session.is_empty() {
        problem(
            section.id.span(),
            &field("session"),
            "has no [[program.session]] with a cron schedule".into(),
        );
        ok = false;
    }
    let mut sessions = Vec::new();
    for (i, session) in section.session.iter().enumerate() {
        let n = i + 1;
        let recurrence = match Recurrence::parse(session.cron.get_ref()) {
            Ok(r) => Some(r),
            Err(e) => {
                problem(
                    session.cron.span(),
                    &field(&format!("session[{n}].cron")),
                    e,
                );
                None
            }
        };
        let duration = match &session.duration {
            None => Some(chrono::Duration::hours(3)),
            Some(text) => match duration_within(text.get_ref(), SESSION_LENGTH) {
                Ok(d) => Some(d),
                Err(e) => {
                    problem(text.span(), &field(&format!("session[{n}].duration")), e);
                    None
                }
            },
        };
        match (recurrence, duration) {
            (Some(recurrence), Some(duration)) => sessions.push(Session {
                recurrence,
                duration,
                place: session.place.trim().to_string(),
            }),
            _ => ok = false,
        }
    }
    ok.then_some(Program {
        id,
        name,
        timezone,
        sessions,
        reminders,
        cancelled,
    })
}

/// `[sms]`: the channel's settings, and the texting name and caps the engine uses.
fn sms(
    section: &SmsSection,
    settings: &mut Settings,
    problem: &mut impl FnMut(std::ops::Range<usize>, &str, String),
) -> SmsSettings {
    let mut out = SmsSettings::default();
    if let Some(listen) = &section.listen {
        match listen.get_ref().trim().parse() {
            Ok(addr) => out.listen = addr,
            Err(_) => problem(
                listen.span(),
                "sms.listen",
                format!(
                    "{:?} is not an address like \"127.0.0.1:8088\"",
                    listen.get_ref()
                ),
            ),
        }
    }
    let url = section.webhook_url.get_ref().trim();
    match url::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
            out.webhook_url = url.to_string();
        }
        _ => problem(
            section.webhook_url.span(),
            "sms.webhook_url",
            format!(
                "{url:?} must be the full public URL set in Twilio for incoming messages (https://…)"
            ),
        ),
    }
    let from = section.from.get_ref().trim();
    if is_e164(from) {
        out.from = from.to_string();
    } else {
        problem(
            section.from.span(),
            "sms.from",
            format!("{from:?} is not a number in E.164 form, like \"+15551234567\""),
        );
    }
    if let Some(api) = &section.api_url {
        let text = api.get_ref().trim();
        if text.starts_with("http://") || text.starts_with("https://") {
            out.api_url = text.to_string();
        } else {
            problem(
                api.span(),
                "sms.api_url",
                format!("{text:?} must start with http:// or https://"),
            );
        }
    }
    if let Some(rate) = &section.per_second {
        let r = *rate.get_ref();
        if r > 0.0 && r <= 100.0 {
            out.per_second = r;
        } else {
            problem(
                rate.span(),
                "sms.per_second",
                format!("{r} must be more than 0 and at most 100"),
            );
        }
    }
    if let Some(name) = &section.name {
        let n = name.get_ref().trim();
        if n.is_empty() || n.chars().count() > 30 {
            problem(name.span(), "sms.name", "must be 1–30 characters".into());
        } else if let Some(word) = revealing_word(n) {
            problem(
                name.span(),
                "sms.name",
                format!(
                    "{n:?} contains {word:?}: texts are seen on lock screens, so the name must not reveal treatment"
                ),
            );
        } else {
            settings.texting_name = n.to_string();
        }
    }
    let caps = &mut settings.schedules.texting;
    for (value, name, max, cap) in [
        (
            &section.max_per_day,
            "sms.max_per_day",
            TEXTS_PER_DAY,
            &mut caps.per_day,
        ),
        (
            &section.max_per_week,
            "sms.max_per_week",
            TEXTS_PER_WEEK,
            &mut caps.per_week,
        ),
    ] {
        match value {
            Some(n) if *n.get_ref() <= max => *cap = *n.get_ref(),
            Some(n) => problem(
                n.span(),
                name,
                format!("{} must be from 0 to {max}", n.get_ref()),
            ),
            None => {}
        }
    }
    if let Some(window) = &section.send_window {
        match parse_window(window.get_ref()) {
            Some((start, end)) if start < end => {
                caps.window_start = start;
                caps.window_end = end;
            }
            _ => problem(
                window.span(),
                "sms.send_window",
                format!(
                    "{:?} is not a daytime window like \"08:00-21:00\"",
                    window.get_ref()
                ),
            ),
        }
    }
    out
}

/// How long before its session a reminder may go out.
const REMINDER_LEAD: (Duration, Duration) = (Duration::minutes(1), Duration::days(30));
/// How long a session may last.
const SESSION_LENGTH: (Duration, Duration) = (Duration::minutes(1), Duration::hours(24));
/// The last day of a check-in phase, in days after discharge (ten years).
const LAST_PHASE_DAY: u32 = 3650;
/// Scheduled texts a person may get in a day, and in a week.
const TEXTS_PER_DAY: u32 = 50;
const TEXTS_PER_WEEK: u32 = 350;

/// A duration written in `text`, between `range`'s bounds (inclusive).
fn duration_within(text: &str, (min, max): (Duration, Duration)) -> Result<Duration, String> {
    let d = parse_duration(text)?;
    if d < min || d > max {
        return Err(format!(
            "{text:?} must be from {} to {}",
            spell(min),
            spell(max)
        ));
    }
    Ok(d)
}

/// "30 days", "24 hours", "1 minute": a bound as the operator would write it.
fn spell(d: Duration) -> String {
    let (n, unit) = if d.num_days() > 0 && d == Duration::days(d.num_days()) {
        (d.num_days(), "day")
    } else if d.num_hours() > 0 && d == Duration::hours(d.num_hours()) {
        (d.num_hours(), "hour")
    } else {
        (d.num_minutes(), "minute")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// `"21:00-08:00"`.
fn parse_window(text: &str) -> Option<(chrono::NaiveTime, chrono::NaiveTime)> {
    let (a, b) = text.split_once('-')?;
    Some((parse_clock(a)?, parse_clock(b)?))
}

fn parse_clock(text: &str) -> Option<chrono::NaiveTime> {
    chrono::NaiveTime::parse_from_str(text.trim(), "%H:%M").ok()
}

/// Digits with the usual separators, at least three digits: "911", "1-800-662-4357".
fn is_phone_like(s: &str) -> bool {
    let s = s.trim();
    s.chars().filter(|c| c.is_ascii_digit()).count() >= 3
        && s.chars()
            .all(|c| c.is_ascii_digit() || " +-().".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_good_file_sets_everything() {
        let cfg = Config::parse(
            Path::new("w.toml"),
            "[bot]\ndefault_language = \"es\"\ndefault_timezone = \"America/Chicago\"\n[resources]\nclinic_line = \"(555) 010-0100\"\n",
        )
        .unwrap();
        assert_eq!(cfg.settings.default_locale, Locale::Es);
        assert_eq!(cfg.settings.default_timezone, chrono_tz::America::Chicago);
        assert_eq!(
            cfg.settings.resources.clinic_line.as_deref(),
            Some("(555) 010-0100")
        );
        assert_eq!(cfg.settings.resources.lifeline, "988");
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let err = Config::parse(
            Path::new("w.toml"),
            "[bot]\ndefault_language = \"en\"\ndefault_timezone = \"Mars/Base\"\n\n[resources]\npoison = \"call mom\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("w.toml:3: bot.default_timezone: unknown IANA time zone \"Mars/Base\""),
            "{err}"
        );
        assert!(err.contains("w.toml:6: resources.poison"), "{err}");
    }

    #[test]
    fn programs_parse_and_their_errors_name_the_program_and_field() {
        let good = "[[program]]\nid = \"tue-eve\"\nname = \"Tuesday evening group\"\ntimezone = \"America/Chicago\"\ncancelled = [\"2026-12-22\"]\n[[program.session]]\ncron = \"0 18 * * TUE\"\nplace = \"Room 2\"\n";
        let cfg = Config::parse(Path::new("w.toml"), good).unwrap();
        let p = cfg.settings.schedules.program("tue-eve").unwrap();
        assert_eq!(p.timezone, chrono_tz::America::Chicago);
        assert_eq!(
            p.reminders,
            vec![chrono::Duration::hours(24), chrono::Duration::hours(2)]
        );
        assert_eq!(p.cancelled.len(), 1);
        let bad = "[schedule]\nquiet_hours = \"late\"\n\n[[program]]\nid = \"a\"\nname = \"Recovery group\"\nreminders = [\"2\"]\n[[program.session]]\ncron = \"0 18 * MON\"\n";
        let err = Config::parse(Path::new("w.toml"), bad)
            .unwrap_err()
            .to_string();
        assert!(err.contains("w.toml:2: schedule.quiet_hours"), "{err}");
        assert!(
            err.contains("w.toml:6: program \"a\": name: \"Recovery group\" contains \"recovery\""),
            "{err}"
        );
        assert!(err.contains("w.toml:7: program \"a\": reminders"), "{err}");
        assert!(
            err.contains("w.toml:9: program \"a\": session[1].cron"),
            "{err}"
        );
    }

    /// One program with `line` in it, and one session.
    fn with_program_line(line: &str) -> String {
        format!(
            "[[program]]\nid = \"a\"\nname = \"Evening group\"\n{line}\n[[program.session]]\ncron = \"0 18 * * MON\"\n"
        )
    }

    #[test]
    fn durations_and_counts_out_of_range_are_refused_with_file_line_and_field() {
        let session = |line: &str| {
            format!(
                "[[program]]\nid = \"a\"\nname = \"Evening group\"\n[[program.session]]\ncron = \"0 18 * * MON\"\n{line}\n"
            )
        };
        let cases = [
            // A lead time that would put the reminder before any date there is.
            (
                with_program_line("reminders = [\"100000000d\"]"),
                "w.toml:4: program \"a\": reminders",
            ),
            (
                with_program_line("reminders = [\"999999999999d\"]"),
                "w.toml:4: program \"a\": reminders",
            ),
            (
                with_program_line("reminders = [\"31d\"]"),
                "w.toml:4: program \"a\": reminders",
            ),
            (
                session("duration = \"25h\""),
                "w.toml:6: program \"a\": session[1].duration",
            ),
            (
                session("duration = \"99999999999999999999m\""),
                "w.toml:6: program \"a\": session[1].duration",
            ),
            (
                "[[schedule.checkins]]\nuntil_day = 4000000000\ncron = \"0 17 * * WED\"\n[[schedule.checkins]]\ncron = \"0 17 1 * *\"\n".to_string(),
                "w.toml:2: schedule.checkins[1].until_day",
            ),
            (
                "[sms]\nwebhook_url = \"https://x.example/sms\"\nfrom = \"+15551234567\"\nmax_per_day = 4000000000\n".to_string(),
                "w.toml:4: sms.max_per_day",
            ),
            (
                "[sms]\nwebhook_url = \"https://x.example/sms\"\nfrom = \"+15551234567\"\nmax_per_week = 100000\n".to_string(),
                "w.toml:4: sms.max_per_week",
            ),
        ];
        for (file, expected) in cases {
            let err = Config::parse(Path::new("w.toml"), &file)
                .expect_err(&file)
                .to_string();
            assert!(err.contains(expected), "{expected} in {err}");
        }
        // The edges of the ranges are accepted.
        let cfg = Config::parse(
            Path::new("w.toml"),
            &with_program_line("reminders = [\"30d\", \"1m\"]"),
        )
        .unwrap();
        let p = cfg.settings.schedules.program("a").unwrap();
        assert_eq!(
            p.reminders,
            vec![chrono::Duration::days(30), chrono::Duration::minutes(1)]
        );
        assert!(Config::parse(Path::new("w.toml"), &session("duration = \"24h\"")).is_ok());
    }

    #[test]
    fn unknown_fields_and_bad_syntax_are_located() {
        let err = Config::parse(Path::new("w.toml"), "[bot]\ntimezone = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("w.toml:2:"), "{err}");
        assert!(err.contains("timezone"), "{err}");
        let err = Config::parse(Path::new("w.toml"), "[bot\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("w.toml:1:"), "{err}");
    }
}
