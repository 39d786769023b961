//! Nothing here: the suite is `tests/`.
