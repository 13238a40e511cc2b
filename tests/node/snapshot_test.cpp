// State snapshots (node/snapshots.h, ledger/snapshot.h): a validator's store written as a
// snapshot and imported into a new store must be that store at the snapshot's height, and go
// on from there like it; every part a peer or a file could alter is refused when altered.
#include "city/ledger/snapshot.h"

#include <gtest/gtest.h>

#include <fstream>

#include "city/ledger/store.h"
#include "city/node/snapshots.h"
#include "support/chain_fixtures.h"
#include "support/temp_dir.h"

namespace city::node {
namespace {

namespace fs = std::filesystem;
using ledger::CommitRequest;
using ledger::LedgerStore;
using ledger::SnapshotManifest;

constexpr uint64_t kEpochEnd = 12;          // the last block of epoch 0
constexpr size_t kExtraGenesisKeys = 9000;  // state larger than a chunk

template <typename T>
T Must(Result<T> result, std::string_view what = "") {
  EXPECT_TRUE(result.ok()) << what << ": " << result.status().ToString();
  if (!result.ok()) std::abort();
  return std::move(result).value();
}

ledger::Genesis BigGenesis() {
  ledger::Genesis genesis = test::ChainGenesis();
  for (size_t i = 0; i < kExtraGenesisKeys; ++i) {
    genesis.writes.push_back({test::ToBytes("big/" + std::to_string(i)),
                              test::ToBytes(std::string(40 + i % 60, 'g')),
                              ledger::kNoTransaction});
  }
  return genesis;
}

uint64_t EpochOf(uint64_t height) { return height <= kEpochEnd ? 0 : 1; }

ledger::QuorumCert CertifyIn(uint64_t epoch, const ledger::BlockHeader& header) {
  const ledger::VoteData data{epoch, header.term, header.round, header.height, header.Hash()};
  std::vector<ledger::Vote> votes;
  for (size_t i = 0; i < 3; ++i) {
    votes.push_back(ledger::Vote::Create(data, test::kTestChain, test::ChainValidators()[i]));
  }
  return ledger::QuorumCert::FromVotes(data, votes);
}

// The test chain with what the snapshot checks made true: each header names the state and
// result roots of its parent (exec_height = height - 1), the epoch changes after kEpochEnd
// (to the same four validators) and every certificate is of its block's epoch.
class ChainBuilder {
 public:
  explicit ChainBuilder(LedgerStore& store) : store_(store) {}

  CommitRequest Next() {
    const uint64_t height = store_.tip().height + 1;
    CommitRequest request = test::ChainCommit(height, store_.tip().block_hash);
    ledger::BlockHeader& header = request.block.header;
    header.epoch = EpochOf(height);
    header.state_root = Must(store_.StateRootAt(height - 1));
    header.result_root = ledger::ComputeResultRoot(
        height == 1 ? std::vector<ledger::TxResult>{} : Must(store_.GetResults(height - 1)));
    if (height > 1) header.justify = last_cert_;
    if (height == kEpochEnd) {
      for (const KeyPair& key : test::ChainValidators()) {
        header.next_validators.push_back(key.public_key());
      }
    }
    request.block.Sign(test::ChainValidators()[height % test::ChainValidators().size()]);
    request.certificate = CertifyIn(header.epoch, header);
    last_cert_ = request.certificate;
    return request;
  }

  CommitRequest CommitNext() {
    CommitRequest request = Next();
    Must(store_.Commit(request), "commit");
    return request;
  }

 private:
  LedgerStore& store_;
  ledger::QuorumCert last_cert_;
};

ledger::Epoch GenesisEpoch() {
  return ledger::Epoch::Genesis(test::SetOf(test::ChainValidators()), test::TestGenesisHash());
}

class SnapshotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    source_ = Must(LedgerStore::Create(tmp_.path() / "source", BigGenesis()), "create");
    builder_ = std::make_unique<ChainBuilder>(*source_);
    for (int i = 0; i < 40; ++i) requests_.push_back(builder_->CommitNext());
  }

  Result<ledger::SignedSnapshotManifest> Write(uint64_t height, const fs::path& dir) {
    return WriteSnapshot(*source_, height, {kEpochEnd}, GenesisEpoch(), key_, dir);
  }

