//! Encryption at rest: what a reader of the data directory (or a backup) can and cannot
//! learn, crypto-shredding on `/forget`, per-person keys, key rotation, and the move of a
//! store written before encryption.

mod common;

use std::path::Path;
use std::process::Command;

use chrono::Duration;
use waypoint::engine::choices::Choices;
use waypoint::engine::state::EscalationReason;
use waypoint::engine::{Button, Job, JobKind, Reply, Stored, UserRecord};
use waypoint::locale::Locale;
use waypoint::store::crypto::Secret;
use waypoint::store::{Alert, Outgoing, Priority, Store, StoreError};
use waypoint::user::{Channel, UserKey};

const CHAT_ID: &str = "7391046251";
const PHONE: &str = "+15557654321";
const ALIAS: &str = "Marguerite-Q";
const MARKER: &str = "zebra-quokka-7731";

/// Everything a person can leave in the store: a record with an alias, a reminder and a
/// program, a crisis alert carrying their words, a queued message, offered choices and
/// an opt-out.
fn fill(store: &Store, user: &UserKey, words: &str) {
    let mut record = UserRecord::new(Locale::En, common::t0());
    record.alias = Some(format!("{ALIAS} {words}"));
    record.timezone = Some("America/Chicago".into());
    record.program = Some("evening".into());
    record.share_crisis_text = true;
    record.jobs.push(Job {
        at: common::t0() + Duration::hours(3),
        kind: JobKind::Reminder {
            session: common::t0() + Duration::hours(5),
        },
    });
    store.save(user, &record, true).unwrap();
    store
        .add_alerts(vec![Alert {
            id: 0,
            user: user.clone(),
            alias: format!("{ALIAS} {words}"),
            program: Some("evening".into()),
            reason: EscalationReason::Crisis,
            at: common::t0(),
            text: Some(format!("I can't go on {words}")),
            claimed_by: None,
            done: false,
            posted: false,
        }])
        .unwrap();
    let reply = Reply {
        text: format!("Group tonight {words}"),
        buttons: Vec::new(),
        urgent: false,
    };
    store
        .enqueue(&[Outgoing::new(user.clone(), reply, Priority::Scheduled)])
        .unwrap();
    let mut open = Choices::default();
    let question = Reply {
        text: String::new(),
        buttons: vec![vec![Button {
            label: "Going".into(),
            data: format!("r:{words}"),
        }]],
        urgent: false,
    };
    open.offer(&[question], common::t0());
    store.remember_choices(user, &open).unwrap();
    store.set_opted_out(user, true, common::t0()).unwrap();
    store.flush().unwrap();
}

/// Every file under `dir`, read whole.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
    }
    out
}

fn found_in(dir: &Path, needle: &str) -> Vec<String> {
    files(dir)
        .into_iter()
        .filter(|(_, bytes)| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
        .map(|(name, _)| name)
        .collect()
}

#[test]
fn without_the_master_key_the_data_directory_reveals_no_chat_id_alias_or_answer() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with_key(dir.path(), common::master_key()).unwrap();
    let telegram = UserKey::new(Channel::Telegram, CHAT_ID);
    let sms = UserKey::new(Channel::Sms, PHONE);
    fill(&store, &telegram, MARKER);
    fill(&store, &sms, MARKER);
    assert!(matches!(store.load(&telegram).unwrap(), Stored::Found(_)));
    drop(store);
    assert!(
        !dir.path().join("master.key").exists(),
        "a configured key is never written to the data directory"
    );
    for needle in [
        CHAT_ID,
        PHONE,
        &PHONE[1..],
        ALIAS,
        MARKER,
        "America/Chicago",
        "can't go on",
        "Group tonight",
        common::MASTER_KEY_HEX,
    ] {
        assert_eq!(
            found_in(dir.path(), needle),
            Vec::<String>::new(),
            "{needle}"
        );
    }
    // Not even the record's shape: no JSON field name of a record is in clear.
    for field in ["\"timezone\"", "\"alias\"", "\"share_crisis_text\""] {
        assert_eq!(found_in(dir.path(), field), Vec::<String>::new(), "{field}");
    }
}

