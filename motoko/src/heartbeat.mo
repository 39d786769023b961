// heartbeat.mo: a Motoko heartbeat (canister_heartbeat runs every round). EOP.
persistent actor {
  var beatCount : Nat = 0;

  system func heartbeat() : async () {
    beatCount += 1;
  };

  public query func beats() : async Nat { beatCount };
};
