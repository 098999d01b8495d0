// PCRE2 behind Regex: compiled once (JIT where available), matched with per-thread match data and
// JIT stack. Splitter turns the matches into pieces the way tokenizers' Split pre-tokenizer does.
#define PCRE2_CODE_UNIT_WIDTH 8
#include "trainer/tokenizers/regex_split.h"

#include <pcre2.h>

#include <algorithm>

#include "common/check.h"

namespace trainer::tokenizers {
namespace {

using common::Result;
using common::Status;

// Per-thread matching state, shared by every Regex (a match context with a JIT stack big enough
// for long runs of one character class).
struct ThreadMatchState {
  pcre2_match_context* context = nullptr;
  pcre2_jit_stack* stack = nullptr;
  ThreadMatchState() {
    context = pcre2_match_context_create(nullptr);
    stack = pcre2_jit_stack_create(64 * 1024, 8 * 1024 * 1024, nullptr);
    if (context && stack) pcre2_jit_stack_assign(context, nullptr, stack);
  }
  ~ThreadMatchState() {
    if (stack) pcre2_jit_stack_free(stack);
    if (context) pcre2_match_context_free(context);
  }
};

ThreadMatchState& match_state() {
  thread_local ThreadMatchState state;
  return state;
}

// Length of the UTF-8 character starting at p (1 for a byte that does not start a valid one).
size_t char_length(std::string_view s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
  return i + n <= s.size() ? n : 1;
}

}  // namespace

Result<SplitBehavior> parse_split_behavior(std::string_view name) {
  if (name == "Removed") return SplitBehavior::kRemoved;
  if (name == "Isolated") return SplitBehavior::kIsolated;
  if (name == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (name == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (name == "Contiguous") return SplitBehavior::kContiguous;
  return Status::InvalidArgument("unknown split behavior '" + std::string(name) + "'");
}

Result<std::shared_ptr<const Regex>> Regex::compile(const std::string& pattern, bool literal) {
  int error = 0;
  PCRE2_SIZE offset = 0;
  const uint32_t options = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | (literal ? PCRE2_LITERAL : PCRE2_UCP);
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), options, &error,
                                   &offset, nullptr);
  if (!code) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error, message, sizeof message);
    return Status::InvalidArgument("regex /" + pattern + "/ does not compile at offset " + std::to_string(offset) +
                                   ": " + reinterpret_cast<const char*>(message));
  }
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // optional: the interpreter serves when JIT is absent
  std::shared_ptr<Regex> r(new Regex());
  r->pattern_ = pattern;
  r->code_ = code;
  return std::shared_ptr<const Regex>(std::move(r));
}

Regex::~Regex() {
  if (code_) pcre2_code_free(static_cast<pcre2_code*>(code_));
}

void Regex::find_all(std::string_view text, std::vector<std::pair<size_t, size_t>>* matches) const {
  auto* code = static_cast<pcre2_code*>(code_);
  pcre2_match_data* md = pcre2_match_data_create_from_pattern(code, nullptr);
  CHECK_MSG(md != nullptr, "out of memory for regex match data");
  ThreadMatchState& st = match_state();
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t start = 0;
  while (start <= text.size()) {
    int rc = pcre2_match(code, subject, text.size(), start, 0, md, st.context);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
      rc = pcre2_match(code, subject, text.size(), start, PCRE2_NO_JIT, md, st.context);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    CHECK_MSG(rc >= 0, ("regex matching failed (PCRE2 error " + std::to_string(rc) + ") for /" + pattern_ + "/").c_str());
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    const size_t b = ov[0], e = ov[1];
    if (e > b) {
      matches->emplace_back(b, e);
      start = e;
    } else {  // an empty match splits nothing: step over one character
      if (b >= text.size()) break;
      start = b + char_length(text, b);
    }
  }
  pcre2_match_data_free(md);
}

void Splitter::split(std::string_view text, std::vector<std::string_view>* out) const {
  if (text.empty()) return;
  std::vector<std::pair<size_t, size_t>> found;
  regex->find_all(text, &found);
  // Segments covering the text: [begin, end) and whether it is a delimiter.
  struct Segment {
    size_t begin, end;
    bool delimiter;
  };
  std::vector<Segment> segs;
  size_t pos = 0;
  for (auto [b, e] : found) {
    if (b > pos) segs.push_back({pos, b, invert});
    segs.push_back({b, e, !invert});
    pos = e;
  }
  if (pos < text.size()) segs.push_back({pos, text.size(), invert});

  std::vector<Segment> merged;
  switch (behavior) {
    case SplitBehavior::kRemoved:
      for (const Segment& s : segs)
        if (!s.delimiter) merged.push_back(s);
      break;
    case SplitBehavior::kIsolated:
      merged = segs;
      break;
    case SplitBehavior::kMergedWithPrevious: {
      bool previous_delimiter = false;
      for (const Segment& s : segs) {
        if (s.delimiter && !previous_delimiter && !merged.empty()) merged.back().end = s.end;
        else merged.push_back(s);
        previous_delimiter = s.delimiter;
      }
      break;
    }
    case SplitBehavior::kMergedWithNext: {
      bool previous_delimiter = false;
      for (auto it = segs.rbegin(); it != segs.rend(); ++it) {
        if (it->delimiter && !previous_delimiter && !merged.empty()) merged.back().begin = it->begin;
        else merged.push_back(*it);
        previous_delimiter = it->delimiter;
      }
      std::reverse(merged.begin(), merged.end());
      break;
    }
    case SplitBehavior::kContiguous: {
      for (const Segment& s : segs) {
        if (s.delimiter && !merged.empty() && merged.back().delimiter) merged.back().end = s.end;
        else merged.push_back(s);
      }
      break;
    }
  }
  for (const Segment& s : merged)
    if (s.end > s.begin) out->push_back(text.substr(s.begin, s.end - s.begin));
}

}  // namespace trainer::tokenizers
