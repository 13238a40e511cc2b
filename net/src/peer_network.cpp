// Validator links over Boost.Asio: dialing, accepting, the handshake, framed reads and
// batched writes, timeouts and the duplicate-link rule. The policies are in peer_network.h.
// Everything below runs on one strand; the public methods only post to it.
#include "city/net/peer_network.h"

#include <spdlog/spdlog.h>

#include <boost/asio.hpp>
#include <deque>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <shared_mutex>

#include "city/net/frame.h"
#include "city/net/handshake.h"
#include "city/net/metrics.h"

namespace city::net {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using Strand = asio::strand<asio::io_context::executor_type>;
using std::chrono::milliseconds;

constexpr size_t kReadChunkBytes = 64 * 1024;
// Frames sealed into one gather-write; a single larger message goes alone.
constexpr size_t kWriteBatchBytes = 256 * 1024;

std::string ShortKey(const PublicKey& key) { return key.ToHex().substr(0, 12); }

// Counters of one peer, owned by the metrics registry.
struct PeerCounters {
  Counter* dials = nullptr;
  Counter* links_established = nullptr;
  Counter* links_closed = nullptr;
  Counter* handshake_failures = nullptr;
  Counter* frames_sent = nullptr;
  Counter* frames_received = nullptr;
  Counter* bytes_sent = nullptr;
  Counter* bytes_received = nullptr;
  Counter* messages_sent = nullptr;
  Counter* messages_received = nullptr;
  Counter* messages_dropped = nullptr;
  Gauge* send_queue_bytes = nullptr;
  Gauge* connected = nullptr;

  PeerCounters(MetricsRegistry& registry, const PublicKey& peer) {
    MetricLabels labels{{"peer", ShortKey(peer)}};
    auto counter = [&](std::string_view name, std::string_view help) {
      return &registry.GetCounter(name, help, labels);
    };
    dials = counter("city_net_dials_total", "Outbound connection attempts to the peer.");
    links_established = counter("city_net_links_established_total",
                                "Authenticated links to the peer, either direction.");
    links_closed = counter("city_net_links_closed_total", "Authenticated links that ended.");
    handshake_failures = counter("city_net_handshake_failures_total",
                                 "Handshakes with the peer (claimed or dialed) that failed.");
    frames_sent = counter("city_net_frames_sent_total", "Frames sent, keep-alives included.");
    frames_received = counter("city_net_frames_received_total", "Frames received.");
    bytes_sent = counter("city_net_bytes_sent_total", "Bytes written to the peer's link.");
    bytes_received = counter("city_net_bytes_received_total", "Bytes read from the peer.");
    messages_sent = counter("city_net_messages_sent_total", "Messages sent to the peer.");
    messages_received = counter("city_net_messages_received_total", "Messages from the peer.");
    messages_dropped = counter("city_net_messages_dropped_total",
                               "Messages not sent: no link, or the send queue was full.");
    send_queue_bytes = &registry.GetGauge("city_net_send_queue_bytes",
                                          "Message bytes queued for the peer.", labels);
    connected = &registry.GetGauge("city_net_peer_connected",
                                   "1 while an authenticated link to the peer is up.", labels);
  }
};

enum class Phase { kConnecting, kHandshake, kOpen, kClosed };

struct Link {
  Link(tcp::socket s, bool dialed, Handshake h)
      : socket(std::move(s)), initiator(dialed), handshake(std::move(h)) {}

  tcp::socket socket;
  bool initiator;
  bool closed_by_peer = false;  // during the handshake (a refusal: ScheduleRedial)
  Handshake handshake;
  Phase phase = Phase::kConnecting;
  std::string remote = "?";
  std::optional<PublicKey> peer;  // set once authenticated (or, dialing, whom we dial)
  std::optional<FrameSealer> sealer;
  std::optional<FrameDecoder> decoder;
  Bytes handshake_buffer;
  Bytes read_buffer;

  bool keepalive_due = false;
  bool writing = false;
  std::vector<Bytes> write_frames;  // the batch in flight
  size_t write_messages = 0;
  size_t write_index = 0;   // the first frame of the batch not fully written
  size_t write_offset = 0;  // bytes of it already written

  Clock::time_point started = Clock::now();
  Clock::time_point last_sent = started;
  Clock::time_point last_received = started;
  Clock::time_point write_progress = started;  // the last write that moved bytes
  Clock::time_point established = started;
  Clock::time_point frame_progress = started;  // the last bytes of an unfinished frame
  Clock::time_point window_start = started;
  uint64_t window_frames = 0;
  uint64_t window_bytes = 0;
};
using LinkPtr = std::shared_ptr<Link>;

struct PeerSlot {
  PeerSlot(ValidatorPeer peer, MetricsRegistry& registry, milliseconds first_backoff)
      : address(std::move(peer)), counters(registry, address.key), backoff(first_backoff) {}

