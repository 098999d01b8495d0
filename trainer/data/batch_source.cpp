// SamplerBatchSource: windows or packed rows, by what the dataset holds.
#include "trainer/data/batch_source.h"

namespace trainer {

SamplerBatchSource::SamplerBatchSource(const TokenDataset& data, Split split, int batch, int seq_len, uint64_t seed,
                                       const PackingOptions& packing)
    : split_(split) {
  const bool train = split == Split::kTrain;
  if (data.examples()) {
    rows_ = std::make_unique<PackedSampler>(train ? data.train_tokens() : data.val_tokens(),
                                            train ? data.train_mask() : data.val_mask(),
                                            train ? data.train_doc_starts() : data.val_doc_starts(), train, batch,
                                            seq_len, seed, packing);
    packed_ = true;
  } else {
    windows_.emplace(data, split, batch, seq_len, seed);
    packed_ = windows_->has_documents();
  }
  scratch_.resize(static_cast<size_t>(batch) * seq_len);
}

common::Status SamplerBatchSource::check_fits(const TokenDataset& data, Split split, int batch, int seq_len) {
  if (!data.examples()) return BatchSampler::check_fits(data, split, batch, seq_len);
  if (batch <= 0 || seq_len <= 0)
    return common::Status::InvalidArgument("batch " + std::to_string(batch) + " and sequence length " +
                                           std::to_string(seq_len) + " must be positive");
  const bool train = split == Split::kTrain;
  PackedSampler probe(train ? data.train_tokens() : data.val_tokens(), train ? data.train_mask() : data.val_mask(),
                      train ? data.train_doc_starts() : data.val_doc_starts(), false, batch, seq_len, 0, {});
  if (probe.rows() == 0)
    return common::Status::InvalidArgument(data.cache_path() + ": the " + (train ? "training" : "validation") +
                                           " split holds no example of 2 tokens or more");
  return common::Status::Ok();
}

void SamplerBatchSource::next(int32_t* inputs, int32_t* targets) {
  if (rows_) {
    rows_->next(inputs, targets, scratch_.data());
  } else {
    windows_->next(inputs, targets);
  }
}

void SamplerBatchSource::next_packed(int32_t* inputs, int32_t* targets, int32_t* positions) {
  if (rows_) {
    rows_->next(inputs, targets, positions);
  } else {
    windows_->next_packed(inputs, targets, positions);
  }
}

uint64_t SamplerBatchSource::position() const { return rows_ ? rows_->position() : windows_->position(); }

void SamplerBatchSource::seek(uint64_t position) {
  if (rows_) {
    rows_->seek(position);
  } else {
    windows_->seek(position);
  }
}

int64_t SamplerBatchSource::batches_per_pass() const {
  if (split_ != Split::kVal) return 0;
  return rows_ ? rows_->batches_per_pass() : windows_->val_batches();
}

std::optional<PackingStats> SamplerBatchSource::packing_stats() const {
  if (!rows_) return std::nullopt;
  return rows_->stats();
}

}  // namespace trainer
