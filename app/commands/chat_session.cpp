// ChatSession: render, feed what is new, sample until the end of the turn.
#include "app/commands/chat_session.h"

#include <algorithm>

namespace app {

common::Result<std::unique_ptr<ChatSession>> ChatSession::open(const ModelSource& src, const ChatSettings& settings) {
  // A run fine-tuned with --chat-template NAME talks in that template.
  const std::string name = settings.template_name.empty() && src.is_run() ? src.run->run.chat_template : settings.template_name;
  NS_ASSIGN_OR_RETURN(trainer::chat::Family family,
                      trainer::chat::resolve_family(src.tokenizer->chat_template(), name, src.path));
  std::unique_ptr<ChatSession> s(new ChatSession(src, settings, family));
  if (s->settings_.context <= 0) s->settings_.context = src.is_run() ? src.run->run.shape.seq_len : 4096;
  // The end of an assistant turn as text (what the template trains after the content, e.g.
  // "<|im_end|>") also ends a reply: a tokenizer without special tokens (bytes) spells it out.
  const std::vector<trainer::chat::Message> probe = {{"user", "u"}, {"assistant", "a"}};
  trainer::chat::RenderOptions opt;
  opt.train_on = trainer::chat::TrainOn::kAssistant;
  if (auto segs = trainer::chat::render(family, probe, opt); segs.ok()) {
    std::string end;
    for (const trainer::chat::Segment& seg : *segs)
      if (seg.trained && seg.template_text) end += seg.text;
    while (!end.empty() && (end.back() == '\n' || end.back() == ' ')) end.pop_back();
    if (!end.empty()) s->settings_.stops.push_back(end);
  }
  s->reset();
  return s;
}

void ChatSession::reset() {
  messages_.clear();
  if (!settings_.system.empty()) messages_.push_back({"system", settings_.system});
  stream_.reset();
}

bool ChatSession::is_end(int32_t id) const {
  const trainer::SpecialIds sp = src_.tokenizer->special_ids();
  return id == sp.eot || id == sp.eos;
}

common::Result<ChatReply> ChatSession::reply(const std::string& user,
                                             const std::function<void(const std::string&)>& on_text) {
  messages_.push_back({"user", user});
  trainer::chat::RenderOptions opt;
  opt.add_generation_prompt = true;
  auto segments = trainer::chat::render(family_, messages_, opt);
  if (!segments.ok()) {
    messages_.pop_back();
    return segments.status();
  }
  const trainer::chat::TokenizedChat prompt = trainer::chat::tokenize_chat(*src_.tokenizer, *segments, /*add_bos=*/true);
  last_prompt_ = prompt.ids;
  // The model has seen a prefix of this rendering when the template renders earlier turns the same
  // way again (all the families here do); otherwise the conversation is fed again from the start.
  const bool extends = stream_ && stream_->context().size() <= prompt.ids.size() &&
                       std::equal(stream_->context().begin(), stream_->context().end(), prompt.ids.begin());
  if (!extends) {
    NS_ASSIGN_OR_RETURN(stream_, TokenStream::open(src_, settings_.context, settings_.recompute));
  }
  const size_t seen = stream_->context().size();
  stream_->feed(std::span<const int32_t>(prompt.ids).subspan(seen));

  ChatReply out;
  StopWatcher watch(*src_.tokenizer, settings_.stops);
  for (int i = 0; i < settings_.max_tokens && !watch.stopped(); ++i) {
    const int32_t next = stream_->sample(settings_.sampling, rng_);
    out.ids.push_back(next);
    if (is_end(next)) {
      out.ended = true;
      break;
    }
    on_text(watch.add(next));
    stream_->feed(std::span<const int32_t>(&next, 1));
  }
  on_text(watch.flush());
  out.text = watch.text();
  messages_.push_back({"assistant", out.text});
  return out;
}

}  // namespace app
