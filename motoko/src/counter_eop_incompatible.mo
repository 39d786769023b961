// counter_eop_incompatible: like counter_eop but `count : Text` — a memory-incompatible
// upgrade from counter_eop (the Motoko runtime traps "Memory-incompatible program upgrade").
// `count` is stable (implicitly: persistent actor); `transientCount` is not.
persistent actor {
  var count : Text = "";
  transient var transientCount : Nat = 0;

  public func inc() : async Nat {
    count #= "+";
    transientCount += 1;
    count.size();
  };

  public query func get() : async Nat { count.size() };

  public query func transient_get() : async Nat { transientCount };

  public query func version() : async Text { "incompatible" };
};
