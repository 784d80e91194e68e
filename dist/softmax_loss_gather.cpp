// softmax_loss_gather.cpp: CLIP's softmax loss with all-gathered embeddings (losses.h), and the differentiable
// all-gather it uses.
#include "autograd/node.h"
#include "base/error.h"
#include "dist/losses.h"
#include "tensor/ops.h"

namespace sg::dist {
namespace {

// [b, B] of 0/1: 1 where this rank's row's group equals the global column's.
Tensor positives_of(const Tensor& mine, const Tensor& all, DType dtype, Device device) {
  const std::vector<int64_t> gm = mine.to_vector<int64_t>(), ga = all.to_vector<int64_t>();
  std::vector<double> p(gm.size() * ga.size());
  for (size_t i = 0; i < gm.size(); ++i)
    for (size_t j = 0; j < ga.size(); ++j) p[i * ga.size() + j] = gm[i] == ga[j] ? 1.0 : 0.0;
  return from_vector(p, {static_cast<int64_t>(gm.size()), static_cast<int64_t>(ga.size())}, dtype).to(device);
}

}  // namespace

Tensor all_gather_rows(Communicator& comm, const Tensor& t, const std::vector<int64_t>& rows) {
  SG_CHECK(t.defined() && t.dim() >= 1, "all_gather_rows: needs a tensor of at least one dim");
  Tensor gathered = comm.all_gather(t.detach().contiguous(), rows);
  return record(gathered, "all_gather_rows", {t}, [&comm, rows](const Node&) {
    return [&comm, rows](const Tensor& g) {
      return std::vector<Tensor>{comm.reduce_scatter_sum(g.contiguous(), rows)};
    };
  });
}

Tensor softmax_loss_gather(Communicator& comm, const Tensor& img, const Tensor& txt, const Tensor& logit_scale,
                           const Tensor& logit_bias, const Tensor& groups, const std::vector<int64_t>& rows) {
  SG_CHECK(img.dim() == 2 && img.shape() == txt.shape(), "softmax_loss_gather: img {} and txt {} must both be [b, D]",
           img.shape_str(), txt.shape_str());
  SG_CHECK(groups.dtype() == DType::I64 && groups.dim() == 1 && groups.size(0) == img.size(0),
           "softmax_loss_gather: groups must be int64 [{}], got {}", img.size(0), groups.describe());
  SG_CHECK(rows.size() == static_cast<size_t>(comm.size()) && rows[comm.rank()] == img.size(0),
           "softmax_loss_gather: rank {}: rows per rank ({} entries) disagree with img {}", comm.rank(), rows.size(),
           img.shape_str());
  int64_t B = 0;
  for (int64_t n : rows) B += n;
  const Tensor img_all = all_gather_rows(comm, img, rows), txt_all = all_gather_rows(comm, txt, rows);  // [B, D]
  const Tensor groups_all = comm.all_gather(groups.detach().contiguous(), rows);                        // [B]
  const Tensor s = exp(logit_scale);
  const Tensor row_logits = add(mul(matmul(img, txt_all, false, true), s), logit_bias);  // [b, B]: my images
  const Tensor col_logits = add(mul(matmul(txt, img_all, false, true), s), logit_bias);  // [b, B]: my texts
  const Tensor pos = positives_of(groups, groups_all, img.dtype(), img.device());        // [b, B]
  const Tensor target = div(pos, sum(pos, {1}, true));  // uniform over each row's positives (same for columns)
  const Tensor rows_ce = sum(mul(target, log_softmax(row_logits, 1)));
  const Tensor cols_ce = sum(mul(target, log_softmax(col_logits, 1)));
  return mul(add(rows_ce, cols_ce), -0.5 / static_cast<double>(B));
}

}  // namespace sg::dist