  ValidatorPeer address;
  PeerCounters counters;
  // In the validator set now (PeerNetwork::SetValidators): a removed validator's slot stays,
  // with its counters, but is neither dialed nor sent to, and its handshakes are refused.
  std::atomic<bool> member{true};
  bool Dialable() const { return !address.host.empty() && address.port != 0; }
  LinkPtr active;
  // The active link closed while the peer's own dial to us was mid-handshake: the pair is
  // switching links (the duplicate rule), so "down" waits for that handshake's outcome.
  bool switching = false;
  Clock::time_point switching_until;  // an outsider claiming the key cannot hold it longer
  bool dialing = false;
  // The peer's queue, drained by whichever link is active; it outlives link switches.
  std::deque<std::shared_ptr<const Bytes>> queue;
  // Bytes queued, plus bytes posted by Send and not yet queued: both count against the bound.
  std::atomic<uint64_t> queue_bytes{0};
  std::atomic<uint64_t> posted_bytes{0};
  Clock::time_point next_dial = Clock::now();
  milliseconds backoff{0};
};

milliseconds TickInterval(const PeerNetworkOptions& o) {
  milliseconds shortest = std::min({o.keepalive_interval, o.idle_timeout, o.frame_timeout,
                                    o.write_timeout, o.handshake_timeout, o.redial_min});
  return std::clamp(shortest / 4, milliseconds(5), milliseconds(250));
}

Status ValidateConfig(const PeerNetwork::Config& config) {
  auto invalid = [](std::string message) {
    return Status(ErrorCode::kInvalidArgument, "peer network: " + std::move(message));
  };
  if (!config.identity) return invalid("no validator key");
  if (config.chain_id.empty()) return invalid("no chain id");
  if (!config.on_message) return invalid("no message handler");
  if (config.options.max_frame_bytes <= kFrameOverheadBytes) return invalid("max frame too small");
  std::set<PublicKey> seen;
  bool self_listed = false;
  for (const ValidatorPeer& peer : config.validators) {
    if (!seen.insert(peer.key).second) {
      return invalid("validator " + ShortKey(peer.key) + " is listed twice");
    }
    if (peer.key == config.identity->public_key()) {
      self_listed = true;
      continue;
    }
    if (peer.host.empty() != (peer.port == 0)) {
      return invalid("validator " + ShortKey(peer.key) + " has half an address");
    }
  }
  (void)self_listed;  // a validator joining later is not in the set yet
  return Status::Ok();
}

}  // namespace

struct PeerNetwork::Impl : std::enable_shared_from_this<PeerNetwork::Impl> {
  Impl(asio::io_context& io_context, Config c)
      : strand(asio::make_strand(io_context)),
        config(std::move(c)),
        network(NetworkId(config.chain_id)),
        acceptor(strand),
        ticker(strand),
        accept_retry(strand),
        tick_interval(TickInterval(config.options)),
        rng(std::random_device{}()) {
    if (config.metrics == nullptr) config.metrics = std::make_shared<MetricsRegistry>();
    refused_inbound = &config.metrics->GetCounter(
        "city_net_inbound_refused_total",
        "Inbound connections dropped before a link: evicted from a full pending table, or a "
        "failed handshake.");
    for (const ValidatorPeer& peer : config.validators) {
      if (peer.key == config.identity->public_key()) continue;
      allowed.insert(peer.key);
      index.emplace(peer.key, slots.size());
      slots.emplace_back(peer, *config.metrics, config.options.redial_min);
    }
  }

  // On the strand. Slots are only ever added, under the unique lock; other threads read the
  // index and the slots under the shared lock.
  void SetValidators(const std::vector<ValidatorPeer>& validators) {
    std::set<PublicKey> members;
    for (const ValidatorPeer& peer : validators) {
      if (peer.key == config.identity->public_key()) continue;
      members.insert(peer.key);
      PeerSlot* slot = SlotOf(peer.key);
      if (slot == nullptr) {
        std::unique_lock lock(slots_mutex);
        index.emplace(peer.key, slots.size());
        slots.emplace_back(peer, *config.metrics, config.options.redial_min);
        spdlog::info("net: validator {} joins the set{}", ShortKey(peer.key),
                     slots.back().Dialable() ? "" : " (no address: its links are accepted)");
        continue;
      }
      if (peer.port != 0 && !peer.host.empty()) {
        std::unique_lock lock(slots_mutex);  // other threads read the slot's key
        slot->address.host = peer.host;
        slot->address.port = peer.port;
      }
      if (!slot->member.exchange(true)) {
        spdlog::info("net: validator {} is back in the set", ShortKey(peer.key));
        slot->next_dial = Clock::now();
      }
    }
    allowed = members;
    for (PeerSlot& slot : slots) {
      if (members.contains(slot.address.key) || !slot.member.exchange(false)) continue;
      spdlog::info("net: validator {} left the set; its link closes", ShortKey(slot.address.key));
      if (LinkPtr link = slot.active) Close(link, "no longer a validator");
      slot.queue.clear();
      slot.queue_bytes = 0;
      slot.counters.send_queue_bytes->Set(0);
    }
    std::vector<LinkPtr> outsiders;
    for (const LinkPtr& link : handshaking) {
      const std::optional<PublicKey> who =
          link->initiator ? link->peer : link->handshake.claimed_peer();
      if (who && !members.contains(*who)) outsiders.push_back(link);
    }
    for (const LinkPtr& link : outsiders) Close(link, "no longer a validator");
  }

