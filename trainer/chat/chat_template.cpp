// Chat template families: detection from the template text and rendering into segments. The
// detection strings and the exact rendering of each family are llama.cpp's (src/llama-chat.cpp),
// so that a conversation gives the same text as llama_chat_apply_template.
#include "trainer/chat/chat_template.h"

#include <array>
#include <cctype>

namespace trainer::chat {
namespace {

using common::Result;
using common::Status;

struct NamedFamily {
  std::string_view name;
  Family family;
};
constexpr std::array<NamedFamily, 14> kFamilies = {{
    {"chatml", Family::kChatml},
    {"llama2", Family::kLlama2},
    {"llama2-sys", Family::kLlama2Sys},
    {"llama2-sys-bos", Family::kLlama2SysBos},
    {"llama2-sys-strip", Family::kLlama2SysStrip},
    {"mistral-v1", Family::kMistralV1},
    {"mistral-v3", Family::kMistralV3},
    {"mistral-v3-tekken", Family::kMistralV3Tekken},
    {"mistral-v7", Family::kMistralV7},
    {"mistral-v7-tekken", Family::kMistralV7Tekken},
    {"phi3", Family::kPhi3},
    {"gemma", Family::kGemma},
    {"llama3", Family::kLlama3},
    {"granite", Family::kGranite},
}};

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

// Builds the segment list; adjacent segments of the same kind are joined.
class Builder {
 public:
  explicit Builder(std::vector<Segment>* out) : out_(out) {}
  void tmpl(std::string_view text, bool trained = false) { add(text, true, trained); }
  void content(std::string_view text, bool trained) { add(text, false, trained); }

