// Reading and writing genesis.json in a node's home (genesis.h).
#include "city/node/genesis.h"

#include "file_io_internal.h"

namespace city::node {

Result<GenesisDoc> LoadGenesisFile(const std::filesystem::path& path) {
  Result<std::string> text = internal::ReadBoundedFile(path, kMaxGenesisFileBytes, "genesis file",
                                                       "no genesis file at " + path.string());
  if (!text.ok()) return text.status();
  return ParseGenesisJson(*text, path.string());
}

Status WriteGenesisFile(const std::filesystem::path& path, const GenesisDoc& doc) {
  // A file every node of the chain must load: never write one that would not.
  if (Status s = contracts::CheckGenesisDoc(path.string(), doc); !s.ok()) return s;
  const std::string text = GenesisToJson(doc);
  if (text.size() > kMaxGenesisFileBytes) {
    return Status(ErrorCode::kTooLarge, path.string() + ": the genesis would be larger than " +
                                            std::to_string(kMaxGenesisFileBytes) + " bytes");
  }
  return internal::WriteNewFile(path, text, 0644);
}

}  // namespace city::node
