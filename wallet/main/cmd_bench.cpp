// cityctl bench: load a running network and report committed tx/s and commit latency.
#include "cli.h"

namespace city::cityctl {

void AddBenchCommand(CLI::App& app, Cli& cli) {
  CLI::App* bench = app.add_subcommand("bench", "Load the network with UBI transfers; JSON report");
  cli.OnRun(bench, []() -> CommandResult {
    return Status(ErrorCode::kInternal, "cityctl bench is not built yet");
  });
}

}  // namespace city::cityctl
