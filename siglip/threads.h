// threads.h: --threads N: how many CPU threads the kernels use (OpenMP regions, which oneDNN runs on too, and
// OpenBLAS's own pthread pool), for as long as a ThreadCountScope lives.
#pragma once

namespace sg {

class ThreadCountScope {
 public:
  explicit ThreadCountScope(int threads);  // threads <= 0: leave everything as it is
  ~ThreadCountScope();                     // restores the counts from before
  ThreadCountScope(const ThreadCountScope&) = delete;
  ThreadCountScope& operator=(const ThreadCountScope&) = delete;

 private:
  bool changed_ = false;
  int omp_before_ = 0, openblas_before_ = 0;
};

}  // namespace sg
