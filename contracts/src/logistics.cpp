// The logistics contract (logistics.h): records, validation, methods and queries.
#include "city/contracts/logistics.h"

#include <algorithm>
#include <array>
#include <set>

#include "city/contracts/governance.h"

namespace city::contracts {

namespace {

// ---- stored records (formats: codec.h) ----

enum class ItemState : uint8_t { kActive = 1, kConsumed = 2, kDecommissioned = 3 };

enum class EventKind : uint8_t {
  kObject = 1,
  kAggregation = 2,
  kTransformation = 3,
  kTransaction = 4,
  kCustodyOffer = 5,
  kCustodyAccept = 6,
  kCustodyCancel = 7,
};

struct Offer {
  PublicKey to;
  uint64_t since_ms = 0;
  uint64_t event = 0;

  template <typename V, typename T>
  static void Fields(V& v, T& t) {
    v.Fixed(t.to);
    v.U64(t.since_ms);
    v.U64(t.event);
  }
  CITY_CONTRACT_CODEC(Offer);
};

// "item/<epc>". `holder` is authoritative only while `parent` is empty (logistics.h).
struct Item {
  std::string epc;
  uint8_t state = uint8_t(ItemState::kActive);
  PublicKey holder;
  std::string parent;  // the container directly holding it, or empty
  std::optional<Offer> offer;
  uint64_t registered_ms = 0;
  uint64_t registered_event = 0;

  template <typename V, typename T>
  static void Fields(V& v, T& t) {
    v.Text(t.epc, kMaxEpcLength, "item epc");
    v.U8(t.state);
    v.Fixed(t.holder);
    v.Text(t.parent, kMaxEpcLength, "item parent");
    v.Optional(t.offer, "item offer");
    v.U64(t.registered_ms);
    v.U64(t.registered_event);
  }
  CITY_CONTRACT_CODEC(Item);
};

// "contents/<epc>": direct children, sorted, at most kMaxContainerContents.
struct ContentsList {
  std::vector<Epc> items;

  template <typename V, typename T>
  static void Fields(V& v, T& t) {
    v.List(t.items, kMaxContainerContents, 4, "contents");
  }
  CITY_CONTRACT_CODEC(ContentsList);
};

// "event/<id BE>": what the call named. `epcs` are the objects (the children of an
// aggregation, the inputs of a transformation, the object of a custody change).
struct EventRecord {
  uint64_t id = 0;
  uint8_t kind = 0;    // EventKind
  uint8_t action = 0;  // EpcisAction, 0 for custody changes and transformations
  uint64_t time_ms = 0;
  uint64_t height = 0;
  PublicKey actor;
  Hash256 tx_id;
  std::vector<Epc> epcs;
  std::string parent;
  std::vector<Epc> outputs;
  EventFields fields;
  std::optional<BizTransaction> transaction;
  PublicKey counterparty;  // offer: the receiver; accept: the previous holder; zero: none

  template <typename V, typename T>
  static void Fields(V& v, T& t) {
    v.U64(t.id);
    v.U8(t.kind);
    v.U8(t.action);
    v.U64(t.time_ms);
    v.U64(t.height);
    v.Fixed(t.actor);
    v.Fixed(t.tx_id);
    v.List(t.epcs, kMaxEpcsPerEvent, 4, "event epcs");
    v.Text(t.parent, kMaxEpcLength, "event parent");
    v.List(t.outputs, kMaxTransformEpcs, 4, "event outputs");
    v.Object(t.fields);
    v.Optional(t.transaction, "event transaction");
    v.Fixed(t.counterparty);
  }
  CITY_CONTRACT_CODEC(EventRecord);
};

// The value of a "provenance" (and "biz_transaction") index entry: the event as it concerns
// one object, self-contained so that a page needs no further reads (< 1 KiB, far under
// kMaxIndexValueBytes).
struct ProvenanceEntry {
  uint64_t event = 0;
  uint8_t kind = 0;
  uint8_t action = 0;  // transformations: kDelete for an input, kAdd for an output
  uint64_t time_ms = 0;
  PublicKey actor;
  std::string via;     // the container the event named, when it reached this object inside it
  std::string parent;  // aggregations: the container
  PublicKey counterparty;
  EventFields fields;
  std::optional<BizTransaction> transaction;

