// op_registry.cpp: the cases of every op, their plain references, and the harness that checks them.
#include "tensor/op_registry.h"

#include <cmath>
#include <map>
#include <set>

#include "autograd/node.h"
#include "tensor/backends.h"

namespace sg {
namespace {

// ---------------------------------------------------------------- reference helpers (plain f64 loops)

// A host copy of a tensor, indexed by a full index vector.
struct Ref {
  std::vector<double> v;
  Shape shape, st;
  explicit Ref(const Tensor& t) : v(t.to_vector<double>()), shape(t.shape()), st(contiguous_strides(t.shape())) {}
  double at(const Shape& idx) const {
    int64_t o = 0;
    for (size_t d = 0; d < idx.size(); ++d) o += idx[d] * st[d];
    return v[static_cast<size_t>(o)];
  }
  // Element at an output index under broadcasting (trailing dims aligned, size-1 dims read at 0).
  double bcast(const Shape& out_idx) const {
    int64_t o = 0;
    size_t lead = out_idx.size() - shape.size();
    for (size_t d = 0; d < shape.size(); ++d) o += (shape[d] == 1 ? 0 : out_idx[lead + d]) * st[d];
    return v[static_cast<size_t>(o)];
  }
  int64_t size(int64_t d) const { return shape[d < 0 ? d + static_cast<int64_t>(shape.size()) : d]; }
};

// An f64 tensor of `shape` whose element at idx is f(idx).
Tensor build(const Shape& shape, const std::function<double(const Shape&)>& f) {
  std::vector<double> out(static_cast<size_t>(shape_numel(shape)));
  Shape idx(shape.size(), 0);
  for (size_t i = 0; i < out.size(); ++i) {
    out[i] = f(idx);
    for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
  return from_vector(out, shape, DType::F64);
}

Shape bshape(const Shape& a, const Shape& b) { return broadcast_shapes(a, b, "reference"); }

// a @ w^T + b in f64: a: [..., K], w: [N, K], b: [N] or undefined -> [..., N] (the fused linear ops' references).
Tensor linear_ref(const Tensor& a_in, const Tensor& w_in, const Tensor& b_in) {
  Ref a(a_in), w(w_in);
  const bool has_b = b_in.defined();
  Ref b(has_b ? b_in : w_in);
  Shape out = a.shape;
  const int64_t K = out.back();
  out.back() = w.size(0);
  return build(out, [&](const Shape& i) {
    Shape row = i;
    double s = has_b ? b.at({i.back()}) : 0.0;
    for (int64_t k = 0; k < K; ++k) row.back() = k, s += a.at(row) * w.at({i.back(), k});
    return s;
  });
}

// a + r in f64, both of one shape (the residual of the fused linear ops' references).
Tensor add_ref(const Tensor& a_in, const Tensor& r_in) {
  Ref a(a_in), r(r_in);
  return build(a.shape, [&](const Shape& i) { return a.at(i) + r.at(i); });
}

// Random inputs: normal, or uniform in [lo, hi) (positive where the op needs it).
using Maker = std::function<std::vector<Tensor>(DType, Generator&)>;
Maker normals(std::vector<Shape> shapes, double scale = 1.0) {
  return [shapes, scale](DType dt, Generator& g) {
    std::vector<Tensor> r;
    for (const auto& s : shapes) r.push_back(mul(randn(s, DType::F64, &g), scale).to(dt));
    return r;
  };
}
Maker uniforms(std::vector<Shape> shapes, double lo, double hi) {
  return [shapes, lo, hi](DType dt, Generator& g) {
    std::vector<Tensor> r;
    for (const auto& s : shapes) r.push_back(uniform(s, lo, hi, dt, &g));
    return r;
  };
}

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

// ---------------------------------------------------------------- the cases

void add_elementwise(std::vector<OpCase>& cases) {
  struct B { const char* op; Tensor (*f)(const Tensor&, const Tensor&); double (*r)(double, double); };
  const B binaries[] = {
      {"add", add, [](double a, double b) { return a + b; }},
      {"sub", sub, [](double a, double b) { return a - b; }},
      {"mul", mul, [](double a, double b) { return a * b; }},
      {"div", div, [](double a, double b) { return a / b; }},
  };
  const std::pair<const char*, std::vector<Shape>> shapes[] = {
      {"same", {{3, 4}, {3, 4}}},
      {"broadcast_rows_cols", {{3, 1}, {1, 4}}},
      {"broadcast_trailing", {{2, 3, 4}, {4}}},
      {"broadcast_scalar", {{}, {2, 3}}},
      {"size1_middle", {{2, 1, 3}, {2, 4, 3}}},
  };
  for (const auto& b : binaries)
    for (const auto& [name, sh] : shapes) {
      bool is_div = std::string(b.op) == "div";
      Maker mk = is_div ? Maker([sh = sh](DType dt, Generator& g) {
        // divisor bounded away from zero, with both signs
        Tensor a = randn(sh[0], dt, &g);
        Tensor s = uniform(sh[1], 0.5, 2.0, dt, &g);
        Tensor sign = add(mul(randint(sh[1], 0, 2, &g).to(dt), 2.0), -1.0);
        return std::vector<Tensor>{a, mul(s, sign)};
      })
                        : normals(sh);
      auto f = b.f;
      auto r = b.r;
      cases.push_back({b.op, name, mk, [f](const std::vector<Tensor>& x) { return f(x[0], x[1]); },
                       [r](const std::vector<Tensor>& x) {
                         Ref a(x[0]), c(x[1]);
                         return build(bshape(a.shape, c.shape), [&](const Shape& i) { return r(a.bcast(i), c.bcast(i)); });
                       },
                       {}});
    }

  struct U { const char* op; std::function<Tensor(const Tensor&)> f; double (*r)(double); double lo, hi; };
  const double c = std::sqrt(2.0 / M_PI);
  const U unaries[] = {
      {"neg", [](const Tensor& x) { return neg(x); }, [](double x) { return -x; }, 0, 0},
      {"exp", [](const Tensor& x) { return exp(x); }, [](double x) { return std::exp(x); }, 0, 0},
      {"log", [](const Tensor& x) { return log(x); }, [](double x) { return std::log(x); }, 0.2, 3},
      {"sqrt", [](const Tensor& x) { return sqrt(x); }, [](double x) { return std::sqrt(x); }, 0.2, 3},
      {"rsqrt", [](const Tensor& x) { return rsqrt(x); }, [](double x) { return 1 / std::sqrt(x); }, 0.2, 3},
      {"pow", [](const Tensor& x) { return pow(x, 2.5); }, [](double x) { return std::pow(x, 2.5); }, 0.2, 3},
      {"tanh", [](const Tensor& x) { return tanh(x); }, [](double x) { return std::tanh(x); }, 0, 0},
      {"sigmoid", [](const Tensor& x) { return sigmoid(x); }, [](double x) { return 1 / (1 + std::exp(-x)); }, 0, 0},
      {"log_sigmoid", [](const Tensor& x) { return log_sigmoid(x); },
       [](double x) { return -std::log(1 + std::exp(-x)); }, 0, 0},
      {"softplus", [](const Tensor& x) { return softplus(x); }, [](double x) { return std::log(1 + std::exp(x)); }, 0, 0},
      {"relu", [](const Tensor& x) { return relu(x); }, [](double x) { return x > 0 ? x : 0; }, 0, 0},
      {"gelu", [](const Tensor& x) { return gelu(x); }, nullptr, 0, 0},
      {"silu", [](const Tensor& x) { return silu(x); }, [](double x) { return x / (1 + std::exp(-x)); }, 0, 0},
      {"add", [](const Tensor& x) { return add(x, 0.75); }, [](double x) { return x + 0.75; }, 0, 0},
      {"mul", [](const Tensor& x) { return mul(x, -1.5); }, [](double x) { return x * -1.5; }, 0, 0},
  };
  // Every row of base/elementwise_ops.h needs an entry above: without one its kernels would go untested.
  for (Unary kind : kUnaryOps) {
    bool listed = false;
    for (const auto& u : unaries)  // listed under its op name ("add_scalar") or its function's ("add")
      listed = listed || u.op == std::string(unary_name(kind)) || u.op == std::string(unary_fn(kind));
    SG_CHECK(listed, "op registry: unary op '{}' (base/elementwise_ops.h) has no entry in add_elementwise",
             unary_name(kind));
  }
  for (const auto& u : unaries) {
    auto r = u.r;
    std::function<double(double)> ref = r ? std::function<double(double)>(r) : [c](double x) {
      return 0.5 * x * (1 + std::tanh(c * (x + 0.044715 * x * x * x)));
    };
    Maker mk = u.lo < u.hi ? uniforms({{3, 5}}, u.lo, u.hi) : normals({{3, 5}}, 1.5);
    auto f = u.f;
    Fn fwd = [f](const std::vector<Tensor>& x) { return f(x[0]); };
    Fn rf = [ref](const std::vector<Tensor>& x) {
      Ref a(x[0]);
      return build(a.shape, [&](const Shape& i) { return ref(a.at(i)); });
    };
    std::string op = u.op;
    cases.push_back({u.op, op == "add" || op == "mul" ? "scalar" : "random", mk, fwd, rf, {}});
    if (op == "log_sigmoid" || op == "softplus" || op == "sigmoid" || op == "silu")  // stable far out both ways
      cases.push_back({u.op, "large_magnitude", normals({{4, 6}}, 30.0), fwd, rf, {}});
  }
  // bias_gelu(x, b) = gelu(x + b) with b broadcast over the rows.
  Fn bias_gelu_ref = [c](const std::vector<Tensor>& x) {
    Ref a(x[0]), b(x[1]);
    return build(a.shape, [&](const Shape& i) {
      const double u = a.at(i) + b.at({i.back()});
      return 0.5 * u * (1 + std::tanh(c * (u + 0.044715 * u * u * u)));
    });
  };
  Fn bias_gelu_fwd = [](const std::vector<Tensor>& x) { return bias_gelu(x[0], x[1]); };
  cases.push_back({"bias_gelu", "rows", normals({{7, 6}, {6}}, 1.5), bias_gelu_fwd, bias_gelu_ref, {}});
  cases.push_back({"bias_gelu", "batched", normals({{2, 3, 5}, {5}}, 1.5), bias_gelu_fwd, bias_gelu_ref, {}});
  // bias_gelu_linear(h, b1, w2, b2) = gelu(h + b1) @ w2^T + b2: the MLP's second half, GELU recomputed in backward.
  Fn bgl_ref = [bias_gelu_ref](const std::vector<Tensor>& x) {
    return linear_ref(bias_gelu_ref({x[0], x[1]}), x[2], x.size() > 3 ? x[3] : Tensor());
  };
  cases.push_back({"bias_gelu_linear", "batched", normals({{2, 3, 6}, {6}, {4, 6}, {4}}, 1.5),
                   [](const std::vector<Tensor>& x) { return bias_gelu_linear(x[0], x[1], x[2], x[3]); }, bgl_ref, {}});
  cases.push_back({"bias_gelu_linear", "rows_no_b2", normals({{5, 7}, {7}, {3, 7}}, 1.5),
                   [](const std::vector<Tensor>& x) { return bias_gelu_linear(x[0], x[1], x[2]); }, bgl_ref, {}});
  // + residual (the pre-LN block's h + mlp(..)): the GEMM adds its product to b2 + residual.
  cases.push_back({"bias_gelu_linear", "residual", normals({{2, 3, 6}, {6}, {4, 6}, {4}, {2, 3, 4}}, 1.5),
                   [](const std::vector<Tensor>& x) { return bias_gelu_linear(x[0], x[1], x[2], x[3], x[4]); },
                   [bgl_ref](const std::vector<Tensor>& x) {
                     return add_ref(bgl_ref({x[0], x[1], x[2], x[3]}), x[4]);
                   },
                   {}});
}

void add_reductions(std::vector<OpCase>& cases) {
  auto sum_ref = [](const Ref& a, const std::vector<int64_t>& dims, bool keep) {
    Shape kept = a.shape;
    for (auto d : dims) kept[d] = 1;
    Tensor k = build(kept, [&](const Shape& i) {
      double s = 0;
      Shape j = i;
      // iterate the reduced dims
      std::vector<int64_t> ds = dims;
      std::function<void(size_t)> rec = [&](size_t n) {
        if (n == ds.size()) {
          s += a.at(j);
          return;
        }
        for (int64_t t = 0; t < a.shape[ds[n]]; ++t) {
          j[ds[n]] = t;
          rec(n + 1);
        }
      };
      rec(0);
      return s;
    });
    if (keep) return k;
    Shape s;
    for (int64_t d = 0; d < static_cast<int64_t>(a.shape.size()); ++d)
      if (std::find(dims.begin(), dims.end(), d) == dims.end()) s.push_back(a.shape[d]);
    return k.reshape(s);
  };
  cases.push_back({"sum", "all", normals({{3, 4}}), [](const std::vector<Tensor>& x) { return sum(x[0]); },
                   [=](const std::vector<Tensor>& x) { return sum_ref(Ref(x[0]), {0, 1}, false); }, {}});
  cases.push_back({"sum", "dim1_keepdim", normals({{3, 4, 2}}),
                   [](const std::vector<Tensor>& x) { return sum(x[0], {1}, true); },
                   [=](const std::vector<Tensor>& x) { return sum_ref(Ref(x[0]), {1}, true); }, {}});
  cases.push_back({"sum", "dims_0_2", normals({{3, 4, 2}}),
                   [](const std::vector<Tensor>& x) { return sum(x[0], {0, -1}); },
                   [=](const std::vector<Tensor>& x) { return sum_ref(Ref(x[0]), {0, 2}, false); }, {}});
  cases.push_back({"mean", "last_dim", normals({{3, 5}}), [](const std::vector<Tensor>& x) { return mean(x[0], {-1}); },
                   [=](const std::vector<Tensor>& x) { return mul(sum_ref(Ref(x[0]), {1}, false), 1.0 / 5); }, {}});
  cases.push_back({"mean", "all", normals({{2, 3, 2}}), [](const std::vector<Tensor>& x) { return mean(x[0]); },
                   [=](const std::vector<Tensor>& x) { return mul(sum_ref(Ref(x[0]), {0, 1, 2}, false), 1.0 / 12); }, {}});
  for (int64_t dim : {0, 1}) {
    for (bool keep : {false, true}) {
      cases.push_back({"max", fmt::format("dim{}{}", dim, keep ? "_keepdim" : ""), normals({{4, 5}}),
                       [dim, keep](const std::vector<Tensor>& x) { return max(x[0], dim, keep); },
                       [dim, keep](const std::vector<Tensor>& x) {
                         Ref a(x[0]);
                         Shape s = a.shape;
                         s[dim] = 1;
                         Tensor k = build(s, [&](const Shape& i) {
                           Shape j = i;
                           double m = -INFINITY;
                           for (int64_t t = 0; t < a.shape[dim]; ++t) j[dim] = t, m = std::max(m, a.at(j));
                           return m;
                         });
                         return keep ? k : k.squeeze(dim);
                       },
                       {}});
    }
  }
}

Tensor matmul_ref(const Tensor& x, const Tensor& y, bool ta, bool tb) {
  Ref a(x), b(y);
  const int64_t M = ta ? a.size(-1) : a.size(-2), K = ta ? a.size(-2) : a.size(-1), N = tb ? b.size(-2) : b.size(-1);
  Shape ba(a.shape.begin(), a.shape.end() - 2), bb(b.shape.begin(), b.shape.end() - 2);
  Shape out = bshape(ba, bb);
  out.push_back(M);
  out.push_back(N);
  return build(out, [&](const Shape& i) {
    const size_t nb = i.size() - 2;
    auto index = [&](const Ref& r, int64_t row, int64_t col) {
      Shape j(r.shape.size());
      size_t lead = nb - (r.shape.size() - 2);
      for (size_t d = 0; d + 2 < r.shape.size(); ++d) j[d] = r.shape[d] == 1 ? 0 : i[lead + d];
      j[j.size() - 2] = row;
      j[j.size() - 1] = col;
      return r.at(j);
    };
    double s = 0;
    for (int64_t k = 0; k < K; ++k)
      s += (ta ? index(a, k, i[nb]) : index(a, i[nb], k)) * (tb ? index(b, i[nb + 1], k) : index(b, k, i[nb + 1]));
    return s;
  });
}

void add_matmul(std::vector<OpCase>& cases) {
  struct C { const char* name; Shape a, b; bool ta, tb; };
  const C mm[] = {
      {"plain", {3, 4}, {4, 5}, false, false},     {"trans_a", {4, 3}, {4, 5}, true, false},
      {"trans_b", {3, 4}, {5, 4}, false, true},    {"trans_both", {4, 3}, {5, 4}, true, true},
      {"batched", {2, 3, 4}, {2, 4, 5}, false, false}, {"batch_shared_weight", {2, 3, 4}, {4, 5}, false, false},
      {"batch_broadcast", {1, 3, 4}, {2, 4, 5}, false, false},
      {"batch4d_trans_b", {2, 2, 3, 4}, {2, 1, 5, 4}, false, true},
      {"single_row", {1, 4}, {4, 3}, false, false},
  };
  for (const auto& c : mm) {
    bool ta = c.ta, tb = c.tb;
    cases.push_back({"matmul", c.name, normals({c.a, c.b}),
                     [ta, tb](const std::vector<Tensor>& x) { return matmul(x[0], x[1], ta, tb); },
                     [ta, tb](const std::vector<Tensor>& x) { return matmul_ref(x[0], x[1], ta, tb); }, {}});
  }
  cases.push_back({"linear", "with_bias", normals({{2, 3, 4}, {5, 4}, {5}}),
                   [](const std::vector<Tensor>& x) { return linear(x[0], x[1], x[2]); },
                   [](const std::vector<Tensor>& x) {
                     Ref b(x[2]);
                     Tensor y = matmul_ref(x[0], x[1], false, true);
                     Ref r(y);
                     return build(r.shape, [&](const Shape& i) { return r.at(i) + b.v[i.back()]; });
                   },
                   {}});
  // linear with a residual (x + out_proj(a)): in f32 on the CPU one oneDNN matmul adds bias and residual in its
  // epilogue (cpu::linear_f32); elsewhere bias and residual are written first and the GEMM adds to them.
  cases.push_back({"linear", "bias_residual", normals({{2, 3, 4}, {5, 4}, {5}, {2, 3, 5}}),
                   [](const std::vector<Tensor>& x) { return linear(x[0], x[1], x[2], x[3]); },
                   [](const std::vector<Tensor>& x) { return add_ref(linear_ref(x[0], x[1], x[2]), x[3]); }, {}});
  cases.push_back({"linear", "residual_no_bias", normals({{3, 4}, {5, 4}, {3, 5}}),
                   [](const std::vector<Tensor>& x) { return linear(x[0], x[1], Tensor(), x[2]); },
                   [](const std::vector<Tensor>& x) { return add_ref(linear_ref(x[0], x[1], Tensor()), x[2]); }, {},
                   {"x", "w", "residual"}});
}

void add_softmax(std::vector<OpCase>& cases) {
  for (bool lg : {false, true}) {
    const char* op = lg ? "log_softmax" : "softmax";
    for (int64_t dim : {-1, 0, 1}) {
      // offset 100: exp(x) overflows f32 unless the row max is subtracted first
      for (double offset : {0.0, 100.0}) {
        std::string name = fmt::format("dim{}{}", dim, offset > 0 ? "_large_logits" : "");
        Maker mk = [offset](DType dt, Generator& g) {
          return std::vector<Tensor>{add(randn({3, 4, 5}, DType::F64, &g), offset).to(dt)};
        };
        cases.push_back({op, name, mk,
                         [lg, dim](const std::vector<Tensor>& x) { return lg ? log_softmax(x[0], dim) : softmax(x[0], dim); },
                         [lg, dim](const std::vector<Tensor>& x) {
                           Ref a(x[0]);
                           int64_t d = dim < 0 ? dim + 3 : dim;
                           return build(a.shape, [&](const Shape& i) {
                             Shape j = i;
                             double m = -INFINITY, s = 0;
                             for (int64_t t = 0; t < a.shape[d]; ++t) j[d] = t, m = std::max(m, a.at(j));
                             for (int64_t t = 0; t < a.shape[d]; ++t) j[d] = t, s += std::exp(a.at(j) - m);
                             return lg ? a.at(i) - m - std::log(s) : std::exp(a.at(i) - m) / s;
                           });
                         },
                         {}});
        if (offset > 0 && dim != -1) cases.pop_back();  // large logits: last dim is enough
      }
    }
  }
}

void add_norms(std::vector<OpCase>& cases) {
  Fn ln_ref = [](const std::vector<Tensor>& x) {
    Ref a(x[0]), w(x[1]), b(x[2]);
    const int64_t D = a.shape.back();
    return build(a.shape, [&](const Shape& i) {
      Shape j = i;
      double mu = 0, var = 0;
      for (int64_t t = 0; t < D; ++t) j.back() = t, mu += a.at(j);
      mu /= static_cast<double>(D);
      for (int64_t t = 0; t < D; ++t) j.back() = t, var += (a.at(j) - mu) * (a.at(j) - mu);
      var /= static_cast<double>(D);
      return (a.at(i) - mu) / std::sqrt(var + 1e-6) * w.v[i.back()] + b.v[i.back()];
    });
  };
  cases.push_back({"layer_norm", "rows", normals({{2, 3, 8}, {8}, {8}}),
                   [](const std::vector<Tensor>& x) { return layer_norm(x[0], x[1], x[2], 1e-6); }, ln_ref, {}});
  cases.push_back({"layer_norm", "offset_scaled_rows",
                   [](DType dt, Generator& g) {
                     return std::vector<Tensor>{add(mul(randn({4, 16}, dt, &g), 3.0), 5.0), randn({16}, dt, &g),
                                                randn({16}, dt, &g)};
                   },
                   [](const std::vector<Tensor>& x) { return layer_norm(x[0], x[1], x[2], 1e-6); }, ln_ref, {}});
  // layer_norm_linear(x, ln_w, ln_b, w, b) = layer_norm(x) @ w^T + b: the normalisation recomputed in backward.
  Fn lnl_ref = [ln_ref](const std::vector<Tensor>& x) {
    return linear_ref(ln_ref({x[0], x[1], x[2]}), x[3], x.size() > 4 ? x[4] : Tensor());
  };
  cases.push_back({"layer_norm_linear", "batched", normals({{2, 3, 8}, {8}, {8}, {5, 8}, {5}}),
                   [](const std::vector<Tensor>& x) { return layer_norm_linear(x[0], x[1], x[2], x[3], x[4], 1e-6); },
                   lnl_ref, {}});
  cases.push_back({"layer_norm_linear", "offset_rows_no_bias",
                   [](DType dt, Generator& g) {
                     return std::vector<Tensor>{add(mul(randn({4, 6}, dt, &g), 3.0), 5.0), randn({6}, dt, &g),
                                                randn({6}, dt, &g), randn({7, 6}, dt, &g)};
                   },
                   [](const std::vector<Tensor>& x) { return layer_norm_linear(x[0], x[1], x[2], x[3], Tensor(), 1e-6); },
                   lnl_ref, {}});
  for (int64_t dim : {-1, 0}) {
    cases.push_back({"l2_normalize", fmt::format("dim{}", dim), normals({{4, 6}}),
                     [dim](const std::vector<Tensor>& x) { return l2_normalize(x[0], dim); },
                     [dim](const std::vector<Tensor>& x) {
                       Ref a(x[0]);
                       int64_t d = dim < 0 ? dim + 2 : dim;
                       return build(a.shape, [&](const Shape& i) {
                         Shape j = i;
                         double s = 0;
                         for (int64_t t = 0; t < a.shape[d]; ++t) j[d] = t, s += a.at(j) * a.at(j);
                         return a.at(i) / std::sqrt(s);
                       });
                     },
                     {}});
  }
}

void add_indexing(std::vector<OpCase>& cases) {
  cases.push_back({"embedding", "repeated_ids",
                   [](DType dt, Generator& g) {
                     return std::vector<Tensor>{from_vector(std::vector<int64_t>{1, 4, 1, 0, 3, 1}, {2, 3}),
                                                randn({5, 4}, dt, &g)};
                   },
                   [](const std::vector<Tensor>& x) { return embedding(x[0], x[1]); },
                   [](const std::vector<Tensor>& x) {
                     std::vector<int64_t> ids = x[0].to_vector<int64_t>();
                     Ref w(x[1]);
                     return build({2, 3, 4}, [&](const Shape& i) { return w.at({ids[i[0] * 3 + i[1]], i[2]}); });
                   },
                   {}});
  for (int64_t dim : {0, 1}) {
    cases.push_back({"index_select", fmt::format("dim{}", dim),
                     [](DType dt, Generator& g) {
                       return std::vector<Tensor>{randn({4, 3, 2}, dt, &g), from_vector(std::vector<int64_t>{2, 0, 2}, {3})};
                     },
                     [dim](const std::vector<Tensor>& x) { return index_select(x[0], dim, x[1]); },
                     [dim](const std::vector<Tensor>& x) {
                       Ref a(x[0]);
                       std::vector<int64_t> idx = x[1].to_vector<int64_t>();
                       Shape s = a.shape;
                       s[dim] = 3;
                       return build(s, [&](const Shape& i) {
                         Shape j = i;
                         j[dim] = idx[i[dim]];
                         return a.at(j);
                       });
                     },
                     {}});
  }
  for (int64_t dim : {0, 1}) {
    Shape s1{2, 3}, s2{2, 1}, s3{2, 2};
    if (dim == 0) s1 = {3, 2}, s2 = {1, 2}, s3 = {2, 2};
    cases.push_back({"concat", fmt::format("dim{}", dim), normals({s1, s2, s3}),
                     [dim](const std::vector<Tensor>& x) { return concat(x, dim); },
                     [dim](const std::vector<Tensor>& x) {
                       Ref a(x[0]), b(x[1]), c(x[2]);
                       Shape s = a.shape;
                       s[dim] = a.shape[dim] + b.shape[dim] + c.shape[dim];
                       return build(s, [&](const Shape& i) {
                         Shape j = i;
                         int64_t k = i[dim];
                         if (k < a.shape[dim]) return a.at(j);
                         k -= a.shape[dim];
                         if (k < b.shape[dim]) return j[dim] = k, b.at(j);
                         j[dim] = k - b.shape[dim];
                         return c.at(j);
                       });
                     },
                     {}});
  }
  cases.push_back({"stack", "dim1", normals({{2, 3}, {2, 3}, {2, 3}}),
                   [](const std::vector<Tensor>& x) { return stack(x, 1); },
                   [](const std::vector<Tensor>& x) {
                     std::vector<Ref> r;
                     for (const auto& t : x) r.emplace_back(t);
                     return build({2, 3, 3}, [&](const Shape& i) { return r[i[1]].at({i[0], i[2]}); });
                   },
                   {}});
}

void add_patch_and_attention(std::vector<OpCase>& cases) {
  cases.push_back({"patch_embed", "2x2_patches", normals({{2, 3, 4, 6}, {5, 3, 2, 2}, {5}}),
                   [](const std::vector<Tensor>& x) { return patch_embed(x[0], x[1], x[2]); },
                   [](const std::vector<Tensor>& x) {  // Conv2d(stride = kernel), then flatten(2).transpose(1, 2)
                     Ref img(x[0]), w(x[1]), b(x[2]);
                     const int64_t C = 3, P = 2, Wp = 3;
                     return build({2, 6, 5}, [&](const Shape& i) {
                       const int64_t ph = i[1] / Wp, pw = i[1] % Wp;
                       double s = b.v[i[2]];
                       for (int64_t c = 0; c < C; ++c)
                         for (int64_t u = 0; u < P; ++u)
                           for (int64_t v = 0; v < P; ++v) s += w.at({i[2], c, u, v}) * img.at({i[0], c, ph * P + u, pw * P + v});
                       return s;
                     });
                   },
                   {}});
  auto attn_ref = [](const std::vector<Tensor>& x) {
    Ref q(x[0]), k(x[1]), v(x[2]);
    const bool has_mask = x.size() > 3;
    Ref m(has_mask ? x[3] : x[0]);
    const int64_t M = k.size(2), Dh = q.size(3);
    const double scale = 1.0 / std::sqrt(static_cast<double>(Dh));
    // The probabilities of query row (b, h, i) are computed once and reused for its Dh outputs (build walks
    // the last index fastest).
    std::vector<double> prob(static_cast<size_t>(M));
    Shape row{-1, -1, -1};
    return build(q.shape, [&](const Shape& i) {
      if (Shape{i[0], i[1], i[2]} != row) {
        row = {i[0], i[1], i[2]};
        double mx = -INFINITY;
        for (int64_t j = 0; j < M; ++j) {
          double d = 0;
          for (int64_t c = 0; c < Dh; ++c) d += q.at({i[0], i[1], i[2], c}) * k.at({i[0], i[1], j, c});
          prob[j] = d * scale + (has_mask ? m.bcast({i[0], i[1], i[2], j}) : 0.0);
          mx = std::max(mx, prob[j]);
        }
        double z = 0;
        for (int64_t j = 0; j < M; ++j) z += std::exp(prob[j] - mx);
        for (int64_t j = 0; j < M; ++j) prob[j] = std::exp(prob[j] - mx) / z;
      }
      double o = 0;
      for (int64_t j = 0; j < M; ++j) o += prob[j] * v.at({i[0], i[1], j, i[3]});
      return o;
    });
  };
  cases.push_back({"scaled_dot_product_attention", "self", normals({{2, 2, 5, 4}, {2, 2, 5, 4}, {2, 2, 5, 4}}),
                   [](const std::vector<Tensor>& x) { return scaled_dot_product_attention(x[0], x[1], x[2]); }, attn_ref,
                   {}});
  cases.push_back({"scaled_dot_product_attention", "cross_probe_n1", normals({{3, 2, 1, 4}, {3, 2, 6, 4}, {3, 2, 6, 4}}),
                   [](const std::vector<Tensor>& x) { return scaled_dot_product_attention(x[0], x[1], x[2]); }, attn_ref,
                   {}});
  cases.push_back({"scaled_dot_product_attention", "additive_mask",
                   [](DType dt, Generator& g) {
                     std::vector<Tensor> r{randn({2, 2, 3, 4}, dt, &g), randn({2, 2, 5, 4}, dt, &g),
                                           randn({2, 2, 5, 4}, dt, &g), randn({1, 1, 3, 5}, dt, &g)};
                     return r;
                   },
                   [](const std::vector<Tensor>& x) { return scaled_dot_product_attention(x[0], x[1], x[2], x[3]); },
                   attn_ref, {3}});
  cases.push_back({"scaled_dot_product_attention", "padding_mask",
                   [](DType dt, Generator& g) {
                     std::vector<Tensor> r{randn({2, 2, 3, 4}, dt, &g), randn({2, 2, 5, 4}, dt, &g),
                                           randn({2, 2, 5, 4}, dt, &g)};
                     // key padding: batch 0 masks its last key, batch 1 its last two
                     r.push_back(from_vector(std::vector<double>{0, 0, 0, 0, -1e9, 0, 0, 0, -1e9, -1e9}, {2, 1, 1, 5}, dt));
                     return r;
                   },
                   [](const std::vector<Tensor>& x) { return scaled_dot_product_attention(x[0], x[1], x[2], x[3]); },
                   attn_ref, {3}});
  // Heads as the model makes them: views of [B, N, H*Dh] projection outputs (split: reshape + transpose), the
  // output merged back; on the CPU the kernel reads and writes these layouts through strides, without copies.
  auto split = [](const Tensor& t) { return t.reshape({t.size(0), t.size(1), 2, 4}).transpose(1, 2); };
  auto merge = [](const Tensor& t) { return t.transpose(1, 2).reshape({t.size(0), t.size(2), 8}); };
  cases.push_back({"scaled_dot_product_attention", "head_views", normals({{2, 5, 8}, {2, 6, 8}, {2, 6, 8}}),
                   [split, merge](const std::vector<Tensor>& x) {
                     return merge(scaled_dot_product_attention(split(x[0]), split(x[1]), split(x[2])));
                   },
                   [split, merge, attn_ref](const std::vector<Tensor>& x) {
                     return merge(attn_ref({split(x[0]).contiguous(), split(x[1]).contiguous(), split(x[2]).contiguous()}));
                   },
                   {}});
  // Self-attention from one packed projection qkv: [B, N, 3D] (D = 8, 2 heads of 4): the reference splits it.
  cases.push_back({"self_attention_qkv", "two_heads", normals({{2, 5, 24}}),
                   [](const std::vector<Tensor>& x) { return self_attention_qkv(x[0], 2); },
                   [split, merge, attn_ref](const std::vector<Tensor>& x) {
                     auto part = [&](int64_t i) { return split(x[0].narrow(2, 8 * i, 8).contiguous()).contiguous(); };
                     return merge(attn_ref({part(0), part(1), part(2)}));
                   },
                   {}});
  // Head dims 32 and 64, two 64-row query tiles (the second partial) and one partial key tile: on CUDA, bf16
  // takes the tensor-core kernels (cuda/attention_tc.cu) for these. Small B * H: the f64 gradient check
  // differentiates every input element.
  cases.push_back({"scaled_dot_product_attention", "tc_dh32_n70_m45", normals({{1, 2, 70, 32}, {1, 2, 45, 32}, {1, 2, 45, 32}}),
                   [](const std::vector<Tensor>& x) { return scaled_dot_product_attention(x[0], x[1], x[2]); }, attn_ref,
                   {}});
  cases.push_back({"scaled_dot_product_attention", "tc_dh64_n70_m45", normals({{1, 1, 70, 64}, {1, 1, 45, 64}, {1, 1, 45, 64}}),
                   [](const std::vector<Tensor>& x) { return scaled_dot_product_attention(x[0], x[1], x[2]); }, attn_ref,
                   {}});
  // Three 64-key tiles (the online softmax rescales across tiles), one partial query tile.
  cases.push_back({"scaled_dot_product_attention", "tc_dh32_n20_m130", normals({{1, 1, 20, 32}, {1, 1, 130, 32}, {1, 1, 130, 32}}),
                   [](const std::vector<Tensor>& x) { return scaled_dot_product_attention(x[0], x[1], x[2]); }, attn_ref,
                   {}});
  cases.push_back({"scaled_dot_product_attention", "tc_dh32_n70_m45_mask",
                   [](DType dt, Generator& g) {
                     std::vector<Tensor> r{randn({2, 1, 70, 32}, dt, &g), randn({2, 1, 45, 32}, dt, &g),
                                           randn({2, 1, 45, 32}, dt, &g), randn({2, 1, 70, 45}, dt, &g)};
                     return r;
                   },
                   [](const std::vector<Tensor>& x) { return scaled_dot_product_attention(x[0], x[1], x[2], x[3]); },
                   attn_ref, {3}});
}

void add_views(std::vector<OpCase>& cases) {
  cases.push_back({"reshape", "3x4_to_2x6", normals({{3, 4}}),
                   [](const std::vector<Tensor>& x) { return x[0].reshape({2, -1}); },
                   [](const std::vector<Tensor>& x) { return from_vector(x[0].to_vector<double>(), {2, 6}, DType::F64); }, {}});
  cases.push_back({"permute", "201", normals({{2, 3, 4}}),
                   [](const std::vector<Tensor>& x) { return x[0].permute({2, 0, 1}); },
                   [](const std::vector<Tensor>& x) {
                     Ref a(x[0]);
                     return build({4, 2, 3}, [&](const Shape& i) { return a.at({i[1], i[2], i[0]}); });
                   },
                   {}});
  cases.push_back({"transpose", "last_two", normals({{2, 3, 4}}),
                   [](const std::vector<Tensor>& x) { return x[0].transpose(-1, -2); },
                   [](const std::vector<Tensor>& x) {
                     Ref a(x[0]);
                     return build({2, 4, 3}, [&](const Shape& i) { return a.at({i[0], i[2], i[1]}); });
                   },
                   {}});
  cases.push_back({"slice", "step2", normals({{3, 7}}),
                   [](const std::vector<Tensor>& x) { return x[0].slice(1, 1, 7, 2); },
                   [](const std::vector<Tensor>& x) {
                     Ref a(x[0]);
                     return build({3, 3}, [&](const Shape& i) { return a.at({i[0], 1 + 2 * i[1]}); });
                   },
                   {}});
  cases.push_back({"narrow", "dim0", normals({{5, 3}}),
                   [](const std::vector<Tensor>& x) { return x[0].narrow(0, 1, 3); },
                   [](const std::vector<Tensor>& x) {
                     Ref a(x[0]);
                     return build({3, 3}, [&](const Shape& i) { return a.at({i[0] + 1, i[1]}); });
                   },
                   {}});
  cases.push_back({"unsqueeze", "middle", normals({{3, 4}}),
                   [](const std::vector<Tensor>& x) { return x[0].unsqueeze(1); },
                   [](const std::vector<Tensor>& x) { return from_vector(x[0].to_vector<double>(), {3, 1, 4}, DType::F64); }, {}});
  cases.push_back({"squeeze", "middle", normals({{3, 1, 4}}),
                   [](const std::vector<Tensor>& x) { return x[0].squeeze(1); },
                   [](const std::vector<Tensor>& x) { return from_vector(x[0].to_vector<double>(), {3, 4}, DType::F64); }, {}});
  cases.push_back({"expand", "broadcast", normals({{3, 1}}),
                   [](const std::vector<Tensor>& x) { return x[0].expand({2, 3, 4}); },
                   [](const std::vector<Tensor>& x) {
                     Ref a(x[0]);
                     return build({2, 3, 4}, [&](const Shape& i) { return a.at({i[1], 0}); });
                   },
                   {}});
  cases.push_back({"view", "split_last", normals({{3, 4}}),
                   [](const std::vector<Tensor>& x) { return x[0].view({3, 2, 2}); },
                   [](const std::vector<Tensor>& x) { return from_vector(x[0].to_vector<double>(), {3, 2, 2}, DType::F64); }, {}});
  cases.push_back({"flatten", "dims1_2", normals({{2, 3, 4}}),
                   [](const std::vector<Tensor>& x) { return x[0].flatten(1, 2); },
                   [](const std::vector<Tensor>& x) { return from_vector(x[0].to_vector<double>(), {2, 12}, DType::F64); }, {}});
  cases.push_back({"select", "dim1", normals({{3, 4, 2}}),
                   [](const std::vector<Tensor>& x) { return x[0].select(1, 2); },
                   [](const std::vector<Tensor>& x) {
                     Ref a(x[0]);
                     return build({3, 2}, [&](const Shape& i) { return a.at({i[0], 2, i[1]}); });
                   },
                   {}});
  cases.push_back({"sum_to", "broadcast_back", normals({{2, 3, 4}}),
                   [](const std::vector<Tensor>& x) { return sum_to(x[0], {3, 1}); },
                   [](const std::vector<Tensor>& x) {
                     Ref a(x[0]);
                     return build({3, 1}, [&](const Shape& i) {
                       double s = 0;
                       for (int64_t b = 0; b < 2; ++b)
                         for (int64_t k = 0; k < 4; ++k) s += a.at({b, i[0], k});
                       return s;
                     });
                   },
                   {}});
  cases.push_back({"clone", "of_transpose", normals({{3, 4}}),
                   [](const std::vector<Tensor>& x) { return x[0].transpose(0, 1).clone(); },
                   [](const std::vector<Tensor>& x) {
                     Ref a(x[0]);
                     return build({4, 3}, [&](const Shape& i) { return a.at({i[1], i[0]}); });
                   },
                   {}});
  cases.push_back({"contiguous", "of_transpose", normals({{3, 4}}),
                   [](const std::vector<Tensor>& x) { return x[0].transpose(0, 1).contiguous(); },
                   [](const std::vector<Tensor>& x) {
                     Ref a(x[0]);
                     return build({4, 3}, [&](const Shape& i) { return a.at({i[1], i[0]}); });
                   },
                   {}});
}

// ---- sigmoid_loss_fused: cases, reference and bad inputs (this block and the two calls below) ----
// img, txt: [B, D] with rows of norm about 1, t' in [0.5, 1.5), b in [-2, -0.5), groups: int64 [B].
Maker sigmoid_loss_inputs(int64_t B, int64_t D, std::vector<int64_t> groups) {
  return [B, D, groups](DType dt, Generator& g) {
    const double s = 1.0 / std::sqrt(static_cast<double>(D));
    return std::vector<Tensor>{mul(randn({B, D}, DType::F64, &g), s).to(dt), mul(randn({B, D}, DType::F64, &g), s).to(dt),
                               uniform({1}, 0.5, 1.5, dt, &g), uniform({1}, -2.0, -0.5, dt, &g),
                               from_vector(groups, {B})};
  };
}

// The loss the naive way: all B x B logits l = exp(t') img @ txt^T + b, then -(1/B) sum log sigmoid(z l).
Tensor sigmoid_loss_ref(const std::vector<Tensor>& x) {
  Ref img(x[0]), txt(x[1]);
  const double e = std::exp(x[2].item()), b = x[3].item();
  const std::vector<int64_t> groups = x[4].to_vector<int64_t>();
  const int64_t B = img.size(0), D = img.size(1);
  std::vector<double> logits(static_cast<size_t>(B * B));  // [B, B]
  for (int64_t i = 0; i < B; ++i)
    for (int64_t j = 0; j < B; ++j) {
      double dot = 0;
      for (int64_t k = 0; k < D; ++k) dot += img.at({i, k}) * txt.at({j, k});
      logits[i * B + j] = e * dot + b;
    }
  double sum = 0;
  for (int64_t i = 0; i < B; ++i)
    for (int64_t j = 0; j < B; ++j) {
      const double zl = (groups[i] == groups[j] ? 1.0 : -1.0) * logits[i * B + j];
      sum += std::min(zl, 0.0) - std::log1p(std::exp(-std::abs(zl)));
    }
  return scalar(-sum / static_cast<double>(B), DType::F64);
}

void add_sigmoid_loss(std::vector<OpCase>& cases) {
  auto arange_ids = [](int64_t B) {
    std::vector<int64_t> g(static_cast<size_t>(B));
    for (int64_t i = 0; i < B; ++i) g[i] = i;
    return g;
  };
  auto class_ids = [](int64_t B) {  // 9 classes, ids -4..4 (any int64 is a valid id)
    std::vector<int64_t> g(static_cast<size_t>(B));
    for (int64_t i = 0; i < B; ++i) g[i] = (i * 37) % 9 - 4;
    return g;
  };
  struct C { const char* name; int64_t B, D; std::vector<int64_t> groups; };
  const C cs[] = {
      {"single_pair_B1_D1", 1, 1, {7}},
      {"diagonal_B5_D3", 5, 3, arange_ids(5)},
      {"repeats_B5_D3", 5, 3, {0, 1, 0, 2, 1}},
      // B, D not multiples of the tiles (32 x 32 logits, D in chunks of 32 on CUDA)
      {"diagonal_B70_D33", 70, 33, arange_ids(70)},
      {"classes_B45_D33", 45, 33, class_ids(45)},
  };
  for (const auto& c : cs)
    cases.push_back({"sigmoid_loss_fused", c.name, sigmoid_loss_inputs(c.B, c.D, c.groups),
                     [](const std::vector<Tensor>& x) { return sigmoid_loss_fused(x[0], x[1], x[2], x[3], x[4]); },
                     sigmoid_loss_ref, {}});
}

void add_sigmoid_loss_bad_inputs(std::vector<BadInputCase>& b) {
  auto f32 = [](Shape s) { return randn(s); };
  auto ids = [](int64_t n) { return from_vector(std::vector<int64_t>(static_cast<size_t>(n), 0), {n}); };
  const char* op = "sigmoid_loss_fused";
  b.push_back({op, "B_mismatch", [=] { sigmoid_loss_fused(f32({4, 3}), f32({5, 3}), f32({1}), f32({1}), ids(4)); },
               {op, "[4, 3]", "[5, 3]", "[B, D]"}});
  b.push_back({op, "D_mismatch", [=] { sigmoid_loss_fused(f32({4, 3}), f32({4, 2}), f32({1}), f32({1}), ids(4)); },
               {op, "[4, 3]", "[4, 2]", "[B, D]"}});
  b.push_back({op, "groups_float", [=] { sigmoid_loss_fused(f32({4, 3}), f32({4, 3}), f32({1}), f32({1}), f32({4})); },
               {op, "groups", "int64 [4]", "[4] float32"}});
  b.push_back({op, "groups_length", [=] { sigmoid_loss_fused(f32({4, 3}), f32({4, 3}), f32({1}), f32({1}), ids(3)); },
               {op, "groups", "int64 [4]", "[3] int64"}});
  b.push_back({op, "scale_not_one_element",
               [=] { sigmoid_loss_fused(f32({4, 3}), f32({4, 3}), f32({2}), f32({1}), ids(4)); },
               {op, "logit_scale", "one element", "[2]"}});
  b.push_back({op, "mixed_dtypes",
               [=] { sigmoid_loss_fused(f32({4, 3}), randn({4, 3}, DType::F64), f32({1}), f32({1}), ids(4)); },
               {op, "dtypes differ", "[4, 3] float32", "[4, 3] float64"}});
  b.push_back({op, "int_img",
               [=] { sigmoid_loss_fused(ids(4).reshape({4, 1}), f32({4, 1}), f32({1}), f32({1}), ids(4)); },
               {op, "img", "[4, 1] int64", "float32, float64 or bfloat16"}});
}
// ---- end of sigmoid_loss_fused

// The names of an op's `count` inputs: its parameters in tensor/ops.h.
std::vector<std::string> input_names(const std::string& op, size_t count) {
  static const std::map<std::string, std::vector<std::string>> named = {
      {"add", {"a", "b"}}, {"sub", {"a", "b"}}, {"mul", {"a", "b"}}, {"div", {"a", "b"}},
      {"bias_gelu", {"x", "bias"}}, {"bias_gelu_linear", {"h", "b1", "w2", "b2", "residual"}}, {"matmul", {"a", "b"}},
      {"linear", {"x", "w", "bias", "residual"}},
      {"layer_norm", {"x", "weight", "bias"}},
      {"layer_norm_linear", {"x", "ln_weight", "ln_bias", "w", "b"}}, {"l2_normalize", {"x"}}, {"embedding", {"ids", "weight"}},
      {"index_select", {"a", "index"}}, {"patch_embed", {"x", "weight", "bias"}},
      {"scaled_dot_product_attention", {"q", "k", "v", "mask"}}, {"self_attention_qkv", {"qkv"}},
      {"sigmoid_loss_fused", {"img", "txt", "logit_scale", "logit_bias", "groups"}}, {"sum_to", {"g"}},
  };
  // Tensor members (views and copies) act on the tensor itself, called x here.
  static const std::set<std::string> members = {"reshape", "permute", "transpose", "slice", "narrow", "unsqueeze",
                                                "squeeze", "expand", "view", "flatten", "select", "clone", "contiguous"};
  std::vector<std::string> names;
  if (op == "concat" || op == "stack") {
    for (size_t i = 0; i < count; ++i) names.push_back(fmt::format("ts.{}", i));
  } else if (auto it = named.find(op); it != named.end()) {
    names.assign(it->second.begin(), it->second.begin() + static_cast<std::ptrdiff_t>(std::min(count, it->second.size())));
  } else {
    names.push_back(members.count(op) ? "x" : "a");  // the unary maps and reductions: a
  }
  return names;
}

std::vector<OpCase> make_cases() {
  std::vector<OpCase> cases;
  add_elementwise(cases);
  add_reductions(cases);
  add_matmul(cases);
  add_softmax(cases);
  add_norms(cases);
  add_indexing(cases);
  add_patch_and_attention(cases);
  add_views(cases);
  add_sigmoid_loss(cases);
  for (auto& c : cases) {
    Generator g(7);
    const size_t count = c.make_inputs(DType::F64, g).size();
    if (c.input_names.empty()) c.input_names = input_names(c.op, count);  // a case may name its own
    SG_CHECK(c.input_names.size() == count, "op registry: {} has {} inputs but {} names ({}); name them in input_names",
             c.full_name(), count, c.input_names.size(), fmt::join(c.input_names, ", "));
  }
  return cases;
}

// ---------------------------------------------------------------- bad inputs

std::vector<BadInputCase> make_bad_cases() {
  auto f32 = [](Shape s) { return randn(s); };
  std::vector<BadInputCase> b;
  add_sigmoid_loss_bad_inputs(b);
  b.push_back({"matmul", "inner_mismatch", [=] { matmul(f32({4, 3}), f32({5, 2})); },
               {"matmul", "[4, 3]", "[5, 2]", "inner sizes differ (3 vs 5)"}});
  b.push_back({"matmul", "1d_operand", [=] { matmul(f32({4}), f32({4, 2})); }, {"matmul", "at least 2-d", "[4]"}});
  b.push_back({"matmul", "batch_mismatch", [=] { matmul(f32({2, 3, 4}), f32({3, 4, 5})); },
               {"matmul", "[2]", "[3]", "do not broadcast"}});
  b.push_back({"add", "no_broadcast", [=] { add(f32({2, 3}), f32({4})); }, {"add", "[2, 3]", "[4]", "do not broadcast"}});
  b.push_back({"mul", "mixed_dtypes", [=] { mul(f32({2}), randn({2}, DType::F64)); },
               {"mul", "float32", "float64", "dtypes differ"}});
  b.push_back({"exp", "int_input", [=] { exp(from_vector(std::vector<int64_t>{1, 2}, {2})); }, {"exp", "int64"}});
  b.push_back({"sum", "dim_out_of_range", [=] { sum(f32({2, 3}), {2}); }, {"sum", "dim 2 out of range", "2-d"}});
  b.push_back({"softmax", "dim_out_of_range", [=] { softmax(f32({2, 3}), -3); }, {"softmax", "dim -3"}});
  b.push_back({"bias_gelu", "bias_shape", [=] { bias_gelu(f32({4, 6}), f32({5})); },
               {"bias_gelu", "[5]", "[4, 6]"}});
  b.push_back({"bias_gelu_linear", "w2_width", [=] { bias_gelu_linear(f32({4, 6}), f32({6}), f32({3, 5}), f32({3})); },
               {"bias_gelu_linear", "[4, 6]", "[6]", "[3, 5]"}});
  b.push_back({"bias_gelu_linear", "b2_shape", [=] { bias_gelu_linear(f32({4, 6}), f32({6}), f32({3, 6}), f32({4})); },
               {"bias_gelu_linear", "[4]", "[3, 6]"}});
  b.push_back({"linear", "residual_shape", [=] { linear(f32({4, 6}), f32({3, 6}), f32({3}), f32({4, 5})); },
               {"linear", "residual [4, 5]", "[4, 3]"}});
  b.push_back({"bias_gelu_linear", "residual_shape",
               [=] { bias_gelu_linear(f32({4, 6}), f32({6}), f32({3, 6}), f32({3}), f32({3, 4})); },
               {"bias_gelu_linear", "residual [3, 4]", "[4, 3]"}});
  b.push_back({"self_attention_qkv", "not_3d", [=] { self_attention_qkv(f32({2, 5, 20}), 2); },
               {"self_attention_qkv", "[2, 5, 20]", "2 heads"}});
  b.push_back({"self_attention_qkv", "rank", [=] { self_attention_qkv(f32({5, 24}), 2); },
               {"self_attention_qkv", "[5, 24]"}});
  b.push_back({"layer_norm_linear", "w_width", [=] { layer_norm_linear(f32({2, 8}), f32({8}), f32({8}), f32({4, 7})); },
               {"layer_norm_linear", "[2, 8]", "[4, 7]"}});
  b.push_back({"layer_norm_linear", "ln_weight_shape",
               [=] { layer_norm_linear(f32({2, 8}), f32({7}), f32({8}), f32({4, 8})); },
               {"layer_norm_linear", "[2, 8]", "[7]"}});
  b.push_back({"layer_norm", "weight_shape", [=] { layer_norm(f32({2, 8}), f32({7}), f32({8})); },
               {"layer_norm", "[2, 8]", "[8]", "[7]"}});
  b.push_back({"embedding", "id_out_of_range", [=] { embedding(from_vector(std::vector<int64_t>{0, 7}, {2}), f32({5, 3})); },
               {"embedding", "index 7", "[0, 5)"}});
  b.push_back({"embedding", "float_ids", [=] { embedding(f32({2}), f32({5, 3})); }, {"embedding", "int64", "float32"}});
  b.push_back({"index_select", "bad_index", [=] { index_select(f32({3, 2}), 0, from_vector(std::vector<int64_t>{3}, {1})); },
               {"index_select", "index 3", "[0, 3)"}});
  b.push_back({"concat", "shape_mismatch", [=] { concat({f32({2, 3}), f32({3, 3})}, 1); },
               {"concat", "[3, 3]", "[2, 3]", "dim 1"}});
  b.push_back({"stack", "shape_mismatch", [=] { stack({f32({2, 3}), f32({3, 2})}, 0); }, {"stack", "[3, 2]", "[2, 3]"}});
  b.push_back({"patch_embed", "not_divisible", [=] { patch_embed(f32({1, 3, 5, 4}), f32({6, 3, 2, 2}), f32({6})); },
               {"patch_embed", "5x4", "2x2"}});
  b.push_back({"patch_embed", "channels", [=] { patch_embed(f32({1, 1, 4, 4}), f32({6, 3, 2, 2}), f32({6})); },
               {"patch_embed", "[6, 3, 2, 2]", "[1, 1, 4, 4]"}});
  b.push_back({"scaled_dot_product_attention", "head_dim_mismatch",
               [=] { scaled_dot_product_attention(f32({1, 2, 3, 4}), f32({1, 2, 3, 5}), f32({1, 2, 3, 5})); },
               {"attention", "[1, 2, 3, 4]", "[1, 2, 3, 5]"}});
  b.push_back({"scaled_dot_product_attention", "mask_shape",
               [=] { scaled_dot_product_attention(f32({1, 2, 3, 4}), f32({1, 2, 5, 4}), f32({1, 2, 5, 4}), f32({1, 1, 3, 4})); },
               {"attention", "mask", "[1, 1, 3, 4]"}});
  b.push_back({"reshape", "numel_mismatch", [=] { f32({3, 4}).reshape({5, 2}); }, {"reshape", "[3, 4]", "[5, 2]"}});
  b.push_back({"view", "needs_copy", [=] { f32({3, 4}).transpose(0, 1).view({12}); }, {"view", "[4, 3]", "reshape"}});
  b.push_back({"expand", "bad_size", [=] { f32({3, 2}).expand({3, 4}); }, {"expand", "[3, 2]", "[3, 4]"}});
  b.push_back({"backward", "non_scalar", [=] {
                 Tensor x = f32({3});
                 x.requires_grad_();
                 mul(x, 2.0).backward();
               },
               {"backward", "scalar", "[3]"}});
  b.push_back({"backward", "no_grad_graph", [=] { sum(f32({3})).backward(); }, {"backward", "does not require grad"}});
  b.push_back({"backward", "graph_freed", [=] {
                 Tensor x = f32({3});
                 x.requires_grad_();
                 Tensor y = sum(exp(x));
                 y.backward();
                 y.backward();
               },
               {"backward", "retain_graph"}});
  b.push_back({"to", "cuda_without_gpu_or_build", [=] {
                 if (device_available(Device::CUDA)) throw Error("to: cuda check skipped (a GPU is present)");
                 f32({2}).to(Device::CUDA);
               },
               {"to", "cuda", "[2] float32"}});
  b.push_back({"from_vector", "count", [=] { from_vector(std::vector<double>{1, 2, 3}, {2, 2}); },
               {"from_vector", "3 values", "[2, 2]"}});
  return b;
}

}  // namespace

const std::vector<OpCase>& op_cases() {
  static const std::vector<OpCase> cases = make_cases();
  return cases;
}
const std::vector<BadInputCase>& bad_input_cases() {
  static const std::vector<BadInputCase> cases = make_bad_cases();
  return cases;
}

// ---------------------------------------------------------------- the harness

const char* layout_name(Layout l) {
  switch (l) {
    case Layout::Contiguous: return "contiguous";
    case Layout::Strided: return "strided";
    case Layout::Transposed: return "transposed";
  }
  return "?";
}

Tensor relayout(const Tensor& t, Layout l) {
  if (l == Layout::Contiguous || t.dim() == 0) return t;
  if (l == Layout::Strided) {
    // every other element of a buffer twice as long in the last dim: strides double, offset stays 0
    Shape s = t.shape();
    s.push_back(2);
    return t.unsqueeze(-1).expand(s).contiguous().select(-1, 0);
  }
  if (t.dim() < 2) return t;
  return t.transpose(-1, -2).contiguous().transpose(-1, -2);  // column-major storage
}

namespace {
// A case's inputs in dtype dt and layout l. bf16 inputs are made in f32 and rounded (the cases' makers compute
// in the dtype they are given; bf16 is a storage format for them, not a precision to build inputs in).
std::vector<Tensor> make_inputs(const OpCase& c, DType dt, Layout l, uint64_t seed) {
  Generator g(seed);
  std::vector<Tensor> xs = c.make_inputs(dt == DType::BF16 ? DType::F32 : dt, g);
  for (auto& x : xs) {
    if (dt == DType::BF16 && x.dtype() == DType::F32) x = x.to(DType::BF16);
    x = relayout(x, l);
  }
  return xs;
}

// max |a - b| / max |a| (a's floor 1e-30); INFINITY when sizes or NaN positions differ.
double max_relative_error(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) return INFINITY;
  double err = 0, scale = 1e-30;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) != std::isnan(b[i])) return INFINITY;
    err = std::max(err, std::abs(a[i] - b[i]));
    scale = std::max(scale, std::abs(a[i]));
  }
  return a.empty() ? 0.0 : err / scale;
}

