// What a native contract is: a class registered under a name, with a table of methods (each
// with typed, canonically encoded arguments and a permission checked before it runs) and a
// table of read-only queries.
//
// Contracts are deterministic: no clock, random source, floating point or I/O. They see the
// caller, the block context, their arguments and their own key space, nothing else.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "city/contracts/codes.h"
#include "city/ledger/codec.h"
#include "city/ledger/records.h"
#include "city/ledger/types.h"

namespace city::contracts {

struct BlockContext {
  std::string chain_id;
  uint64_t height = 0;
  uint64_t timestamp_ms = 0;  // the proposer's, from the header: the only clock contracts see
};

// A storage read failed (a damaged database). Not a contract error: execution stops and the
// node stops, because no honest result can be computed. Caught at the top of the process.
struct StorageFailure {
  Status status;
};

// Committed state, read by key. Throws StorageFailure when the store cannot answer.
class StateReader {
 public:
  virtual ~StateReader() = default;
  virtual std::optional<Bytes> Get(ByteSpan key) const = 0;
};

// The outcome of a method: a code and, on failure, a short deterministic reason.
struct Outcome {
  Code code = Code::kOk;
  std::string detail;

  static Outcome Ok() { return {}; }
  static Outcome Fail(Code code, std::string detail) { return {code, std::move(detail)}; }
  bool ok() const { return code == Code::kOk; }
};

// State as one call sees it: reads see the writes of earlier calls in the block and its own;
// writes are buffered and kept only if the call succeeds.
class Call {
 public:
  virtual ~Call() = default;
  virtual const PublicKey& caller() const = 0;
  virtual const BlockContext& block() const = 0;
  virtual const Hash256& tx_id() const = 0;

  // The contract's own key space: `key` is stored as "<contract>/<key>".
  virtual std::optional<Bytes> Get(std::string_view key) const = 0;
  virtual void Put(std::string_view key, Bytes value) = 0;
  virtual void Delete(std::string_view key) = 0;

  virtual bool HasRole(const PublicKey& account, std::string_view role) const = 0;
  // A chain parameter set by governance ("governance/param/<name>"), if set.
  virtual std::optional<uint64_t> Param(std::string_view name) const = 0;
  // The key governance publishes for sealing text to `role` (e.g. the auditor), if any.
  virtual std::optional<PublicKey> SealingKey(std::string_view role) const = 0;
  virtual void Emit(std::string_view name, Bytes data) = 0;
  // Appends to the contract's index `index` under `key` (read back in order, paginated).
  virtual void Index(std::string_view index, Bytes key, Bytes value) = 0;
  // Another account this transaction concerns (e.g. a recipient): it appears in that
  // account's history.
  virtual void Relate(const PublicKey& account) = 0;
};

// Who may call a method. Checked by the engine after the arguments decode and before the
// method runs. A caller passes when it holds one of `roles`, or is the subject of the
// arguments; with neither set, anyone may call.
template <typename Args>
struct Permission {
  std::vector<std::string> roles;
  std::function<PublicKey(const Args&)> subject;

  static Permission Anyone() { return {}; }
  static Permission Role(std::string role) { return {{std::move(role)}, nullptr}; }
  static Permission Subject(PublicKey Args::*field) {
    return {{}, [field](const Args& args) { return args.*field; }};
  }
  static Permission SubjectOrRole(PublicKey Args::*field, std::string role) {
    return {{std::move(role)}, [field](const Args& args) { return args.*field; }};
  }
};

// Read-only access for queries: committed state of the contract, and its indexes.
class QueryContext {
 public:
  virtual ~QueryContext() = default;
  virtual std::optional<Bytes> Get(std::string_view key) const = 0;
  virtual bool HasRole(const PublicKey& account, std::string_view role) const = 0;
  virtual std::optional<uint64_t> Param(std::string_view name) const = 0;
  virtual std::optional<PublicKey> SealingKey(std::string_view role) const = 0;
  virtual Result<ledger::Page<ledger::IndexItem>> Index(std::string_view index, ByteSpan key,
                                                        const ledger::PageRequest& page) const = 0;
  virtual uint64_t height() const = 0;
};

using Json = nlohmann::json;
using QueryFn = std::function<Result<Json>(const QueryContext&, const Json& params)>;

class Contract {
 public:
  using Handler = std::function<Outcome(Call&, ByteSpan args)>;

  virtual ~Contract() = default;
  const std::string& name() const { return name_; }

  // Runs method `method`: decodes, checks the permission, calls. Unknown method, bad
  // arguments and a denied permission are outcomes, never exceptions.
  Outcome Invoke(Call& call, std::string_view method, ByteSpan args) const;
  Result<Json> Query(const QueryContext& context, std::string_view query, const Json& params) const;

  std::vector<std::string> MethodNames() const;
  std::vector<std::string> QueryNames() const;
  bool HasQuery(std::string_view query) const { return queries_.find(query) != queries_.end(); }

 protected:
  explicit Contract(std::string name) : name_(std::move(name)) {}

  template <typename Args>
  void AddMethod(std::string method, Permission<Args> permission,
                 std::function<Outcome(Call&, const Args&)> body) {
    methods_[std::move(method)] = [permission = std::move(permission), body = std::move(body)](
                                      Call& call, ByteSpan bytes) -> Outcome {
      Result<Args> args = ledger::Decode<Args>(bytes, ledger::kMaxArgsBytes);
      if (!args.ok()) return Outcome::Fail(Code::kBadArguments, args.status().message());
      if (!Allowed(call, permission, *args)) {
        return Outcome::Fail(Code::kPermissionDenied, "caller lacks the permission");
      }
      return body(call, *args);
    };
  }
  void AddQuery(std::string query, QueryFn body) { queries_[std::move(query)] = std::move(body); }

 private:
  template <typename Args>
  static bool Allowed(const Call& call, const Permission<Args>& permission, const Args& args) {
    if (permission.roles.empty() && !permission.subject) return true;
    if (permission.subject && permission.subject(args) == call.caller()) return true;
    for (const std::string& role : permission.roles) {
      if (call.HasRole(call.caller(), role)) return true;
    }
    return false;
  }

  std::string name_;
  std::map<std::string, Handler, std::less<>> methods_;
  std::map<std::string, QueryFn, std::less<>> queries_;
};

// Encodes method arguments (what a client puts in Transaction::args).
template <typename Args>
Bytes EncodeArgs(const Args& args) {
  return ledger::Encode(args);
}

}  // namespace city::contracts
