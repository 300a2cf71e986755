//! The runtime around the schedule maths: the scheduler loop (due index -> outbox) and
//! the sender (outbox -> channel, within the channel's rate limits).
//!
//! Messages flow one way: engine outcomes and fired jobs are queued in the store's
//! outbox; one sender per channel drains it. Crisis replies have the first priority.

pub mod scheduler;
pub mod sender;

pub use scheduler::Scheduler;
pub use sender::{Limits, SendError, Sender, SenderStats, Transport};
