//! `waypoint backup` and `waypoint restore`: a round trip keeps every tree byte for byte;
//! a damaged or foreign file, or a directory that already holds data, is refused with a
//! clear error and changes nothing.

mod common;

use std::process::Command;

use chrono::{DateTime, Utc};
use waypoint::engine::{Body, Stored};
use waypoint::enroll::{Invite, InviteStatus, Role};
use waypoint::store::{BackupError, Outgoing, Priority, Store};
use waypoint::user::{Channel, UserKey};

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// A store with people on two channels, an invite, an opt-out and a queued message.
fn populated(dir: &std::path::Path) -> Store {
    let store = Store::open_with_key(dir, common::master_key()).unwrap();
    let app = waypoint::app::App::new(common::engine(), std::sync::Arc::new(store.clone()));
    for user in [
        UserKey::new(Channel::Telegram, "1001"),
        UserKey::new(Channel::Sms, "+15551230001"),
    ] {
        // Consent counts as the answer to the question /start asks.
        for body in [
            Body::Text("/start".into()),
            Body::Button("c:y:en".into()),
            Body::Button("tz:America/Chicago".into()),
        ] {
            app.handle(&waypoint::engine::Inbound {
                user: user.clone(),
                at: utc("2026-11-30T15:00:00Z"),
                language: None,
                chat: waypoint::engine::ChatKind::Private,
                body,
                sender: None,
            });
        }
    }
    store
        .put_invite(
            "EVENINGCODE123",
            &Invite {
                program: "evening".into(),
                role: Role::Participant,
                created: utc("2026-11-30T15:00:00Z"),
                expires: None,
                max_uses: Some(3),
                uses: 1,
                revoked: false,
            },
        )
        .unwrap();
    store
        .set_opted_out(
            &UserKey::new(Channel::Sms, "+15559990000"),
            true,
            utc("2026-11-30T15:00:00Z"),
        )
        .unwrap();
    let reply = waypoint::engine::Reply {
        text: "queued".into(),
        buttons: Vec::new(),
        urgent: false,
    };
    store
        .enqueue(&[Outgoing::new(
            UserKey::new(Channel::Telegram, "1001"),
            reply,
            Priority::Reply,
        )])
        .unwrap();
    store
}

fn bytes_of(store: &Store) -> Vec<u8> {
    let mut out = Vec::new();
    store.backup(&mut out).unwrap();
    out
}

#[test]
fn a_round_trip_keeps_every_tree() {
    let a = tempfile::tempdir().unwrap();
    let original = populated(a.path());
    let backup = bytes_of(&original);

    let b = tempfile::tempdir().unwrap();
    let target = b.path().join("restored");
    let summary = Store::restore(&target, backup.as_slice()).unwrap();
    // Two records, the salt, an invite, an opt-out, a queued message.
    assert!(summary.trees >= 6 && summary.entries >= 6, "{summary:?}");
    let restored = Store::open_with_key(&target, common::master_key()).unwrap();
    // Byte for byte, every tree: the restored store backs up to the same trees (the id
    // counter at the end — `I`, 8 bytes, `Z`, the checksum — only moves forward).
    let trees = |b: &[u8]| b[..b.len() - 42].to_vec();
    let counter = |b: &[u8]| u64::from_be_bytes(b[b.len() - 41..b.len() - 33].try_into().unwrap());
    let again = bytes_of(&restored);
    assert_eq!(trees(&again), trees(&backup));
    assert!(counter(&again) >= counter(&backup));
    // And it means the same: records, the log salt, invites, the opt-out, the outbox.
    for user in [
        UserKey::new(Channel::Telegram, "1001"),
        UserKey::new(Channel::Sms, "+15551230001"),
    ] {
        assert_eq!(restored.load(&user).unwrap(), original.load(&user).unwrap());
        assert!(matches!(restored.load(&user).unwrap(), Stored::Found(_)));
    }
    assert_eq!(restored.log_salt(), original.log_salt());
    assert!(matches!(
        restored
            .peek_invite("EVENINGCODE123", utc("2026-12-01T00:00:00Z"))
            .unwrap(),
        InviteStatus::Valid { .. }
    ));
    assert!(
        restored
            .is_opted_out(&UserKey::new(Channel::Sms, "+15559990000"))
            .unwrap()
    );
    assert_eq!(restored.outbox_len(), 1);
}

#[test]
fn damaged_foreign_or_misplaced_restores_are_refused_and_write_nothing() {
    let a = tempfile::tempdir().unwrap();
    let backup = bytes_of(&populated(a.path()));
    let b = tempfile::tempdir().unwrap();

    let mut flipped = backup.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x20;
    let target = b.path().join("one");
    let err = Store::restore(&target, flipped.as_slice()).unwrap_err();
    assert!(matches!(err, BackupError::Damaged(_)), "{err}");
    assert!(err.to_string().contains("checksum"), "{err}");
    assert!(!target.exists(), "nothing written");

    let cut = &backup[..backup.len() - 40];
    let err = Store::restore(&b.path().join("two"), cut).unwrap_err();
    assert!(matches!(err, BackupError::Damaged(_)), "{err}");

    let err = Store::restore(&b.path().join("three"), &b"hello, world"[..]).unwrap_err();
    assert!(matches!(err, BackupError::NotABackup), "{err}");

    // Never over a store that holds data.
    let err = Store::restore(a.path(), backup.as_slice()).unwrap_err();
    assert!(matches!(err, BackupError::NotEmpty(_)), "{err}");
}

