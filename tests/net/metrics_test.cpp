// The metrics registry: values, quantile estimates, and the Prometheus text it renders, parsed
// back line by line as a scraper would.
#include "city/net/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace city::net {
namespace {

::testing::AssertionResult Contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "'" << part << "' not in:\n" << text;
}

std::string Errors(const std::vector<std::string>& errors) {
  std::string out;
  for (const auto& error : errors) out += error + "\n";
  return out;
}

// One sample line of the exposition format, with its label values unescaped.
struct Sample {
  std::string name;
  MetricLabels labels;
  std::string value;
};

struct Exposition {
  std::vector<std::string> family_order;    // from the TYPE lines
  std::map<std::string, std::string> help;  // raw (still escaped) help text
  std::map<std::string, std::string> type;
  std::vector<Sample> samples;
  std::vector<std::string> errors;
};

// A strict reader of the text format: anything it does not understand is an error.
Exposition Parse(const std::string& text) {
  Exposition out;
  if (!text.empty() && text.back() != '\n') out.errors.push_back("no final newline");
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0) {
      const std::string rest = line.substr(7);
      const size_t space = rest.find(' ');
      if (space == std::string::npos) {
        out.errors.push_back("bad comment: " + line);
        continue;
      }
      const std::string name = rest.substr(0, space);
      if (line[2] == 'H') {
        out.help[name] = rest.substr(space + 1);
      } else {
        out.type[name] = rest.substr(space + 1);
        out.family_order.push_back(name);
      }
      continue;
    }
    Sample sample;
    size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') sample.name += line[i++];
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        std::string label;
        while (i < line.size() && line[i] != '=') label += line[i++];
        if (line.compare(i, 2, "=\"") != 0) {
          out.errors.push_back("bad label in: " + line);
          break;
        }
        i += 2;
        std::string value;
        while (i < line.size() && line[i] != '"') {
          if (line[i] == '\\' && i + 1 < line.size()) {
            const char next = line[i + 1];
            if (next == 'n') {
              value += '\n';
            } else if (next == '\\' || next == '"') {
              value += next;
            } else {
              out.errors.push_back("bad escape in: " + line);
            }
            i += 2;
          } else {
            value += line[i++];
          }
        }
        ++i;  // closing quote
        sample.labels.emplace_back(label, value);
        if (i < line.size() && line[i] == ',') ++i;
      }
      ++i;  // closing brace
    }
    if (i >= line.size() || line[i] != ' ') {
      out.errors.push_back("no value in: " + line);
      continue;
    }
    sample.value = line.substr(i + 1);
    out.samples.push_back(std::move(sample));
  }
  return out;
}

std::vector<Sample> SamplesNamed(const Exposition& exposition, const std::string& name) {
  std::vector<Sample> found;
  for (const Sample& sample : exposition.samples) {
    if (sample.name == name) found.push_back(sample);
  }
  return found;
}

TEST(MetricsCounter, SameNameAndLabelsIsTheSameSeriesWhateverTheLabelOrder) {
  MetricsRegistry registry;
  Counter& a = registry.GetCounter("city_things_total", "Things", {{"b", "2"}, {"a", "1"}});
  Counter& b = registry.GetCounter("city_things_total", "Things", {{"a", "1"}, {"b", "2"}});
  Counter& other = registry.GetCounter("city_things_total", "Things", {{"a", "other"}});
  EXPECT_EQ(&a, &b);
  EXPECT_NE(&a, &other);
  a.Increment();
  b.Increment(4);
  EXPECT_EQ(a.value(), 5u);
  EXPECT_EQ(other.value(), 0u);
}

TEST(MetricsGauge, SetAndAdd) {
  MetricsRegistry registry;
  Gauge& gauge = registry.GetGauge("city_queue_length", "Queue length");
  gauge.Set(10);
  gauge.Add(2.5);
  gauge.Add(-4);
  EXPECT_DOUBLE_EQ(gauge.value(), 8.5);
  const Exposition parsed = Parse(registry.RenderPrometheus());
  ASSERT_TRUE(parsed.errors.empty()) << Errors(parsed.errors);
  const auto samples = SamplesNamed(parsed, "city_queue_length");
  ASSERT_EQ(samples.size(), 1u);
  EXPECT_EQ(samples[0].value, "8.5");
}

TEST(MetricsHistogram, BucketsAreCumulativeAndABoundHoldsItsOwnValue) {
  Histogram histogram({1, 2, 4});
  for (const double value : {0.5, 1.0, 1.5, 2.0, 3.0, 100.0}) histogram.Observe(value);
  const Histogram::Snapshot snapshot = histogram.snapshot();
  // le semantics: 1.0 falls in the "<= 1" bucket, 2.0 in "<= 2".
  EXPECT_EQ(snapshot.cumulative_counts, (std::vector<uint64_t>{2, 4, 5, 6}));
  EXPECT_EQ(snapshot.count, 6u);
  EXPECT_DOUBLE_EQ(snapshot.sum, 108.0);
}