// The output and every input gradient of one forward + backward with a random cotangent. The case's inputs are
// made in f32, rounded to `round_to`, then computed in `compute` on `dev`; the cotangent is rounded the same way.
struct ForwardBackward {
  std::vector<double> out;
  std::vector<std::vector<double>> grads;
};
ForwardBackward forward_backward(const OpCase& c, uint64_t seed, DType round_to, DType compute, Device dev) {
  Generator g(seed);
  std::vector<Tensor> xs = c.make_inputs(DType::F32, g);
  for (size_t i = 0; i < xs.size(); ++i) {
    if (xs[i].dtype() != DType::F32) {
      xs[i] = xs[i].to(dev);
      continue;
    }
    xs[i] = xs[i].to(round_to).to(compute).to(dev);
    bool no_grad = std::find(c.no_grad_inputs.begin(), c.no_grad_inputs.end(), i) != c.no_grad_inputs.end();
    if (!no_grad) xs[i].requires_grad_();
  }
  Tensor y = c.forward(xs);
  Generator gw(seed + 1);
  Tensor w = randn(y.shape(), DType::F32, &gw).to(round_to).to(y.dtype()).to(dev);
  if (y.requires_grad()) sum(mul(y, w)).backward();
  ForwardBackward r;
  r.out = y.to_vector<double>();
  for (const auto& x : xs) r.grads.push_back(x.grad().defined() ? x.grad().to_vector<double>() : std::vector<double>());
  return r;
}

