// The shared network and the checks of test_util.h.
#include "test_util.h"

#include <memory>

namespace city::testnet {
namespace {

bool shared_failed = false;

std::unique_ptr<LocalNet>& SharedHolder() {
  static std::unique_ptr<LocalNet> net;
  return net;
}

// Stops the shared network after the last test.
class SharedNetEnvironment : public ::testing::Environment {
 public:
  void TearDown() override {
    if (SharedHolder() && shared_failed) SharedHolder()->KeepFiles();
    SharedHolder().reset();
  }
};

[[maybe_unused]] ::testing::Environment* const kSharedNetEnvironment =
    ::testing::AddGlobalTestEnvironment(new SharedNetEnvironment);

}  // namespace

LocalNet& SharedNet() {
  std::unique_ptr<LocalNet>& net = SharedHolder();
  if (!net) {
    LocalNetOptions options;
    options.label = "shared network";
    net = std::make_unique<LocalNet>(options);
    net->LoadKeys();
  }
  return *net;
}

void SharedNetTest::TearDown() {
  if (HasFailure()) shared_failed = true;
}

::testing::AssertionResult CommittedOk(const Json& tx) {
  if (!tx.is_object()) return ::testing::AssertionFailure() << "no answer: " << tx.dump();
  if (tx.value("status", "") != "committed") {
    return ::testing::AssertionFailure() << "not committed: " << tx.dump();
  }
  if (!tx.contains("result") || !tx["result"].value("ok", false)) {
    return ::testing::AssertionFailure() << "committed with a failure: " << tx["result"].dump();
  }
  return ::testing::AssertionSuccess();
}

uint64_t U64FromLeHex(const std::string& hex) {
  Result<Bytes> bytes = FromHex(hex);
  if (!bytes.ok() || bytes->size() != 8) return UINT64_MAX;
  uint64_t value = 0;
  for (size_t i = 0; i < 8; ++i) value |= uint64_t((*bytes)[i]) << (8 * i);
  return value;
}

std::string EventData(const Json& tx, std::string_view name) {
  if (!tx.is_object() || !tx.contains("result")) return "";
  for (const Json& event : tx["result"].value("events", Json::array())) {
    if (event.value("name", "") == name) return event.value("data", "");
  }
  return "";
}

}  // namespace city::testnet
