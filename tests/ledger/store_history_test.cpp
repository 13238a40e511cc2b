// History reads: account history (sent and received), key history and contract indexes,
// each walked page by page with the cursor, in both directions, and bad page requests.
#include <gtest/gtest.h>

#include <tuple>

#include "city/ledger/store.h"
#include "ledger/store_test_util.h"
#include "support/chain_fixtures.h"
#include "support/temp_dir.h"

namespace city::ledger {
namespace {

using test::Must;
using test::ToBytes;

constexpr uint64_t kBlocks = 30;

const KeyPair& Alice() {
  static const KeyPair key = test::TestKey(201);
  return key;
}
const KeyPair& Bob() {
  static const KeyPair key = test::TestKey(202);
  return key;
}
const KeyPair& Carol() {
  static const KeyPair key = test::TestKey(203);
  return key;
}
const KeyPair& Dave() {  // never appears
  static const KeyPair key = test::TestKey(204);
  return key;
}

using AccountRow = std::tuple<uint64_t, uint32_t, Hash256, uint8_t>;
using KeyRow = std::tuple<uint64_t, uint32_t, std::optional<Bytes>>;
using IndexRow = std::tuple<uint64_t, uint32_t, Bytes>;

AccountRow Row(const AccountTx& tx) {
  return {tx.location.height, tx.location.index, tx.tx_id, tx.role};
}
KeyRow Row(const KeyWrite& write) {
  return {write.location.height, write.location.index, write.value};
}
IndexRow Row(const IndexItem& item) {
  return {item.location.height, item.location.index, item.value};
}

// Builds a 30-block chain with known accounts, key writes and index entries, and records
// the history each query should return, oldest first.
class StoreHistoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Genesis genesis = test::ChainGenesis();
    genesis.writes.push_back({ToBytes("counter"), ToBytes("0"), kNoTransaction});
    expected_counter_.emplace_back(0, kNoTransaction, ToBytes("0"));
    genesis.index_entries.push_back(
        {"emr", "accesses", ToBytes("patient-1"), ToBytes("genesis"), kNoTransaction});
    expected_patient1_.emplace_back(0, kNoTransaction, ToBytes("genesis"));
    store_ = Must(LedgerStore::Create(tmp_.path() / "store", genesis));

    Hash256 parent = genesis.block_hash;
    uint64_t nonce = 0;
    for (uint64_t h = 1; h <= kBlocks; ++h) {
      CommitRequest request;
      std::vector<Transaction> txs;
      std::vector<TxResult> results;
      auto add = [&](const KeyPair& from, const KeyPair* to, bool ok) {
        txs.push_back(test::MakeTransaction(from, ++nonce, (to ? *to : from).public_key()));
        TxResult result;
        if (ok) {
          if (to) result.related_accounts.push_back(to->public_key());
        } else {
          result.code = 5;
          result.detail = "refused";
        }
        results.push_back(result);
        const uint32_t index = static_cast<uint32_t>(txs.size() - 1);
        const Hash256 id = txs.back().Id();
        const bool alice_sent = from.public_key() == Alice().public_key();
        const bool alice_received = ok && to && to->public_key() == Alice().public_key();
        if (alice_sent || alice_received) {
          expected_alice_.emplace_back(
              h, index, id,
              (alice_sent ? kAccountSent : 0) | (alice_received ? kAccountReceived : 0));
        }
        const bool bob_sent = from.public_key() == Bob().public_key();
        const bool bob_received = ok && to && to->public_key() == Bob().public_key();
        if (bob_sent || bob_received) {
          expected_bob_.emplace_back(
              h, index, id, (bob_sent ? kAccountSent : 0) | (bob_received ? kAccountReceived : 0));
        }
      };
      add(Alice(), &Bob(), true);  // tx 0: alice -> bob
      if (h % 3 == 0) {
        add(Bob(), &Carol(), true);  // tx 1: bob -> carol
      } else {
        add(Carol(), &Alice(), false);  // tx 1: carol -> alice, failed
      }
      if (h % 5 == 0) add(Alice(), &Alice(), true);  // tx 2: alice to herself
      if (h % 7 == 0) add(Carol(), &Alice(), true);  // last: carol -> alice
      request.block = test::MakeBlock(h, parent, txs);
      request.certificate = test::Certify(request.block);
      request.results = results;

      const std::string hs = std::to_string(h);
      request.writes.push_back({ToBytes("counter"), ToBytes(hs), 0});
      expected_counter_.emplace_back(h, 0, ToBytes(hs));
      if (h % 2 == 0) {
        request.writes.push_back({ToBytes("flip"), std::nullopt, 1});
        expected_flip_.emplace_back(h, 1, std::nullopt);
      } else {
        request.writes.push_back({ToBytes("flip"), ToBytes("on " + hs), 1});
        expected_flip_.emplace_back(h, 1, ToBytes("on " + hs));
      }
      // Index entries out of transaction order: read back by position in the block
      // (records.h, docs/storage.md), not by tx_index.
      request.index_entries.push_back(
          {"emr", "accesses", ToBytes("patient-1"), ToBytes(hs + "b"), 1});
      request.index_entries.push_back(
          {"emr", "accesses", ToBytes("patient-1"), ToBytes(hs + "a"), 0});
      request.index_entries.push_back(
          {"emr", "grants", ToBytes("patient-1"), ToBytes(hs + "g"), 0});
      request.index_entries.push_back(
          {"emr", "accesses", ToBytes("patient-2"), ToBytes(hs + "p2"), 0});
      request.index_entries.push_back(
          {"emr", "accesses", ToBytes("patient-1"), ToBytes(hs + "c"), 1});
      request.index_entries.push_back(
          {"ubi", "accesses", ToBytes("patient-1"), ToBytes(hs + "u"), 0});
      expected_patient1_.emplace_back(h, 1, ToBytes(hs + "b"));
      expected_patient1_.emplace_back(h, 0, ToBytes(hs + "a"));
      expected_patient1_.emplace_back(h, 1, ToBytes(hs + "c"));

      const CommitInfo info = Must(store_->Commit(request));
      parent = info.block_hash;
    }
  }

