// sentencepiece_proto.h: edits of a serialized SentencePiece ModelProto (protobuf wire format), for the
// settings transformers changes on the model it loads.
//
// A SentencePieceBackend tokenizer with "legacy": false (tokenizer_config.json) turns the model's
// normalizer_spec.add_dummy_prefix off before encoding; without_dummy_prefix() makes the same change here.
#pragma once
#include <string>

namespace sg {

// The model with normalizer_spec.add_dummy_prefix = false; every other field byte for byte as it was.
// Throws sg::Error naming `what` when `serialized` is not a well-formed protobuf message.
std::string sentencepiece_without_dummy_prefix(const std::string& serialized, const std::string& what);

}  // namespace sg
