//! Invite codes: links and QR codes, expiry, use limits, revocation, and enrollment
//! through `/start <code>` with an alias and the crisis-text choice.

mod common;

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use waypoint::app::App;
use waypoint::config::Config;
use waypoint::engine::{Body, ChatKind, Engine, Inbound, Reply, Stored, UserRecord};
use waypoint::enroll::{self, Invite, Role};
use waypoint::locale::Locale;
use waypoint::store::Store;
use waypoint::user::{Channel, UserKey};

const CONFIG: &str = r#"
[[program]]
id = "evening"
name = "Evening group"
timezone = "America/New_York"
[[program.session]]
cron = "0 18 * * MON,WED,THU"
"#;

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-30T15:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

struct Clinic {
    _dir: tempfile::TempDir,
    store: Store,
    app: App,
}

impl Clinic {
    fn new() -> Clinic {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let config = Config::parse(Path::new("test.toml"), CONFIG).unwrap();
        let app = App::new(
            Engine::new(common::content(), config.settings),
            Arc::new(store.clone()),
        );
        Clinic {
            _dir: dir,
            store,
            app,
        }
    }

    fn invite(&self, role: Role, expires: Option<Duration>, uses: Option<u32>) -> String {
        let code = enroll::new_code().unwrap();
        let invite = Invite {
            program: "evening".into(),
            role,
            created: t0(),
            expires: expires.map(|d| t0() + d),
            max_uses: uses,
            uses: 0,
            revoked: false,
        };
        self.store.put_invite(&code, &invite).unwrap();
        code
    }

    fn send(&self, who: &str, body: Body) -> Vec<Reply> {
        self.app
            .handle(&Inbound {
                user: user(who),
                at: t0(),
                language: Some(Locale::En),
                chat: ChatKind::Private,
                body,
                sender: None,
            })
            .replies
    }

    fn text(&self, who: &str, text: &str) -> Vec<Reply> {
        self.send(who, Body::Text(text.into()))
    }

    /// `/start <code>`, then "I agree" (whatever button carries the code).
    fn join(&self, who: &str, code: &str) -> Vec<Reply> {
        let welcome = self.text(who, &format!("/start {code}"));
        let agree = welcome
            .iter()
            .flat_map(|r| r.buttons.iter().flatten())
            .find(|b| b.label == "I agree")
            .expect("consent button")
            .data
            .clone();
        let mut replies = welcome;
        replies.extend(self.send(who, Body::Button(agree)));
        replies
    }

    fn record(&self, who: &str) -> Option<UserRecord> {
        match self.store.load(&user(who)).unwrap() {
            Stored::Found(r) => Some(r),
            _ => None,
        }
    }
}

fn user(who: &str) -> UserKey {
    UserKey::new(Channel::Telegram, who)
}

