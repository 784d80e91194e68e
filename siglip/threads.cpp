#include "siglip/threads.h"

#include <cblas.h>
#include <omp.h>

namespace sg {

// oneDNN (Debian's libdnnl) is built on the OpenMP runtime: omp_set_num_threads bounds it too.
ThreadCountScope::ThreadCountScope(int threads) {
  if (threads <= 0) return;
  changed_ = true;
  omp_before_ = omp_get_max_threads();
  openblas_before_ = openblas_get_num_threads();
  omp_set_num_threads(threads);
  openblas_set_num_threads(threads);
}

ThreadCountScope::~ThreadCountScope() {
  if (!changed_) return;
  omp_set_num_threads(omp_before_);
  openblas_set_num_threads(openblas_before_);
}

}  // namespace sg
