//! [`Destination`]: where a message to a principal goes. Every path a message takes —
//! ingress, a canister's call, a query — routes through [`route`], so the management canister
//! and the native system canisters are reached like any canister.

use candid::Principal;

use crate::ids::MANAGEMENT_CANISTER;
use crate::system::canisters::SystemCanister;

/// Where a call to a principal goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Destination {
    Management,
    System(SystemCanister),
    Canister(Principal),
}

/// Routes a principal.
pub(crate) fn route(id: &Principal) -> Destination {
    if *id == MANAGEMENT_CANISTER {
        Destination::Management
    } else if let Some(system) = SystemCanister::of(id) {
        Destination::System(system)
    } else {
        Destination::Canister(*id)
    }
}