  template <typename V, typename T>
  static void Fields(V& v, T& t) {
    v.U64(t.event);
    v.U8(t.kind);
    v.U8(t.action);
    v.U64(t.time_ms);
    v.Fixed(t.actor);
    v.Text(t.via, kMaxEpcLength, "entry via");
    v.Text(t.parent, kMaxEpcLength, "entry parent");
    v.Fixed(t.counterparty);
    v.Object(t.fields);
    v.Optional(t.transaction, "entry transaction");
  }
  CITY_CONTRACT_CODEC(ProvenanceEntry);
};

constexpr std::string_view kProvenanceIndex = "provenance";
constexpr std::string_view kTransactionIndex = "biz_transaction";
constexpr std::string_view kNextEventKey = "next_event";

std::string ItemKey(std::string_view epc) { return "item/" + std::string(epc); }
std::string ContentsKey(std::string_view epc) { return "contents/" + std::string(epc); }
std::string EventKey(uint64_t id) { return "event/" + U64Key(id); }
Bytes TextBytes(std::string_view text) { return Bytes(text.begin(), text.end()); }

// ---- validation ----

constexpr std::array<std::string_view, 4> kEpcSchemes = {"sgtin", "sscc", "grai", "giai"};
constexpr std::string_view kEpcPrefix = "urn:epc:id:";
constexpr std::string_view kLocationPrefix = "urn:epc:id:sgln:";

bool IsEpcChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == ':' || c == '-';
}

// "<prefix><at least one character>", all of [A-Za-z0-9.:-], at most kMaxEpcLength.
bool IsUriWithPrefix(std::string_view text, std::string_view prefix) {
  if (text.size() <= prefix.size() || text.size() > kMaxEpcLength) return false;
  if (!text.starts_with(prefix)) return false;
  return std::all_of(text.begin(), text.end(), IsEpcChar);
}

std::string_view SchemeOf(std::string_view epc) {
  for (std::string_view scheme : kEpcSchemes) {
    const std::string prefix = std::string(kEpcPrefix) + std::string(scheme) + ":";
    if (IsUriWithPrefix(epc, prefix)) return scheme;
  }
  return {};
}

bool IsCbvWord(std::string_view word) { return word.empty() || ledger::IsValidName(word); }
bool IsLocation(std::string_view uri) {
  return uri.empty() || IsUriWithPrefix(uri, kLocationPrefix);
}

bool IsTransactionId(std::string_view id) {
  if (id.size() > kMaxEpcLength) return false;
  if (!id.starts_with("urn:") && !id.starts_with("https://") && !id.starts_with("http://"))
    return false;
  if (id.size() <= 4) return false;
  return std::all_of(id.begin(), id.end(),
                     [](char c) { return IsEpcChar(c) || c == '/' || c == '_'; });
}

Outcome CheckFields(const EventFields& fields) {
  if (!IsCbvWord(fields.biz_step)) return Outcome::Fail(Code::kBadArguments, "invalid bizStep");
  if (!IsCbvWord(fields.disposition))
    return Outcome::Fail(Code::kBadArguments, "invalid disposition");
  if (!IsLocation(fields.read_point))
    return Outcome::Fail(Code::kBadArguments, "readPoint is not an sgln URI");
  if (!IsLocation(fields.biz_location))
    return Outcome::Fail(Code::kBadArguments, "bizLocation is not an sgln URI");
  return Outcome::Ok();
}

// A list of min..max valid, distinct EPCs.
Outcome CheckEpcs(const std::vector<Epc>& epcs, size_t min, size_t max, const char* what) {
  if (epcs.size() < min || epcs.size() > max) {
    return Outcome::Fail(Code::kBadArguments, std::string(what) + ": " + std::to_string(min) +
                                                  ".." + std::to_string(max) + " EPCs");
  }
  std::set<std::string_view> seen;
  for (const Epc& epc : epcs) {
    if (!IsValidEpc(epc.id))
      return Outcome::Fail(Code::kBadArguments, "invalid EPC in " + std::string(what));
    if (!seen.insert(epc.id).second)
      return Outcome::Fail(Code::kBadArguments, "an EPC is listed twice in " + std::string(what));
  }
  return Outcome::Ok();
}

Outcome Fail(LogisticsCode code, std::string detail) {
  return Outcome::Fail(Code(code), std::move(detail));
}

// ---- reading items (calls and queries alike: both have Get(key) const) ----

[[noreturn]] void Corrupt(const std::string& what) {
  throw StorageFailure{{ErrorCode::kCorruption, "logistics: " + what}};
}

template <typename Reader>
std::optional<Item> LoadItem(const Reader& reader, std::string_view epc) {
  return LoadRecord<Item>(reader.Get(ItemKey(epc)));
}

template <typename Reader>
std::vector<Epc> ChildrenOf(const Reader& reader, std::string_view epc) {
  if (!IsContainerEpc(epc)) return {};
  std::optional<ContentsList> list = LoadRecord<ContentsList>(reader.Get(ContentsKey(epc)));
  return list ? std::move(list->items) : std::vector<Epc>{};
}

// Everything under a container, breadth-first, and how many levels deep it goes (0: empty).
struct Subtree {
  std::vector<std::string> objects;
  size_t height = 0;
};

template <typename Reader>
Subtree SubtreeOf(const Reader& reader, const std::string& epc) {
  Subtree out;
  std::vector<std::pair<std::string, size_t>> frontier = {{epc, 0}};
  for (size_t i = 0; i < frontier.size(); ++i) {
    const std::string id = frontier[i].first;
    const size_t level = frontier[i].second;
    for (Epc& child : ChildrenOf(reader, id)) {
      // aggregate keeps both bounds; breaking them means the store is not ours.
      if (out.objects.size() == kMaxContainerContents || level + 1 > kMaxNestingDepth)
        Corrupt("container " + epc + " exceeds its bounds");
      out.objects.push_back(child.id);
      out.height = std::max(out.height, level + 1);
      frontier.emplace_back(std::move(child.id), level + 1);
    }
  }
  return out;
}

// The outermost container around an item (the item itself outside any), and how many
// containers enclose the item.
struct Placement {
  Item root;
  size_t depth = 0;
};

template <typename Reader>
Placement PlacementOf(const Reader& reader, const Item& item) {
  Placement placement{item, 0};
  while (!placement.root.parent.empty()) {
    if (placement.depth == kMaxNestingDepth) Corrupt("nesting deeper than the bound");
    std::optional<Item> parent = LoadItem(reader, placement.root.parent);
    if (!parent) Corrupt("missing container " + placement.root.parent);
    placement.root = std::move(*parent);
    ++placement.depth;
  }
  return placement;
}

// ---- recording events ----

// One provenance entry to append: the object and, when reached through a container the
// event named, that container.
struct Affected {
  std::string epc;
  std::string via;
  uint8_t action = 0;
};

class Recorder {
 public:
  Recorder(Call& call, EventKind kind, uint8_t action, const EventFields& fields) : call_(call) {
    event_.id = ReadU64Value(call.Get(kNextEventKey)).value_or(0);
    event_.kind = uint8_t(kind);
    event_.action = action;
    event_.time_ms = call.block().timestamp_ms;
    event_.height = call.block().height;
    event_.actor = call.caller();
    event_.tx_id = call.tx_id();
    event_.fields = fields;
  }

