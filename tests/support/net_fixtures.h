// Helpers for validator-link tests and benchmarks: deterministic keys, free loopback ports,
// poll-with-deadline waits, a PeerNetwork endpoint on its own io_context thread that records
// what it receives, and a raw socket peer that speaks the handshake and frames by hand.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "city/net/frame.h"
#include "city/net/handshake.h"
#include "city/net/peer_network.h"

namespace city::test {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

inline constexpr std::string_view kNetChain = "city-net-test";

// Validator key number `index`: the same bytes in every run.
inline std::shared_ptr<const KeyPair> NetKey(uint8_t index) {
  std::array<uint8_t, kSeedSize> seed{};
  seed.fill(static_cast<uint8_t>(0xa0 + index));
  return std::make_shared<const KeyPair>(KeyPair::FromSeed(seed));
}

inline std::vector<std::shared_ptr<const KeyPair>> NetKeys(size_t count) {
  std::vector<std::shared_ptr<const KeyPair>> keys;
  for (size_t i = 0; i < count; ++i) keys.push_back(NetKey(static_cast<uint8_t>(i)));
  return keys;
}

// `count` distinct ports that were free on 127.0.0.1 a moment ago (all held at once, then
// released), for configs that must name every validator's port before any starts.
inline std::vector<uint16_t> FreeLoopbackPorts(size_t count) {
  namespace asio = boost::asio;
  asio::io_context io;
  std::vector<asio::ip::tcp::acceptor> held;
  std::vector<uint16_t> ports;
  for (size_t i = 0; i < count; ++i) {
    held.emplace_back(io, asio::ip::tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    ports.push_back(held.back().local_endpoint().port());
  }
  return ports;
}

// Polls `done` until it holds or `timeout` passes; true if it held.
inline bool WaitUntil(const std::function<bool()>& done,
                      std::chrono::milliseconds timeout = 5000ms) {
  const auto deadline = Clock::now() + timeout;
  while (!done()) {
    if (Clock::now() >= deadline) return done();
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

// Options with timeouts short enough for tests; each test overrides what it checks.
inline net::PeerNetworkOptions FastOptions() {
  net::PeerNetworkOptions options;
  options.handshake_timeout = 2000ms;
  options.keepalive_interval = 100ms;
  options.idle_timeout = 3000ms;
  options.frame_timeout = 3000ms;
  options.write_timeout = 3000ms;
  options.redial_min = 10ms;
  options.redial_max = 100ms;
  return options;
}

struct ReceivedMessage {
  PublicKey from;
  Bytes body;
};

struct LinkEvent {
  PublicKey peer;
  bool up = false;
};

// One PeerNetwork on its own io_context and thread. Records every message and link event;
// an optional hook runs first, on the network's strand (a test may block there).
class NetEndpoint {
 public:
  using Hook = std::function<void(const PublicKey& from, const Bytes& body)>;

  // Starts the network before its thread runs, so nothing races with Start. With
  // `run` false the thread waits for Run (to start several endpoints at the same instant).
  static Result<std::unique_ptr<NetEndpoint>> Start(net::PeerNetwork::Config config, Hook hook = {},
                                                    bool run = true) {
    std::unique_ptr<NetEndpoint> endpoint(new NetEndpoint(std::move(hook)));
    NetEndpoint* self = endpoint.get();
    config.on_message = [self](const PublicKey& from, Bytes body) {
      self->OnMessage(from, std::move(body));
    };
    config.on_link = [self](const PublicKey& peer, bool up) { self->OnLink(peer, up); };
    self->key_ = config.identity ? config.identity->public_key() : PublicKey{};
    Result<std::unique_ptr<net::PeerNetwork>> network =
        net::PeerNetwork::Start(self->io_, std::move(config));
    if (!network.ok()) return network.status();
    self->network_ = std::move(network).value();
    if (run) self->Run();
    return endpoint;
  }

  void Run() {
    if (thread_.joinable()) return;
    thread_ = std::thread([this] {
      io_.run();
      io_returned_ = true;
    });
  }

  ~NetEndpoint() { Shutdown(); }
  NetEndpoint(const NetEndpoint&) = delete;
  NetEndpoint& operator=(const NetEndpoint&) = delete;

  // Stops and destroys the network while its io_context still runs, then lets the
  // io_context run out of work. True if it did so by itself within `drain` (a network that
  // keeps timers or sockets alive after Stop would not); otherwise it is stopped by force.
  bool Shutdown(std::chrono::milliseconds drain = 3000ms) {
    if (network_) network_->Stop();
    network_.reset();
    work_.reset();
    if (!thread_.joinable()) return drained_;
    drained_ = WaitUntil([&] { return io_returned_.load(); }, drain);
    if (!drained_) io_.stop();
    thread_.join();
    return drained_;
  }

  // Destroys the network without calling Stop first (its destructor must), while the
  // io_context may still be running.
  void DestroyNetwork() { network_.reset(); }
  // Stops the io_context and joins its thread, leaving the network alive and idle.
  void StopIoContext() {
    io_.stop();
    if (thread_.joinable()) thread_.join();
  }
  bool has_network() const { return network_ != nullptr; }

  net::PeerNetwork& network() { return *network_; }
  boost::asio::io_context& io() { return io_; }
  const PublicKey& key() const { return key_; }
  uint16_t port() const { return network_->listen_port(); }

  net::PeerStats StatsFor(const PublicKey& peer) const {
    for (const net::PeerStats& stats : network_->Stats()) {
      if (stats.key == peer) return stats;
    }
    throw std::runtime_error("no stats entry for " + peer.ToHex());
  }
  bool ConnectedTo(const PublicKey& peer) const { return StatsFor(peer).connected; }

  std::vector<ReceivedMessage> messages() const {
    std::lock_guard lock(mutex_);
    return messages_;
  }
  std::vector<Bytes> MessagesFrom(const PublicKey& peer) const {
    std::lock_guard lock(mutex_);
    std::vector<Bytes> out;
    for (const ReceivedMessage& message : messages_) {
      if (message.from == peer) out.push_back(message.body);
    }
    return out;
  }
  size_t message_count() const { return message_count_.load(); }
  std::vector<LinkEvent> link_events() const {
    std::lock_guard lock(mutex_);
    return link_events_;
  }
  size_t LinkEventCount(const PublicKey& peer, bool up) const {
    std::lock_guard lock(mutex_);
    size_t count = 0;
    for (const LinkEvent& event : link_events_) count += event.peer == peer && event.up == up;
    return count;
  }
  // Calls to either handler so far (to check that none start after Stop).
  size_t handler_calls() const { return handler_calls_.load(); }
  // Messages already recorded are not kept: for long floods that only count.
  void set_keep_bodies(bool keep) { keep_bodies_ = keep; }

 private:
  explicit NetEndpoint(Hook hook) : hook_(std::move(hook)) {}

  void OnMessage(const PublicKey& from, Bytes body) {
    ++handler_calls_;
    if (hook_) hook_(from, body);
    {
      std::lock_guard lock(mutex_);
      if (keep_bodies_) messages_.push_back({from, std::move(body)});
    }
    ++message_count_;
  }
  void OnLink(const PublicKey& peer, bool up) {
    ++handler_calls_;
    std::lock_guard lock(mutex_);
    link_events_.push_back({peer, up});
  }

  Hook hook_;
  PublicKey key_;
  boost::asio::io_context io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_{
      boost::asio::make_work_guard(io_)};
  std::unique_ptr<net::PeerNetwork> network_;
  std::thread thread_;
  std::atomic<bool> io_returned_{false};
  bool drained_ = false;
  std::atomic<bool> keep_bodies_{true};

  mutable std::mutex mutex_;
  std::vector<ReceivedMessage> messages_;
  std::vector<LinkEvent> link_events_;
  std::atomic<size_t> message_count_{0};
  std::atomic<size_t> handler_calls_{0};
};

// A config for validator `self` of `keys`, each at 127.0.0.1:ports[i].
inline net::PeerNetwork::Config MeshConfig(const std::vector<std::shared_ptr<const KeyPair>>& keys,
                                           const std::vector<uint16_t>& ports, size_t self,
                                           net::PeerNetworkOptions options = FastOptions()) {
  net::PeerNetwork::Config config;
  config.identity = keys[self];
  config.chain_id = std::string(kNetChain);
  for (size_t i = 0; i < keys.size(); ++i) {
    config.validators.push_back({keys[i]->public_key(), "127.0.0.1", ports[i]});
  }
  options.listen_host = "127.0.0.1";
  options.listen_port = ports[self];
  config.options = options;
  config.on_message = [](const PublicKey&, Bytes) {};
  return config;
}

// A TCP client on plain POSIX sockets that plays a validator by hand: the handshake through
// net::Handshake, then frames it seals itself (or any bytes at all). Reads, when started,
// run on a thread of their own and record frames and the moment the peer hangs up.
class RawPeer {
 public:
  RawPeer() = default;
  ~RawPeer() { Close(); }
  RawPeer(const RawPeer&) = delete;
  RawPeer& operator=(const RawPeer&) = delete;

  // receive_buffer > 0 shrinks the kernel's receive buffer first, so that a peer we never
  // read from stalls sooner.
  bool Connect(uint16_t port, int receive_buffer = 0) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return false;
    if (receive_buffer > 0) {
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    }
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return ::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
  }

  // Runs the initiator side against the listener at the other end; on success the link's
  // frame sealer and decoder are ready. Fails on a refusal or a hang-up.
  Status Handshake(std::shared_ptr<const KeyPair> identity, std::string_view chain_id,
                   const PublicKey& responder, size_t max_frame_bytes,
                   std::chrono::milliseconds timeout = 3000ms) {
    net::Handshake handshake =
        net::Handshake::Initiator(std::move(identity), net::NetworkId(chain_id), responder);
    if (!WriteAll(handshake.Start(), timeout)) return Status(ErrorCode::kIoError, "M1 not sent");
    Bytes m2(handshake.expected_size());
    if (!ReadExactly(m2, timeout)) return Status(ErrorCode::kIoError, "no M2");
    Result<Bytes> m3 = handshake.Receive(m2);
    if (!m3.ok()) return m3.status();
    if (!WriteAll(*m3, timeout)) return Status(ErrorCode::kIoError, "M3 not sent");
    Result<net::LinkSession> session = handshake.TakeSession();
    if (!session.ok()) return session.status();
    sealer_.emplace(std::move(session->send_key), max_frame_bytes);
    decoder_.emplace(std::move(session->receive_key), max_frame_bytes);
    authenticated_at_ = Clock::now();
    return Status::Ok();
  }

  Bytes Seal(net::FrameKind kind, ByteSpan body) {
    Result<Bytes> wire = sealer_->Seal(kind, body);
    if (!wire.ok()) throw std::runtime_error(wire.status().ToString());
    return std::move(wire).value();
  }
  bool SendMessage(ByteSpan body) { return WriteAll(Seal(net::FrameKind::kMessage, body)); }
  bool SendKeepAlive() { return WriteAll(Seal(net::FrameKind::kKeepAlive, {})); }

  // False once the peer has closed or the bytes did not go out within `timeout`.
  bool WriteAll(ByteSpan bytes, std::chrono::milliseconds timeout = 3000ms) {
    const auto deadline = Clock::now() + timeout;
    size_t sent = 0;
    while (sent < bytes.size()) {
      if (!WaitFor(POLLOUT, deadline)) return false;
      ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) return false;
      sent += static_cast<size_t>(n);
    }
    return true;
  }

  bool ReadExactly(Bytes& out, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    size_t got = 0;
    while (got < out.size()) {
      if (!WaitFor(POLLIN, deadline)) return false;
      ssize_t n = ::recv(fd_, out.data() + got, out.size() - got, 0);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) return false;
      got += static_cast<size_t>(n);
    }
    return true;
  }

  // True if the other end closes within `timeout`, reading (and dropping) whatever comes.
  bool ClosedByPeerWithin(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    uint8_t scratch[4096];
    while (WaitFor(POLLIN, deadline)) {
      ssize_t n = ::recv(fd_, scratch, sizeof scratch, 0);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) return true;
    }
    return false;
  }