#[test]
fn a_forgotten_persons_marker_is_nowhere_and_their_leftovers_cannot_be_opened() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let ana = UserKey::new(Channel::Telegram, CHAT_ID);
    let ben = UserKey::new(Channel::Telegram, "5550001");
    fill(&store, &ana, MARKER);
    fill(&store, &ben, "other-person");
    // What Ana's records look like on disk, kept as a thief would keep a copy.
    let leftovers = store.sealed_values_of(&ana).unwrap();
    assert!(leftovers.len() >= 4, "record, alert, message, choices");
    assert!(
        leftovers
            .iter()
            .all(|(tree, value)| store.opens(tree, value))
    );

    assert!(store.forget(&ana).unwrap() >= 6);
    store.flush().unwrap();
    assert!(store.keys_of(&ana).unwrap().is_empty());
    // Her data key is gone: her old values no longer open, even with the master key.
    assert!(
        leftovers
            .iter()
            .all(|(tree, value)| !store.opens(tree, value))
    );
    // Ben is untouched.
    assert!(matches!(store.load(&ben).unwrap(), Stored::Found(_)));
    assert_eq!(store.alerts().unwrap().len(), 1);
    drop(store);
    for needle in [MARKER, ALIAS, CHAT_ID] {
        assert_eq!(
            found_in(dir.path(), needle),
            Vec::<String>::new(),
            "{needle}"
        );
    }
}

#[test]
fn losing_one_data_key_costs_only_that_person() {
    let dir = tempfile::tempdir().unwrap();
    let ana = UserKey::new(Channel::Telegram, "1");
    let ben = UserKey::new(Channel::Telegram, "2");
    let ana_key = {
        let store = Store::open_with_key(dir.path(), common::master_key()).unwrap();
        fill(&store, &ana, MARKER);
        fill(&store, &ben, MARKER);
        let keys = store.keys_of(&ana).unwrap();
        keys.into_iter().find(|(tree, _)| tree == "keys").unwrap().1
    };
    // Her data key's record goes from the key files, as a damaged disk might lose it.
    for entry in std::fs::read_dir(dir.path().join("keys")).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let kept: Vec<u8> = bytes
            .chunks(88)
            .filter(|record| !record.starts_with(&ana_key))
            .flatten()
            .copied()
            .collect();
        std::fs::write(&path, kept).unwrap();
    }
    let store = Store::open_with_key(dir.path(), common::master_key()).unwrap();
    assert_eq!(store.load(&ana).unwrap(), Stored::Unreadable);
    assert!(matches!(store.load(&ben).unwrap(), Stored::Found(_)));
    let alerts = store.alerts().unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].user, ben);
    // Ana can still erase what is left of her.
    store.forget(&ana).unwrap();
    assert!(store.keys_of(&ana).unwrap().is_empty());
}

#[test]
fn the_wrong_master_key_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    drop(Store::open_with_key(dir.path(), common::master_key()).unwrap());
    let err = Store::open_with_key(dir.path(), Secret::random().unwrap())
        .err()
        .expect("another key is refused");
    assert!(matches!(err, StoreError::WrongMasterKey { .. }), "{err}");
    assert!(err.to_string().contains("does not open the store"), "{err}");
    // A store made with a configured key never falls back to a new key file (unless
    // this test runs with a key in its own environment).
    let configured = ["WAYPOINT_MASTER_KEY", "WAYPOINT_MASTER_KEY_FILE"];
    if configured.iter().all(|v| std::env::var_os(v).is_none()) {
        let err = Store::open(dir.path()).err().expect("no key configured");
        assert!(matches!(err, StoreError::NoMasterKey(_)), "{err}");
        assert!(!dir.path().join("master.key").exists());
    }
}

