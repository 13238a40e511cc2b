// The logistics contract: provenance of goods through the port. Items and containers carry
// GS1 EPC URIs; EPCIS-style events (object, aggregation, transformation, transaction) record
// what / when / where / why; custody moves in two steps (the holder offers, the receiver
// accepts); every event and custody change of an item is listed, in order, by "provenance".
//
// Custody and containers. Only a custodian (governance role) calls any method. An item's
// holder is authoritative only for an item outside any container (a "root"); the holder of
// an item inside a container is the holder of its outermost container, found by walking up
// the `parent` pointers (at most kMaxNestingDepth steps). So handing over a container hands
// over its contents without rewriting them; on disaggregation the holder is written back.
// Objects inside a container take no events, offers or transformations of their own: those
// go to the outermost container, and are recorded in the provenance of everything it holds
// at that moment ("events on the pallet apply to its contents"). The contents of a
// container with a pending offer are frozen until the offer is accepted or cancelled.
//
// Key space ("logistics/..."), values canonical encodings (codec.h) or u64 LE:
//   item/<epc>            Item         (logistics.cpp)
//   contents/<epc>        ContentsList the direct children of a container, sorted
//   event/<id BE>         EventRecord  every event, custody change included
//   next_event            u64          the id the next event gets
// Indexes (appended, read in commit order):
//   provenance   key <epc>            ProvenanceEntry: one per event affecting the item
//   biz_transaction key <transaction> ProvenanceEntry of each transaction event naming it
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "city/contracts/args.h"
#include "city/crypto/hash.h"

namespace city::contracts {

inline constexpr std::string_view kLogistics = "logistics";

inline constexpr size_t kMaxEpcLength = 128;          // EPC URIs, locations, transaction ids
inline constexpr size_t kMaxEpcsPerEvent = 256;       // objects one call names
inline constexpr size_t kMaxTransformEpcs = 64;       // inputs, and outputs, of a transformation
inline constexpr size_t kMaxContainerContents = 256;  // objects under one outermost container
inline constexpr size_t kMaxNestingDepth = 4;         // containers enclosing any object
inline constexpr size_t kMaxAffectedPerEvent = 512;   // provenance entries one call appends

// Result codes of the logistics contract (codes.h: 400..499 are logistics').
enum class LogisticsCode : uint32_t {
  kNotHolder = 400,            // the caller does not hold the object
  kNoOffer = 401,              // accept / cancel without a pending offer
  kOfferToOther = 402,         // the pending offer names another receiver
  kOfferPending = 403,         // cancel the pending offer first
  kInContainer = 404,          // the object is inside a container: disaggregate, or use it
  kCycle = 405,                // a container would end up inside itself
  kNotActive = 406,            // the object was consumed by a transformation or decommissioned
  kNotContainer = 407,         // only an SSCC holds other objects
  kNotInContainer = 408,       // disaggregating an object the container does not hold
  kContainerNotEmpty = 409,    // consuming or decommissioning a container that holds objects
  kReceiverNotCustodian = 410  // custody can only be offered to a custodian
};

// EPCIS actions. Object events: kObserve, or kDelete (decommissioning); registration is an
// object event with kAdd. Aggregation: kAdd / kDelete. Transaction: any.
enum class EpcisAction : uint8_t { kAdd = 1, kObserve = 2, kDelete = 3 };

// An EPC URI: "urn:epc:id:{sgtin,sscc,grai,giai}:..." of at most kMaxEpcLength characters
// [A-Za-z0-9.:-]. Only an SSCC is a container.
struct Epc {
  std::string id;

  Epc() = default;
  Epc(std::string value) : id(std::move(value)) {}  // NOLINT: ids read as plain text
  Epc(const char* value) : id(value) {}             // NOLINT

  template <typename V, typename T>
  static void Fields(V& v, T& t) {
    v.Text(t.id, kMaxEpcLength, "epc");
  }
  CITY_CONTRACT_CODEC(Epc);
  friend bool operator==(const Epc&, const Epc&) = default;
};
bool IsValidEpc(std::string_view epc);
bool IsContainerEpc(std::string_view epc);

// The hash of the full off-chain EPCIS document the event summarises.
struct DocumentHash {
  Hash256 hash;

  template <typename V, typename T>
  static void Fields(V& v, T& t) {
    v.Fixed(t.hash);
  }
  CITY_CONTRACT_CODEC(DocumentHash);
};

// Where and why, shared by every event. Each is optional (empty): locations are
// "urn:epc:id:sgln:..." URIs, bizStep and disposition CBV words ([a-z0-9_], e.g. "shipping",
// "in_transit").
struct EventFields {
  std::string biz_step;
  std::string disposition;
  std::string read_point;
  std::string biz_location;
  std::optional<DocumentHash> document;

