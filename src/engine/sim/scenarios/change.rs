//! Scripted tests of `import`, `forget` and `move` (`db::change`): what each
//! leaves in the bucket, and what another client then reads.

use std::cell::RefCell;
use std::rc::Rc;

use super::executor::Executor;
use super::{finish, oracle_log, quiet_params, quiet_world, s3_config, Client, BUCKET};
use crate::engine::db::{Ack, Change};
use crate::engine::error::{ErrorKind, Result};
use crate::engine::object::Ref;
use crate::engine::s3::in_memory::InMemoryS3;
use crate::engine::s3::{PutOptions, S3};

/// A write as the API makes it, acknowledged once committed.
fn change(exec: &Rc<Executor>, c: &Client, change: Change) -> Result<()> {
    let db = c.db.clone();
    finish(exec, async move {
        db.write(change, &[], Some(Ack::Remote), None)
            .await
            .map(|_| ())
    })
}

fn get(exec: &Rc<Executor>, c: &Client, key: &str) -> Option<String> {
    let db = c.db.clone();
    let key = r(key);
    finish(exec, async move { db.get(&key, None).await })
        .expect("the read succeeds")
        .map(|v| v.to_string())
}

fn r(key: &str) -> Ref {
    Ref::new(BUCKET, key)
}

/// An object written by some other tool, straight into the bucket.
fn put_raw(model: &Rc<RefCell<InMemoryS3>>, exec: &Rc<Executor>, key: &str, body: &str) {
    let req = S3::new(s3_config())
        .put_object(
            BUCKET,
            key,
            body.as_bytes().to_vec(),
            &PutOptions::default(),
            exec.now(),
        )
        .unwrap();
    let resp = model.borrow_mut().apply(&req, exec.now());
    assert_eq!(resp.status, 200);
}

