// A reader of the few ModelProto fields sentencepiece_proto.h names, over protobuf's wire format
// (varint tags, wire types 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32); other fields are
// skipped. Field numbers are those of SentencePiece's sentencepiece_model.proto.
#include "trainer/tokenizers/sentencepiece_proto.h"

#include <string>

namespace trainer::tokenizers {
namespace {

using common::Result;
using common::Status;

class Reader {
 public:
  explicit Reader(std::string_view b) : b_(b) {}
  bool done() const { return pos_ >= b_.size(); }
  bool varint(uint64_t* v) {
    *v = 0;
    for (int shift = 0; shift < 64 && pos_ < b_.size(); shift += 7) {
      const auto c = static_cast<unsigned char>(b_[pos_++]);
      *v |= static_cast<uint64_t>(c & 0x7F) << shift;
      if ((c & 0x80) == 0) return true;
    }
    return false;
  }
  // One field: its number, wire type, a varint's value or a length-delimited body.
  bool field(uint32_t* number, uint32_t* wire, uint64_t* value, std::string_view* body) {
    uint64_t tag;
    if (!varint(&tag)) return false;
    *number = static_cast<uint32_t>(tag >> 3);
    *wire = static_cast<uint32_t>(tag & 7);
    switch (*wire) {
      case 0:
        return varint(value);
      case 1:
        return skip(8);
      case 5:
        return skip(4);
      case 2: {
        uint64_t n;
        if (!varint(&n) || n > b_.size() - pos_) return false;
        *body = b_.substr(pos_, n);
        pos_ += n;
        return true;
      }
      default:
        return false;  // groups are not used by ModelProto
    }
  }

 private:
  bool skip(size_t n) {
    if (n > b_.size() - pos_) return false;
    pos_ += n;
    return true;
  }
  std::string_view b_;
  size_t pos_ = 0;
};

// Calls fn(number, wire, value, body) for each field of a message; false if malformed.
template <typename Fn>
bool each_field(std::string_view bytes, Fn fn) {
  Reader r(bytes);
  while (!r.done()) {
    uint32_t number = 0, wire = 0;
    uint64_t value = 0;
    std::string_view body;
    if (!r.field(&number, &wire, &value, &body)) return false;
    if (!fn(number, wire, value, body)) return false;
  }
  return true;
}

}  // namespace

Result<SentencePieceProto> parse_sentencepiece_proto(std::string_view bytes, const std::string& where) {
  SentencePieceProto p;
  const bool ok = each_field(bytes, [&](uint32_t number, uint32_t wire, uint64_t, std::string_view body) {
    if (wire != 2) return true;
    if (number == 1) {  // repeated SentencePiece pieces: piece = 1, score = 2, type = 3 (default NORMAL)
      int32_t type = 1;
      if (!each_field(body, [&](uint32_t n, uint32_t w, uint64_t v, std::string_view) {
            if (n == 3 && w == 0) type = static_cast<int32_t>(v);
            return true;
          }))
        return false;
      p.piece_types.push_back(type);
    } else if (number == 2) {  // TrainerSpec: model_type = 3, treat_whitespace_as_suffix = 24
      return each_field(body, [&](uint32_t n, uint32_t w, uint64_t v, std::string_view) {
        if (n == 3 && w == 0) p.model_type = static_cast<int32_t>(v);
        if (n == 24 && w == 0) p.treat_whitespace_as_suffix = v != 0;
        return true;
      });
    } else if (number == 3) {  // NormalizerSpec: name 1, precompiled_charsmap 2, add_dummy_prefix 3,
                               // remove_extra_whitespaces 4, escape_whitespaces 5
      return each_field(body, [&](uint32_t n, uint32_t w, uint64_t v, std::string_view b) {
        if (n == 1 && w == 2) p.normalizer_name = std::string(b);
        if (n == 2 && w == 2) p.has_charsmap = !b.empty();
        if (n == 3 && w == 0) p.add_dummy_prefix = v != 0;
        if (n == 4 && w == 0) p.remove_extra_whitespaces = v != 0;
        if (n == 5 && w == 0) p.escape_whitespaces = v != 0;
        return true;
      });
    }
    return true;
  });
  if (!ok) return Status::Corruption(where + ": not a well-formed SentencePiece model (protobuf)");
  return p;
}

}  // namespace trainer::tokenizers