  template <typename V, typename T>
  static void Fields(V& v, T& t) {
    v.Text(t.biz_step, ledger::kMaxNameLength, "biz_step");
    v.Text(t.disposition, ledger::kMaxNameLength, "disposition");
    v.Text(t.read_point, kMaxEpcLength, "read_point");
    v.Text(t.biz_location, kMaxEpcLength, "biz_location");
    v.Optional(t.document, "document hash");
  }
  CITY_CONTRACT_CODEC(EventFields);
};

// A business transaction: a CBV type word ("po", "inv", "desadv", ...) and its URI
// ("urn:..." of [A-Za-z0-9.:/_-]).
struct BizTransaction {
  std::string type;
  std::string id;

  template <typename V, typename T>
  static void Fields(V& v, T& t) {
    v.Text(t.type, ledger::kMaxNameLength, "transaction type");
    v.Text(t.id, kMaxEpcLength, "transaction id");
  }
  CITY_CONTRACT_CODEC(BizTransaction);
};

// "register": commissions new objects, held by the caller (an object event, action ADD).
struct RegisterArgs {
  std::vector<Epc> epcs;
  EventFields fields;

  template <typename V, typename T>
  static void Fields(V& v, T& t) {
    v.List(t.epcs, kMaxEpcsPerEvent, 4, "epcs");
    v.Object(t.fields);
  }
  CITY_CONTRACT_CODEC(RegisterArgs);
};

// "object_event": the holder observes objects (kObserve) or decommissions them (kDelete).
struct ObjectEventArgs {
  std::vector<Epc> epcs;
  uint8_t action = uint8_t(EpcisAction::kObserve);
  EventFields fields;

  template <typename V, typename T>
  static void Fields(V& v, T& t) {
    v.List(t.epcs, kMaxEpcsPerEvent, 4, "epcs");
    v.U8(t.action);
    v.Object(t.fields);
  }
  CITY_CONTRACT_CODEC(ObjectEventArgs);
};

// "aggregate": kAdd packs children into the container `parent`; kDelete unpacks them (all of
// them when `children` is empty).
struct AggregateArgs {
  Epc parent;
  std::vector<Epc> children;
  uint8_t action = uint8_t(EpcisAction::kAdd);
  EventFields fields;

  template <typename V, typename T>
  static void Fields(V& v, T& t) {
    v.Object(t.parent);
    v.List(t.children, kMaxEpcsPerEvent, 4, "children");
    v.U8(t.action);
    v.Object(t.fields);
  }
  CITY_CONTRACT_CODEC(AggregateArgs);
};

// "transform": consumes the inputs, commissions the outputs (held by the caller).
struct TransformArgs {
  std::vector<Epc> inputs;
  std::vector<Epc> outputs;
  EventFields fields;

  template <typename V, typename T>
  static void Fields(V& v, T& t) {
    v.List(t.inputs, kMaxTransformEpcs, 4, "inputs");
    v.List(t.outputs, kMaxTransformEpcs, 4, "outputs");
    v.Object(t.fields);
  }
  CITY_CONTRACT_CODEC(TransformArgs);
};

// "transact": links objects to (kAdd), confirms (kObserve) or unlinks (kDelete) a business
// transaction.
struct TransactArgs {
  std::vector<Epc> epcs;
  uint8_t action = uint8_t(EpcisAction::kAdd);
  BizTransaction transaction;
  EventFields fields;

  template <typename V, typename T>
  static void Fields(V& v, T& t) {
    v.List(t.epcs, kMaxEpcsPerEvent, 4, "epcs");
    v.U8(t.action);
    v.Object(t.transaction);
    v.Object(t.fields);
  }
  CITY_CONTRACT_CODEC(TransactArgs);
};

// "offer": the holder offers custody of an object (outside any container) to `to`.
struct OfferArgs {
  Epc epc;
  PublicKey to;

  template <typename V, typename T>
  static void Fields(V& v, T& t) {
    v.Object(t.epc);
    v.Fixed(t.to);
  }
  CITY_CONTRACT_CODEC(OfferArgs);
};

// "accept" (by the receiver named in the offer) and "cancel_offer" (by the holder).
struct CustodyArgs {
  Epc epc;

  template <typename V, typename T>
  static void Fields(V& v, T& t) {
    v.Object(t.epc);
  }
  CITY_CONTRACT_CODEC(CustodyArgs);
};

// Queries (JSON):
//   "item"        {epc} -> holder, pending offer, container, state, contents count
//   "provenance"  {epc, cursor?, limit?, newest_first?} -> every event and custody change
//   "contents"    {container} -> its direct children, and the count of all levels
//   "event"       {id} -> the full stored event
//   "transaction" {id, cursor?, limit?, newest_first?} -> transaction events naming it
std::unique_ptr<Contract> MakeLogistics();

}  // namespace city::contracts