fn texts(replies: &[Reply]) -> String {
    replies
        .iter()
        .map(|r| r.text.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_qr_code_decodes_to_the_deep_link() {
    let dir = tempfile::tempdir().unwrap();
    let code = enroll::new_code().unwrap();
    let link = enroll::deep_link("@waypoint_demo_bot", &code);
    assert_eq!(link, format!("https://t.me/waypoint_demo_bot?start={code}"));
    let path = dir.path().join("invite.png");
    enroll::write_qr_png(&link, &path).unwrap();
    let image = image::open(&path).unwrap().to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(image);
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1);
    let (_, content) = grids[0].decode().unwrap();
    assert_eq!(content, link);
}

#[test]
fn a_valid_code_enrolls_with_an_alias_and_the_crisis_text_choice() {
    let clinic = Clinic::new();
    let code = clinic.invite(Role::Participant, Some(Duration::days(14)), None);
    // Nothing is stored before consent, even with a valid code.
    clinic.text("100", &format!("/start {code}"));
    assert!(clinic.record("100").is_none());
    let replies = clinic.join("100", &code);
    assert!(texts(&replies).contains("You're enrolled in Evening group."));
    let replies = clinic.send("100", Body::Button("tz:America/New_York".into()));
    assert!(
        texts(&replies).contains("What name should your care team see"),
        "{}",
        texts(&replies)
    );
    // A question is not a name.
    let replies = clinic.text("100", "how long is the program?");
    assert!(texts(&replies).contains("just a first name or initials"));
    let replies = clinic.text("100", "Ana R.");
    let share = &replies[0].buttons[0];
    assert_eq!(share[0].label, "No, just alert them");
    let replies = clinic.send("100", Body::Button(share[0].data.clone()));
    assert!(texts(&replies).contains("\"Ana R.\""));
    let record = clinic.record("100").unwrap();
    assert_eq!(record.program.as_deref(), Some("evening"));
    assert_eq!(record.alias.as_deref(), Some("Ana R."));
    assert!(record.care_team_consent && !record.share_crisis_text);
    assert!(record.discharged_on.is_none());
    assert!(!record.jobs.is_empty(), "session reminders are scheduled");
}

#[test]
fn an_alumnus_code_starts_the_check_in_ladder() {
    let clinic = Clinic::new();
    let code = clinic.invite(Role::Alumnus, None, Some(1));
    clinic.join("200", &code);
    let record = clinic.record("200").unwrap();
    assert_eq!(record.discharged_on, Some(t0().date_naive()));
    // New York's zone is set only later; the check-in is planned once it is.
    clinic.send("200", Body::Button("tz:America/New_York".into()));
    let record = clinic.record("200").unwrap();
    assert!(
        record
            .jobs
            .iter()
            .any(|j| j.kind == waypoint::engine::JobKind::Checkin)
    );
}

#[test]
fn used_up_expired_revoked_and_unknown_codes_enroll_no_one_and_say_why() {
    let clinic = Clinic::new();
    let once = clinic.invite(Role::Participant, None, Some(1));
    clinic.join("300", &once);
    assert!(clinic.record("300").unwrap().program.is_some());
    let replies = clinic.join("301", &once);
    assert!(
        texts(&replies).contains("already been used"),
        "{}",
        texts(&replies)
    );
    assert!(clinic.record("301").unwrap().program.is_none());

    let expired = clinic.invite(Role::Participant, Some(Duration::seconds(-1)), None);
    let replies = clinic.text("302", &format!("/start {expired}"));
    assert!(texts(&replies).contains("has expired"));
    // The welcome still comes, without the code on the consent button.
    assert!(
        replies
            .iter()
            .flat_map(|r| r.buttons.iter().flatten())
            .all(|b| !b.data.contains(&expired))
    );

    let revoked = clinic.invite(Role::Participant, None, None);
    assert!(clinic.store.revoke_invite(&revoked).unwrap());
    assert!(!clinic.store.revoke_invite("NoSuchCode123").unwrap());
    let replies = clinic.join("303", &revoked);
    assert!(texts(&replies).contains("isn't one I know"));
    assert!(clinic.record("303").unwrap().program.is_none());

    let replies = clinic.text("304", "/start Zz9Zz9Zz9Zz9Zz9Z");
    assert!(texts(&replies).contains("isn't one I know"));

    // Someone already set up who uses a code later is enrolled then.
    let code = clinic.invite(Role::Participant, None, None);
    let replies = clinic.text("303", &format!("/start {code}"));
    assert!(texts(&replies).contains("You're enrolled in Evening group."));
    assert_eq!(
        clinic.record("303").unwrap().program.as_deref(),
        Some("evening")
    );
}

#[test]
fn invite_refuses_out_of_range_expiry_and_zero_uses_with_clear_errors() {
    let data = tempfile::tempdir().unwrap();
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/waypoint.example.toml");
    let invite = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_waypoint"))
            .env("WAYPOINT_MASTER_KEY", common::MASTER_KEY_HEX)
            .args(["--config", config, "--data"])
            .arg(data.path())
            .args(["invite", "--program", "morning"])
            .args(extra)
            .output()
            .unwrap()
    };
    for (args, says) in [
        (&["--expires", "100000000d"][..], "--expires"),
        (&["--expires", "999999999999d"][..], "--expires"),
        (&["--expires", "0m"][..], "--expires"),
        (&["--uses", "0"][..], "--uses"),
    ] {
        let out = invite(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(if args[0] == "--uses" { 2 } else { 1 }),
            "{args:?}: {stderr}"
        );
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    let out = invite(&["--expires", "365d", "--uses", "1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn an_unlimited_invite_used_without_end_never_overflows_its_count() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with_key(dir.path(), common::master_key()).unwrap();
    let invite = Invite {
        program: "evening".into(),
        role: Role::Participant,
        created: common::t0(),
        expires: None,
        max_uses: None,
        uses: u32::MAX,
        revoked: false,
    };
    store.put_invite("UNLIMITEDCODE1", &invite).unwrap();
    for _ in 0..2 {
        let status = store.redeem_invite("UNLIMITEDCODE1", common::t0()).unwrap();
        assert!(
            matches!(status, enroll::InviteStatus::Valid { .. }),
            "{status:?}"
        );
    }
}
