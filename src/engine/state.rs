//! What Waypoint keeps about a person who has agreed to it — and nothing else.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::locale::Locale;
use crate::schedule::{HoldReason, Mark};

/// How many answers of each kind are kept: enough for staff to see a pattern, bounded so
/// a record stays small.
pub const HISTORY: usize = 100;

/// The stored record of one consented person. Before consent there is no record at all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    pub locale: Locale,
    pub consented_at: DateTime<Utc>,
    /// An IANA zone name, validated when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Set by /stop: no proactive message (reminder, check-in) goes out.
    #[serde(default, skip_serializing_if = "is_false")]
    pub paused: bool,
    /// Set when the channel reports the person unreachable (blocked the bot, deactivated).
    #[serde(default, skip_serializing_if = "is_false")]
    pub unreachable: bool,
    /// Whether the person agreed, at enrollment, that their care team may be told of a
    /// crisis. Only then does the crisis reply offer to let the team know.
    #[serde(default, skip_serializing_if = "is_false")]
    pub care_team_consent: bool,
    /// Requests for the care team to reach out, newest last; staff delivery reads these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outreach_requests: Vec<OutreachRequest>,
    #[serde(default, skip_serializing_if = "Dialogue::is_idle")]
    pub dialogue: Dialogue,
    /// The program whose sessions this person is reminded of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program: Option<String>,
    /// Set at discharge: the person is an alumnus and gets aftercare check-ins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discharged_on: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rsvps: Vec<Rsvp>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checkins: Vec<Checkin>,
    /// The check-in being answered, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_checkin: Option<Checkin>,
    /// Check-ins in a row that got no answer at all.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub missed_checkins: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sober: Option<Sobriety>,
    /// Things staff should see; the staff feature delivers them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub escalations: Vec<Escalation>,
    /// Recent sessions this person was reminded of, newest last.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notified: Vec<DateTime<Utc>>,
    /// Recent sessions whose reminders are handled (sent, or passed over because they
    /// could no longer be useful), with the shortest lead time handled: the schedule owes
    /// only the session's reminders with shorter leads. Kept apart from `notified` (what
    /// was sent), which staff reports count.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reminded: Vec<Reminded>,
    /// The ladder check-in (by its local wall time) up to which check-ins are handled:
    /// later ones are owed. Set at discharge to that moment. `None` (records from before
    /// it existed) plans only forward until the first check-in fires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkins_through: Option<NaiveDateTime>,
    /// The local date up to which the day count's milestones are handled (congratulated,
    /// or already past when the count was set). Reset with a new count. `None` as above.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub milestones_through: Option<NaiveDate>,
    /// Recent sessions this person was told were cancelled.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cancel_notices: Vec<DateTime<Utc>>,
    /// The name staff see (first name or initials), chosen at enrollment; never the
    /// channel's own name for the person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    /// Whether the care team may see the text of a crisis message (default no).
    #[serde(default, skip_serializing_if = "is_false")]
    pub share_crisis_text: bool,
    /// What is scheduled for this person; the store's due index mirrors it exactly.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jobs: Vec<Job>,
    /// When scheduled texts went out (SMS only): the texting limits count them. About a
    /// week's worth.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub texted: Vec<DateTime<Utc>>,
    /// Scheduled texts the limits held back, so the person (in /privacy) and staff can
    /// see what did not reach them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub held: Vec<Held>,
}

impl UserRecord {
    pub fn new(locale: Locale, consented_at: DateTime<Utc>) -> Self {
        Self {
            locale,
            consented_at: chrono::SubsecRound::trunc_subsecs(consented_at, 0),
            timezone: None,
            paused: false,
            unreachable: false,
            care_team_consent: false,
            outreach_requests: Vec::new(),
            dialogue: Dialogue::AwaitingTimezone,
            program: None,
            discharged_on: None,
            rsvps: Vec::new(),
            checkins: Vec::new(),
            open_checkin: None,
            missed_checkins: 0,
            sober: None,
            escalations: Vec::new(),
            notified: Vec::new(),
            cancel_notices: Vec::new(),
            reminded: Vec::new(),
            checkins_through: None,
            milestones_through: None,
            alias: None,
            share_crisis_text: false,
            jobs: Vec::new(),
            texted: Vec::new(),
            held: Vec::new(),
        }
    }

    /// Whether staff see this person's escalations: only people who joined through a
    /// clinic invite (care-team consent) and are in a program.
    pub fn has_care_team(&self) -> bool {
        self.care_team_consent && self.program.is_some()
    }

