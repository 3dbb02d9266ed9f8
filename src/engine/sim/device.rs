//! The simulation's durable store and cross-tab locks: what IndexedDB and
//! Web Locks are in a browser. It outlives the clients using it, so a
//! client killed mid-write can be started again over what it left.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use crate::engine::error::{Error, ErrorKind, Result};
use crate::engine::io::Table;

/// Messages a tab has not read yet.
pub type Inbox = Rc<RefCell<Vec<String>>>;

/// A test's hook into each store put: table, key, value.
pub type PutHook = Box<dyn Fn(Table, &str, &str)>;

#[derive(Default)]
pub struct Device {
    pub data: RefCell<BTreeMap<(Table, String), String>>,
    pub locks: Rc<RefCell<BTreeSet<String>>>,
    /// Every store operation fails (IndexedDB blocked or over quota).
    pub broken: Cell<bool>,
    /// Each tab's inbox of broadcast messages: (group, namespace, inbox).
    pub inboxes: RefCell<Vec<(usize, String, Inbox)>>,
    /// Called after each put, as the stored value lands (a test's hook
    /// into the moment between a write's steps).
    pub on_put: RefCell<Option<PutHook>>,
}

pub struct SimLock {
    name: String,
    locks: Rc<RefCell<BTreeSet<String>>>,
}

impl Drop for SimLock {
    fn drop(&mut self) {
        self.locks.borrow_mut().remove(&self.name);
    }
}

impl Device {
    fn check(&self) -> Result<()> {
        if self.broken.get() {
            Err(Error::new(ErrorKind::Storage, "QuotaExceededError"))
        } else {
            Ok(())
        }
    }

    pub fn get(&self, table: Table, key: &str) -> Result<Option<String>> {
        self.check()?;
        Ok(self.data.borrow().get(&(table, key.to_string())).cloned())
    }

    pub fn put(&self, table: Table, key: &str, value: &str) -> Result<()> {
        self.check()?;
        self.data
            .borrow_mut()
            .insert((table, key.to_string()), value.to_string());
        if let Some(hook) = &*self.on_put.borrow() {
            hook(table, key, value);
        }
        Ok(())
    }

    pub fn delete(&self, table: Table, key: &str) -> Result<()> {
        self.check()?;
        self.data.borrow_mut().remove(&(table, key.to_string()));
        Ok(())
    }

    pub fn scan(&self, table: Table, prefix: &str) -> Result<Vec<(String, String)>> {
        self.check()?;
        Ok(self
            .data
            .borrow()
            .range((table, prefix.to_string())..)
            .take_while(|((t, k), _)| *t == table && k.starts_with(prefix))
            .map(|((_, k), v)| (k.clone(), v.clone()))
            .collect())
    }

    pub fn try_lock(&self, name: &str) -> Option<SimLock> {
        if !self.locks.borrow_mut().insert(name.to_string()) {
            return None;
        }
        Some(SimLock {
            name: name.to_string(),
            locks: self.locks.clone(),
        })
    }

    /// A `BroadcastChannel`: to every other client of `namespace`.
    pub fn broadcast(&self, from: usize, namespace: &str, message: &str) {
        for (c, ns, inbox) in self.inboxes.borrow().iter() {
            if *c != from && ns == namespace {
                inbox.borrow_mut().push(message.to_string());
            }
        }
    }

    /// Queued writes left in the store, across namespaces.
    pub fn queued(&self) -> usize {
        self.data
            .borrow()
            .keys()
            .filter(|(t, _)| *t == Table::Queue)
            .count()
    }
}
