//! Encrypted manifests: values sealed wherever they are stored, read back
//! by whoever holds the passphrase, withheld (`Decrypt`) from whoever does
//! not, a rotation that keeps old values readable, and changed bytes
//! refused.

use super::*;
use crate::engine::encryption::ring_key;
use crate::engine::error::ErrorKind;
use crate::engine::protocol::Encrypted;

/// What a subscriber heard: values, or errors' kinds.
type Heard = Rc<RefCell<Vec<std::result::Result<Option<JsonText>, ErrorKind>>>>;

const MARKER: &str = "marker-5f1c-in-clear";

fn params(passphrase: &str) -> Params {
    Params {
        passphrase: Some(passphrase.into()),
        ..quiet_params_on(Protocol::V2)
    }
}

fn key(k: &str) -> Ref {
    Ref::new(BUCKET, k)
}

/// A JSON value, a content-sized one and a binary one, each holding the
/// marker.
fn marked() -> Vec<(Ref, Option<JsonText>)> {
    let big = format!("{MARKER}{}", "x".repeat(4000));
    let mut bytes = MARKER.as_bytes().to_vec();
    bytes.extend([0, 255, 1, 2]);
    vec![
        (key("small"), Some(json(MARKER))),
        (key("big"), Some(json(&big))),
        (
            key("bin"),
            Some(crate::engine::binary::wrap("application/octet-stream", &bytes).into()),
        ),
    ]
}

/// Whether the marker is anywhere: a PUT the bucket took, an object it
/// holds, a row of the device's store.
fn marker_anywhere(world: &World) -> Option<String> {
    where_in_clear(&world.model.borrow(), &world.device, MARKER)
}

fn read_all(world: &World, c: &Client, keys: &[Ref]) -> Result<Vec<Option<JsonText>>> {
    let (db, keys) = (c.db.clone(), keys.to_vec());
    finish(&world.exec, async move { values(&db, &keys).await })
}

#[test]
fn values_are_sealed_everywhere_and_open_with_the_same_passphrase() {
    let p = params("one passphrase");
    let world = quiet_world(&p, 71);
    let a = world.client(&p, 0, 0, 1);
    let heard = a.hear("small");
    let written = marked();
    let db = a.db.clone();
    let batch = written.clone();
    finish(
        &world.exec,
        async move { write(&db, batch, Ack::Remote).await },
    )
    .unwrap();
    world.exec.run_until(world.exec.now() + 2_000);
    assert_eq!(heard.borrow().last(), Some(&Some(MARKER.to_string())));
    // Checkpointed too: the state written whole is sealed as well.
    for i in 0..70 {
        let db = a.db.clone();
        finish(&world.exec, async move {
            put(&db, key("n"), Some(json(&format!("{MARKER}-{i}")))).await
        })
        .unwrap();
    }
    let cps = world
        .model
        .borrow()
        .puts
        .iter()
        .filter(|p| p.key.contains(".v2/cp/"))
        .count();
    assert!(cps > 0, "no checkpoint was written");
    assert_eq!(marker_anywhere(&world), None, "a value in clear");
    let sealed = world
        .model
        .borrow()
        .puts
        .iter()
        .filter(|p| contains(&p.body, b"mps3e1:k1:"))
        .count();
    assert!(sealed > 0, "no sealed value in the bucket");

    // Another device, the same passphrase: every value, as written.
    let b = world.client(&p, 1, 1, 2);
    let keys: Vec<Ref> = written.iter().map(|(k, _)| k.clone()).collect();
    let got = read_all(&world, &b, &keys).unwrap();
    let want: Vec<Option<JsonText>> = written.iter().map(|(_, v)| v.clone()).collect();
    assert_eq!(got, want);
    let inspection = {
        let db = b.db.clone();
        finish(&world.exec, async move { db.inspect(None).await })
    };
    assert_eq!(
        inspection.encryption,
        Some(Encrypted {
            key: Some("k1".into())
        })
    );
    assert!(inspection
        .to_json()
        .contains("\"encryption\":{\"key\":\"k1\"}"));
    // Its subscriber hears the value opened.
    let heard_b = b.hear("small");
    world.exec.run_until(world.exec.now() + 2_000);
    assert_eq!(heard_b.borrow().last(), Some(&Some(MARKER.to_string())));
    assert_eq!(marker_anywhere(&world), None, "a value in clear");
}

