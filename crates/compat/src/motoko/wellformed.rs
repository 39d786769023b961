//! What moc refuses in a block of type definitions, and so never writes into a `.most`:
//! non-productive definitions (M0157, `type A = B; type B = A`) and expansive ones (M0156,
//! non-regular recursion such as `type L<T> = ?(T, L<?T>)`, whose expansions never repeat).
//! The checker relies on both: without them, expanding definitions need not end.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use super::types::{Type, TypeDef};

/// The first refused definition, by name, with the reason.
pub fn check(defs: &BTreeMap<String, TypeDef>) -> Result<(), (String, String)> {
    non_productive(defs)?;
    expansive(defs)
}

/// A definition whose body, followed through definitions, is only ever another type name.
fn non_productive(defs: &BTreeMap<String, TypeDef>) -> Result<(), (String, String)> {
    for (name, def) in defs {
        let mut seen = HashSet::from([name.as_str()]);
        let mut body = &def.body;
        while let Type::Con(n, _) = body {
            if !seen.insert(n.as_str()) {
                return Err((
                    name.clone(),
                    format!(
                        "type `{name}` is not productive: it expands only to type names, never to a type (moc refuses it, M0157)"
                    ),
                ));
            }
            match defs.get(n) {
                Some(d) => body = &d.body,
                None => break,
            }
        }
    }
    Ok(())
}

/// A definition parameter `(definition, index)`.
type Node<'a> = (&'a str, usize);

/// moc's `Expansive`: parameter `i` of `C` flows into argument `j` of a use `D<..>` in `C`'s
/// body, as itself (a plain edge) or inside a larger type (an expansive edge). The
/// definitions are expansive when an expansive edge lies on a cycle.
fn expansive(defs: &BTreeMap<String, TypeDef>) -> Result<(), (String, String)> {
    let mut edges: HashMap<Node, Vec<Node>> = HashMap::new();
    let mut growing: Vec<(Node, Node)> = Vec::new();
    for (name, def) in defs {
        def.body.for_each_con(&mut |used, args| {
            let Some((used, _)) = defs.get_key_value(used) else {
                return;
            };
            for (j, arg) in args.iter().enumerate() {
                for i in 0..def.params {
                    let (from, to) = ((name.as_str(), i), (used.as_str(), j));
                    if *arg == Type::Param(i) {
                        edges.entry(from).or_default().push(to);
                    } else if arg.mentions_param(i) {
                        edges.entry(from).or_default().push(to);
                        growing.push((from, to));
                    }
                }
            }
        });
    }
    growing.sort_unstable();
    growing.dedup();
    for (from, to) in growing {
        // does `to` lead back to `from`?
        let mut seen = HashSet::from([to]);
        let mut queue = VecDeque::from([to]);
        while let Some(n) = queue.pop_front() {
            if n == from {
                return Err((
                    from.0.to_string(),
                    format!(
                        "type `{}` is expansive: its parameter {} comes back to it inside a larger type argument, so its expansions never repeat (moc refuses it, M0156)",
                        from.0,
                        from.1 + 1
                    ),
                ));
            }
            for &next in edges.get(&n).into_iter().flatten() {
                if seen.insert(next) {
                    queue.push_back(next);
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::parse;

    fn refused(src: &str) -> String {
        match parse(src) {
            Ok(_) => panic!("accepted: {src}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn expansive_definitions_are_refused_as_moc_refuses_them() {
        let e = refused(
            "type List<T> = ?(T, List<?T>);\nactor {\n  stable var items : List<Nat>\n};\n",
        );
        assert!(e.contains("M0156") && e.contains("`List`"), "{e}");
        // through a second definition
        let e =
            refused("type A<T> = ?B<[T]>;\ntype B<U> = ?A<U>;\nactor {\n  stable x : A<Nat>\n};\n");
        assert!(e.contains("M0156"), "{e}");
    }

    #[test]
    fn regular_recursion_is_accepted() {
        for src in [
            "type List<T> = ?(T, List<T>);\nactor {\n  stable var items : List<Nat>\n};\n",
            "type Tree<K, V> = ?(Tree<K, V>, K, V, Tree<K, V>);\ntype Map<K, V> = {root : Tree<K, V>};\nactor {\n  stable m : Map<Text, [Nat]>\n};\n",
            "type Wrap<T> = {inner : ?T};\ntype L<T> = ?(Wrap<T>, L<T>);\nactor {\n  stable l : L<Wrap<Nat>>\n};\n",
        ] {
            parse(src).unwrap_or_else(|e| panic!("{e}\n{src}"));
        }
    }

    #[test]
    fn non_productive_definitions_are_refused() {
        let e = refused("type A = B;\ntype B = A;\nactor {\n  stable x : A\n};\n");
        assert!(e.contains("M0157"), "{e}");
    }
}