  template <typename Item, typename Fetch>
  std::vector<decltype(Row(std::declval<Item>()))> Walk(Fetch fetch, uint32_t limit,
                                                        bool newest_first) {
    std::vector<decltype(Row(std::declval<Item>()))> rows;
    PageRequest request{.cursor = {}, .limit = limit, .newest_first = newest_first};
    for (int pages = 0; pages < 10'000; ++pages) {
      Result<Page<Item>> page = fetch(request);
      if (!page.ok()) {
        ADD_FAILURE() << "page " << pages << ": " << page.status().ToString();
        return rows;
      }
      EXPECT_LE(page->items.size(), limit);
      for (const Item& item : page->items) rows.push_back(Row(item));
      if (!page->next_cursor) return rows;
      EXPECT_FALSE(page->items.empty()) << "a page with a next cursor must hold items";
      request.cursor = *page->next_cursor;
    }
    ADD_FAILURE() << "the cursor walk does not end";
    return rows;
  }

  // Every page size and both directions return exactly `expected` (reversed when newest
  // first).
  template <typename Item, typename Rows, typename Fetch>
  void ExpectHistory(const Rows& expected, Fetch fetch) {
    for (const uint32_t limit : {1u, 2u, 7u, 30u, 31u, 100u, kMaxPageSize}) {
      SCOPED_TRACE("limit " + std::to_string(limit));
      EXPECT_EQ(Walk<Item>(fetch, limit, false), expected);
      Rows reversed(expected.rbegin(), expected.rend());
      EXPECT_EQ(Walk<Item>(fetch, limit, true), reversed);
    }
  }

  template <typename Item, typename Fetch>
  void ExpectBadPageRequestsRefused(Fetch fetch) {
    for (const uint32_t limit : {0u, kMaxPageSize + 1, 0xFFFFFFFFu}) {
      const Result<Page<Item>> page = fetch(PageRequest{.cursor = {}, .limit = limit});
      EXPECT_EQ(page.status().code(), ErrorCode::kInvalidArgument) << "limit " << limit;
    }
    for (const Bytes& cursor :
         {Bytes{0x01}, Bytes{0xde, 0xad, 0xbe}, ToBytes("garbage cursor"), Bytes(3000, 0xff)}) {
      for (const bool newest_first : {false, true}) {
        const Result<Page<Item>> page =
            fetch(PageRequest{.cursor = cursor, .limit = 10, .newest_first = newest_first});
        ASSERT_FALSE(page.ok()) << "cursor of " << cursor.size() << " bytes accepted";
        EXPECT_TRUE(page.status().code() == ErrorCode::kInvalidArgument ||
                    page.status().code() == ErrorCode::kMalformed)
            << page.status().ToString();
      }
    }
  }

