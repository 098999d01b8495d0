// Chat template families: recognition from template texts, the exact rendering of each family (as
// llama.cpp's llama-chat.cpp renders it), which segments are trained under each --train-on, the
// tokenization into ids and a mask, and reading a model's template from tokenizer_config.json.
#include "trainer/chat/chat_template.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "trainer/tokenizers/chat_template_source.h"

namespace trainer::chat {
namespace {

namespace fs = std::filesystem;

const std::vector<Message> kChat = {
    {"system", "You are terse."}, {"user", "Hi there"}, {"assistant", "Hello."},
    {"user", "2+2?"},             {"assistant", " 4 "}};

std::string trained_text(const std::vector<Segment>& segs) {
  std::string s;
  for (const Segment& g : segs)
    if (g.trained) s += g.text;
  return s;
}

TEST(ChatTemplate, RecognisesFamiliesFromTemplateText) {
  EXPECT_EQ(detect_family("{% for m in messages %}{{'<|im_start|>' + m['role'] + '\n'}}{% endfor %}"), Family::kChatml);
  EXPECT_EQ(detect_family("{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' }}"), Family::kLlama3);
  EXPECT_EQ(detect_family("{{ '<start_of_turn>' + role + '\n' }}"), Family::kGemma);
  EXPECT_EQ(detect_family("{{'<|user|>' + '\n'}}{{'<|end|>'}}{{'<|assistant|>'}}"), Family::kPhi3);
  EXPECT_EQ(detect_family("{{ '<|start_of_role|>' + role + '<|end_of_role|>' }}"), Family::kGranite);
  EXPECT_EQ(detect_family("{{ '[INST] <<SYS>>\\n' }}"), Family::kLlama2Sys);
  EXPECT_EQ(detect_family("{{ bos_token + '[INST] <<SYS>>\\n' }}"), Family::kLlama2SysBos);
  EXPECT_EQ(detect_family("{{ '[INST] ' + content }}"), Family::kLlama2);
  EXPECT_EQ(detect_family("{{ '[AVAILABLE_TOOLS]' }}{{ '[INST] ' + content }}"), Family::kMistralV3);
  EXPECT_EQ(detect_family("[SYSTEM_PROMPT] [INST]"), Family::kMistralV7);
  EXPECT_EQ(detect_family("llama3"), Family::kLlama3);  // a family name as the text
  // Families llama.cpp knows but these renderers do not are unknown, never mistaken for ChatML.
  EXPECT_EQ(detect_family("<|im_start|>user<|im_sep|>"), std::nullopt);  // Phi-4
  EXPECT_EQ(detect_family("{{ message.content }}"), std::nullopt);
}

TEST(ChatTemplate, ResolveNamesTheProblem) {
  EXPECT_EQ(*resolve_family("", "gemma", "m"), Family::kGemma);
  EXPECT_EQ(*resolve_family("<|im_start|>", "llama3", "m"), Family::kLlama3);  // the name wins
  auto none = resolve_family("", "", "models/x");
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("models/x: the tokenizer has no chat template"), std::string::npos);
  EXPECT_NE(none.status().message().find("--chat-template"), std::string::npos);
  auto unknown = resolve_family("{{ message.content }}", "", "models/x");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("not recognised"), std::string::npos);
  auto bad_name = resolve_family("", "chatmlx", "m");
  ASSERT_FALSE(bad_name.ok());
  EXPECT_NE(bad_name.status().message().find("unknown chat template 'chatmlx'"), std::string::npos);
}

TEST(ChatTemplate, ChatmlRendersAndTrainsAssistantTurns) {
  auto segs = render(Family::kChatml, kChat, {});
  ASSERT_TRUE(segs.ok());
  EXPECT_EQ(render_text(*segs),
            "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n"
            "<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n"
            "<|im_start|>assistant\n 4 <|im_end|>\n");
  EXPECT_EQ(trained_text(*segs), "Hello.<|im_end|> 4 <|im_end|>");
  for (const Segment& g : *segs) {
    // Contents are never parsed for special tokens; the template text always is.
    if (g.text == "Hello." || g.text == " 4 ") {
      EXPECT_FALSE(g.template_text);
    }
    if (g.text == "<|im_end|>") {
      EXPECT_TRUE(g.template_text);
    }
  }
}

