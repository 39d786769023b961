// counter_eop v2 (same stable variables, version() = "v2"): enhanced orthogonal persistence (moc's default; memory64).
// `count` is stable (implicitly: persistent actor); `transientCount` is not.
persistent actor {
  var count : Nat = 0;
  transient var transientCount : Nat = 0;

  public func inc() : async Nat {
    count += 1;
    transientCount += 1;
    count;
  };

  public query func get() : async Nat { count };

  public query func transient_get() : async Nat { transientCount };

  public query func version() : async Text { "v2" };
};