  auto AccountFetch(const KeyPair& key) {
    return [this, account = key.public_key()](const PageRequest& page) {
      return store_->AccountHistory(account, page);
    };
  }
  auto KeyFetch(std::string_view key) {
    return [this, key = ToBytes(key)](const PageRequest& page) {
      return store_->KeyHistory(key, page);
    };
  }
  auto IndexFetch(std::string contract, std::string index, std::string_view key) {
    return [this, contract, index, key = ToBytes(key)](const PageRequest& page) {
      return store_->IndexScan(contract, index, key, page);
    };
  }

  test::TempDir tmp_;
  std::unique_ptr<LedgerStore> store_;
  std::vector<AccountRow> expected_alice_;
  std::vector<AccountRow> expected_bob_;
  std::vector<KeyRow> expected_counter_;
  std::vector<KeyRow> expected_flip_;
  std::vector<IndexRow> expected_patient1_;
};

TEST_F(StoreHistoryTest, AccountHistoryHoldsSentAndReceivedInOrder) {
  ASSERT_EQ(expected_alice_.size(), 40u);
  ExpectHistory<AccountTx>(expected_alice_, AccountFetch(Alice()));
  ExpectHistory<AccountTx>(expected_bob_, AccountFetch(Bob()));
}

TEST_F(StoreHistoryTest, AccountHistoryRoles) {
  const auto rows = Walk<AccountTx>(AccountFetch(Alice()), kMaxPageSize, false);
  size_t sent = 0, received = 0, both = 0;
  for (const AccountRow& row : rows) {
    const uint8_t role = std::get<3>(row);
    sent += role == kAccountSent;
    received += role == kAccountReceived;
    both += role == (kAccountSent | kAccountReceived);
  }
  EXPECT_EQ(both, kBlocks / 5);      // to herself: one item with both roles
  EXPECT_EQ(received, kBlocks / 7);  // only successful transfers count as received
  EXPECT_EQ(sent, kBlocks);
  // A failed transaction still belongs to its sender's history.
  const auto carol = Walk<AccountTx>(AccountFetch(Carol()), kMaxPageSize, false);
  EXPECT_EQ(carol.size(), kBlocks - kBlocks / 3 + kBlocks / 3 + kBlocks / 7);
}

TEST_F(StoreHistoryTest, UnknownAccountHasAnEmptyHistory) {
  const Page<AccountTx> page =
      Must(store_->AccountHistory(Dave().public_key(), PageRequest{.cursor = {}, .limit = 10}));
  EXPECT_TRUE(page.items.empty());
  EXPECT_FALSE(page.next_cursor.has_value());
}

TEST_F(StoreHistoryTest, KeyHistoryHoldsEveryWriteAndDelete) {
  ExpectHistory<KeyWrite>(expected_counter_, KeyFetch("counter"));
  ExpectHistory<KeyWrite>(expected_flip_, KeyFetch("flip"));
  const Page<KeyWrite> none =
      Must(store_->KeyHistory(ToBytes("never"), PageRequest{.cursor = {}, .limit = 10}));
  EXPECT_TRUE(none.items.empty());
  EXPECT_FALSE(none.next_cursor.has_value());
  // A key that is a prefix of another has its own history.
  const Page<KeyWrite> prefix =
      Must(store_->KeyHistory(ToBytes("count"), PageRequest{.cursor = {}, .limit = 10}));
  EXPECT_TRUE(prefix.items.empty());
}