  Strand strand;
  Config config;
  Hash256 network;
  std::set<PublicKey> allowed;
  tcp::acceptor acceptor;
  asio::steady_timer ticker;
  asio::steady_timer accept_retry;
  milliseconds tick_interval;
  // Refusals are logged, but an outsider must not be able to flood the log with them.
  Clock::time_point log_window_start;
  int log_window_lines = 0;
  std::mt19937_64 rng;
  Counter* refused_inbound = nullptr;
  uint16_t port = 0;
  std::atomic<bool> stopped{false};

  // Only added to (deque: slots never move), on the strand under the unique lock.
  std::deque<PeerSlot> slots;
  mutable std::shared_mutex slots_mutex;
  std::map<PublicKey, size_t> index;
  std::set<LinkPtr> handshaking;  // links not yet authenticated, both directions
  size_t pending_inbound = 0;

  const PeerNetworkOptions& options() const { return config.options; }
  PeerSlot* SlotOf(const PublicKey& key) {
    auto it = index.find(key);
    return it == index.end() ? nullptr : &slots[it->second];
  }

  Status Bind() {
    boost::system::error_code ec;
    asio::ip::address address = asio::ip::make_address(options().listen_host, ec);
    if (ec) {
      return Status(ErrorCode::kInvalidArgument,
                    "peer network: listen address '" + options().listen_host + "' does not parse");
    }
    tcp::endpoint endpoint(address, options().listen_port);
    std::string where = options().listen_host + ":" + std::to_string(options().listen_port);
    acceptor.open(endpoint.protocol(), ec);
    if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor.bind(endpoint, ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec == asio::error::address_in_use) {
      return Status(ErrorCode::kIoError, "peer network: " + where + " is already in use");
    }
    if (ec) {
      return Status(ErrorCode::kIoError,
                    "peer network: cannot listen on " + where + ": " + ec.message());
    }
    port = acceptor.local_endpoint().port();
    return Status::Ok();
  }

  // ---- accepting and dialing ----

  void Accept() {
    acceptor.async_accept(
        strand, [self = shared_from_this()](boost::system::error_code ec, tcp::socket socket) {
          if (self->stopped || ec == asio::error::operation_aborted) return;
          if (!ec) {
            self->OnAccepted(std::move(socket));
            return self->Accept();
          }
          // Out of file descriptors, say: retry shortly rather than spin.
          spdlog::warn("net: accept failed: {}", ec.message());
          self->accept_retry.expires_after(milliseconds(100));
          self->accept_retry.async_wait([self](boost::system::error_code timer_ec) {
            if (!timer_ec && !self->stopped) self->Accept();
          });
        });
  }

  void OnAccepted(tcp::socket socket) {
    boost::system::error_code ignored;
    if (pending_inbound >= options().max_pending_handshakes) {
      // Evict the oldest rather than refuse the newest: a genuine validator finishes its
      // handshake in a round trip, so connections held open to fill the table are the old ones.
      LinkPtr oldest;
      for (const LinkPtr& link : handshaking) {
        if (!link->initiator && (!oldest || link->started < oldest->started)) oldest = link;
      }
      if (!oldest) return socket.close(ignored);
      Close(oldest, "evicted: " + std::to_string(pending_inbound) + " handshakes were pending");
    }
    auto link = std::make_shared<Link>(std::move(socket), false,
                                       Handshake::Responder(config.identity, network, allowed));
    link->remote = RemoteOf(link->socket);
    link->socket.set_option(tcp::no_delay(true), ignored);
    link->phase = Phase::kHandshake;
    handshaking.insert(link);
    ++pending_inbound;
    ReadHandshake(link);
  }

