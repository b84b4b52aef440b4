// A log-linear latency histogram in the manner of HdrHistogram, in
// microseconds: values below 2048 are counted exactly, larger ones in 1024
// linear sub-buckets per power of two, so a reported value is within one part
// in 1024 (0.1 %) of the recorded one. Values above ~25 days are clamped.
// Recording is one index computation and one increment; no allocation.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace tqbench {

class Histogram {
 public:
  static constexpr int kSubBits = 10;                    // 1024 sub-buckets per octave
  static constexpr uint64_t kExact = 2u << kSubBits;     // 0..2047 exact
  static constexpr int kOctaves = 30;                    // up to 2^41 - 1
  static constexpr uint64_t kMaxValue = (uint64_t{1} << (kSubBits + 1 + kOctaves)) - 1;
  static constexpr size_t kSize = kExact + kOctaves * (size_t{1} << kSubBits);

  Histogram() : counts_(kSize, 0) {}

  void record(int64_t value_us) {
    uint64_t v = value_us < 0 ? 0 : std::min<uint64_t>(static_cast<uint64_t>(value_us), kMaxValue);
    ++counts_[index(v)];
    ++count_;
    sum_ += static_cast<double>(v);
    if (v > max_) max_ = v;
    if (v < min_) min_ = v;
  }

  void merge(const Histogram& o) {
    for (size_t i = 0; i < kSize; ++i) counts_[i] += o.counts_[i];
    count_ += o.count_;
    sum_ += o.sum_;
    max_ = std::max(max_, o.max_);
    min_ = std::min(min_, o.min_);
  }

  void reset() {
    std::fill(counts_.begin(), counts_.end(), 0);
    count_ = 0;
    sum_ = 0;
    max_ = 0;
    min_ = UINT64_MAX;
  }

  uint64_t count() const { return count_; }
  uint64_t max() const { return max_; }
  uint64_t min() const { return count_ ? min_ : 0; }
  double mean() const { return count_ ? sum_ / static_cast<double>(count_) : 0.0; }

  // The value at percentile p (0 < p <= 100): the highest value equivalent
  // to the bucket holding the ceil(p% * count)-th smallest recording, never
  // above the exact maximum.
  uint64_t percentile(double p) const {
    if (count_ == 0) return 0;
    auto rank = static_cast<uint64_t>(std::ceil(p / 100.0 * static_cast<double>(count_)));
    rank = std::clamp<uint64_t>(rank, 1, count_);
    uint64_t seen = 0;
    for (size_t i = 0; i < kSize; ++i) {
      seen += counts_[i];
      if (seen >= rank) return std::min(highest_equivalent(i), max_);
    }
    return max_;
  }

  static size_t index(uint64_t v) {
    if (v < kExact) return static_cast<size_t>(v);
    int msb = 63 - __builtin_clzll(v);  // >= kSubBits + 1
    int shift = msb - kSubBits;         // >= 1
    uint64_t sub = v >> shift;          // in [1024, 2047]
    return static_cast<size_t>(kExact + static_cast<uint64_t>(shift - 1) * (1u << kSubBits) +
                               (sub - (1u << kSubBits)));
  }

  static uint64_t highest_equivalent(size_t i) {
    if (i < kExact) return i;
    size_t j = i - kExact;
    int shift = static_cast<int>(j >> kSubBits) + 1;
    uint64_t sub = (j & ((1u << kSubBits) - 1)) + (1u << kSubBits);
    return ((sub + 1) << shift) - 1;
  }

 private:
  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  double sum_ = 0;
  uint64_t max_ = 0;
  uint64_t min_ = UINT64_MAX;
};

}  // namespace tqbench
