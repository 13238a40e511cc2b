// cityd-byzantine: a real validator process whose consensus core runs unchanged but whose
// proposals go out as a faulty leader's would (tests only, never installed). Each proposal is
// sent to every peer in a different, correctly signed variant (equivocation), followed by
// --flood more distinct variants per peer. Everything else it sends is untouched.
//
//   cityd-byzantine --home DIR [--flood N]
#include <CLI/CLI.hpp>

#include "city/node/outbound_policy.h"
#include "run_node.h"

namespace city::testnet {
namespace {

class EquivocatingFlooder final : public node::OutboundPolicy {
 public:
  explicit EquivocatingFlooder(size_t flood) : flood_(flood) {}

  std::vector<consensus::Outgoing> Rewrite(const consensus::Outgoing& out, const KeyPair& key,
                                           size_t self, size_t validators) override {
    const auto* proposal = std::get_if<consensus::Proposal>(&out.message);
    if (proposal == nullptr || proposal->block.header.proposer != key.public_key()) return {out};
    std::vector<consensus::Outgoing> sent;
    for (size_t peer = 0; peer < validators; ++peer) {
      if (peer == self) continue;
      ledger::Block variant = proposal->block;
      variant.header.timestamp_ms += 1 + peer;  // each peer sees its own block
      variant.Sign(key);
      sent.push_back({peer, consensus::Proposal{variant}});
      for (size_t k = 0; k < flood_; ++k) {
        ledger::Block junk = proposal->block;
        junk.transactions.clear();
        junk.header.timestamp_ms += 1000 + k;
        junk.Sign(key);
        sent.push_back({peer, consensus::Proposal{std::move(junk)}});
      }
    }
    return sent;
  }

 private:
  size_t flood_;
};

}  // namespace
}  // namespace city::testnet

int main(int argc, char** argv) {
  CLI::App app{"cityd-byzantine: an equivocating, flooding validator (tests only)"};
  std::filesystem::path home;
  size_t flood = 1000;
  app.add_option("--home", home, "Node home directory")->required();
  app.add_option("--flood", flood, "Extra distinct proposals per peer and proposal")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  city::node::StartOptions options;
  options.outbound_policy = std::make_shared<city::testnet::EquivocatingFlooder>(flood);
  return city::node::RunNode(home, "cityd-byzantine: equivocating and flooding\n", options);
}
