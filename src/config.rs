//! The configuration file (`waypoint.toml`): clinic settings that are not content.
//!
//! Every problem names the file, the line and the field. Secrets never live here: the bot
//! token comes from the environment only.

use std::path::{Path, PathBuf};

use chrono_tz::Tz;
use serde::Deserialize;
use toml::Spanned;

use crate::diagnostic::{Diagnostic, Diagnostics, line_of};
use crate::engine::{Resources, Settings};
use crate::locale::Locale;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    bot: BotSection,
    #[serde(default)]
    resources: ResourcesSection,
    #[serde(default)]
    telegram: TelegramSection,
    #[serde(default)]
    faq: FaqSection,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FaqSection {
    clinic_file: Option<PathBuf>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct BotSection {
    default_language: Option<Spanned<String>>,
    default_timezone: Option<Spanned<String>>,
    timezone_choices: Option<Spanned<Vec<String>>>,
    data_dir: Option<PathBuf>,
    messages_dir: Option<PathBuf>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ResourcesSection {
    emergency: Option<Spanned<String>>,
    lifeline: Option<Spanned<String>>,
    text_line: Option<Spanned<String>>,
    helpline: Option<Spanned<String>>,
    poison: Option<Spanned<String>>,
    clinic_line: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct TelegramSection {
    api_url: Option<Spanned<String>>,
}

/// The validated configuration.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub settings: Settings,
    pub data_dir: Option<PathBuf>,
    pub messages_dir: Option<PathBuf>,
    pub api_url: Option<String>,
    /// The clinic's own FAQ entries (same format as `messages/<locale>/faq.toml`, with a
    /// `locale` on each item); relative paths are read from the working directory.
    pub faq_clinic_file: Option<PathBuf>,
}

impl Config {
    /// Reads and validates `path`, reporting every problem at once.
    pub fn load(path: &Path) -> Result<Config, Diagnostics> {
        let source = std::fs::read_to_string(path).map_err(|e| {
            Diagnostics(vec![Diagnostic::new(
                path,
                None,
                "file",
                format!("cannot read: {e}"),
            )])
        })?;
        Config::parse(path, &source)
    }

    pub fn parse(path: &Path, source: &str) -> Result<Config, Diagnostics> {
        let file: ConfigFile = toml::from_str(source)
            .map_err(|e| Diagnostics(vec![Diagnostic::from_toml(path, source, &e)]))?;
        let mut problems = Vec::new();
        let mut problem = |span: std::ops::Range<usize>, field: &str, text: String| {
            problems.push(Diagnostic::new(
                path,
                Some(line_of(source, span.start)),
                field,
                text,
            ));
        };
        let mut settings = Settings::default();
        if let Some(lang) = &file.bot.default_language {
            match Locale::from_tag(lang.get_ref()) {
                Some(l) => settings.default_locale = l,
                None => problem(
                    lang.span(),
                    "bot.default_language",
                    format!(
                        "unsupported language {:?} (use \"en\" or \"es\")",
                        lang.get_ref()
                    ),
                ),
            }
        }
        if let Some(tz) = &file.bot.default_timezone {
            match tz.get_ref().parse::<Tz>() {
                Ok(t) => settings.default_timezone = t,
                Err(_) => problem(
                    tz.span(),
                    "bot.default_timezone",
                    format!(
                        "unknown IANA time zone {:?} (e.g. \"America/Chicago\")",
                        tz.get_ref()
                    ),
                ),
            }
        }
        if let Some(list) = &file.bot.timezone_choices {
            let mut zones = Vec::new();
            for name in list.get_ref() {
                match name.parse::<Tz>() {
                    Ok(t) => zones.push(t),
                    Err(_) => problem(
                        list.span(),
                        "bot.timezone_choices",
                        format!("unknown IANA time zone {name:?}"),
                    ),
                }
            }
            settings.timezone_choices = zones;
        }
        let r = &file.resources;
        let mut resources = Resources::default();
        for (field, value, slot) in [
            (
                "resources.emergency",
                &r.emergency,
                &mut resources.emergency,
            ),
            ("resources.lifeline", &r.lifeline, &mut resources.lifeline),
            (
                "resources.text_line",
                &r.text_line,
                &mut resources.text_line,
            ),
            ("resources.helpline", &r.helpline, &mut resources.helpline),
            ("resources.poison", &r.poison, &mut resources.poison),
        ] {
            if let Some(v) = value {
                if is_phone_like(v.get_ref()) {
                    *slot = v.get_ref().trim().to_string();
                } else {
                    problem(
                        v.span(),
                        field,
                        format!("{:?} is not a phone number or short code", v.get_ref()),
                    );
                }
            }
        }
        if let Some(v) = &r.clinic_line {
            if is_phone_like(v.get_ref()) {
                resources.clinic_line = Some(v.get_ref().trim().to_string());
            } else {
                problem(
                    v.span(),
                    "resources.clinic_line",
                    format!("{:?} is not a phone number", v.get_ref()),
                );
            }
        }
        settings.resources = resources;
        let api_url = match &file.telegram.api_url {
            Some(url)
                if url.get_ref().starts_with("http://")
                    || url.get_ref().starts_with("https://") =>
            {
                Some(url.get_ref().clone())
            }
            Some(url) => {
                problem(
                    url.span(),
                    "telegram.api_url",
                    format!("{:?} must start with http:// or https://", url.get_ref()),
                );
                None
            }
            None => None,
        };
        if !problems.is_empty() {
            return Err(Diagnostics(problems));
        }
        Ok(Config {
            settings,
            data_dir: file.bot.data_dir,
            messages_dir: file.bot.messages_dir,
            api_url,
            faq_clinic_file: file.faq.clinic_file,
        })
    }
}

/// Digits with the usual separators, at least three digits: "911", "1-800-662-4357".
fn is_phone_like(s: &str) -> bool {
    let s = s.trim();
    s.chars().filter(|c| c.is_ascii_digit()).count() >= 3
        && s.chars()
            .all(|c| c.is_ascii_digit() || " +-().".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_good_file_sets_everything() {
        let cfg = Config::parse(
            Path::new("w.toml"),
            "[bot]\ndefault_language = \"es\"\ndefault_timezone = \"America/Chicago\"\n[resources]\nclinic_line = \"(555) 010-0100\"\n",
        )
        .unwrap();
        assert_eq!(cfg.settings.default_locale, Locale::Es);
        assert_eq!(cfg.settings.default_timezone, chrono_tz::America::Chicago);
        assert_eq!(
            cfg.settings.resources.clinic_line.as_deref(),
            Some("(555) 010-0100")
        );
        assert_eq!(cfg.settings.resources.lifeline, "988");
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let err = Config::parse(
            Path::new("w.toml"),
            "[bot]\ndefault_language = \"en\"\ndefault_timezone = \"Mars/Base\"\n\n[resources]\npoison = \"call mom\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("w.toml:3: bot.default_timezone: unknown IANA time zone \"Mars/Base\""),
            "{err}"
        );
        assert!(err.contains("w.toml:6: resources.poison"), "{err}");
    }

    #[test]
    fn unknown_fields_and_bad_syntax_are_located() {
        let err = Config::parse(Path::new("w.toml"), "[bot]\ntimezone = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("w.toml:2:"), "{err}");
        assert!(err.contains("timezone"), "{err}");
        let err = Config::parse(Path::new("w.toml"), "[bot\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("w.toml:1:"), "{err}");
    }
}
