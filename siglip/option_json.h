// option_json.h: the options of a command as JSON (trainer_state.json keeps the run's TrainOptions), from the same
// describe() list as the parser (siglip/options.h). The key is the option's name with '-' -> '_'.
//   OptionJson<T>::to_json(value) / from_json(json) -> the value, or nullopt when the JSON is not a T
//   options_to_json(o) / options_from_json<Options>(j, where)
// Apart from option_value.h so that only the files that write or read the JSON compile nlohmann/json.hpp.
#pragma once
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "siglip/options.h"

namespace sg {

template <class T>
struct OptionJson;

template <std::integral T>
  requires(!std::same_as<T, bool>)
struct OptionJson<T> {
  static nlohmann::json to_json(T x) { return x; }
  static std::optional<T> from_json(const nlohmann::json& j) {
    if (!j.is_number_integer()) return std::nullopt;
    return j.get<T>();
  }
};

template <>
struct OptionJson<double> {
  static nlohmann::json to_json(double x) { return x; }
  static std::optional<double> from_json(const nlohmann::json& j) {
    if (!j.is_number()) return std::nullopt;
    return j.get<double>();
  }
};

template <>
struct OptionJson<std::string> {
  static nlohmann::json to_json(const std::string& s) { return s; }
  static std::optional<std::string> from_json(const nlohmann::json& j) {
    if (!j.is_string()) return std::nullopt;
    return j.get<std::string>();
  }
};

template <>
struct OptionJson<bool> {
  static nlohmann::json to_json(bool b) { return b; }
  static std::optional<bool> from_json(const nlohmann::json& j) {
    if (!j.is_boolean()) return std::nullopt;
    return j.get<bool>();
  }
};

template <ChoiceEnum E>
struct OptionJson<E> {
  static nlohmann::json to_json(E e) { return choice_name(e); }
  static std::optional<E> from_json(const nlohmann::json& j) {
    if (!j.is_string()) return std::nullopt;
    return parse_choice<E>(j.get<std::string>());
  }
};

template <>
struct OptionJson<InitBias> {
  static nlohmann::json to_json(const InitBias& b) { return b.text(); }  // a string, as trainer_state.json always had
  static std::optional<InitBias> from_json(const nlohmann::json& j) {
    if (!j.is_string()) return std::nullopt;
    return InitBias::parse(j.get<std::string>());
  }
};

// An option that may be absent ("not given"): null.
template <class T>
struct OptionJson<std::optional<T>> {
  static nlohmann::json to_json(const std::optional<T>& v) { return v ? OptionJson<T>::to_json(*v) : nullptr; }
  static std::optional<std::optional<T>> from_json(const nlohmann::json& j) {
    if (j.is_null()) return std::optional<T>();
    auto v = OptionJson<T>::from_json(j);
    if (!v) return std::nullopt;
    return std::optional<T>(*v);
  }
};

namespace detail {

struct ToJson {
  nlohmann::json& out;
  template <class T, class D>
  void option(T& field, const char* name, const D&, const char*, const char*) {
    out[json_key(name)] = OptionJson<T>::to_json(field);
  }
  void positional(std::vector<std::string>&, const char*, const char*) {}
};

struct FromJson {
  const nlohmann::json& in;
  const std::string& where;
  template <class T, class D>
  void option(T& field, const char* name, const D&, const char*, const char*) {
    const std::string key = json_key(name);
    if (!in.contains(key)) return;  // an older file: the option keeps its default
    auto v = OptionJson<T>::from_json(in[key]);
    SG_CHECK(v.has_value(), "{}: option '{}' is {}, expected {}", where, key, in[key].dump(), OptionValue<T>::expects());
    field = *v;
  }
  void positional(std::vector<std::string>&, const char*, const char*) {}
};

}  // namespace detail

template <class Options>
nlohmann::json options_to_json(Options o) {
  nlohmann::json j = nlohmann::json::object();
  detail::ToJson v{j};
  describe(o, v);
  return j;
}

// Keys missing from `j` keep the defaults; `where` names the source in errors ("run/trainer_state.json").
template <class Options>
Options options_from_json(const nlohmann::json& j, const std::string& where) {
  SG_CHECK(j.is_object(), "{}: the options are not a JSON object", where);
  Options o;
  detail::FromJson v{j, where};
  describe(o, v);
  return o;
}

}  // namespace sg