fn waypoint(data: &Path, key: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_waypoint"))
        .env("WAYPOINT_MASTER_KEY", key)
        .env_remove("WAYPOINT_MASTER_KEY_FILE")
        .arg("--data")
        .arg(data)
        .args(args)
        .output()
        .unwrap()
}

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn rotate_key_rewraps_every_data_key_and_retires_the_old_master_key() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let people: Vec<UserKey> = (0..5)
        .map(|i| UserKey::new(Channel::Telegram, format!("{}", 9000 + i)))
        .collect();
    let before: Vec<Stored> = {
        let store = Store::open_with_key(&data, common::master_key()).unwrap();
        for user in &people {
            fill(&store, user, MARKER);
        }
        people.iter().map(|u| store.load(u).unwrap()).collect()
    };
    let stats = ok(&waypoint(&data, common::MASTER_KEY_HEX, &["stats"]));

    let new_file = dir.path().join("new.key");
    let report = ok(&waypoint(
        &data,
        common::MASTER_KEY_HEX,
        &["rotate-key", "--new-key-file", new_file.to_str().unwrap()],
    ));
    assert!(report.contains("5 data keys"), "{report}");
    let new_key = std::fs::read_to_string(&new_file).unwrap();

    // The old key no longer opens the store, and says so.
    let out = waypoint(&data, common::MASTER_KEY_HEX, &["stats"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not open the store"));
    // The new one opens everything, unchanged.
    assert_eq!(ok(&waypoint(&data, new_key.trim(), &["stats"])), stats);
    let store = Store::open_with_key(&data, Secret::from_hex(&new_key, "test").unwrap()).unwrap();
    let after: Vec<Stored> = people.iter().map(|u| store.load(u).unwrap()).collect();
    assert_eq!(after, before);
    assert_eq!(store.alerts().unwrap().len(), people.len());
}

#[test]
fn a_malformed_master_key_names_its_origin() {
    let dir = tempfile::tempdir().unwrap();
    let out = waypoint(dir.path(), "not-a-key", &["stats"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("WAYPOINT_MASTER_KEY"), "{stderr}");
    assert!(stderr.contains("64 hexadecimal digits"), "{stderr}");
    // keygen makes a usable one, and never overwrites a key.
    let file = dir.path().join("k");
    let out = Command::new(env!("CARGO_BIN_EXE_waypoint"))
        .args(["keygen", file.to_str().unwrap()])
        .output()
        .unwrap();
    ok(&out);
    let key = std::fs::read_to_string(&file).unwrap();
    ok(&waypoint(&dir.path().join("data"), key.trim(), &["stats"]));
    let again = Command::new(env!("CARGO_BIN_EXE_waypoint"))
        .args(["keygen", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert_eq!(std::fs::read_to_string(&file).unwrap(), key);
}

/// A store as Waypoint wrote it before encryption at rest: plain JSON values behind keys
/// that spell the user key.
fn write_legacy_store(dir: &Path, user: &UserKey, record: &UserRecord, alert: &Alert) {
    let db = sled::open(dir).unwrap();
    let plain = |value: &dyn erased::Json| {
        let mut bytes = vec![1u8];
        bytes.extend(value.json());
        bytes
    };
    let prefix = format!("{user}\0").into_bytes();
    db.open_tree("users")
        .unwrap()
        .insert(&prefix, plain(record))
        .unwrap();
    for job in &record.jobs {
        let mut key = (job.at.timestamp_millis() as u64).to_be_bytes().to_vec();
        key.extend_from_slice(&prefix);
        key.push(0); // a reminder's tag
        db.open_tree("due").unwrap().insert(key, &[][..]).unwrap();
    }
    let member = format!("evening\0{user}");
    db.open_tree("members")
        .unwrap()
        .insert(member.as_bytes(), &[][..])
        .unwrap();
    let reply = Reply {
        text: "Group tonight".into(),
        buttons: Vec::new(),
        urgent: false,
    };
    let item = Outgoing::new(user.clone(), reply, Priority::Reply);
    let mut outbox_key = vec![Priority::Reply as u8];
    outbox_key.extend_from_slice(&7u64.to_be_bytes());
    db.open_tree("outbox")
        .unwrap()
        .insert(outbox_key, plain(&item))
        .unwrap();
    db.open_tree("alerts")
        .unwrap()
        .insert(alert.id.to_be_bytes(), plain(alert))
        .unwrap();
    // The opt-out of someone since forgotten, under the old salted hash.
    use sha2::Digest;
    let salt = [7u8; 16];
    db.open_tree("meta")
        .unwrap()
        .insert("log_salt", &salt)
        .unwrap();
    let hash = sha2::Sha256::new()
        .chain_update(salt)
        .chain_update(b"opt-out\0")
        .chain_update(format!("sms:{PHONE}"))
        .finalize();
    db.open_tree("sms_opt_outs")
        .unwrap()
        .insert(hash.as_slice(), plain(&common::t0()))
        .unwrap();
    db.flush().unwrap();
}

/// Serialising through a trait object, so one closure takes every kind of value.
mod erased {
    pub trait Json {
        fn json(&self) -> Vec<u8>;
    }
    impl<T: serde::Serialize> Json for T {
        fn json(&self) -> Vec<u8> {
            serde_json::to_vec(self).unwrap()
        }
    }
}

#[test]
fn a_store_from_before_encryption_is_sealed_at_first_open_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ana = UserKey::new(Channel::Telegram, CHAT_ID);
    let mut record = UserRecord::new(Locale::Es, common::t0());
    record.alias = Some(ALIAS.into());
    record.program = Some("evening".into());
    let due = common::t0() + Duration::hours(2);
    record.jobs.push(Job {
        at: due,
        kind: JobKind::Reminder {
            session: due + Duration::hours(2),
        },
    });
    let alert = Alert {
        id: 3,
        user: ana.clone(),
        alias: ALIAS.into(),
        program: Some("evening".into()),
        reason: EscalationReason::Outreach,
        at: common::t0(),
        text: None,
        claimed_by: None,
        done: false,
        posted: false,
    };
    write_legacy_store(dir.path(), &ana, &record, &alert);

    let store = Store::open_with_key(dir.path(), common::master_key()).unwrap();
    assert_eq!(store.load(&ana).unwrap(), Stored::Found(record));
    assert_eq!(store.members("evening").unwrap(), vec![ana.clone()]);
    let fired = store.due_until(due, 10).unwrap();
    assert_eq!(fired.len(), 1);
    assert_eq!(store.due_person(&fired[0]).unwrap(), Some(ana.clone()));
    assert_eq!(store.alerts().unwrap(), vec![alert]);
    let queued = store.outbox_items(10).unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].1.user, ana);
    // An old opt-out is still honoured, and can still be lifted.
    let texter = UserKey::new(Channel::Sms, PHONE);
    assert!(store.is_opted_out(&texter).unwrap());
    store.set_opted_out(&texter, false, common::t0()).unwrap();
    assert!(!store.is_opted_out(&texter).unwrap());
    // Every key and value of hers is now in the sealed form.
    let db_keys = store.keys_of(&ana).unwrap();
    assert_eq!(
        db_keys.len(),
        6,
        "record, data key, due, member, message, alert: {db_keys:?}"
    );
    for (_, key) in &db_keys {
        assert!(!String::from_utf8_lossy(key).contains(CHAT_ID));
    }
    // A second open has nothing left to convert and changes nothing.
    drop(store);
    let store = Store::open_with_key(dir.path(), common::master_key()).unwrap();
    assert_eq!(store.keys_of(&ana).unwrap().len(), 6);
}

#[test]
fn rotating_off_the_fallback_key_file_removes_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let ana = UserKey::new(Channel::Telegram, CHAT_ID);
    let unset = |c: &mut Command| {
        c.env_remove("WAYPOINT_MASTER_KEY")
            .env_remove("WAYPOINT_MASTER_KEY_FILE");
    };
    // A store made by the binary with no key configured: the fallback file holds it.
    let mut first = Command::new(env!("CARGO_BIN_EXE_waypoint"));
    unset(&mut first);
    ok(&first
        .arg("--data")
        .arg(&data)
        .arg("stats")
        .output()
        .unwrap());
    assert!(data.join("master.key").exists());
    let fallback = Secret::from_hex(
        &std::fs::read_to_string(data.join("master.key")).unwrap(),
        "test",
    )
    .unwrap();
    {
        let store = Store::open_with_key(&data, fallback).unwrap();
        fill(&store, &ana, MARKER);
    }
    let new_file = dir.path().join("production.key");
    let mut rotate = Command::new(env!("CARGO_BIN_EXE_waypoint"));
    unset(&mut rotate);
    let report = ok(&rotate
        .arg("--data")
        .arg(&data)
        .args(["rotate-key", "--new-key-file", new_file.to_str().unwrap()])
        .output()
        .unwrap());
    assert!(report.contains("removed the old key file"), "{report}");
    assert!(!data.join("master.key").exists());
    // Without the new key the store no longer opens, and no new fallback key is made.
    let mut bare = Command::new(env!("CARGO_BIN_EXE_waypoint"));
    unset(&mut bare);
    let out = bare.arg("--data").arg(&data).arg("stats").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no master key is configured"));
    assert!(!data.join("master.key").exists());
    let key = Secret::from_hex(&std::fs::read_to_string(&new_file).unwrap(), "test").unwrap();
    let store = Store::open_with_key(&data, key).unwrap();
    assert!(matches!(store.load(&ana).unwrap(), Stored::Found(_)));
}

