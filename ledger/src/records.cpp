// Encodings of execution results (records.h) and the result root.
#include "city/ledger/records.h"

#include "city/ledger/merkle.h"
#include "codec_internal.h"

namespace city::ledger {
namespace {

// Related accounts are listed as plain keys.
struct AccountItem {
  PublicKey key;
  void EncodeTo(Encoder& encoder) const { encoder.Fixed(key); }
  static AccountItem DecodeFrom(Decoder& decoder) {
    AccountItem item;
    decoder.Fixed(item.key);
    return item;
  }
};

template <typename Visitor>
void Fields(Visitor& v, FieldsOf<Event, Visitor>& event) {
  v.Text(event.contract, kMaxNameLength, "event contract");
  v.Text(event.name, kMaxNameLength, "event name");
  v.Blob(event.data, kMaxEventBytes, "event data");
}

template <typename Visitor>
void Fields(Visitor& v, FieldsOf<TxResult, Visitor>& result) {
  v.U32(result.code);
  v.Text(result.detail, kMaxResultDetailBytes, "result detail");
  v.List(result.events, kMaxEventsPerTransaction, 12, "result events");
  std::vector<AccountItem> accounts;
  if constexpr (Visitor::kEncoding) {
    for (const PublicKey& key : result.related_accounts) accounts.push_back({key});
  }
  v.List(accounts, kMaxRelatedAccounts, PublicKey::kSize, "result related accounts");
  if constexpr (!Visitor::kEncoding) {
    result.related_accounts.clear();
    for (const AccountItem& item : accounts) result.related_accounts.push_back(item.key);
  }
}

}  // namespace

CITY_LEDGER_CODEC(Event)
CITY_LEDGER_CODEC(TxResult)

Hash256 ComputeResultRoot(std::span<const TxResult> results) {
  std::vector<Hash256> leaves;
  leaves.reserve(results.size());
  for (const TxResult& result : results) leaves.push_back(TaggedHash(kResultTag, Encode(result)));
  return MerkleRoot(leaves);
}

}  // namespace city::ledger
