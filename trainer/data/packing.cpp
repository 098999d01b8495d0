// PackedSampler: the packing plan and the rows it gives (see packing.h).
#include "trainer/data/packing.h"

#include <algorithm>
#include <numeric>

#include "common/check.h"

namespace trainer {
namespace {

constexpr int32_t kIgnore = -1;  // trainer::kIgnoreTarget (trainer/trainer.h)

uint64_t mix(uint64_t seed, uint64_t i) {
  uint64_t z = seed + (i + 1) * 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// A seeded Fisher-Yates permutation of 0..n-1.
template <typename T>
void shuffle(std::vector<T>* v, uint64_t seed) {
  for (size_t i = v->size(); i > 1; --i) {
    const size_t j = static_cast<size_t>((static_cast<unsigned __int128>(mix(seed, i)) * i) >> 64);
    std::swap((*v)[i - 1], (*v)[j]);
  }
}

}  // namespace

PackedSampler::PackedSampler(std::span<const int32_t> tokens, std::span<const uint8_t> trained,
                             std::span<const uint64_t> doc_starts, bool shuffle_rows, int batch, int seq_len,
                             uint64_t seed, const PackingOptions& options)
    : tokens_(tokens), trained_(trained), shuffle_(shuffle_rows), batch_(batch), seq_len_(seq_len), seed_(seed),
      options_(options) {
  CHECK(batch > 0 && seq_len > 0);
  CHECK(trained.empty() || trained.size() == tokens.size());
  const uint64_t cap = static_cast<uint64_t>(seq_len) + 1;
  std::vector<uint64_t> starts;
  if (doc_starts.empty() || doc_starts.front() != 0) starts.push_back(0);
  for (uint64_t s : doc_starts)
    if (s < tokens.size()) starts.push_back(s);
  std::vector<Item> items;
  for (size_t d = 0; d < starts.size() && !tokens.empty(); ++d) {
    const uint64_t begin = starts[d];
    const uint64_t end = d + 1 < starts.size() ? starts[d + 1] : tokens.size();
    if (end <= begin) continue;
    ++stats_.examples;
    const uint64_t len = end - begin;
    if (len <= cap) {
      if (len >= 2) items.push_back({begin, static_cast<uint32_t>(len)});
      continue;
    }
    if (options.long_examples == LongExamples::kTruncate) {
      ++stats_.truncated;
      items.push_back({begin, static_cast<uint32_t>(cap)});
      continue;
    }
    ++stats_.split;
    for (uint64_t s = begin; s + 1 < end; s += cap - 1)
      items.push_back({s, static_cast<uint32_t>(std::min(cap, end - s))});
  }
  if (shuffle_rows) shuffle(&items, seed ^ 0x5ca1ab1e0ddba11ull);
  row_offsets_.push_back(0);
  uint64_t used = 0;
  for (const Item& it : items) {
    if (row_offsets_.back() != items_.size() && (!options.packing || used + it.len > cap)) {
      row_offsets_.push_back(items_.size());
      used = 0;
    }
    items_.push_back(it);
    used += it.len;
    stats_.tokens += it.len;
  }
  if (!items_.empty()) row_offsets_.push_back(items_.size());
  stats_.rows = rows();
}

int64_t PackedSampler::batches_per_pass() const { return rows() == 0 ? 0 : std::max<int64_t>(1, rows() / batch_); }

int64_t PackedSampler::row_of(uint64_t draw, int b) const {
  const int64_t R = rows();
  CHECK(R > 0);
  const uint64_t i = draw * static_cast<uint64_t>(batch_) + static_cast<uint64_t>(b);
  const int64_t r = static_cast<int64_t>(i % static_cast<uint64_t>(R));
  if (!shuffle_) return r;
  const int64_t epoch = static_cast<int64_t>(i / static_cast<uint64_t>(R));
  if (epoch != perm_epoch_) {
    perm_.resize(static_cast<size_t>(R));
    std::iota(perm_.begin(), perm_.end(), 0u);
    shuffle(&perm_, mix(seed_, static_cast<uint64_t>(epoch)));
    perm_epoch_ = epoch;
  }
  return perm_[static_cast<size_t>(r)];
}

void PackedSampler::next(int32_t* inputs, int32_t* targets, int32_t* positions) {
  const int T = seq_len_;
  for (int b = 0; b < batch_; ++b) {
    int32_t* in = inputs + static_cast<size_t>(b) * T;
    int32_t* tg = targets + static_cast<size_t>(b) * T;
    int32_t* pos = positions + static_cast<size_t>(b) * T;
    const int64_t r = row_of(draws_, b);
    int t = 0;
    for (size_t k = row_offsets_[r]; k < row_offsets_[r + 1]; ++k) {
      const Item& it = items_[k];
      for (uint32_t j = 0; j < it.len && t < T; ++j, ++t) {
        in[t] = tokens_[it.start + j];
        pos[t] = static_cast<int32_t>(j);
        const bool has_next = j + 1 < it.len;
        const bool trained = has_next && (trained_.empty() || trained_[it.start + j + 1] != 0);
        tg[t] = trained ? tokens_[it.start + j + 1] : kIgnore;
      }
      // The last token of an item that ends exactly at slot T is only a target: nothing to place.
    }
    for (int p = 0; t < T; ++t, ++p) {  // padding: a document of its own, never trained
      in[t] = options_.pad_id;
      pos[t] = p;
      tg[t] = kIgnore;
    }
  }
  ++draws_;
}

std::string packing_summary(const PackingStats& s, int seq_len) {
  std::string line = std::to_string(s.examples) + " example(s) in " + std::to_string(s.rows) + " row(s) of " +
                     std::to_string(seq_len) + " tokens";
  if (s.truncated > 0) line += "; " + std::to_string(s.truncated) + " longer than seq_len+1 truncated";
  if (s.split > 0) line += "; " + std::to_string(s.split) + " longer than seq_len+1 split into chunks";
  if (s.truncated == 0 && s.split == 0) line += "; none longer than seq_len+1";
  return line;
}

}  // namespace trainer
