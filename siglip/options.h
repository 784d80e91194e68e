// options.h: the one definition of a command's options, and what is derived from it.
//
// A command's options are a struct with a `describe` function that lists every option once:
//
//   struct EvalOptions {
//     static constexpr const char* command = "eval", *summary = "...";
//     std::string checkpoint;
//     int64_t limit;
//     EvalOptions() { set_defaults(*this); }
//   };
//   template <class V> void describe(EvalOptions& o, V& v) {
//     //       field          name          default placeholder help
//     v.option(o.checkpoint, "checkpoint", "",     "DIR",      "a checkpoint or a run directory");
//     v.option(o.limit,      "limit",      0,      "N",        "test examples (0: all)");
//   }
//
// The field gives the type, the line the name, default, placeholder (empty: from the type, e.g.
// "sigmoid|softmax" for an enum) and help. From this list come: the defaults (set_defaults), the command-line
// parser and --help (option_slots, siglip/cli.h), the JSON of the options (options_to_json / options_from_json in
// siglip/option_json.h; the key is the name with '-' -> '_') and the markdown table in README.md.
// A bool option is a flag: default false is given as --NAME, default true as --no-NAME (the JSON key stays NAME).
// v.positional(field, "NAME", "help") declares the words that are not options (a std::vector<std::string>).
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "siglip/option_value.h"

namespace sg {

// "weight-decay" -> "weight_decay"
inline std::string json_key(std::string name) {
  for (char& c : name)
    if (c == '-') c = '_';
  return name;
}

// One option (or the positional words) of a command, type-erased for the parser, --help and the tables.
struct OptionSlot {
  std::string name;          // as given on the command line without "--": "steps", "no-eval"
  std::string placeholder;   // "N", "sigmoid|softmax"; empty for a flag
  std::string default_text;  // "300"; empty when the default is nothing to show
  std::string expects;       // "an integer": for the message about a bad value
  std::string help;
  bool flag = false;
  bool positional = false;
  std::function<bool(const std::string&)> assign;                      // false: the text is not a valid value
  std::function<void(const std::vector<std::string>&)> assign_words;  // positional words
};

namespace detail {

struct SetDefaults {
  template <class T, class D>
  void option(T& field, const char*, const D& def, const char*, const char*) {
    field = T(def);
  }
  void positional(std::vector<std::string>& words, const char*, const char*) { words.clear(); }
};

struct CollectSlots {
  std::vector<OptionSlot> slots;
  template <class T, class D>
  void option(T& field, const char* name, const D& def, const char* placeholder, const char* help) {
    const T d = T(def);
    OptionSlot s;
    s.help = help;
    if constexpr (std::is_same_v<T, bool>) {
      s.flag = true;
      s.name = d ? std::string("no-") + name : name;
      s.assign = [&field, d](const std::string&) { return field = !d, true; };
    } else {
      s.name = name;
      s.placeholder = placeholder && *placeholder ? placeholder : OptionValue<T>::placeholder();
      s.default_text = OptionValue<T>::text(d);
      s.expects = OptionValue<T>::expects();
      s.assign = [&field](const std::string& text) {
        auto v = OptionValue<T>::parse(text);
        if (v) field = *v;
        return v.has_value();
      };
    }
    slots.push_back(std::move(s));
  }
  void positional(std::vector<std::string>& words, const char* name, const char* help) {
    OptionSlot s;
    s.name = name;
    s.placeholder = name;
    s.help = help;
    s.positional = true;
    s.assign_words = [&words](const std::vector<std::string>& w) { words = w; };
    slots.push_back(std::move(s));
  }
};

}  // namespace detail

template <class Options>
void set_defaults(Options& o) {
  detail::SetDefaults v;
  describe(o, v);
}

// The slots refer to o's fields: they live as long as o.
template <class Options>
std::vector<OptionSlot> option_slots(Options& o) {
  detail::CollectSlots v;
  describe(o, v);
  return std::move(v.slots);
}

}  // namespace sg