/// `dir` and every file and directory under it whose mode lets anyone but the owner in.
#[cfg(unix)]
fn open_to_others(dir: &Path) -> Vec<String> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    let mode = std::fs::metadata(dir).unwrap().permissions().mode();
    if mode & 0o077 != 0 {
        out.push(format!("{} {:o}", dir.display(), mode & 0o777));
    }
    if dir.is_dir() {
        for entry in std::fs::read_dir(dir).unwrap() {
            out.extend(open_to_others(&entry.unwrap().path()));
        }
    }
    out
}

#[cfg(unix)]
#[test]
fn store_files_and_directories_are_for_their_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    {
        let store = Store::open_with_key(&data, common::master_key()).unwrap();
        fill(&store, &UserKey::new(Channel::Telegram, CHAT_ID), MARKER);
    }
    // Reopened, as at every start: what sled writes then is covered too.
    drop(Store::open_with_key(&data, common::master_key()).unwrap());
    assert_eq!(open_to_others(&data), Vec::<String>::new());
    // A restored store and a backup file as well.
    let file = dir.path().join("backup");
    ok(&waypoint(
        &data,
        common::MASTER_KEY_HEX,
        &["backup", file.to_str().unwrap()],
    ));
    assert_eq!(open_to_others(&file), Vec::<String>::new());
    let restored = dir.path().join("restored");
    ok(&waypoint(
        &restored,
        common::MASTER_KEY_HEX,
        &["restore", file.to_str().unwrap()],
    ));
    assert_eq!(open_to_others(&restored), Vec::<String>::new());
}

