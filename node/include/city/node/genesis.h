// The genesis file of a node's home. The document itself (its format, checks, hash and the
// genesis block built from it) is city/contracts/genesis_doc.h, shared with cityctl's
// auditor; reading and writing the file is the node's.
#pragma once

#include <filesystem>

#include "city/contracts/genesis_doc.h"

namespace city::node {

using contracts::BuildGenesisChain;
using contracts::CheckGenesisDoc;
using contracts::GenesisChain;
using contracts::GenesisDoc;
using contracts::GenesisDocHash;
using contracts::GenesisToJson;
using contracts::GenesisValidator;
using contracts::kMaxGenesisFileBytes;
using contracts::ParseGenesisDraftJson;
using contracts::ParseGenesisJson;

Result<GenesisDoc> LoadGenesisFile(const std::filesystem::path& path);
// Refuses to overwrite (kAlreadyExists); written atomically, mode 0644 (it is public).
Status WriteGenesisFile(const std::filesystem::path& path, const GenesisDoc& doc);

}  // namespace city::node
