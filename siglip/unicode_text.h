// unicode_text.h: the bits of Python's str that SigLIP's text canonicalisation relies on, on UTF-8 text.
//
// transformers' SiglipTokenizer lower-cases with Python's str.lower() (full Unicode case mapping, with the
// Final_Sigma rule: 'Σ' at the end of a word becomes 'ς') and collapses runs of str.isspace() characters
// (Unicode White_Space plus U+001C..U+001F). The tables come from scripts/gen_unicode_case.py.
#pragma once
#include <string>
#include <string_view>

namespace sg {

// Throws sg::Error naming `what` when `text` is not valid UTF-8.
std::u32string utf8_to_utf32(std::string_view text, std::string_view what);
std::string utf32_to_utf8(std::u32string_view text);

bool python_isspace(char32_t c);
// Python's str.lower(); without final_sigma, 'Σ' is always 'σ' (a lower-casing one code point at a time, as
// Hugging Face tokenizers' Lowercase normalizer).
std::u32string python_lower(std::u32string_view text, bool final_sigma = true);

}  // namespace sg