#[test]
fn another_passphrase_gets_decrypt_and_writes_nothing() {
    let p = params("the right one");
    let world = quiet_world(&p, 72);
    let a = world.client(&p, 0, 0, 1);
    let db = a.db.clone();
    finish(&world.exec, async move {
        put(&db, key("small"), Some(json(MARKER))).await
    })
    .unwrap();
    let puts = world.model.borrow().puts.len();
    let q = params("a wrong one");
    let c = world.client(&q, 1, 1, 2);
    let got = read_all(&world, &c, &[key("small")]).unwrap_err();
    assert_eq!(got.kind, ErrorKind::Decrypt, "{got}");
    let db = c.db.clone();
    let refused = finish(&world.exec, async move {
        put(&db, key("small"), Some(json("overwritten"))).await
    })
    .unwrap_err();
    assert_eq!(refused.kind, ErrorKind::Decrypt, "{refused}");
    assert!(refused.message.contains("nothing was written"), "{refused}");
    assert_eq!(c.db.pending_writes(), 0, "nothing queued");
    // Its subscriber hears the error, never garbage.
    let heard: Heard = Rc::default();
    c.db.subscribe(&Watch::Key(key("small")), None).unwrap();
    let (weak, heard2) = (Rc::downgrade(&c.db), heard.clone());
    *c.db.io().deliver.borrow_mut() = Some(Rc::new(move || {
        let Some(db) = weak.upgrade() else { return };
        for e in db.take_events() {
            match e {
                Event::Value { value, .. } => heard2.borrow_mut().push(Ok(value)),
                Event::Error { error, .. } => heard2.borrow_mut().push(Err(error.kind)),
                _ => {}
            }
        }
    }));
    world.exec.run_until(world.exec.now() + 3_000);
    assert_eq!(heard.borrow().first(), Some(&Err(ErrorKind::Decrypt)));
    assert!(
        heard.borrow().iter().all(|h| h.is_err()),
        "{:?}",
        heard.borrow()
    );
    assert_eq!(world.model.borrow().puts.len(), puts, "nothing written");
    let a_reads = read_all(&world, &a, &[key("small")]).unwrap();
    assert_eq!(a_reads, vec![Some(json(MARKER))]);
}

#[test]
fn rotation_keeps_old_values_readable() {
    let p = params("rotating");
    let world = quiet_world(&p, 73);
    let a = world.client(&p, 0, 0, 1);
    let db = a.db.clone();
    finish(&world.exec, async move {
        put(&db, key("old"), Some(json("before"))).await
    })
    .unwrap();
    let db = a.db.clone();
    let id = finish(&world.exec, async move { db.rotate(None).await }).unwrap();
    assert_eq!(id, "k2");
    let db = a.db;
    finish(&world.exec, async move {
        put(&db, key("new"), Some(json("after"))).await
    })
    .unwrap();
    let ring = world
        .model
        .borrow()
        .bucket(BUCKET)
        .and_then(|b| b.objects.get(&ring_key(MANIFEST)).cloned())
        .and_then(|vs| vs.last().cloned())
        .expect("the ring");
    let ring = crate::engine::encryption::Ring::parse(&ring.body).unwrap();
    assert_eq!(ring.keys.len(), 2);
    assert_eq!(ring.current, "k2");
    let new_put = world
        .model
        .borrow()
        .puts
        .iter()
        .rev()
        .find(|p| p.key.contains(".v2/log/"))
        .map(|p| String::from_utf8_lossy(&p.body).into_owned())
        .unwrap();
    assert!(new_put.contains("mps3e1:k2:"), "{new_put}");
    // A client that read the ring before the rotation opens the new value
    // (it reads the ring again for a key it lacks); a fresh one both.
    let b = world.client(&p, 1, 1, 2);
    let got = read_all(&world, &b, &[key("old"), key("new")]).unwrap();
    assert_eq!(got, vec![Some(json("before")), Some(json("after"))]);
}