  static std::string RemoteOf(const tcp::socket& socket) {
    boost::system::error_code ec;
    tcp::endpoint endpoint = socket.remote_endpoint(ec);
    if (ec) return "?";
    return endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
  }

  void Dial(PeerSlot& slot) {
    slot.dialing = true;
    slot.counters.dials->Increment();
    auto link =
        std::make_shared<Link>(tcp::socket(strand), true,
                               Handshake::Initiator(config.identity, network, slot.address.key));
    link->peer = slot.address.key;
    link->remote = slot.address.host + ":" + std::to_string(slot.address.port);
    handshaking.insert(link);
    auto resolver = std::make_shared<tcp::resolver>(strand);
    resolver->async_resolve(
        slot.address.host, std::to_string(slot.address.port),
        [self = shared_from_this(), link, resolver](boost::system::error_code ec,
                                                    tcp::resolver::results_type results) {
          if (self->stopped || link->phase == Phase::kClosed) return;
          if (ec) return self->Close(link, "cannot resolve " + link->remote + ": " + ec.message());
          asio::async_connect(link->socket, results,
                              [self, link](boost::system::error_code ec2, const tcp::endpoint&) {
                                if (self->stopped || link->phase == Phase::kClosed) return;
                                if (ec2)
                                  return self->Close(link, "cannot connect: " + ec2.message());
                                boost::system::error_code ignored;
                                link->socket.set_option(tcp::no_delay(true), ignored);
                                link->phase = Phase::kHandshake;
                                self->WriteHandshake(link, link->handshake.Start());
                              });
        });
  }

  // ---- the handshake ----

  void ReadHandshake(const LinkPtr& link) {
    link->handshake_buffer.resize(link->handshake.expected_size());
    asio::async_read(link->socket, asio::buffer(link->handshake_buffer),
                     [self = shared_from_this(), link](boost::system::error_code ec, size_t) {
                       if (self->stopped || link->phase == Phase::kClosed) return;
                       if (ec) {
                         // The peer hung up on our handshake: how a validator refuses a key
                         // it does not count (yet). A timeout or a wrong key is not that.
                         link->closed_by_peer =
                             ec == asio::error::eof || ec == asio::error::connection_reset;
                         return self->Close(link, "handshake read: " + ec.message());
                       }
                       self->OnHandshakeMessage(link);
                     });
  }

  void OnHandshakeMessage(const LinkPtr& link) {
    Result<Bytes> reply = link->handshake.Receive(link->handshake_buffer);
    if (!reply.ok()) return Close(link, reply.status().message());
    if (!reply->empty()) return WriteHandshake(link, std::move(*reply));
    if (link->handshake.done()) return Established(link);
    ReadHandshake(link);
  }

  void WriteHandshake(const LinkPtr& link, Bytes message) {
    auto buffer = std::make_shared<Bytes>(std::move(message));
    asio::async_write(
        link->socket, asio::buffer(*buffer),
        [self = shared_from_this(), link, buffer](boost::system::error_code ec, size_t) {
          if (self->stopped || link->phase == Phase::kClosed) return;
          if (ec) return self->Close(link, "handshake write: " + ec.message());
          if (link->handshake.done()) return self->Established(link);
          self->ReadHandshake(link);
        });
  }

  void Established(const LinkPtr& link) {
    Result<LinkSession> session = link->handshake.TakeSession();
    PeerSlot* slot = session.ok() ? SlotOf(session->peer) : nullptr;
    if (slot == nullptr) return Close(link, "handshake: no session for a validator");  // a bug
    if (!slot->member) return Close(link, "no longer a validator");
    handshaking.erase(link);
    if (!link->initiator) --pending_inbound;
    if (link->initiator) slot->dialing = false;
    link->peer = session->peer;
    link->sealer.emplace(std::move(session->send_key), options().max_frame_bytes);
    link->decoder.emplace(std::move(session->receive_key), options().max_frame_bytes);
    link->phase = Phase::kOpen;
    link->read_buffer.resize(kReadChunkBytes);
    Clock::time_point now = Clock::now();
    link->last_received = link->last_sent = link->window_start = link->established = now;
    slot->counters.links_established->Increment();
    spdlog::info("net: link to {} up ({}, {})", ShortKey(*link->peer), link->remote,
                 link->initiator ? "dialed" : "accepted");
    Adopt(*slot, link);
    if (link->phase != Phase::kOpen) return;  // it lost the duplicate rule
    Read(link);
    Pump(link);
  }

  // The duplicate-link rule of peer_network.h; both ends reach the same answer.
  PublicKey DialerOf(const Link& link) const {
    return link.initiator ? config.identity->public_key() : *link.peer;
  }