/// What a thief holding a copy of the data directory and `master` can open of
/// `envelopes` (sealed values as they lay on disk, with their tree): every 72 bytes of
/// every file is tried as a wrapped key — a person's data key or a value's own key — and
/// every key that unwraps is tried on every envelope, as are keys wrapped inline.
/// Returns how many envelopes open.
fn envelopes_opened(dir: &Path, master: &Secret, envelopes: &[(String, Vec<u8>)]) -> usize {
    let mut wrappings: Vec<Vec<u8>> = Vec::new();
    for (_, sealed) in envelopes {
        wrappings.push([b"waypoint data key ".as_slice(), &sealed[1..17]].concat());
        if sealed[0] == 4 {
            wrappings.push([b"waypoint value key ".as_slice(), &sealed[17..33]].concat());
        }
    }
    wrappings.sort();
    wrappings.dedup();
    let mut keys: Vec<Secret> = Vec::new();
    for (_, bytes) in files(dir) {
        for window in bytes.windows(72) {
            for aad in &wrappings {
                if let Some(plain) = master.open(aad, window) {
                    keys.extend(Secret::from_bytes(&plain));
                }
            }
        }
    }
    envelopes
        .iter()
        .filter(|(tree, sealed)| {
            let aad = [tree.as_bytes(), b"\0", &sealed[1..17]].concat();
            let (inline, body) = match sealed[0] {
                2 => (None, &sealed[17..]),
                3 => (
                    master
                        .open(&aad, &sealed[17..89])
                        .and_then(|k| Secret::from_bytes(&k)),
                    &sealed[89..],
                ),
                4 => (None, &sealed[33..]),
                _ => return false,
            };
            keys.iter()
                .chain(inline.as_ref())
                .any(|key| key.open(&aad, body).is_some())
        })
        .count()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

/// `/forget` is final at once: a copy of the directory taken right after it, with the
/// master key (the fallback file in the copy, or a configured key), opens nothing of the
/// person — not their record, alert, crisis words, queued messages or choices, nor the
/// staff-group post that carried their words.
#[test]
fn after_forget_nothing_of_theirs_opens_with_any_key_material_in_a_copy_of_the_directory() {
    for configured in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let store = if configured {
            Store::open_with_key(&data, common::master_key()).unwrap()
        } else {
            // The fallback key file, made in the directory itself.
            std::fs::create_dir_all(&data).unwrap();
            let key = Secret::random().unwrap();
            waypoint::store::crypto::write_key_file(&data.join("master.key"), &key).unwrap();
            Store::open_with_key(&data, key).unwrap()
        };
        let master = |copy: &Path| {
            if configured {
                common::master_key()
            } else {
                let text = std::fs::read_to_string(copy.join("master.key")).unwrap();
                Secret::from_hex(&text, "the copy").unwrap()
            }
        };
        let ana = UserKey::new(Channel::Telegram, CHAT_ID);
        let ben = UserKey::new(Channel::Telegram, "5550001");
        let group = UserKey::new(Channel::Telegram, "-1009876543");
        // A message to someone who never consented, sealed under a key of its own.
        let stranger = UserKey::new(Channel::Sms, PHONE);
        fill(&store, &ana, MARKER);
        fill(&store, &ben, "other-person");
        // Her alert posted to the staff group, with her words; the post not yet sent.
        let alert = store
            .alerts()
            .unwrap()
            .into_iter()
            .find(|a| a.user == ana)
            .unwrap();
        let words = alert.text.clone().unwrap();
        let mut post = Outgoing::new(
            group.clone(),
            Reply {
                text: format!("#{} {words}", alert.id),
                buttons: Vec::new(),
                urgent: true,
            },
            Priority::Urgent,
        );
        post.alerts = vec![alert.id];
        store.enqueue(&[post]).unwrap();
        let hello = Reply {
            text: "Welcome".into(),
            buttons: Vec::new(),
            urgent: false,
        };
        store
            .enqueue(&[Outgoing::new(stranger.clone(), hello, Priority::Reply)])
            .unwrap();
        let mut envelopes = store.sealed_values_of(&ana).unwrap();
        envelopes.extend(store.sealed_values_of(&group).unwrap());
        envelopes.extend(store.sealed_values_of(&stranger).unwrap());
        assert!(envelopes.len() >= 6, "{}", envelopes.len());
        store.flush().unwrap();
        // Before: a copy opens every one of them (the attack works).
        let before = dir.path().join("before");
        copy_dir(&data, &before);
        assert_eq!(
            envelopes_opened(&before, &master(&before), &envelopes),
            envelopes.len()
        );

        // The post is sent (the alert no longer carries the words), the stranger's
        // message too, and Ana forgets.
        store
            .put_alert(&waypoint::store::Alert {
                text: None,
                posted: true,
                ..alert
            })
            .unwrap();
        for (key, _) in store.outbox_items(usize::MAX).unwrap() {
            store.outbox_remove(&key).unwrap();
        }
        store.forget(&ana).unwrap();
        // At once: no compaction, no restart. The store stays open, as in service.
        let after = dir.path().join("after");
        copy_dir(&data, &after);
        assert_eq!(
            envelopes_opened(&after, &master(&after), &envelopes),
            0,
            "configured key: {configured}"
        );
        // Ben is untouched.
        assert!(matches!(store.load(&ben).unwrap(), Stored::Found(_)));
    }
}

