//! The runtime around the schedule maths: the scheduler loop (due index -> outbox) and
//! the sender (outbox -> channel, within the channel's rate limits).
//!
//! Messages flow one way: engine outcomes and fired jobs are queued in the store's
//! outbox; one sender per channel drains it. Crisis replies have the first priority.

pub mod scheduler;
pub mod sender;

pub use scheduler::Scheduler;
pub use sender::{Limits, SendError, Sender, SenderStats, Transport};

use crate::engine::Reply;
use crate::store::{Outgoing, Priority, Store};
use crate::user::UserKey;

/// Queues the replies to one person's message, crisis replies in the urgent lane. If the
/// store cannot take them, they are sent directly: a failing disk must not swallow a
/// crisis reply. An urgent reply identical to one still waiting for the person is not
/// queued again: crisis language is answered at any pace, so a flood of it would
/// otherwise queue copies for hours, and a new crisis message's different reply would
/// wait behind them.
pub async fn queue_replies<T: Transport>(
    store: &Store,
    transport: &T,
    user: &UserKey,
    replies: Vec<Reply>,
) {
    let mut items: Vec<Outgoing> = replies
        .into_iter()
        .map(|reply| {
            let priority = if reply.urgent {
                Priority::Urgent
            } else {
                Priority::Reply
            };
            Outgoing::new(user.clone(), reply, priority)
        })
        .collect();
    if items.iter().any(|i| i.priority == Priority::Urgent) {
        let waiting = store
            .outbox_waiting(user, Priority::Urgent)
            .unwrap_or_default();
        items.retain(|i| {
            i.priority != Priority::Urgent || !waiting.iter().any(|w| w.reply == i.reply)
        });
    }
    if let Err(e) = store.enqueue(&items) {
        tracing::error!(error = %e, "cannot queue replies; sending them directly");
        for item in &items {
            if let Err(e) = transport.send(&item.user, &item.reply).await {
                tracing::error!(error = %e, "cannot send a reply directly");
            }
        }
    }
}
