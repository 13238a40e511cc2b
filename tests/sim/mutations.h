// Deliberately broken protocol rules, and a forking adversary's rules, for the simulator. Each
// is a consensus::ProtocolRules that differs from the standard rules in one decision, given to
// the cores of a schedule so that its invariants can prove they catch the break; the
// production library runs unchanged underneath.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "city/consensus/rules.h"

namespace city::sim {

// The names city-sim --mutation accepts: "none", then one per broken rule.
const std::vector<std::string>& MutationNames();

// A mutation of the host around the cores rather than of their rules, which the simulator
// applies itself (MakeMutation gives nullptr for it): a process entering a new epoch keeps the
// validator set of the epoch before, so its next core and its block sync check the new epoch's
// certificates against the old set. Needs ScheduleParams::reconfigure to have any effect.
inline constexpr std::string_view kWrongEpochCerts = "wrong-epoch-certs";
// The rules of a mutation by name; nullptr for "none" (and for a name not listed).
std::unique_ptr<consensus::ProtocolRules> MakeMutation(std::string_view name);

// The forker's own rules: it accepts its own proposals whatever they extend, under-reports
// its high QC in timeouts (an older QC keeps the TC's high QC low), and after a TC proposes
// on the highest QC it held below the TC's highest: the attack only the TC rule stops.
std::unique_ptr<consensus::ProtocolRules> MakeForkingAdversary(const PublicKey& self);

}  // namespace city::sim
