// `nightshift eval RUN_DIR [--json] [--batches N] [--data PATH]`: validation loss of the run's latest
// checkpoint on the held-out tail of its corpus (or of PATH, e.g. the corpus a fine-tune moved away
// from), with the run's batch, sequence length and validation fraction; for models with moe
// layers also the expert load (token assignments per expert, summed over the evaluated batches).
// Besides the loss (nats per token): perplexity exp(loss) and bits per byte (the loss summed over
// the evaluated targets, in bits, divided by the UTF-8 bytes those targets decode to), which
// compares models with different tokenizers.
// `nightshift eval MODEL_OR_RUN --data FILE --seq T [--json]`: the whole file, deterministically —
// tokenized once with the model's tokenizer (BOS first when it adds one), cut into windows of T + 1
// tokens at tokens 0, T, 2T, ... (trainer/window_eval.h); prints the mean next-token NLL over
// every target ("loss"), "tokens" and "windows". MODEL_OR_RUN is a run directory or a pretrained
// model (a .gguf file or a Hugging Face directory); a pretrained model always takes this mode.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "app/commands/command_registry.h"
#include "app/commands/model_source.h"
#include "app/train/data_options.h"
#include "app/train/run_loader.h"
#include "trainer/data/batch_source.h"
#include "trainer/data/dataset.h"
#include "trainer/window_eval.h"

namespace app {
namespace {

// Wraps the validation source: before handing out each batch after the first it adds up the expert
// counts the model's forward left for the previous one (the moe layers' `offset` activations:
// expert e owns assignment rows [offset[e], offset[e+1])); finish() counts the last batch.
// A forward-only model shares one set of activation buffers among the blocks of the same kind
// ("act.recompute.{spec}."), so after a forward they hold the last such block's routing: the load is
// then measured for the last moe layer of each distinct block kind, and named after that block.
class ExpertLoadCounter final : public trainer::BatchSource {
 public:
  ExpertLoadCounter(trainer::BatchSource& inner, const trainer::Model& model) : inner_(inner), model_(model) {
    const std::string suffix = ".moe.offset", shared = "act.recompute.", own = "act.";
    const auto& blocks = model.config().blocks;
    for (const trainer::TensorSpec& s : model.tensors().specs()) {
      if (s.name.size() <= suffix.size() || s.name.compare(s.name.size() - suffix.size(), suffix.size(), suffix) != 0)
        continue;
      std::string layer;
      if (s.name.rfind(shared, 0) == 0) {  // act.recompute.{spec}.moe.offset -> the last block of that spec
        const std::string spec = s.name.substr(shared.size(), s.name.size() - shared.size() - suffix.size());
        for (size_t i = 0; i < blocks.size(); ++i) {
          if (trainer::block_spec_to_string(blocks[i]) == spec) layer = "blocks." + std::to_string(i) + ".moe";
        }
      } else if (s.name.rfind(own + "blocks.", 0) == 0) {  // act.blocks.{i}.moe.offset
        layer = s.name.substr(own.size(), s.name.size() - own.size() - std::string(".offset").size());
      }
      if (!layer.empty()) layers_.push_back({layer, s.name, std::vector<int64_t>(static_cast<size_t>(s.numel() - 1), 0)});
    }
  }
  void next(int32_t* inputs, int32_t* targets) override {
    if (pending_) count();
    pending_ = true;
    inner_.next(inputs, targets);
  }
  // Packed example data keeps its documents apart in evaluation as in training.
  bool packed() const override { return inner_.packed(); }
  void next_packed(int32_t* inputs, int32_t* targets, int32_t* positions) override {
    if (pending_) count();
    pending_ = true;
    inner_.next_packed(inputs, targets, positions);
  }
  uint64_t position() const override { return inner_.position(); }
  void seek(uint64_t position) override {
    pending_ = false;
    inner_.seek(position);
  }
  int64_t batches_per_pass() const override { return inner_.batches_per_pass(); }
  void finish() {
    if (pending_) count();
    pending_ = false;
  }
  struct Layer {
    std::string name;    // "blocks.{i}.moe"
    std::string offset;  // its activation tensor
    std::vector<int64_t> load;
  };
  const std::vector<Layer>& layers() const { return layers_; }

