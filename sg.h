// sg.h: the engine in one include: tensors, the differentiable ops, autograd (hooks, grad mode, gradcheck, traces),
// the nn layers, AdamW and safetensors. A program needs `-I<this folder>` and the link line that
// `make print-flags` prints; examples/ shows the first steps.
#pragma once
#include "autograd/gradcheck.h"
#include "autograd/graph.h"
#include "autograd/node.h"
#include "autograd/trace.h"
#include "base/error.h"
#include "nn/layers.h"
#include "nn/module.h"
#include "nn/optim.h"
#include "nn/safetensors.h"
#include "tensor/backends.h"
#include "tensor/ops.h"
#include "tensor/tensor.h"