  EventRecord& event() { return event_; }
  uint64_t id() const { return event_.id; }
  uint64_t now() const { return event_.time_ms; }

  // The object alone.
  void TouchOne(const std::string& epc, uint8_t action) { affected_.push_back({epc, "", action}); }
  // The object, and everything inside it (reached "via" it).
  void Touch(const std::string& epc, uint8_t action) {
    TouchOne(epc, action);
    if (!IsContainerEpc(epc)) return;
    for (std::string& inner : SubtreeOf(call_, epc).objects)
      affected_.push_back({std::move(inner), epc, action});
  }

  // Stores the event, appends its provenance entries and emits `name`.
  Outcome Finish(std::string_view name) {
    if (affected_.size() > kMaxAffectedPerEvent) {
      return Outcome::Fail(
          Code::kLimitExceeded,
          "the event would reach more than " + std::to_string(kMaxAffectedPerEvent) + " objects");
    }
    call_.Put(kNextEventKey, U64Value(event_.id + 1));
    call_.Put(EventKey(event_.id), ledger::Encode(event_));
    ProvenanceEntry entry;
    entry.event = event_.id;
    entry.kind = event_.kind;
    entry.time_ms = event_.time_ms;
    entry.actor = event_.actor;
    entry.parent = event_.parent;
    entry.counterparty = event_.counterparty;
    entry.fields = event_.fields;
    entry.transaction = event_.transaction;
    for (const Affected& affected : affected_) {
      entry.via = affected.via;
      entry.action = affected.action;
      call_.Index(kProvenanceIndex, TextBytes(affected.epc), ledger::Encode(entry));
    }
    if (event_.transaction) {
      entry.via.clear();
      entry.action = event_.action;
      call_.Index(kTransactionIndex, TextBytes(event_.transaction->id), ledger::Encode(entry));
    }
    call_.Emit(name, U64Value(event_.id));
    return Outcome::Ok();
  }

