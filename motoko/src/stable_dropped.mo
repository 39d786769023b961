// stable_dropped: stable_nat.mo without the stable variable `value` (and so without
// set/get); `names` is kept (see README.md).
import Prim "mo:⛔";

persistent actor {
  var names : [Text] = [];

  public func add_name(n : Text) : async Nat {
    let old = names;
    names := Prim.Array_tabulate<Text>(old.size() + 1, func i = if (i < old.size()) old[i] else n);
    names.size();
  };

  public query func get_names() : async [Text] { names };

  public query func version() : async Text { "dropped" };
};
