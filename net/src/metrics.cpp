// The metrics registry and its Prometheus text rendering (exposition format 0.0.4).
#include "city/net/metrics.h"

#include <algorithm>
#include <cassert>
#include <charconv>
#include <cmath>
#include <exception>
#include <limits>

namespace city::net {
namespace {

enum class MetricType { kCounter, kGauge, kHistogram };

std::string_view TypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

[[maybe_unused]] bool ValidName(std::string_view name, bool allow_colon) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (allow_colon && c == ':');
    const bool digit = c >= '0' && c <= '9';
    if (!alpha && !(digit && i > 0)) return false;
  }
  return true;
}

[[maybe_unused]] bool ValidLabels(const MetricLabels& sorted, bool histogram) {
  for (size_t i = 0; i < sorted.size(); ++i) {
    if (!ValidName(sorted[i].first, /*allow_colon=*/false)) return false;
    if (i > 0 && sorted[i - 1].first == sorted[i].first) return false;  // a name twice
    if (histogram && sorted[i].first == "le") return false;             // reserved for buckets
  }
  return true;
}

// Series are keyed by their labels sorted by name, so one series has one key whatever the
// order the caller listed them in.
MetricLabels Sorted(MetricLabels labels) {
  std::sort(labels.begin(), labels.end());
  return labels;
}

// Go's strconv formatting, which Prometheus parses: shortest round-trip digits, +Inf/-Inf/NaN.
void AppendDouble(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "NaN";
  } else if (std::isinf(value)) {
    out += value > 0 ? "+Inf" : "-Inf";
  } else {
    char buffer[64];
    const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
    out.append(buffer, result.ptr);
  }
}

void AppendUint(std::string& out, uint64_t value) {
  char buffer[24];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  out.append(buffer, result.ptr);
}

// Label values escape backslash, double quote and newline; help text only the first and last.
void AppendEscaped(std::string& out, std::string_view text, bool escape_quote) {
  for (const char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && escape_quote) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

// `name{a="x",b="y"}` (or just `name`), with an optional extra label last (le for buckets).
void AppendSeriesName(std::string& out, std::string_view name, std::string_view suffix,
                      const MetricLabels& labels, std::string_view extra_name = {},
                      std::string_view extra_value = {}) {
  out += name;
  out += suffix;
  if (labels.empty() && extra_name.empty()) return;
  out += '{';
  bool first = true;
  const auto append = [&](std::string_view label, std::string_view value) {
    if (!first) out += ',';
    first = false;
    out += label;
    out += "=\"";
    AppendEscaped(out, value, /*escape_quote=*/true);
    out += '"';
  };
  for (const auto& [label, value] : labels) append(label, value);
  if (!extra_name.empty()) append(extra_name, extra_value);
  out += '}';
}

}  // namespace

Histogram::Histogram(std::vector<double> upper_bounds)
    : upper_bounds_(std::move(upper_bounds)),
      counts_(std::make_unique<std::atomic<uint64_t>[]>(upper_bounds_.size() + 1)) {
  for (size_t i = 0; i < upper_bounds_.size(); ++i) {
    assert(std::isfinite(upper_bounds_[i]) && "histogram bounds must be finite");
    assert((i == 0 || upper_bounds_[i - 1] < upper_bounds_[i]) &&
           "histogram bounds must be strictly increasing");
  }
}