// The largest max_relative_error of the outputs and of each input's gradients (a is the reference).
double max_relative_error(const ForwardBackward& a, const ForwardBackward& b) {
  double e = max_relative_error(a.out, b.out);
  for (size_t i = 0; i < a.grads.size(); ++i) e = std::max(e, max_relative_error(a.grads[i], b.grads[i]));
  return e;
}
}  // namespace

double forward_error(const OpCase& c, DType dtype, Layout layout, uint64_t seed) {
  NoGradGuard ng;
  std::vector<Tensor> xs = make_inputs(c, dtype, layout, seed);
  Tensor y = c.forward(xs);
  SG_CHECK(y.dtype() == dtype || y.dtype() == DType::I64, "{}: {} inputs gave a {} output", c.full_name(),
           dtype_name(dtype), dtype_name(y.dtype()));
  std::vector<Tensor> x64;
  for (const auto& x : xs) x64.push_back(x.dtype() == DType::I64 ? x : x.to(DType::F64));
  Tensor r = c.reference(x64);
  SG_CHECK(y.shape() == r.shape(), "{}: output shape {} differs from the reference's {}", c.full_name(), y.shape_str(),
           r.shape_str());
  std::vector<double> a = y.to_vector<double>(), b = r.to_vector<double>();
  double err = 0, scale = 1;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) != std::isnan(b[i])) return INFINITY;
    err = std::max(err, std::abs(a[i] - b[i]));
    scale = std::max(scale, std::abs(b[i]));
  }
  return err / scale;
}

