//! [`MethodKind`]: what kind of method a canister exports under a name.

/// The kind of an exported canister method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MethodKind {
    Update,
    Query,
    CompositeQuery,
}