/// A store as the version before the key files wrote it: data keys in sled's `keys`
/// tree, a queued message sealed under a key wrapped inline, an alert carrying a crisis
/// message's words inside it.
fn write_store_with_keys_in_sled(dir: &Path, user: &UserKey, record: &UserRecord, alert: &Alert) {
    let master = common::master_key();
    let db = sled::open(dir).unwrap();
    let meta = db.open_tree("meta").unwrap();
    let index = Secret::random().unwrap();
    meta.insert(
        "index_key",
        master
            .seal(b"waypoint index key", &hex_bytes(&index))
            .unwrap(),
    )
    .unwrap();
    meta.insert("sealed_layout", &[][..]).unwrap();
    let pid = waypoint::store::crypto::person_id(&index, user);
    let data_key = Secret::random().unwrap();
    let wrapped = master
        .seal(
            &[b"waypoint data key ".as_slice(), &pid].concat(),
            &hex_bytes(&data_key),
        )
        .unwrap();
    db.open_tree("keys").unwrap().insert(pid, wrapped).unwrap();
    let sealed = |key: &Secret, tree: &str, json: Vec<u8>| {
        let aad = [tree.as_bytes(), b"\0", &pid].concat();
        [&[2u8][..], &pid, &key.seal(&aad, &json).unwrap()].concat()
    };
    let envelope = serde_json::json!({ "u": user.to_string(), "r": record });
    db.open_tree("users")
        .unwrap()
        .insert(
            pid,
            sealed(&data_key, "users", serde_json::to_vec(&envelope).unwrap()),
        )
        .unwrap();
    db.open_tree("alerts")
        .unwrap()
        .insert(
            alert.id.to_be_bytes(),
            sealed(&data_key, "alerts", serde_json::to_vec(alert).unwrap()),
        )
        .unwrap();
    let reply = Reply {
        text: "Group tonight".into(),
        buttons: Vec::new(),
        urgent: false,
    };
    let item = Outgoing::new(user.clone(), reply, Priority::Reply);
    let aad = [b"outbox".as_slice(), b"\0", &pid].concat();
    let own = Secret::random().unwrap();
    let inline = [
        &[3u8][..],
        &pid,
        &master.seal(&aad, &hex_bytes(&own)).unwrap(),
        &own.seal(&aad, &serde_json::to_vec(&item).unwrap()).unwrap(),
    ]
    .concat();
    let mut outbox_key = vec![Priority::Reply as u8];
    outbox_key.extend_from_slice(&9u64.to_be_bytes());
    db.open_tree("outbox")
        .unwrap()
        .insert(outbox_key, inline)
        .unwrap();
    db.flush().unwrap();
}

