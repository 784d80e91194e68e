// option_value.h: one option value as text and as JSON, for each type an option can have.
//   OptionValue<T>::parse(text)    -> the value, or nullopt when the text is not a T
//   OptionValue<T>::text(value)    -> the text that parses back to the same value ("300", "0.001", "sigmoid")
//   OptionValue<T>::to_json/from_json, placeholder ("N", "X", "sigmoid|softmax") and expects ("an integer")
// Numbers are read with strtoll/strtoull/strtod, the whole text or nothing.
#pragma once
#include <cerrno>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

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
  static nlohmann::json to_json(T x) { return x; }
  static std::optional<T> from_json(const nlohmann::json& j) {
    if (!j.is_number_integer()) return std::nullopt;
    return j.get<T>();
  }
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
  static nlohmann::json to_json(double x) { return x; }
  static std::optional<double> from_json(const nlohmann::json& j) {
    if (!j.is_number()) return std::nullopt;
    return j.get<double>();
  }
};

template <>
struct OptionValue<std::string> {
  static std::string placeholder() { return "TEXT"; }
  static std::string expects() { return "a text"; }
  static std::optional<std::string> parse(const std::string& s) { return s; }
  static std::string text(const std::string& s) { return s; }
  static nlohmann::json to_json(const std::string& s) { return s; }
  static std::optional<std::string> from_json(const nlohmann::json& j) {
    if (!j.is_string()) return std::nullopt;
    return j.get<std::string>();
  }
};

// A flag: given or not. Its text is only for the JSON and the tables.
template <>
struct OptionValue<bool> {
  static std::string placeholder() { return ""; }
  static std::string expects() { return "no value"; }
  static std::string text(bool b) { return b ? "on" : "off"; }
  static nlohmann::json to_json(bool b) { return b; }
  static std::optional<bool> from_json(const nlohmann::json& j) {
    if (!j.is_boolean()) return std::nullopt;
    return j.get<bool>();
  }
};

template <ChoiceEnum E>
struct OptionValue<E> {
  static std::string placeholder() { return choice_names<E>("|"); }
  static std::string expects() { return "one of " + choice_names<E>(", "); }
  static std::optional<E> parse(const std::string& s) { return parse_choice<E>(s); }
  static std::string text(E e) { return choice_name(e); }
  static nlohmann::json to_json(E e) { return choice_name(e); }
  static std::optional<E> from_json(const nlohmann::json& j) {
    if (!j.is_string()) return std::nullopt;
    return parse_choice<E>(j.get<std::string>());
  }
};

template <>
struct OptionValue<InitBias> {
  static std::string placeholder() { return "auto|X"; }
  static std::string expects() { return "auto or a number"; }
  static std::optional<InitBias> parse(const std::string& s) { return InitBias::parse(s); }
  static std::string text(const InitBias& b) { return b.text(); }
  static nlohmann::json to_json(const InitBias& b) { return b.text(); }  // a string, as trainer_state.json always had
  static std::optional<InitBias> from_json(const nlohmann::json& j) {
    if (!j.is_string()) return std::nullopt;
    return InitBias::parse(j.get<std::string>());
  }
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
  static nlohmann::json to_json(const std::optional<T>& v) { return v ? OptionValue<T>::to_json(*v) : nullptr; }
  static std::optional<std::optional<T>> from_json(const nlohmann::json& j) {
    if (j.is_null()) return std::optional<T>();
    auto v = OptionValue<T>::from_json(j);
    if (!v) return std::nullopt;
    return std::optional<T>(*v);
  }
};

}  // namespace sg
