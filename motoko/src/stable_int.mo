// stable_int: stable_nat.mo with `value : Int` instead of `Nat` (see README.md).
import Prim "mo:⛔";

persistent actor {
  var value : Int = 0;
  var names : [Text] = [];

  public func set(v : Int) : async () { value := v };

  public query func get() : async Int { value };

  public func add_name(n : Text) : async Nat {
    let old = names;
    names := Prim.Array_tabulate<Text>(old.size() + 1, func i = if (i < old.size()) old[i] else n);
    names.size();
  };

  public query func get_names() : async [Text] { names };

  public query func version() : async Text { "int" };
};