 private:
  void add(std::string_view text, bool template_text, bool trained) {
    if (text.empty()) return;
    if (!out_->empty() && out_->back().template_text == template_text && out_->back().trained == trained) {
      out_->back().text += text;
      return;
    }
    out_->push_back(Segment{std::string(text), template_text, trained});
  }
  std::vector<Segment>* out_;
};

bool is_llama2(Family f) {
  return f == Family::kLlama2 || f == Family::kLlama2Sys || f == Family::kLlama2SysBos || f == Family::kLlama2SysStrip;
}

}  // namespace

std::optional<TrainOn> train_on_from_name(std::string_view name) {
  if (name == "assistant") return TrainOn::kAssistant;
  if (name == "all") return TrainOn::kAll;
  if (name == "completion") return TrainOn::kCompletion;
  if (name == "last") return TrainOn::kLast;
  return std::nullopt;
}

std::string_view train_on_name(TrainOn t) {
  switch (t) {
    case TrainOn::kAssistant: return "assistant";
    case TrainOn::kAll: return "all";
    case TrainOn::kCompletion: return "completion";
    case TrainOn::kLast: return "last";
  }
  return "assistant";
}

std::optional<Family> family_from_name(std::string_view name) {
  for (const NamedFamily& f : kFamilies)
    if (f.name == name) return f.family;
  return std::nullopt;
}

std::string_view family_name(Family family) {
  for (const NamedFamily& f : kFamilies)
    if (f.family == family) return f.name;
  return "?";
}

std::vector<std::string_view> family_names() {
  std::vector<std::string_view> names;
  for (const NamedFamily& f : kFamilies) names.push_back(f.name);
  return names;
}

std::optional<Family> detect_family(std::string_view t) {
  if (auto named = family_from_name(t)) return named;
  auto has = [&](std::string_view s) { return t.find(s) != std::string_view::npos; };
  // The order of llama.cpp's llm_chat_detect_template, limited to the families rendered here: a
  // template of another family it knows (Phi-4, SmolVLM, Zephyr, Command-R...) is not mistaken for
  // one of these, it is unknown.
  if (has("<|im_start|>")) {
    if (has("<|im_sep|>") || has("<end_of_utterance>")) return std::nullopt;  // Phi-4, SmolVLM
    return Family::kChatml;
  }
  if (t.starts_with("mistral") || has("[INST]")) {
    if (has("[SYSTEM_PROMPT]")) return Family::kMistralV7;
    if (has("' [INST] ' + system_message") || has("[AVAILABLE_TOOLS]")) {
      if (has(" [INST]")) return Family::kMistralV1;
      if (has("\"[INST]\"")) return Family::kMistralV3Tekken;
      return Family::kMistralV3;
    }
    if (has("content.strip()")) return Family::kLlama2SysStrip;
    if (has("bos_token + '[INST]")) return Family::kLlama2SysBos;
    if (has("<<SYS>>")) return Family::kLlama2Sys;
    return Family::kLlama2;
  }
  if (has("<|assistant|>") && has("<|end|>")) return Family::kPhi3;
  // Strings llama.cpp checks before Gemma's and Llama 3's for other families.
  if (has("[gMASK]<sop>") || (has("<|assistant|>") && has("<|user|>")) ||
      (has("<|user|>") && has("<|endoftext|>")) || has("bos_token + message['role']"))
    return std::nullopt;
  if (has("<start_of_turn>")) return Family::kGemma;
  if (has("'\\n\\nAssistant: ' + eos_token") || has("GPT4 Correct ") || (has("USER: ") && has("ASSISTANT: ")) ||
      (has("### Instruction:") && has("<|EOT|>")) || (has("<|START_OF_TURN_TOKEN|>") && has("<|USER_TOKEN|>")))
    return std::nullopt;
  if (has("<|start_header_id|>") && has("<|end_header_id|>")) return Family::kLlama3;
  if (has("<|start_of_role|>")) {
    if (has("<tool_call>") || has("<tools>")) return std::nullopt;  // Granite 4
    return Family::kGranite;
  }
  return std::nullopt;
}

Result<Family> resolve_family(const std::string& template_text, const std::string& name, const std::string& source) {
  std::string known;
  for (std::string_view n : family_names()) known += (known.empty() ? "" : ", ") + std::string(n);
  if (!name.empty()) {
    if (auto f = family_from_name(name)) return *f;
    return Status::InvalidArgument("unknown chat template '" + name + "' (known: " + known + ")");
  }
  if (template_text.empty())
    return Status::InvalidArgument(source + ": the tokenizer has no chat template; name one with --chat-template NAME (" +
                                   known + ")");
  if (auto f = detect_family(template_text)) return *f;
  return Status::InvalidArgument(source + ": chat template not recognised; name its family with --chat-template NAME (" +
                                 known + ")");
}

Result<std::vector<Segment>> render(Family family, std::span<const Message> messages, const RenderOptions& options) {
  if (messages.empty()) return Status::InvalidArgument("a conversation without messages");
  int last_assistant = -1;
  for (size_t i = 0; i < messages.size(); ++i) {
    const std::string& r = messages[i].role;
    if (r != "system" && r != "user" && r != "assistant")
      return Status::InvalidArgument("message " + std::to_string(i + 1) + ": role '" + r +
                                     "' (expected system, user or assistant)");
    if (r == "assistant") last_assistant = static_cast<int>(i);
  }
  const bool all = options.train_on == TrainOn::kAll && !options.add_generation_prompt;
  auto trains = [&](size_t i) {
    if (options.add_generation_prompt || messages[i].role != "assistant") return all;
    if (options.train_on == TrainOn::kLast) return static_cast<int>(i) == last_assistant;
    return true;
  };

  std::vector<Segment> out;
  Builder b(&out);
  const Family f = family;
  if (f == Family::kChatml) {
    for (size_t i = 0; i < messages.size(); ++i) {
      const bool t = trains(i);
      b.tmpl("<|im_start|>" + messages[i].role + "\n", all);
      b.content(messages[i].content, t);
      b.tmpl("<|im_end|>", t);
      b.tmpl("\n", all);
    }
    if (options.add_generation_prompt) b.tmpl("<|im_start|>assistant\n");
  } else if (f == Family::kLlama3) {
    for (size_t i = 0; i < messages.size(); ++i) {
      const bool t = trains(i);
      b.tmpl("<|start_header_id|>" + messages[i].role + "<|end_header_id|>\n\n", all);
      b.content(trim(messages[i].content), t);
      b.tmpl("<|eot_id|>", t);
    }
    if (options.add_generation_prompt) b.tmpl("<|start_header_id|>assistant<|end_header_id|>\n\n");
  } else if (f == Family::kPhi3) {
    for (size_t i = 0; i < messages.size(); ++i) {
      const bool t = trains(i);
      b.tmpl("<|" + messages[i].role + "|>\n", all);
      b.content(messages[i].content, t);
      b.tmpl("<|end|>", t);
      b.tmpl("\n", all);
    }
    if (options.add_generation_prompt) b.tmpl("<|assistant|>\n");
  } else if (f == Family::kGranite) {
    for (size_t i = 0; i < messages.size(); ++i) {
      const bool t = trains(i);
      b.tmpl("<|start_of_role|>" + messages[i].role + "<|end_of_role|>", all);
      b.content(messages[i].content, t);
      b.tmpl("<|end_of_text|>", t);
      b.tmpl("\n", all);
    }
    if (options.add_generation_prompt) b.tmpl("<|start_of_role|>assistant<|end_of_role|>");
  } else if (f == Family::kGemma) {
    // No system turn: the system text goes first in the next user turn.
    std::string system;
    for (size_t i = 0; i < messages.size(); ++i) {
      const Message& m = messages[i];
      if (m.role == "system") {
        system += trim(m.content);
        continue;
      }
      const bool t = trains(i);
      const bool model = m.role == "assistant";
      b.tmpl(std::string("<start_of_turn>") + (model ? "model" : m.role) + "\n", all);
      if (!system.empty() && !model) {
        b.content(system + "\n\n", all);
        system.clear();
      }
      b.content(trim(m.content), t);
      b.tmpl("<end_of_turn>", t);
      b.tmpl("\n", all);
    }
    if (options.add_generation_prompt) b.tmpl("<start_of_turn>model\n");
  } else if (f == Family::kMistralV7 || f == Family::kMistralV7Tekken) {
    const std::string sp = f == Family::kMistralV7 ? " " : "";
    for (size_t i = 0; i < messages.size(); ++i) {
      const Message& m = messages[i];
      const bool t = trains(i);
      if (m.role == "system") {
        b.tmpl("[SYSTEM_PROMPT]", all);
        b.content(sp + m.content, all);
        b.tmpl("[/SYSTEM_PROMPT]", all);
      } else if (m.role == "user") {
        b.tmpl("[INST]", all);
        b.content(sp + m.content, all);
        b.tmpl("[/INST]", all);
      } else {
        b.content(sp + m.content, t);
        b.tmpl("</s>", t);
      }
    }
  } else if (f == Family::kMistralV1 || f == Family::kMistralV3 || f == Family::kMistralV3Tekken) {
    const std::string lead = f == Family::kMistralV1 ? " " : "";
    const std::string trail = f == Family::kMistralV3Tekken ? "" : " ";
    bool in_turn = false;
    std::string pending;  // the space after [INST], joined to the next content
    for (size_t i = 0; i < messages.size(); ++i) {
      const Message& m = messages[i];
      const bool t = trains(i);
      if (!in_turn) {
        b.tmpl(lead + "[INST]", all);
        pending = trail;
        in_turn = true;
      }
      if (m.role == "system") {
        b.content(pending + m.content + "\n\n", all);
      } else if (m.role == "user") {
        b.content(pending + m.content, all);
        b.tmpl(lead + "[/INST]", all);
      } else {
        b.content(pending + trail + (f == Family::kMistralV3 ? trim(m.content) : m.content), t);
        b.tmpl("</s>", t);
        in_turn = false;
      }
      pending.clear();
    }
  } else if (is_llama2(f)) {
    const bool sys = f != Family::kLlama2;
    const bool bos_inside = f == Family::kLlama2SysBos;
    const bool strip = f == Family::kLlama2SysStrip;
    bool in_turn = true;
    b.tmpl("[INST] ", all);
    for (size_t i = 0; i < messages.size(); ++i) {
      const Message& m = messages[i];
      const bool t = trains(i);
      const std::string content = strip ? trim(m.content) : m.content;
      if (!in_turn) {
        in_turn = true;
        b.tmpl(bos_inside ? "<s>[INST] " : "[INST] ", all);
      }
      if (m.role == "system") {
        if (sys) {
          b.tmpl("<<SYS>>\n", all);
          b.content(content, all);
          b.tmpl("\n<</SYS>>\n\n", all);
        } else {
          b.content(content + "\n", all);
        }
      } else if (m.role == "user") {
        b.content(content, all);
        b.tmpl(" [/INST]", all);
      } else {
        b.content(content, t);
        b.tmpl("</s>", t);
        in_turn = false;
      }
    }
  }
  return out;
}

std::string render_text(std::span<const Segment> segments) {
  std::string s;
  for (const Segment& seg : segments) s += seg.text;
  return s;
}

TokenizedChat tokenize_chat(const Tokenizer& tokenizer, std::span<const Segment> segments, bool add_bos) {
  TokenizedChat out;
  const SpecialIds ids = tokenizer.special_ids();
  if (add_bos && tokenizer.add_bos() && ids.bos >= 0) {
    out.ids.push_back(ids.bos);
    out.trained.push_back(0);
  }
  for (const Segment& seg : segments) {
    EncodeOptions o;
    o.parse_special = seg.template_text;
    const std::vector<int32_t> part = tokenizer.encode_with(seg.text, o);
    out.ids.insert(out.ids.end(), part.begin(), part.end());
    out.trained.insert(out.trained.end(), part.size(), seg.trained ? 1 : 0);
  }
  return out;
}

}  // namespace trainer::chat
