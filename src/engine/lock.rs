//! A first-come-first-served async lock for one thread.
//!
//! A caller takes a [`Ticket`] synchronously (fixing its place in the queue
//! at call time) and awaits its turn later: a client's writes reach the
//! manifest log in the order they were called, whatever order their content
//! uploads finish in.

use crate::prelude::*;

use alloc::rc::Rc;
use core::cell::RefCell;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

#[derive(Default)]
struct State {
    next: u64,
    serving: u64,
    /// Tickets dropped before their turn: skipped when it comes.
    abandoned: Vec<u64>,
    wakers: Vec<Waker>,
}

impl State {
    fn advance(&mut self) {
        self.serving += 1;
        while let Some(i) = self.abandoned.iter().position(|&n| n == self.serving) {
            self.abandoned.swap_remove(i);
            self.serving += 1;
        }
        for w in self.wakers.drain(..) {
            w.wake();
        }
    }
}

#[derive(Clone, Default)]
pub struct FifoLock(Rc<RefCell<State>>);

impl FifoLock {
    pub fn new() -> FifoLock {
        FifoLock::default()
    }

    /// A place in the queue, taken now.
    pub fn ticket(&self) -> Ticket {
        let mut s = self.0.borrow_mut();
        let n = s.next;
        s.next += 1;
        Ticket {
            lock: self.clone(),
            n,
            done: false,
        }
    }

    /// The lock now, if nobody holds it or waits for it.
    pub fn try_lock(&self) -> Option<Guard> {
        let mut s = self.0.borrow_mut();
        if s.serving != s.next {
            return None;
        }
        s.next += 1;
        Some(Guard { lock: self.clone() })
    }

    /// A place at the back of the queue, to be awaited at once (the
    /// ticket itself: no state machine around it).
    pub fn lock(&self) -> Ticket {
        self.ticket()
    }
}

/// A place in the queue; await it for the [`Guard`].
pub struct Ticket {
    lock: FifoLock,
    n: u64,
    done: bool,
}

impl Future for Ticket {
    type Output = Guard;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Guard> {
        let mut s = self.lock.0.borrow_mut();
        if s.serving == self.n {
            drop(s);
            self.done = true;
            Poll::Ready(Guard {
                lock: self.lock.clone(),
            })
        } else {
            s.wakers.push(cx.waker().clone());
            Poll::Pending
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut s = self.lock.0.borrow_mut();
        if s.serving == self.n {
            s.advance();
        } else {
            s.abandoned.push(self.n);
        }
    }
}

/// Holding the lock; dropping it serves the next ticket.
pub struct Guard {
    lock: FifoLock,
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.lock.0.borrow_mut().advance();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::task::Wake;

    struct Noop;
    impl Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }

    fn poll<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
        let waker = Waker::from(Arc::new(Noop));
        Pin::new(f).poll(&mut Context::from_waker(&waker))
    }

    #[test]
    fn serves_in_ticket_order_and_skips_abandoned_tickets() {
        let lock = FifoLock::new();
        let mut t0 = lock.ticket();
        let mut t1 = lock.ticket();
        let t2 = lock.ticket();
        let mut t3 = lock.ticket();
        assert!(poll(&mut t1).is_pending(), "t0 first");
        let g0 = match poll(&mut t0) {
            Poll::Ready(g) => g,
            Poll::Pending => panic!("t0 is served first"),
        };
        drop(t2); // abandoned before its turn
        assert!(poll(&mut t3).is_pending());
        drop(g0);
        let g1 = match poll(&mut t1) {
            Poll::Ready(g) => g,
            Poll::Pending => panic!("t1 after t0"),
        };
        assert!(poll(&mut t3).is_pending());
        drop(g1);
        assert!(poll(&mut t3).is_ready(), "t2 was skipped");
    }
}
