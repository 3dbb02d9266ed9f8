//! Locks shared by the tabs of an origin: the Web Locks API. A lock is
//! held while the promise returned to `navigator.locks.request` is
//! pending; dropping a [`WebLock`] resolves it. The browser releases the
//! locks of a tab that closes or crashes, which is what lets another tab
//! take over its queued writes.

use alloc::rc::Rc;
use core::cell::RefCell;

use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

pub struct WebLock {
    release: Option<Function>,
}

impl Drop for WebLock {
    fn drop(&mut self) {
        if let Some(f) = self.release.take() {
            let _ = f.call0(&JsValue::NULL);
        }
    }
}

fn lock_manager() -> Option<JsValue> {
    let navigator = Reflect::get(&js_sys::global(), &"navigator".into()).ok()?;
    let locks = Reflect::get(&navigator, &"locks".into()).ok()?;
    (!locks.is_undefined()).then_some(locks)
}

/// Whether this browser has the Web Locks API.
pub fn supported() -> bool {
    lock_manager().is_some()
}

/// Takes the lock `name`, waiting for it if `wait`, else `None` when held.
/// Without Web Locks (an old browser) every lock is granted: tabs are then
/// not kept apart (the client logs it once).
pub async fn lock(name: &str, wait: bool) -> Option<WebLock> {
    let Some(locks) = lock_manager() else {
        return Some(WebLock { release: None });
    };
    let granted: Rc<RefCell<Option<Function>>> = Rc::default();
    let g = granted.clone();
    let granted_promise = Promise::new(&mut |resolve, _| *g.borrow_mut() = Some(resolve));
    let release: Rc<RefCell<Option<Function>>> = Rc::default();
    let r = release.clone();
    let callback = Closure::once_into_js(move |lock: JsValue| -> JsValue {
        let tell = granted.borrow_mut().take();
        let Some(tell) = tell else {
            return JsValue::UNDEFINED;
        };
        if lock.is_null() {
            let _ = tell.call1(&JsValue::NULL, &JsValue::FALSE);
            return JsValue::UNDEFINED;
        }
        let hold = Promise::new(&mut |resolve, _| *r.borrow_mut() = Some(resolve));
        let _ = tell.call1(&JsValue::NULL, &JsValue::TRUE);
        hold.into()
    });
    let options = Object::new();
    let _ = Reflect::set(&options, &"ifAvailable".into(), &JsValue::from_bool(!wait));
    let request: Function = Reflect::get(&locks, &"request".into())
        .ok()?
        .dyn_into()
        .ok()?;
    if request
        .call3(&locks, &name.into(), &options, &callback)
        .is_err()
    {
        return None;
    }
    let ok = JsFuture::from(granted_promise).await.ok()?.as_bool() == Some(true);
    let release = release.borrow_mut().take();
    ok.then_some(WebLock { release })
}