 private:
  Call& call_;
  EventRecord event_;
  std::vector<Affected> affected_;
};

void PutItem(Call& call, const Item& item) { call.Put(ItemKey(item.epc), ledger::Encode(item)); }

// The caller's own object, outside any container, still active; with `no_offer`, also not
// under a pending offer.
Outcome LoadHeld(const Call& call, const std::string& epc, bool no_offer, Item& out) {
  std::optional<Item> item = LoadItem(call, epc);
  if (!item) return Outcome::Fail(Code::kNotFound, "no such object " + epc);
  if (item->state != uint8_t(ItemState::kActive))
    return Fail(LogisticsCode::kNotActive, epc + " was consumed or decommissioned");
  if (!item->parent.empty())
    return Fail(LogisticsCode::kInContainer, epc + " is inside " + item->parent);
  if (item->holder != call.caller())
    return Fail(LogisticsCode::kNotHolder, "the caller does not hold " + epc);
  if (no_offer && item->offer)
    return Fail(LogisticsCode::kOfferPending, epc + " has a pending custody offer");
  out = std::move(*item);
  return Outcome::Ok();
}

Item NewItem(const Call& call, const std::string& epc, uint64_t event) {
  Item item;
  item.epc = epc;
  item.holder = call.caller();
  item.registered_ms = call.block().timestamp_ms;
  item.registered_event = event;
  return item;
}

// ---- methods ----

Outcome Register(Call& call, const RegisterArgs& args) {
  if (Outcome checked = CheckEpcs(args.epcs, 1, kMaxEpcsPerEvent, "epcs"); !checked.ok())
    return checked;
  if (Outcome checked = CheckFields(args.fields); !checked.ok()) return checked;
  for (const Epc& epc : args.epcs) {
    if (call.Get(ItemKey(epc.id)))
      return Outcome::Fail(Code::kAlreadyExists, epc.id + " is already registered");
  }
  Recorder recorder(call, EventKind::kObject, uint8_t(EpcisAction::kAdd), args.fields);
  recorder.event().epcs = args.epcs;
  for (const Epc& epc : args.epcs) {
    PutItem(call, NewItem(call, epc.id, recorder.id()));
    recorder.Touch(epc.id, uint8_t(EpcisAction::kAdd));
  }
  return recorder.Finish("registered");
}

Outcome ObjectEvent(Call& call, const ObjectEventArgs& args) {
  const auto action = EpcisAction(args.action);
  if (action != EpcisAction::kObserve && action != EpcisAction::kDelete)
    return Outcome::Fail(Code::kBadArguments, "object events OBSERVE or DELETE");
  if (Outcome checked = CheckEpcs(args.epcs, 1, kMaxEpcsPerEvent, "epcs"); !checked.ok())
    return checked;
  if (Outcome checked = CheckFields(args.fields); !checked.ok()) return checked;
  Recorder recorder(call, EventKind::kObject, args.action, args.fields);
  recorder.event().epcs = args.epcs;
  for (const Epc& epc : args.epcs) {
    Item item;
    if (Outcome held = LoadHeld(call, epc.id, action == EpcisAction::kDelete, item); !held.ok())
      return held;
    if (action == EpcisAction::kDelete) {
      if (!ChildrenOf(call, epc.id).empty())
        return Fail(LogisticsCode::kContainerNotEmpty, epc.id + " still holds objects");
      item.state = uint8_t(ItemState::kDecommissioned);
      PutItem(call, item);
    }
    recorder.Touch(epc.id, args.action);
  }
  return recorder.Finish("object_event");
}

Outcome Aggregate(Call& call, const AggregateArgs& args) {
  const auto action = EpcisAction(args.action);
  const bool add = action == EpcisAction::kAdd;
  if (!add && action != EpcisAction::kDelete)
    return Outcome::Fail(Code::kBadArguments, "aggregation events ADD or DELETE");
  if (!IsValidEpc(args.parent.id)) return Outcome::Fail(Code::kBadArguments, "invalid parent");
  if (!IsContainerEpc(args.parent.id))
    return Fail(LogisticsCode::kNotContainer, "only an SSCC holds other objects");
  if (Outcome checked = CheckEpcs(args.children, add ? 1 : 0, kMaxEpcsPerEvent, "children");
      !checked.ok())
    return checked;
  if (Outcome checked = CheckFields(args.fields); !checked.ok()) return checked;

  std::optional<Item> parent = LoadItem(call, args.parent.id);
  if (!parent) return Outcome::Fail(Code::kNotFound, "no such container " + args.parent.id);
  if (parent->state != uint8_t(ItemState::kActive))
    return Fail(LogisticsCode::kNotActive, "the container was consumed or decommissioned");
  const Placement placement = PlacementOf(call, *parent);
  if (placement.root.holder != call.caller())
    return Fail(LogisticsCode::kNotHolder, "the caller does not hold the container");
  if (placement.root.offer)
    return Fail(LogisticsCode::kOfferPending, "the container is under a pending custody offer");

  std::vector<Epc> contents = ChildrenOf(call, args.parent.id);
  std::vector<Item> children;
  if (add) {
    size_t total = SubtreeOf(call, placement.root.epc).objects.size();
    for (const Epc& epc : args.children) {
      if (epc.id == args.parent.id)
        return Fail(LogisticsCode::kCycle, "a container cannot hold itself");
      Item child;
      if (Outcome held = LoadHeld(call, epc.id, true, child); !held.ok()) return held;
      // The child is outermost: the parent is inside it exactly when it is the parent's root.
      if (placement.root.epc == epc.id)
        return Fail(LogisticsCode::kCycle, epc.id + " contains " + args.parent.id);
      const Subtree inner = IsContainerEpc(epc.id) ? SubtreeOf(call, epc.id) : Subtree{};
      total += 1 + inner.objects.size();
      if (placement.depth + 1 + inner.height > kMaxNestingDepth) {
        return Outcome::Fail(Code::kLimitExceeded, "containers would nest more than " +
                                                       std::to_string(kMaxNestingDepth) + " deep");
      }
      child.parent = args.parent.id;
      children.push_back(std::move(child));
    }
    if (total > kMaxContainerContents) {
      return Outcome::Fail(Code::kLimitExceeded, "a container holds at most " +
                                                     std::to_string(kMaxContainerContents) +
                                                     " objects at all levels");
    }
    for (const Item& child : children) {
      contents.insert(std::upper_bound(contents.begin(), contents.end(), Epc{child.epc},
                                       [](const Epc& a, const Epc& b) { return a.id < b.id; }),
                      Epc{child.epc});
    }
  } else {
    const std::vector<Epc> targets = args.children.empty() ? contents : args.children;
    for (const Epc& epc : targets) {
      auto at = std::find(contents.begin(), contents.end(), epc);
      if (at == contents.end())
        return Fail(LogisticsCode::kNotInContainer, args.parent.id + " does not hold " + epc.id);
      contents.erase(at);
      std::optional<Item> child = LoadItem(call, epc.id);
      if (!child) Corrupt("missing contained object " + epc.id);
      child->parent.clear();
      child->holder = call.caller();  // the holder written back (logistics.h)
      children.push_back(std::move(*child));
    }
  }

  Recorder recorder(call, EventKind::kAggregation, args.action, args.fields);
  recorder.event().parent = args.parent.id;
  recorder.TouchOne(args.parent.id, args.action);
  for (const Item& child : children) {
    recorder.event().epcs.push_back(Epc{child.epc});
    recorder.Touch(child.epc, args.action);
    PutItem(call, child);
  }
  if (contents.empty()) {
    call.Delete(ContentsKey(args.parent.id));
  } else {
    call.Put(ContentsKey(args.parent.id), ledger::Encode(ContentsList{contents}));
  }
  return recorder.Finish(add ? "aggregated" : "disaggregated");
}

Outcome Transform(Call& call, const TransformArgs& args) {
  if (Outcome checked = CheckEpcs(args.inputs, 1, kMaxTransformEpcs, "inputs"); !checked.ok())
    return checked;
  if (Outcome checked = CheckEpcs(args.outputs, 1, kMaxTransformEpcs, "outputs"); !checked.ok())
    return checked;
  for (const Epc& output : args.outputs) {
    if (std::find(args.inputs.begin(), args.inputs.end(), output) != args.inputs.end())
      return Outcome::Fail(Code::kBadArguments, output.id + " is both an input and an output");
  }
  if (Outcome checked = CheckFields(args.fields); !checked.ok()) return checked;
  Recorder recorder(call, EventKind::kTransformation, 0, args.fields);
  recorder.event().epcs = args.inputs;
  recorder.event().outputs = args.outputs;
  for (const Epc& epc : args.inputs) {
    Item input;
    if (Outcome held = LoadHeld(call, epc.id, true, input); !held.ok()) return held;
    if (!ChildrenOf(call, epc.id).empty())
      return Fail(LogisticsCode::kContainerNotEmpty, epc.id + " still holds objects");
    input.state = uint8_t(ItemState::kConsumed);
    PutItem(call, input);
    recorder.Touch(epc.id, uint8_t(EpcisAction::kDelete));
  }
  for (const Epc& epc : args.outputs) {
    if (call.Get(ItemKey(epc.id)))
      return Outcome::Fail(Code::kAlreadyExists, epc.id + " is already registered");
    PutItem(call, NewItem(call, epc.id, recorder.id()));
    recorder.Touch(epc.id, uint8_t(EpcisAction::kAdd));
  }
  return recorder.Finish("transformed");
}

Outcome Transact(Call& call, const TransactArgs& args) {
  if (args.action < uint8_t(EpcisAction::kAdd) || args.action > uint8_t(EpcisAction::kDelete))
    return Outcome::Fail(Code::kBadArguments, "unknown action");
  if (!ledger::IsValidName(args.transaction.type))
    return Outcome::Fail(Code::kBadArguments, "invalid business transaction type");
  if (!IsTransactionId(args.transaction.id))
    return Outcome::Fail(Code::kBadArguments, "invalid business transaction id");
  if (Outcome checked = CheckEpcs(args.epcs, 1, kMaxEpcsPerEvent, "epcs"); !checked.ok())
    return checked;
  if (Outcome checked = CheckFields(args.fields); !checked.ok()) return checked;
  Recorder recorder(call, EventKind::kTransaction, args.action, args.fields);
  recorder.event().epcs = args.epcs;
  recorder.event().transaction = args.transaction;
  for (const Epc& epc : args.epcs) {
    Item item;
    if (Outcome held = LoadHeld(call, epc.id, false, item); !held.ok()) return held;
    recorder.Touch(epc.id, args.action);
  }
  return recorder.Finish("transaction_event");
}

Outcome OfferCustody(Call& call, const OfferArgs& args) {
  if (!IsValidEpc(args.epc.id)) return Outcome::Fail(Code::kBadArguments, "invalid EPC");
  if (!args.to.IsValidPoint()) return Outcome::Fail(Code::kBadArguments, "invalid receiver");
  if (args.to == call.caller())
    return Outcome::Fail(Code::kBadArguments, "custody cannot be offered to its holder");
  Item item;
  if (Outcome held = LoadHeld(call, args.epc.id, true, item); !held.ok()) return held;
  if (!call.HasRole(args.to, kCustodianRole))
    return Fail(LogisticsCode::kReceiverNotCustodian, "the receiver is not a custodian");
  Recorder recorder(call, EventKind::kCustodyOffer, 0, {});
  recorder.event().epcs = {args.epc};
  recorder.event().counterparty = args.to;
  item.offer = Offer{args.to, recorder.now(), recorder.id()};
  PutItem(call, item);
  recorder.Touch(item.epc, 0);
  call.Relate(args.to);
  return recorder.Finish("custody_offered");
}

// An object under a pending offer is always outermost: offers need it, and aggregation
// refuses objects under offer.
Outcome AcceptCustody(Call& call, const CustodyArgs& args) {
  if (!IsValidEpc(args.epc.id)) return Outcome::Fail(Code::kBadArguments, "invalid EPC");
  std::optional<Item> item = LoadItem(call, args.epc.id);
  if (!item) return Outcome::Fail(Code::kNotFound, "no such object " + args.epc.id);
  if (!item->offer) return Fail(LogisticsCode::kNoOffer, "no pending offer");
  if (item->offer->to != call.caller())
    return Fail(LogisticsCode::kOfferToOther, "the offer names another receiver");
  const PublicKey previous = item->holder;
  Recorder recorder(call, EventKind::kCustodyAccept, 0, {});
  recorder.event().epcs = {args.epc};
  recorder.event().counterparty = previous;
  item->holder = call.caller();
  item->offer.reset();
  PutItem(call, *item);
  recorder.Touch(item->epc, 0);
  call.Relate(previous);
  return recorder.Finish("custody_accepted");
}

Outcome CancelOffer(Call& call, const CustodyArgs& args) {
  if (!IsValidEpc(args.epc.id)) return Outcome::Fail(Code::kBadArguments, "invalid EPC");
  std::optional<Item> item = LoadItem(call, args.epc.id);
  if (!item) return Outcome::Fail(Code::kNotFound, "no such object " + args.epc.id);
  if (item->holder != call.caller() || !item->parent.empty())
    return Fail(LogisticsCode::kNotHolder, "the caller does not hold " + args.epc.id);
  if (!item->offer) return Fail(LogisticsCode::kNoOffer, "no pending offer");
  Recorder recorder(call, EventKind::kCustodyCancel, 0, {});
  recorder.event().epcs = {args.epc};
  recorder.event().counterparty = item->offer->to;
  call.Relate(item->offer->to);
  item->offer.reset();
  PutItem(call, *item);
  recorder.Touch(item->epc, 0);
  return recorder.Finish("custody_offer_cancelled");
}

// ---- queries ----

Json AccountOrNull(const PublicKey& key) {
  return key.IsZero() ? Json(nullptr) : Json(EncodeAddress(key));
}
Json TextOrNull(const std::string& text) { return text.empty() ? Json(nullptr) : Json(text); }

std::string_view KindName(uint8_t kind) {
  switch (EventKind(kind)) {
    case EventKind::kObject:
      return "object";
    case EventKind::kAggregation:
      return "aggregation";
    case EventKind::kTransformation:
      return "transformation";
    case EventKind::kTransaction:
      return "transaction";
    case EventKind::kCustodyOffer:
      return "custody_offer";
    case EventKind::kCustodyAccept:
      return "custody_accept";
    case EventKind::kCustodyCancel:
      return "custody_cancel";
  }
  return "unknown";
}

Json ActionJson(uint8_t action) {
  switch (EpcisAction(action)) {
    case EpcisAction::kAdd:
      return "ADD";
    case EpcisAction::kObserve:
      return "OBSERVE";
    case EpcisAction::kDelete:
      return "DELETE";
  }
  return nullptr;
}

std::string_view StateName(uint8_t state) {
  switch (ItemState(state)) {
    case ItemState::kActive:
      return "active";
    case ItemState::kConsumed:
      return "consumed";
    case ItemState::kDecommissioned:
      return "decommissioned";
  }
  return "unknown";
}

void AddFieldsJson(Json& out, const EventFields& fields,
                   const std::optional<BizTransaction>& transaction) {
  out["biz_step"] = TextOrNull(fields.biz_step);
  out["disposition"] = TextOrNull(fields.disposition);
  out["read_point"] = TextOrNull(fields.read_point);
  out["biz_location"] = TextOrNull(fields.biz_location);
  out["document_hash"] = fields.document ? Json(fields.document->hash.ToHex()) : Json(nullptr);
  out["biz_transaction"] =
      transaction ? Json{{"type", transaction->type}, {"id", transaction->id}} : Json(nullptr);
}

Json EntryJson(const ledger::IndexItem& item) {
  const std::optional<ProvenanceEntry> entry = LoadRecord<ProvenanceEntry>(item.value);
  Json out = {{"event", entry->event},
              {"kind", KindName(entry->kind)},
              {"action", ActionJson(entry->action)},
              {"time_ms", entry->time_ms},
              {"height", item.location.height},
              {"tx_index", item.location.index},
              {"actor", EncodeAddress(entry->actor)},
              {"via", TextOrNull(entry->via)},
              {"parent", TextOrNull(entry->parent)},
              {"counterparty", AccountOrNull(entry->counterparty)}};
  if (EventKind(entry->kind) == EventKind::kTransformation) {
    out["action"] = nullptr;
    out["role"] = entry->action == uint8_t(EpcisAction::kAdd) ? "output" : "input";
  }
  AddFieldsJson(out, entry->fields, entry->transaction);
  return out;
}

Json EpcsJson(const std::vector<Epc>& epcs) {
  Json out = Json::array();
  for (const Epc& epc : epcs) out.push_back(epc.id);
  return out;
}

Result<std::string> EpcParam(const Json& params, const char* field) {
  if (!params.is_object() || !params.contains(field))
    return Status{ErrorCode::kInvalidArgument, std::string("missing '") + field + "'"};
  std::string epc = params.at(field).get<std::string>();
  if (!IsValidEpc(epc)) return Status{ErrorCode::kInvalidArgument, "invalid EPC '" + epc + "'"};
  return epc;
}

Result<Json> ItemQuery(const QueryContext& context, const Json& params) {
  Result<std::string> epc = EpcParam(params, "epc");
  if (!epc.ok()) return epc.status();
  std::optional<Item> item = LoadItem(context, *epc);
  if (!item) return Status{ErrorCode::kNotFound, "no such object " + *epc};
  const Placement placement = PlacementOf(context, *item);
  const std::optional<Offer>& offer = placement.root.offer;  // carries the contents along
  Json out = {{"epc", item->epc},
              {"scheme", SchemeOf(item->epc)},
              {"state", StateName(item->state)},
              {"holder", EncodeAddress(placement.root.holder)},
              {"container", TextOrNull(item->parent)},
              {"outermost", placement.depth == 0 ? Json(nullptr) : Json(placement.root.epc)},
              {"pending_offer", offer ? Json{{"to", EncodeAddress(offer->to)},
                                             {"since_ms", offer->since_ms},
                                             {"event", offer->event}}
                                      : Json(nullptr)},
              {"registered_ms", item->registered_ms},
              {"registered_event", item->registered_event}};
  if (IsContainerEpc(item->epc)) out["contents"] = ChildrenOf(context, item->epc).size();
  return out;
}

Result<Json> IndexPage(const QueryContext& context, std::string_view index, const std::string& key,
                       const Json& params, const char* key_field) {
  Result<ledger::PageRequest> page = PageFromJson(params);
  if (!page.ok()) return page.status();
  Result<ledger::Page<ledger::IndexItem>> found = context.Index(index, AsBytes(key), *page);
  if (!found.ok()) return found.status();
  Json events = Json::array();
  for (const ledger::IndexItem& item : found->items) events.push_back(EntryJson(item));
  return Json{
      {key_field, key}, {"events", events}, {"next_cursor", PageToJson(found->next_cursor)}};
}

Result<Json> ProvenanceQuery(const QueryContext& context, const Json& params) {
  Result<std::string> epc = EpcParam(params, "epc");
  if (!epc.ok()) return epc.status();
  if (!context.Get(ItemKey(*epc))) return Status{ErrorCode::kNotFound, "no such object " + *epc};
  return IndexPage(context, kProvenanceIndex, *epc, params, "epc");
}

Result<Json> TransactionQuery(const QueryContext& context, const Json& params) {
  if (!params.is_object() || !params.contains("id"))
    return Status{ErrorCode::kInvalidArgument, "missing 'id'"};
  const std::string id = params.at("id").get<std::string>();
  if (!IsTransactionId(id)) return Status{ErrorCode::kInvalidArgument, "invalid transaction id"};
  return IndexPage(context, kTransactionIndex, id, params, "id");
}

Result<Json> ContentsQuery(const QueryContext& context, const Json& params) {
  Result<std::string> epc = EpcParam(params, "container");
  if (!epc.ok()) return epc.status();
  if (!IsContainerEpc(*epc)) return Status{ErrorCode::kInvalidArgument, "not an SSCC"};
  if (!context.Get(ItemKey(*epc))) return Status{ErrorCode::kNotFound, "no such container"};
  return Json{{"container", *epc},
              {"items", EpcsJson(ChildrenOf(context, *epc))},
              {"all_levels", SubtreeOf(context, *epc).objects.size()}};
}

Result<Json> EventQuery(const QueryContext& context, const Json& params) {
  const uint64_t id = params.at("id").get<uint64_t>();
  std::optional<EventRecord> event = LoadRecord<EventRecord>(context.Get(EventKey(id)));
  if (!event) return Status{ErrorCode::kNotFound, "no such event"};
  Json out = {
      {"id", event->id},
      {"kind", KindName(event->kind)},
      {"action", event->kind == uint8_t(EventKind::kTransformation) ? Json(nullptr)
                                                                    : ActionJson(event->action)},
      {"time_ms", event->time_ms},
      {"height", event->height},
      {"actor", EncodeAddress(event->actor)},
      {"tx_id", event->tx_id.ToHex()},
      {"epcs", EpcsJson(event->epcs)},
      {"parent", TextOrNull(event->parent)},
      {"outputs", EpcsJson(event->outputs)},
      {"counterparty", AccountOrNull(event->counterparty)}};
  AddFieldsJson(out, event->fields, event->transaction);
  return out;
}

template <typename Args>
Permission<Args> Custodian() {
  return Permission<Args>::Role(std::string(kCustodianRole));
}

class Logistics : public Contract {
 public:
  Logistics() : Contract(std::string(kLogistics)) {
    AddMethod<RegisterArgs>("register", Custodian<RegisterArgs>(), Register);
    AddMethod<ObjectEventArgs>("object_event", Custodian<ObjectEventArgs>(), ObjectEvent);
    AddMethod<AggregateArgs>("aggregate", Custodian<AggregateArgs>(), Aggregate);
    AddMethod<TransformArgs>("transform", Custodian<TransformArgs>(), Transform);
    AddMethod<TransactArgs>("transact", Custodian<TransactArgs>(), Transact);
    AddMethod<OfferArgs>("offer", Custodian<OfferArgs>(), OfferCustody);
    AddMethod<CustodyArgs>("accept", Custodian<CustodyArgs>(), AcceptCustody);
    AddMethod<CustodyArgs>("cancel_offer", Custodian<CustodyArgs>(), CancelOffer);
    AddQuery("item", ItemQuery);
    AddQuery("provenance", ProvenanceQuery);
    AddQuery("contents", ContentsQuery);
    AddQuery("event", EventQuery);
    AddQuery("transaction", TransactionQuery);
  }
};

}  // namespace

bool IsValidEpc(std::string_view epc) { return !SchemeOf(epc).empty(); }
bool IsContainerEpc(std::string_view epc) { return SchemeOf(epc) == "sscc"; }

std::unique_ptr<Contract> MakeLogistics() { return std::make_unique<Logistics>(); }

}  // namespace city::contracts