  ledger::SnapshotBase ReadBase(const fs::path& dir) {
    std::ifstream in(SnapshotBaseFile(dir), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return Must(ledger::Decode<ledger::SnapshotBase>(AsBytes(bytes)), "base");
  }

  template <typename T>
  T ReadFile(const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return Must(ledger::Decode<T>(AsBytes(bytes)), file.string());
  }

  // Imports the snapshot at `dir` into a new store at `into`, checking every part as cityd
  // does (without the home: the genesis epoch is the test chain's).
  Result<std::unique_ptr<LedgerStore>> Import(const fs::path& dir, const fs::path& into,
                                              size_t stop_after_chunks = SIZE_MAX) {
    Result<ledger::SignedSnapshotManifest> manifest = ReadSnapshotManifest(dir);
    if (!manifest.ok()) return manifest.status();
    const SnapshotManifest& m = manifest->manifest;
    if (Status s = ledger::CheckSnapshotManifest(m, std::string(test::kTestChain),
                                                 test::TestGenesisHash());
        !s.ok()) {
      return s;
    }
    const ledger::SnapshotBase base = ReadBase(dir);
    if (Status s = ledger::CheckSnapshotBase(m, base, GenesisEpoch()); !s.ok()) return s;
    Result<std::unique_ptr<ledger::SnapshotImport>> import =
        ledger::SnapshotImport::Begin(into, m, base);
    if (!import.ok()) return import.status();
    for (size_t i = (*import)->next_chunk(); i < m.chunks.size(); ++i) {
      if (i == stop_after_chunks) return Status(ErrorCode::kIoError, "stopped");
      const auto chunk = ReadFile<ledger::SnapshotChunk>(SnapshotPartFile(dir, "chunk", i));
      if (Status s = (*import)->AddChunk(chunk); !s.ok()) return s;
    }
    for (size_t i = (*import)->next_id_part(); i < m.id_parts.size(); ++i) {
      if (Status s =
              (*import)->AddIds(ReadFile<ledger::SnapshotIds>(SnapshotPartFile(dir, "ids", i)));
          !s.ok()) {
        return s;
      }
    }
    return (*import)->Finish();
  }

  // The imported store is the source at `height`: tip, state and proofs, block, results and
  // ids; below it, pruned.
  void ExpectSameAt(LedgerStore& imported, uint64_t height) {
    EXPECT_EQ(imported.tip().height, height);
    EXPECT_EQ(imported.tip().block_hash, Must(source_->GetHeader(height)).Hash());
    EXPECT_EQ(imported.tip().state_root, Must(source_->StateRootAt(height)));
    EXPECT_EQ(imported.lowest_height(), height);
    EXPECT_EQ(Must(imported.GetBlock(height)), Must(source_->GetBlock(height)));
    EXPECT_EQ(Must(imported.GetResults(height)), Must(source_->GetResults(height)));
    EXPECT_EQ(Must(imported.GetCertificate(height)), Must(source_->GetCertificate(height)));
    EXPECT_EQ(Must(imported.GetHeader(kEpochEnd)), Must(source_->GetHeader(kEpochEnd)));
    EXPECT_EQ(imported.GetBlock(height - 1).status().code(), ErrorCode::kPruned);
    for (uint64_t k = 0; k < test::kChainKeySpace; k += 7) {
      EXPECT_EQ(Must(imported.GetState(test::ChainKey(k))),
                Must(source_->GetStateAt(test::ChainKey(k), height)))
          << "key " << k;
    }
    for (size_t i = 0; i < kExtraGenesisKeys; i += 97) {
      const Bytes key = test::ToBytes("big/" + std::to_string(i));
      EXPECT_EQ(Must(imported.GetState(key)), Must(source_->GetStateAt(key, height)));
    }
    // Every transaction committed up to the height stays committed once.
    for (const CommitRequest& request : requests_) {
      if (request.block.header.height > height) break;
      for (const ledger::Transaction& tx : request.block.transactions) {
        EXPECT_TRUE(Must(imported.HasTransaction(tx.Id())))
            << "a transaction of height " << request.block.header.height;
      }
    }
  }

  test::TempDir tmp_;
  const KeyPair& key_ = test::ChainValidators()[0];
  std::unique_ptr<LedgerStore> source_;
  std::unique_ptr<ChainBuilder> builder_;
  std::vector<CommitRequest> requests_;  // requests_[h - 1] is block h
};

TEST_F(SnapshotTest, AnImportedStoreIsTheSourceAtItsHeightAndGoesOnLikeIt) {
  const fs::path dir = tmp_.path() / "snap";
  const ledger::SignedSnapshotManifest made = Must(Write(30, dir), "write");
  EXPECT_EQ(made.manifest.height, 30u);
  EXPECT_EQ(made.manifest.anchor_height, 31u);  // the first header naming 30 executed
  EXPECT_GT(made.manifest.chunks.size(), 1u);
  EXPECT_EQ(made.manifest.recent_ids, 29u * test::kChainTxsPerBlock);
  // Another validator makes the same manifest (peers compare them by hash).
  const KeyPair& other = test::ChainValidators()[1];
  const ledger::SignedSnapshotManifest again =
      Must(WriteSnapshot(*source_, 30, {kEpochEnd}, GenesisEpoch(), other, tmp_.path() / "snap2"));
  EXPECT_EQ(again.manifest.Hash(), made.manifest.Hash());

  std::unique_ptr<LedgerStore> imported = Must(Import(dir, tmp_.path() / "imported"), "import");
  ExpectSameAt(*imported, 30);
  // A replay of a transaction the snapshot carries only as an id is refused.
  {
    ChainBuilder on_imported(*imported);
    CommitRequest next = on_imported.Next();
    ASSERT_EQ(next.block.header.height, 31u);
    next.block.transactions.front() = requests_[4].block.transactions.front();  // height 5
    next.block.Sign(test::ChainValidators()[31 % 4]);
    next.certificate = CertifyIn(1, next.block.header);
    EXPECT_EQ(imported->Commit(next).status().code(), ErrorCode::kAlreadyExists);
  }
  // It commits the source's next blocks and reaches the same roots.
  for (uint64_t h = 31; h <= 40; ++h) {
    const ledger::CommitInfo info = Must(imported->Commit(requests_[h - 1]), "commit");
    EXPECT_EQ(info.state_root, Must(source_->StateRootAt(h))) << "height " << h;
  }
  // And it reopens as an ordinary store.
  imported.reset();
  imported = Must(LedgerStore::Open(tmp_.path() / "imported"), "reopen");
  EXPECT_EQ(imported->tip().height, 40u);
  EXPECT_EQ(imported->lowest_height(), 30u);
}

TEST_F(SnapshotTest, AnInterruptedImportResumesAndIsRefusedByOpenUntilDone) {
  const fs::path dir = tmp_.path() / "snap";
  const SnapshotManifest m = Must(Write(30, dir)).manifest;
  ASSERT_GT(m.chunks.size(), 2u);
  const fs::path into = tmp_.path() / "imported";
  EXPECT_EQ(Import(dir, into, /*stop_after_chunks=*/1).status().message(), "stopped");
  const Status unfinished = LedgerStore::Open(into).status();
  EXPECT_EQ(unfinished.code(), ErrorCode::kCorruption);
  EXPECT_NE(unfinished.message().find("unfinished snapshot import"), std::string::npos);
  {
    const ledger::SnapshotBase base = ReadBase(dir);
    std::unique_ptr<ledger::SnapshotImport> resumed =
        Must(ledger::SnapshotImport::Begin(into, m, base), "resume");
    EXPECT_EQ(resumed->next_chunk(), 1u);
    // Another snapshot's import is not mixed into it.
    SnapshotManifest other = m;
    other.recent_ids += 1;
    resumed.reset();
    EXPECT_EQ(ledger::SnapshotImport::Begin(into, other, base).status().code(),
              ErrorCode::kAlreadyExists);
  }
  std::unique_ptr<LedgerStore> imported = Must(Import(dir, into), "finish");
  ExpectSameAt(*imported, 30);
  // A finished store is never imported into.
  imported.reset();
  EXPECT_EQ(ledger::SnapshotImport::Begin(into, m, ReadBase(dir)).status().code(),
            ErrorCode::kAlreadyExists);
}

TEST_F(SnapshotTest, AlteredPartsAreRefused) {
  const fs::path dir = tmp_.path() / "snap";
  const ledger::SignedSnapshotManifest made = Must(Write(30, dir));
  const SnapshotManifest& m = made.manifest;
  const ledger::SnapshotBase base = ReadBase(dir);
  const ledger::Epoch genesis = GenesisEpoch();
  ASSERT_TRUE(ledger::CheckSnapshotBase(m, base, genesis).ok());

  // The manifest: a state root its subtrees do not make; another chain.
  SnapshotManifest bad_root = m;
  bad_root.state_root.bytes[0] ^= 1;
  EXPECT_EQ(ledger::CheckSnapshotManifest(bad_root, std::string(test::kTestChain),
                                          test::TestGenesisHash())
                .code(),
            ErrorCode::kUnauthenticated);
  EXPECT_EQ(ledger::CheckSnapshotManifest(m, "another-chain", test::TestGenesisHash()).code(),
            ErrorCode::kInvalidArgument);
  // A manifest with another state root but subtrees to match: the anchor does not name it.
  SnapshotManifest other_state = m;
  other_state.subtrees[3] = {ledger::SubtreeKind::kInner, TaggedHash("made up", {}), {}};
  other_state.state_root = Must(ledger::RootOfSubtrees(other_state.subtrees));
  ASSERT_TRUE(ledger::CheckSnapshotManifest(other_state, std::string(test::kTestChain),
                                            test::TestGenesisHash())
                  .ok());
  EXPECT_EQ(ledger::CheckSnapshotBase(other_state, base, genesis).code(),
            ErrorCode::kUnauthenticated);

  // The base: a certificate short of a quorum; results that are not the block's; a header
  // that does not link; a missing epoch end; the anchor replaced by a later header.
  ledger::SnapshotBase weak = base;
  weak.anchor_certificate.signatures.resize(2);
  EXPECT_FALSE(ledger::CheckSnapshotBase(m, weak, genesis).ok());
  ledger::SnapshotBase wrong_results = base;
  wrong_results.results.front().code ^= 1;
  EXPECT_EQ(ledger::CheckSnapshotBase(m, wrong_results, genesis).code(),
            ErrorCode::kUnauthenticated);
  ledger::SnapshotBase unlinked = base;
  unlinked.anchor_headers.front().timestamp_ms += 1;
  EXPECT_FALSE(ledger::CheckSnapshotBase(m, unlinked, genesis).ok());
  ledger::SnapshotBase no_epochs = base;
  no_epochs.epoch_ends.clear();
  EXPECT_FALSE(ledger::CheckSnapshotBase(m, no_epochs, genesis).ok());
  ledger::SnapshotBase other_block = base;
  other_block.block.transactions.pop_back();
  EXPECT_FALSE(ledger::CheckSnapshotBase(m, other_block, genesis).ok());

  // A chunk: one value changed, one entry dropped, two swapped.
  ledger::SnapshotChunk chunk = ReadFile<ledger::SnapshotChunk>(SnapshotPartFile(dir, "chunk", 1));
  ASSERT_TRUE(ledger::CheckSnapshotChunk(m, 1, chunk).ok());
  ledger::SnapshotChunk changed = chunk;
  changed.entries[5].value.push_back('!');
  EXPECT_EQ(ledger::CheckSnapshotChunk(m, 1, changed).code(), ErrorCode::kUnauthenticated);
  ledger::SnapshotChunk dropped = chunk;
  dropped.entries.pop_back();
  EXPECT_FALSE(ledger::CheckSnapshotChunk(m, 1, dropped).ok());
  ledger::SnapshotChunk swapped = chunk;
  std::swap(swapped.entries[0], swapped.entries[1]);
  EXPECT_FALSE(ledger::CheckSnapshotChunk(m, 1, swapped).ok());
  // Served as another chunk's.
  EXPECT_FALSE(ledger::CheckSnapshotChunk(m, 0, chunk).ok());

  // Through the import: a chunk file altered on disk stops it there, and nothing opens.
  {
    std::fstream file(SnapshotPartFile(dir, "chunk", 1),
                      std::ios::binary | std::ios::in | std::ios::out);
    file.seekp(100);
    file.put('\x7f');
  }
  const fs::path into = tmp_.path() / "imported";
  EXPECT_FALSE(Import(dir, into).ok());
  EXPECT_FALSE(LedgerStore::Open(into).ok());

  // Ids: out of the horizon, unsorted.
  ledger::SnapshotIds ids = ReadFile<ledger::SnapshotIds>(SnapshotPartFile(dir, "ids", 0));
  ASSERT_TRUE(ledger::CheckSnapshotIds(m, ids).ok());
  ledger::SnapshotIds late = ids;
  late.ids.back().location.height = 30;
  EXPECT_EQ(ledger::CheckSnapshotIds(m, late).code(), ErrorCode::kMalformed);
  ledger::SnapshotIds unsorted = ids;
  std::swap(unsorted.ids.front(), unsorted.ids.back());
  EXPECT_EQ(ledger::CheckSnapshotIds(m, unsorted).code(), ErrorCode::kMalformed);
}

// Co-signatures are files anyone can drop into a snapshot directory: only those that verify
// over this manifest count, each key once, and a flood of them is not verified without end.
TEST_F(SnapshotTest, OnlyCoSignaturesThatVerifyVouch) {
  const fs::path dir = tmp_.path() / "snap";
  const ledger::SignedSnapshotManifest made = Must(Write(30, dir));
  auto put = [&](const std::string& name, const PublicKey& key, const Signature& signature) {
    std::ofstream out(dir / name, std::ios::binary);
    out.write(reinterpret_cast<const char*>(key.bytes.data()), 32);
    out.write(reinterpret_cast<const char*>(signature.bytes.data()), 64);
  };
  const Hash256 hash = made.manifest.Hash();
  const KeyPair& second = test::ChainValidators()[1];
  const KeyPair& third = test::ChainValidators()[2];
  EXPECT_EQ(SnapshotVouchers(dir, made), std::vector<PublicKey>{key_.public_key()});
  put("cosign-a.bin", second.public_key(), second.Sign(hash.span()));
  put("cosign-b.bin", second.public_key(), second.Sign(hash.span()));  // the same key again
  put("cosign-c.bin", third.public_key(), second.Sign(hash.span()));   // not its signature
  put("cosign-d.bin", third.public_key(), third.Sign(TaggedHash("other", {}).span()));
  std::ofstream(dir / "cosign-e.bin") << "garbage";
  std::ofstream(dir / "cosign-f.bin") << std::string(4096, 'x');
  std::vector<PublicKey> vouchers = SnapshotVouchers(dir, made);
  std::sort(vouchers.begin(), vouchers.end());
  std::vector<PublicKey> expected = {key_.public_key(), second.public_key()};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(vouchers, expected);
  for (size_t i = 0; i < 2 * ledger::kMaxValidators; ++i) {
    put("cosign-flood" + std::to_string(i) + ".bin", third.public_key(), second.Sign(hash.span()));
  }
  EXPECT_LE(SnapshotVouchers(dir, made).size(), 2u);
}

TEST_F(SnapshotTest, ASnapshotNeedsAHeaderNamingItsHeightExecuted) {
  // The tip's state is named by no header yet.
  EXPECT_EQ(Write(40, tmp_.path() / "tip").status().code(), ErrorCode::kNotFound);
  EXPECT_FALSE(fs::exists(tmp_.path() / "tip"));
  // An existing directory is never written into.
  fs::create_directory(tmp_.path() / "taken");
  EXPECT_EQ(Write(30, tmp_.path() / "taken").status().code(), ErrorCode::kAlreadyExists);
}

TEST_F(SnapshotTest, ListAndExportShowFinishedSnapshotsNewestFirst) {
  const fs::path root = tmp_.path() / "snapshots";
  fs::create_directory(root);
  Must(Write(20, root / "20"));
  Must(Write(30, root / "30"));
  fs::create_directory(root / "unfinished");
  const std::vector<SnapshotListing> listed = ListSnapshots(root);
  ASSERT_EQ(listed.size(), 3u);
  EXPECT_EQ(listed[0].manifest->manifest.height, 30u);
  EXPECT_EQ(listed[1].manifest->manifest.height, 20u);
  EXPECT_FALSE(listed[2].manifest.ok());
  const SnapshotListing exported = Must(ExportSnapshot(root, 20, tmp_.path() / "out"));
  EXPECT_EQ(exported.manifest->manifest.Hash(), listed[1].manifest->manifest.Hash());
  EXPECT_EQ(ExportSnapshot(root, 25, tmp_.path() / "out2").status().code(), ErrorCode::kNotFound);
  std::unique_ptr<LedgerStore> imported = Must(Import(tmp_.path() / "out", tmp_.path() / "db"));
  ExpectSameAt(*imported, 20);
}

}  // namespace
}  // namespace city::node
