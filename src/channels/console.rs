//! The terminal channel: `waypoint chat`. Typed lines are messages; buttons print as
//! numbered choices and typing the number presses the button. Works with piped input, so
//! whole conversations can be scripted.
//!
//! Scheduled messages run on the same scheduler and outbox as Telegram: after every line
//! the scheduler fires what is due and this person's queued messages are printed.
//! `/_time +3h` (also `+2d`, `+90m`) moves the clock, so reminders and check-ins can be
//! watched arriving; only this channel has it.

use std::io::{self, BufRead, Write};

use crate::app::App;
use crate::clock::Clock;
use crate::delivery::Scheduler;
use crate::engine::{Body, Button, ChatKind, Inbound, Reply};
use crate::locale::Locale;
use crate::schedule::program::parse_duration;
use crate::user::UserKey;

/// Runs a conversation until the input ends.
#[allow(clippy::too_many_arguments)]
pub fn run(
    app: &App,
    scheduler: &Scheduler,
    clock: &dyn Clock,
    user: &UserKey,
    language: Option<Locale>,
    input: impl BufRead,
    mut output: impl Write,
    prompt: bool,
) -> io::Result<()> {
    let mut buttons: Vec<Button> = Vec::new();
    deliver_due(scheduler, clock, user, &mut buttons, &mut output)?;
    if prompt {
        write!(output, "> ")?;
        output.flush()?;
    }
    for line in input.lines() {
        let line = line?;
        if let Some(shift) = line.trim().strip_prefix("/_time") {
            buttons.clear();
            move_clock(clock, shift.trim(), &mut output)?;
        } else {
            let body = match line.trim().parse::<usize>() {
                Ok(n) if (1..=buttons.len()).contains(&n) => {
                    Body::Button(buttons[n - 1].data.clone())
                }
                _ => Body::Text(line),
            };
            let inbound = Inbound {
                user: user.clone(),
                at: clock.now(),
                language,
                chat: ChatKind::Private,
                body,
                sender: None,
            };
            let outcome = app.handle(&inbound);
            buttons.clear();
            for reply in &outcome.replies {
                print_reply(reply, &mut buttons, &mut output)?;
            }
        }
        deliver_due(scheduler, clock, user, &mut buttons, &mut output)?;
        if prompt {
            write!(output, "> ")?;
            output.flush()?;
        }
    }
    Ok(())
}

fn move_clock(clock: &dyn Clock, shift: &str, output: &mut impl Write) -> io::Result<()> {
    let by = shift.strip_prefix('+').map(parse_duration);
    match by {
        Some(Ok(by)) if clock.advance(by) => writeln!(
            output,
            "(clock moved to {})\n",
            clock.now().format("%Y-%m-%d %H:%M UTC")
        ),
        Some(Ok(_)) => writeln!(output, "(this clock cannot be moved)\n"),
        _ => writeln!(
            output,
            "(usage: /_time +3h, +2d or +90m; the clock is {})\n",
            clock.now().format("%Y-%m-%d %H:%M UTC")
        ),
    }
}

/// Fires what is due and prints this person's queued messages, oldest first.
fn deliver_due(
    scheduler: &Scheduler,
    clock: &dyn Clock,
    user: &UserKey,
    buttons: &mut Vec<Button>,
    output: &mut impl Write,
) -> io::Result<()> {
    let store = scheduler.store();
    if let Err(e) = scheduler.run_due(clock.now()) {
        tracing::error!(error = %e, "scheduler pass failed");
    }
    let items = match store.outbox_items(usize::MAX) {
        Ok(items) => items,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the outbox");
            return Ok(());
        }
    };
    let mine: Vec<_> = items.into_iter().filter(|(_, i)| i.user == *user).collect();
    if !mine.is_empty() {
        buttons.clear();
    }
    for (key, item) in mine {
        print_reply(&item.reply, buttons, output)?;
        if let Err(e) = store.outbox_remove(&key) {
            tracing::error!(error = %e, "cannot update the outbox");
        }
    }
    Ok(())
}

fn print_reply(
    reply: &Reply,
    buttons: &mut Vec<Button>,
    output: &mut impl Write,
) -> io::Result<()> {
    writeln!(output, "{}", reply.text)?;
    for row in &reply.buttons {
        let labels: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, b)| format!("[{}] {}", buttons.len() + i + 1, b.label))
            .collect();
        buttons.extend(row.iter().cloned());
        writeln!(output, "  {}", labels.join("   "))?;
    }
    writeln!(output)
}