  void Adopt(PeerSlot& slot, const LinkPtr& link) {
    if (!slot.active) {
      slot.active = link;
      bool was_switching = std::exchange(slot.switching, false);
      slot.counters.connected->Set(1);
      if (!was_switching) ReportLink(*link->peer, true);
      return;
    }
    LinkPtr old = slot.active;
    bool same_dialer = old->initiator == link->initiator;
    if (!same_dialer && DialerOf(*old) < DialerOf(*link)) {
      return Close(link, "duplicate: the link dialed by the lower key stays");
    }
    slot.active = link;
    Close(old, same_dialer ? "replaced by a newer link dialed by the same side"
                           : "replaced by the link dialed by the lower key");
  }

  // The peer is mid-handshake on a connection it dialed to us.
  bool PeerDialingUs(const PublicKey& peer) const {
    return std::any_of(handshaking.begin(), handshaking.end(), [&](const LinkPtr& link) {
      return !link->initiator && link->handshake.claimed_peer() == peer;
    });
  }

  // ---- reading frames ----

  void Read(const LinkPtr& link) {
    link->socket.async_read_some(
        asio::buffer(link->read_buffer),
        [self = shared_from_this(), link](boost::system::error_code ec, size_t size) {
          if (self->stopped || link->phase == Phase::kClosed) return;
          if (ec) {
            return self->Close(
                link, ec == asio::error::eof ? "closed by the peer" : "read: " + ec.message());
          }
          if (self->OnBytes(link, ByteSpan(link->read_buffer).first(size))) self->Read(link);
        });
  }

  // False when the link has ended.
  bool OnBytes(const LinkPtr& link, ByteSpan bytes) {
    PeerSlot& slot = *SlotOf(*link->peer);
    const PeerNetworkOptions& o = options();
    Clock::time_point now = Clock::now();
    slot.counters.bytes_received->Increment(bytes.size());
    link->last_received = now;
    if (now - link->window_start >= std::chrono::seconds(1)) {
      link->window_start = now;
      link->window_frames = link->window_bytes = 0;
    }
    link->window_bytes += bytes.size();
    if (o.max_inbound_bytes_per_second != 0 &&
        link->window_bytes > o.max_inbound_bytes_per_second) {
      Close(link, "flooding: more than " + std::to_string(o.max_inbound_bytes_per_second) +
                      " bytes in a second");
      return false;
    }
    std::vector<Frame> frames;
    Status fed = link->decoder->Feed(bytes, frames);
    slot.counters.frames_received->Increment(frames.size());
    if (link->decoder->mid_frame()) link->frame_progress = now;
    // The rate is checked frame by frame, before delivery: a burst past the limit delivers
    // nothing beyond it.
    for (Frame& frame : frames) {
      if (o.max_inbound_frames_per_second != 0 &&
          ++link->window_frames > o.max_inbound_frames_per_second) {
        Close(link, "flooding: more than " + std::to_string(o.max_inbound_frames_per_second) +
                        " frames in a second");
        return false;
      }
      if (frame.kind != FrameKind::kMessage) continue;
      slot.counters.messages_received->Increment();
      Deliver(*link->peer, std::move(frame.body));
      if (stopped || link->phase == Phase::kClosed) return false;
    }
    if (!fed.ok()) {
      Close(link, "bad frame: " + fed.message());
      return false;
    }
    return true;
  }

  // The node's handlers must not throw; if one does, the network carries on.
  template <typename Call>
  void CallHandler(std::string_view which, Call&& call) {
    if (stopped) return;
    try {
      call();
    } catch (const std::exception& error) {
      spdlog::error("net: the {} handler threw: {}", which, error.what());
    } catch (...) {
      spdlog::error("net: the {} handler threw", which);
    }
  }
  void Deliver(const PublicKey& from, Bytes message) {
    CallHandler("message", [&] { config.on_message(from, std::move(message)); });
  }
  void ReportLink(const PublicKey& peer, bool up) {
    if (config.on_link) CallHandler("link", [&] { config.on_link(peer, up); });
  }

  // At most kLogLinesPerSecond refusal warnings a second; the counters still count them all.
  bool MayLogRefusal() {
    constexpr int kLogLinesPerSecond = 10;
    Clock::time_point now = Clock::now();
    if (now - log_window_start >= std::chrono::seconds(1)) {
      log_window_start = now;
      log_window_lines = 0;
    }
    return ++log_window_lines <= kLogLinesPerSecond;
  }

  // ---- writing frames ----

  // Any thread: charges a message to the peer's bound before it is posted to the strand, so
  // that messages waiting for a busy strand count too. False (and counted) when it is full.
  bool Reserve(PeerSlot& slot, size_t size) {
    uint64_t posted = slot.posted_bytes.fetch_add(size) + size;
    if (posted + slot.queue_bytes.load() > options().send_queue_bytes) {
      slot.posted_bytes.fetch_sub(size);
      slot.counters.messages_dropped->Increment();
      return false;
    }
    return true;
  }

