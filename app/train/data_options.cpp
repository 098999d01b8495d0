// RunConfig → dataset and packing options.
#include "app/train/data_options.h"

#include "common/log.h"
#include "trainer/data/batch_source.h"

namespace app {

trainer::DatasetOptions dataset_options(const RunConfig& c) {
  trainer::DatasetOptions o;
  o.data_path = c.data_path;
  o.val_fraction = c.val_fraction;
  o.val_data_path = c.val_data_path;
  o.chat_template = c.chat_template;
  o.train_on = c.train_on;
  return o;
}

trainer::PackingOptions packing_options(const RunConfig& c, const trainer::Tokenizer& tokenizer) {
  trainer::PackingOptions o;
  o.packing = c.packing;
  o.long_examples = c.long_examples == "split" ? trainer::LongExamples::kSplit : trainer::LongExamples::kTruncate;
  const trainer::SpecialIds ids = tokenizer.special_ids();
  o.pad_id = ids.pad >= 0 ? ids.pad : (ids.eos >= 0 ? ids.eos : 0);
  return o;
}

void log_packing(const trainer::TokenDataset& data, const RunConfig& c, const trainer::PackingOptions& packing) {
  if (!data.examples()) return;
  trainer::SamplerBatchSource train(data, trainer::Split::kTrain, c.shape.batch, c.shape.seq_len, c.train.seed, packing);
  const auto stats = train.packing_stats();
  if (!stats) return;
  const std::string line = c.data_path + ": " + trainer::packing_summary(*stats, c.shape.seq_len) +
                           (packing.packing ? "" : " (no packing: one example per row)");
  if (stats->truncated > 0 || stats->split > 0) {
    common::log_warning(line);
  } else {
    common::log_info(line);
  }
}

}  // namespace app
