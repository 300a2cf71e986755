//! The store's contract, on a temporary sled directory.

mod common;

use common::Conversation;
use waypoint::engine::{OutreachReason, OutreachRequest, Stored, UserRecord};
use waypoint::locale::Locale;
use waypoint::store::{Store, StoreError};
use waypoint::user::{Channel, UserKey};

fn record() -> UserRecord {
    let mut r = UserRecord::new(Locale::Es, common::t0());
    r.timezone = Some("America/Chicago".into());
    r.outreach_requests.push(OutreachRequest {
        at: common::t0(),
        reason: OutreachReason::Support,
    });
    r
}

#[test]
fn records_round_trip_and_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let ana = UserKey::new(Channel::Telegram, "1");
    {
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.load(&ana).unwrap(), Stored::Nothing);
        store.save(&ana, &record(), true).unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.load(&ana).unwrap(), Stored::Found(record()));
}

#[test]
fn forget_removes_every_record_of_one_person_from_every_tree() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let ana = UserKey::new(Channel::Telegram, "1");
    // Keys that share a textual prefix must not be touched: "tg:1" vs "tg:12".
    let ben = UserKey::new(Channel::Telegram, "12");
    let cam = UserKey::new(Channel::Terminal, "1");
    for user in [&ana, &ben, &cam] {
        store.save(user, &record(), false).unwrap();
        // Records in other trees, as later features (RSVPs, check-ins) will write them.
        store
            .put_raw(user, "rsvps", b"2026-11-24", b"going")
            .unwrap();
        store
            .put_raw(user, "checkins", b"2026-11-20", b"4")
            .unwrap();
    }
    // The record, the data key, and the two later-feature records.
    assert_eq!(store.keys_of(&ana).unwrap().len(), 4);
    assert_eq!(store.forget(&ana).unwrap(), 4);
    drop(store);

    let store = Store::open(dir.path()).unwrap();
    assert!(store.keys_of(&ana).unwrap().is_empty());
    assert_eq!(store.load(&ana).unwrap(), Stored::Nothing);
    for other in [&ben, &cam] {
        assert_eq!(store.keys_of(other).unwrap().len(), 4, "{other}");
        assert_eq!(store.load(other).unwrap(), Stored::Found(record()));
    }
    drop(store);
    // Key by key, the other trees hold exactly the other people's entries.
    let db = common::reopen_sled(dir.path());
    for tree in ["rsvps", "checkins", "users"] {
        assert_eq!(db.open_tree(tree).unwrap().len(), 2, "{tree}");
    }
    // And the key files hold exactly the other two data keys (88-byte records).
    let key_bytes: usize = std::fs::read_dir(dir.path().join("keys"))
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap().len())
        .sum();
    assert_eq!(key_bytes, 2 * 88);
}

#[test]
fn a_corrupt_record_is_unreadable_and_others_are_unaffected() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let ana = UserKey::new(Channel::Telegram, "1");
    let ben = UserKey::new(Channel::Telegram, "2");
    store.save(&ben, &record(), false).unwrap();
    store.put_raw(&ana, "users", b"", b"\x01{not json").unwrap();
    assert_eq!(store.load(&ana).unwrap(), Stored::Unreadable);
    store.put_raw(&ana, "users", b"", b"\x09{}").unwrap();
    assert_eq!(
        store.load(&ana).unwrap(),
        Stored::Unreadable,
        "unknown schema version"
    );
    assert_eq!(store.load(&ben).unwrap(), Stored::Found(record()));
}

#[test]
fn a_corrupt_record_still_gets_help_and_can_be_forgotten() {
    let mut c = Conversation::new();
    c.store.put_raw(&c.user, "users", b"", b"garbage").unwrap();
    c.check(
        "
        > /privacy
        < something went wrong on my side
        > /forget
        * Yes, erase everything
        < has been erased
        > /privacy
        < I don't keep anything about you
        ",
    );
}

#[test]
fn the_log_salt_is_random_and_kept() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let salt_a = Store::open(a.path()).unwrap().log_salt();
    assert_ne!(salt_a, Store::open(b.path()).unwrap().log_salt());
    assert_eq!(salt_a, Store::open(a.path()).unwrap().log_salt());
}

#[test]
fn a_second_opener_gets_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let _first = Store::open(dir.path()).unwrap();
    match Store::open(dir.path()) {
        Err(e @ StoreError::Locked(_)) => {
            assert!(e.to_string().contains("in use by another Waypoint process"))
        }
        Err(other) => panic!("unexpected error: {other}"),
        Ok(_) => panic!("a second open of a locked store succeeded"),
    }
}

#[test]
fn unreachable_people_are_marked_and_nobody_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let ana = UserKey::new(Channel::Telegram, "1");
    store.mark_unreachable(&ana).unwrap();
    assert_eq!(store.load(&ana).unwrap(), Stored::Nothing);
    store.save(&ana, &record(), false).unwrap();
    store.mark_unreachable(&ana).unwrap();
    let Stored::Found(r) = store.load(&ana).unwrap() else {
        panic!()
    };
    assert!(r.unreachable);
}

/// Messages queued before the outbox was split by person (`<priority><sequence>` keys)
/// are moved into their person's queue at opening, in order, and still go out.
#[test]
fn messages_queued_in_the_old_outbox_layout_are_kept() {
    use waypoint::engine::Reply;
    use waypoint::store::{Outgoing, Priority};
    let dir = tempfile::tempdir().unwrap();
    let ana = UserKey::new(Channel::Telegram, "1");
    let say = |text: &str| Reply {
        text: text.into(),
        buttons: vec![],
        urgent: false,
    };
    {
        let store = Store::open(dir.path()).unwrap();
        store
            .enqueue(&[
                Outgoing::new(ana.clone(), say("first"), Priority::Reply),
                Outgoing::new(ana.clone(), say("second"), Priority::Reply),
            ])
            .unwrap();
        store.flush().unwrap();
    }
    {
        // Rewrite the keys as an older version wrote them.
        let db = common::reopen_sled(dir.path());
        let outbox = db.open_tree("outbox").unwrap();
        for entry in outbox.iter() {
            let (k, v) = entry.unwrap();
            let old = [&k[..1], &k[k.len() - 8..]].concat();
            outbox.remove(&k).unwrap();
            outbox.insert(old, v).unwrap();
        }
        assert!(outbox.iter().keys().all(|k| k.unwrap().len() == 9));
        db.flush().unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    let texts: Vec<String> = store
        .outbox_items(usize::MAX)
        .unwrap()
        .into_iter()
        .map(|(_, item)| item.reply.text)
        .collect();
    assert_eq!(texts, ["first", "second"]);
}
