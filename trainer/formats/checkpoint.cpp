// Checkpoint writing (temporary directory, fsync, rename, `latest` pointer, pruning) and loading
// (scanning for the newest valid checkpoint, state.json parsing, size and checksum verification,
// tensors copied into the model's arenas).
#include "trainer/formats/checkpoint.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <vector>

#include "common/atomic_file.h"
#include "common/log.h"
#include "trainer/formats/checksum.h"
#include "trainer/lora/plan.h"
#include "trainer/formats/safetensors.h"

namespace trainer {

namespace fs = std::filesystem;
using common::Result;
using common::Status;
using nlohmann::json;

namespace {

constexpr const char* kFormat = "nightshift-checkpoint";
// Version 2 adds "state_crc32": the CRC-32 of the state object without that field, serialized
// compactly (nlohmann's dump(), keys in sorted order). Version 1 checkpoints (before it) are still
// read, with a warning that their state is not verified.
constexpr int kVersion = 2;
constexpr int kOldestVersion = 1;
constexpr const char* kStateCrcField = "state_crc32";
constexpr const char* kWeightsFile = "model.safetensors";
constexpr const char* kOptimizerFile = "optimizer.safetensors";

std::string step_dir_name(int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "step-%08lld", static_cast<long long>(step));
  return buf;
}


uint32_t state_crc(const json& state_without_crc) {
  const std::string text = state_without_crc.dump();
  return crc32(text.data(), text.size());
}

// state.json of a checkpoint, parsed and (version 2 on) checked against its own CRC-32, so a flipped
// step, data position or setting is found like a damaged weight file. Corruption naming the file.
Result<json> read_state_json(const std::string& state_path, bool warn_old = false) {
  auto text = common::read_file(state_path);
  if (!text.ok()) return text.status().with_context(state_path);
  json s = json::parse(*text, nullptr, false);
  if (s.is_discarded() || !s.is_object()) return Status::Corruption(state_path + ": not valid JSON (truncated?)");
  const json* version = s.contains("version") ? &s.at("version") : nullptr;
  if (!version || !version->is_number_integer()) return Status::Corruption(state_path + ": no checkpoint version");
  const int v = version->get<int>();
  if (v < kOldestVersion || v > kVersion) {
    return Status::Corruption(state_path + ": unsupported checkpoint version " + std::to_string(v));
  }
  if (v >= 2) {
    if (!s.contains(kStateCrcField) || !s.at(kStateCrcField).is_string()) {
      return Status::Corruption(state_path + ": no state checksum (damaged)");
    }
    const std::string recorded = s.at(kStateCrcField).get<std::string>();
    json body = s;
    body.erase(kStateCrcField);
    if (hex32(state_crc(body)) != recorded) {
      return Status::Corruption(state_path + ": checksum mismatch (the state file is damaged)");
    }
  } else if (warn_old) {
    common::log_warning(state_path + ": an old checkpoint (version 1) without a state checksum; its state is not verified");
  }
  return s;
}

Status fsync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::IOError(dir + ": cannot open directory: " + std::strerror(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return Status::IOError(dir + ": fsync: " + std::strerror(err));
  return Status::Ok();
}

// The folders of RUN_DIR/checkpoints: "step-<digits>" checkpoints, highest step first, and
// "step-<digits>.tmp" leftovers of unfinished writes.
struct CheckpointScan {
  std::vector<std::pair<int64_t, fs::path>> dirs;
  std::vector<fs::path> temps;
};

// The step of a "step-<digits>" name (with `suffix` after the digits), or -1.
int64_t parse_step_name(const std::string& n, const std::string& suffix) {
  if (n.size() <= 5 + suffix.size() || n.rfind("step-", 0) != 0) return -1;
  if (n.compare(n.size() - suffix.size(), suffix.size(), suffix) != 0) return -1;
  const std::string digits = n.substr(5, n.size() - 5 - suffix.size());
  if (digits.size() > 18 || !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return -1;
  return std::stoll(digits);
}

CheckpointScan scan_checkpoints(const fs::path& root) {
  CheckpointScan scan;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(root, ec)) {
    std::error_code dec;
    if (!e.is_directory(dec) || e.is_symlink(dec)) continue;
    const std::string n = e.path().filename().string();
    if (int64_t step = parse_step_name(n, ""); step >= 0) scan.dirs.emplace_back(step, e.path());
    else if (parse_step_name(n, ".tmp") >= 0) scan.temps.push_back(e.path());
  }
  std::sort(scan.dirs.begin(), scan.dirs.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  return scan;
}

Status prune(const std::string& run_dir, int keep, const fs::path& fresh);

// read_checkpoint_dir + verify_checkpoint_files.
Result<CheckpointInfo> read_valid_checkpoint(const std::string& dir) {
  NS_ASSIGN_OR_RETURN(CheckpointInfo info, read_checkpoint_dir(dir));
  NS_RETURN_IF_ERROR(verify_checkpoint_files(info));
  info.files_verified = true;
  return info;
}

json options_to_json(const TrainOptions& o) {
  return json{{"steps", o.steps},   {"accum", o.accum},   {"lr", o.lr},
              {"min_lr", o.min_lr}, {"warmup", o.warmup}, {"weight_decay", o.weight_decay},
              {"beta1", o.beta1},   {"beta2", o.beta2},   {"adam_eps", o.adam_eps},
              {"grad_clip", o.grad_clip}, {"seed", o.seed}, {"threads", o.threads}};
}

void options_from_json(const json& j, TrainOptions* o) {
  o->steps = j.at("steps").get<int64_t>();
  o->accum = j.at("accum").get<int>();
  o->lr = j.at("lr").get<float>();
  o->min_lr = j.at("min_lr").get<float>();
  o->warmup = j.at("warmup").get<int64_t>();
  o->weight_decay = j.at("weight_decay").get<float>();
  o->beta1 = j.at("beta1").get<float>();
  o->beta2 = j.at("beta2").get<float>();
  o->adam_eps = j.at("adam_eps").get<float>();
  o->grad_clip = j.at("grad_clip").get<float>();
  o->seed = j.at("seed").get<uint64_t>();
  o->threads = j.at("threads").get<int>();
}

TrainMode mode_from_name(const std::string& s) {
  if (s == "lora") return TrainMode::kLora;
  if (s == "qlora") return TrainMode::kQlora;
  return TrainMode::kFull;
}

// The lora/qlora settings of a shape (RunShape::lora) and the adapters' current rank.
json lora_to_json(const RunShape& s, int active_rank) {
  return json{{"rank_max", lora_rank_capacity(s)}, {"alpha", s.lora.alpha},
              {"targets", s.lora.targets},         {"base_format", quant_format_name(s.lora.base_format)},
              {"double_quant", s.lora.double_quant}, {"rank_floor", s.lora.rank_floor},
              {"base_id", s.lora.base_id},         {"active_rank", active_rank},
              {"mapped_base", s.lora.mapped_base}, {"mapped_encoding", s.lora.mapped_encoding},
              {"compute_dtype", quant::compute_dtype_name(s.lora.compute_dtype)}};
}

void lora_from_json(const json& j, RunShape* s, int* active_rank) {
  s->lora.rank_max = j.at("rank_max").get<int>();
  s->lora.alpha = j.at("alpha").get<double>();
  s->lora.targets = j.at("targets").get<std::vector<std::string>>();
  auto f = parse_quant_format(j.at("base_format").get<std::string>());
  if (!f.ok()) throw std::runtime_error(f.status().message());
  s->lora.base_format = *f;
  s->lora.double_quant = j.at("double_quant").get<bool>();
  s->lora.rank_floor = j.value("rank_floor", 0);
  s->lora.base_id = j.value("base_id", "");
  s->lora.mapped_base = j.value("mapped_base", false);
  s->lora.mapped_encoding = j.value("mapped_encoding", "");
  s->lora.compute_dtype = j.value("compute_dtype", "fp32") == "bf16" ? quant::ComputeDtype::kBf16 : quant::ComputeDtype::kF32;
  *active_rank = j.at("active_rank").get<int>();
}

// A file listed in state.json: its size, and its CRC-32 ("crc32"; checkpoints written before it
// recorded FNV-1a 64 as "fnv1a64", still accepted).
Status verify_file(const std::string& path, const json& files, const char* name) {
  if (!files.contains(name)) return Status::Corruption(path + ": not listed in state.json");
  const json& f = files.at(name);
  auto sums = file_sums(path);
  if (!sums.ok()) return sums.status();
  if (sums->bytes != f.at("bytes").get<uint64_t>()) {
    return Status::Corruption(path + ": truncated or damaged (" + std::to_string(sums->bytes) + " bytes, expected " +
                              std::to_string(f.at("bytes").get<uint64_t>()) + ")");
  }
  const bool ok = f.contains("crc32") ? hex32(sums->crc32) == f.at("crc32").get<std::string>()
                                      : hex64(sums->fnv1a64) == f.at("fnv1a64").get<std::string>();
  if (!ok) return Status::Corruption(path + ": checksum mismatch (the file is damaged)");
  return Status::Ok();
}

}  // namespace


bool has_checkpoint(const std::string& run_dir) {
  const fs::path root = fs::path(run_dir) / "checkpoints";
  std::error_code ec;
  return fs::exists(root / "latest", ec) || !scan_checkpoints(root).dirs.empty();
}

namespace {

// Moves the finished folder `tmp` to `final_dir`. When final_dir exists (the same step saved again,
// or a damaged checkpoint of that step), the two are swapped atomically so that a crash never leaves
// neither, and the old one (now at tmp) is deleted.
Status move_into_place(const fs::path& tmp, const fs::path& final_dir) {
  std::error_code ec;
  if (fs::exists(final_dir, ec)) {
    if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, final_dir.c_str(), RENAME_EXCHANGE) == 0) {
      fs::remove_all(tmp, ec);
      return Status::Ok();
    }
    if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
      return Status::IOError(final_dir.string() + ": cannot swap the checkpoint into place: " + std::strerror(errno));
    fs::remove_all(final_dir, ec);  // no RENAME_EXCHANGE here: older checkpoints cover the gap
  }
  if (::rename(tmp.c_str(), final_dir.c_str()) != 0)
    return Status::IOError(final_dir.string() + ": cannot rename the checkpoint into place: " + std::strerror(errno));
  return Status::Ok();
}

}  // namespace