double bf16_backward_error(const OpCase& c, uint64_t seed) {
  // The same bf16 values computed in f32 (the reference) and in bf16, on the CPU.
  return max_relative_error(forward_backward(c, seed, DType::BF16, DType::F32, Device::CPU),
                            forward_backward(c, seed, DType::BF16, DType::BF16, Device::CPU));
}

GradcheckResult gradient_check(const OpCase& c, Layout layout, uint64_t seed) {
  Generator g(seed);
  std::vector<Tensor> xs = c.make_inputs(DType::F64, g);
  for (size_t i = 0; i < xs.size(); ++i) {
    bool no_grad = std::find(c.no_grad_inputs.begin(), c.no_grad_inputs.end(), i) != c.no_grad_inputs.end();
    if (xs[i].dtype() == DType::F64 && !no_grad) xs[i].requires_grad_();
  }
  auto f = [&](const std::vector<Tensor>& in) {
    std::vector<Tensor> r;
    for (const auto& x : in) r.push_back(relayout(x, layout));
    return c.forward(r);
  };
  return gradcheck(f, xs);
}

GradcheckResult gradient_check(const OpCase& c, const std::vector<Tensor>& inputs, double eps) {
  SG_CHECK(inputs.size() == c.input_names.size(), "gradcheck: {} takes {} inputs ({}), got {}", c.full_name(),
           c.input_names.size(), fmt::join(c.input_names, ", "), inputs.size());
  std::vector<Tensor> xs;
  for (size_t i = 0; i < inputs.size(); ++i) {
    Tensor x = inputs[i].detach();
    bool no_grad = std::find(c.no_grad_inputs.begin(), c.no_grad_inputs.end(), i) != c.no_grad_inputs.end();
    if (x.dtype() == DType::F64 && !no_grad) x.requires_grad_();
    xs.push_back(x);
  }
  return gradcheck(c.forward, xs, eps);
}

double cuda_parity_error(const OpCase& c, uint64_t seed, DType dtype) {
  // The same inputs and cotangent on both devices, the CPU as the reference.
  return max_relative_error(forward_backward(c, seed, dtype, dtype, Device::CPU),
                            forward_backward(c, seed, dtype, dtype, Device::CUDA));
}

}  // namespace sg
