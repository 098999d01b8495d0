// Normalizer steps; utf8proc does the Unicode forms and case mapping (the only includer of utf8proc.h).
#include "trainer/tokenizers/normalizer.h"

#include <utf8proc.h>

#include <cstdlib>

#include "common/check.h"

namespace trainer::tokenizers {
namespace {

// Calls `run(valid_utf8_run)` and `raw(invalid_bytes)` over `text`, in order.
template <typename RunFn, typename RawFn>
void for_each_run(std::string_view text, RunFn run, RawFn raw) {
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  size_t i = 0, run_start = 0;
  while (i < text.size()) {
    utf8proc_int32_t cp;
    const utf8proc_ssize_t n = utf8proc_iterate(p + i, static_cast<utf8proc_ssize_t>(text.size() - i), &cp);
    if (n > 0) {
      i += static_cast<size_t>(n);
      continue;
    }
    if (i > run_start) run(text.substr(run_start, i - run_start));
    raw(text.substr(i, 1));
    ++i;
    run_start = i;
  }
  if (i > run_start) run(text.substr(run_start, i - run_start));
}

std::string map_run(std::string_view run, utf8proc_option_t options) {
  utf8proc_uint8_t* out = nullptr;
  const utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(run.data()),
                                          static_cast<utf8proc_ssize_t>(run.size()), &out, options);
  CHECK_MSG(n >= 0, utf8proc_errmsg(n));
  std::string s(reinterpret_cast<const char*>(out), static_cast<size_t>(n));
  std::free(out);
  return s;
}

std::string lowercase(std::string_view text) {
  std::string out;
  for_each_run(
      text,
      [&](std::string_view run) {
        const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(run.data());
        size_t i = 0;
        while (i < run.size()) {
          utf8proc_int32_t cp;
          i += static_cast<size_t>(utf8proc_iterate(p + i, static_cast<utf8proc_ssize_t>(run.size() - i), &cp));
          utf8proc_uint8_t buf[4];
          out.append(reinterpret_cast<const char*>(buf), static_cast<size_t>(utf8proc_encode_char(utf8proc_tolower(cp), buf)));
        }
      },
      [&](std::string_view bytes) { out += bytes; });
  return out;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

}  // namespace

std::string unicode_normalize(NormalizerStep::Kind form, std::string_view text) {
  int options = UTF8PROC_STABLE;
  switch (form) {
    case NormalizerStep::Kind::kNfc: options |= UTF8PROC_COMPOSE; break;
    case NormalizerStep::Kind::kNfd: options |= UTF8PROC_DECOMPOSE; break;
    case NormalizerStep::Kind::kNfkc: options |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT; break;
    case NormalizerStep::Kind::kNfkd: options |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT; break;
    default: CHECK_MSG(false, "not a Unicode normalization form");
  }
  std::string out;
  for_each_run(
      text, [&](std::string_view run) { out += map_run(run, static_cast<utf8proc_option_t>(options)); },
      [&](std::string_view bytes) { out += bytes; });
  return out;
}

std::string normalize(const std::vector<NormalizerStep>& steps, std::string_view input) {
  std::string text(input);
  for (const NormalizerStep& step : steps) {
    switch (step.kind) {
      case NormalizerStep::Kind::kNfc:
      case NormalizerStep::Kind::kNfd:
      case NormalizerStep::Kind::kNfkc:
      case NormalizerStep::Kind::kNfkd:
        text = unicode_normalize(step.kind, text);
        break;
      case NormalizerStep::Kind::kLowercase:
        text = lowercase(text);
        break;
      case NormalizerStep::Kind::kPrepend:
        if (!text.empty()) text = step.text + text;  // as tokenizers does: an empty text stays empty
        break;
      case NormalizerStep::Kind::kReplace: {
        std::vector<std::pair<size_t, size_t>> found;
        step.regex->find_all(text, &found);
        if (found.empty()) break;
        std::string out;
        size_t pos = 0;
        for (auto [b, e] : found) {
          out.append(text, pos, b - pos);
          out += step.text;
          pos = e;
        }
        out.append(text, pos, std::string::npos);
        text = std::move(out);
        break;
      }
      case NormalizerStep::Kind::kStrip: {
        size_t b = 0, e = text.size();
        if (step.strip_left)
          while (b < e && is_space(text[b])) ++b;
        if (step.strip_right)
          while (e > b && is_space(text[e - 1])) --e;
        text = text.substr(b, e - b);
        break;
      }
    }
  }
  return text;
}

}  // namespace trainer::tokenizers