Status save_checkpoint(const std::string& run_dir, const Model& model, const CheckpointInfo& info, int keep_last) {
  const fs::path root = fs::path(run_dir) / "checkpoints";
  std::error_code ec;
  const bool root_existed = fs::is_directory(root, ec);
  fs::create_directories(root, ec);
  if (ec) return Status::IOError(root.string() + ": cannot create directory: " + ec.message());
  if (!root_existed) NS_RETURN_IF_ERROR(fsync_dir(root.parent_path().string()));
  const std::string name = step_dir_name(info.step);
  const fs::path tmp = root / (name + ".tmp");
  const fs::path final_dir = root / name;
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  if (ec) return Status::IOError(tmp.string() + ": cannot create directory: " + ec.message());

  const TensorStore& store = model.tensors();
  std::vector<TensorRef> weights, moments;
  for (size_t i = 0; i < store.specs().size(); ++i) {
    const TensorSpec& s = store.specs()[i];
    TensorRef r{s.name, s.dtype, s.shape, store.data(i), s.bytes};
    if (s.role == TensorRole::kWeight || s.role == TensorRole::kFrozenWeight) weights.push_back(r);
    if (s.role == TensorRole::kOptimizerMoment) moments.push_back(r);
  }
  const std::map<std::string, std::string> meta{{"format", kFormat}, {"step", std::to_string(info.step)}};
  json files = json::object();
  // Each file: written to a temporary name, fsynced, renamed, the folder fsynced (write_safetensors).
  auto write_one = [&](const char* file, const std::vector<TensorRef>& tensors) -> Status {
    const std::string path = (tmp / file).string();
    NS_RETURN_IF_ERROR(write_safetensors(path, tensors, meta));
    NS_ASSIGN_OR_RETURN(FileSums sums, file_sums(path));
    files[file] = json{{"bytes", sums.bytes}, {"crc32", hex32(sums.crc32)}};
    return Status::Ok();
  };
  auto write_all = [&]() -> Status {
    NS_RETURN_IF_ERROR(write_one(kWeightsFile, weights));
    if (!moments.empty()) NS_RETURN_IF_ERROR(write_one(kOptimizerFile, moments));
    json run = json::parse(info.run_json, nullptr, /*allow_exceptions=*/false);
    if (run.is_discarded()) run = json::object();
    json state{{"format", kFormat},
               {"version", kVersion},
               {"step", info.step},
               {"train_position", info.train_position},
               {"rng", {hex64(info.rng[0]), hex64(info.rng[1]), hex64(info.rng[2]), hex64(info.rng[3])}},
               {"options", options_to_json(info.options)},
               {"shape",
                {{"batch", info.shape.batch},
                 {"seq_len", info.shape.seq_len},
                 {"grad_checkpoint", info.shape.grad_checkpoint},
                 {"mode", train_mode_name(info.shape.mode)},
                 {"lora_rank", info.shape.lora_rank}}},
               {"lora", model.lora() == nullptr ? json(nullptr) : lora_to_json(model.shape(), model.lora()->rank())},
               {"model_toml", info.model_toml},
               {"tokenizer", info.tokenizer_spec},
               {"run", run},
               {"train_loss", info.train_loss},
               {"val_loss", info.val_loss},
               {"files", files}};
    state[kStateCrcField] = hex32(state_crc(state));
    NS_RETURN_IF_ERROR(common::write_file_atomic((tmp / "state.json").string(), state.dump(2) + "\n"));
    NS_RETURN_IF_ERROR(fsync_dir(tmp.string()));
    NS_RETURN_IF_ERROR(move_into_place(tmp, final_dir));
    return fsync_dir(root.string());
  };
  Status written = write_all();
  if (!written.ok()) {
    fs::remove_all(tmp, ec);
    return Status::IOError("checkpoint of step " + std::to_string(info.step) + " not written (the previous " +
                           "checkpoints are intact): " + written.message());
  }

  Status latest = common::write_file_atomic((root / "latest").string(), name + "\n");
  if (!latest.ok()) common::log_warning("checkpoint " + final_dir.string() + " is saved, but " + latest.message());
  Status pruned = prune(run_dir, keep_last, final_dir);
  if (!pruned.ok()) common::log_warning("checkpoint " + final_dir.string() + " is saved, but pruning failed: " + pruned.message());
  return Status::Ok();
}

