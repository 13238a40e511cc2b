// The sparse Merkle tree as pure functions: roots of hand-built trees, proofs checked by
// VerifyStateProof (accepting the true ones, refusing forgeries and malformed shapes), and
// SmtRootOf against an independent model on random trees.
#include "city/ledger/smt.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <set>

#include "support/smt_reference.h"

namespace city::ledger {
namespace {

using test::CommonPrefixBits;
using test::RefProve;
using test::RefRoot;
using test::SmtLeaves;

Hash256 LeafOf(std::string_view key, std::string_view value) {
  return SmtLeafHash(StateKeyPath(AsBytes(key)), StateValueHash(AsBytes(value)));
}

Hash256 Flipped(Hash256 hash, size_t byte = 0) {
  hash.bytes[byte % Hash256::kSize] ^= 0x01;
  return hash;
}

Status Verify(const Hash256& root, std::string_view key, std::optional<std::string_view> value,
              const StateProof& proof) {
  std::optional<ByteSpan> span;
  if (value) span = AsBytes(*value);
  return VerifyStateProof(root, AsBytes(key), span, proof);
}

// Two keys whose paths share at least `bits` leading bits (deterministic search).
std::pair<std::string, std::string> KeysSharingPrefix(size_t bits) {
  std::map<uint32_t, std::string> seen;
  for (int i = 0;; ++i) {
    const std::string key = "prefix-key-" + std::to_string(i);
    const Hash256 path = StateKeyPath(AsBytes(key));
    uint32_t top = 0;
    for (size_t b = 0; b < bits; ++b) top = (top << 1) | static_cast<uint32_t>(PathBit(path, b));
    auto [it, inserted] = seen.emplace(top, key);
    if (!inserted) return {it->second, key};
  }
}

TEST(SmtPath, BitZeroIsTheMostSignificantBitOfByteZero) {
  Hash256 path;
  path.bytes[0] = 0x80;
  path.bytes[1] = 0x01;
  path.bytes[31] = 0x01;
  EXPECT_EQ(PathBit(path, 0), 1);
  for (size_t i = 1; i < 15; ++i) EXPECT_EQ(PathBit(path, i), 0) << i;
  EXPECT_EQ(PathBit(path, 15), 1);
  EXPECT_EQ(PathBit(path, 254), 0);
  EXPECT_EQ(PathBit(path, 255), 1);
}

TEST(SmtHashes, LeavesNodesKeysAndValuesAreDomainSeparated) {
  const Hash256 a = StateKeyPath(AsBytes("a"));
  const Hash256 b = StateKeyPath(AsBytes("b"));
  EXPECT_NE(SmtLeafHash(a, b), SmtNodeHash(a, b));
  EXPECT_NE(StateKeyPath(AsBytes("a")), StateValueHash(AsBytes("a")));
  EXPECT_NE(SmtNodeHash(a, b), SmtNodeHash(b, a));
  // A leaf commits to its path, not only to its value.
  EXPECT_NE(SmtLeafHash(a, b), SmtLeafHash(Flipped(a, 31), b));
}

TEST(SmtRoot, EmptyTreeIsAllZero) { EXPECT_EQ(SmtRootOf({}), Hash256{}); }

TEST(SmtRoot, SingleLeafIsItsLeafHashAtTheRoot) {
  const Hash256 path = StateKeyPath(AsBytes("alice"));
  const Hash256 value = StateValueHash(AsBytes("100"));
  EXPECT_EQ(SmtRootOf({{path, value}}), SmtLeafHash(path, value));
}

TEST(SmtRoot, TwoLeavesSplitWhereTheirPathsFirstDiffer) {
  const Hash256 a = StateKeyPath(AsBytes("alice"));
  const Hash256 b = StateKeyPath(AsBytes("bob"));
  const size_t split = CommonPrefixBits(a, b);
  Hash256 expected = PathBit(a, split) == 0
                         ? SmtNodeHash(SmtLeafHash(a, StateValueHash(AsBytes("1"))),
                                       SmtLeafHash(b, StateValueHash(AsBytes("2"))))
                         : SmtNodeHash(SmtLeafHash(b, StateValueHash(AsBytes("2"))),
                                       SmtLeafHash(a, StateValueHash(AsBytes("1"))));
  for (size_t d = split; d-- > 0;) {
    expected =
        PathBit(a, d) == 0 ? SmtNodeHash(expected, Hash256{}) : SmtNodeHash(Hash256{}, expected);
  }
  EXPECT_EQ(SmtRootOf({{a, StateValueHash(AsBytes("1"))}, {b, StateValueHash(AsBytes("2"))}}),
            expected);
}

TEST(SmtProof, EmptyTreeProvesEveryKeyAbsent) {
  const Hash256 root = SmtRootOf({});
  EXPECT_TRUE(Verify(root, "alice", std::nullopt, {}).ok());
  EXPECT_TRUE(Verify(root, "bob", std::nullopt, {}).ok());
  EXPECT_EQ(Verify(root, "alice", "1", {}).code(), ErrorCode::kUnauthenticated);
  // A made-up leaf cannot stand in an empty tree.
  StateProof fake;
  fake.other_leaf = SmtLeaf{StateKeyPath(AsBytes("bob")), StateValueHash(AsBytes("1"))};
  EXPECT_EQ(Verify(root, "alice", std::nullopt, fake).code(), ErrorCode::kUnauthenticated);
}

TEST(SmtProof, SingleLeafTree) {
  const SmtLeaf leaf{StateKeyPath(AsBytes("alice")), StateValueHash(AsBytes("100"))};
  const Hash256 root = SmtRootOf({{leaf.path, leaf.value_hash}});

  EXPECT_TRUE(Verify(root, "alice", "100", {}).ok());
  EXPECT_EQ(Verify(root, "alice", "101", {}).code(), ErrorCode::kUnauthenticated);
  EXPECT_EQ(Verify(root, "alice", "", {}).code(), ErrorCode::kUnauthenticated);
  EXPECT_FALSE(Verify(root, "alice", std::nullopt, {}).ok());
  EXPECT_EQ(Verify(Flipped(root), "alice", "100", {}).code(), ErrorCode::kUnauthenticated);

  // Absence of another key: its place (the root) is held by alice's leaf.
  StateProof absent;
  absent.other_leaf = leaf;
  EXPECT_TRUE(Verify(root, "bob", std::nullopt, absent).ok());
  EXPECT_FALSE(Verify(root, "bob", "100", absent).ok());
  EXPECT_FALSE(Verify(root, "bob", std::nullopt, {}).ok());  // claims an empty tree
  EXPECT_EQ(Verify(Flipped(root), "bob", std::nullopt, absent).code(), ErrorCode::kUnauthenticated);
  StateProof wrong_value = absent;
  wrong_value.other_leaf->value_hash = StateValueHash(AsBytes("99"));
  EXPECT_EQ(Verify(root, "bob", std::nullopt, wrong_value).code(), ErrorCode::kUnauthenticated);
}

TEST(SmtProof, TwoLeavesSharingALongPrefix) {
  const auto [key_a, key_b] = KeysSharingPrefix(16);
  const Hash256 a = StateKeyPath(AsBytes(key_a));
  const Hash256 b = StateKeyPath(AsBytes(key_b));
  const size_t split = CommonPrefixBits(a, b);
  ASSERT_GE(split, 16u);
  ASSERT_LT(split, kSmtDepth);

  // subtree[d]: the hash of the subtree at depth d on the shared path.
  std::vector<Hash256> subtree(split + 1);
  const Hash256 leaf_a = LeafOf(key_a, "A");
  const Hash256 leaf_b = LeafOf(key_b, "B");
  subtree[split] =
      PathBit(a, split) == 0 ? SmtNodeHash(leaf_a, leaf_b) : SmtNodeHash(leaf_b, leaf_a);
  for (size_t d = split; d-- > 0;) {
    subtree[d] = PathBit(a, d) == 0 ? SmtNodeHash(subtree[d + 1], Hash256{})
                                    : SmtNodeHash(Hash256{}, subtree[d + 1]);
  }
  const Hash256 root = subtree[0];
  const SmtLeaves leaves{{a, StateValueHash(AsBytes("A"))}, {b, StateValueHash(AsBytes("B"))}};
  ASSERT_EQ(SmtRootOf(leaves), root);

  // a's leaf sits at depth split + 1; every sibling above the split is empty.
  StateProof proof_a;
  proof_a.siblings.assign(split, Hash256{});
  proof_a.siblings.push_back(leaf_b);
  EXPECT_EQ(RefProve(leaves, a), proof_a);
  EXPECT_TRUE(Verify(root, key_a, "A", proof_a).ok());
  EXPECT_EQ(Verify(root, key_a, "B", proof_a).code(), ErrorCode::kUnauthenticated);
  EXPECT_FALSE(Verify(root, key_a, std::nullopt, proof_a).ok());
  EXPECT_EQ(Verify(Flipped(root), key_a, "A", proof_a).code(), ErrorCode::kUnauthenticated);
  StateProof proof_b = proof_a;
  proof_b.siblings.back() = leaf_a;
  EXPECT_TRUE(Verify(root, key_b, "B", proof_b).ok());
  // b's proof does not prove a.
  EXPECT_FALSE(Verify(root, key_a, "A", proof_b).ok());
  // One sibling short: a's leaf would sit above the split.
  StateProof shallow = proof_a;
  shallow.siblings.pop_back();
  EXPECT_FALSE(Verify(root, key_a, "A", shallow).ok());

  // A key that leaves the shared path at depth q < split: its place is an empty subtree at
  // depth q + 1, its sibling there is the rest of the tree.
  std::string key_c;
  for (int i = 0;; ++i) {
    key_c = "absent-" + std::to_string(i);
    if (CommonPrefixBits(StateKeyPath(AsBytes(key_c)), a) >= 3) break;
  }
  const size_t q = CommonPrefixBits(StateKeyPath(AsBytes(key_c)), a);
  ASSERT_LT(q, split);
  StateProof proof_c;
  proof_c.siblings.assign(q, Hash256{});
  proof_c.siblings.push_back(subtree[q + 1]);
  EXPECT_EQ(RefProve(leaves, StateKeyPath(AsBytes(key_c))), proof_c);
  EXPECT_TRUE(Verify(root, key_c, std::nullopt, proof_c).ok());
  EXPECT_FALSE(Verify(root, key_c, "A", proof_c).ok());
  EXPECT_EQ(Verify(Flipped(root), key_c, std::nullopt, proof_c).code(),
            ErrorCode::kUnauthenticated);
}

TEST(SmtProof, MoreThan256SiblingsIsMalformed) {
  const Hash256 root = SmtRootOf({{StateKeyPath(AsBytes("a")), StateValueHash(AsBytes("1"))}});
  StateProof too_deep;
  too_deep.siblings.assign(kSmtDepth + 1, Hash256{});
  EXPECT_EQ(Verify(root, "a", "1", too_deep).code(), ErrorCode::kMalformed);
  EXPECT_EQ(Verify(root, "b", std::nullopt, too_deep).code(), ErrorCode::kMalformed);
  too_deep.siblings.assign(10'000, Hash256{});
  EXPECT_EQ(Verify(root, "a", "1", too_deep).code(), ErrorCode::kMalformed);
  // Exactly 256 is a shape a tree can have (a wrong one here).
  StateProof deepest;
  deepest.siblings.assign(kSmtDepth, Flipped(Hash256{}));
  EXPECT_EQ(Verify(root, "a", "1", deepest).code(), ErrorCode::kUnauthenticated);
}

TEST(SmtProof, OtherLeafAtTheKeysOwnPathIsMalformed) {
  const Hash256 path = StateKeyPath(AsBytes("alice"));
  const SmtLeaf leaf{path, StateValueHash(AsBytes("100"))};
  const Hash256 root = SmtRootOf({{leaf.path, leaf.value_hash}});
  StateProof proof;
  proof.other_leaf = leaf;  // "alice is absent because alice's leaf is there"
  EXPECT_EQ(Verify(root, "alice", std::nullopt, proof).code(), ErrorCode::kMalformed);
  proof.siblings.assign(3, Hash256{});
  EXPECT_EQ(Verify(root, "alice", std::nullopt, proof).code(), ErrorCode::kMalformed);
}

TEST(SmtProof, OtherLeafOffTheKeysPathIsMalformed) {
  const Hash256 path = StateKeyPath(AsBytes("alice"));
  for (size_t depth = 1; depth <= 12; ++depth) {
    for (size_t differing_bit = 0; differing_bit < depth; ++differing_bit) {
      Hash256 other = path;
      other.bytes[differing_bit / 8] ^= static_cast<uint8_t>(0x80 >> (differing_bit % 8));
      StateProof proof;
      proof.siblings.assign(depth, StateValueHash(AsBytes("sibling")));
      proof.other_leaf = SmtLeaf{other, StateValueHash(AsBytes("x"))};
      // Whatever the root, a leaf off the key's path cannot stand at the key's place.
      const Hash256 root = SmtRootOf({{other, proof.other_leaf->value_hash}});
      EXPECT_EQ(Verify(root, "alice", std::nullopt, proof).code(), ErrorCode::kMalformed)
          << "depth " << depth << " bit " << differing_bit;
    }
  }
  // Sharing exactly `depth` bits is a valid shape: not malformed.
  Hash256 other = path;
  other.bytes[0] ^= 0x20;  // bit 2
  StateProof proof;
  proof.siblings.assign(2, StateValueHash(AsBytes("sibling")));
  proof.other_leaf = SmtLeaf{other, StateValueHash(AsBytes("x"))};
  EXPECT_NE(Verify(Hash256{}, "alice", std::nullopt, proof).code(), ErrorCode::kMalformed);
}

TEST(SmtProof, EncodingRoundTripsAndRefusesTooManySiblings) {
  StateProof proof;
  proof.siblings = {StateKeyPath(AsBytes("1")), Hash256{}, StateKeyPath(AsBytes("2"))};
  proof.other_leaf = SmtLeaf{StateKeyPath(AsBytes("k")), StateValueHash(AsBytes("v"))};
  Result<StateProof> decoded = Decode<StateProof>(Encode(proof));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(*decoded, proof);
  proof.other_leaf.reset();
  decoded = Decode<StateProof>(Encode(proof));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(*decoded, proof);

  proof.siblings.assign(kSmtDepth + 1, Hash256{});
  EXPECT_FALSE(Decode<StateProof>(Encode(proof)).ok());
}

// Random trees: SmtRootOf agrees with the model, every true proof verifies, and every
// forgery made from a true proof is refused.
RC_GTEST_PROP(SmtProof, RandomTreesProveEveryKeyAndRefuseForgeries, ()) {
  const size_t universe = *rc::gen::inRange<size_t>(1, 48);
  std::map<std::string, std::string> state;
  for (size_t i = 0; i < universe; ++i) {
    if (*rc::gen::inRange(0, 3) != 0) {
      state["key/" + std::to_string(i)] = *rc::gen::arbitrary<std::string>();
    }
  }
  SmtLeaves leaves;
  for (const auto& [key, value] : state) {
    leaves[StateKeyPath(AsBytes(key))] = StateValueHash(AsBytes(value));
  }
  const Hash256 root = SmtRootOf(leaves);
  RC_ASSERT(root == RefRoot(leaves));
  const Hash256 other_root = Flipped(root, *rc::gen::arbitrary<uint8_t>());

  for (size_t i = 0; i < universe; ++i) {
    const std::string key = "key/" + std::to_string(i);
    const StateProof proof = RefProve(leaves, StateKeyPath(AsBytes(key)));
    const auto it = state.find(key);
    if (it != state.end()) {
      RC_ASSERT(Verify(root, key, it->second, proof).ok());
      RC_ASSERT(!Verify(root, key, it->second + "!", proof).ok());
      RC_ASSERT(!Verify(root, key, std::nullopt, proof).ok());
      RC_ASSERT(!Verify(other_root, key, it->second, proof).ok());
    } else {
      RC_ASSERT(Verify(root, key, std::nullopt, proof).ok());
      RC_ASSERT(!Verify(root, key, "", proof).ok());
      RC_ASSERT(!Verify(other_root, key, std::nullopt, proof).ok());
      if (proof.other_leaf) {
        StateProof forged = proof;
        forged.other_leaf->value_hash = Flipped(forged.other_leaf->value_hash);
        RC_ASSERT(!Verify(root, key, std::nullopt, forged).ok());
        StateProof dropped = proof;
        dropped.other_leaf.reset();
        RC_ASSERT(!Verify(root, key, std::nullopt, dropped).ok());
      }
    }
    if (!proof.siblings.empty()) {
      StateProof tampered = proof;
      const size_t at = *rc::gen::inRange<size_t>(0, proof.siblings.size());
      tampered.siblings[at] = Flipped(tampered.siblings[at], *rc::gen::arbitrary<uint8_t>());
      const std::optional<std::string> value =
          it != state.end() ? std::optional<std::string>(it->second) : std::nullopt;
      RC_ASSERT(!Verify(root, key, value, tampered).ok());
    }
  }
}

}  // namespace
}  // namespace city::ledger

namespace city::ledger {
namespace {

// The proof-leak fix (issue 16): anyone may ask for a proof of a public key, and a proof
// shows the hashes of its neighbours. Were a private leaf among them, a guessed balance could
// be checked against it. Public and private state live in different halves of the tree.
TEST(SmtPrivacy, AProofOfAPublicKeyNeverShowsAPrivateLeaf) {
  SmtLeaves leaves;
  std::set<Hash256> private_leaves;
  for (int i = 0; i < 300; ++i) {
    const std::string key = "ubi/balance/" + std::to_string(i);
    const std::string value = std::to_string(i % 7);
    leaves.emplace(StateKeyPath(AsBytes(key)), StateValueHash(AsBytes(value)));
    private_leaves.insert(LeafOf(key, value));
  }
  for (int i = 0; i < 20; ++i) {
    const std::string key = "governance/member/" + std::to_string(i);
    leaves.emplace(StateKeyPath(AsBytes(key)), StateValueHash(AsBytes("1")));
  }
  const Hash256 root = RefRoot(leaves);
  for (int i = 0; i < 2000; ++i) {
    // Present and absent public keys alike: an attacker picks absent ones freely.
    const std::string key = "governance/member/" + std::to_string(i);
    const Hash256 path = StateKeyPath(AsBytes(key));
    ASSERT_EQ(PathBit(path, 0), 0) << key;
    const StateProof proof = RefProve(leaves, path);
    for (const Hash256& sibling : proof.siblings) {
      ASSERT_FALSE(private_leaves.contains(sibling)) << key;
    }
    if (proof.other_leaf) {
      ASSERT_EQ(PathBit(proof.other_leaf->path, 0), 0) << key;
    }
    const std::optional<std::string_view> value =
        i < 20 ? std::optional<std::string_view>("1") : std::nullopt;
    ASSERT_TRUE(Verify(root, key, value, proof).ok()) << key;
  }
}

TEST(SmtPrivacy, OnlyThePublicContractsSpacesArePublic) {
  EXPECT_TRUE(IsPublicStateKey(AsBytes("governance/council")));
  EXPECT_TRUE(IsPublicStateKey(AsBytes("logistics/item/x")));
  EXPECT_FALSE(IsPublicStateKey(AsBytes("ubi/supply")));
  EXPECT_FALSE(IsPublicStateKey(AsBytes("emr/record/x")));
  EXPECT_FALSE(IsPublicStateKey(AsBytes("sys/nonce/x")));
  EXPECT_FALSE(IsPublicStateKey(AsBytes("governance")));  // no space: not a contract's key
  EXPECT_FALSE(IsPublicStateKey(AsBytes("governancex/y")));
  EXPECT_EQ(PathBit(StateKeyPath(AsBytes("emr/record/x")), 0), 1);
  EXPECT_EQ(PathBit(StateKeyPath(AsBytes("logistics/item/x")), 0), 0);
}

}  // namespace
}  // namespace city::ledger
