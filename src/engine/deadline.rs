//! A future raced against a deadline: how a request that never answers
//! (a stalled connection, a server that accepted the body and went
//! silent) ends. The browser's `fetch` has no time limit of its own, so
//! without one a stalled poll stops a subscriber's updates and a stalled
//! write holds its key's queue until the page closes.
//!
//! The race is the core's, over whatever futures the `Io` gives: one
//! policy, run the same in the browser and in the simulation. Dropping the
//! losing request is how it is cancelled (the browser edge aborts its
//! fetch when its future is dropped).

use core::future::{poll_fn, Future};
use core::pin::pin;
use core::task::Poll;

use crate::prelude::*;

/// `work`'s output, or `None` if `deadline` finished first; the loser is
/// dropped. On a tie `work` wins: an answer that came is never thrown away.
pub async fn until<T>(
    work: impl Future<Output = T>,
    deadline: impl Future<Output = ()>,
) -> Option<T> {
    let mut work = pin!(work);
    let mut deadline = pin!(deadline);
    poll_fn(|cx| {
        if let Poll::Ready(out) = work.as_mut().poll(cx) {
            return Poll::Ready(Some(out));
        }
        match deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

/// The outputs of `work`, in order, run concurrently: requests that do
/// not depend on each other (a cold read's listings, a tail's entries)
/// take one round trip together instead of one each.
pub async fn join_all<T>(
    mut work: Vec<core::pin::Pin<Box<dyn Future<Output = T> + '_>>>,
) -> Vec<T> {
    let mut outs = Vec::new();
    for _ in 0..work.len() {
        outs.push(None);
    }
    poll_fn(|cx| {
        let mut done = true;
        for (f, out) in work.iter_mut().zip(outs.iter_mut()) {
            if out.is_none() {
                match f.as_mut().poll(cx) {
                    Poll::Ready(v) => *out = Some(v),
                    Poll::Pending => done = false,
                }
            }
        }
        if done {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    // Every one is ready now.
    let mut ready = Vec::new();
    for out in outs {
        let Some(v) = out else { continue };
        ready.push(v);
    }
    ready
}

/// Both outputs of `a` and `b`, run concurrently.
pub async fn join2<A, B>(a: impl Future<Output = A>, b: impl Future<Output = B>) -> (A, B) {
    let (mut a, mut b) = (pin!(a), pin!(b));
    let (mut x, mut y) = (None, None);
    poll_fn(|cx| {
        if x.is_none() {
            if let Poll::Ready(v) = a.as_mut().poll(cx) {
                x = Some(v);
            }
        }
        if y.is_none() {
            if let Poll::Ready(v) = b.as_mut().poll(cx) {
                y = Some(v);
            }
        }
        if x.is_some() && y.is_some() {
            Poll::Ready((x.take().expect("ready"), y.take().expect("ready")))
        } else {
            Poll::Pending
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;
    use std::sync::Arc;
    use std::task::{Context, Wake, Waker};

    struct Noop;
    impl Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }

    /// Ready once `clock` reaches `at`.
    async fn at(clock: Rc<Cell<u32>>, at: u32) {
        poll_fn(|_| {
            if clock.get() >= at {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
    }

    /// Polls `until(work at `work_at`, deadline at `deadline_at`)` once per
    /// tick: (tick it finished at, outcome).
    fn race(work_at: u32, deadline_at: u32) -> (u32, Option<&'static str>) {
        let clock = Rc::new(Cell::new(0));
        let work = {
            let clock = clock.clone();
            async move {
                at(clock, work_at).await;
                "answer"
            }
        };
        let mut fut = pin!(until(work, at(clock.clone(), deadline_at)));
        let waker = Waker::from(Arc::new(Noop));
        let mut cx = Context::from_waker(&waker);
        loop {
            if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
                return (clock.get(), out);
            }
            clock.set(clock.get() + 1);
        }
    }

    #[test]
    fn the_first_to_finish_decides_and_an_answer_wins_a_tie() {
        assert_eq!(race(3, 10), (3, Some("answer")));
        assert_eq!(race(10, 3), (3, None), "the deadline ends a late answer");
        assert_eq!(race(5, 5), (5, Some("answer")), "a tie keeps the answer");
        assert_eq!(race(0, 0), (0, Some("answer")));
    }

    #[test]
    fn the_loser_is_dropped_when_the_race_ends() {
        struct Flag(Rc<Cell<bool>>);
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.set(true);
            }
        }
        let dropped = Rc::new(Cell::new(false));
        let flag = Flag(dropped.clone());
        let never = async move {
            let _flag = flag;
            poll_fn(|_| Poll::<()>::Pending).await;
        };
        let mut fut = pin!(until(never, async {}));
        let waker = Waker::from(Arc::new(Noop));
        assert_eq!(
            fut.as_mut().poll(&mut Context::from_waker(&waker)),
            Poll::Ready(None)
        );
        assert!(
            dropped.get(),
            "the stalled work was dropped as the race ended"
        );
    }
}
