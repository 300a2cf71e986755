//! Schedule maths: cron in time zones, quiet hours, the check-in ladder, milestones.
//!
//! Pure: instants in, instants out; no clock, no store. The engine plans with it; the
//! scheduler loop (`delivery`) only reads the due times it produced.

pub mod caps;
pub mod ladder;
pub mod milestone;
pub mod program;
pub mod quiet;
pub mod recurrence;

use chrono::NaiveTime;

pub use caps::{HoldReason, TextingCaps, Verdict};
pub use ladder::{Ladder, Phase};
pub use milestone::Mark;
pub use program::{Occurrence, Program, ReminderSlot, Session};
pub use quiet::QuietHours;
pub use recurrence::Recurrence;

/// Everything the engine needs to plan proactive messages.
#[derive(Debug, Clone)]
pub struct Schedules {
    pub programs: Vec<Program>,
    pub quiet: QuietHours,
    pub ladder: Ladder,
    /// The local time of day milestone congratulations go out.
    pub milestone_time: NaiveTime,
    /// Limits on proactive texts to people reached by SMS.
    pub texting: TextingCaps,
}

impl Default for Schedules {
    fn default() -> Self {
        Self {
            programs: Vec::new(),
            quiet: QuietHours::default(),
            ladder: Ladder::standard(),
            milestone_time: NaiveTime::from_hms_opt(10, 0, 0).unwrap_or_default(),
            texting: TextingCaps::default(),
        }
    }
}

impl Schedules {
    pub fn program(&self, id: &str) -> Option<&Program> {
        self.programs.iter().find(|p| p.id == id)
    }
}