 private:
  void count() {
    for (Layer& l : layers_) {
      const auto* off = static_cast<const int32_t*>(model_.tensors().find(l.offset));
      for (size_t e = 0; e < l.load.size(); ++e) l.load[e] += off[e + 1] - off[e];
    }
  }
  trainer::BatchSource& inner_;
  const trainer::Model& model_;
  std::vector<Layer> layers_;
  bool pending_ = false;
};

// Counts the bytes the targets of every batch handed out decode to (a table of each token's byte
// length, built once from the tokenizer).
class TargetByteCounter final : public trainer::BatchSource {
 public:
  TargetByteCounter(trainer::BatchSource& inner, const trainer::Tokenizer& tok, int64_t tokens_per_batch)
      : inner_(inner), tokens_per_batch_(tokens_per_batch) {
    bytes_of_.resize(static_cast<size_t>(tok.vocab_size()));
    for (int32_t id = 0; id < tok.vocab_size(); ++id) {
      bytes_of_[static_cast<size_t>(id)] = static_cast<uint32_t>(tok.decode(std::span<const int32_t>(&id, 1)).size());
    }
  }
  void next(int32_t* inputs, int32_t* targets) override {
    inner_.next(inputs, targets);
    add(targets);
  }
  bool packed() const override { return inner_.packed(); }
  void next_packed(int32_t* inputs, int32_t* targets, int32_t* positions) override {
    inner_.next_packed(inputs, targets, positions);
    add(targets);
  }
  void add(const int32_t* targets) {
    for (int64_t i = 0; i < tokens_per_batch_; ++i) {
      const int32_t t = targets[i];
      if (t >= 0 && static_cast<size_t>(t) < bytes_of_.size()) {
        bytes_ += bytes_of_[static_cast<size_t>(t)];
        ++tokens_;  // trained targets only (kIgnoreTarget ones carry no loss)
      }
    }
  }
  uint64_t position() const override { return inner_.position(); }
  void seek(uint64_t position) override { inner_.seek(position); }
  int64_t batches_per_pass() const override { return inner_.batches_per_pass(); }
  uint64_t bytes() const { return bytes_; }
  uint64_t tokens() const { return tokens_; }

