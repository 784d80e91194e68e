// unfused.cpp: the thread's fused/unfused switch (unfused.h).
#include "nn/unfused.h"

namespace sg::nn {
namespace {
thread_local bool t_unfused = false;
}  // namespace

UnfusedGuard::UnfusedGuard(bool on) : previous_(t_unfused) { t_unfused = on; }
UnfusedGuard::~UnfusedGuard() { t_unfused = previous_; }
bool unfused() { return t_unfused; }

}  // namespace sg::nn
