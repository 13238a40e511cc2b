// Running a node in the foreground (run_node.h).
#include "run_node.h"

#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <iostream>
#include <memory>
#include <thread>

namespace city::node {

int Fail(const Status& status) {
  std::cerr << "cityd: " << status.message() << "\n";
  return 1;
}

// Runs a node until SIGINT or SIGTERM (or a fatal error), then stops it cleanly.
int RunNode(const std::filesystem::path& home, const std::string& banner_extra,
            StartOptions options) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  // Blocked in every thread the node starts; one thread below waits for them.
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  Result<std::unique_ptr<Node>> started = Node::Start(home, options);
  if (!started.ok()) return Fail(started.status());
  // Shared with the signal thread, which may still be waiting when the node stops by itself.
  std::shared_ptr<Node> running = std::move(*started);
  Node& n = *running;
  const NodeStartInfo& info = n.info();
  spdlog::info("cityd {} started: chain {}, validator {}, height {}", kNodeVersion, info.chain_id,
               info.node_address, info.height);
  spdlog::info("client API on {}, validator links on {}", info.api_url, info.p2p_address);
  std::cout << "cityd: chain " << info.chain_id << ", validator " << info.node_address << "\n"
            << "cityd: API " << info.api_url << "  (status: curl " << info.api_url
            << "/v1/status)\n"
            << banner_extra << std::flush;

  std::thread waiter([running, signals] {
    int received = 0;
    sigwait(&signals, &received);
    spdlog::info("received {}, stopping", received == SIGINT ? "SIGINT" : "SIGTERM");
    running->Stop();
  });
  waiter.detach();
  const Status why = n.Wait();  // everything is stopped and closed when it returns
  if (!why.ok()) return Fail(why);
  spdlog::info("stopped cleanly");
  return 0;
}

}  // namespace city::node
