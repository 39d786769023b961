// selfup_mo.mo: a Motoko canister that asks drydock's upgrader canister for its own upgrade
// (`upgradeMe`), and one that calls install_code on itself (`installSelf`, seed 001: Motoko
// traps in pre_upgrade while callbacks are outstanding, so its state stays as it was).
// EOP (moc's default). selfup_mo_v2.mo is the next version: only `version` differs.
import Principal "mo:core/Principal";

persistent actor Selfup {
  type HealthCheck = { method : Text; arg : Blob; expected_reply : ?Blob };
  type UpgradeRequest = {
    canister_id : Principal;
    wasm_module : Blob;
    arg : Blob;
    health_check : ?HealthCheck;
  };
  type Upgrader = actor { request_upgrade : shared UpgradeRequest -> async Nat64 };
  type Management = actor {
    install_code : shared {
      mode : { #upgrade : ?{ skip_pre_upgrade : ?Bool; wasm_memory_persistence : ?{ #keep; #replace } } };
      canister_id : Principal;
      wasm_module : Blob;
      arg : Blob;
    } -> async ();
  };

  var value : Nat = 0;

  public func set(n : Nat) : async () { value := n };
  public query func get() : async Nat { value };
  public query func version() : async Text { "mo-v1" };
  public query func health() : async Text { "ok" };

  public func upgradeMe(upgrader : Principal, wasm : Blob, health : ?HealthCheck) : async Nat64 {
    let u : Upgrader = actor (Principal.toText(upgrader));
    await u.request_upgrade({
      canister_id = Principal.fromActor(Selfup);
      wasm_module = wasm;
      arg = to_candid (());
      health_check = health;
    });
  };

  public func installSelf(wasm : Blob) : async () {
    let ic : Management = actor ("aaaaa-aa");
    await ic.install_code({
      mode = #upgrade(?{ skip_pre_upgrade = null; wasm_memory_persistence = ?#keep });
      canister_id = Principal.fromActor(Selfup);
      wasm_module = wasm;
      arg = to_candid (());
    });
  };
};