#[test]
fn the_commands_round_trip_through_files() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    drop(populated(&data));
    let file = dir.path().join("waypoint.backup");
    let waypoint = |args: &[&str], data: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_waypoint"))
            .env("WAYPOINT_MASTER_KEY", common::MASTER_KEY_HEX)
            .arg("--data")
            .arg(data)
            .args(args)
            .output()
            .unwrap()
    };
    let out = waypoint(&["backup", file.to_str().unwrap()], &data);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("backed up"));
    let restored = dir.path().join("restored");
    let out = waypoint(&["restore", file.to_str().unwrap()], &restored);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stats =
        |d: &std::path::Path| String::from_utf8_lossy(&waypoint(&["stats"], d).stdout).to_string();
    assert_eq!(stats(&data), stats(&restored));
    // Restoring again over the restored store is refused, naming the directory.
    let out = waypoint(&["restore", file.to_str().unwrap()], &restored);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already holds data"));
}

#[test]
fn a_restored_store_carries_on_numbering_alerts_and_messages() {
    use waypoint::engine::state::EscalationReason;
    use waypoint::store::Alert;
    let a = tempfile::tempdir().unwrap();
    let alert = |user: &str| Alert {
        id: 0,
        user: UserKey::new(Channel::Telegram, user),
        alias: "J.".into(),
        program: None,
        reason: EscalationReason::Crisis,
        at: utc("2026-11-30T15:00:00Z"),
        text: None,
        claimed_by: None,
        done: false,
        posted: false,
    };
    // A store that has been restarted: sled's id counter has jumped ahead.
    drop(populated(a.path()));
    let store = Store::open_with_key(a.path(), common::master_key()).unwrap();
    store.add_alerts(vec![alert("1")]).unwrap();
    let scheduled = Outgoing::new(
        UserKey::new(Channel::Telegram, "1"),
        waypoint::engine::Reply {
            text: "later".into(),
            buttons: Vec::new(),
            urgent: false,
        },
        Priority::Scheduled,
    );
    store.enqueue(&[scheduled]).unwrap();
    let backup = bytes_of(&store);
    drop(store);

    let b = tempfile::tempdir().unwrap();
    let target = b.path().join("restored");
    Store::restore(&target, backup.as_slice()).unwrap();
    let restored = Store::open_with_key(&target, common::master_key()).unwrap();
    restored.add_alerts(vec![alert("2")]).unwrap();
    assert_eq!(
        restored.alerts().unwrap().len(),
        2,
        "the old alert is not overwritten"
    );
    restored.flush().unwrap();
    for (key, _) in restored.outbox_items(usize::MAX).unwrap() {
        assert!(restored.is_durable(&key), "restored messages can be sent");
    }
    assert!(!b.path().join("restored.restoring").exists());
}

#[test]
fn a_backup_is_still_sealed_and_opens_only_with_its_master_key() {
    let a = tempfile::tempdir().unwrap();
    let backup = bytes_of(&populated(a.path()));
    // The chat id, the phone number and an answer (the time zone) are nowhere in clear.
    for secret in ["1001", "+15551230001", "15551230001", "America/Chicago"] {
        assert!(
            !backup.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{secret} is readable in the backup"
        );
    }
    let b = tempfile::tempdir().unwrap();
    let target = b.path().join("restored");
    Store::restore(&target, backup.as_slice()).unwrap();
    let other = waypoint::store::crypto::Secret::random().unwrap();
    let err = Store::open_with_key(&target, other)
        .err()
        .expect("another key is refused");
    assert!(
        matches!(err, waypoint::store::StoreError::WrongMasterKey { .. }),
        "{err}"
    );
    // The restore command says so at once when no key that opens it is configured.
    let file = b.path().join("backup");
    std::fs::write(&file, &backup).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_waypoint"))
        .env_remove("WAYPOINT_MASTER_KEY")
        .env_remove("WAYPOINT_MASTER_KEY_FILE")
        .arg("--data")
        .arg(b.path().join("elsewhere"))
        .args(["restore", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no master key is configured"), "{stderr}");
    // With its key, it opens and means the same.
    let restored = Store::open_with_key(&target, common::master_key()).unwrap();
    assert!(matches!(
        restored
            .load(&UserKey::new(Channel::Telegram, "1001"))
            .unwrap(),
        Stored::Found(_)
    ));
}

#[test]
fn restore_builds_in_a_directory_of_its_own_and_never_deletes_a_sibling() {
    let a = tempfile::tempdir().unwrap();
    let backup = bytes_of(&populated(a.path()));
    let b = tempfile::tempdir().unwrap();
    // Directories that happen to share the target's stem: another store, a work folder.
    let target = b.path().join("store.v2.d");
    for sibling in [
        "store.v2.restoring",
        "store.v2.d.restoring",
        "store.v2.partial",
    ] {
        std::fs::create_dir(b.path().join(sibling)).unwrap();
        std::fs::write(b.path().join(sibling).join("keep"), sibling).unwrap();
    }
    let before: Vec<_> = names_in(b.path());
    Store::restore(&target, backup.as_slice()).unwrap();
    for sibling in [
        "store.v2.restoring",
        "store.v2.d.restoring",
        "store.v2.partial",
    ] {
        let kept = std::fs::read_to_string(b.path().join(sibling).join("keep")).unwrap();
        assert_eq!(kept, sibling);
    }
    // Nothing left behind but the restored store.
    let mut expected = before.clone();
    expected.push("store.v2.d".to_string());
    expected.sort();
    assert_eq!(names_in(b.path()), expected);
    // A failed restore leaves nothing either.
    let err = Store::restore(&b.path().join("other"), &backup[..backup.len() - 1]);
    assert!(err.is_err());
    assert_eq!(names_in(b.path()), expected);
}

fn names_in(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
