// option_value.h: one option value as text, for each type an option can have.
//   OptionValue<T>::parse(text)    -> the value, or nullopt when the text is not a T
//   OptionValue<T>::text(value)    -> the text that parses back to the same value ("300", "0.001", "sigmoid")
//   OptionValue<T>::placeholder ("N", "X", "sigmoid|softmax") and expects ("an integer")
// The JSON of a value is siglip/option_json.h's OptionJson<T>, apart so that the many files that parse command
// lines do not compile nlohmann/json.hpp.
// Numbers are read with strtoll/strtoull/strtod, the whole text or nothing.
#pragma once
#include <cerrno>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>

#include <fmt/format.h>

#include "siglip/choices.h"

namespace sg {

template <class T>
struct OptionValue;

template <std::integral T>
  requires(!std::same_as<T, bool>)
struct OptionValue<T> {
  static std::string placeholder() { return "N"; }
  static std::string expects() { return std::is_signed_v<T> ? "an integer" : "a non-negative integer"; }
  static std::optional<T> parse(const std::string& s) {
    if (s.empty() || (!std::is_signed_v<T> && s.find('-') != std::string::npos)) return std::nullopt;
    char* end = nullptr;
    errno = 0;
    if constexpr (std::is_signed_v<T>) {
      const long long x = std::strtoll(s.c_str(), &end, 10);
      if (*end != 0 || errno == ERANGE || !std::in_range<T>(x)) return std::nullopt;
      return static_cast<T>(x);
    } else {
      const unsigned long long x = std::strtoull(s.c_str(), &end, 10);
      if (*end != 0 || errno == ERANGE || !std::in_range<T>(x)) return std::nullopt;
      return static_cast<T>(x);
    }
  }
  static std::string text(T x) { return std::to_string(x); }
};

template <>
struct OptionValue<double> {
  static std::string placeholder() { return "X"; }
  static std::string expects() { return "a number"; }
  static std::optional<double> parse(const std::string& s) {
    if (s.empty()) return std::nullopt;
    char* end = nullptr;
    const double x = std::strtod(s.c_str(), &end);
    if (*end != 0) return std::nullopt;
    return x;
  }
  static std::string text(double x) { return fmt::format("{}", x); }  // shortest text that reads back as x
};

template <>
struct OptionValue<std::string> {
  static std::string placeholder() { return "TEXT"; }
  static std::string expects() { return "a text"; }
  static std::optional<std::string> parse(const std::string& s) { return s; }
  static std::string text(const std::string& s) { return s; }
};

// A flag: given or not. Its text is only for the JSON and the tables.
template <>
struct OptionValue<bool> {
  static std::string placeholder() { return ""; }
  static std::string expects() { return "no value"; }
  static std::string text(bool b) { return b ? "on" : "off"; }
};

template <ChoiceEnum E>
struct OptionValue<E> {
  static std::string placeholder() { return choice_names<E>("|"); }
  static std::string expects() { return "one of " + choice_names<E>(", "); }
  static std::optional<E> parse(const std::string& s) { return parse_choice<E>(s); }
  static std::string text(E e) { return choice_name(e); }
};

template <>
struct OptionValue<InitBias> {
  static std::string placeholder() { return "auto|X"; }
  static std::string expects() { return "auto or a number"; }
  static std::optional<InitBias> parse(const std::string& s) { return InitBias::parse(s); }
  static std::string text(const InitBias& b) { return b.text(); }
};

// An option whose default depends on the machine or on other options: absent means "not given".
template <class T>
struct OptionValue<std::optional<T>> {
  static std::string placeholder() { return OptionValue<T>::placeholder(); }
  static std::string expects() { return OptionValue<T>::expects(); }
  static std::optional<std::optional<T>> parse(const std::string& s) {
    auto v = OptionValue<T>::parse(s);
    if (!v) return std::nullopt;
    return std::optional<T>(*v);
  }
  static std::string text(const std::optional<T>& v) { return v ? OptionValue<T>::text(*v) : ""; }
};

}  // namespace sg