  // On the strand, after Reserve.
  void Enqueue(PeerSlot& slot, const std::shared_ptr<const Bytes>& message) {
    if (stopped || (!slot.active && !slot.switching)) {
      slot.posted_bytes.fetch_sub(message->size());
      slot.counters.messages_dropped->Increment();
      return;
    }
    // Counted as queued before it stops counting as posted: a concurrent Reserve always
    // sees it in one or the other.
    slot.queue.push_back(message);
    slot.queue_bytes += message->size();
    slot.posted_bytes.fetch_sub(message->size());
    slot.counters.send_queue_bytes->Set(static_cast<double>(slot.queue_bytes.load()));
    if (slot.active) Pump(slot.active);
  }

  // Seals what is queued into one gather-write, unless a write is already in flight.
  void Pump(const LinkPtr& link) {
    if (link->writing || link->phase != Phase::kOpen) return;
    PeerSlot& slot = *SlotOf(*link->peer);
    if (slot.active != link) return;
    link->write_frames.clear();
    link->write_messages = 0;
    size_t batch_bytes = 0;
    while (!slot.queue.empty() && batch_bytes < kWriteBatchBytes) {
      std::shared_ptr<const Bytes> message = std::move(slot.queue.front());
      slot.queue.pop_front();
      slot.queue_bytes -= message->size();
      Result<Bytes> sealed = link->sealer->Seal(FrameKind::kMessage, *message);
      if (!sealed.ok()) {
        // Too large for a frame: the sender's mistake, not the link's.
        spdlog::warn("net: not sending a message to {}: {}", ShortKey(*link->peer),
                     sealed.status().message());
        slot.counters.messages_dropped->Increment();
        continue;
      }
      batch_bytes += sealed->size();
      link->write_frames.push_back(std::move(*sealed));
      ++link->write_messages;
    }
    slot.counters.send_queue_bytes->Set(static_cast<double>(slot.queue_bytes.load()));
    if (link->write_frames.empty() && link->keepalive_due) {
      Result<Bytes> sealed = link->sealer->Seal(FrameKind::kKeepAlive, {});
      if (!sealed.ok()) return Close(link, sealed.status().message());
      link->write_frames.push_back(std::move(*sealed));
    }
    link->keepalive_due = false;
    if (link->write_frames.empty()) return;
    link->writing = true;
    link->write_index = link->write_offset = 0;
    link->write_progress = Clock::now();
    WriteSome(link);
  }

  // Writes the batch piece by piece, so that the write timeout measures a peer that stopped
  // reading, not a large block on a slow line.
  void WriteSome(const LinkPtr& link) {
    std::vector<asio::const_buffer> buffers;
    for (size_t i = link->write_index; i < link->write_frames.size(); ++i) {
      size_t skip = i == link->write_index ? link->write_offset : 0;
      buffers.emplace_back(asio::buffer(link->write_frames[i]) + skip);
    }
    link->socket.async_write_some(
        buffers, [self = shared_from_this(), link](boost::system::error_code ec, size_t size) {
          if (self->stopped || link->phase == Phase::kClosed) return;
          if (ec) return self->Close(link, "write: " + ec.message());
          self->OnWritten(link, size);
        });
  }

  void OnWritten(const LinkPtr& link, size_t size) {
    PeerSlot& slot = *SlotOf(*link->peer);
    Clock::time_point now = Clock::now();
    slot.counters.bytes_sent->Increment(size);
    if (size > 0) link->write_progress = now;
    link->write_offset += size;
    while (link->write_index < link->write_frames.size() &&
           link->write_offset >= link->write_frames[link->write_index].size()) {
      link->write_offset -= link->write_frames[link->write_index].size();
      ++link->write_index;
    }
    if (link->write_index < link->write_frames.size()) return WriteSome(link);
    slot.counters.frames_sent->Increment(link->write_frames.size());
    slot.counters.messages_sent->Increment(link->write_messages);
    link->writing = false;
    link->last_sent = now;
    link->write_frames.clear();
    Pump(link);
  }

  // ---- ending links ----

