// A seam for tests that need a Byzantine validator made of real parts: a policy that
// rewrites what the consensus core of one node sends, before it is encoded and sent. A
// production node has none (StartOptions::outbound_policy is null); the equivocating and
// flooding cityd of tests/testnet installs one.
#pragma once

#include <vector>

#include "city/consensus/core.h"
#include "city/crypto/ed25519.h"

namespace city::node {

class OutboundPolicy {
 public:
  virtual ~OutboundPolicy() = default;
  // What to send instead of `out`: any number of messages, each to a validator index or to
  // every other validator (consensus::Outgoing::kBroadcast). `key` is this node's validator
  // key and `self` its index, so a policy can sign what a faulty validator would.
  virtual std::vector<consensus::Outgoing> Rewrite(const consensus::Outgoing& out,
                                                   const KeyPair& key, size_t self,
                                                   size_t validators) = 0;
};

}  // namespace city::node
