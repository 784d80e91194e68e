// sigmoid_loss_ring.cpp: the chunked sigmoid loss over a ring of ranks (losses.h). One block of the loss is
// computed from primitive ops without a graph (the op records one node of its own):
//   l = exp(t') x y^T + b            x: [b, D] this rank's images, y: [b_o, D] the text block of rank o
//   loss_block = sum log sigmoid(z * l)
// and its backward, with G = dL/dl = -(g/B) z sigmoid(-z l) [b, b_o]:
//   dx += exp(t') G y,   dy = exp(t') G^T x,   dt' += sum(G * (l - b)),   db += sum(G).
#include "autograd/node.h"
#include "base/error.h"
#include "dist/losses.h"
#include "tensor/ops.h"

namespace sg::dist {
namespace {

constexpr const char* kOp = "sigmoid_loss_ring";

// z [b, b_o] of +-1: +1 where the row's group id equals the column's. Built on the host: group ids are few.
Tensor signs_of(const Tensor& row_groups, const Tensor& col_groups, DType dtype, Device device) {
  const std::vector<int64_t> gr = row_groups.to_vector<int64_t>(), gc = col_groups.to_vector<int64_t>();
  std::vector<float> z(gr.size() * gc.size());  // +-1 is exact in float: half the host memory of double
  for (size_t i = 0; i < gr.size(); ++i)
    for (size_t j = 0; j < gc.size(); ++j) z[i * gc.size() + j] = gr[i] == gc[j] ? 1.0f : -1.0f;
  return from_vector(z, {static_cast<int64_t>(gr.size()), static_cast<int64_t>(gc.size())}, dtype).to(device);
}

// The logits of one block: exp(t') x y^T + b, [b, b_o]. One step per statement, each result replacing the last,
// so that at most two [b, b_o] blocks are alive at a time (temporaries of one expression live to its end).
Tensor block_logits(const Tensor& x, const Tensor& y, const Tensor& scale, const Tensor& bias) {
  Tensor l = matmul(x, y, false, true);
  l = mul(l, exp(scale));
  return add(l, bias);
}

void check_inputs(Communicator& comm, const Tensor& img, const Tensor& txt, const Tensor& scale, const Tensor& bias,
                  const Tensor& groups, const std::vector<int64_t>& rows) {
  SG_CHECK(img.defined() && txt.defined() && scale.defined() && bias.defined() && groups.defined(),
           "{}: an input is undefined", kOp);
  SG_CHECK(img.dim() == 2 && img.shape() == txt.shape(), "{}: img {} and txt {} must both be [b, D]", kOp,
           img.shape_str(), txt.shape_str());
  SG_CHECK(img.dtype() == DType::F32 || img.dtype() == DType::F64, "{}: img is {}: float32 or float64", kOp,
           img.describe());
  SG_CHECK(txt.dtype() == img.dtype() && scale.dtype() == img.dtype() && bias.dtype() == img.dtype(),
           "{}: dtypes differ: img {}, txt {}, logit_scale {}, logit_bias {}", kOp, img.describe(), txt.describe(),
           scale.describe(), bias.describe());
  SG_CHECK(scale.numel() == 1 && bias.numel() == 1, "{}: logit_scale {} and logit_bias {} must have one element", kOp,
           scale.shape_str(), bias.shape_str());
  SG_CHECK(groups.dtype() == DType::I64 && groups.dim() == 1 && groups.size(0) == img.size(0),
           "{}: groups must be int64 [{}], got {}", kOp, img.size(0), groups.describe());
  SG_CHECK(rows.size() == static_cast<size_t>(comm.size()) && rows[comm.rank()] == img.size(0),
           "{}: rank {} of {}: rows per rank has {} entries and says {} rows here, but img is {}", kOp, comm.rank(),
           comm.size(), rows.size(), rows.size() > static_cast<size_t>(comm.rank()) ? rows[comm.rank()] : -1,
           img.shape_str());
}

}  // namespace

Tensor sigmoid_loss_ring(Communicator& comm, const Tensor& img_in, const Tensor& txt_in, const Tensor& logit_scale,
                         const Tensor& logit_bias, const Tensor& groups_in, const std::vector<int64_t>& rows) {
  check_inputs(comm, img_in, txt_in, logit_scale, logit_bias, groups_in, rows);
  const int D = comm.size(), r = comm.rank();
  int64_t B = 0;
  for (int64_t n : rows) B += n;
  const Tensor x = img_in.detach().contiguous(), scale = logit_scale.detach(), bias = logit_bias.detach();
  const Tensor my_groups = groups_in.detach().contiguous();
  // blocks[k]: the text block (and its group ids) that rank r holds at ring step k, owned by rank (r - k) mod D.
  std::vector<Tensor> blocks(static_cast<size_t>(D)), block_groups(static_cast<size_t>(D));
  blocks[0] = txt_in.detach().contiguous();
  block_groups[0] = my_groups;
  Tensor total;  // sum of log sigmoid(z l) over this rank's rows and every column so far
  {
    NoGradGuard no_grad;
    for (int k = 0; k < D; ++k) {
      // Pass this block on to rank r + 1 and take rank r - 1's while this one's logits are computed.
      std::unique_ptr<PendingTransfer> next_block, next_groups;
      if (k + 1 < D) {
        const int owner = ((r - k - 1) % D + D) % D;
        next_block = comm.send_recv_async(blocks[k], (r + 1) % D, {rows[owner], x.size(1)}, (r - 1 + D) % D);
        next_groups = comm.send_recv_async(block_groups[k], (r + 1) % D, {rows[owner]}, (r - 1 + D) % D);
      }
      Tensor terms = block_logits(x, blocks[k], scale, bias);                         // [b, b_o]
      terms = mul(terms, signs_of(my_groups, block_groups[k], x.dtype(), x.device()));  // z * l
      terms = log_sigmoid(terms);
      const Tensor part = sum(terms);
      terms = Tensor();
      total = total.defined() ? add(total, part) : part;
      if (k + 1 < D) {
        blocks[k + 1] = next_block->wait();
        block_groups[k + 1] = next_groups->wait();
      }
    }
  }
  Tensor loss = mul(total, -1.0 / static_cast<double>(B)).detach();  // a scalar

  return record(loss, kOp, {img_in, txt_in, logit_scale, logit_bias},
                [&comm, x, scale, bias, my_groups, blocks, block_groups, rows, B, D, r](const Node&) {
                  return [&comm, x, scale, bias, my_groups, blocks, block_groups, rows, B, D, r](const Tensor& g_out) {
                    NoGradGuard no_grad;
                    const Tensor s = exp(scale);
                    const Tensor coef = mul(g_out.to(x.dtype()), -1.0 / static_cast<double>(B));  // -g/B
                    Tensor g_x = zeros_like(x), g_scale = zeros_like(scale), g_bias = zeros_like(bias), acc;
                    // Step k = D-1 down to 0: the block owned by (r - k) mod D. Its gradient accumulator arrives
                    // from rank r + 1 (which held that block one step later), takes this rank's contribution,
                    // and goes on to rank r - 1; at k = 0 it is back at its owner, complete.
                    for (int k = D - 1; k >= 0; --k) {
                      const Tensor& y = blocks[k];
                      // G = dL/dl = coef z sigmoid(-z l), one step per statement (at most four [b, b_o]
                      // blocks alive: l, z and G before and after a step).
                      Tensor z = signs_of(my_groups, block_groups[k], x.dtype(), x.device());  // [b, b_o]
                      Tensor l = block_logits(x, y, scale, bias);                               // [b, b_o]
                      Tensor G = mul(z, l);
                      G = neg(G);
                      G = sigmoid(G);
                      G = mul(G, z);
                      z = Tensor();
                      G = mul(G, coef);
                      const Tensor G_sum = sum(G);
                      const Tensor d_scale = sum(mul(G, sub(l, bias)));  // dt' = sum(G (l - b))
                      l = Tensor();
                      const Tensor contribution = mul(matmul(G, x, true, false), s);      // [b_o, D]
                      acc = k == D - 1 ? contribution : add(acc, contribution);
                      std::unique_ptr<PendingTransfer> next;  // travels while this rank's own gradients are made
                      if (k > 0) {
                        const int next_owner = ((r - k + 1) % D + D) % D;  // the block rank r + 1 sends now
                        next = comm.send_recv_async(acc, (r - 1 + D) % D, {rows[next_owner], x.size(1)}, (r + 1) % D);
                      }
                      g_x = add(g_x, mul(matmul(G, y), s));                               // [b, D]
                      g_scale = add(g_scale, d_scale.reshape(scale.shape()));
                      g_bias = add(g_bias, G_sum.reshape(bias.shape()));
                      if (next) acc = next->wait();
                    }
                    return std::vector<Tensor>{g_x, acc, g_scale, g_bias};
                  };
                });
}

}  // namespace sg::dist
