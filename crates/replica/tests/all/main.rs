//! Integration tests of the replica library, one module per feature, run against real
//! canisters built from `canisters/` and `motoko/` by `scripts/build-test-canisters.sh`.

mod support;

mod bad_modules;
mod calls;
mod chunks;
mod controllers;
mod copies;
mod eop;
mod fees;
mod freezing;
mod limits;
mod logs;
mod messaging;
mod scale;
mod settings;
mod snapshot_model;
mod snapshot_transfer;
mod snapshots;
mod system_canisters;
mod timers;
mod upgrader;
mod upgrades;
