//! Integration tests of `drydock-state`, one module per feature.

mod crash_consistency;
mod fault_backend;
mod formats;
mod full_disk;
mod locking;
mod model;
mod recovery;
mod round_trips;
mod snapshots;
mod support;
