//! [`Signal`]: a counter of events that threads wait on.

use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// Events counted, and a condition variable to wait for the next one.
#[derive(Debug, Default)]
pub struct Signal {
    count: Mutex<u64>,
    changed: Condvar,
}

impl Signal {
    /// Counts an event and wakes the waiters.
    pub fn notify(&self) {
        *self.count.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        self.changed.notify_all();
    }

    /// The number of events so far.
    pub fn count(&self) -> u64 {
        *self.count.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until an event after the `seen`-th happened, or `timeout` passed.
    pub fn wait(&self, seen: u64, timeout: Duration) {
        let guard = self.count.lock().unwrap_or_else(|p| p.into_inner());
        let _ = self
            .changed
            .wait_timeout_while(guard, timeout, |n| *n == seen);
    }
}
