//! The certified state tree: a labelled tree of blobs built from the replica's state for one
//! request, and the witness of it that a certificate carries.
//!
//! The witness reveals exactly the requested paths (a requested path that ends at a subtree
//! reveals the whole subtree) and prunes everything else to its hash, so the root hash is that
//! of the full tree. Labels are kept sorted and forks balanced, which is what lets agents prove
//! a path absent.

use std::collections::BTreeMap;

use ic_certification::hash_tree::{
    empty, fork, fork_hash, label, labeled_hash, leaf, leaf_hash, pruned, HashTree,
};

/// A number as the state tree holds it (`time`, `reject_code`): unsigned LEB128.
#[cfg(feature = "server")]
pub(crate) fn leb128(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

/// A node of the state tree.
#[derive(Clone, Debug)]
pub enum Node {
    /// A blob and its leaf hash, computed once when it is inserted: a witness prunes the
    /// other leaves of its tree (a batch certificate's other 2 MB replies) to that hash
    /// without reading them again.
    Leaf(Vec<u8>, [u8; 32]),
    /// A subtree, with its hashes once computed.
    Sub(BTreeMap<Vec<u8>, Node>, Hashes),
}

/// A subtree's hashes, computed once, when first needed, and forgotten when it changes: a
/// batch certificate's tree is hashed once to be signed, then pruned once for each of its
/// requests' witnesses, each of which prunes all the tree but one request's status.
#[derive(Clone, Debug, Default)]
pub struct Hashes(std::sync::OnceLock<SubHashes>);

#[derive(Clone, Debug)]
struct SubHashes {
    /// Each child's labelled hash, in label order.
    labeled: Vec<[u8; 32]>,
    /// The hash of each fork of the balanced tree over them, in pre-order (the first is the
    /// subtree's own, when it has two children or more).
    forks: Vec<[u8; 32]>,
    /// The subtree's own.
    digest: [u8; 32],
}

impl Default for Node {
    fn default() -> Self {
        Node::Sub(BTreeMap::new(), Hashes::default())
    }
}

impl Node {
    /// Inserts a leaf at `path`, creating subtrees on the way (a leaf in the way is replaced).
    pub fn insert(&mut self, path: &[&[u8]], value: Vec<u8>) {
        let Some((first, rest)) = path.split_first() else {
            let hash = leaf_hash(&value);
            *self = Node::Leaf(value, hash);
            return;
        };
        if let Node::Leaf(..) = self {
            *self = Node::default();
        }
        if let Node::Sub(children, hashes) = self {
            *hashes = Hashes::default();
            children
                .entry(first.to_vec())
                .or_default()
                .insert(rest, value);
        }
    }

    /// The node's hash, as the interface spec defines it for the corresponding hash tree.
    pub fn digest(&self) -> [u8; 32] {
        match self {
            Node::Leaf(_, hash) => *hash,
            Node::Sub(children, hashes) => hashes.of(children).digest,
        }
    }

    /// The witness revealing `paths`.
    pub fn witness(&self, paths: &[Vec<Vec<u8>>]) -> HashTree<Vec<u8>> {
        let paths: Vec<&[Vec<u8>]> = paths.iter().map(|p| p.as_slice()).collect();
        self.witness_of(&paths)
    }

    fn witness_of(&self, paths: &[&[Vec<u8>]]) -> HashTree<Vec<u8>> {
        if paths.iter().any(|p| p.is_empty()) {
            return self.full();
        }
        match self {
            Node::Leaf(v, hash) => {
                if paths.is_empty() {
                    pruned(*hash)
                } else {
                    // The path goes below a leaf: reveal the leaf, which proves the rest absent.
                    leaf(v.clone())
                }
            }
            Node::Sub(children, hashes) => {
                // When a requested label is missing here, every label is revealed (contents
                // pruned), so the witness proves the path absent.
                let prove_absence = paths.iter().any(|p| !children.contains_key(&p[0]));
                // `None`: pruned, with as many of its neighbours as can go with it.
                let mut items: Vec<Option<HashTree<Vec<u8>>>> = children
                    .iter()
                    .map(|(l, n)| {
                        let below: Vec<&[Vec<u8>]> = paths
                            .iter()
                            .filter(|p| p[0] == *l)
                            .map(|p| &p[1..])
                            .collect();
                        if below.is_empty() && prove_absence {
                            Some(label(l.clone(), pruned(n.digest())))
                        } else if below.is_empty() {
                            None
                        } else {
                            Some(label(l.clone(), n.witness_of(&below)))
                        }
                    })
                    .collect();
                hashes.of(children).pruning(&mut items)
            }
        }
    }

    fn full(&self) -> HashTree<Vec<u8>> {
        match self {
            Node::Leaf(v, _) => leaf(v.clone()),
            Node::Sub(children, hashes) => {
                let mut items: Vec<Option<HashTree<Vec<u8>>>> = children
                    .iter()
                    .map(|(l, n)| Some(label(l.clone(), n.full())))
                    .collect();
                hashes.of(children).pruning(&mut items)
            }
        }
    }
}

impl Hashes {
    /// The hashes of the subtree of `children`, computed on the first call.
    fn of(&self, children: &BTreeMap<Vec<u8>, Node>) -> &SubHashes {
        self.0.get_or_init(|| {
            let labeled: Vec<[u8; 32]> = children
                .iter()
                .map(|(l, n)| labeled_hash(l, &n.digest()))
                .collect();
            let mut forks = Vec::with_capacity(labeled.len().saturating_sub(1));
            let digest = forks_of(&labeled, &mut forks);
            SubHashes {
                labeled,
                forks,
                digest,
            }
        })
    }
}

impl SubHashes {
    /// The balanced tree of a subtree's children as a witness shows them: `items` holds the
    /// revealed ones, and each largest run of the others that forms a fork of the tree is
    /// pruned to that fork's hash, as the IC's witnesses are: a call's witness of a batch of
    /// 64 statuses holds 6 pruned hashes, not 63.
    fn pruning(&self, items: &mut [Option<HashTree<Vec<u8>>>]) -> HashTree<Vec<u8>> {
        pruning(items, &self.labeled, &self.forks, 0)
    }
}

/// [`SubHashes::pruning`] of the fork at pre-order position `at` over `items` and `labeled`.
fn pruning(
    items: &mut [Option<HashTree<Vec<u8>>>],
    labeled: &[[u8; 32]],
    forks: &[[u8; 32]],
    at: usize,
) -> HashTree<Vec<u8>> {
    let n = items.len();
    if n == 0 {
        return empty();
    }
    if items.iter().all(Option::is_none) {
        let hash = if n == 1 {
            labeled.first()
        } else {
            forks.get(at)
        };
        return pruned(hash.copied().unwrap_or_default());
    }
    if n == 1 {
        return items[0].take().unwrap_or_else(empty);
    }
    let (left, right) = items.split_at_mut(n / 2);
    let (left_hashes, right_hashes) = labeled.split_at(n / 2);
    // The left fork's forks come first: n / 2 - 1 of them.
    fork(
        pruning(left, left_hashes, forks, at + 1),
        pruning(right, right_hashes, forks, at + n / 2),
    )
}

/// The hash of the balanced tree over `hashes` (the first half to the left, as [`pruning`]
/// splits), pushing each fork's hash onto `forks` in pre-order.
fn forks_of(hashes: &[[u8; 32]], forks: &mut Vec<[u8; 32]>) -> [u8; 32] {
    match hashes.len() {
        0 => empty::<Vec<u8>>().digest(),
        1 => hashes[0],
        n => {
            let at = forks.len();
            forks.push([0; 32]);
            let left = forks_of(&hashes[..n / 2], forks);
            let right = forks_of(&hashes[n / 2..], forks);
            forks[at] = fork_hash(&left, &right);
            forks[at]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ic_certification::LookupResult;

    fn sample() -> Node {
        let mut t = Node::default();
        t.insert(&[b"time"], vec![1]);
        for i in 0u8..5 {
            t.insert(&[b"canister", &[i], b"module_hash"], vec![i; 32]);
            t.insert(&[b"canister", &[i], b"controllers"], vec![i]);
        }
        t
    }

    #[test]
    fn a_witness_has_the_full_trees_root_hash_and_reveals_only_what_was_asked() {
        let t = sample();
        let w = t.witness(&[
            vec![b"time".to_vec()],
            vec![b"canister".to_vec(), vec![3], b"module_hash".to_vec()],
            vec![b"canister".to_vec(), vec![9], b"module_hash".to_vec()],
        ]);
        assert_eq!(w.digest(), t.digest());
        assert_eq!(t.full().digest(), t.digest());
        assert_eq!(
            w.lookup_path([b"time".as_ref()]),
            LookupResult::Found(&[1u8][..])
        );
        assert_eq!(
            w.lookup_path([b"canister".as_ref(), &[3], b"module_hash"]),
            LookupResult::Found(&[3u8; 32][..])
        );
        assert!(matches!(
            w.lookup_path([b"canister".as_ref(), &[2], b"module_hash"]),
            LookupResult::Unknown
        ));
        // A requested absent canister is provably absent.
        assert_eq!(
            w.lookup_path([b"canister".as_ref(), &[9], b"module_hash"]),
            LookupResult::Absent
        );
    }

    #[test]
    fn a_tree_changed_after_it_was_hashed_is_hashed_anew() {
        let mut t = sample();
        let before = t.digest();
        let _ = t.witness(&[vec![b"time".to_vec()]]);
        t.insert(&[b"canister", &[2], b"controllers"], vec![7]);
        let mut never_hashed = sample();
        never_hashed.insert(&[b"canister", &[2], b"controllers"], vec![7]);
        assert_ne!(t.digest(), before);
        assert_eq!(t.digest(), never_hashed.digest());
        let path = vec![b"canister".to_vec(), vec![2], b"controllers".to_vec()];
        let w = t.witness(std::slice::from_ref(&path));
        assert_eq!(w.digest(), t.digest());
        assert_eq!(
            w.lookup_path([b"canister".as_ref(), &[2], b"controllers"]),
            LookupResult::Found(&[7u8][..])
        );
    }

    fn pruned_nodes(n: &ic_certification::hash_tree::HashTreeNode<Vec<u8>>) -> usize {
        use ic_certification::hash_tree::HashTreeNode as N;
        match n {
            N::Pruned(_) => 1,
            N::Fork(f) => pruned_nodes(&f.0) + pruned_nodes(&f.1),
            N::Labeled(_, t) => pruned_nodes(t),
            N::Empty() | N::Leaf(_) => 0,
        }
    }

    #[test]
    fn a_witness_of_one_of_64_siblings_prunes_the_others_as_whole_forks() {
        let mut t = Node::default();
        for i in 0u8..64 {
            t.insert(&[b"request_status", &[i], b"status"], b"replied".to_vec());
            t.insert(&[b"request_status", &[i], b"reply"], vec![i]);
        }
        t.insert(&[b"time"], vec![1]);
        for i in [0u8, 17, 63] {
            let w = t.witness(&[vec![b"request_status".to_vec(), vec![i]]]);
            assert_eq!(w.digest(), t.digest());
            assert_eq!(
                w.lookup_path([b"request_status".as_ref(), &[i], b"reply"]),
                LookupResult::Found(&[i][..])
            );
            assert!(matches!(
                w.lookup_path([b"request_status".as_ref(), &[i ^ 1], b"reply"]),
                LookupResult::Unknown
            ));
            // log2(64) forks pruned beside the path, and `time` at the root.
            assert_eq!(pruned_nodes(&w.into()), 7, "sibling {i}");
        }
        // A missing sibling is still proved absent: every label is revealed.
        let w = t.witness(&[vec![b"request_status".to_vec(), vec![200]]]);
        assert_eq!(w.digest(), t.digest());
        assert_eq!(
            w.lookup_path([b"request_status".as_ref(), &[200], b"reply"]),
            LookupResult::Absent
        );
    }
}
