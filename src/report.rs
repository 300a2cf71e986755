//! Staff reports for clinic staff who do not use Telegram: counts, and CSV exports.
//!
//! Invariants:
//! - A report names a person only by the alias they chose for their care team (or
//!   `(no alias)`), never by their store key, chat id, phone number or username: the key
//!   each record is stored under is dropped as soon as the record is read.
//! - Every exported cell is defused against spreadsheet formulas, then quoted for CSV, so
//!   an alias cannot run as a formula or break a row.
//! - Reports read the whole store ([`Store::records`]): they belong in staff tools, never
//!   on a person's message path. Records the store cannot read are skipped there.

use std::fmt::Write as _;
use std::io::Write;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::engine::UserRecord;
use crate::engine::state::{Checkin, EscalationReason, RsvpAnswer, UseAnswer};
use crate::store::{Store, StoreError};

/// What a report shows for a person who has no alias (enrolled without an invite).
pub const NO_ALIAS: &str = "(no alias)";

/// Characters that make a spreadsheet read a cell as a formula (OWASP's list: the four
/// operators, plus tab and carriage return, which some spreadsheets skip before one).
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot read the store: {0}")]
    Store(#[from] StoreError),
    #[error("cannot write the export: {0}")]
    Io(#[from] std::io::Error),
    #[error("unknown export {0:?}: choose \"rsvps\", \"checkins\" or \"escalations\"")]
    UnknownExport(String),
}

/// Counts over everyone in the store, for a weekly look at how Waypoint is used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Everyone with a record, i.e. everyone who consented, enrolled or not.
    pub people: usize,
    /// People in a program.
    pub enrolled: usize,
    /// Enrolled, neither paused nor unreachable: those who get proactive messages.
    pub active: usize,
    /// Enrolled and paused by /stop.
    pub paused: usize,
    /// Enrolled and unreachable (the channel said they blocked the bot or left).
    pub unreachable: usize,
    /// Enrolled and not discharged.
    pub participants: usize,
    /// Discharged (with or without a program): they get aftercare check-ins.
    pub alumni: usize,
    /// Sessions people were reminded of. A record keeps only each person's 20 most recent,
    /// so over a long time this counts the recent reminders, not every one ever sent.
    pub reminders_sent: usize,
    pub rsvp_going: usize,
    pub rsvp_late: usize,
    pub rsvp_absent: usize,
    /// RSVPs to the sessions counted in `reminders_sent`. A record keeps more RSVPs than
    /// reminders, so dividing every RSVP by the kept reminders could pass 100%; the RSVP
    /// rate uses this count instead.
    pub rsvps_to_kept_reminders: usize,
    /// Check-ins sent (scheduled or asked for with /checkin), the open one included.
    pub checkins_sent: usize,
    /// Check-ins with at least one answer.
    pub checkins_answered: usize,
    /// Check-ins still open (sent, not yet finished).
    pub checkins_open: usize,
    /// Escalations recorded. Nothing marks one handled yet (staff delivery comes later),
    /// so every recorded escalation counts as open.
    pub open_escalations: usize,
    /// Requests that someone from the care team reach out.
    pub outreach_requests: usize,
}

/// Counts over every readable record in the store.
pub fn stats(store: &Store) -> Result<Stats, StoreError> {
    let mut s = Stats::default();
    for entry in store.records() {
        let (_, record) = entry?;
        s.add(&record);
    }
    Ok(s)
}

impl Stats {
    fn add(&mut self, r: &UserRecord) {
        self.people += 1;
        let enrolled = r.program.is_some();
        if enrolled {
            self.enrolled += 1;
            self.active += usize::from(!r.paused && !r.unreachable);
            self.paused += usize::from(r.paused);
            self.unreachable += usize::from(r.unreachable);
            self.participants += usize::from(r.discharged_on.is_none());
        }
        self.alumni += usize::from(r.discharged_on.is_some());
        self.reminders_sent += r.notified.len();
        for rsvp in &r.rsvps {
            match rsvp.answer {
                RsvpAnswer::Going => self.rsvp_going += 1,
                RsvpAnswer::Late => self.rsvp_late += 1,
                RsvpAnswer::Absent => self.rsvp_absent += 1,
            }
            self.rsvps_to_kept_reminders += usize::from(r.notified.contains(&rsvp.session));
        }
        for checkin in r.checkins.iter().chain(&r.open_checkin) {
            self.checkins_sent += 1;
            self.checkins_answered += usize::from(answered(checkin));
        }
        self.checkins_open += usize::from(r.open_checkin.is_some());
        self.open_escalations += r.escalations.len();
        self.outreach_requests += r.outreach_requests.len();
    }