Result<CheckpointInfo> read_latest_checkpoint(const std::string& run_dir) {
  const fs::path root = fs::path(run_dir) / "checkpoints";
  const CheckpointScan scan = scan_checkpoints(root);
  for (const fs::path& t : scan.temps) {
    common::log_warning(t.string() + ": an unfinished checkpoint (being written, or interrupted while it was); ignored");
  }
  if (scan.dirs.empty()) return Status::NotFound(run_dir + ": no checkpoint (nothing in " + root.string() + ")");
  std::string newest_error;
  for (const auto& [step, dir] : scan.dirs) {
    auto info = read_valid_checkpoint(dir.string());
    if (info.ok()) return info;
    common::log_warning(info.status().message() + "; skipping this checkpoint, trying an older one");
    if (newest_error.empty()) newest_error = info.status().message();
  }
  return Status::Corruption(newest_error + " (no valid checkpoint in " + root.string() + ": all " +
                            std::to_string(scan.dirs.size()) + " are damaged or incomplete)");
}

Result<CheckpointInfo> read_newest_checkpoint_state(const std::string& run_dir) {
  const fs::path root = fs::path(run_dir) / "checkpoints";
  for (const auto& [step, dir] : scan_checkpoints(root).dirs) {
    auto info = read_checkpoint_dir(dir.string());
    if (info.ok()) return info;
  }
  return Status::NotFound(run_dir + ": no checkpoint (nothing in " + root.string() + ")");
}