  void Close(const LinkPtr& link, const std::string& reason) {
    if (link->phase == Phase::kClosed) return;
    bool authenticated = link->phase == Phase::kOpen;
    bool connected = link->phase != Phase::kConnecting;
    link->phase = Phase::kClosed;
    boost::system::error_code ignored;
    link->socket.close(ignored);
    if (!authenticated) {
      handshaking.erase(link);
      if (!link->initiator) --pending_inbound;
      std::optional<PublicKey> who = link->initiator ? link->peer : link->handshake.claimed_peer();
      PeerSlot* slot = who ? SlotOf(*who) : nullptr;
      if (slot != nullptr && connected) slot->counters.handshake_failures->Increment();
      if (!link->initiator) {
        refused_inbound->Increment();
        if (MayLogRefusal()) {
          spdlog::warn("net: refused inbound {} (claims {}): {}", link->remote,
                       who ? ShortKey(*who) : std::string("nothing"), reason);
        }
        if (slot != nullptr && slot->switching && !PeerDialingUs(*who)) PeerDown(*slot);
        return;
      }
      slot->dialing = false;
      // A peer that hung up on our handshake is up, and most likely does not count this node
      // yet: a validator being added is refused until the change naming it is scheduled, and
      // the new set's quorum may wait for its links. It is asked again soon; a peer that does
      // not answer, stalls or shows another key is backed off to redial_max.
      ScheduleRedial(*slot,
                     link->closed_by_peer ? options().redial_refused_max : options().redial_max);
      if (connected) {
        spdlog::warn("net: handshake with {} ({}) failed: {}", ShortKey(*who), link->remote,
                     reason);
      } else {
        spdlog::debug("net: dial {} ({}) failed: {}", ShortKey(*who), link->remote, reason);
      }
      return;
    }
    PeerSlot& slot = *SlotOf(*link->peer);
    slot.counters.links_closed->Increment();
    spdlog::info("net: link to {} ({}) closed: {}", ShortKey(*link->peer), link->remote, reason);
    if (slot.active != link) return;  // a duplicate: the peer stays connected
    slot.active.reset();
    // Only a link that stayed up resets the backoff, so a peer that flaps redials ever slower.
    if (Clock::now() - link->established >= options().redial_max) {
      slot.backoff = options().redial_min;
    }
    // The peer closed this link because its own dial to us is about to win the duplicate
    // rule: wait for that handshake rather than report a flap. The deadline stops an outsider
    // who keeps claiming the peer's key from holding the peer "switching" forever.
    if (PeerDialingUs(slot.address.key)) {
      slot.switching = true;
      slot.switching_until = Clock::now() + options().handshake_timeout;
      return;
    }
    PeerDown(slot);
  }

  void PeerDown(PeerSlot& slot) {
    slot.switching = false;
    slot.counters.messages_dropped->Increment(slot.queue.size());
    slot.queue.clear();
    slot.queue_bytes = 0;
    slot.counters.send_queue_bytes->Set(0);
    slot.counters.connected->Set(0);
    ScheduleRedial(slot);
    ReportLink(slot.address.key, false);
  }

  // The backoff doubles up to `cap` (redial_max unless said otherwise).
  void ScheduleRedial(PeerSlot& slot, std::optional<milliseconds> cap = std::nullopt) {
    const milliseconds limit = cap.value_or(options().redial_max);
    slot.backoff = std::min(slot.backoff, limit);
    std::uniform_real_distribution<double> jitter(0.5, 1.5);
    auto delay = std::chrono::duration_cast<milliseconds>(slot.backoff * jitter(rng));
    slot.next_dial = Clock::now() + delay;
    slot.backoff = std::min(slot.backoff * 2, limit);
  }

  // ---- the clock: timeouts, keep-alives, redials ----

  void Tick() {
    if (stopped) return;
    Clock::time_point now = Clock::now();
    const PeerNetworkOptions& o = options();
    std::vector<LinkPtr> expired;
    for (const LinkPtr& link : handshaking) {
      if (now - link->started > o.handshake_timeout) expired.push_back(link);
    }
    for (const LinkPtr& link : expired) Close(link, "handshake timed out");
    for (PeerSlot& slot : slots) {
      if (LinkPtr link = slot.active) CheckLink(link, now);
      if (slot.switching && now > slot.switching_until) PeerDown(slot);
      if (!slot.active && !slot.switching && !slot.dialing && now >= slot.next_dial &&
          slot.member && slot.Dialable()) {
        Dial(slot);
      }
    }
    ticker.expires_after(tick_interval);
    ticker.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec) self->Tick();
    });
  }

  void CheckLink(const LinkPtr& link, Clock::time_point now) {
    const PeerNetworkOptions& o = options();
    if (link->writing && now - link->write_progress > o.write_timeout) {
      return Close(link, "the peer stopped reading (no write progress within the timeout)");
    }
    if (now - link->last_received > o.idle_timeout) {
      return Close(link, "nothing received within the idle timeout");
    }
    if (link->decoder->mid_frame() && now - link->frame_progress > o.frame_timeout) {
      return Close(link, "stalled in the middle of a frame");
    }
    if (!link->writing && now - link->last_sent >= o.keepalive_interval) {
      link->keepalive_due = true;
      Pump(link);
    }
  }

  void CloseAll() {
    boost::system::error_code ignored;
    acceptor.close(ignored);
    ticker.cancel();
    accept_retry.cancel();
    for (const LinkPtr& link : handshaking) link->socket.close(ignored);
    handshaking.clear();
    for (PeerSlot& slot : slots) {
      if (slot.active) slot.active->socket.close(ignored);
      slot.active.reset();
      slot.switching = false;
      slot.queue.clear();
      slot.queue_bytes = 0;
      slot.counters.connected->Set(0);
      slot.counters.send_queue_bytes->Set(0);
    }
  }
};