    /// RSVPs per reminder kept, 0.0 to 1.0; `None` when no reminder was sent.
    pub fn rsvp_rate(&self) -> Option<f64> {
        ratio(self.rsvps_to_kept_reminders, self.reminders_sent)
    }

    /// Answered check-ins per check-in sent, 0.0 to 1.0; `None` when none was sent.
    pub fn checkin_response_rate(&self) -> Option<f64> {
        ratio(self.checkins_answered, self.checkins_sent)
    }

    /// A short plain-text table, for a terminal or an e-mail: counts by topic, each
    /// topic ending with its rate.
    pub fn render(&self) -> String {
        let n = |v: usize| Some(v.to_string());
        let rows: [(&str, Option<String>); 22] = [
            ("People", None),
            ("  consented", n(self.people)),
            ("  enrolled in a program", n(self.enrolled)),
            ("    active", n(self.active)),
            ("    paused (/stop)", n(self.paused)),
            ("    unreachable", n(self.unreachable)),
            ("  participants", n(self.participants)),
            ("  alumni", n(self.alumni)),
            ("Sessions", None),
            ("  reminders sent (recent)", n(self.reminders_sent)),
            ("  going", n(self.rsvp_going)),
            ("  running late", n(self.rsvp_late)),
            ("  can't make it", n(self.rsvp_absent)),
            ("  RSVP rate", Some(percent(self.rsvp_rate()))),
            ("Check-ins", None),
            ("  sent", n(self.checkins_sent)),
            ("  answered", n(self.checkins_answered)),
            ("  still open", n(self.checkins_open)),
            (
                "  response rate",
                Some(percent(self.checkin_response_rate())),
            ),
            ("Care team", None),
            ("  recorded escalations", n(self.open_escalations)),
            ("  outreach requests", n(self.outreach_requests)),
        ];
        let mut out = String::new();
        for (label, value) in &rows {
            // Writing to a String cannot fail.
            let _ = match value {
                Some(value) => writeln!(out, "{label:<28}{value:>6}"),
                None => writeln!(out, "{label}"),
            };
        }
        out
    }
}

fn ratio(n: usize, d: usize) -> Option<f64> {
    // Counts of people's answers stay far below 2^52, so the casts are exact.
    (d > 0).then(|| n as f64 / d as f64)
}

fn percent(rate: Option<f64>) -> String {
    rate.map_or_else(|| "n/a".to_string(), |r| format!("{:.0}%", r * 100.0))
}

fn answered(c: &Checkin) -> bool {
    c.mood.is_some() || c.used.is_some() || c.reach_out.is_some()
}

/// Which CSV export to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportKind {
    Rsvps,
    Checkins,
    Escalations,
}

