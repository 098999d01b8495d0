// RunConfig from TOML (toml++) and to/from JSON (nlohmann-json).
#include "app/train/run_config.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string_view>
#include <vector>

#include "app/train/run_paths.h"
#include "common/atomic_file.h"
#include "common/float_text.h"
#include "common/log.h"
#include "common/toml/toml_fields.h"

namespace app {

using common::Result;
using common::Status;
using nlohmann::json;

namespace {

using common::tomlf::Fields;
using common::tomlf::where;

// The run's fields take toml++'s conversions (a boolean as 0/1 where an integer is asked for, an
// integer where a boolean is), as they always have; integers are stored without a range check
// (validate_run_config checks the values).
constexpr common::tomlf::Types kTypes = common::tomlf::Types::kConversions;

// Levenshtein distance, for "did you mean" suggestions.
size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// " (did you mean 'train'?)" for the closest of `names` when it is close enough, else "".
std::string suggestion(std::string_view name, std::initializer_list<const char*> names, const char* open = "'",
                       const char* close = "'") {
  const char* best = nullptr;
  size_t best_d = 0;
  for (const char* n : names) {
    const size_t d = edit_distance(name, n);
    if (!best || d < best_d) best = n, best_d = d;
  }
  if (!best || best_d > std::max<size_t>(2, name.size() / 2)) return "";
  return std::string(" (did you mean ") + open + best + close + "?)";
}

Status known_keys(const toml::table& t, std::initializer_list<const char*> keys, const char* table,
                  const std::string& file) {
  for (auto&& [k, v] : t) {
    bool ok = false;
    for (const char* key : keys) ok = ok || k.str() == key;
    if (!ok) {
      return Status::InvalidArgument(where(v, file) + ": unknown key '" + std::string(k.str()) + "' in [" + table + "]" +
                                     suggestion(k.str(), keys));
    }
  }
  return Status::Ok();
}

// The run TOML's tables: [model], [data], [train] here, [lora] in app/train/lora_run.cpp. Anything else at
// the top level (a misspelled [trian], a key outside any table) would be silently ignored: refused.
Status known_tables(const toml::table& doc, const std::string& file) {
  static constexpr std::initializer_list<const char*> kTables = {"model", "data", "train", "lora"};
  for (auto&& [k, v] : doc) {
    bool ok = false;
    for (const char* t : kTables) ok = ok || k.str() == t;
    if (ok) continue;
    if (v.is_table()) {
      return Status::InvalidArgument(where(v, file) + ": unknown table [" + std::string(k.str()) + "]" +
                                     suggestion(k.str(), kTables, "[", "]") +
                                     "; the run config has [model], [data], [train] and [lora]");
    }
    return Status::InvalidArgument(where(v, file) + ": unknown key '" + std::string(k.str()) +
                                   "' outside any table; the run config has [model], [data], [train] and [lora]");
  }
  return Status::Ok();
}

// A path in the config is relative to the config file's directory.
std::string relative_to(const std::string& path, const std::string& file) {
  if (path.empty() || path[0] == '/' || file.empty()) return path;
  return (std::filesystem::path(file).parent_path() / path).string();
}

}  // namespace

bool same_file_path(const std::string& a, const std::string& b) {
  if (a == b) return true;
  if (a.empty() || b.empty()) return false;
  std::error_code ea, eb;
  const std::filesystem::path ca = std::filesystem::weakly_canonical(std::filesystem::absolute(a), ea);
  const std::filesystem::path cb = std::filesystem::weakly_canonical(std::filesystem::absolute(b), eb);
  return !ea && !eb && ca == cb;
}

std::string default_run_dir(const std::string& model_name) {
  std::string safe = model_name;
  for (char& ch : safe) {
    const bool plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                       ch == '.' || ch == '_' || ch == '+' || ch == '-';
    if (!plain) ch = '_';
  }
  if (safe.empty()) safe = "model";
  if (safe[0] == '.') safe[0] = '_';
  return "runs/" + safe;
}

RunConfig default_run_config() {
  RunConfig c;
  c.model = *trainer::model_preset("gpt-tiny");
  c.shape.batch = 12;
  c.shape.seq_len = 64;
  c.train.steps = 1000;
  c.train.lr = 1e-3f;
  c.train.min_lr = 1e-4f;
  c.train.warmup = 100;
  c.train.weight_decay = 0.1f;
  c.train.grad_clip = 1.0f;
  return c;
}

Status apply_run_config_toml(std::string_view text, const std::string& file, RunConfig* c) {
  toml::table doc;
  try {
    doc = toml::parse(text, file);
  } catch (const toml::parse_error& e) {
    return common::tomlf::parse_error(e, file);
  }
  NS_RETURN_IF_ERROR(known_tables(doc, file));
  if (const toml::node* m = doc.get("model")) {
    const toml::table* mt = m->as_table();
    if (!mt) return Status::InvalidArgument(where(*m, file) + ": [model] must be a table");
    if (const toml::node* f = mt->get("file")) {
      auto path = f->value<std::string>();
      if (!path || mt->size() != 1) {
        return Status::InvalidArgument(where(*f, file) + ": [model] file = \"...\" must be a string and the only key");
      }
      auto model = trainer::load_model_config_file(relative_to(*path, file));
      if (!model.ok()) return model.status();
      c->model = *model;
      c->model_source = relative_to(*path, file);
    } else {
      toml::table only;
      only.insert("model", *mt);
      std::ostringstream os;
      os << only;
      auto model = trainer::parse_model_config_toml(os.str(), file);
      if (!model.ok()) return model.status();
      c->model = *model;
      c->model_source = file;
    }
  }
  if (const toml::node* d = doc.get("data")) {
    const toml::table* t = d->as_table();
    if (!t) return Status::InvalidArgument(where(*d, file) + ": [data] must be a table");
    NS_RETURN_IF_ERROR(known_keys(*t,
                                  {"path", "tokenizer", "val_fraction", "val_path", "chat_template", "train_on",
                                   "packing", "long_examples"},
                                  "data", file));
    const Fields fields(*t, file, kTypes);
    NS_RETURN_IF_ERROR(fields.string("path", &c->data_path));
    c->data_path = relative_to(c->data_path, file);
    NS_RETURN_IF_ERROR(fields.string("val_path", &c->val_data_path));
    if (!c->val_data_path.empty()) c->val_data_path = relative_to(c->val_data_path, file);
    NS_RETURN_IF_ERROR(fields.string("chat_template", &c->chat_template));
    NS_RETURN_IF_ERROR(fields.string("train_on", &c->train_on));
    NS_RETURN_IF_ERROR(fields.boolean("packing", &c->packing));
    NS_RETURN_IF_ERROR(fields.string("long_examples", &c->long_examples));
    NS_RETURN_IF_ERROR(fields.string("tokenizer", &c->tokenizer));
    NS_RETURN_IF_ERROR(fields.number("val_fraction", &c->val_fraction));
  }
  if (const toml::node* tr = doc.get("train")) {
    const toml::table* t = tr->as_table();
    if (!t) return Status::InvalidArgument(where(*tr, file) + ": [train] must be a table");
    NS_RETURN_IF_ERROR(known_keys(*t,
                                  {"steps", "batch", "seq_len", "seq", "accum", "lr", "min_lr", "warmup", "weight_decay",
                                   "grad_clip", "beta1", "beta2", "seed", "threads", "grad_checkpoint", "eval_every",
                                   "eval_batches", "checkpoint_every", "log_every", "out"},
                                  "train", file));
    const Fields fields(*t, file, kTypes);
    NS_RETURN_IF_ERROR(fields.integer("steps", &c->train.steps));
    NS_RETURN_IF_ERROR(fields.integer("batch", &c->shape.batch));
    // The sequence length is `--seq` on the command line: `seq` and `seq_len` both work here.
    if (t->contains("seq") && t->contains("seq_len")) {
      return Status::InvalidArgument(where(*t->get("seq"), file) + ": [train] has both seq and seq_len; keep one");
    }
    NS_RETURN_IF_ERROR(fields.integer("seq_len", &c->shape.seq_len));
    NS_RETURN_IF_ERROR(fields.integer("seq", &c->shape.seq_len));
    NS_RETURN_IF_ERROR(fields.integer("accum", &c->train.accum));
    NS_RETURN_IF_ERROR(fields.number("lr", &c->train.lr));
    NS_RETURN_IF_ERROR(fields.number("min_lr", &c->train.min_lr));
    NS_RETURN_IF_ERROR(fields.integer("warmup", &c->train.warmup));
    NS_RETURN_IF_ERROR(fields.number("weight_decay", &c->train.weight_decay));
    NS_RETURN_IF_ERROR(fields.number("grad_clip", &c->train.grad_clip));
    NS_RETURN_IF_ERROR(fields.number("beta1", &c->train.beta1));
    NS_RETURN_IF_ERROR(fields.number("beta2", &c->train.beta2));
    NS_RETURN_IF_ERROR(fields.integer("seed", &c->train.seed));
    NS_RETURN_IF_ERROR(fields.integer("threads", &c->train.threads));
    NS_RETURN_IF_ERROR(fields.boolean("grad_checkpoint", &c->shape.grad_checkpoint));
    NS_RETURN_IF_ERROR(fields.integer("eval_every", &c->eval_every));
    NS_RETURN_IF_ERROR(fields.integer("eval_batches", &c->eval_batches));
    NS_RETURN_IF_ERROR(fields.integer("checkpoint_every", &c->checkpoint_every));
    NS_RETURN_IF_ERROR(fields.integer("log_every", &c->log_every));
    NS_RETURN_IF_ERROR(fields.string("out", &c->out_dir));
  }
  c->config_file = file;
  return Status::Ok();
}

Status load_run_config_file(const std::string& path, RunConfig* c) {
  auto text = common::read_file(path);
  if (!text.ok()) {
    if (text.status().code() == common::StatusCode::kNotFound) return Status::NotFound(path + ": no such run config file");
    return text.status().with_context(path);
  }
  return apply_run_config_toml(*text, path, c);
}

Status validate_run_config(const RunConfig& c) {
  auto bad = [](const std::string& what) { return Status::InvalidArgument(what); };
  if (c.shape.batch < 1 || c.shape.batch > 1 << 16) return bad("--batch must be between 1 and 65536");
  if (c.shape.seq_len < 2 || c.shape.seq_len > 1 << 20) return bad("--seq must be between 2 and 1048576");
  if (c.train.steps < 1) return bad("--steps must be at least 1");
  if (c.train.accum < 1) return bad("--accum must be at least 1");
  if (!(c.train.lr > 0) || c.train.lr > 10) return bad("--lr must be in (0, 10]");
  // Written as !(x >= 0) so that NaN is refused too.
  if (!(c.train.min_lr >= 0 && c.train.min_lr <= c.train.lr)) return bad("--min-lr must be between 0 and --lr");
  if (c.train.warmup < 0) return bad("--warmup must not be negative");
  if (!(c.train.weight_decay >= 0) || std::isinf(c.train.weight_decay)) {
    return bad("--weight-decay must be a finite number, not negative");
  }
  if (!(c.train.grad_clip >= 0) || std::isinf(c.train.grad_clip)) {
    return bad("--grad-clip must be a finite number, not negative (0 disables clipping)");
  }
  if (!(c.train.beta1 >= 0 && c.train.beta1 < 1) || !(c.train.beta2 >= 0 && c.train.beta2 < 1)) {
    return bad("beta1 and beta2 must be in [0, 1)");
  }
  if (c.train.threads < 0) return bad("--threads must not be negative (0 = all cores)");
  if (c.eval_every < 0 || c.checkpoint_every < 0) return bad("--eval-every and --checkpoint-every must not be negative");
  if (c.eval_batches < 1) return bad("--eval-batches must be at least 1");
  if (!(c.val_fraction > 0 && c.val_fraction < 1)) return bad("val_fraction must be between 0 and 1");
  if (c.log_every < 1) return bad("log_every must be at least 1");
  if (c.train_on != "auto" && c.train_on != "assistant" && c.train_on != "all" && c.train_on != "completion" &&
      c.train_on != "last")
    return bad("--train-on must be assistant, all, completion or last (got '" + c.train_on + "')");
  if (c.long_examples != "truncate" && c.long_examples != "split")
    return bad("--long-examples must be truncate or split (got '" + c.long_examples + "')");
  return Status::Ok();
}

std::string run_config_to_json(const RunConfig& c) {
  json j{{"model_source", c.model_source},
         {"data",
          {{"path", c.data_path}, {"tokenizer", c.tokenizer}, {"val_fraction", c.val_fraction},
           {"val_path", c.val_data_path}, {"chat_template", c.chat_template}, {"train_on", c.train_on},
           {"packing", c.packing}, {"long_examples", c.long_examples}}},
         {"train",
          {{"steps", c.train.steps}, {"batch", c.shape.batch}, {"seq_len", c.shape.seq_len},
           {"accum", c.train.accum}, {"lr", common::float_as_decimal(c.train.lr)}, {"min_lr", common::float_as_decimal(c.train.min_lr)}, {"warmup", c.train.warmup},
           {"weight_decay", common::float_as_decimal(c.train.weight_decay)}, {"grad_clip", common::float_as_decimal(c.train.grad_clip)}, {"beta1", common::float_as_decimal(c.train.beta1)},
           {"beta2", common::float_as_decimal(c.train.beta2)}, {"seed", c.train.seed}, {"threads", c.train.threads},
           {"grad_checkpoint", c.shape.grad_checkpoint}, {"eval_every", c.eval_every},
           {"eval_batches", c.eval_batches}, {"checkpoint_every", c.checkpoint_every}, {"log_every", c.log_every},
           {"out", c.out_dir}}},
         {"config_file", c.config_file}};
  return j.dump();
}

Result<RunConfig> run_config_from_json(const std::string& text, const std::string& source) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Status::Corruption(source + ": the run config is not valid JSON");
  RunConfig c = default_run_config();
  try {
    c.model_source = j.value("model_source", c.model_source);
    const json& d = j.at("data");
    c.data_path = d.at("path").get<std::string>();
    c.tokenizer = d.at("tokenizer").get<std::string>();
    c.val_fraction = d.at("val_fraction").get<double>();
    // Absent in runs of versions before chat data: their defaults.
    c.val_data_path = d.value("val_path", std::string());
    c.chat_template = d.value("chat_template", std::string());
    c.train_on = d.value("train_on", std::string("auto"));
    c.packing = d.value("packing", true);
    c.long_examples = d.value("long_examples", std::string("truncate"));
    const json& t = j.at("train");
    c.train.steps = t.at("steps").get<int64_t>();
    c.shape.batch = t.at("batch").get<int>();
    c.shape.seq_len = t.at("seq_len").get<int>();
    c.train.accum = t.at("accum").get<int>();
    c.train.lr = t.at("lr").get<float>();
    c.train.min_lr = t.at("min_lr").get<float>();
    c.train.warmup = t.at("warmup").get<int64_t>();
    c.train.weight_decay = t.at("weight_decay").get<float>();
    c.train.grad_clip = t.at("grad_clip").get<float>();
    c.train.beta1 = t.at("beta1").get<float>();
    c.train.beta2 = t.at("beta2").get<float>();
    c.train.seed = t.at("seed").get<uint64_t>();
    c.train.threads = t.at("threads").get<int>();
    c.shape.grad_checkpoint = t.at("grad_checkpoint").get<bool>();
    c.eval_every = t.at("eval_every").get<int>();
    c.eval_batches = t.at("eval_batches").get<int>();
    c.checkpoint_every = t.at("checkpoint_every").get<int>();
    c.log_every = t.at("log_every").get<int>();
    c.out_dir = t.at("out").get<std::string>();
    c.config_file = j.value("config_file", std::string());
  } catch (const std::exception& e) {
    return Status::Corruption(source + ": the run config is missing a field (" + e.what() + ")");
  }
  return c;
}

