//! How fast one person's messages are taken: a small token bucket per person, so one
//! person's flood can neither grow the outbox nor hold anybody else up.
//!
//! Pure: time is passed in (the message's own instant). The app asks only after the
//! crisis check, and crisis language is never held back. A person over their pace is
//! told once per burst; the rest of the burst is dropped unanswered (the note says so).
//! Memory is bounded: a person whose bucket has refilled is the same as one never seen,
//! so they are forgotten first.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};

use crate::user::UserKey;

/// Messages a person may send at once before the pace applies: enough for someone
/// tapping through onboarding or the FAQ's buttons.
pub const BURST: u32 = 20;

/// One more message is taken this often (twenty a minute, sustained). A message queues
/// a reply or two, and a chat takes about one a second: so a person at this pace does
/// not grow their own queue.
pub const EVERY: Duration = Duration::seconds(3);

/// People tracked at most; beyond it, those at rest are forgotten, then everyone.
const PEOPLE_MAX: usize = 100_000;

/// What to do with one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Within the pace: handle it.
    Take,
    /// Over the pace, for the first time in this burst: say so, once.
    SlowDown,
    /// Over the pace, and already told: drop it unanswered.
    Drop,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Messages that may still be taken, as of `at`.
    tokens: f64,
    at: DateTime<Utc>,
    /// Whether they were told to slow down in this burst (until the bucket is full again).
    told: bool,
}

/// Every person's bucket.
#[derive(Debug)]
pub struct Pace {
    burst: f64,
    every: Duration,
    buckets: HashMap<UserKey, Bucket>,
}

impl Default for Pace {
    fn default() -> Self {
        Pace::new(BURST, EVERY)
    }
}

impl Pace {
    pub fn new(burst: u32, every: Duration) -> Self {
        Self {
            burst: f64::from(burst.max(1)),
            every: every.max(Duration::milliseconds(1)),
            buckets: HashMap::new(),
        }
    }

    /// The verdict on a message from `user` at `now` (which takes one of their tokens if
    /// there is one).
    pub fn judge(&mut self, user: &UserKey, now: DateTime<Utc>) -> Verdict {
        if self.buckets.len() >= PEOPLE_MAX && !self.buckets.contains_key(user) {
            let (burst, every) = (self.burst, self.every);
            self.buckets
                .retain(|_, b| refilled(b, burst, every, now) < burst);
            if self.buckets.len() >= PEOPLE_MAX {
                self.buckets.clear();
            }
        }
        let (burst, every) = (self.burst, self.every);
        let bucket = self.buckets.entry(user.clone()).or_insert(Bucket {
            tokens: burst,
            at: now,
            told: false,
        });
        bucket.tokens = refilled(bucket, burst, every, now);
        // A clock that went back refills nothing, and does not rewind the bucket either.
        bucket.at = bucket.at.max(now);
        if bucket.tokens >= burst {
            bucket.told = false;
        }
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Verdict::Take
        } else if bucket.told {
            Verdict::Drop
        } else {
            bucket.told = true;
            Verdict::SlowDown
        }
    }
}

/// `b`'s tokens at `now`.
fn refilled(b: &Bucket, burst: f64, every: Duration, now: DateTime<Utc>) -> f64 {
    let elapsed = (now - b.at).max(Duration::zero());
    let gained = elapsed.num_milliseconds() as f64 / every.num_milliseconds() as f64;
    (b.tokens + gained).min(burst)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::user::Channel;

    fn t(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
    }

    fn user(id: &str) -> UserKey {
        UserKey::new(Channel::Telegram, id)
    }

    #[test]
    fn a_burst_is_taken_then_one_note_then_silence() {
        let mut pace = Pace::new(3, Duration::seconds(6));
        let verdicts: Vec<Verdict> = (0..6).map(|_| pace.judge(&user("1"), t(0))).collect();
        use Verdict::*;
        assert_eq!(verdicts, [Take, Take, Take, SlowDown, Drop, Drop]);
        // Another person is not affected.
        assert_eq!(pace.judge(&user("2"), t(0)), Take);
    }

    #[test]
    fn tokens_come_back_at_the_pace_and_the_note_only_after_a_rest() {
        let mut pace = Pace::new(2, Duration::seconds(6));
        let one = user("1");
        for _ in 0..2 {
            assert_eq!(pace.judge(&one, t(0)), Verdict::Take);
        }
        assert_eq!(pace.judge(&one, t(1)), Verdict::SlowDown);
        assert_eq!(pace.judge(&one, t(6)), Verdict::Take, "one token after 6 s");
        assert_eq!(pace.judge(&one, t(7)), Verdict::Drop, "told already");
        // A full bucket (a real pause) ends the burst: the next flood is told again.
        for _ in 0..2 {
            assert_eq!(pace.judge(&one, t(60)), Verdict::Take);
        }
        assert_eq!(pace.judge(&one, t(60)), Verdict::SlowDown);
    }

    #[test]
    fn a_clock_that_goes_back_neither_refills_nor_panics() {
        let mut pace = Pace::new(1, Duration::seconds(6));
        let one = user("1");
        assert_eq!(pace.judge(&one, t(100)), Verdict::Take);
        assert_eq!(pace.judge(&one, t(0)), Verdict::SlowDown);
        assert_eq!(pace.judge(&one, t(105)), Verdict::Drop);
        assert_eq!(pace.judge(&one, t(106)), Verdict::Take);
    }

    #[test]
    fn memory_stays_bounded() {
        let mut pace = Pace::new(2, Duration::seconds(6));
        for i in 0..(PEOPLE_MAX + 10) {
            pace.judge(&user(&i.to_string()), t(0));
        }
        assert!(pace.buckets.len() <= PEOPLE_MAX);
    }
}