/// The stored versions of `key` (delete markers included), as
/// `(body, delete_marker)`.
fn versions(model: &Rc<RefCell<InMemoryS3>>, key: &str) -> Vec<(String, bool)> {
    model
        .borrow()
        .bucket(BUCKET)
        .unwrap()
        .objects
        .get(key)
        .map(|vs| {
            vs.iter()
                .map(|v| {
                    (
                        String::from_utf8_lossy(&v.body).into_owned(),
                        v.delete_marker,
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Objects whose key starts with `prefix`.
fn objects_under(model: &Rc<RefCell<InMemoryS3>>, prefix: &str) -> Vec<String> {
    model
        .borrow()
        .bucket(BUCKET)
        .unwrap()
        .objects
        .iter()
        .map(|(k, _)| k)
        .filter(|k| k.starts_with(prefix))
        .cloned()
        .collect()
}

/// A quiet world (see `quiet_world`) and two clients of it.
fn two_clients(
    versioning: bool,
    seed: u64,
) -> (Rc<Executor>, Rc<RefCell<InMemoryS3>>, Client, Client) {
    let p = quiet_params(versioning);
    let world = quiet_world(&p, seed);
    let a = world.client(&p, 0, 0, 1);
    let b = world.client(&p, 1, 1, 2);
    (world.exec, world.model, a, b)
}

fn entries(model: &Rc<RefCell<InMemoryS3>>) -> usize {
    oracle_log(&model.borrow()).len()
}

/// An object another tool wrote becomes a key's value, as written, for
/// every client; the object itself is left as it was. An object that does
/// not hold JSON, or none at all, is refused and writes nothing.
#[test]
fn an_object_another_tool_wrote_is_imported_as_it_is() {
    for versioning in [false, true] {
        let (exec, model, a, b) = two_clients(versioning, 1);
        let body = "{\n  \"name\": \"cat\",\n  \"legs\": 4\n}";
        put_raw(&model, &exec, "photos/cat.json", body);
        put_raw(&model, &exec, "notes.txt", "not JSON");

        change(&exec, &a, Change::Import(r("photos/cat.json"))).unwrap();
        assert_eq!(entries(&model), 1);
        let refused = change(&exec, &a, Change::Import(r("notes.txt"))).unwrap_err();
        assert_eq!(refused.kind, ErrorKind::BadInput, "{refused}");
        let missing = change(&exec, &a, Change::Import(r("absent.json"))).unwrap_err();
        assert_eq!(missing.kind, ErrorKind::NotFound, "{missing}");
        assert_eq!(entries(&model), 1, "the refused imports wrote no entry");
        assert_eq!(get(&exec, &a, "notes.txt"), None);

        assert_eq!(get(&exec, &b, "photos/cat.json").as_deref(), Some(body));
        // The object is as it was; only an unversioned bucket gets a copy
        // (content lives under `<key>@<uuid>` there).
        assert_eq!(versions(&model, "photos/cat.json"), [(body.into(), false)]);
        let copies = objects_under(&model, "photos/cat.json@");
        if versioning {
            assert!(copies.is_empty(), "{copies:?}");
        } else {
            assert_eq!(copies.len(), 1, "{copies:?}");
            assert_eq!(versions(&model, &copies[0]), [(body.into(), false)]);
        }
    }
}

/// `forget` takes a key out of the manifest and leaves every object: in a
/// versioned bucket no delete marker hides it, as `delete`'s does.
#[test]
fn a_forgotten_key_is_gone_from_the_manifest_and_its_object_stays() {
    let (exec, model, a, b) = two_clients(true, 2);
    let value = |n: u32| Some(n.to_string().into());
    change(&exec, &a, Change::Values(vec![(r("kept"), value(1))])).unwrap();
    change(&exec, &a, Change::Values(vec![(r("deleted"), value(2))])).unwrap();
    change(&exec, &a, Change::Forget(r("kept"))).unwrap();
    change(&exec, &a, Change::Values(vec![(r("deleted"), None)])).unwrap();

    assert_eq!(get(&exec, &b, "kept"), None);
    assert_eq!(get(&exec, &b, "deleted"), None);
    assert_eq!(versions(&model, "kept"), [("1".into(), false)]);
    assert_eq!(
        versions(&model, "deleted"),
        [("2".into(), false), (String::new(), true)]
    );
    // Imported again, the kept object is the key's value once more.
    change(&exec, &a, Change::Import(r("kept"))).unwrap();
    assert_eq!(get(&exec, &b, "kept").as_deref(), Some("1"));
}

/// `move` writes the value under its new key and deletes the old one in
/// one entry; a key with no value cannot move, nor a key onto itself.
#[test]
fn a_moved_value_changes_key_in_one_entry() {
    for versioning in [false, true] {
        let (exec, model, a, b) = two_clients(versioning, 3);
        change(
            &exec,
            &a,
            Change::Values(vec![(r("drafts/1"), Some("\"text\"".into()))]),
        )
        .unwrap();
        change(&exec, &a, Change::Move(r("drafts/1"), r("archive/1"))).unwrap();

        let log = oracle_log(&model.borrow());
        assert_eq!(log.len(), 2);
        let mut moved = log[1].2.clone();
        moved.sort();
        assert_eq!(moved.len(), 2, "{moved:?}");
        assert_eq!(moved[0].0, format!("{BUCKET}/archive/1"));
        assert!(moved[0].1.is_some());
        assert_eq!(moved[1], (format!("{BUCKET}/drafts/1"), None));

        assert_eq!(get(&exec, &b, "archive/1").as_deref(), Some("\"text\""));
        assert_eq!(get(&exec, &b, "drafts/1"), None);

        let gone = change(&exec, &a, Change::Move(r("drafts/1"), r("archive/2"))).unwrap_err();
        assert_eq!(gone.kind, ErrorKind::NotFound, "{gone}");
        let onto_itself =
            change(&exec, &a, Change::Move(r("archive/1"), r("archive/1"))).unwrap_err();
        assert_eq!(onto_itself.kind, ErrorKind::BadInput, "{onto_itself}");
        assert_eq!(entries(&model), 2, "the refused moves wrote nothing");
    }
}
