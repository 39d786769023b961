// pingpong.mo (built as pingpong_mo.wasm): inter-canister calls from Motoko.
// EOP (moc's default). Uses the `core` library that ships in the npm package
// (build.js loads it). `chain` is compatible with the Rust pingpong's, so a
// chain may mix Rust and Motoko hops.
import Array "mo:core/Array";
import Error "mo:core/Error";
import Nat32 "mo:core/Nat32";
import Principal "mo:core/Principal";
import Runtime "mo:core/Runtime";
import Timer "mo:core/Timer";

persistent actor PingPong {
  type Chain = actor { chain : shared [Principal] -> async Text };
  type Getter = actor { get : shared query () -> async Nat };

  var count : Nat = 0;
  var tickCount : Nat = 0;

  // The IC's reject code numbers.
  func rejectCode(e : Error) : Nat {
    switch (Error.code(e)) {
      case (#system_fatal) 1;
      case (#system_transient) 2;
      case (#destination_invalid) 3;
      case (#canister_reject) 4;
      case (#canister_error) 5;
      case (#system_unknown) 6;
      case (#future n) Nat32.toNat(n);
      // call_perform failed synchronously; err_code is its (reject code) result.
      case (#call_error { err_code }) Nat32.toNat(err_code);
    };
  };

  // [] -> "end"; [a, b, ...] -> "<self> > " # a.chain([b, ...]), or
  // "reject <code> <message>" when that call fails.
  public func chain(hops : [Principal]) : async Text {
    if (hops.size() == 0) return "end";
    let next = actor (Principal.toText(hops[0])) : Chain;
    let rest = Array.sliceToArray(hops, 1, hops.size());
    try {
      let inner = await next.chain(rest);
      Principal.toText(Principal.fromActor(PingPong)) # " > " # inner;
    } catch (e) {
      "reject " # debug_show (rejectCode(e)) # " " # Error.message(e);
    };
  };

  public query func get() : async Nat { count };

  public func inc() : async Nat {
    count += 1;
    count;
  };

  // Composite query: `other.get()` (a query), as seen from here.
  public composite query func peek(other : Principal) : async Nat {
    let a = actor (Principal.toText(other)) : Getter;
    await a.get();
  };

  // A recurring timer every `secs` seconds, bumping `tickCount` (timers do not survive upgrades).
  public func startTimer(secs : Nat) : async () {
    ignore Timer.recurringTimer<system>(#seconds secs, func() : async () { tickCount += 1 });
  };

  public query func ticks() : async Nat { tickCount };

  public func trapNow() : async () {
    Runtime.trap("pingpong.mo: trap");
  };
};