std::vector<std::string> run_config_differences(const std::string& old_json, const std::string& new_json) {
  std::vector<std::string> out;
  json a = json::parse(old_json, nullptr, false), b = json::parse(new_json, nullptr, false);
  if (!a.is_object() || !b.is_object()) return out;
  static const char* kCompared[][2] = {
      {"data", "path"},   {"data", "tokenizer"}, {"data", "val_fraction"}, {"train", "batch"},
      {"train", "seq_len"}, {"train", "accum"},  {"train", "lr"},           {"train", "min_lr"},
      {"train", "weight_decay"}, {"train", "grad_clip"}, {"train", "beta1"},
      {"train", "beta2"}, {"train", "seed"},     {"train", "grad_checkpoint"}, {"data", "val_path"},
      {"data", "chat_template"}, {"data", "train_on"}, {"data", "packing"}, {"data", "long_examples"},
      {"lora", "compute_dtype"}};
  for (const auto& key : kCompared) {
    const json* va = a.contains(key[0]) && a[key[0]].contains(key[1]) ? &a[key[0]][key[1]] : nullptr;
    const json* vb = b.contains(key[0]) && b[key[0]].contains(key[1]) ? &b[key[0]][key[1]] : nullptr;
    // Data settings newer than the old run directory: it was made before they existed.
    if (std::string_view(key[0]) == "data" && (!va || !vb) && std::string_view(key[1]) != "path" &&
        std::string_view(key[1]) != "tokenizer" && std::string_view(key[1]) != "val_fraction")
      continue;
    // Run directories made before --compute-dtype computed in fp32; a full run has no "lora" at all.
    if (std::string_view(key[0]) == "lora") {
      if (!a.contains("lora") || !b.contains("lora")) continue;
      static const json kFp32 = "fp32";
      if (!va) va = &kFp32;
    }
    // The same data given as a relative and as an absolute path (or through "./", "..") is the same.
    if ((std::string_view(key[1]) == "path" || std::string_view(key[1]) == "val_path") && va && vb && va->is_string() && vb->is_string() &&
        same_file_path(va->get<std::string>(), vb->get<std::string>())) {
      continue;
    }
    // Floats are compared and shown as the float32 they set: run directories of older versions
    // stored 0.0010000000474974513 for 0.001.
    // Paths are compared absolute: older versions stored them as typed (relative to where train ran).
    const std::string field = key[1];
    auto text = [&field](const json* v) {
      if (!v) return std::string("(unset)");
      if (v->is_number_float()) return common::float_to_shortest(v->get<float>());
      if (v->is_string() && field == "path") return json(absolute_path(v->get<std::string>())).dump();
      if (v->is_string() && field == "tokenizer") return json(absolute_tokenizer_spec(v->get<std::string>())).dump();
      return v->dump();
    };
    const std::string sa = text(va), sb = text(vb);
    if (sa != sb) out.push_back(std::string(key[0]) + "." + key[1] + ": " + sa + " -> " + sb);
  }
  return out;
}

}  // namespace app