PeerNetwork::PeerNetwork(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

PeerNetwork::~PeerNetwork() { Stop(); }

Result<std::unique_ptr<PeerNetwork>> PeerNetwork::Start(asio::io_context& io, Config config) {
  if (Status valid = ValidateConfig(config); !valid.ok()) return valid;
  auto impl = std::make_shared<Impl>(io, std::move(config));
  if (Status bound = impl->Bind(); !bound.ok()) return bound;
  spdlog::info("net: validator {} listening on {}:{}",
               ShortKey(impl->config.identity->public_key()), impl->options().listen_host,
               impl->port);
  asio::post(impl->strand, [impl] {
    impl->Accept();
    impl->Tick();
  });
  return std::unique_ptr<PeerNetwork>(new PeerNetwork(std::move(impl)));
}

uint16_t PeerNetwork::listen_port() const { return impl_->port; }

void PeerNetwork::Send(const PublicKey& to, Bytes message) {
  std::shared_lock lock(impl_->slots_mutex);
  PeerSlot* slot = impl_->SlotOf(to);
  if (slot == nullptr) return;  // not a validator: no peer to count it against
  if (impl_->stopped || !slot->member) return slot->counters.messages_dropped->Increment();
  if (!impl_->Reserve(*slot, message.size())) return;
  auto shared = std::make_shared<const Bytes>(std::move(message));
  asio::post(impl_->strand, [impl = impl_, slot, shared] { impl->Enqueue(*slot, shared); });
}

void PeerNetwork::Broadcast(Bytes message) {
  std::vector<PeerSlot*> reserved;
  std::shared_lock lock(impl_->slots_mutex);
  for (PeerSlot& slot : impl_->slots) {
    if (!slot.member) continue;
    if (impl_->stopped) {
      slot.counters.messages_dropped->Increment();
    } else if (impl_->Reserve(slot, message.size())) {
      reserved.push_back(&slot);
    }
  }
  if (reserved.empty()) return;
  auto shared = std::make_shared<const Bytes>(std::move(message));
  asio::post(impl_->strand, [impl = impl_, reserved = std::move(reserved), shared] {
    for (PeerSlot* slot : reserved) impl->Enqueue(*slot, shared);
  });
}

std::vector<PeerStats> PeerNetwork::Stats() const {
  std::vector<PeerStats> out;
  std::shared_lock lock(impl_->slots_mutex);
  for (const PeerSlot& slot : impl_->slots) {
    const PeerCounters& c = slot.counters;
    PeerStats stats;
    stats.key = slot.address.key;
    stats.member = slot.member;
    stats.connected = c.connected->value() != 0;
    stats.dials = c.dials->value();
    stats.links_established = c.links_established->value();
    stats.links_closed = c.links_closed->value();
    stats.handshake_failures = c.handshake_failures->value();
    stats.frames_sent = c.frames_sent->value();
    stats.frames_received = c.frames_received->value();
    stats.bytes_sent = c.bytes_sent->value();
    stats.bytes_received = c.bytes_received->value();
    stats.messages_sent = c.messages_sent->value();
    stats.messages_received = c.messages_received->value();
    stats.messages_dropped = c.messages_dropped->value();
    stats.send_queue_bytes = slot.queue_bytes.load() + slot.posted_bytes.load();
    out.push_back(stats);
  }
  return out;
}

size_t PeerNetwork::connected_peers() const {
  size_t connected = 0;
  std::shared_lock lock(impl_->slots_mutex);
  for (const PeerSlot& slot : impl_->slots) connected += slot.counters.connected->value() != 0;
  return connected;
}

void PeerNetwork::SetValidators(std::vector<ValidatorPeer> validators) {
  asio::post(impl_->strand, [impl = impl_, validators = std::move(validators)] {
    if (!impl->stopped) impl->SetValidators(validators);
  });
}

void PeerNetwork::Stop() {
  if (impl_->stopped.exchange(true)) return;
  asio::post(impl_->strand, [impl = impl_] { impl->CloseAll(); });
}

}  // namespace city::net