namespace {

// prune_checkpoints, with `fresh` (when not empty) a checkpoint folder known to be valid because it
// was just written and its checksums computed from the files on disk: it is not hashed again.
Status prune(const std::string& run_dir, int keep, const fs::path& fresh) {
  const fs::path root = fs::path(run_dir) / "checkpoints";
  const CheckpointScan scan = scan_checkpoints(root);
  std::string first_failure;
  auto remove = [&](const fs::path& p) {
    std::error_code ec;
    fs::remove_all(p, ec);
    if (ec && first_failure.empty()) first_failure = p.string() + ": cannot delete: " + ec.message();
  };
  // A checkpoint folder is deleted under an exclusive lock on its state.json; one a reader has
  // pinned (CheckpointPin: a shared lock) stays until the next prune.
  auto remove_checkpoint = [&](const fs::path& dir) {
    const int fd = ::open((dir / "state.json").c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0 && ::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      ::close(fd);
      return;  // pinned
    }
    remove(dir);
    if (fd >= 0) ::close(fd);
  };
  for (const fs::path& t : scan.temps) remove(t);
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(root, ec)) {  // "latest.tmp.<pid>" of an interrupted update
    if (e.path().filename().string().rfind("latest.tmp.", 0) == 0) remove(e.path());
  }
  if (keep > 0) {
    int valid = 0;
    for (const auto& [step, dir] : scan.dirs) {
      if (valid >= keep) {
        remove_checkpoint(dir);
      } else if (dir == fresh || read_valid_checkpoint(dir.string()).ok()) {
        ++valid;
      } else if (valid > 0) {
        remove_checkpoint(dir);  // damaged and superseded by a newer valid checkpoint
      }
    }
  }
  if (!first_failure.empty()) return Status::IOError(first_failure);
  return Status::Ok();
}

}  // namespace

