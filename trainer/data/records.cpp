// JSONL line → Record: which format a line is in, decided from its fields.
#include "trainer/data/records.h"

#include <nlohmann/json.hpp>

namespace trainer {
namespace {

using common::Result;
using common::Status;
using json = nlohmann::json;

Result<std::string> string_field(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return Status::InvalidArgument(std::string("field \"") + key + "\" must be a string");
  return it->get<std::string>();
}

// "messages" (role/content) or "conversations" (from/value) into messages.
Result<std::vector<chat::Message>> messages_of(const json& list, bool sharegpt) {
  const char* list_name = sharegpt ? "conversations" : "messages";
  const char* role_key = sharegpt ? "from" : "role";
  const char* content_key = sharegpt ? "value" : "content";
  if (!list.is_array() || list.empty())
    return Status::InvalidArgument(std::string("\"") + list_name + "\" must be a non-empty array");
  std::vector<chat::Message> out;
  for (size_t i = 0; i < list.size(); ++i) {
    const json& m = list[i];
    const std::string where = std::string(list_name) + "[" + std::to_string(i) + "]";
    if (!m.is_object() || !m.contains(role_key) || !m[role_key].is_string() || !m.contains(content_key) ||
        !m[content_key].is_string())
      return Status::InvalidArgument(where + " must be an object with string fields \"" + role_key + "\" and \"" +
                                     content_key + "\"");
    std::string role = m[role_key].get<std::string>();
    if (sharegpt) {
      if (role == "human") role = "user";
      else if (role == "gpt") role = "assistant";
    }
    if (role != "system" && role != "user" && role != "assistant")
      return Status::InvalidArgument(where + ": role '" + m[role_key].get<std::string>() + "' (expected " +
                                     (sharegpt ? "human, gpt or system" : "system, user or assistant") + ")");
    out.push_back({std::move(role), m[content_key].get<std::string>()});
  }
  return out;
}

}  // namespace

std::string_view record_kind_name(Record::Kind kind) {
  switch (kind) {
    case Record::Kind::kText: return "text";
    case Record::Kind::kPromptCompletion: return "prompt/completion";
    case Record::Kind::kChat: return "chat";
  }
  return "text";
}

Result<Record> parse_record(std::string_view line) {
  json j;
  try {
    j = json::parse(line);
  } catch (const json::exception& e) {
    return Status::InvalidArgument(std::string("not valid JSON (") + e.what() + ")");
  }
  if (!j.is_object()) return Status::InvalidArgument("expected a JSON object, got " + std::string(j.type_name()));
  Record r;
  if (j.contains("messages")) {
    r.kind = Record::Kind::kChat;
    NS_ASSIGN_OR_RETURN(r.messages, messages_of(j["messages"], false));
    return r;
  }
  if (j.contains("conversations")) {
    r.kind = Record::Kind::kChat;
    NS_ASSIGN_OR_RETURN(r.messages, messages_of(j["conversations"], true));
    return r;
  }
  if (j.contains("prompt") && j.contains("completion")) {
    r.kind = Record::Kind::kPromptCompletion;
    NS_ASSIGN_OR_RETURN(r.prompt, string_field(j, "prompt"));
    NS_ASSIGN_OR_RETURN(r.completion, string_field(j, "completion"));
    return r;
  }
  if (j.contains("instruction") && j.contains("output")) {
    r.kind = Record::Kind::kPromptCompletion;
    NS_ASSIGN_OR_RETURN(std::string instruction, string_field(j, "instruction"));
    std::string input;
    if (j.contains("input") && !j["input"].is_null()) {
      NS_ASSIGN_OR_RETURN(input, string_field(j, "input"));
    }
    NS_ASSIGN_OR_RETURN(r.completion, string_field(j, "output"));
    r.prompt = input.empty() ? instruction : instruction + "\n\n" + input;
    return r;
  }
  if (j.contains("text")) {
    r.kind = Record::Kind::kText;
    NS_ASSIGN_OR_RETURN(r.text, string_field(j, "text"));
    return r;
  }
  std::string fields;
  for (auto it = j.begin(); it != j.end(); ++it) fields += (fields.empty() ? "" : ", ") + it.key();
  return Status::InvalidArgument("an object with fields {" + fields +
                                 "} fits no data format (expected \"text\"; \"prompt\" and \"completion\"; "
                                 "\"messages\"; \"conversations\"; or \"instruction\" and \"output\")");
}

}  // namespace trainer
