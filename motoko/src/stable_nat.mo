// stable_nat: base of the stable-type family (see README.md): stable `value : Nat`
// and `names : [Text]`. stable_int.mo has `value : Int`; stable_dropped.mo drops `value`.
import Prim "mo:⛔";

persistent actor {
  var value : Nat = 0;
  var names : [Text] = [];

  public func set(v : Nat) : async () { value := v };

  public query func get() : async Nat { value };

  public func add_name(n : Text) : async Nat {
    let old = names;
    names := Prim.Array_tabulate<Text>(old.size() + 1, func i = if (i < old.size()) old[i] else n);
    names.size();
  };

  public query func get_names() : async [Text] { names };

  public query func version() : async Text { "nat" };
};
