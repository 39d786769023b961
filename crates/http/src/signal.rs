//! [`Signal`]: a counter of events that threads wait on.

use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// Events counted, and a condition variable to wait for the next one.
#[derive(Debug, Default)]
pub struct Signal {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct State {
    count: u64,
    /// Threads inside [`Signal::wait`]. A notification with none skips the wake-up, which is
    /// a system call even when nobody sleeps (the scheduler is notified after every
    /// execution, mostly while it is busy anyway).
    waiters: usize,
}

impl Signal {
    /// Counts an event and wakes the waiters.
    pub fn notify(&self) {
        let waiters = {
            let mut s = self.lock();
            s.count += 1;
            s.waiters
        };
        if waiters > 0 {
            self.changed.notify_all();
        }
    }

    /// The number of events so far.
    pub fn count(&self) -> u64 {
        self.lock().count
    }

    /// Waits until an event after the `seen`-th happened, or `timeout` passed.
    pub fn wait(&self, seen: u64, timeout: Duration) {
        let mut guard = self.lock();
        // Registered under the lock before the count is checked: a notification that counts
        // after this point sees the waiter.
        guard.waiters += 1;
        let (mut guard, _) = self
            .changed
            .wait_timeout_while(guard, timeout, |s| s.count == seen)
            .unwrap_or_else(|p| p.into_inner());
        guard.waiters -= 1;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Instant;

    #[test]
    fn a_sleeping_waiter_wakes_on_the_next_event_not_on_the_timeout() {
        let signal = Arc::new(Signal::default());
        for _ in 0..2 {
            let seen = signal.count();
            let s = signal.clone();
            let waiter = std::thread::spawn(move || {
                let start = Instant::now();
                s.wait(seen, Duration::from_secs(60));
                (start.elapsed(), s.count())
            });
            // Once it is registered, one notification must wake it.
            while signal.lock().waiters == 0 {
                std::thread::yield_now();
            }
            signal.notify();
            let (waited, count) = waiter.join().unwrap();
            assert_eq!(count, seen + 1);
            assert!(waited < Duration::from_secs(60), "it slept {waited:?}");
        }
        assert_eq!(signal.lock().waiters, 0);
    }

    #[test]
    fn an_event_before_the_wait_returns_at_once() {
        let signal = Signal::default();
        let seen = signal.count();
        signal.notify();
        signal.wait(seen, Duration::from_secs(60));
        assert_eq!(signal.count(), seen + 1);
        assert_eq!(signal.lock().waiters, 0);
    }
}
