// The mempool fill attack on real processes: 50 keys each send 1,000 transactions behind a
// nonce gap, over and over, to every validator of a 4-validator network, and to a lone
// `cityd dev`. Before admission was bounded this filled every pool until restart. Now
// unknown keys are refused outright (the ledger is permissioned); enrolled keys (say,
// compromised patient accounts) each hold at most the nonce window, honest transfers still
// commit while the flood runs, and the gapped transactions are evicted once it stops.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <thread>

#include "city/contracts/accounts.h"
#include "city/contracts/ubi.h"
#include "city/crypto/address.h"
#include "city/crypto/keyfile.h"
#include "city/net/http_client.h"
#include "support/process.h"
#include "support/temp_dir.h"
#include "test_util.h"

namespace city::testnet {
namespace {

constexpr size_t kAttackKeys = 50;
constexpr uint64_t kPerKey = 1'000;
constexpr uint64_t kNonceWindow = 256;  // [mempool] max_nonce_ahead's default

ledger::Transaction GappedTransfer(const std::string& chain_id, const KeyPair& from, uint64_t nonce,
                                   uint64_t expiry) {
  ledger::Transaction tx;
  tx.chain_id = chain_id;
  tx.nonce = nonce;
  tx.expiry_height = expiry;
  tx.contract = std::string(contracts::kUbi);
  tx.method = "transfer";
  tx.args = contracts::EncodeArgs(contracts::UbiTransferArgs{from.public_key(), 1});
  tx.Sign(from);
  return tx;
}

// The attacking keys, and one batch (nonces 1..kPerKey: nonce 0 never comes) of each as a
// JSON body.
struct Attack {
  std::vector<KeyPair> keys;
  std::vector<std::string> bodies;
};

Attack SignAttack(const std::string& chain_id, uint64_t expiry) {
  Attack attack;
  for (size_t k = 0; k < kAttackKeys; ++k) attack.keys.push_back(KeyPair::Generate());
  attack.bodies.resize(kAttackKeys);
  auto sign = [&](size_t first, size_t step) {
    for (size_t k = first; k < kAttackKeys; k += step) {
      Json list = Json::array();
      for (uint64_t nonce = 1; nonce <= kPerKey; ++nonce) {
        list.push_back(
            ToHex(ledger::Encode(GappedTransfer(chain_id, attack.keys[k], nonce, expiry))));
      }
      attack.bodies[k] = Json{{"txs", std::move(list)}}.dump();
    }
  };
  std::thread other(sign, 1, 2);
  sign(0, 2);
  other.join();
  return attack;
}

Json ParseBody(const Result<net::HttpReply>& reply) {
  return reply.ok() ? Json::parse(reply->body, nullptr, false) : Json();
}

// Unknown keys get nowhere: a whole batch is refused before any signature check.
void ExpectUnknownKeysRefused(net::HttpClient& node, const Attack& attack) {
  const Json body = ParseBody(node.Post("/v1/txs", attack.bodies.front()));
  ASSERT_TRUE(body.is_object()) << "no answer";
  EXPECT_EQ(body.value("accepted", uint64_t{99}), 0u) << body.dump().substr(0, 300);
  EXPECT_EQ(body["results"][0]["error"]["code"], "unknown_sender");
}

// The registrar enrols every attacking key through `node`, and waits until all committed.
void Enrol(net::HttpClient& node, const std::string& chain_id, const KeyPair& registrar,
           const Attack& attack, uint64_t expiry) {
  const Json account = ParseBody(node.Get("/v1/accounts/" + EncodeAddress(registrar.public_key())));
  uint64_t nonce = account.value("pending_next_nonce", uint64_t{0});
  Json list = Json::array();
  std::vector<Hash256> ids;
  for (const KeyPair& key : attack.keys) {
    ledger::Transaction tx;
    tx.chain_id = chain_id;
    tx.nonce = nonce++;
    tx.expiry_height = expiry;
    tx.contract = std::string(contracts::kAccounts);
    tx.method = "enrol";
    tx.args = contracts::EncodeArgs(contracts::EnrolArgs{key.public_key()});
    tx.Sign(registrar);
    list.push_back(ToHex(ledger::Encode(tx)));
    ids.push_back(tx.Id());
  }
  const Json posted = ParseBody(node.Post("/v1/txs", Json{{"txs", list}}.dump()));
  ASSERT_EQ(posted.value("accepted", uint64_t{0}), kAttackKeys) << posted.dump().substr(0, 300);
  for (const Hash256& id : ids) {
    Json done;
    ASSERT_TRUE(LocalNet::WaitFor(
        [&] {
          done = ParseBody(node.Get("/v1/tx/" + id.ToHex() + "?wait_ms=2000"));
          return done.is_object() && done.value("status", "") == "committed";
        },
        30s))
        << done.dump();
    ASSERT_TRUE(CommittedOk(done)) << done.dump();
  }
}

// Posts every batch to `targets` in turn until `stop`; counts what was accepted.
class Flood {
 public:
  Flood(std::vector<net::HttpUrl> targets, std::vector<std::string> bodies)
      : targets_(std::move(targets)), bodies_(std::move(bodies)) {
    thread_ = std::thread([this] { Run(); });
  }
  ~Flood() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  uint64_t accepted() const { return accepted_; }
  uint64_t posts() const { return posts_; }