    /// Notes something for staff to follow up. Nothing is noted for someone no staff
    /// member will see: a reply can then never promise a follow-up that will not happen,
    /// and nothing is kept that no one will read.
    pub fn escalate(&mut self, at: DateTime<Utc>, reason: EscalationReason) {
        if self.has_care_team() {
            push_bounded(&mut self.escalations, Escalation { at, reason });
        }
    }
}

// Records are stored for every person: leaving out empty fields keeps them small (a
// new participant's record is ~150 bytes instead of ~500), which is what the store's
// start-up time scales with.
fn is_false(b: &bool) -> bool {
    !b
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Appends, dropping the oldest beyond [`HISTORY`].
pub fn push_bounded<T>(list: &mut Vec<T>, item: T) {
    list.push(item);
    if list.len() > HISTORY {
        let excess = list.len() - HISTORY;
        list.drain(..excess);
    }
}

/// The reminders of one session that are handled: every one whose lead time is at least
/// `lead_minutes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reminded {
    pub session: DateTime<Utc>,
    pub lead_minutes: i64,
}

/// A person's answer to a session reminder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rsvp {
    pub session: DateTime<Utc>,
    pub answer: RsvpAnswer,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RsvpAnswer {
    Going,
    Late,
    Absent,
}

/// One aftercare check-in: button values only, never free text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkin {
    pub started: DateTime<Utc>,
    /// 1 (very hard) to 5 (doing well).
    pub mood: Option<u8>,
    pub used: Option<UseAnswer>,
    pub reach_out: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UseAnswer {
    Yes,
    No,
    Undisclosed,
}

/// A sober-date count; earlier counts are kept, because a lapse doesn't erase progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sobriety {
    pub since: NaiveDate,
    #[serde(default)]
    pub earlier: Vec<Streak>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Streak {
    pub since: NaiveDate,
    pub until: NaiveDate,
}

/// Something staff should follow up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Escalation {
    pub at: DateTime<Utc>,
    pub reason: EscalationReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum EscalationReason {
    /// A crisis message (its text is never kept here; the alert carries it only with the
    /// person's agreement).
    Crisis,
    /// The person asked for someone from the team to reach out.
    Outreach,
    /// "Can't make it" to the session starting at `session`.
    Absent { session: DateTime<Utc> },
    /// A check-in reported alcohol or drug use.
    Use,
    /// A check-in score of 1 or 2.
    LowMood { score: u8 },
    /// A check-in asked for someone to reach out.
    ReachOut,
    /// Two check-ins in a row went unanswered.
    MissedCheckins { count: u32 },
}

/// One scheduled proactive message. A person has at most one job of each kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub at: DateTime<Utc>,
    pub kind: JobKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum JobKind {
    /// A reminder of (or, if cancelled, a notice about) the session starting at `session`.
    Reminder {
        session: DateTime<Utc>,
    },
    Checkin,
    Milestone {
        date: NaiveDate,
        mark: Mark,
    },
}

impl JobKind {
    pub fn name(&self) -> &'static str {
        match self {
            JobKind::Reminder { .. } => "reminder",
            JobKind::Checkin => "checkin",
            JobKind::Milestone { .. } => "milestone",
        }
    }

    /// How useful the message is when texting limits force a choice: a session today
    /// above a check-in, a check-in above a congratulation.
    pub fn usefulness(&self) -> u8 {
        match self {
            JobKind::Reminder { .. } => 3,
            JobKind::Checkin => 2,
            JobKind::Milestone { .. } => 1,
        }
    }

    /// The one-byte tag of the kind in the store's due index.
    pub fn tag(&self) -> u8 {
        match self {
            JobKind::Reminder { .. } => b'r',
            JobKind::Checkin => b'c',
            JobKind::Milestone { .. } => b'm',
        }
    }
}

/// A scheduled text the texting limits held back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Held {
    pub at: DateTime<Utc>,
    /// What it was: `reminder`, `checkin` or `milestone`.
    pub what: String,
    pub reason: HoldReason,
}

/// An open question the next message may answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Dialogue {
    #[default]
    Idle,
    AwaitingTimezone,
    ConfirmForget,
    /// Enrollment: the name staff should see.
    AwaitingAlias,
}

impl Dialogue {
    fn is_idle(&self) -> bool {
        *self == Dialogue::Idle
    }
}

/// A person's request that someone from their care team reach out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutreachRequest {
    pub at: DateTime<Utc>,
    pub reason: OutreachReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutreachReason {
    Crisis,
    Support,
}
