// error_of.h: the message of the sg::Error that f throws, or "(no error)", for tests that check error texts.
#pragma once
#include <functional>
#include <string>

#include "base/error.h"

inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const sg::Error& e) {
    return e.what();
  }
  return "(no error)";
}
