// emr.access: clinicians read records under consents their patients granted (each call checks
// the record, the consent and the patient's deny list, and appends to the audit trail).
#include "city/contracts/emr.h"
#include "city/crypto/hash.h"
#include "contracts_bench.h"
#include "support/emr_fixtures.h"

namespace city::bench {
namespace {

constexpr size_t kPatients = 100;

void BM_EmrAccess(benchmark::State& state) {
  const KeyPair council = test::TestKey(1);
  std::vector<KeyPair> clinicians;
  for (uint8_t fill = 30; fill < 34; ++fill) clinicians.push_back(test::TestKey(fill));
  contracts::GovernanceGenesis genesis;
  genesis.council.push_back(council.public_key());
  for (const KeyPair& key : clinicians)
    genesis.roles.push_back({std::string(contracts::kClinicianRole), key.public_key()});
  auto registry = std::make_unique<contracts::Registry>();
  if (!registry->Add(contracts::MakeGovernance()).ok() ||
      !registry->Add(contracts::MakeEmr()).ok()) {
    state.SkipWithError("registry");
    return;
  }
  test::ContractHarness chain(std::move(registry), *contracts::GovernanceGenesisWrites(genesis));

  // Each patient has a lab record and consents to every clinician (consent id
  // patient * clinicians + clinician).
  std::vector<KeyPair> patients;
  for (size_t p = 0; p < kPatients; ++p) patients.push_back(test::TestKey(uint8_t(100 + p)));
  std::vector<ledger::Transaction> setup;
  for (const KeyPair& patient : patients) {
    setup.push_back(chain.Tx(
        clinicians[0], "emr", "anchor",
        contracts::AnchorArgs{patient.public_key(), "lab-1", "lab",
                              Blake2b256(patient.public_key().span()),
                              test::Sealed(patient.public_key(), "https://lab.example/lab-1")}));
  }
  for (const KeyPair& patient : patients) {
    for (const KeyPair& clinician : clinicians) {
      contracts::GrantConsentArgs grant;
      grant.patient = patient.public_key();
      grant.grantee = clinician.public_key();
      grant.record_types = {{"imaging"}, {"lab"}};
      grant.purpose = "TREAT";
      grant.start_ms = 0;
      grant.end_ms = uint64_t{1} << 50;
      setup.push_back(chain.Tx(patient, "emr", "grant_consent", grant));
    }
  }
  for (const ledger::TxResult& result : chain.Block(setup)) {
    if (!result.ok()) {
      state.SkipWithError(("setup: " + result.detail).c_str());
      return;
    }
  }

  RunExecution(state, chain, [&](uint64_t i) {
    const size_t patient = i % kPatients;
    const size_t clinician = (i / kPatients) % clinicians.size();
    return chain.Tx(clinicians[clinician], "emr", "access",
                    contracts::AccessArgs{patients[patient].public_key(), "lab-1",
                                          patient * clinicians.size() + clinician, "TREAT"});
  });
}
BENCHMARK(BM_EmrAccess)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace city::bench
