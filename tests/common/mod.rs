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

/// A fixed master key for tests that open one store from several places (a backup and
/// its restore, the binary and this process).
#[allow(dead_code)]
pub const MASTER_KEY_HEX: &str = "5e1f0c3a9b7d2e4f6a8c0b1d3e5f7a9c2b4d6e8f0a1c3e5b7d9f1a3c5e7b9d0f";

#[allow(dead_code)]
pub fn master_key() -> waypoint::store::crypto::Secret {
    waypoint::store::crypto::Secret::from_hex(MASTER_KEY_HEX, "tests").unwrap()
}

/// Opens the sled database under a store that was just dropped. sled lets go of its file
/// lock when its flusher thread ends, a moment after the drop: waits for that.
pub fn reopen_sled(dir: &std::path::Path) -> sled::Db {
    for _ in 0..200 {
        match sled::open(dir) {
            Ok(db) => return db,
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(25)),
        }
    }
    panic!("{} stays locked after its store was dropped", dir.display())
}

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

/// A fixed-offset zone where it is about noon at `now`: quiet hours (21:00 to 08:00
/// local) can then never hold a burst back, whatever time of day a test runs.
pub fn zone_at_noon(now: DateTime<Utc>) -> String {
    use chrono::Timelike;
    // "Etc/GMT-3" is three hours *ahead* of UTC (the POSIX sign convention).
    let ahead = 12 - i64::from(now.hour());
    match ahead {
        0 => "Etc/GMT".to_string(),
        a if a > 0 => format!("Etc/GMT-{a}"),
        a => format!("Etc/GMT+{}", -a),
    }
}

/// Consented Telegram people (one per chat id), enrolled through the app in a zone where
/// it is about noon, each an alumnus with one check-in due between half a minute before
/// `now` and a second after: the burst a scheduler fires at start. Written into the store
/// at `data` (closed again on return); returns each person's due check-in.
pub fn people_due_for_checkin(
    data: &std::path::Path,
    chats: &[i64],
    now: DateTime<Utc>,
) -> std::collections::BTreeMap<i64, waypoint::engine::Job> {
    use waypoint::engine::{Job, JobKind, Stored};
    let zone = zone_at_noon(now);
    let store = Store::open(data).unwrap();
    let app = App::new(engine(), Arc::new(store.clone()));
    let whole_second = chrono::SubsecRound::trunc_subsecs(now, 0);
    let mut due = std::collections::BTreeMap::new();
    for (n, &chat) in chats.iter().enumerate() {
        let user = UserKey::new(Channel::Telegram, chat.to_string());
        let start = Body::Text("/start".into());
        for body in [
            start,
            Body::Button("c:y:en".into()),
            Body::Button(format!("tz:{zone}")),
        ] {
            let outcome = app.handle(&Inbound {
                user: user.clone(),
                at: now,
                language: Some(Locale::En),
                chat: ChatKind::Private,
                body: body.clone(),
                sender: None,
            });
            assert!(!outcome.replies.is_empty(), "no reply to {body:?}");
        }
        let Stored::Found(mut record) = store.load(&user).unwrap() else {
            panic!("enrolling {chat} stored no record");
        };
        assert_eq!(record.timezone.as_deref(), Some(zone.as_str()));
        record.discharged_on = Some(now.date_naive() - chrono::Duration::days(3));
        let job = Job {
            at: whole_second + chrono::Duration::seconds(1 - (n % 32) as i64),
            kind: JobKind::Checkin,
        };
        record.jobs = vec![job.clone()];
        store.save(&user, &record, false).unwrap();
        due.insert(chat, job);
    }
    store.flush().unwrap();
    due
}
