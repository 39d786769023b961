//! The IC HTTP interface over a drydock replica.