/// A key's 32 bytes, through its hex form (the only way out of a `Secret`).
fn hex_bytes(key: &Secret) -> Vec<u8> {
    let hex = key.to_hex();
    (0..32)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

#[test]
fn a_store_with_keys_in_sled_moves_them_to_the_key_files_and_forgets_for_good() {
    let dir = tempfile::tempdir().unwrap();
    let ana = UserKey::new(Channel::Telegram, CHAT_ID);
    let mut record = UserRecord::new(Locale::En, common::t0());
    record.alias = Some(ALIAS.into());
    let alert = Alert {
        id: 5,
        user: ana.clone(),
        alias: ALIAS.into(),
        program: None,
        reason: EscalationReason::Crisis,
        at: common::t0(),
        text: Some("I can't go on".into()),
        claimed_by: None,
        done: false,
        posted: false,
    };
    write_store_with_keys_in_sled(dir.path(), &ana, &record, &alert);

    let store = Store::open_with_key(dir.path(), common::master_key()).unwrap();
    assert_eq!(store.load(&ana).unwrap(), Stored::Found(record.clone()));
    assert_eq!(store.alerts().unwrap(), vec![alert.clone()]);
    let queued = store.outbox_items(10).unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].1.user, ana);
    // Everything is in the new form: the data key in the key files, the message under
    // it, and the words under a key of their own there.
    let values = store.sealed_values_of(&ana).unwrap();
    assert!(
        values.iter().all(|(_, v)| v[0] == 2 || v[0] == 4),
        "{values:?}"
    );
    let own: Vec<&str> = values
        .iter()
        .filter(|(_, v)| v[0] == 4)
        .map(|(tree, _)| tree.as_str())
        .collect();
    assert_eq!(own, ["alert_words"]);
    drop(store);
    assert!(
        !common::reopen_sled(dir.path())
            .tree_names()
            .iter()
            .any(|n| n == b"keys"),
        "the keys tree is gone"
    );
    // A second open changes nothing, and forgetting her still works.
    let store = Store::open_with_key(dir.path(), common::master_key()).unwrap();
    assert_eq!(store.load(&ana).unwrap(), Stored::Found(record));
    assert_eq!(store.alerts().unwrap(), vec![alert]);
    store.forget(&ana).unwrap();
    assert!(
        values.iter().all(|(tree, value)| !store.opens(tree, value)),
        "her values no longer open"
    );
}
