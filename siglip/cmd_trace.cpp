// cmd_trace.cpp: `siglip trace`: one backward pass of SigLIP, node by node (siglip/trace.h does the work).
#include <iostream>

#include "siglip/commands.h"
#include "siglip/trace.h"

namespace sg {

int run_trace(const TraceOptions& o) { return trace_session(o, std::cin, std::cout); }

}  // namespace sg