 private:
  trainer::BatchSource& inner_;
  int64_t tokens_per_batch_;
  std::vector<uint32_t> bytes_of_;
  uint64_t bytes_ = 0, tokens_ = 0;
};

// max load / mean load over the experts of one layer (1 = perfectly even).
double imbalance(const std::vector<int64_t>& load) {
  int64_t total = 0, mx = 0;
  for (int64_t c : load) total += c, mx = std::max(mx, c);
  return total > 0 ? static_cast<double>(mx) * static_cast<double>(load.size()) / static_cast<double>(total) : 0.0;
}

struct EvalFlags {
  std::string run_dir;
  bool json = false;
  int batches = 0;
  std::string data;  // "" = the run's corpus
  int seq = 0;       // > 0: score the whole file in windows of seq + 1 tokens
};

// The whole of `path` as bytes; NotFound naming it.
common::Result<std::string> read_text(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return common::Status::NotFound(path + ": cannot open the data file");
  std::string text;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
  const bool failed = std::ferror(f) != 0;
  std::fclose(f);
  if (failed) return common::Status::IOError(path + ": read failed");
  return text;
}

// The windows mode: every window of the file, in order.
int eval_windows_main(const EvalFlags& f, bool seq_given) {
  if (f.data.empty() || !seq_given) {
    return report_error(common::Status::InvalidArgument(
        f.run_dir + ": scoring a pretrained model needs --data FILE and --seq T (windows of T + 1 tokens)"));
  }
  if (f.seq < 1) return report_error(common::Status::InvalidArgument("--seq must be at least 1"));
  auto src = open_model_source(f.run_dir);
  if (!src.ok()) return report_error(src.status());
  auto text = read_text(f.data);
  if (!text.ok()) return report_error(text.status());
  trainer::EncodeOptions opt;
  opt.add_bos = true;
  const std::vector<int32_t> ids = src->tokenizer->encode_with(*text, opt);
  const int64_t windows = trainer::count_windows(static_cast<int64_t>(ids.size()), f.seq);
  if (windows == 0) {
    return report_error(common::Status::InvalidArgument(f.data + ": " + std::to_string(ids.size()) +
                                                        " tokens, fewer than one window of --seq + 1 = " +
                                                        std::to_string(f.seq + 1)));
  }
  // A few windows per forward; each window's logits are its own, whatever shares the batch.
  const int B = static_cast<int>(std::min<int64_t>(windows, 4));
  auto model = src->inference_model(B, f.seq);
  if (!model.ok()) return report_error(model.status());
  auto score = trainer::score_windows(**model, ids, f.seq);
  if (!score.ok()) return report_error(score.status().with_context(f.data));
  uint64_t bytes = 0;  // UTF-8 bytes of every target (for bits per byte)
  for (int64_t w = 0; w < windows; ++w) {
    for (int64_t t = 1; t <= f.seq; ++t) {
      const int32_t id = ids[static_cast<size_t>(w * f.seq + t)];
      bytes += src->tokenizer->decode(std::span<const int32_t>(&id, 1)).size();
    }
  }
  const double perplexity = std::exp(score->loss);
  const double bits_per_byte =
      bytes > 0 ? score->loss * static_cast<double>(score->tokens) / (std::log(2.0) * static_cast<double>(bytes)) : std::nan("");
  if (f.json) {
    nlohmann::json j{{"loss", score->loss},
                     {"tokens", score->tokens},
                     {"windows", score->windows},
                     {"seq", f.seq},
                     {"text_tokens", ids.size()},
                     {"perplexity", perplexity},
                     {"bits_per_byte", std::isnan(bits_per_byte) ? nlohmann::json(nullptr) : nlohmann::json(bits_per_byte)},
                     {"model", src->is_run() ? src->run->info.dir : src->path},
                     {"data", f.data}};
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("loss %.4f | perplexity %.2f | %.4f bits per byte | %lld windows of %d tokens (%lld targets) | %s on %s\n",
                score->loss, perplexity, bits_per_byte, static_cast<long long>(score->windows), f.seq,
                static_cast<long long>(score->tokens), src->is_run() ? src->run->info.dir.c_str() : src->path.c_str(),
                f.data.c_str());
  }
  return kExitOk;
}

int eval_main(const EvalFlags& f, bool seq_given) {
  if (seq_given || trainer::ImportedModel::is_importable(f.run_dir)) return eval_windows_main(f, seq_given);
  auto run = load_run(f.run_dir);
  if (!run.ok()) return report_error(run.status());
  const RunConfig& c = run->run;
  trainer::DatasetOptions dopt = dataset_options(c);  // the run's template and mask
  if (!f.data.empty()) {
    dopt.data_path = f.data;
    dopt.val_data_path.clear();
  }
  auto data = trainer::TokenDataset::open(dopt, *run->tokenizer);
  if (!data.ok()) return report_error(data.status());
  const int B = c.shape.batch, T = c.shape.seq_len;
  common::Status fits = trainer::SamplerBatchSource::check_fits(**data, trainer::Split::kVal, B, T);
  if (!fits.ok()) return report_error(fits.with_context(dopt.data_path));
  auto model = load_inference_model(*run, B, T);
  if (!model.ok()) return report_error(model.status());
  trainer::SamplerBatchSource val(**data, trainer::Split::kVal, B, T, c.train.seed, packing_options(c, *run->tokenizer));
  TargetByteCounter bytes(val, *run->tokenizer, static_cast<int64_t>(B) * T);
  ExpertLoadCounter counted(bytes, **model);
  const int batches = f.batches > 0 ? f.batches : c.eval_batches;
  auto e = trainer::evaluate_model(**model, counted, batches);
  if (!e.ok()) return report_error(e.status());
  counted.finish();
  const double perplexity = std::exp(static_cast<double>(e->val_loss));
  const double bits_per_byte = bytes.bytes() > 0 ? static_cast<double>(e->val_loss) * static_cast<double>(bytes.tokens()) /
                                                       (std::log(2.0) * static_cast<double>(bytes.bytes()))
                                                 : std::nan("");
  if (f.json) {
    nlohmann::json j{{"val_loss", e->val_loss},
                     {"step", run->info.step},
                     {"batches", e->batches},
                     {"tokens", static_cast<int64_t>(e->batches) * B * T},
                     {"train_loss", run->info.train_loss},
                     {"checkpoint", run->info.dir},
                     {"data", dopt.data_path},
                     {"model", run->model.name},
                     {"perplexity", perplexity},
                     {"bits_per_byte", std::isnan(bits_per_byte) ? nlohmann::json(nullptr) : nlohmann::json(bits_per_byte)}};
    if (!counted.layers().empty()) {
      nlohmann::json load = nlohmann::json::object(), ratio = nlohmann::json::object();
      for (const auto& l : counted.layers()) {
        load[l.name] = l.load;
        ratio[l.name] = imbalance(l.load);
      }
      j["expert_load"] = load;  // token assignments per expert (the last moe layer of each block kind)
      j["expert_load_max_over_mean"] = ratio;
    }
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("step %lld | val_loss %.4f | perplexity %.2f | %.4f bits per byte | %d batches of %d x %d tokens | %s\n",
                static_cast<long long>(run->info.step), e->val_loss, perplexity, bits_per_byte, e->batches, B, T,
                run->info.dir.c_str());
    for (const auto& l : counted.layers()) {
      int64_t total = 0;
      for (int64_t n : l.load) total += n;
      std::printf("expert load %s (share per expert, max/mean %.2f):", l.name.c_str(), imbalance(l.load));
      for (int64_t n : l.load) std::printf(" %.3f", total > 0 ? static_cast<double>(n) / static_cast<double>(total) : 0.0);
      std::printf("\n");
    }
  }
  return kExitOk;
}

void register_eval(CLI::App& root, Action& run) {
  auto f = std::make_shared<EvalFlags>();
  CLI::App* cmd = root.add_subcommand(
      "eval", "validation loss, perplexity and bits per byte of a run's latest checkpoint or of a pretrained model");
  cmd->add_option("run_dir", f->run_dir, "run directory, or a pretrained model (.gguf file, Hugging Face directory)")
      ->required();
  cmd->add_flag("--json", f->json, "print one JSON object (val_loss, perplexity, bits_per_byte, step, ...)");
  cmd->add_option("--batches", f->batches, "validation batches (default: the run's eval_batches)");
  cmd->add_option("--data", f->data,
                  "evaluate on the held-out tail of this corpus instead of the run's (with --seq: the whole file)");
  CLI::Option* seq = cmd->add_option("--seq", f->seq,
                                     "score the whole --data file in windows of SEQ + 1 tokens (required for a pretrained model)");
  cmd->callback([&run, f, seq] {
    const bool seq_given = seq->count() > 0;
    run = [f, seq_given] { return eval_main(*f, seq_given); };
  });
}

}  // namespace
NS_REGISTER_COMMAND(register_eval);
}  // namespace app
