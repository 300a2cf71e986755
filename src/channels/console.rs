//! The terminal channel: `waypoint chat`. Typed lines are messages; buttons print as
//! numbered choices and typing the number presses the button. Works with piped input, so
//! whole conversations can be scripted.

use std::io::{self, BufRead, Write};

use crate::app::App;
use crate::clock::Clock;
use crate::engine::{Body, Button, ChatKind, Inbound};
use crate::locale::Locale;
use crate::user::UserKey;

/// Runs a conversation until the input ends.
pub fn run(
    app: &App,
    clock: &dyn Clock,
    user: &UserKey,
    language: Option<Locale>,
    input: impl BufRead,
    mut output: impl Write,
    prompt: bool,
) -> io::Result<()> {
    let mut buttons: Vec<Button> = Vec::new();
    if prompt {
        write!(output, "> ")?;
        output.flush()?;
    }
    for line in input.lines() {
        let line = line?;
        let body = match line.trim().parse::<usize>() {
            Ok(n) if (1..=buttons.len()).contains(&n) => Body::Button(buttons[n - 1].data.clone()),
            _ => Body::Text(line),
        };
        let inbound = Inbound {
            user: user.clone(),
            at: clock.now(),
            language,
            chat: ChatKind::Private,
            body,
        };
        let outcome = app.handle(&inbound);
        buttons.clear();
        for reply in &outcome.replies {
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
            writeln!(output)?;
        }
        if prompt {
            write!(output, "> ")?;
            output.flush()?;
        }
    }
    Ok(())
}