TEST(MetricsHistogram, QuantileInterpolatesWithinTheBucketLikePrometheus) {
  Histogram histogram({1, 2, 4});
  EXPECT_EQ(histogram.snapshot().Quantile(0.5), 0) << "no observations";
  for (int i = 0; i < 10; ++i) histogram.Observe(1.5);  // all in (1, 2]
  Histogram::Snapshot snapshot = histogram.snapshot();
  EXPECT_DOUBLE_EQ(snapshot.Quantile(0.5), 1.5);
  EXPECT_DOUBLE_EQ(snapshot.Quantile(0.9), 1.9);
  EXPECT_DOUBLE_EQ(snapshot.Quantile(1.0), 2.0);

  for (int i = 0; i < 10; ++i) histogram.Observe(0.2);  // now half are in (0, 1]
  snapshot = histogram.snapshot();
  EXPECT_DOUBLE_EQ(snapshot.Quantile(0.25), 0.5);
  EXPECT_DOUBLE_EQ(snapshot.Quantile(0.75), 1.5);

  // Past the last finite bound nothing bounds the value: the largest bound is reported.
  for (int i = 0; i < 80; ++i) histogram.Observe(1000);
  EXPECT_DOUBLE_EQ(histogram.snapshot().Quantile(0.99), 4.0);
}

TEST(MetricsHistogram, LatencyBucketsRunFromOneMillisecondToTenSeconds) {
  const std::vector<double> bounds = LatencyBucketsSeconds();
  ASSERT_GE(bounds.size(), 2u);
  EXPECT_DOUBLE_EQ(bounds.front(), 0.001);
  EXPECT_DOUBLE_EQ(bounds.back(), 10.0);
  for (size_t i = 1; i < bounds.size(); ++i) EXPECT_LT(bounds[i - 1], bounds[i]);
}

TEST(MetricsRender, FamiliesSortedWithHelpTypeAndSamples) {
  MetricsRegistry registry;
  registry.GetGauge("city_zeta", "Last by name").Set(1);
  registry.GetCounter("city_alpha_total", "First by name", {{"kind", "b"}}).Increment(3);
  registry.GetCounter("city_alpha_total", "First by name", {{"kind", "a"}}).Increment(7);
  Histogram& latency =
      registry.GetHistogram("city_middle_seconds", "A histogram", {0.5, 1}, {{"route", "/x"}});
  latency.Observe(0.25);
  latency.Observe(0.75);
  latency.Observe(3);

  const std::string text = registry.RenderPrometheus();
  const Exposition parsed = Parse(text);
  ASSERT_TRUE(parsed.errors.empty()) << Errors(parsed.errors) << text;
  EXPECT_EQ(parsed.family_order,
            (std::vector<std::string>{"city_alpha_total", "city_middle_seconds", "city_zeta"}));
  EXPECT_EQ(parsed.type.at("city_alpha_total"), "counter");
  EXPECT_EQ(parsed.type.at("city_middle_seconds"), "histogram");
  EXPECT_EQ(parsed.type.at("city_zeta"), "gauge");
  EXPECT_EQ(parsed.help.at("city_alpha_total"), "First by name");
  // HELP comes right before TYPE for each family.
  EXPECT_TRUE(Contains(text, "# HELP city_zeta Last by name\n# TYPE city_zeta gauge\n"));

  // Series sorted by labels.
  const auto counters = SamplesNamed(parsed, "city_alpha_total");
  ASSERT_EQ(counters.size(), 2u);
  EXPECT_EQ(counters[0].labels, (MetricLabels{{"kind", "a"}}));
  EXPECT_EQ(counters[0].value, "7");
  EXPECT_EQ(counters[1].value, "3");

  const auto buckets = SamplesNamed(parsed, "city_middle_seconds_bucket");
  ASSERT_EQ(buckets.size(), 3u);
  const std::vector<std::string> les = {"0.5", "1", "+Inf"};
  const std::vector<std::string> counts = {"1", "2", "3"};
  for (size_t i = 0; i < buckets.size(); ++i) {
    ASSERT_EQ(buckets[i].labels.size(), 2u);
    EXPECT_EQ(buckets[i].labels[0], (std::pair<std::string, std::string>("route", "/x")));
    EXPECT_EQ(buckets[i].labels[1], (std::pair<std::string, std::string>("le", les[i])));
    EXPECT_EQ(buckets[i].value, counts[i]);
  }
  const auto sum = SamplesNamed(parsed, "city_middle_seconds_sum");
  const auto count = SamplesNamed(parsed, "city_middle_seconds_count");
  ASSERT_EQ(sum.size(), 1u);
  ASSERT_EQ(count.size(), 1u);
  EXPECT_DOUBLE_EQ(std::stod(sum[0].value), 4.0);
  EXPECT_EQ(count[0].value, "3");
  EXPECT_TRUE(Contains(text, "city_middle_seconds_bucket{route=\"/x\",le=\"+Inf\"} 3\n"));
}

