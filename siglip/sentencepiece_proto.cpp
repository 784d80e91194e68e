// sentencepiece_proto.cpp: protobuf wire-format edits of a SentencePiece model (see sentencepiece_proto.h).
#include "siglip/sentencepiece_proto.h"

#include <cstdint>

#include "base/error.h"

namespace sg {
namespace {

// ModelProto field 3 is normalizer_spec; NormalizerSpec field 3 is add_dummy_prefix (bool).
constexpr uint64_t kNormalizerSpecField = 3, kAddDummyPrefixField = 3;
constexpr int kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5;

struct Reader {
  const std::string& bytes;
  size_t at;
  const std::string& what;

  bool done() const { return at >= bytes.size(); }
  uint64_t varint() {
    uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      SG_CHECK(at < bytes.size(), "tokenizer: {}: truncated protobuf varint at byte {}", what, at);
      const auto byte = static_cast<uint8_t>(bytes[at++]);
      value |= static_cast<uint64_t>(byte & 0x7F) << shift;
      if (!(byte & 0x80)) return value;
    }
    fail("tokenizer: {}: protobuf varint longer than 10 bytes at byte {}", what, at);
  }
  // Skips the value of a field of `wire_type`; returns [begin, end) of a length-delimited payload.
  std::pair<size_t, size_t> skip(int wire_type) {
    size_t length = 0;
    switch (wire_type) {
      case kVarint: varint(); return {at, at};
      case kFixed64: length = 8; break;
      case kFixed32: length = 4; break;
      case kLengthDelimited: length = static_cast<size_t>(varint()); break;
      default: fail("tokenizer: {}: protobuf wire type {} at byte {} is not supported", what, wire_type, at);
    }
    SG_CHECK(length <= bytes.size() - at, "tokenizer: {}: protobuf field of {} bytes runs past the end at byte {}",
             what, length, at);
    const size_t begin = at;
    at += length;
    return {begin, at};
  }
};

void put_varint(std::string& out, uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7F) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

// A NormalizerSpec payload without its add_dummy_prefix fields, then add_dummy_prefix = false.
std::string normalizer_without_dummy_prefix(const std::string& spec, const std::string& what) {
  std::string out;
  Reader r{spec, 0, what};
  while (!r.done()) {
    const size_t field_begin = r.at;
    const uint64_t key = r.varint();
    r.skip(static_cast<int>(key & 7));
    if ((key >> 3) != kAddDummyPrefixField) out.append(spec, field_begin, r.at - field_begin);
  }
  put_varint(out, (kAddDummyPrefixField << 3) | kVarint);
  put_varint(out, 0);
  return out;
}

}  // namespace

std::string sentencepiece_without_dummy_prefix(const std::string& serialized, const std::string& what) {
  std::string out;
  out.reserve(serialized.size() + 8);
  Reader r{serialized, 0, what};
  bool has_normalizer = false;
  while (!r.done()) {
    const size_t field_begin = r.at;
    const uint64_t key = r.varint();
    const auto [begin, end] = r.skip(static_cast<int>(key & 7));
    if ((key >> 3) == kNormalizerSpecField && (key & 7) == kLengthDelimited) {
      has_normalizer = true;
      const std::string spec = normalizer_without_dummy_prefix(serialized.substr(begin, end - begin), what);
      put_varint(out, key);
      put_varint(out, spec.size());
      out += spec;
    } else {
      out.append(serialized, field_begin, r.at - field_begin);
    }
  }
  if (!has_normalizer) {
    const std::string spec = normalizer_without_dummy_prefix("", what);
    put_varint(out, (kNormalizerSpecField << 3) | kLengthDelimited);
    put_varint(out, spec.size());
    out += spec;
  }
  return out;
}

}  // namespace sg