impl ExportKind {
    fn header(self) -> &'static [&'static str] {
        match self {
            ExportKind::Rsvps => &[
                "alias",
                "program",
                "session_utc",
                "answer",
                "answered_at_utc",
            ],
            ExportKind::Checkins => &[
                "alias",
                "program",
                "started_utc",
                "mood",
                "use",
                "reach_out",
            ],
            ExportKind::Escalations => &["alias", "program", "at_utc", "reason", "detail"],
        }
    }

    /// The cells after `alias,program` for each row of one record, oldest first.
    fn rows(self, r: &UserRecord) -> Vec<Vec<String>> {
        match self {
            ExportKind::Rsvps => r
                .rsvps
                .iter()
                .map(|v| vec![utc(v.session), rsvp_answer(v.answer).into(), utc(v.at)])
                .collect(),
            ExportKind::Checkins => r
                .checkins
                .iter()
                .chain(&r.open_checkin)
                .map(|c| {
                    vec![
                        utc(c.started),
                        c.mood.map(|m| m.to_string()).unwrap_or_default(),
                        c.used.map(use_answer).unwrap_or_default().into(),
                        c.reach_out.map(yes_no).unwrap_or_default().into(),
                    ]
                })
                .collect(),
            ExportKind::Escalations => r
                .escalations
                .iter()
                .map(|e| {
                    let (reason, detail) = match e.reason {
                        EscalationReason::Crisis => ("crisis", String::new()),
                        EscalationReason::Outreach => ("outreach", String::new()),
                        EscalationReason::Absent { session } => ("absent", utc(session)),
                        EscalationReason::Use => ("use", String::new()),
                        EscalationReason::LowMood { score } => ("low_mood", score.to_string()),
                        EscalationReason::ReachOut => ("reach_out", String::new()),
                        EscalationReason::MissedCheckins { count } => {
                            ("missed_checkins", count.to_string())
                        }
                    };
                    vec![utc(e.at), reason.into(), detail]
                })
                .collect(),
        }
    }
}

impl FromStr for ExportKind {
    type Err = ReportError;

    fn from_str(s: &str) -> Result<Self, ReportError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "rsvps" => Ok(ExportKind::Rsvps),
            "checkins" => Ok(ExportKind::Checkins),
            "escalations" => Ok(ExportKind::Escalations),
            _ => Err(ReportError::UnknownExport(s.to_string())),
        }
    }
}

/// Writes one export as CSV (RFC 4180, CRLF line ends): a header, then one row per RSVP,
/// check-in or escalation, each person's rows together and oldest first. Returns the
/// number of rows written after the header.
///
/// The program column is the program's id, which stays stable when a name is reworded.
/// `schedules` is not read yet; it is taken so that a program-name column can be added
/// without changing callers.
pub fn export_csv(
    store: &Store,
    kind: ExportKind,
    mut out: impl Write,
) -> Result<usize, ReportError> {
    write_row(&mut out, kind.header().iter().copied())?;
    let mut rows = Vec::new();
    for entry in store.records() {
        // The key is the person's chat id or phone number: it goes no further than here.
        let (_, record) = entry?;
        let alias = record.alias.as_deref().unwrap_or(NO_ALIAS);
        let program = record.program.as_deref().unwrap_or_default();
        for row in kind.rows(&record) {
            let mut cells = vec![alias.to_string(), program.to_string()];
            cells.extend(row);
            rows.push(cells);
        }
    }
    // Records come in person-id order, which means nothing: sort by alias, then time.
    rows.sort();
    for row in &rows {
        write_row(&mut out, row.iter().map(String::as_str))?;
    }
    out.flush()?;
    Ok(rows.len())
}

fn write_row<'a>(
    out: &mut impl Write,
    cells: impl Iterator<Item = &'a str>,
) -> std::io::Result<()> {
    let mut line = String::new();
    for (i, raw) in cells.enumerate() {
        if i > 0 {
            line.push(',');
        }
        push_cell(&mut line, raw);
    }
    line.push_str("\r\n");
    out.write_all(line.as_bytes())
}

/// Appends one cell: first defused (a leading `'` makes a spreadsheet show a would-be
/// formula as text), then quoted if it holds a comma, quote or line break, with inner
/// quotes doubled.
fn push_cell(line: &mut String, raw: &str) {
    let guard = if raw.starts_with(FORMULA_STARTS) {
        "'"
    } else {
        ""
    };
    if raw.contains([',', '"', '\r', '\n']) {
        line.push('"');
        line.push_str(guard);
        line.push_str(&raw.replace('"', "\"\""));
        line.push('"');
    } else {
        line.push_str(guard);
        line.push_str(raw);
    }
}

fn utc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn rsvp_answer(a: RsvpAnswer) -> &'static str {
    match a {
        RsvpAnswer::Going => "going",
        RsvpAnswer::Late => "late",
        RsvpAnswer::Absent => "absent",
    }
}

fn use_answer(a: UseAnswer) -> &'static str {
    match a {
        UseAnswer::Yes => "yes",
        UseAnswer::No => "no",
        UseAnswer::Undisclosed => "undisclosed",
    }
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}
