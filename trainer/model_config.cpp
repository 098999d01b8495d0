// ModelConfig parsing (toml++), validation and the preset table.
#include "trainer/model_config.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "common/toml/toml_fields.h"
#include "trainer/arch/presets_embedded.h"
#include "trainer/layers/kind.h"

namespace trainer {

using common::Result;
using common::Status;

namespace {

using common::tomlf::Fields;
using common::tomlf::where;

// The model's fields take toml++'s conversions (a boolean as 0/1 where an integer is asked for, an
// integer where a boolean is), as they always have. Integers must fit an int.
constexpr common::tomlf::Types kTypes = common::tomlf::Types::kConversions;
constexpr int64_t kIntMin = -(1ll << 31), kIntMax = (1ll << 31) - 1;

// Unknown keys are errors; with kind_tables, the config tables of the block kinds ([attn] ...) are known too.
Status check_known_keys(const toml::table& t, std::initializer_list<const char*> known,
                        const std::string& table_name, const std::string& file, bool kind_tables = false) {
  for (auto&& [k, v] : t) {
    bool ok = std::any_of(known.begin(), known.end(), [&](const char* s) { return k.str() == s; });
    if (kind_tables) {
      for (const LayerKindInfo& kind : layer_kinds()) ok = ok || k.str() == kind.name;
    }
    if (!ok) {
      return Status::InvalidArgument(where(v, file) + ": unknown key '" + std::string(k.str()) +
                                     "' in " + table_name);
    }
  }
  return Status::Ok();
}

// A kind's config table ([attn] ...): its registered keys, each read into its field of the config.
Status read_kind_section(const toml::table& t, const LayerKindInfo& kind, ModelConfig* c, const std::string& file) {
  const std::string table_name = std::string("[") + kind.name + "]";
  for (auto&& [k, v] : t) {
    bool ok = std::any_of(kind.config_keys.begin(), kind.config_keys.end(),
                          [&](const ConfigKey& key) { return k.str() == key.name; });
    if (!ok) {
      return Status::InvalidArgument(where(v, file) + ": unknown key '" + std::string(k.str()) + "' in " +
                                     table_name);
    }
  }
  const Fields fields(t, file, kTypes);
  for (const ConfigKey& key : kind.config_keys) {
    void* field = key.field(*c);
    switch (key.type) {
      case ConfigKeyType::kInt:
        NS_RETURN_IF_ERROR(fields.integer_in(key.name, kIntMin, kIntMax, static_cast<int*>(field)));
        break;
      case ConfigKeyType::kFloat: NS_RETURN_IF_ERROR(fields.number(key.name, static_cast<float*>(field))); break;
      case ConfigKeyType::kBool: NS_RETURN_IF_ERROR(fields.boolean(key.name, static_cast<bool*>(field))); break;
    }
  }
  return Status::Ok();
}

Status read_blocks(const toml::node& node, std::vector<BlockSpec>* out, const std::string& file) {
  const toml::array* arr = node.as_array();
  if (!arr) return Status::InvalidArgument(where(node, file) + ": 'blocks' must be an array");
  out->clear();
  for (const toml::node& item : *arr) {
    std::string text;
    int64_t repeat = 1;
    if (auto s = item.value<std::string>()) {
      text = *s;
    } else if (const toml::table* t = item.as_table()) {
      auto b = (*t)["block"].value<std::string>();
      if (!b) return Status::InvalidArgument(where(item, file) + ": a block table needs block = \"...\"");
      text = *b;
      repeat = (*t)["repeat"].value_or<int64_t>(1);
      if (repeat < 1 || repeat > 100000) {
        return Status::InvalidArgument(where(item, file) + ": 'repeat' must be between 1 and 100000");
      }
    } else {
      return Status::InvalidArgument(where(item, file) +
                                     ": each entry of 'blocks' is a string or {block = \"...\", repeat = N}");
    }
    Result<BlockSpec> spec = parse_block_spec(text);
    if (!spec.ok()) return spec.status().with_context(where(item, file));
    for (int64_t r = 0; r < repeat; ++r) out->push_back(*spec);
  }
  return Status::Ok();
}

Status apply_table(const toml::table& t, ModelConfig* c, const std::string& file, int depth);

Status apply_preset_key(const toml::table& t, ModelConfig* c, const std::string& file, int depth) {
  const toml::node* p = t.get("preset");
  if (!p) return Status::Ok();
  auto name = p->value<std::string>();
  if (!name) return Status::InvalidArgument(where(*p, file) + ": 'preset' must be a string");
  if (depth > 4) return Status::InvalidArgument(file + ": presets refer to each other too deeply");
  Result<std::string> text = model_preset_text(*name);
  if (!text.ok()) return text.status().with_context(where(*p, file));
  toml::table base = toml::parse(*text, "preset:" + *name);
  const toml::table* mt = base["model"].as_table() ? base["model"].as_table() : &base;
  return apply_table(*mt, c, "preset:" + *name, depth + 1);
}

Status apply_table(const toml::table& t, ModelConfig* c, const std::string& file, int depth) {
  NS_RETURN_IF_ERROR(check_known_keys(
      t, {"name", "preset", "vocab_size", "d_model", "d_embed", "tied_embedding", "norm_eps", "init_std", "embedding_scale",
          "residual_scale", "logit_scale", "blocks", "description"},
      "the model table", file, /*kind_tables=*/true));
  NS_RETURN_IF_ERROR(apply_preset_key(t, c, file, depth));
  if (auto n = t["name"].value<std::string>()) c->name = *n;
  const Fields fields(t, file, kTypes);
  NS_RETURN_IF_ERROR(fields.integer_in("vocab_size", kIntMin, kIntMax, &c->vocab_size));
  NS_RETURN_IF_ERROR(fields.integer_in("d_model", kIntMin, kIntMax, &c->d_model));
  NS_RETURN_IF_ERROR(fields.integer_in("d_embed", kIntMin, kIntMax, &c->d_embed));
  NS_RETURN_IF_ERROR(fields.boolean("tied_embedding", &c->tied_embedding));
  NS_RETURN_IF_ERROR(fields.number("norm_eps", &c->norm_eps));
  NS_RETURN_IF_ERROR(fields.number("init_std", &c->init_std));
  NS_RETURN_IF_ERROR(fields.number("embedding_scale", &c->embedding_scale));
  NS_RETURN_IF_ERROR(fields.number("residual_scale", &c->residual_scale));
  NS_RETURN_IF_ERROR(fields.number("logit_scale", &c->logit_scale));
  if (const toml::node* b = t.get("blocks")) NS_RETURN_IF_ERROR(read_blocks(*b, &c->blocks, file));
  for (const LayerKindInfo& kind : layer_kinds()) {
    const toml::table* section = t[kind.name].as_table();
    if (section) NS_RETURN_IF_ERROR(read_kind_section(*section, kind, c, file));
  }
  return Status::Ok();
}

}  // namespace

int ModelConfig::n_layers_of(LayerKind kind) const {
  int n = 0;
  for (const BlockSpec& b : blocks) n += static_cast<int>(std::count(b.layers.begin(), b.layers.end(), kind));
  return n;
}

const char* layer_kind_name(LayerKind kind) { return layer_kind_info(kind).name; }

std::string block_spec_to_string(const BlockSpec& spec) {
  std::string out;
  for (size_t i = 0; i < spec.layers.size(); ++i) {
    if (i) out += "+";
    out += layer_kind_name(spec.layers[i]);
  }
  return out;
}

Result<BlockSpec> parse_block_spec(std::string_view text) {
  BlockSpec spec;
  size_t start = 0;
  while (start <= text.size()) {
    size_t plus = text.find('+', start);
    std::string_view part = text.substr(start, plus == std::string_view::npos ? std::string_view::npos : plus - start);
    bool found = false;
    std::string known;
    for (const LayerKindInfo& k : layer_kinds()) {
      if (part == k.name) {
        spec.layers.push_back(k.kind);
        found = true;
      }
      known += (known.empty() ? "" : ", ") + std::string(k.name);
    }
    if (!found) {
      return Status::InvalidArgument("unknown block kind '" + std::string(part) + "' in '" + std::string(text) +
                                     "' (known: " + known + ", joined with '+')");
    }
    if (plus == std::string_view::npos) break;
    start = plus + 1;
  }
  return spec;
}

Status validate_model_config(const ModelConfig& c, const std::string& source) {
  auto bad = [&](const std::string& field, const std::string& why) {
    return Status::InvalidArgument(source + ": " + field + " " + why);
  };
  if (c.vocab_size < 2) return bad("vocab_size", "must be at least 2, got " + std::to_string(c.vocab_size));
  if (c.d_model < 1) return bad("d_model", "must be positive, got " + std::to_string(c.d_model));
  if (c.d_embed < 0) return bad("d_embed", "must be 0 (same as d_model) or positive");
  if (c.blocks.empty()) return bad("blocks", "is empty: a model needs at least one block");
  if (!(c.norm_eps > 0)) return bad("norm_eps", "must be positive");
  if (!(c.init_std > 0)) return bad("init_std", "must be positive");
  for (auto [name, v] : {std::pair{"embedding_scale", c.embedding_scale}, {"residual_scale", c.residual_scale},
                         {"logit_scale", c.logit_scale}}) {
    if (!(v > 0) || !std::isfinite(v)) return bad(name, "must be a positive number (1 = none)");
  }
  for (const LayerKindInfo& kind : layer_kinds()) {
    if (c.has_layer(kind.kind)) NS_RETURN_IF_ERROR(kind.validate(c, source));
  }
  return Status::Ok();
}

Result<ModelConfig> parse_model_config_toml(std::string_view text, const std::string& source_name) {
  ModelConfig c;
  try {
    toml::table doc = toml::parse(text, source_name);
    const toml::table* t = doc["model"].as_table() ? doc["model"].as_table() : &doc;
    NS_RETURN_IF_ERROR(apply_table(*t, &c, source_name, 0));
  } catch (const toml::parse_error& e) {
    return common::tomlf::parse_error(e, source_name);
  }
  NS_RETURN_IF_ERROR(validate_model_config(c, source_name));
  return c;
}

Result<ModelConfig> load_model_config_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::NotFound(path + ": cannot open model file");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_model_config_toml(ss.str(), path);
}

std::vector<std::string> model_preset_names() {
  std::vector<std::string> names;
  for (const EmbeddedPreset& p : embedded_presets()) names.push_back(p.name);
  std::sort(names.begin(), names.end());
  return names;
}

Result<std::string> model_preset_text(const std::string& name) {
  for (const EmbeddedPreset& p : embedded_presets()) {
    if (name == p.name) return std::string(p.toml);
  }
  std::string known;
  for (const std::string& n : model_preset_names()) known += (known.empty() ? "" : ", ") + n;
  return Status::NotFound("unknown model preset '" + name + "' (known: " + known + ")");
}

Result<ModelConfig> model_preset(const std::string& name) {
  NS_ASSIGN_OR_RETURN(std::string text, model_preset_text(name));
  Result<ModelConfig> c = parse_model_config_toml(text, "preset:" + name);
  if (c.ok() && c->name == "custom") c->name = name;
  return c;
}

}  // namespace trainer
