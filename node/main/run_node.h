// Running a node in the foreground, for cityd and the tests' Byzantine cityd: until SIGINT or
// SIGTERM, or a fatal error, then a clean stop.
#pragma once

#include <filesystem>
#include <string>

#include "city/node/node.h"

namespace city::node {

// Prints "cityd: MESSAGE" on stderr; returns the exit code 1.
int Fail(const Status& status);

// Returns the process exit code: 0 after a clean stop, 1 (with Fail's line) otherwise.
int RunNode(const std::filesystem::path& home, const std::string& banner_extra,
            StartOptions options = {});

}  // namespace city::node