TEST(ChatTemplate, TrainOnLastAllAndGenerationPrompt) {
  RenderOptions last;
  last.train_on = TrainOn::kLast;
  EXPECT_EQ(trained_text(*render(Family::kLlama3, kChat, last)), "4<|eot_id|>");  // Llama 3 trims
  RenderOptions all;
  all.train_on = TrainOn::kAll;
  auto every = render(Family::kLlama3, kChat, all);
  EXPECT_EQ(trained_text(*every), render_text(*every));
  RenderOptions gen;
  gen.add_generation_prompt = true;
  const std::vector<Message> q = {{"user", "Hi"}};
  auto prompt = render(Family::kLlama3, q, gen);
  EXPECT_EQ(render_text(*prompt),
            "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
  EXPECT_EQ(trained_text(*prompt), "");
}

TEST(ChatTemplate, OtherFamiliesRenderAsLlamaCppDoes) {
  const std::vector<Message> c = {{"system", "Be kind."}, {"user", "Hi"}, {"assistant", "Hello"}};
  EXPECT_EQ(render_text(*render(Family::kGemma, c, {})),
            "<start_of_turn>user\nBe kind.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello<end_of_turn>\n");
  EXPECT_EQ(trained_text(*render(Family::kGemma, c, {})), "Hello<end_of_turn>");
  EXPECT_EQ(render_text(*render(Family::kPhi3, c, {})),
            "<|system|>\nBe kind.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\nHello<|end|>\n");
  EXPECT_EQ(render_text(*render(Family::kGranite, c, {})),
            "<|start_of_role|>system<|end_of_role|>Be kind.<|end_of_text|>\n<|start_of_role|>user<|end_of_role|>Hi"
            "<|end_of_text|>\n<|start_of_role|>assistant<|end_of_role|>Hello<|end_of_text|>\n");
  EXPECT_EQ(render_text(*render(Family::kMistralV3, c, {})), "[INST] Be kind.\n\nHi[/INST] Hello</s>");
  EXPECT_EQ(trained_text(*render(Family::kMistralV3, c, {})), " Hello</s>");
  EXPECT_EQ(render_text(*render(Family::kMistralV1, c, {})), " [INST] Be kind.\n\nHi [/INST] Hello</s>");
  EXPECT_EQ(render_text(*render(Family::kMistralV7, c, {})), "[SYSTEM_PROMPT] Be kind.[/SYSTEM_PROMPT][INST] Hi[/INST] Hello</s>");
  EXPECT_EQ(render_text(*render(Family::kLlama2Sys, c, {})), "[INST] <<SYS>>\nBe kind.\n<</SYS>>\n\nHi [/INST]Hello</s>");
}

TEST(ChatTemplate, RejectsUnknownRolesAndEmptyConversations) {
  const std::vector<Message> tool = {{"user", "Hi"}, {"tool", "{}"}};
  auto r = render(Family::kChatml, tool, {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("message 2: role 'tool'"), std::string::npos);
  EXPECT_FALSE(render(Family::kChatml, std::vector<Message>{}, {}).ok());
}

TEST(ChatTemplate, TokenizeGivesOneTrainedFlagPerId) {
  auto tok = make_tokenizer("byte");
  ASSERT_TRUE(tok.ok());
  auto segs = render(Family::kChatml, kChat, {});
  const TokenizedChat t = tokenize_chat(**tok, *segs, true);
  const std::string text = render_text(*segs);
  ASSERT_EQ(t.ids.size(), text.size());  // bytes: no BOS for the byte tokenizer
  ASSERT_EQ(t.trained.size(), t.ids.size());
  std::string trained;
  for (size_t i = 0; i < t.ids.size(); ++i) {
    EXPECT_EQ(t.ids[i], static_cast<unsigned char>(text[i]));
    if (t.trained[i]) trained += static_cast<char>(t.ids[i]);
  }
  EXPECT_EQ(trained, "Hello.<|im_end|> 4 <|im_end|>");
}

class ChatTemplateFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(NS_BINARY_DIR) / "chat_template_files_test";
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  void write(const std::string& name, const std::string& text) { std::ofstream(dir_ / name) << text; }
  fs::path dir_;
};

TEST_F(ChatTemplateFiles, ReadsStringListAndJinjaForms) {
  EXPECT_EQ(*tokenizers::read_chat_template_beside(dir_.string()), "");
  write("chat_template.jinja", "{{ '<start_of_turn>' }}");
  EXPECT_EQ(*tokenizers::read_chat_template_beside(dir_.string()), "{{ '<start_of_turn>' }}");
  write("tokenizer_config.json", R"({"chat_template": "{{ '<|im_start|>' }}"})");
  EXPECT_EQ(*tokenizers::read_chat_template_beside(dir_.string()), "{{ '<|im_start|>' }}");
  write("tokenizer_config.json",
        R"({"chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}]})");
  EXPECT_EQ(*tokenizers::read_chat_template_beside(dir_.string()), "D");
  write("tokenizer_config.json", R"({"chat_template": 3})");
  auto bad = tokenizers::read_chat_template_beside(dir_.string());
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("tokenizer_config.json: chat_template must be"), std::string::npos);
}

}  // namespace
}  // namespace trainer::chat
