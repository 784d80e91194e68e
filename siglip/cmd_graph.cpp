// cmd_graph.cpp: `siglip graph`: the recorded forward graph of one batch through SigLIP and its sigmoid loss.
#include <cstdlib>
#include <map>
#include <memory>

#include "autograd/graph.h"
#include "nn/fileio.h"
#include "siglip/checkpoint.h"
#include "siglip/commands.h"
#include "siglip/loader.h"
#include "siglip/loss.h"
#include "siglip/run_setup.h"
#include "tensor/ops.h"

namespace sg {
namespace {

// The model to show and one batch of the built-in shapes data for it.
struct GraphInputs {
  std::unique_ptr<RunSetup> fresh;  // a fresh model of --config
  LoadedModel loaded;               // or a checkpoint's
  Batch batch;
  SiglipModel& model() { return fresh ? *fresh->model : *loaded.model; }
};

GraphInputs graph_inputs(const GraphOptions& o) {
  SG_CHECK(o.batch >= 2, "graph: --batch must be at least 2, got {}", o.batch);
  GraphInputs in;
  if (o.checkpoint.empty()) {
    TrainOptions t;
    t.config = o.config;
    t.batch = o.batch;
    t.steps = 1;
    t.seed = o.seed;
    in.fresh = std::make_unique<RunSetup>(t);
    in.batch = in.fresh->loader->next();
    return in;
  }
  in.loaded = load_checkpoint(o.checkpoint);
  const auto& vc = in.loaded.model->config.vision;
  Dataset data = load_dataset("shapes", static_cast<int>(vc.image_size), static_cast<int>(vc.num_channels), o.seed);
  SG_CHECK(static_cast<int64_t>(data.train.size()) >= o.batch, "graph: --batch {} is larger than the {} examples",
           o.batch, data.train.size());
  BatchLoader loader(data.train, in.loaded.tokenizer, static_cast<int>(o.batch),
                     static_cast<int>(in.loaded.model->config.text.max_position_embeddings), data.channels, data.height,
                     data.width, o.seed);
  in.batch = loader.next();
  return in;
}

std::string render(const std::vector<GraphNode>& nodes, GraphFormat f) {
  switch (f) {
    case GraphFormat::Text: return graph_text(nodes);
    case GraphFormat::Dot: return graph_dot(nodes);
    case GraphFormat::Json: return graph_json(nodes);
  }
  fail("graph: format {} has no printer", static_cast<int>(f));
}

}  // namespace

int run_graph(const GraphOptions& o) {
  GraphInputs in = graph_inputs(o);
  SiglipModel& m = in.model();
  // x: [B, C, H, W], ids: [B, T] -> embeddings [B, D] -> the fused sigmoid loss (diagonal positives)
  Tensor img = m.image_embeds(in.batch.images), txt = m.text_embeds(in.batch.ids);
  Tensor groups = positive_groups(Positives::Diagonal, in.batch.captions, in.batch.labels);
  Tensor loss = sigmoid_loss_fused(img, txt, m.logit_scale, m.logit_bias, groups);

  std::map<const AutogradMeta*, std::string> names;
  for (const auto& [name, p] : m.named_parameters())
    if (p->impl()->meta) names[p->impl()->meta.get()] = name;
  std::vector<GraphNode> nodes = describe_graph(loss, names);
  if (!o.module.empty()) {
    std::erase_if(nodes, [&](const GraphNode& g) { return g.module.rfind(o.module, 0) != 0; });
    SG_CHECK(!nodes.empty(), "graph: no node was made inside a module starting with '{}'", o.module);
  }

  const bool svg = o.out.size() > 4 && o.out.ends_with(".svg");
  const std::string text = render(nodes, svg ? GraphFormat::Dot : o.format);
  if (o.out.empty()) {
    fmt::print("{}", text);
  } else if (!svg) {
    write_file_atomic(o.out, text);
  } else {
    const std::string dot_file = o.out + ".dot";
    write_file_atomic(dot_file, text);
    const std::string cmd = fmt::format("dot -Tsvg -o '{}' '{}'", o.out, dot_file);
    SG_CHECK(std::system(cmd.c_str()) == 0, "graph: `{}` failed (is Graphviz installed? apt-get install graphviz); "
             "the DOT is in {}", cmd, dot_file);
  }
  if (!o.out.empty())
    fmt::print(stderr, "graph: {} nodes, loss {:.4f}, written to {}\n", nodes.size(), loss.item(), o.out);
  return 0;
}

}  // namespace sg
