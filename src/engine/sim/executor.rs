//! A single-threaded executor on a virtual clock. Ready tasks run in a
//! seeded random order; when none is ready, time jumps to the next timer.
//! Killing a group drops its futures mid-flight: a crashed client.

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use crate::engine::rng::Rng;

type Task = Pin<Box<dyn Future<Output = ()>>>;

struct Slot {
    fut: Option<Task>,
    group: usize,
}

struct ReadyQueue(Mutex<Vec<usize>>);

struct TaskWaker {
    id: usize,
    queue: Arc<ReadyQueue>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.queue.0.lock().unwrap().push(self.id);
    }
}

#[derive(Default)]
struct TimerState {
    fired: bool,
    waker: Option<Waker>,
}

pub struct Executor {
    now: Cell<i64>,
    seq: Cell<u64>,
    timers: RefCell<BinaryHeap<Reverse<(i64, u64)>>>,
    timer_state: RefCell<HashMap<u64, TimerState>>,
    tasks: RefCell<Vec<Slot>>,
    ready: Arc<ReadyQueue>,
    pub rng: RefCell<Rng>,
}

impl Executor {
    pub fn new(start: i64, seed: u64) -> Rc<Executor> {
        Rc::new(Executor {
            now: Cell::new(start),
            seq: Cell::new(0),
            timers: RefCell::new(BinaryHeap::new()),
            timer_state: RefCell::new(HashMap::new()),
            tasks: RefCell::new(Vec::new()),
            ready: Arc::new(ReadyQueue(Mutex::new(Vec::new()))),
            rng: RefCell::new(Rng::new(seed)),
        })
    }

    pub fn now(&self) -> i64 {
        self.now.get()
    }

    pub fn spawn(&self, group: usize, fut: impl Future<Output = ()> + 'static) {
        let mut tasks = self.tasks.borrow_mut();
        tasks.push(Slot {
            fut: Some(Box::pin(fut)),
            group,
        });
        self.ready.0.lock().unwrap().push(tasks.len() - 1);
    }

    /// Drops every task of `group`, wherever it is.
    pub fn kill(&self, group: usize) {
        let dropped: Vec<Task> = self
            .tasks
            .borrow_mut()
            .iter_mut()
            .filter(|s| s.group == group)
            .filter_map(|s| s.fut.take())
            .collect();
        drop(dropped); // outside the borrow: drops may wake others
    }

    pub fn sleep(self: &Rc<Self>, ms: u64) -> Sleep {
        Sleep {
            exec: self.clone(),
            at: self.now() + ms as i64,
            id: None,
        }
    }

    fn poll_task(&self, id: usize) {
        let fut = self
            .tasks
            .borrow_mut()
            .get_mut(id)
            .and_then(|s| s.fut.take());
        let Some(mut fut) = fut else { return };
        let waker = Waker::from(Arc::new(TaskWaker {
            id,
            queue: self.ready.clone(),
        }));
        if fut
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending()
        {
            if let Some(slot) = self.tasks.borrow_mut().get_mut(id) {
                slot.fut = Some(fut);
            }
        }
    }

    /// Runs until no task can make progress or virtual time passes `until`.
    pub fn run_until(&self, until: i64) {
        loop {
            let mut ready: Vec<usize> = std::mem::take(&mut *self.ready.0.lock().unwrap());
            if !ready.is_empty() {
                ready.sort_unstable();
                ready.dedup();
                // A seeded shuffle: another interleaving per seed.
                let mut rng = self.rng.borrow_mut();
                for i in (1..ready.len()).rev() {
                    let j = rng.range(0, i as u64 + 1) as usize;
                    ready.swap(i, j);
                }
                drop(rng);
                for id in ready {
                    self.poll_task(id);
                }
                continue;
            }
            let next = self.timers.borrow_mut().pop();
            let Some(Reverse((at, id))) = next else {
                return;
            };
            if at > until {
                self.timers.borrow_mut().push(Reverse((at, id)));
                return;
            }
            self.now.set(self.now.get().max(at));
            let waker = self.timer_state.borrow_mut().get_mut(&id).and_then(|t| {
                t.fired = true;
                t.waker.take()
            });
            if let Some(w) = waker {
                w.wake();
            }
        }
    }
}

pub struct Sleep {
    exec: Rc<Executor>,
    at: i64,
    id: Option<u64>,
}

impl Future for Sleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match self.id {
            None => {
                if self.exec.now() >= self.at {
                    return Poll::Ready(());
                }
                let id = self.exec.seq.get();
                self.exec.seq.set(id + 1);
                self.exec.timers.borrow_mut().push(Reverse((self.at, id)));
                self.exec.timer_state.borrow_mut().insert(
                    id,
                    TimerState {
                        fired: false,
                        waker: Some(cx.waker().clone()),
                    },
                );
                self.id = Some(id);
                Poll::Pending
            }
            Some(id) => {
                let mut states = self.exec.timer_state.borrow_mut();
                let state = states.get_mut(&id).expect("registered");
                if state.fired {
                    states.remove(&id);
                    Poll::Ready(())
                } else {
                    state.waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        }
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            self.exec.timer_state.borrow_mut().remove(&id);
        }
    }
}