  // Reads on a thread of its own until the peer hangs up or Close; frames go through the
  // link's decoder (if authenticated).
  void StartReading() {
    reader_ = std::thread([this] {
      uint8_t buffer[16 * 1024];
      std::vector<net::Frame> frames;
      while (!stop_reading_) {
        pollfd poll_fd{fd_, POLLIN, 0};
        int ready = ::poll(&poll_fd, 1, 10);
        if (ready <= 0) continue;
        ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (n <= 0) break;
        if (decoder_) {
          frames.clear();
          if (!decoder_->Feed(ByteSpan(buffer, static_cast<size_t>(n)), frames).ok()) {
            decode_failed_ = true;
          }
          for (const net::Frame& frame : frames) {
            (frame.kind == net::FrameKind::kKeepAlive ? keep_alives_ : messages_)++;
          }
        }
      }
      peer_closed_at_ = Clock::now();
      peer_closed_ = true;
    });
  }

  bool peer_closed() const { return peer_closed_; }
  Clock::time_point peer_closed_at() const { return peer_closed_at_; }
  Clock::time_point authenticated_at() const { return authenticated_at_; }
  size_t keep_alives_received() const { return keep_alives_; }
  size_t messages_received() const { return messages_; }
  bool decode_failed() const { return decode_failed_; }

  void Close() {
    stop_reading_ = true;
    if (reader_.joinable()) reader_.join();
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  bool WaitFor(short events, Clock::time_point deadline) {
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return false;
      pollfd poll_fd{fd_, events, 0};
      int ready = ::poll(&poll_fd, 1, static_cast<int>(left.count()));
      if (ready > 0) return true;  // ready, or an error the next call reports
      if (ready < 0 && errno != EINTR) return false;
    }
  }

  int fd_ = -1;
  std::optional<net::FrameSealer> sealer_;
  std::optional<net::FrameDecoder> decoder_;
  Clock::time_point authenticated_at_;
  std::thread reader_;
  std::atomic<bool> stop_reading_{false};
  std::atomic<bool> peer_closed_{false};
  std::atomic<bool> decode_failed_{false};
  Clock::time_point peer_closed_at_;  // written before peer_closed_ is set
  std::atomic<size_t> keep_alives_{0};
  std::atomic<size_t> messages_{0};
};

}  // namespace city::test
