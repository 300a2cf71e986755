//! The terminal channel: `waypoint chat`. Typed lines are messages; buttons print as
//! numbered choices and typing the number presses the button. Works with piped input, so
//! whole conversations can be scripted.
//!
//! Scheduled messages run on the same scheduler and outbox as Telegram: after every line,
//! and every half second while waiting for one, the scheduler fires what is due and this
//! person's queued messages are printed.
//! `/_time +3h` (also `+2d`, `+90m`) moves the clock, so reminders and check-ins can be
//! watched arriving; only this channel has it.

use std::io::{self, BufRead, Write};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use crate::app::App;
use crate::clock::Clock;
use crate::delivery::Scheduler;
use crate::engine::choices::{Choices, numbering};
use crate::engine::{Body, ChatKind, Inbound, Reply};
use crate::locale::Locale;
use crate::schedule::program::parse_duration;
use crate::user::UserKey;

/// How often the terminal looks for scheduled messages while waiting for a line.
const TICK: Duration = Duration::from_millis(500);

/// Runs a conversation until the input ends. Lines are read on their own thread, so a
/// scheduled message prints when it is due, not when the next line is typed.
#[allow(clippy::too_many_arguments)]
pub fn run(
    app: &App,
    scheduler: &Scheduler,
    clock: &dyn Clock,
    user: &UserKey,
    language: Option<Locale>,
    input: impl BufRead + Send + 'static,
    mut output: impl Write,
    prompt: bool,
) -> io::Result<()> {
    let lines = read_lines(input);
    let mut open = Choices::default();
    let show_prompt = |output: &mut dyn Write| -> io::Result<()> {
        if prompt {
            write!(output, "> ")?;
            output.flush()?;
        }
        Ok(())
    };
    deliver_due(scheduler, clock, user, &mut open, &mut output)?;
    show_prompt(&mut output)?;
    loop {
        let line = match lines.recv_timeout(TICK) {
            Ok(line) => line?,
            Err(RecvTimeoutError::Timeout) => {
                if deliver_due(scheduler, clock, user, &mut open, &mut output)? {
                    show_prompt(&mut output)?;
                }
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => return Ok(()),
        };
        if let Some(shift) = line.trim().strip_prefix("/_time") {
            move_clock(clock, shift.trim(), &mut output)?;
        } else {
            let picked = line
                .trim()
                .parse::<usize>()
                .ok()
                .and_then(|n| open.answer(n, clock.now()));
            let body = match picked {
                Some((data, _)) => Body::Button(data),
                None => Body::Text(line),
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
            print_replies(&outcome.replies, clock, &mut open, &mut output)?;
        }
        deliver_due(scheduler, clock, user, &mut open, &mut output)?;
        show_prompt(&mut output)?;
    }
}

/// The input's lines, read on a thread of their own; the channel closes at the end.
fn read_lines(input: impl BufRead + Send + 'static) -> Receiver<io::Result<String>> {
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in input.lines() {
            let failed = line.is_err();
            if send.send(line).is_err() || failed {
                break;
            }
        }
    });
    receive
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

/// Fires what is due and prints this person's queued messages, oldest first; whether
/// anything was printed.
fn deliver_due(
    scheduler: &Scheduler,
    clock: &dyn Clock,
    user: &UserKey,
    open: &mut Choices,
    output: &mut impl Write,
) -> io::Result<bool> {
    let store = scheduler.store();
    if let Err(e) = scheduler.run_due(clock.now()) {
        tracing::error!(error = %e, "scheduler pass failed");
    }
    let items = match store.outbox_items(usize::MAX) {
        Ok(items) => items,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the outbox");
            return Ok(false);
        }
    };
    let (keys, replies): (Vec<_>, Vec<Reply>) = items
        .into_iter()
        .filter(|(_, i)| i.user == *user)
        .map(|(key, item)| (key, item.reply))
        .unzip();
    print_replies(&replies, clock, open, output)?;
    for key in &keys {
        if let Err(e) = store.outbox_remove(key) {
            tracing::error!(error = %e, "cannot update the outbox");
        }
    }
    Ok(!keys.is_empty())
}

/// Prints replies shown together, their buttons as the numbers that now answer them.
fn print_replies(
    replies: &[Reply],
    clock: &dyn Clock,
    open: &mut Choices,
    output: &mut impl Write,
) -> io::Result<()> {
    open.offer(replies, clock.now());
    for (reply, first) in replies.iter().zip(numbering(replies)) {
        writeln!(output, "{}", reply.text)?;
        let mut number = first.unwrap_or(1);
        for row in &reply.buttons {
            let labels: Vec<String> = row
                .iter()
                .map(|b| {
                    number += 1;
                    format!("[{}] {}", number - 1, b.label)
                })
                .collect();
            writeln!(output, "  {}", labels.join("   "))?;
        }
        writeln!(output)?;
    }
    Ok(())
}
