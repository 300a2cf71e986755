//! Alerts for the staff group: derived from new escalations in a person's record, posted
//! in batches (a Telegram group takes about 20 messages a minute), claimed and closed with
//! buttons.

use chrono::{DateTime, Utc};

use crate::content::Msg;
use crate::engine::buttons::Action;
use crate::engine::state::EscalationReason;
use crate::engine::{Button, Engine, Reply, UserRecord};
use crate::store::{Alert, Outgoing, Priority, Store, StoreError};
use crate::user::{Channel, UserKey};

/// Alerts per staff-group message: enough to batch a burst, few enough to read.
const PER_MESSAGE: usize = 5;

/// The alerts a change to a person's record calls for: one per new escalation, for people
/// enrolled through the clinic. The crisis message's words only with their agreement.
pub fn new_alerts(
    user: &UserKey,
    old: Option<&UserRecord>,
    new: &UserRecord,
    crisis_text: Option<&str>,
) -> Vec<Alert> {
    if !new.has_care_team() {
        return Vec::new();
    }
    new.escalations
        .iter()
        .filter(|e| old.is_none_or(|o| !o.escalations.contains(e)))
        .map(|e| Alert {
            id: 0,
            user: user.clone(),
            alias: new.alias.clone().unwrap_or_else(|| "?".into()),
            program: new.program.clone(),
            reason: e.reason,
            at: e.at,
            text: match e.reason {
                EscalationReason::Crisis if new.share_crisis_text => {
                    crisis_text.map(str::to_string)
                }
                _ => None,
            },
            claimed_by: None,
            done: false,
            posted: false,
        })
        .collect()
}

/// Queues every unposted alert to the staff group, several to a message, crisis first.
/// Returns how many messages were queued. Without a staff group, alerts wait (and are
/// in the export).
pub fn post_alerts(
    engine: &Engine,
    store: &Store,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let Some(group) = engine.settings().staff.group else {
        return Ok(0);
    };
    if paused_until(store)?.is_some_and(|until| now < until) {
        return Ok(0);
    }
    let all = store.alerts()?;
    // Alerts staff closed long ago have served their purpose (the escalation stays in
    // the person's record and the export): they go, so this scan stays short.
    for old in all.iter().filter(|a| a.done && now - a.at > ALERTS_KEPT) {
        store.remove_alert(old.id)?;
    }
    let mut pending: Vec<Alert> = all.into_iter().filter(|a| !a.posted).collect();
    if pending.is_empty() {
        return Ok(0);
    }
    pending.sort_by_key(|a| (!matches!(a.reason, EscalationReason::Crisis), a.id));
    let to = UserKey::new(Channel::Telegram, group.to_string());
    let mut queued = 0;
    for batch in pending.chunks(PER_MESSAGE) {
        let urgent = batch
            .iter()
            .any(|a| matches!(a.reason, EscalationReason::Crisis));
        let reply = alert_message(engine, batch);
        let priority = if urgent {
            Priority::Urgent
        } else {
            Priority::Reply
        };
        let mut post = Outgoing::new(to.clone(), reply, priority);
        post.alerts = batch.iter().map(|a| a.id).collect();
        store.enqueue(&[post])?;
        for alert in batch {
            // The words travel in the message; the store keeps no copy once it is queued.
            store.put_alert(&Alert {
                posted: true,
                text: None,
                ..alert.clone()
            })?;
        }
        queued += 1;
    }
    store.flush()?;
    Ok(queued)
}

/// How long a closed alert is kept.
pub const ALERTS_KEPT: chrono::Duration = chrono::Duration::days(30);

/// How long alert posting waits after the staff group could not be reached.
pub const POST_PAUSE: chrono::Duration = chrono::Duration::minutes(10);

const PAUSE_KEY: &str = "staff_posts_paused_until";

/// The staff group refused or could not take a post (the bot was removed, the group
/// moved): its alerts go back to waiting, and posting pauses for [`POST_PAUSE`] instead of
/// failing on every wake.
pub fn post_failed(store: &Store, alerts: &[u64], now: DateTime<Utc>) -> Result<(), StoreError> {
    store.unpost_alerts(alerts)?;
    let until = now + POST_PAUSE;
    store.meta_put(PAUSE_KEY, until.to_rfc3339().as_bytes())
}

fn paused_until(store: &Store) -> Result<Option<DateTime<Utc>>, StoreError> {
    Ok(store
        .meta_get(PAUSE_KEY)?
        .and_then(|v| String::from_utf8(v).ok())
        .and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
        .map(|t| t.with_timezone(&Utc)))
}

fn alert_message(engine: &Engine, batch: &[Alert]) -> Reply {
    let content = engine.content();
    let locale = engine.settings().default_locale;
    let tz = engine.settings().default_timezone;
    let mut lines = Vec::new();
    let mut buttons = Vec::new();
    for alert in batch {
        let id = alert.id.to_string();
        let time = |at: DateTime<Utc>| at.with_timezone(&tz).format("%a %H:%M %Z").to_string();
        let what = match alert.reason {
            EscalationReason::Crisis => content.text(locale, Msg::AlertCrisis).to_string(),
            EscalationReason::Outreach => content.text(locale, Msg::AlertOutreach).to_string(),
            EscalationReason::Absent { session } => {
                content.render(locale, Msg::AlertAbsent, &[("session", &time(session))])
            }
            EscalationReason::Use => content.text(locale, Msg::AlertUse).to_string(),
            EscalationReason::LowMood { score } => {
                content.render(locale, Msg::AlertLowMood, &[("score", &score.to_string())])
            }
            EscalationReason::ReachOut => content.text(locale, Msg::AlertReachOut).to_string(),
            EscalationReason::MissedCheckins { count } => {
                content.render(locale, Msg::AlertMissed, &[("count", &count.to_string())])
            }
        };
        let program = alert
            .program
            .as_deref()
            .and_then(|p| engine.settings().schedules.program(p))
            .map_or("-", |p| p.name.as_str());
        lines.push(content.render(
            locale,
            Msg::AlertLine,
            &[
                ("id", &id),
                ("alias", &alert.alias),
                ("program", program),
                ("what", &what),
                ("time", &time(alert.at)),
            ],
        ));
        if let Some(text) = &alert.text {
            lines.push(content.render(locale, Msg::AlertText, &[("text", text)]));
        }
        let button = |msg, claim| Button {
            label: content.render(locale, msg, &[("id", &id)]),
            data: Action::Alert {
                claim,
                id: alert.id,
            }
            .encode(),
        };
        buttons.push(vec![
            button(Msg::BtnClaim, true),
            button(Msg::BtnDone, false),
        ]);
    }
    Reply {
        text: lines.join("\n"),
        buttons,
        urgent: false,
    }
}