#[test]
fn a_changed_ciphertext_is_refused() {
    let p = params("tamper");
    let world = quiet_world(&p, 74);
    let a = world.client(&p, 0, 0, 1);
    let big = "y".repeat(3000);
    let db = a.db;
    let value = json(&big);
    finish(&world.exec, async move {
        put(&db, key("big"), Some(value)).await
    })
    .unwrap();
    {
        let mut model = world.model.borrow_mut();
        let bucket = model.buckets.iter_mut().find(|(n, _)| n == BUCKET).unwrap();
        let k = bucket
            .1
            .objects
            .iter()
            .map(|(k, _)| k.clone())
            .find(|k| k.starts_with("big@"))
            .expect("the content object");
        let v = bucket.1.objects.get_mut(&k).unwrap().last_mut().unwrap();
        // One base64 digit changed in the ciphertext.
        let at = v.body.len() - 10;
        v.body[at] = if v.body[at] == b'A' { b'B' } else { b'A' };
    }
    let b = world.client(&p, 1, 1, 2);
    let got = read_all(&world, &b, &[key("big")]).unwrap_err();
    assert_eq!(got.kind, ErrorKind::Decrypt, "{got}");
    assert!(got.message.contains("does not open"), "{got}");
}

#[test]
fn a_v1_manifest_refuses_encryption_and_moves_reseal() {
    let mut p = params("v1");
    p.protocol = Protocol::V1;
    let world = quiet_world(&p, 75);
    let a = world.client(&p, 0, 0, 1);
    let db = a.db.clone();
    let refused = finish(&world.exec, async move {
        put(&db, key("a"), Some(json(MARKER))).await
    })
    .unwrap_err();
    assert_eq!(refused.kind, ErrorKind::Unsupported, "{refused}");
    assert!(world.model.borrow().puts.is_empty(), "nothing written");
    // A v1 manifest's values, in clear, read with encryption on: the same
    // answer, not `Decrypt` (nothing failed to open).
    let plain = Params {
        passphrase: None,
        ..p
    };
    let writer = world.client(&plain, 1, 1, 2);
    let db = writer.db;
    finish(&world.exec, async move {
        put(&db, key("a"), Some(json("clear"))).await
    })
    .unwrap();
    let got = read_all(&world, &a, &[key("a")]).unwrap_err();
    assert_eq!(got.kind, ErrorKind::Unsupported, "{got}");

    // On v2, a move opens the value and seals it for its new key.
    let p = params("moves");
    let world = quiet_world(&p, 76);
    let a = world.client(&p, 0, 0, 1);
    let db = a.db;
    finish(&world.exec, async move {
        put(&db, key("from"), Some(json(MARKER))).await?;
        db.write(
            Change::Move(key("from"), key("to")),
            &[],
            Some(Ack::Remote),
            None,
        )
        .await
        .map(|_| ())
    })
    .unwrap();
    let b = world.client(&p, 1, 1, 2);
    let got = read_all(&world, &b, &[key("from"), key("to")]).unwrap();
    assert_eq!(got, vec![None, Some(json(MARKER))]);
    assert_eq!(marker_anywhere(&world), None);
}

/// A client started over a manifest whose ring exists, writing at once:
/// the background read of the ring after the restore and the write's
/// sealing load the keys once between them (one PBKDF2 stretch, the
/// costly part).
#[test]
fn the_keys_are_loaded_once_when_the_start_and_a_write_race() {
    let p = params("once");
    let world = quiet_world(&p, 77);
    let a = world.client(&p, 0, 0, 1);
    let db = a.db;
    finish(&world.exec, async move {
        put(&db, key("small"), Some(json(MARKER))).await
    })
    .unwrap();
    let b = world.client(&p, 1, 1, 2);
    let db = b.db.clone();
    finish(&world.exec, async move {
        put(&db, key("other"), Some(json("x"))).await
    })
    .unwrap();
    world.exec.run_until(world.exec.now() + 2_000);
    assert_eq!(b.db.io().cipher.derived.get(), 1, "stretched once");
}
