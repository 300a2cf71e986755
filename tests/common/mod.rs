//! Test support: an app on a temporary store with a manual clock, and `check`, which runs
//! a conversation transcript written as data.
#![allow(dead_code)] // each test binary uses a different part of this module

pub mod bot_api;
pub mod twilio;

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use waypoint::app::{App, Records};
use waypoint::clock::{Clock, ManualClock};
use waypoint::content::Content;
use waypoint::engine::{Body, ChatKind, Engine, Inbound, Outcome, Reply, Settings};
use waypoint::locale::Locale;
use waypoint::store::Store;
use waypoint::user::{Channel, UserKey};

pub fn messages_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("messages")
}

pub fn content() -> Arc<Content> {
    Arc::new(
        Content::load(&messages_dir())
            .unwrap_or_else(|e| panic!("shipped content is invalid:\n{e}")),
    )
}

pub fn engine() -> Engine {
    Engine::new(content(), Settings::default())
}

pub fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-24T15:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// One person talking to an app backed by a real sled store in a temporary directory.
pub struct Conversation {
    pub dir: tempfile::TempDir,
    pub store: Store,
    pub app: App,
    pub clock: ManualClock,
    pub user: UserKey,
    pub language: Option<Locale>,
    pub chat: ChatKind,
    pub last: Vec<Reply>,
    pub last_outcome: Option<Outcome>,
}

impl Conversation {
    pub fn new() -> Self {
        Self::with_settings(Settings::default())
    }

    pub fn with_settings(settings: Settings) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let app = App::new(Engine::new(content(), settings), Arc::new(store.clone()));
        Self::assemble(dir, store, app)
    }

    pub fn with_records(records: Arc<dyn Records>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let app = App::new(engine(), records);
        Self::assemble(dir, store, app)
    }

    fn assemble(dir: tempfile::TempDir, store: Store, app: App) -> Self {
        Self {
            dir,
            store,
            app,
            clock: ManualClock::new(t0()),
            user: UserKey::new(Channel::Telegram, "4242"),
            language: Some(Locale::En),
            chat: ChatKind::Private,
            last: Vec::new(),
            last_outcome: None,
        }
    }

    pub fn deliver(&mut self, body: Body) -> &[Reply] {
        let inbound = Inbound {
            user: self.user.clone(),
            at: self.clock.now(),
            language: self.language,
            chat: self.chat,
            body,
            sender: None,
        };
        let outcome = self.app.handle(&inbound);
        self.last = outcome.replies.clone();
        self.last_outcome = Some(outcome);
        &self.last
    }

    pub fn send(&mut self, text: &str) -> &[Reply] {
        self.deliver(Body::Text(text.to_string()))
    }

    /// Presses the button (from the last replies) whose label contains `label`.
    pub fn press(&mut self, label: &str) -> &[Reply] {
        let data = self
            .last
            .iter()
            .flat_map(|r| r.buttons.iter().flatten())
            .find(|b| b.label.contains(label))
            .unwrap_or_else(|| panic!("no button {label:?} in {:#?}", self.last))
            .data
            .clone();
        self.deliver(Body::Button(data))
    }

    pub fn said(&self) -> String {
        self.last
            .iter()
            .map(|r| r.text.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn labels(&self) -> Vec<String> {
        self.last
            .iter()
            .flat_map(|r| r.buttons.iter().flatten())
            .map(|b| b.label.clone())
            .collect()
    }

    pub fn route(&self) -> &'static str {
        self.last_outcome
            .as_ref()
            .map(|o| o.route.name())
            .unwrap_or("")
    }

    /// Runs a transcript. Lines:
    /// `> text` sends text; `* label` presses a button; `< text` the replies contain text;
    /// `! text` the replies do not contain it; `[label]` a button with that label is shown;
    /// `= route` the last message took that route; `#` starts a comment.
    pub fn check(&mut self, script: &str) {
        for (n, raw) in script.lines().enumerate() {
            let line = raw.trim();
            let at = || {
                format!(
                    "transcript line {}: {line}\nlast replies: {}\nbuttons: {:?}",
                    n + 1,
                    self.said(),
                    self.labels()
                )
            };
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(text) = line.strip_prefix("> ") {
                self.send(text);
            } else if line == ">" {
                self.send("");
            } else if let Some(label) = line.strip_prefix("* ") {
                self.press(label);
            } else if let Some(text) = line.strip_prefix("< ") {
                assert!(self.said().contains(text), "{}", at());
            } else if let Some(text) = line.strip_prefix("! ") {
                assert!(!self.said().contains(text), "{}", at());
            } else if let Some(route) = line.strip_prefix("= ") {
                assert_eq!(self.route(), route, "{}", at());
            } else if let Some(label) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                assert!(self.labels().iter().any(|l| l.contains(label)), "{}", at());
            } else {
                panic!("bad transcript line {}: {line}", n + 1);
            }
        }
    }
}

/// Consented Telegram people (one per chat id) whose check-in is due at `due`, written
/// straight into the store at `data` (closed again on return): the burst a scheduler
/// fires at start.
pub fn people_due_for_checkin(data: &std::path::Path, chats: &[i64], due: DateTime<Utc>) {
    use waypoint::engine::{Job, JobKind, Stored};
    let store = Store::open(data).unwrap();
    let app = App::new(engine(), Arc::new(store.clone()));
    for chat in chats {
        let user = UserKey::new(Channel::Telegram, chat.to_string());
        for data in ["c:y:en", "tz:America/New_York"] {
            app.handle(&Inbound {
                user: user.clone(),
                at: due - chrono::Duration::days(30),
                language: Some(Locale::En),
                chat: ChatKind::Private,
                body: Body::Button(data.into()),
                sender: None,
            });
        }
        let Stored::Found(mut record) = store.load(&user).unwrap() else {
            panic!("consent did not store a record");
        };
        record.discharged_on = Some(due.date_naive() - chrono::Duration::days(7));
        record.jobs = vec![Job {
            at: chrono::SubsecRound::trunc_subsecs(due, 0),
            kind: JobKind::Checkin,
        }];
        store.save(&user, &record, false).unwrap();
    }
    store.flush().unwrap();
}
