// cityctl keys new|list|show|import|export|delete: the encrypted key store under --home;
// keys person-key: the registrar office's person-id key file.
#include <memory>

#include "city/crypto/address.h"
#include "city/wallet/person_key.h"
#include "cli.h"

namespace city::cityctl {
namespace {

Json KeyJson(const wallet::StoredKey& key) {
  return {{"name", key.name},
          {"address", EncodeAddress(key.public_key)},
          {"public_key", key.public_key.ToHex()},
          {"file", key.path.string()}};
}

std::string KeyText(const wallet::StoredKey& key) {
  return "name:       " + key.name + "\naddress:    " + EncodeAddress(key.public_key) +
         "\npublic key: " + key.public_key.ToHex() + "\nfile:       " + key.path.string();
}

CommandResult KeyOutput(const Result<wallet::StoredKey>& key, std::string_view heading) {
  if (!key.ok()) return key.status();
  Output out{KeyJson(*key), std::string(heading) + KeyText(*key)};
  return out;
}

struct KeyArgs {
  std::string name;
  std::string file;
  bool yes = false;
};

}  // namespace

void AddKeysCommands(CLI::App& app, Cli& cli) {
  auto args = std::make_shared<KeyArgs>();
  CLI::App* keys = app.add_subcommand("keys", "Manage keys: encrypted files in --home/keys");
  keys->require_subcommand(0, 1);

  CLI::App* create = keys->add_subcommand(
      "new", "Make a new key, encrypted with a passphrase, and print its address");
  create->add_option("name", args->name, "The key's name (a-z 0-9 _ -)")->required();
  cli.OnRun(create, [&cli, args]() -> CommandResult {
    if (Status s = wallet::KeyStore::CheckName(args->name); !s.ok()) return s;
    Result<std::string> passphrase =
        cli.Passphrase("New passphrase for key " + args->name + ": ", /*confirm=*/true);
    if (!passphrase.ok()) return passphrase.status();
    if (passphrase->empty()) {
      return Status(ErrorCode::kInvalidArgument, "refusing an empty passphrase");
    }
    return KeyOutput(cli.Keys().Create(args->name, *passphrase), "created a new key\n");
  });

  CLI::App* list = keys->add_subcommand("list", "List the keys and their addresses");
  cli.OnRun(list, [&cli]() -> CommandResult {
    wallet::KeyStore store = cli.Keys();
    Result<std::vector<wallet::StoredKey>> keys = store.List();
    if (!keys.ok()) return keys.status();
    Output out;
    out.json = {{"dir", store.dir().string()}, {"keys", Json::array()}};
    for (const wallet::StoredKey& key : *keys) {
      out.json["keys"].push_back(KeyJson(key));
      out.text += key.name + std::string(key.name.size() < 16 ? 16 - key.name.size() : 1, ' ') +
                  EncodeAddress(key.public_key) + "\n";
    }
    if (keys->empty())
      out.text = "no keys in " + store.dir().string() + " (make one: cityctl keys new NAME)";
    return out;
  });

  CLI::App* show = keys->add_subcommand("show", "Show a key's address and file");
  show->add_option("name", args->name, "The key's name")->required();
  cli.OnRun(show,
            [&cli, args]() -> CommandResult { return KeyOutput(cli.Keys().Find(args->name), ""); });

  CLI::App* import = keys->add_subcommand(
      "import", "Copy an encrypted key file into the store (its passphrase is checked)");
  import->add_option("name", args->name, "The name to store it under")->required();
  import->add_option("file", args->file, "The key file, e.g. localnet/keys/citizen.key")
      ->required();
  cli.OnRun(import, [&cli, args]() -> CommandResult {
    if (Status s = wallet::KeyStore::CheckName(args->name); !s.ok()) return s;
    Result<std::string> passphrase =
        cli.Passphrase("Passphrase of " + args->file + ": ", /*confirm=*/false);
    if (!passphrase.ok()) return passphrase.status();
    return KeyOutput(cli.Keys().Import(args->name, args->file, *passphrase), "imported\n");
  });

  CLI::App* exp = keys->add_subcommand(
      "export", "Write a key, still encrypted, to a file (mode 0600, never overwriting)");
  exp->add_option("name", args->name, "The key's name")->required();
  exp->add_option("file", args->file, "Where to write it")->required();
  cli.OnRun(exp, [&cli, args]() -> CommandResult {
    Result<std::string> passphrase =
        cli.Passphrase("Passphrase for key " + args->name + ": ", /*confirm=*/false);
    if (!passphrase.ok()) return passphrase.status();
    if (Status s = cli.Keys().Export(args->name, args->file, *passphrase); !s.ok()) return s;
    Output out;
    out.json = {{"name", args->name}, {"file", args->file}};
    out.text = "exported key " + args->name + " to " + args->file + " (encrypted, mode 0600)";
    return out;
  });

  CLI::App* person_key = keys->add_subcommand(
      "person-key",
      "Make the registrar office's person-id key (a file every registrar of the office shares; "
      "mode 0600, never overwriting)");
  person_key->add_option("file", args->file, "Where to write it")->required();
  cli.OnRun(person_key, [args]() -> CommandResult {
    if (Status s = wallet::CreatePersonKey(args->file); !s.ok()) return s;
    Output out;
    out.json = {{"file", args->file}};
    out.text = "wrote a new person-id key to " + args->file +
               " (mode 0600). Give it to the office's registrars only: whoever holds it can "
               "test guessed identities against the ledger's person ids";
    return out;
  });

  CLI::App* remove = keys->add_subcommand("delete", "Delete a key file for good");
  remove->add_option("name", args->name, "The key's name")->required();
  remove->add_flag("--yes", args->yes, "Confirm: the key is gone unless you exported it");
  cli.OnRun(remove, [&cli, args]() -> CommandResult {
    Result<wallet::StoredKey> found = cli.Keys().Find(args->name);
    if (!found.ok()) return found.status();
    if (!args->yes) {
      return Status(ErrorCode::kInvalidArgument,
                    "deleting key " + args->name + " (" + EncodeAddress(found->public_key) +
                        ") cannot be undone: add --yes (export it first if you may need it)");
    }
    if (Status s = cli.Keys().Delete(args->name); !s.ok()) return s;
    Output out;
    out.json = KeyJson(*found);
    out.json["deleted"] = true;
    out.text = "deleted key " + args->name + " (" + EncodeAddress(found->public_key) + ")";
    return out;
  });
}

}  // namespace city::cityctl
