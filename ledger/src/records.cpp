// Encodings of execution results (records.h) and the result root.
#include "city/ledger/records.h"

#include "city/ledger/merkle.h"
#include "codec_internal.h"

namespace city::ledger {
namespace {

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
  v.FixedList(result.related_accounts, kMaxRelatedAccounts, "result related accounts");
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