TEST(MetricsRender, LabelValuesAndHelpAreEscaped) {
  MetricsRegistry registry;
  const std::string nasty = "a\\b\"c\nd";
  registry.GetCounter("city_escaped_total", "help with \\ and\nnewline", {{"v", nasty}})
      .Increment();
  const std::string text = registry.RenderPrometheus();
  EXPECT_TRUE(Contains(text, "city_escaped_total{v=\"a\\\\b\\\"c\\nd\"} 1\n"));
  EXPECT_TRUE(Contains(text, "# HELP city_escaped_total help with \\\\ and\\nnewline\n"));
  const Exposition parsed = Parse(text);
  ASSERT_TRUE(parsed.errors.empty()) << Errors(parsed.errors);
  const auto samples = SamplesNamed(parsed, "city_escaped_total");
  ASSERT_EQ(samples.size(), 1u);
  EXPECT_EQ(samples[0].labels[0].second, nasty) << "escaping round-trips";
}

TEST(MetricsRender, SpecialValuesUseThePrometheusSpelling) {
  MetricsRegistry registry;
  registry.GetGauge("city_inf", "x").Set(std::numeric_limits<double>::infinity());
  registry.GetGauge("city_nan", "x").Set(std::nan(""));
  registry.GetGauge("city_small", "x").Set(0.000125);
  const std::string text = registry.RenderPrometheus();
  EXPECT_TRUE(Contains(text, "city_inf +Inf\n"));
  EXPECT_TRUE(Contains(text, "city_nan NaN\n"));
  EXPECT_DOUBLE_EQ(std::stod(SamplesNamed(Parse(text), "city_small")[0].value), 0.000125);
}

TEST(MetricsConcurrency, ThreadsIncrementingOneCounterLoseNothing) {
  MetricsRegistry registry;
  constexpr int kThreads = 8;
  constexpr int kPerThread = 20'000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&registry] {
      // Each thread looks the series up itself: registration races too.
      Counter& counter = registry.GetCounter("city_hits_total", "Hits");
      Histogram& histogram = registry.GetHistogram("city_hit_seconds", "Hit time", {0.5, 1});
      for (int i = 0; i < kPerThread; ++i) {
        counter.Increment();
        histogram.Observe(0.25);
        if (i % 1000 == 0) (void)registry.RenderPrometheus();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(registry.GetCounter("city_hits_total", "Hits").value(),
            uint64_t{kThreads} * kPerThread);
  const auto snapshot = registry.GetHistogram("city_hit_seconds", "Hit time", {0.5, 1}).snapshot();
  EXPECT_EQ(snapshot.count, uint64_t{kThreads} * kPerThread);
  EXPECT_DOUBLE_EQ(snapshot.sum, 0.25 * kThreads * kPerThread);
}

TEST(MetricsCallback, ReadWhenScrapedAndRemovedWithItsRegistration) {
  MetricsRegistry registry;
  std::atomic<double> height{41};
  {
    MetricsRegistry::Registration registration =
        registry.AddGaugeCallback("city_chain_height", "Committed height", {{"chain", "main"}},
                                  [&] { return height.load(); });
    height = 42;
    std::string text = registry.RenderPrometheus();
    EXPECT_TRUE(Contains(text, "# TYPE city_chain_height gauge\n"));
    EXPECT_TRUE(Contains(text, "city_chain_height{chain=\"main\"} 42\n"));

    // A moved registration still owns the callback; the moved-from one owns nothing.
    MetricsRegistry::Registration moved = std::move(registration);
    registration = MetricsRegistry::Registration();
    height = 43;
    EXPECT_TRUE(Contains(registry.RenderPrometheus(), "city_chain_height{chain=\"main\"} 43\n"));
  }
  // The reader is gone: the registry must not call it (height may be destroyed next).
  EXPECT_FALSE(Contains(registry.RenderPrometheus(), "city_chain_height"));
}

TEST(MetricsCallback, MergesWithGaugesOfTheSameFamilyInLabelOrder) {
  MetricsRegistry registry;
  registry.GetGauge("city_queue", "Queue", {{"q", "b"}}).Set(2);
  auto a = registry.AddGaugeCallback("city_queue", "Queue", {{"q", "a"}}, [] { return 1.0; });
  auto c = registry.AddGaugeCallback("city_queue", "Queue", {{"q", "c"}}, [] { return 3.0; });
  const auto samples = SamplesNamed(Parse(registry.RenderPrometheus()), "city_queue");
  ASSERT_EQ(samples.size(), 3u);
  EXPECT_EQ(samples[0].value, "1");
  EXPECT_EQ(samples[1].value, "2");
  EXPECT_EQ(samples[2].value, "3");
}

TEST(MetricsCallback, AThrowingReaderDoesNotBreakTheScrape) {
  MetricsRegistry registry;
  registry.GetCounter("city_other_total", "Other").Increment();
  auto registration = registry.AddGaugeCallback("city_broken", "Broken", {},
                                                []() -> double { throw std::runtime_error("no"); });
  const std::string text = registry.RenderPrometheus();
  EXPECT_TRUE(Contains(text, "city_broken NaN\n"));
  EXPECT_TRUE(Contains(text, "city_other_total 1\n"));
}

}  // namespace
}  // namespace city::net
