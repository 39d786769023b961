// shop_result_tag: shop.mo with ONE interface change: Result gains the tag `#notFound` (breaking: a result may carry a tag old clients cannot decode).
// Same stable state as shop.mo (see README.md).
persistent actor {
  type Item = { name : Text; price : Nat };
  type Result = { #ok : Nat; #err : Text; #notFound };
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

  func without(l : Entries, id : Nat) : (Entries, Bool) {
    switch l {
      case null (null, false);
      case (?(e, rest)) {
        if (e.id == id) (rest, true)
        else { let (r, found) = without(rest, id); (?(e, r), found) };
      };
    };
  };

  public func create(item : { name : Text; price : Nat }) : async Result {
    if (item.name == "") return #err("empty name");
    if (item.price == 0) return #notFound;
    let id = nextId;
    nextId += 1;
    entries := ?({ id; item = { name = item.name; price = item.price } }, entries);
    size += 1;
    #ok(id);
  };

  public query func get(id : Nat) : async ?{ name : Text; price : Nat } { find(entries, id) };

  public func remove(id : Nat) : async Bool {
    let (rest, found) = without(entries, id);
    if (found) { entries := rest; size -= 1 };
    found;
  };

  public query func count() : async Nat { size };
};
