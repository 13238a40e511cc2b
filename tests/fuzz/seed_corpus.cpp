// Writes valid encodings of sample objects into DIR/<fuzz target>/, so that short fuzz runs
// start from inputs that reach deep into each decoder.
#include <filesystem>
#include <fstream>
#include <iostream>

#include "city/consensus/messages.h"
#include "city/crypto/address.h"
#include "city/ledger/header_page.h"
#include "city/ledger/records.h"
#include "city/ledger/smt.h"
#include "support/ledger_fixtures.h"

namespace {

void Write(const std::filesystem::path& dir, const char* target, int index,
           const city::Bytes& bytes) {
  std::filesystem::create_directories(dir / target);
  std::ofstream out(dir / target / ("seed-" + std::to_string(index)), std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: fuzz_seed_corpus DIR\n";
    return 2;
  }
  using namespace city;
  using ledger::Encode;
  const std::filesystem::path dir = argv[1];
  const auto keys = test::TestValidators(4);
  const auto timeouts = test::SampleTimeouts(keys, 3);
  for (int with_tc = 0; with_tc <= 1; ++with_tc) {
    const ledger::Block block = test::SampleBlock(keys, 2, with_tc == 1);
    Write(dir, "fuzz_decode_block", with_tc, Encode(block));
    Write(dir, "fuzz_decode_block_header", with_tc, Encode(block.header));
  }
  Write(dir, "fuzz_decode_transaction", 0, Encode(test::SampleTransaction(keys[0])));
  Write(dir, "fuzz_decode_vote", 0,
        Encode(ledger::Vote::Create(test::SampleVoteData(), test::kTestChain, keys[0])));
  Write(dir, "fuzz_decode_quorum_cert", 0, Encode(test::SampleQc(keys, 3)));
  Write(dir, "fuzz_decode_timeout", 0, Encode(timeouts[0]));
  Write(dir, "fuzz_decode_timeout_cert", 0, Encode(ledger::TimeoutCert::FromTimeouts(timeouts)));
  const ledger::Block sample = test::SampleBlock(keys, 1, true);
  Write(dir, "fuzz_decode_message", 0, consensus::EncodeMessage(consensus::Proposal{sample}));
  Write(dir, "fuzz_decode_message", 1, consensus::EncodeMessage(timeouts[0]));
  Write(dir, "fuzz_decode_message", 2,
        consensus::EncodeMessage(consensus::SyncCerts{
            test::SampleQc(keys, 3), ledger::TimeoutCert::FromTimeouts(timeouts)}));
  ledger::StateProof proof;
  proof.siblings = {TaggedHash("seed", {}), Hash256{}};
  Write(dir, "fuzz_decode_state_proof", 0, Encode(proof));
  proof.other_leaf = ledger::SmtLeaf{TaggedHash("path", {}), TaggedHash("value", {})};
  Write(dir, "fuzz_decode_state_proof", 1, Encode(proof));
  const ledger::TxResult result{
      7, "insufficient balance", {{"ubi", "transfer", Bytes{1, 2}}}, {keys[1].public_key()}};
  Write(dir, "fuzz_decode_tx_result", 0, Encode(result));
  {
    const ledger::Block block = test::SampleBlock(keys, 2, false);
    ledger::HeaderPage page{9, 3, {}};
    page.items.push_back({1, Encode(block.header), Encode(test::SampleQc(keys, 3)),
                          ledger::HeaderPageItem::Body::kBlock, Encode(block)});
    page.items.push_back({2,
                          Encode(block.header),
                          Encode(test::SampleQc(keys, 3)),
                          ledger::HeaderPageItem::Body::kRedacted,
                          {}});
    Write(dir, "fuzz_decode_header_page", 0, Encode(page));
  }
  const std::string address = EncodeAddress(keys[0].public_key());
  Write(dir, "fuzz_decode_address", 0, Bytes(address.begin(), address.end()));
  // All four signed-read headers, well formed (the signature is not a real one).
  const std::string headers =
      "\x0f" + address + "\n1764670000000\n" + std::string(32, 'a') + "\n" + std::string(128, 'b');
  Write(dir, "fuzz_decode_net_signed_request", 0, Bytes(headers.begin(), headers.end()));
  return 0;
}
