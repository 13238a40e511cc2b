// Throughput of one encrypted validator link (PeerNetwork) on loopback, for small and large
// messages, beside two same-run baselines: the same bytes over plain TCP on loopback, and raw
// ChaCha20-Poly1305 seal+open in memory. Link benchmarks report vs_tcp and vs_aead, the ratio
// of their MB/s to the baseline's for the same message size (when the baseline ran first).
#include <benchmark/benchmark.h>
#include <sodium.h>

#include <boost/asio/write.hpp>
#include <map>

#include "support/net_fixtures.h"

namespace city::bench {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

// Messages per iteration: about 100 KB to 8 MB of payload, so one iteration outlasts the
// per-iteration wait for the last message.
size_t BatchFor(size_t message_bytes) {
  if (message_bytes <= 1024) return 1000;
  if (message_bytes <= 64 * 1024) return 32;
  return 8;
}

// MB/s of each baseline in this run, by message size.
std::map<int64_t, double>& TcpBaseline() {
  static std::map<int64_t, double> rates;
  return rates;
}
std::map<int64_t, double>& AeadBaseline() {
  static std::map<int64_t, double> rates;
  return rates;
}

// Sets frames/s and MB/s; returns MB/s over `elapsed` for the ratio counters.
double ReportRates(benchmark::State& state, uint64_t frames, uint64_t bytes,
                   std::chrono::steady_clock::duration elapsed) {
  state.counters["frames/s"] =
      benchmark::Counter(static_cast<double>(frames), benchmark::Counter::kIsRate);
  state.counters["MB/s"] =
      benchmark::Counter(static_cast<double>(bytes) / 1e6, benchmark::Counter::kIsRate);
  const double seconds = std::chrono::duration<double>(elapsed).count();
  return seconds > 0 ? static_cast<double>(bytes) / 1e6 / seconds : 0;
}

// Counts arrivals and wakes a waiter once a target is reached.
class Arrivals {
 public:
  void Add() {
    std::lock_guard lock(mutex_);
    if (++count_ >= target_) changed_.notify_one();
  }
  // False if `target` messages have not arrived within `timeout`.
  bool WaitFor(uint64_t target, std::chrono::milliseconds timeout = 20s) {
    std::unique_lock lock(mutex_);
    target_ = target;
    return changed_.wait_for(lock, timeout, [&] { return count_ >= target; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  uint64_t count_ = 0;
  uint64_t target_ = UINT64_MAX;
};

// range(1) == 0: the batch in one write (the bulk ceiling, the vs_tcp baseline); 1: one write
// per message (what a sender without batching pays per small message).
void BM_PlainTcpLoopback(benchmark::State& state) {
  const size_t message_bytes = static_cast<size_t>(state.range(0));
  const size_t batch = BatchFor(message_bytes);
  const bool write_per_message = state.range(1) != 0;
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io, {asio::ip::address_v4::loopback(), 0});
  asio::ip::tcp::socket writer(io), reader(io);
  writer.connect(acceptor.local_endpoint());
  acceptor.accept(reader);
  writer.set_option(asio::ip::tcp::no_delay(true));

  std::atomic<uint64_t> received{0};
  std::mutex mutex;
  std::condition_variable changed;
  std::thread reading([&] {
    std::vector<uint8_t> buffer(1 << 20);
    boost::system::error_code error;
    for (;;) {
      const size_t n = reader.read_some(asio::buffer(buffer), error);
      if (error) return;
      received += n;
      std::lock_guard lock(mutex);
      changed.notify_one();
    }
  });
  const Bytes payload(message_bytes * batch, 0x5a);  // the same bytes the link carries
  uint64_t target = 0;
  const auto started = std::chrono::steady_clock::now();
  for (auto _ : state) {
    if (write_per_message) {
      for (size_t i = 0; i < batch; ++i) {
        asio::write(writer, asio::buffer(payload.data() + i * message_bytes, message_bytes));
      }
    } else {
      asio::write(writer, asio::buffer(payload));
    }
    target += payload.size();
    std::unique_lock lock(mutex);
    changed.wait(lock, [&] { return received.load() >= target; });
  }
  const auto elapsed = std::chrono::steady_clock::now() - started;
  boost::system::error_code ignored;
  writer.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  reading.join();
  const double megabytes_per_second =
      ReportRates(state, state.iterations() * batch, target, elapsed);
  if (!write_per_message) TcpBaseline()[state.range(0)] = megabytes_per_second;
}

void BM_RawAeadSealOpen(benchmark::State& state) {
  const size_t message_bytes = static_cast<size_t>(state.range(0));
  const size_t batch = BatchFor(message_bytes);
  EnsureSodiumInitialized();  // picks libsodium's fastest ChaCha20 for this CPU
  std::array<uint8_t, crypto_aead_chacha20poly1305_IETF_KEYBYTES> key{};
  key.fill(0x42);
  const Bytes plaintext(1 + message_bytes, 0x5a);
  Bytes sealed(plaintext.size() + crypto_aead_chacha20poly1305_IETF_ABYTES);
  Bytes opened(plaintext.size());
  const uint8_t associated[4] = {1, 2, 3, 4};
  uint64_t counter = 0;
  const auto started = std::chrono::steady_clock::now();
  for (auto _ : state) {
    for (size_t i = 0; i < batch; ++i) {
      std::array<uint8_t, crypto_aead_chacha20poly1305_IETF_NPUBBYTES> nonce{};
      std::memcpy(nonce.data(), &counter, sizeof counter);
      ++counter;
      unsigned long long length = 0;
      crypto_aead_chacha20poly1305_ietf_encrypt(sealed.data(), &length, plaintext.data(),
                                                plaintext.size(), associated, sizeof associated,
                                                nullptr, nonce.data(), key.data());
      if (crypto_aead_chacha20poly1305_ietf_decrypt(opened.data(), &length, nullptr, sealed.data(),
                                                    sealed.size(), associated, sizeof associated,
                                                    nonce.data(), key.data()) != 0) {
        state.SkipWithError("AEAD open failed");
        return;
      }
      benchmark::DoNotOptimize(opened.data());
    }
  }
  const auto elapsed = std::chrono::steady_clock::now() - started;
  AeadBaseline()[state.range(0)] = ReportRates(state, state.iterations() * batch,
                                               state.iterations() * batch * message_bytes, elapsed);
}

void BM_EncryptedLink(benchmark::State& state) {
  const size_t message_bytes = static_cast<size_t>(state.range(0));
  const size_t batch = BatchFor(message_bytes);
  auto keys = test::NetKeys(2);
  auto ports = test::FreeLoopbackPorts(3);
  net::PeerNetworkOptions options;
  options.max_inbound_frames_per_second = 100'000'000;  // measure the link, not the limiter
  options.max_inbound_bytes_per_second = 1ull << 40;
  options.send_queue_bytes = 256 * 1024 * 1024;
  options.redial_min = 5ms;
  options.redial_max = 50ms;
  Arrivals arrivals;
  // Only the sender dials (the receiver looks for it on a dead port): one link, no duplicates.
  auto sender = test::NetEndpoint::Start(test::MeshConfig(keys, {ports[0], ports[1]}, 0, options));
  auto receiver = test::NetEndpoint::Start(test::MeshConfig(keys, {ports[2], ports[1]}, 1, options),
                                           [&](const PublicKey&, const Bytes&) { arrivals.Add(); });
  if (!sender.ok() || !receiver.ok()) {
    state.SkipWithError("could not start the endpoints");
    return;
  }
  (*receiver)->set_keep_bodies(false);
  const PublicKey& to = keys[1]->public_key();
  if (!test::WaitUntil([&] { return (*sender)->ConnectedTo(to); })) {
    state.SkipWithError("the link did not come up");
    return;
  }

  const Bytes payload(message_bytes, 0x5a);
  uint64_t target = 0;
  const auto started = std::chrono::steady_clock::now();
  for (auto _ : state) {
    for (size_t i = 0; i < batch; ++i) (*sender)->network().Send(to, payload);
    target += batch;
    if (!arrivals.WaitFor(target)) {
      state.SkipWithError("messages were lost (dropped or the link failed)");
      return;
    }
  }
  const auto elapsed = std::chrono::steady_clock::now() - started;
  const double megabytes_per_second = ReportRates(state, target, target * message_bytes, elapsed);
  if (auto tcp = TcpBaseline().find(state.range(0));
      tcp != TcpBaseline().end() && tcp->second > 0) {
    state.counters["vs_tcp"] = megabytes_per_second / tcp->second;
  }
  if (auto aead = AeadBaseline().find(state.range(0));
      aead != AeadBaseline().end() && aead->second > 0) {
    state.counters["vs_aead"] = megabytes_per_second / aead->second;
  }
  const net::PeerStats stats = (*sender)->StatsFor(to);
  state.counters["dropped"] = static_cast<double>(stats.messages_dropped);
}

// Baselines first: benchmarks run in registration order, and the link reads their results.
BENCHMARK(BM_PlainTcpLoopback)
    ->ArgsProduct({{100, 64 << 10, 1 << 20}, {0, 1}})
    ->ArgNames({"bytes", "write_per_message"})
    ->UseRealTime();
BENCHMARK(BM_RawAeadSealOpen)
    ->ArgName("bytes")
    ->Arg(100)
    ->Arg(64 << 10)
    ->Arg(1 << 20)
    ->UseRealTime();
BENCHMARK(BM_EncryptedLink)->ArgName("bytes")->Arg(100)->Arg(64 << 10)->Arg(1 << 20)->UseRealTime();

}  // namespace
}  // namespace city::bench
