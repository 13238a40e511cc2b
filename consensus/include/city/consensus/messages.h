// The messages validators exchange, and their wire encoding: a u8 kind, then the object's
// canonical encoding without its leading 0x01 (one 0x01 starts the whole frame).
//   0x01 proposal (a signed Block)   0x02 vote   0x03 timeout
//   0x04 block request (a Hash256)   0x05 block response (a Block)
//   0x06 sync certificates (optional QC, optional TC)
//   0x07 certificates request (empty: "send me your SyncCerts")
#pragma once

#include <variant>

#include "city/ledger/types.h"

namespace city::consensus {

struct Proposal {
  ledger::Block block;
  friend bool operator==(const Proposal&, const Proposal&) = default;
};
struct BlockRequest {
  Hash256 hash;
  friend bool operator==(const BlockRequest&, const BlockRequest&) = default;
};
struct BlockResponse {
  ledger::Block block;
  friend bool operator==(const BlockResponse&, const BlockResponse&) = default;
};

// The certificates that let a validator behind by a round or more catch up: sent when a TC
// forms, and in reply to a timeout for a round the sender is already past.
struct SyncCerts {
  std::optional<ledger::QuorumCert> high_qc;
  std::optional<ledger::TimeoutCert> last_tc;
  friend bool operator==(const SyncCerts&, const SyncCerts&) = default;
};

// Asks a validator for the certificates of the round it is in (answered with SyncCerts, at
// most once per peer per fetch interval). A validator recovering its lost safety state asks
// this, since it may sign nothing, not even a timeout, until it knows its peers' rounds.
struct CertsRequest {
  friend bool operator==(const CertsRequest&, const CertsRequest&) = default;
};

using Message = std::variant<Proposal, ledger::Vote, ledger::Timeout, BlockRequest, BlockResponse,
                             SyncCerts, CertsRequest>;

// The epoch a message is signed in, for those that carry one (proposals, votes, timeouts, and
// certificates sent to help a peer catch up).
std::optional<uint64_t> EpochOf(const Message& message);

Bytes EncodeMessage(const Message& message);
// Malformed or oversized bytes are a Status (kMalformed / kTooLarge), never a crash.
Result<Message> DecodeMessage(ByteSpan bytes);

const char* MessageKindName(const Message& message);

}  // namespace city::consensus
