// Learning, CI-sized: a small model pre-trained with this engine on Shakespeare, stored as an NF4 base
// (and as fp32 for lora), then fine-tuned on a different text (the C++ headers of this repository)
// three ways — full, lora and qlora. Each must lower the validation loss on the new text clearly;
// the figures are printed side by side.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/atomic_file.h"
#include "trainer/data/batch_source.h"
#include "trainer/formats/checkpoint.h"
#include "trainer/model_config_toml.h"
#include "trainer/data/dataset.h"
#include "trainer/quant/base_file.h"
#include "trainer/tokenizers/tokenizer.h"
#include "trainer/trainer.h"

namespace trainer {
namespace {

namespace fs = std::filesystem;

ModelConfig small_model() {
  ModelConfig c;
  c.name = "learn-test";
  c.vocab_size = 256;
  c.d_model = 64;
  c.tied_embedding = true;
  c.blocks = {{{LayerKind::kAttn, LayerKind::kMlp}}, {{LayerKind::kAttn, LayerKind::kMlp}}};
  c.attn.n_heads = 4;
  c.mlp.d_ff = 192;
  return c;
}

struct Data {
  std::unique_ptr<TokenDataset> data;
  std::unique_ptr<SamplerBatchSource> train, val;
};

Data open_data(const std::string& path, const std::string& cache, const Tokenizer& tok, const RunShape& s) {
  DatasetOptions o;
  o.data_path = path;
  o.cache_dir = cache;
  o.val_fraction = 0.1;
  auto d = TokenDataset::open(o, tok);
  EXPECT_TRUE(d.ok()) << d.status().to_string();
  Data out;
  out.data = std::move(*d);
  out.train = std::make_unique<SamplerBatchSource>(*out.data, Split::kTrain, s.batch, s.seq_len, 1);
  out.val = std::make_unique<SamplerBatchSource>(*out.data, Split::kVal, s.batch, s.seq_len, 1);
  return out;
}

TEST(LoraLearning, FullLoraAndQloraAllLearnANewText) {
  const fs::path dir = fs::temp_directory_path() / ("ns_lora_learn_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  // Corpus A: the first 400 kB of Shakespeare. Corpus B: this repository's trainer headers.
  {
    std::ifstream in(std::string(NS_TEST_DATA_DIR) + "/tinyshakespeare.txt", std::ios::binary);
    if (!in) {  // like the other real-text learning tests: the shared data sits beside the repository
      fs::remove_all(dir);
      GTEST_SKIP() << NS_TEST_DATA_DIR << "/tinyshakespeare.txt is absent; skipping the fine-tuning learning test";
    }
    std::string a(400000, '\0');
    in.read(a.data(), static_cast<std::streamsize>(a.size()));
    a.resize(static_cast<size_t>(in.gcount()));
    ASSERT_TRUE(common::write_file_atomic((dir / "a.txt").string(), a).ok());
    std::vector<fs::path> headers;
    for (const auto& e : fs::recursive_directory_iterator(std::string(NS_SOURCE_DIR) + "/trainer"))
      if (e.path().extension() == ".h") headers.push_back(e.path());
    std::sort(headers.begin(), headers.end());
    std::string b;
    for (const fs::path& p : headers) b += *common::read_file(p.string());
    ASSERT_GT(b.size(), 60000u);
    ASSERT_TRUE(common::write_file_atomic((dir / "b.txt").string(), b).ok());
  }
  auto tok = make_tokenizer("byte");
  ASSERT_TRUE(tok.ok());
  RunShape shape;
  shape.batch = 8;
  shape.seq_len = 64;
  const std::string cache = (dir / "cache").string();
  Data a = open_data((dir / "a.txt").string(), cache, **tok, shape);
  Data b = open_data((dir / "b.txt").string(), cache, **tok, shape);

  // Pre-train on A and checkpoint.
  TrainOptions pre;
  pre.steps = 300;
  pre.threads = 1;  // a model this small gains nothing from a second thread that waits (and spins) on a busy machine
  pre.lr = 3e-3f;
  pre.min_lr = 3e-4f;
  pre.warmup = 20;
  pre.seed = 7;
  auto base_trainer = Trainer::create(small_model(), shape, pre, a.train.get(), a.val.get());
  ASSERT_TRUE(base_trainer.ok()) << base_trainer.status().to_string();
  for (int i = 0; i < pre.steps; ++i) ASSERT_TRUE((*base_trainer)->step().ok());
  const float pre_val_a = (*base_trainer)->evaluate(8)->val_loss;
  CheckpointInfo info;
  info.step = pre.steps;
  info.shape = shape;
  info.options = pre;
  info.model_toml = model_config_to_toml(small_model());
  info.tokenizer_spec = "byte";
  ASSERT_TRUE(save_checkpoint((dir / "pre").string(), (*base_trainer)->model(), info).ok());
  auto ckpt = BaseSource::open((dir / "pre").string());
  ASSERT_TRUE(ckpt.ok()) << ckpt.status().to_string();
  BaseInfo nf4_info = (*ckpt)->info();
  nf4_info.format = QuantFormat::kNF4;
  nf4_info.double_quant = true;
  ASSERT_TRUE(write_base_file((dir / "base-nf4.safetensors").string(), nf4_info, (*ckpt)->f32_lookup()).ok());
  auto nf4 = BaseSource::open((dir / "base-nf4.safetensors").string());
  ASSERT_TRUE(nf4.ok());

  // Fine-tune on B three ways, from the same weights.
  struct Figures {
    const char* mode;
    float before, after;
    int64_t trainable;
  };
  std::vector<Figures> results;
  for (TrainMode mode : {TrainMode::kFull, TrainMode::kLora, TrainMode::kQlora}) {
    RunShape s = shape;
    s.mode = mode;
    TrainOptions ft;
    ft.steps = 150;
    ft.threads = 1;
    ft.warmup = 10;
    ft.seed = 11;
    ft.lr = mode == TrainMode::kFull ? 1e-3f : 3e-3f;
    ft.min_lr = ft.lr / 10;
    if (mode != TrainMode::kFull) {
      s.lora_rank = 8;
      s.lora.alpha = 16;
      s.lora.base_format = mode == TrainMode::kQlora ? QuantFormat::kNF4 : QuantFormat::kF32;
      s.lora.double_quant = mode == TrainMode::kQlora;
    }
    b.train->seek(0);
    auto t = Trainer::create(small_model(), s, ft, b.train.get(), b.val.get());
    ASSERT_TRUE(t.ok()) << t.status().to_string();
    if (mode == TrainMode::kFull) {
      ASSERT_TRUE(load_checkpoint_tensors(*read_latest_checkpoint((dir / "pre").string()), (*t)->model(), false).ok());
    } else {
      ASSERT_TRUE((mode == TrainMode::kQlora ? **nf4 : **ckpt).fill((*t)->model()).ok());
    }
    const float before = (*t)->evaluate(8)->val_loss;
    for (int i = 0; i < ft.steps; ++i) ASSERT_TRUE((*t)->step().ok());
    const float after = (*t)->evaluate(8)->val_loss;
    results.push_back({train_mode_name(mode), before, after, (*t)->model().num_params()});
  }
  std::printf("pre-trained on Shakespeare: val loss %.3f; fine-tuning on C++ headers (150 steps, B 8, T 64):\n",
              pre_val_a);
  for (const Figures& r : results)
    std::printf("  %-6s trainable %8lld | val loss %.3f -> %.3f\n", r.mode, static_cast<long long>(r.trainable),
                r.before, r.after);
  for (const Figures& r : results) {
    EXPECT_LT(r.after, r.before - 0.4f) << r.mode;
  }
  // lora and qlora start from the same function up to NF4's rounding, and both learn.
  EXPECT_EQ(results[0].before, results[1].before);
  EXPECT_NEAR(results[2].before, results[1].before, 0.1f);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace trainer
