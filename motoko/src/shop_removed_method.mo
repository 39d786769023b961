// shop_removed_method: shop.mo with ONE interface change: `remove` is removed (breaking).
// Same stable state as shop.mo (see README.md).
persistent actor {
  type Item = { name : Text; price : Nat };
  type Result = { #ok : Nat; #err : Text };
  type Entries = ?({ id : Nat; item : Item }, Entries);

  var entries : Entries = null;
  var nextId : Nat = 0;
  var size : Nat = 0;

  func find(l : Entries, id : Nat) : ?Item {
    switch l {
      case null null;
      case (?(e, rest)) { if (e.id == id) ?e.item else find(rest, id) };
    };
  };

  public func create(item : { name : Text; price : Nat }) : async Result {
    if (item.name == "") return #err("empty name");
    let id = nextId;
    nextId += 1;
    entries := ?({ id; item = { name = item.name; price = item.price } }, entries);
    size += 1;
    #ok(id);
  };

  public query func get(id : Nat) : async ?{ name : Text; price : Nat } { find(entries, id) };

  public query func count() : async Nat { size };
};
