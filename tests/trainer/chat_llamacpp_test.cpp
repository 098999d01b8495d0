// Chat rendering against llama.cpp: a ChatML (Qwen2 vocabulary) and a Llama 3 conversation rendered
// by llama_chat_apply_template of the prebuilt library (tests/reference/llamacpp/harness.c
// chat-template) and tokenized by llama.cpp's own tokenizer with special tokens parsed give exactly
// our rendering's ids; and the mask covers exactly the assistant contents and their end tokens.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "llamacpp_reference.h"
#include "trainer/chat/chat_template.h"
#include "trainer/tokenizers/tokenizer.h"

namespace trainer::chat {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

const std::vector<Message> kConversation = {
    {"system", "You are a helpful assistant. Answer in one line."},
    {"user", "What is 12 * 7? Show it, please:\n  12 * 7 = ?"},
    {"assistant", "12 * 7 = 84."},
    {"user", "And in French? Réponds en français, s'il te plaît."},
    {"assistant", "Douze fois sept font quatre-vingt-quatre (84)."},
};

struct Case {
  const char* vocab;          // models/ggml-vocab-<vocab>.gguf of llama.cpp's source
  const char* template_text;  // an excerpt of the model's Jinja template (what detection reads)
  Family family;
  const char* end_token;      // the token that ends a turn
};

const Case kCases[] = {
    {"qwen2",
     "{%- for message in messages %}{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + "
     "'\\n' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}",
     Family::kChatml, "<|im_end|>"},
    {"llama-bpe",
     "{{- bos_token }}{%- for message in messages %}{{- '<|start_header_id|>' + message['role'] + "
     "'<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' }}{%- endfor %}",
     Family::kLlama3, "<|eot_id|>"},
};

class ChatVsLlamaCpp : public ::testing::TestWithParam<Case> {};

// llama.cpp's rendering ("text") and its tokenization of it ("ids").
json llama_render(const Case& c, const std::vector<Message>& messages, bool add_ass, const llamacpp_ref::ScratchDir& dir) {
  std::string items;
  for (const Message& m : messages) items += m.role + "\n__ggml_chat_msg__\n" + m.content + "\n__ggml_chat_msg__\n";
  llamacpp_ref::write_bytes(dir.file("messages.txt"), items.data(), items.size());
  const std::string tmpl = c.template_text;
  llamacpp_ref::write_bytes(dir.file("template.jinja"), tmpl.data(), tmpl.size());
  const std::string vocab = std::string(NS_LLAMACPP_SRC) + "/models/ggml-vocab-" + c.vocab + ".gguf";
  bool ok = false;
  const std::string out = llamacpp_ref::run("'" + llamacpp_ref::harness() + "' chat-template --model '" + vocab +
                                                "' --template-file '" + dir.file("template.jinja") +
                                                "' --messages-file '" + dir.file("messages.txt") + "' --bos" +
                                                (add_ass ? " --add-ass" : ""),
                                            &ok);
  EXPECT_TRUE(ok) << out;
  return json::parse(out, nullptr, false);
}

TEST_P(ChatVsLlamaCpp, RenderedIdsEqualLlamaCppsAndTheMaskIsTheAssistantTurns) {
  const Case& c = GetParam();
  if (std::string why = llamacpp_ref::harness_missing(); !why.empty()) GTEST_SKIP() << why;
  const std::string vocab = std::string(NS_LLAMACPP_SRC) + "/models/ggml-vocab-" + c.vocab + ".gguf";
  if (!fs::exists(vocab)) GTEST_SKIP() << vocab << " is absent (scripts/setup.sh installs llama.cpp's source)";
  auto tok = make_tokenizer("gguf:" + vocab);
  ASSERT_TRUE(tok.ok()) << tok.status().to_string();
  llamacpp_ref::ScratchDir dir(std::string("chat_llamacpp_") + c.vocab);

  const std::optional<Family> family = detect_family(c.template_text);
  ASSERT_EQ(family, c.family);
  auto segments = render(*family, kConversation, {});
  ASSERT_TRUE(segments.ok());
  const json ref = llama_render(c, kConversation, false, dir);
  ASSERT_TRUE(ref.is_object());
  EXPECT_EQ(render_text(*segments), ref["text"].get<std::string>());
  const TokenizedChat ours = tokenize_chat(**tok, *segments, true);
  EXPECT_EQ(ours.ids, ref["ids"].get<std::vector<int32_t>>());

  // The trained ids are each assistant turn's content followed by its end token, nothing else.
  const std::optional<int32_t> end = (*tok)->token_id(c.end_token);
  ASSERT_TRUE(end.has_value());
  std::vector<int32_t> want, got;
  for (const Message& m : kConversation) {
    if (m.role != "assistant") continue;
    const std::vector<int32_t> content = (*tok)->encode(m.content);
    want.insert(want.end(), content.begin(), content.end());
    want.push_back(*end);
  }
  int runs = 0;
  for (size_t i = 0; i < ours.ids.size(); ++i) {
    if (ours.trained[i]) got.push_back(ours.ids[i]);
    if (ours.trained[i] && (i == 0 || !ours.trained[i - 1])) ++runs;
  }
  EXPECT_EQ(got, want);
  EXPECT_EQ(runs, 2);

  // The prompt for generation (add_ass) too.
  const std::vector<Message> question(kConversation.begin(), kConversation.begin() + 2);
  RenderOptions gen;
  gen.add_generation_prompt = true;
  auto prompt = render(*family, question, gen);
  const json ref_prompt = llama_render(c, question, true, dir);
  EXPECT_EQ(render_text(*prompt), ref_prompt["text"].get<std::string>());
  EXPECT_EQ(tokenize_chat(**tok, *prompt, true).ids, ref_prompt["ids"].get<std::vector<int32_t>>());
}

// A model directory's tokenizer_config.json and a GGUF's tokenizer.chat_template name the model's
// template: both are recognised (ChatML) without --chat-template and give the same ids and mask. The
// tokenizer.json is written from ggml-vocab-qwen2.gguf by the vocabulary tests' fixture script.
TEST(ChatTemplateFromModel, TokenizerConfigTemplateIsUsedWithoutAName) {
  const std::string vocab = std::string(NS_LLAMACPP_SRC) + "/models/ggml-vocab-qwen2.gguf";
  if (!fs::exists(vocab)) GTEST_SKIP() << vocab << " is absent (scripts/setup.sh installs llama.cpp's source bundle)";
  llamacpp_ref::ScratchDir dir("chat_template_from_model");
  // The Qwen2 tokenizer.json, written from the GGUF by the vocabulary tests' fixture script.
  const std::string fixtures = dir.file("fixtures");
  const std::string cmd = "/usr/bin/python3 '" + std::string(NS_SOURCE_DIR) + "/tests/reference/gguf_vocab_fixture.py' '" +
                          std::string(NS_LLAMACPP_SRC) + "' '" + fixtures + "' ggml-vocab-qwen2 > /dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  fs::copy_file(fs::path(fixtures) / "ggml-vocab-qwen2" / "tokenizer.json", dir.file("tokenizer.json"));
  const std::string config = json{{"chat_template", kCases[0].template_text}}.dump();
  llamacpp_ref::write_bytes(dir.file("tokenizer_config.json"), config.data(), config.size());
  auto hf = make_tokenizer(dir.file(""));
  auto gguf = make_tokenizer("gguf:" + vocab);
  ASSERT_TRUE(hf.ok() && gguf.ok()) << hf.status().to_string() << gguf.status().to_string();
  EXPECT_EQ((*hf)->chat_template(), kCases[0].template_text);
  // The GGUF carries Qwen's own template (tokenizer.chat_template): ChatML too.
  EXPECT_NE((*gguf)->chat_template().find("<|im_start|>"), std::string::npos);
  EXPECT_EQ(detect_family((*gguf)->chat_template()), Family::kChatml);
  auto family = resolve_family((*hf)->chat_template(), "", (*hf)->spec());
  ASSERT_TRUE(family.ok());
  EXPECT_EQ(*family, Family::kChatml);
  auto segments = render(*family, kConversation, {});
  const TokenizedChat a = tokenize_chat(**hf, *segments, true);
  const TokenizedChat b = tokenize_chat(**gguf, *segments, true);
  EXPECT_EQ(a.ids, b.ids);
  EXPECT_EQ(a.trained, b.trained);
}

INSTANTIATE_TEST_SUITE_P(Families, ChatVsLlamaCpp, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<Case>& i) {
                           return i.param.family == Family::kChatml ? std::string("ChatML") : std::string("Llama3");
                         });

}  // namespace
}  // namespace trainer::chat
