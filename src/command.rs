//! Slash commands as people type them: `/name`, `/name@bot_username`, `/name args…`.
//! Parsed here once, for the engine, the staff desk and the channels.

/// A parsed slash command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command<'a> {
    /// Lower case, without the `@bot` Telegram adds in groups.
    pub name: String,
    /// Everything after the name, trimmed.
    pub args: &'a str,
}

impl<'a> Command<'a> {
    /// The command in `text`, if `text` (leading spaces aside) starts with `/`.
    pub fn parse(text: &'a str) -> Option<Command<'a>> {
        let rest = text.trim().strip_prefix('/')?;
        let (head, args) = rest
            .split_once(char::is_whitespace)
            .map_or((rest, ""), |(head, args)| (head, args.trim()));
        let name = head.split('@').next().unwrap_or(head).to_lowercase();
        Some(Command { name, args })
    }

    /// The arguments, word by word.
    pub fn words(&self) -> impl Iterator<Item = &'a str> {
        self.args.split_whitespace()
    }
}

/// Whether `text` is a slash command.
pub fn is_command(text: &str) -> bool {
    text.trim_start().starts_with('/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_arguments_and_the_bot_suffix() {
        let c = Command::parse("  /Start@waypoint_bot  ABC-123  extra ").unwrap();
        assert_eq!(c.name, "start");
        assert_eq!(c.args, "ABC-123  extra");
        assert_eq!(c.words().collect::<Vec<_>>(), ["ABC-123", "extra"]);
        let bare = Command::parse("/privacy").unwrap();
        assert_eq!((bare.name.as_str(), bare.args), ("privacy", ""));
        assert_eq!(Command::parse("/").unwrap().name, "");
        assert_eq!(Command::parse("hello /start"), None);
        assert!(is_command(" /help") && !is_command("help /"));
    }
}