TEST_F(StoreHistoryTest, IndexScanReadsInHeightThenBlockPositionOrder) {
  ExpectHistory<IndexItem>(expected_patient1_, IndexFetch("emr", "accesses", "patient-1"));
  const auto grants = Walk<IndexItem>(IndexFetch("emr", "grants", "patient-1"), 1000, false);
  ASSERT_EQ(grants.size(), kBlocks);
  EXPECT_EQ(std::get<2>(grants.front()), ToBytes("1g"));
  const auto other_contract =
      Walk<IndexItem>(IndexFetch("ubi", "accesses", "patient-1"), 1000, false);
  EXPECT_EQ(other_contract.size(), kBlocks);
  const auto p2 = Walk<IndexItem>(IndexFetch("emr", "accesses", "patient-2"), 1000, false);
  EXPECT_EQ(p2.size(), kBlocks);
  const auto none = Walk<IndexItem>(IndexFetch("emr", "accesses", "patient-3"), 1000, false);
  EXPECT_TRUE(none.empty());
  // "patient-" is a prefix of every key: no item matches it.
  const auto prefix = Walk<IndexItem>(IndexFetch("emr", "accesses", "patient-"), 1000, false);
  EXPECT_TRUE(prefix.empty());
}

TEST_F(StoreHistoryTest, LimitZeroTooLargeAndGarbageCursorsAreRefused) {
  ExpectBadPageRequestsRefused<AccountTx>(AccountFetch(Alice()));
  ExpectBadPageRequestsRefused<KeyWrite>(KeyFetch("counter"));
  ExpectBadPageRequestsRefused<IndexItem>(IndexFetch("emr", "accesses", "patient-1"));
}

// "The cursor is the position of the last item returned, so pages stay correct while new
// blocks are committed": a walk interrupted by commits neither skips nor repeats an item.
TEST_F(StoreHistoryTest, CursorsStayValidWhileBlocksAreCommitted) {
  for (const bool newest_first : {false, true}) {
    SCOPED_TRACE(newest_first ? "newest first" : "oldest first");
    const std::vector<KeyRow> before = Walk<KeyWrite>(KeyFetch("counter"), 1000, newest_first);
    std::vector<KeyRow> rows;
    PageRequest request{.cursor = {}, .limit = 4, .newest_first = newest_first};
    Page<KeyWrite> page = Must(store_->KeyHistory(ToBytes("counter"), request));
    for (const KeyWrite& write : page.items) rows.push_back(Row(write));
    // Two more blocks, each writing "counter".
    const uint64_t tip = store_->tip().height;
    for (uint64_t h = tip + 1; h <= tip + 2; ++h) {
      CommitRequest next;
      next.block =
          test::MakeBlock(h, store_->tip().block_hash,
                          {test::MakeTransaction(Dave(), 10'000 + h, Dave().public_key())});
      next.certificate = test::Certify(next.block);
      next.results.resize(1);
      next.writes.push_back({ToBytes("counter"), ToBytes("late " + std::to_string(h)), 0});
      (void)Must(store_->Commit(next));
    }
    while (page.next_cursor) {
      request.cursor = *page.next_cursor;
      page = Must(store_->KeyHistory(ToBytes("counter"), request));
      for (const KeyWrite& write : page.items) rows.push_back(Row(write));
    }
    std::vector<KeyRow> expected = before;
    if (!newest_first) {
      expected.emplace_back(tip + 1, 0, ToBytes("late " + std::to_string(tip + 1)));
      expected.emplace_back(tip + 2, 0, ToBytes("late " + std::to_string(tip + 2)));
    }
    EXPECT_EQ(rows, expected);
  }
}

TEST_F(StoreHistoryTest, HistorySurvivesReopen) {
  const std::filesystem::path dir = tmp_.path() / "store";
  // Compared with what the store said before (the order itself is checked above).
  const auto index_before = Walk<IndexItem>(IndexFetch("emr", "accesses", "patient-1"), 13, false);
  store_.reset();
  store_ = Must(LedgerStore::Open(dir));
  EXPECT_EQ(Walk<AccountTx>(AccountFetch(Alice()), 13, false), expected_alice_);
  EXPECT_EQ(Walk<KeyWrite>(KeyFetch("counter"), 13, true),
            std::vector<KeyRow>(expected_counter_.rbegin(), expected_counter_.rend()));
  EXPECT_EQ(Walk<IndexItem>(IndexFetch("emr", "accesses", "patient-1"), 13, false), index_before);
  EXPECT_EQ(index_before.size(), expected_patient1_.size());
}

}  // namespace
}  // namespace city::ledger