 private:
  void Run() {
    std::vector<net::HttpClient> clients;
    for (const net::HttpUrl& url : targets_) clients.emplace_back(url);
    for (size_t round = 0; !stop_; ++round) {
      for (size_t k = 0; k < bodies_.size() && !stop_; ++k) {
        net::HttpClient& client = clients[(k + round) % clients.size()];
        Result<net::HttpReply> reply = client.Post("/v1/txs", bodies_[k]);
        ++posts_;
        if (!reply.ok() || reply->status != 202) continue;
        const Json body = Json::parse(reply->body, nullptr, false);
        if (body.is_object()) accepted_ += body.value("accepted", uint64_t{0});
      }
    }
  }

  std::vector<net::HttpUrl> targets_;
  std::vector<std::string> bodies_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> accepted_{0};
  std::atomic<uint64_t> posts_{0};
  std::thread thread_;
};

net::HttpUrl Loopback(uint16_t port) {
  return {.host = "127.0.0.1", .port = port, .base_path = ""};
}

uint64_t StatusU64(const Json& status, const char* field) {
  return status.is_object() ? status.value(field, uint64_t{0}) : 0;
}

TEST(FillAttackTest, FourValidatorsKeepCommittingHonestTransfersAndEvictTheFlood) {
  LocalNet net;
  std::vector<net::HttpUrl> targets;
  for (size_t n : net.AllNodes()) targets.push_back(Loopback(net.api_port(n)));
  const uint64_t expiry = net.DefaultExpiry();
  const Attack attack = SignAttack("city-testnet", expiry);
  net::HttpClient first(targets.front());
  ExpectUnknownKeysRefused(first, attack);
  Enrol(first, "city-testnet", net.Key("registrar"), attack, expiry);
  Flood flood(targets, attack.bodies);
  ASSERT_TRUE(LocalNet::WaitFor([&] { return flood.posts() >= kAttackKeys; }, 60s));

  // Honest transfers, one at a time, each to another validator, while the flood goes on.
  const KeyPair& honest = net.Key("citizen");
  const PublicKey to = net.Key("receiver").public_key();
  Millis slowest{0};
  for (size_t i = 0; i < 5; ++i) {
    const size_t node = i % net.size();
    const ledger::Transaction tx =
        net.SignedTx(honest, contracts::kUbi, "transfer",
                     contracts::EncodeArgs(contracts::UbiTransferArgs{to, 1}));
    const auto sent = Clock::now();
    const ApiReply reply = net.Submit(node, tx);
    ASSERT_EQ(reply.status, 202) << reply.Describe();
    EXPECT_TRUE(CommittedOk(net.WaitTx(node, tx.Id(), 30s))) << "honest transfer " << i;
    slowest = std::max(slowest, std::chrono::duration_cast<Millis>(Clock::now() - sent));
  }
  uint64_t largest_pool = 0;
  for (size_t n : net.AllNodes()) {
    const Json status = net.Status(n);
    largest_pool = std::max(largest_pool, StatusU64(status, "mempool_transactions"));
    // Each attacking key holds at most the window; nothing else is in the pools.
    EXPECT_LE(StatusU64(status, "mempool_gapped"), kAttackKeys * kNonceWindow) << status.dump();
  }
  flood.Stop();
  std::fprintf(stderr,
               "fill attack: %llu batches posted, %llu accepted; largest pool %llu; slowest "
               "honest commit %lld ms\n",
               static_cast<unsigned long long>(flood.posts()),
               static_cast<unsigned long long>(flood.accepted()),
               static_cast<unsigned long long>(largest_pool),
               static_cast<long long>(slowest.count()));
  RecordProperty("largest_pool", std::to_string(largest_pool));
  RecordProperty("slowest_honest_commit_ms", std::to_string(slowest.count()));

  // With the flood over, every gapped transaction leaves after the eviction bound.
  EXPECT_TRUE(LocalNet::WaitFor(
      [&] {
        for (size_t n : net.AllNodes()) {
          if (StatusU64(net.Status(n), "mempool_gapped") != 0) return false;
        }
        return true;
      },
      60s, 500ms));
  EXPECT_TRUE(net.ExpectSameChain(net.AllNodes()));
}

TEST(FillAttackTest, ALoneDevNodeStaysUpAndCommitsUnderTheSameFlood) {
  test::TempDir dir;
  const uint16_t base_port = static_cast<uint16_t>(27000 + (::getpid() % 500) * 2);
  const pid_t dev =
      test::StartProcess({CitydPath().string(), "dev", "--home", (dir.path() / "dev").string(),
                          "--base-port", std::to_string(base_port)},
                         dir.path() / "dev.log", dir.path() / "dev.log");
  struct Reaper {
    pid_t pid;
    ~Reaper() {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  } reaper{dev};
  net::HttpClient client(Loopback(base_port + 1));
  Json status;
  ASSERT_TRUE(LocalNet::WaitFor(
      [&] {
        Result<net::HttpReply> reply = client.Get("/v1/status");
        if (!reply.ok() || reply->status != 200) return false;
        status = Json::parse(reply->body, nullptr, false);
        return StatusU64(status, "height") >= 1;
      },
      30s))
      << test::ReadFileText(dir.path() / "dev.log");
  const std::string chain_id = status.value("chain_id", std::string());
  const uint64_t expiry = StatusU64(status, "height") + 1000;

  const Attack attack = SignAttack(chain_id, expiry);
  ExpectUnknownKeysRefused(client, attack);
  Result<KeyPair> registrar = ReadKeyFile(dir.path() / "dev" / "keys" / "registrar.key", "citydev");
  ASSERT_TRUE(registrar.ok()) << registrar.status().ToString();
  Enrol(client, chain_id, *registrar, attack, expiry);
  Flood flood({Loopback(base_port + 1)}, attack.bodies);
  ASSERT_TRUE(LocalNet::WaitFor([&] { return flood.posts() >= 2 * kAttackKeys; }, 120s));
  // A runnable transaction (of an enrolled key) gets in and commits while the flood goes on.
  const uint64_t next =
      ParseBody(client.Get("/v1/accounts/" + EncodeAddress(registrar->public_key())))
          .value("pending_next_nonce", uint64_t{0});
  const ledger::Transaction tx = GappedTransfer(chain_id, *registrar, next, expiry);
  Result<net::HttpReply> submitted =
      client.Post("/v1/tx", Json{{"tx", ToHex(ledger::Encode(tx))}}.dump());
  ASSERT_TRUE(submitted.ok()) << submitted.status().ToString();
  EXPECT_EQ(submitted->status, 202) << submitted->body;
  Json committed;
  EXPECT_TRUE(LocalNet::WaitFor(
      [&] {
        Result<net::HttpReply> reply = client.Get("/v1/tx/" + tx.Id().ToHex());
        if (!reply.ok()) return false;
        committed = Json::parse(reply->body, nullptr, false);
        return committed.is_object() && committed.value("status", "") == "committed";
      },
      30s))
      << committed.dump();
  Result<net::HttpReply> during = client.Get("/v1/status");
  ASSERT_TRUE(during.ok()) << during.status().ToString();
  const Json pool = Json::parse(during->body, nullptr, false);
  EXPECT_LE(StatusU64(pool, "mempool_gapped"), kAttackKeys * kNonceWindow) << pool.dump();
  flood.Stop();
  EXPECT_EQ(::waitpid(dev, nullptr, WNOHANG), 0) << "cityd dev exited under the flood";
}

}  // namespace
}  // namespace city::testnet