Status prune_checkpoints(const std::string& run_dir, int keep) { return prune(run_dir, keep, fs::path()); }

CheckpointPin::~CheckpointPin() {
  if (fd_ >= 0) ::close(fd_);
}

CheckpointPin& CheckpointPin::operator=(CheckpointPin&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

Result<CheckpointPin> CheckpointPin::pin(const std::string& dir) {
  const std::string state = dir + "/state.json";
  CheckpointPin p;
  p.fd_ = ::open(state.c_str(), O_RDONLY | O_CLOEXEC);
  if (p.fd_ < 0) {
    if (errno == ENOENT) return Status::NotFound(state + ": missing (pruned?)");
    return Status::IOError(state + ": cannot open: " + std::strerror(errno));
  }
  if (::flock(p.fd_, LOCK_SH) != 0) return Status::IOError(state + ": cannot lock: " + std::strerror(errno));
  // A prune that held the exclusive lock may have deleted the folder before we got the shared one.
  std::error_code ec;
  if (!fs::exists(state, ec)) return Status::NotFound(state + ": pruned while being pinned");
  return p;
}

Result<CheckpointInfo> read_latest_checkpoint_pinned(const std::string& run_dir, CheckpointPin* pin) {
  for (int attempt = 0;; ++attempt) {
    NS_ASSIGN_OR_RETURN(CheckpointInfo newest, read_latest_checkpoint(run_dir));
    auto pinned = CheckpointPin::pin(newest.dir);
    if (!pinned.ok()) {
      if (pinned.status().code() == common::StatusCode::kNotFound && attempt < 10) continue;
      return pinned.status();
    }
    // Pinned: read it again, so what is returned is what is on disk under the pin.
    auto info = read_valid_checkpoint(newest.dir);
    if (!info.ok()) {
      if (attempt < 10) continue;
      return info.status();
    }
    *pin = std::move(*pinned);
    return info;
  }
}

Status verify_checkpoint_files(const CheckpointInfo& info) {
  const std::string state_path = info.dir + "/state.json";
  NS_ASSIGN_OR_RETURN(json s, read_state_json(state_path));
  if (!s.contains("files") || !s.at("files").is_object())
    return Status::Corruption(state_path + ": no 'files' (truncated?)");
  const json& files = s.at("files");
  if (!files.contains(kWeightsFile)) return Status::Corruption(state_path + ": lists no " + std::string(kWeightsFile));
  for (const auto& [file, entry] : files.items()) {
    if (file.empty() || file.find('/') != std::string::npos)
      return Status::Corruption(state_path + ": bad file name '" + file + "'");
    try {
      NS_RETURN_IF_ERROR(verify_file(info.dir + "/" + file, files, file.c_str()));
    } catch (const std::exception&) {
      return Status::Corruption(state_path + ": malformed entry for " + file);
    }
  }
  return Status::Ok();
}

Result<CheckpointInfo> read_checkpoint_dir(const std::string& dir) {
  const std::string state_path = dir + "/state.json";
  NS_ASSIGN_OR_RETURN(json s, read_state_json(state_path, /*warn_old=*/true));
  CheckpointInfo info;
  try {
    if (s.at("format").get<std::string>() != kFormat) return Status::Corruption(state_path + ": not a nightshift checkpoint");
    info.step = s.at("step").get<int64_t>();
    info.train_position = s.at("train_position").get<uint64_t>();
    for (int i = 0; i < 4; ++i) info.rng[i] = std::stoull(s.at("rng").at(i).get<std::string>(), nullptr, 16);
    options_from_json(s.at("options"), &info.options);
    const json& sh = s.at("shape");
    info.shape.batch = sh.at("batch").get<int>();
    info.shape.seq_len = sh.at("seq_len").get<int>();
    info.shape.grad_checkpoint = sh.at("grad_checkpoint").get<bool>();
    info.shape.mode = mode_from_name(sh.at("mode").get<std::string>());
    info.shape.lora_rank = sh.at("lora_rank").get<int>();
    if (s.contains("lora") && s.at("lora").is_object()) lora_from_json(s.at("lora"), &info.shape, &info.lora_active_rank);
    info.model_toml = s.at("model_toml").get<std::string>();
    info.tokenizer_spec = s.at("tokenizer").get<std::string>();
    info.run_json = s.at("run").dump();
    info.train_loss = s.at("train_loss").get<float>();
    info.val_loss = s.at("val_loss").get<float>();
    if (!s.at("files").is_object()) return Status::Corruption(state_path + ": 'files' is not an object");
  } catch (const std::exception& e) {
    return Status::Corruption(state_path + ": missing or malformed field (" + e.what() + ")");
  }
  info.dir = dir;
  return info;
}

Status load_checkpoint_tensors(const CheckpointInfo& info, Model& model, bool with_optimizer) {
  const std::string state_path = info.dir + "/state.json";
  NS_ASSIGN_OR_RETURN(json s, read_state_json(state_path));
  if (!s.contains("files")) return Status::Corruption(state_path + ": no 'files' (truncated?)");
  const json& files = s.at("files");

  auto load = [&](const char* file, auto wanted) -> Status {
    const std::string path = info.dir + "/" + file;
    if (!info.files_verified) {
      try {
        NS_RETURN_IF_ERROR(verify_file(path, files, file));
      } catch (const std::exception&) {
        return Status::Corruption(state_path + ": malformed entry for " + file);
      }
    }
    NS_ASSIGN_OR_RETURN(auto st, SafetensorsFile::open(path));
    const TensorStore& store = model.tensors();
    for (size_t i = 0; i < store.specs().size(); ++i) {
      const TensorSpec& spec = store.specs()[i];
      if (!wanted(spec)) continue;
      auto e = st->get(spec.name, spec.dtype, spec.shape);
      if (!e.ok()) return e.status();
      std::memcpy(store.data(i), (*e)->data, spec.bytes);
    }
    return Status::Ok();
  };
  NS_RETURN_IF_ERROR(load(kWeightsFile, [](const TensorSpec& t) {
    return t.role == TensorRole::kWeight || t.role == TensorRole::kFrozenWeight;
  }));
  if (with_optimizer) {
    NS_RETURN_IF_ERROR(load(kOptimizerFile, [](const TensorSpec& t) { return t.role == TensorRole::kOptimizerMoment; }));
  }
  if (model.lora() != nullptr && info.lora_active_rank > 0) {
    NS_RETURN_IF_ERROR(model.lora()->restore_rank(info.lora_active_rank).with_context(state_path));
  }
  return Status::Ok();
}

}  // namespace trainer
