// Validator links: every validator keeps one authenticated, encrypted TCP link to every
// other (handshake.h, frame.h), dials and accepts, redials with backoff, and moves opaque
// messages. It knows peers and frames, not consensus: the node decides what a message means.
//
// Policies (each one a defence against a peer that misbehaves or a network that fails):
// - Both sides dial. When a second link to the same peer authenticates, both ends keep the
//   same one: the link dialed by the lower key wins; two links dialed by the same side (it
//   redialed because it lost the first) keep the newer. Replacing a link is not reported as
//   the peer going down, and the peer's send queue carries over (a batch the old link was
//   writing may be lost). When the peer closes our link while its own dial to us is
//   mid-handshake (it is switching to that link), "down" waits for that handshake, at most
//   handshake_timeout: reported only if it fails or times out.
// - Redials back off exponentially from redial_min to redial_max, each delay jittered by
//   +-50% so restarted nodes do not dial in lockstep; a link that stayed up for redial_max
//   resets it, so a peer that flaps is redialed ever more slowly. A peer that hangs up on our
//   handshake backs off only to redial_refused_max: it is up, and usually does not count this
//   node yet (a validator being added, refused until its change is scheduled). One that stalls
//   the handshake or shows another key backs off to redial_max.
// - Each link sends a keep-alive when it has sent nothing for keepalive_interval, and ends
//   when it has received nothing for idle_timeout, when a started frame makes no progress
//   for frame_timeout, when a write makes no progress for write_timeout (the peer stopped
//   reading; a large block on a slow line is fine as long as it moves), when a handshake is
//   not done within handshake_timeout, when the peer exceeds the inbound frame or byte rate
//   (flooding), or at the first frame that is oversized or does not authenticate.
// - Send queues are bounded in bytes per peer, and a message counts against the bound from
//   the moment Send accepts it (also while it waits for a busy strand). A message that does
//   not fit is dropped and counted (messages_dropped); nothing blocks, and queued bytes never
//   exceed the bound. The node's protocols already recover from lost messages (timeouts,
//   sync).
// - At most max_pending_handshakes unauthenticated inbound connections; a new one evicts the
//   oldest (a genuine validator finishes in a round trip, so connections held open to fill
//   the table are the old ones). Refusals are logged at most ten a second, and all counted.
//   Deployments should still firewall the peer port to the validators' addresses.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "city/crypto/ed25519.h"
#include "city/ledger/limits.h"

namespace boost::asio {
class io_context;
}

namespace city::net {

class MetricsRegistry;

struct ValidatorPeer {
  PublicKey key;
  std::string host;  // where to dial it; an IP literal or a name
  uint16_t port = 0;
};

struct PeerNetworkOptions {
  std::string listen_host = "127.0.0.1";
  uint16_t listen_port = 0;  // 0: an ephemeral port (see PeerNetwork::listen_port)
  size_t max_frame_bytes = ledger::kMaxFrameBytes;
  size_t send_queue_bytes = 64 * 1024 * 1024;  // per peer
  size_t max_pending_handshakes = 32;
  std::chrono::milliseconds handshake_timeout{5'000};  // from connect to the session keys
  std::chrono::milliseconds keepalive_interval{1'000};
  std::chrono::milliseconds idle_timeout{6'000};
  std::chrono::milliseconds frame_timeout{5'000};
  std::chrono::milliseconds write_timeout{10'000};
  std::chrono::milliseconds redial_min{200};
  std::chrono::milliseconds redial_max{10'000};
  // The cap after a dial whose handshake the peer hung up on (a refusal).
  std::chrono::milliseconds redial_refused_max{1'000};
  // Inbound limits per link, each over one-second windows; 0 disables one.
  uint64_t max_inbound_frames_per_second = 100'000;
  uint64_t max_inbound_bytes_per_second = 512ull * 1024 * 1024;
};

struct PeerStats {
  PublicKey key;
  bool member = true;  // in the validator set now (SetValidators); else its counters only
  bool connected = false;
  uint64_t dials = 0;              // outbound connection attempts
  uint64_t links_established = 0;  // authenticated links, either direction
  uint64_t links_closed = 0;
  uint64_t handshake_failures = 0;  // with this peer as the claimed or dialed key
  uint64_t frames_sent = 0;         // including keep-alives
  uint64_t frames_received = 0;
  uint64_t bytes_sent = 0;  // on the wire
  uint64_t bytes_received = 0;
  uint64_t messages_sent = 0;
  uint64_t messages_received = 0;
  // No link to the peer, its send queue was full, the message was too large for a frame,
  // or the network was stopped.
  uint64_t messages_dropped = 0;
  uint64_t send_queue_bytes = 0;  // now, including messages accepted but not yet queued
};

class PeerNetwork {
 public:
  // Called on the network's strand, one at a time; must not block for long (the link's
  // reads wait for it, which is how a slow node pushes back on a fast peer).
  using MessageHandler = std::function<void(const PublicKey& from, Bytes message)>;
  using LinkHandler = std::function<void(const PublicKey& peer, bool up)>;

  struct Config {
    std::shared_ptr<const KeyPair> identity;
    std::string chain_id;  // links only form within one chain
    // The whole set; our own entry is skipped. A peer without an address (empty host, port 0)
    // is not dialed, but its links are accepted.
    std::vector<ValidatorPeer> validators;
    PeerNetworkOptions options;
    MessageHandler on_message;  // required
    LinkHandler on_link;        // optional
    // Where the per-peer counters go (city_net_*, labelled by peer). Without one, the network
    // keeps its own. Shared, because the network's handlers may outlive the PeerNetwork
    // object by a turn of the io_context.
    std::shared_ptr<MetricsRegistry> metrics;
  };

  // Validates the config (an identity, no duplicate keys, ports given for every other
  // validator, a positive frame size), binds the listener and starts dialing. Errors name
  // the problem: kIoError "127.0.0.1:7000 is already in use", kInvalidArgument otherwise.
  static Result<std::unique_ptr<PeerNetwork>> Start(boost::asio::io_context& io, Config config);
  // Stops (see Stop). Safe whether or not the io_context still runs.
  ~PeerNetwork();

  uint16_t listen_port() const;

  // Queue a message for one validator, or for every other validator. Thread-safe; never
  // blocks. Dropped (and counted) when there is no link to the peer or its queue is full.
  // A key outside the validator set is ignored (there is no peer to count it against).
  void Send(const PublicKey& to, Bytes message);
  void Broadcast(Bytes message);

  // The validator set changed (an epoch, docs/consensus.md): links open only with these
  // (a new one is dialed if it has an address, else its link is accepted), links to those no
  // longer listed close, and their handshakes are refused from now on. Thread-safe.
  void SetValidators(std::vector<ValidatorPeer> validators);

  // Thread-safe snapshot, one entry per other validator ever in the set (those removed with
  // member false: what they still try is counted), in the order they were first listed.
  std::vector<PeerStats> Stats() const;
  size_t connected_peers() const;

  // Closes the listener and every link and stops dialing. Handlers check for it before each
  // call, so once it returns no new call begins (one already under way on the strand may
  // finish). Thread-safe, idempotent, non-blocking (the sockets close on the io_context's
  // next turn).
  void Stop();

  struct Impl;

 private:
  explicit PeerNetwork(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace city::net
