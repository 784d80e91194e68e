// The doctest runner. Run one op's tests: build/tests -sc='layer_norm*'  (see README).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