void Histogram::Observe(double value) {
  // A bucket counts observations <= its bound; NaN belongs to no finite bucket.
  size_t bucket = upper_bounds_.size();
  if (!std::isnan(value)) {
    bucket =
        static_cast<size_t>(std::lower_bound(upper_bounds_.begin(), upper_bounds_.end(), value) -
                            upper_bounds_.begin());
  }
  counts_[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot snapshot;
  snapshot.upper_bounds = upper_bounds_;
  snapshot.cumulative_counts.reserve(upper_bounds_.size() + 1);
  uint64_t total = 0;
  for (size_t i = 0; i <= upper_bounds_.size(); ++i) {
    total += counts_[i].load(std::memory_order_relaxed);
    snapshot.cumulative_counts.push_back(total);
  }
  // The count is the bucket total rather than a separate atomic, so that +Inf == count
  // holds even while other threads observe.
  snapshot.count = total;
  snapshot.sum = sum_.load(std::memory_order_relaxed);
  return snapshot;
}

double Histogram::Snapshot::Quantile(double quantile) const {
  if (count == 0 || upper_bounds.empty() || std::isnan(quantile)) return 0;
  quantile = std::clamp(quantile, 0.0, 1.0);
  const double rank = quantile * static_cast<double>(count);
  size_t bucket = 0;
  while (bucket < upper_bounds.size() && static_cast<double>(cumulative_counts[bucket]) < rank) {
    ++bucket;
  }
  // In the +Inf bucket nothing bounds the value: report the largest finite bound.
  if (bucket == upper_bounds.size()) return upper_bounds.back();
  const double end = upper_bounds[bucket];
  // The first bucket starts at 0 unless its bound is not positive.
  if (bucket == 0 && end <= 0) return end;
  const double start = bucket == 0 ? 0 : upper_bounds[bucket - 1];
  const uint64_t below = bucket == 0 ? 0 : cumulative_counts[bucket - 1];
  const uint64_t in_bucket = cumulative_counts[bucket] - below;
  if (in_bucket == 0) return start;
  return start +
         (end - start) * (rank - static_cast<double>(below)) / static_cast<double>(in_bucket);
}

std::vector<double> LatencyBucketsSeconds() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

struct MetricsRegistry::Family {
  MetricType type = MetricType::kCounter;
  std::string help;
  std::map<MetricLabels, std::unique_ptr<Counter>> counters;
  std::map<MetricLabels, std::unique_ptr<Gauge>> gauges;
  std::map<MetricLabels, std::unique_ptr<Histogram>> histograms;
  struct Callback {
    MetricLabels labels;
    std::function<double()> read;
  };
  std::map<uint64_t, Callback> callbacks;

  bool empty() const {
    return counters.empty() && gauges.empty() && histograms.empty() && callbacks.empty();
  }
};

namespace {

// Finds or creates the family `name`, checking (in debug builds) that its type and help match.
template <typename Families>
auto& FamilyFor(Families& families, std::string_view name, std::string_view help, MetricType type) {
  assert(ValidName(name, /*allow_colon=*/true) && "bad metric name");
  auto it = families.find(name);
  if (it == families.end()) {
    auto family = std::make_unique<typename Families::mapped_type::element_type>();
    family->type = type;
    family->help = std::string(help);
    it = families.emplace(std::string(name), std::move(family)).first;
  }
  assert(it->second->type == type && "metric name reused for another type");
  assert(it->second->help == help && "metric name reused with other help text");
  return *it->second;
}

}  // namespace

MetricsRegistry::MetricsRegistry() = default;
MetricsRegistry::~MetricsRegistry() = default;

Counter& MetricsRegistry::GetCounter(std::string_view name, std::string_view help,
                                     MetricLabels labels) {
  labels = Sorted(std::move(labels));
  assert(ValidLabels(labels, false) && "bad label names");
  std::lock_guard lock(mutex_);
  auto& slot = FamilyFor(families_, name, help, MetricType::kCounter).counters[labels];
  if (!slot) slot = std::make_unique<Counter>();
  return *slot;
}

Gauge& MetricsRegistry::GetGauge(std::string_view name, std::string_view help,
                                 MetricLabels labels) {
  labels = Sorted(std::move(labels));
  assert(ValidLabels(labels, false) && "bad label names");
  std::lock_guard lock(mutex_);
  auto& slot = FamilyFor(families_, name, help, MetricType::kGauge).gauges[labels];
  if (!slot) slot = std::make_unique<Gauge>();
  return *slot;
}

Histogram& MetricsRegistry::GetHistogram(std::string_view name, std::string_view help,
                                         std::vector<double> upper_bounds, MetricLabels labels) {
  labels = Sorted(std::move(labels));
  assert(ValidLabels(labels, true) && "bad label names");
  std::lock_guard lock(mutex_);
  auto& slot = FamilyFor(families_, name, help, MetricType::kHistogram).histograms[labels];
  if (!slot) slot = std::make_unique<Histogram>(std::move(upper_bounds));
  return *slot;
}

MetricsRegistry::Registration::Registration(Registration&& other) noexcept
    : registry_(std::exchange(other.registry_, nullptr)), id_(std::exchange(other.id_, 0)) {}

MetricsRegistry::Registration& MetricsRegistry::Registration::operator=(
    Registration&& other) noexcept {
  if (this != &other) {
    if (registry_ != nullptr) registry_->RemoveCallback(id_);
    registry_ = std::exchange(other.registry_, nullptr);
    id_ = std::exchange(other.id_, 0);
  }
  return *this;
}

MetricsRegistry::Registration::~Registration() {
  if (registry_ != nullptr) registry_->RemoveCallback(id_);
}

MetricsRegistry::Registration MetricsRegistry::AddGaugeCallback(std::string_view name,
                                                                std::string_view help,
                                                                MetricLabels labels,
                                                                std::function<double()> read) {
  labels = Sorted(std::move(labels));
  assert(ValidLabels(labels, false) && "bad label names");
  std::lock_guard lock(mutex_);
  const uint64_t id = next_callback_id_++;
  FamilyFor(families_, name, help, MetricType::kGauge)
      .callbacks.emplace(id, Family::Callback{std::move(labels), std::move(read)});
  return Registration(this, id);
}

void MetricsRegistry::RemoveCallback(uint64_t id) {
  std::function<double()> doomed;  // destroyed after the lock: it may own anything
  std::lock_guard lock(mutex_);
  for (auto it = families_.begin(); it != families_.end(); ++it) {
    auto found = it->second->callbacks.find(id);
    if (found == it->second->callbacks.end()) continue;
    doomed = std::move(found->second.read);
    it->second->callbacks.erase(found);
    // A family that only ever held callbacks leaves with its last one.
    if (it->second->empty()) families_.erase(it);
    return;
  }
}

std::string MetricsRegistry::RenderPrometheus() const {
  std::string out;
  std::lock_guard lock(mutex_);
  for (const auto& [name, family] : families_) {
    if (family->empty()) continue;
    out += "# HELP ";
    out += name;
    out += ' ';
    AppendEscaped(out, family->help, /*escape_quote=*/false);
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += TypeName(family->type);
    out += '\n';

    switch (family->type) {
      case MetricType::kCounter:
        for (const auto& [labels, counter] : family->counters) {
          AppendSeriesName(out, name, "", labels);
          out += ' ';
          AppendUint(out, counter->value());
          out += '\n';
        }
        break;
      case MetricType::kGauge: {
        // Stored gauges and callbacks merge into one list sorted by labels.
        std::vector<std::pair<const MetricLabels*, double>> samples;
        for (const auto& [labels, gauge] : family->gauges) {
          samples.emplace_back(&labels, gauge->value());
        }
        for (const auto& [id, callback] : family->callbacks) {
          double value = std::numeric_limits<double>::quiet_NaN();
          try {
            if (callback.read) value = callback.read();
          } catch (const std::exception&) {
            // A failing reader must not break the scrape; NaN says "unknown".
          }
          samples.emplace_back(&callback.labels, value);
        }
        std::stable_sort(samples.begin(), samples.end(),
                         [](const auto& a, const auto& b) { return *a.first < *b.first; });
        for (const auto& [labels, value] : samples) {
          AppendSeriesName(out, name, "", *labels);
          out += ' ';
          AppendDouble(out, value);
          out += '\n';
        }
        break;
      }
      case MetricType::kHistogram:
        for (const auto& [labels, histogram] : family->histograms) {
          const Histogram::Snapshot snapshot = histogram->snapshot();
          for (size_t i = 0; i <= snapshot.upper_bounds.size(); ++i) {
            std::string bound;
            if (i < snapshot.upper_bounds.size()) {
              AppendDouble(bound, snapshot.upper_bounds[i]);
            } else {
              bound = "+Inf";
            }
            AppendSeriesName(out, name, "_bucket", labels, "le", bound);
            out += ' ';
            AppendUint(out, snapshot.cumulative_counts[i]);
            out += '\n';
          }
          AppendSeriesName(out, name, "_sum", labels);
          out += ' ';
          AppendDouble(out, snapshot.sum);
          out += '\n';
          AppendSeriesName(out, name, "_count", labels);
          out += ' ';
          AppendUint(out, snapshot.count);
          out += '\n';
        }
        break;
    }
  }
  return out;
}

}  // namespace city::net
