// Hard size limits for untrusted input. Every decoder and every frame checks these; changing
// one changes what the network accepts, so they are consensus constants.
#pragma once

#include <cstddef>
#include <cstdint>

namespace city::ledger {

inline constexpr size_t kMaxChainIdLength = 64;
inline constexpr size_t kMaxNameLength = 32;  // contract and method names
inline constexpr size_t kMaxArgsBytes = 60 * 1024;
inline constexpr size_t kMaxTransactionBytes = 64 * 1024;
inline constexpr size_t kMaxTransactionsPerBlock = 10'000;
inline constexpr size_t kMaxBlockBytes = 16 * 1024 * 1024;
// The most execution a block may ask of every validator, in the units of ExecutionCost
// (chain_rules.h): about 12,000 small transfers' worth, or fewer larger calls.
inline constexpr uint64_t kMaxBlockExecutionCost = 12'000;
inline constexpr size_t kMaxValidators = 256;
// A block at height h may hold a transaction only if h <= expiry_height <= h + this. So a
// transaction committed at height c can never be included again above c + this, and the
// rule that a transaction is committed once needs only the ids of the last this-many
// heights: a node that starts from a snapshot carries those, not every id since the genesis.
// 20,000 is what every node admitted by default before this was a chain rule, so the blocks
// honest validators made before it keep it too.
inline constexpr uint64_t kMaxExpiryHorizon = 20'000;
// A certificate or timeout carries at most one entry per validator.
inline constexpr size_t kMaxCertificateBytes = 64 * 1024;
// The largest message a peer may send: a whole block plus its framing.
inline constexpr size_t kMaxFrameBytes = kMaxBlockBytes + 64 * 1024;

}  // namespace city::ledger
