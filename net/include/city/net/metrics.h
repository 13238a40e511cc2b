// A small metrics registry (counters, gauges, histograms) rendered in the Prometheus text
// exposition format (version 0.0.4) for `GET /metrics`. Every module of the node reports
// into one registry. Thread-safe: updates are lock-free atomics; registration and rendering
// take a mutex.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace city::net {

// Label pairs of one series, e.g. {{"peer", "3f1c2a"}}. Rendered sorted by name.
using MetricLabels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void Increment(uint64_t by = 1) { value_.fetch_add(by, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

class Gauge {
 public:
  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Add(double delta) { value_.fetch_add(delta, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Cumulative buckets with fixed upper bounds (a +Inf bucket is implicit), a sum and a count.
class Histogram {
 public:
  // Bounds strictly increasing and finite; anything else is a programmer error (asserted).
  explicit Histogram(std::vector<double> upper_bounds);
  void Observe(double value);

  struct Snapshot {
    std::vector<double> upper_bounds;
    std::vector<uint64_t> cumulative_counts;  // one per bound, then +Inf (== count)
    double sum = 0;
    uint64_t count = 0;
    // The value below which `quantile` (0..1) of observations fall, interpolated within
    // its bucket as Prometheus's histogram_quantile does; 0 with no observations.
    double Quantile(double quantile) const;
  };
  Snapshot snapshot() const;

 private:
  std::vector<double> upper_bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // per bucket, not cumulative; +Inf last
  std::atomic<double> sum_{0};
};

// Bucket bounds for latencies in seconds, 1 ms .. 10 s.
std::vector<double> LatencyBucketsSeconds();

class MetricsRegistry {
 public:
  // The same (name, labels) always returns the same object, which lives as long as the
  // registry. Names must match [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]*;
  // reusing a name for another metric type, or other help text, is a programmer error
  // (asserted). Label values are escaped when rendered.
  Counter& GetCounter(std::string_view name, std::string_view help, MetricLabels labels = {});
  Gauge& GetGauge(std::string_view name, std::string_view help, MetricLabels labels = {});
  Histogram& GetHistogram(std::string_view name, std::string_view help,
                          std::vector<double> upper_bounds, MetricLabels labels = {});

  // A gauge read when scraped (a queue's length, a height). The callback runs under the
  // registry's lock, from the scraping thread: it must be quick and thread-safe. It is
  // removed when the returned registration is destroyed, so it never outlives what it reads.
  class Registration {
   public:
    Registration() = default;
    Registration(Registration&&) noexcept;
    Registration& operator=(Registration&&) noexcept;
    Registration(const Registration&) = delete;
    Registration& operator=(const Registration&) = delete;
    ~Registration();

   private:
    friend class MetricsRegistry;
    Registration(MetricsRegistry* registry, uint64_t id) : registry_(registry), id_(id) {}
    MetricsRegistry* registry_ = nullptr;
    uint64_t id_ = 0;
  };
  [[nodiscard]] Registration AddGaugeCallback(std::string_view name, std::string_view help,
                                              MetricLabels labels, std::function<double()> read);

  // Every family sorted by name, series sorted by labels: "# HELP", "# TYPE", then samples.
  std::string RenderPrometheus() const;

  MetricsRegistry();
  ~MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

 private:
  struct Family;
  void RemoveCallback(uint64_t id);

  mutable std::mutex mutex_;
  std::map<std::string, std::unique_ptr<Family>, std::less<>> families_;
  uint64_t next_callback_id_ = 1;
};

}  // namespace city::net
