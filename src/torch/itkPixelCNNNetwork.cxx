/*=========================================================================
 * The conditional gated PixelCNN (private): see itkPixelCNNNetwork.h.
 *=========================================================================*/
#include "itkPixelCNNNetwork.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace itk
{
namespace pixelcnn
{
namespace nn = torch::nn;
namespace F = torch::nn::functional;

namespace
{
/** tanh(x_a) * sigmoid(x_b), x = [x_a, x_b] along dimension `dim`. */
torch::Tensor
Gate(const torch::Tensor & x, int64_t channels, int64_t dim)
{
  return torch::tanh(x.narrow(dim, 0, channels)) * torch::sigmoid(x.narrow(dim, channels, channels));
}
} // namespace


GatedLayerImpl::GatedLayerImpl(int64_t inChannels, int64_t outChannels, int64_t kernelSize, bool isFirst,
                               int64_t conditionDimension, int64_t budgetDimension)
  : channels(outChannels)
  , pad(kernelSize / 2)
  , first(isFirst)
{
  const int64_t c2 = 2 * channels;
  vertical = register_module("vertical", nn::Conv2d(nn::Conv2dOptions(inChannels, c2, { pad + 1, kernelSize })));
  horizontal = register_module("horizontal", nn::Conv2d(nn::Conv2dOptions(inChannels, c2, { 1, pad + 1 })));
  verticalToHorizontal = register_module("vertical_to_horizontal", nn::Conv2d(nn::Conv2dOptions(c2, c2, 1)));
  horizontalOut = register_module("horizontal_out", nn::Conv2d(nn::Conv2dOptions(channels, channels, 1)));
  if (conditionDimension > 0)
  {
    condition = register_module("condition", nn::Linear(conditionDimension, c2));
  }
  if (budgetDimension > 0)
  {
    budget = register_module("budget", nn::Linear(budgetDimension, c2));
  }
  // Mask A (first layer): the horizontal kernel must not see the current position (its last column).
  auto mask = torch::ones({ 1, 1, 1, pad + 1 });
  if (first)
  {
    mask[0][0][0][pad] = 0.0;
  }
  horizontalMask = register_buffer("horizontal_mask", mask);
}

torch::Tensor
GatedLayerImpl::MaskedHorizontalWeight() const
{
  return horizontal->weight * horizontalMask;
}

std::pair<torch::Tensor, torch::Tensor>
GatedLayerImpl::forward(const torch::Tensor & v, const torch::Tensor & h, const torch::Tensor & bias,
                        const torch::Tensor & budgetBias)
{
  const int64_t height = v.size(2);
  // Vertical stack: rows r-p..r, columns c-p..c+p (zero padding outside the map).
  auto V = vertical(F::pad(v, F::PadFuncOptions({ pad, pad, pad, 0 })));
  auto vOut = Gate(bias.defined() ? V + bias.unsqueeze(2).unsqueeze(3) : V, channels, 1);
  // Down-shift: the horizontal stack at row r gets the vertical features of row r - 1.
  auto down = F::pad(V, F::PadFuncOptions({ 0, 0, 1, 0 })).narrow(2, 0, height);
  auto H = F::conv2d(F::pad(h, F::PadFuncOptions({ pad, 0, 0, 0 })),
                     this->MaskedHorizontalWeight(),
                     F::Conv2dFuncOptions().bias(horizontal->bias));
  auto G = H + verticalToHorizontal(down);
  if (bias.defined())
  {
    G = G + bias.unsqueeze(2).unsqueeze(3);
  }
  if (budgetBias.defined())
  {
    G = G + budgetBias;
  }
  auto hOut = horizontalOut(Gate(G, channels, 1));
  if (!first)
  {
    hOut = hOut + h;
  }
  return { vOut, hOut };
}


NetworkImpl::NetworkImpl(const NetworkOptions & opts)
  : options(opts)
{
  embedding = register_module("embedding", nn::Embedding(options.codebookSize, options.embeddingDimension));
  layerList = register_module("layers", nn::ModuleList());
  for (int64_t l = 0; l < options.layers; ++l)
  {
    const bool first = (l == 0);
    GatedLayer layer(first ? options.embeddingDimension : options.hiddenChannels,
                     options.hiddenChannels,
                     first ? options.firstKernelSize : options.kernelSize,
                     first,
                     options.conditionDimension,
                     options.budgetCount > 0 ? 2 * options.budgetCount + 1 : 0);
    layerList->push_back(layer);
    layers.push_back(layer);
  }
  head1 =
    register_module("head1", nn::Conv2d(nn::Conv2dOptions(options.hiddenChannels, options.outputHiddenChannels, 1)));
  head2 =
    register_module("head2", nn::Conv2d(nn::Conv2dOptions(options.outputHiddenChannels, options.codebookSize, 1)));
}

std::vector<torch::Tensor>
NetworkImpl::ConditionBiases(const torch::Tensor & conditions)
{
  std::vector<torch::Tensor> biases(layers.size());
  if (options.conditionDimension > 0)
  {
    for (size_t l = 0; l < layers.size(); ++l)
    {
      biases[l] = layers[l]->condition(conditions);
    }
  }
  return biases;
}

torch::Tensor
NetworkImpl::Head(const torch::Tensor & h)
{
  if (h.dim() == 2)
  {
    const auto w1 = head1->weight.view({ options.outputHiddenChannels, options.hiddenChannels });
    const auto w2 = head2->weight.view({ options.codebookSize, options.outputHiddenChannels });
    return torch::addmm(head2->bias, torch::relu(torch::addmm(head1->bias, torch::relu(h), w1.t())), w2.t());
  }
  return head2(torch::relu(head1(torch::relu(h))));
}

void
NetworkImpl::SetBudget(const std::vector<double> & codeValues, const std::vector<double> & mean,
                       const std::vector<double> & stdDev)
{
  const int64_t L = options.budgetCount;
  TORCH_CHECK(L > 0 && static_cast<int64_t>(mean.size()) == L && static_cast<int64_t>(stdDev.size()) == L &&
                static_cast<int64_t>(codeValues.size()) == options.codebookSize * L,
              "the composition budget needs K x L code values and L means and sds");
  const auto d = torch::TensorOptions().dtype(torch::kDouble);
  budgetValues = torch::tensor(codeValues, d).view({ options.codebookSize, L });
  budgetMean = torch::tensor(mean, d);
  budgetStdDev = torch::tensor(stdDev, d);
}

torch::Tensor
NetworkImpl::BudgetValues(const torch::Tensor & indices) const
{
  TORCH_CHECK(budgetValues.defined(), "the composition budget's code values are not set (SetBudget)");
  auto sizes = indices.sizes().vec();
  sizes.push_back(options.budgetCount);
  return budgetValues.index_select(0, indices.reshape({ -1 }).to(torch::kCPU, torch::kLong)).view(sizes);
}

torch::Tensor
NetworkImpl::BudgetFeatures(const torch::Tensor & sums, const torch::Tensor & positions, const torch::Tensor & u,
                            int64_t totalPositions) const
{
  const auto P = static_cast<double>(totalPositions);
  const auto U = (u.to(torch::kCPU, torch::kDouble) * budgetStdDev + budgetMean).unsqueeze(1); // N x 1 x L
  const auto i = positions.to(torch::kDouble).view({ 1, -1, 1 });                              // 1 x P' x 1
  const auto need = (U * P - sums) / (P - i);
  const auto d = ((need - U) / budgetStdDev).clamp(-8.0, 8.0);
  const auto t = (i / P).expand({ sums.size(0), sums.size(1), 1 });
  return torch::cat({ d, d * t, t }, 2).to(torch::kFloat);
}

torch::Tensor
NetworkImpl::forward(const torch::Tensor & indices, const torch::Tensor & conditions)
{
  auto          x = embedding(indices).permute({ 0, 3, 1, 2 }).contiguous();
  const auto    biases = this->ConditionBiases(conditions);
  torch::Tensor features; // N x H x W x (2L + 1), on the indices' device
  if (options.budgetCount > 0)
  {
    const int64_t N = indices.size(0), H = indices.size(1), W = indices.size(2), L = options.budgetCount;
    const auto    values = this->BudgetValues(indices).view({ N, H * W, L });
    // Exclusive sums in raster order: position i gets the values of positions 0..i-1 (accumulated in double).
    const auto sums =
      torch::cat({ torch::zeros({ N, 1, L }, values.options()), values.narrow(1, 0, H * W - 1).cumsum(1) }, 1);
    features = this->BudgetFeatures(sums, torch::arange(H * W), conditions.narrow(1, conditions.size(1) - L, L), H * W)
                 .view({ N, H, W, 2 * L + 1 })
                 .to(indices.device());
  }
  torch::Tensor v = x, h = x;
  for (size_t l = 0; l < layers.size(); ++l)
  {
    torch::Tensor budgetBias;
    if (features.defined())
      budgetBias = layers[l]->budget(features).permute({ 0, 3, 1, 2 });
    std::tie(v, h) = layers[l]->forward(v, h, biases[l], budgetBias);
  }
  return this->Head(h);
}


int64_t
InverseCDF(const float * logits, int64_t K, double temperature, double u)
{
  thread_local std::vector<double> w;
  w.resize(static_cast<size_t>(K));
  double m = -std::numeric_limits<double>::infinity();
  for (int64_t k = 0; k < K; ++k)
  {
    w[k] = static_cast<double>(logits[k]) / temperature;
    m = std::max(m, w[k]);
  }
  double sum = 0.0;
  for (int64_t k = 0; k < K; ++k)
  {
    w[k] = std::exp(w[k] - m);
    sum += w[k];
  }
  const double target = u * sum;
  double       cumulative = 0.0;
  int64_t      last = 0;
  for (int64_t k = 0; k < K; ++k)
  {
    if (w[k] > 0.0)
    {
      cumulative += w[k];
      last = k;
      if (cumulative > target)
      {
        return k;
      }
    }
  }
  return last;
}

namespace
{
/** Draws one index per map at (r, c) from logits (N x K, any device); writes them into out (CPU, int64). */
torch::Tensor
DrawPosition(const torch::Tensor & logits, torch::Tensor & out, int64_t r, int64_t c, const double * uniforms,
             double temperature)
{
  const auto    cpu = logits.to(torch::kCPU, torch::kFloat).contiguous();
  const int64_t n = cpu.size(0), K = cpu.size(1), H = out.size(1), W = out.size(2);
  const float * p = cpu.data_ptr<float>();
  auto          chosen = torch::empty({ n }, torch::kLong);
  auto *        o = out.data_ptr<int64_t>();
  auto *        ch = chosen.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i)
  {
    const size_t at = static_cast<size_t>((i * H + r) * W + c);
    ch[i] = InverseCDF(p + i * K, K, temperature, uniforms[at]);
    o[at] = ch[i];
  }
  return chosen;
}
} // namespace

void
SampleNaive(Network & network, torch::Tensor & out, const torch::Tensor & conditions, const double * uniforms,
            double temperature, const torch::Device & device, const std::function<void(double)> & progress)
{
  torch::NoGradGuard noGrad;
  network->eval();
  const int64_t H = out.size(1), W = out.size(2);
  auto          idx = out.to(device);
  const auto    cond = conditions.defined() ? conditions.to(device) : conditions;
  for (int64_t r = 0; r < H; ++r)
  {
    for (int64_t c = 0; c < W; ++c)
    {
      // The whole network on the whole map, for one position.
      auto logits = network->forward(idx, cond).select(3, c).select(2, r);
      auto chosen = DrawPosition(logits, out, r, c, uniforms, temperature);
      idx.select(2, c).select(1, r).copy_(chosen.to(device));
    }
    if (progress)
      progress(static_cast<double>(r + 1) / H);
  }
}

void
SampleIncremental(Network & network, torch::Tensor & out, const torch::Tensor & conditions, const double * uniforms,
                  double temperature, const torch::Device & device, const std::function<void(double)> & progress)
{
  torch::NoGradGuard noGrad;
  network->eval();
  const auto &  o = network->options;
  const int64_t N = out.size(0), H = out.size(1), W = out.size(2);
  const int64_t L = o.layers, C = o.hiddenChannels, E = o.embeddingDimension;
  const auto    fopt = torch::TensorOptions().dtype(torch::kFloat).device(device);
  const auto    cond = conditions.defined() ? conditions.to(device) : conditions;
  const auto    biases = network->ConditionBiases(cond);

  int64_t P = 0; // left padding of the horizontal row buffers: the largest reach p of all layers
  for (const auto & layer : network->layers)
    P = std::max(P, layer->pad);

  // Per layer: the horizontal kernel as a matrix over channels-last windows ((p+1) * C_in x 2C),
  // and the 1x1 output convolution as a matrix.
  std::vector<torch::Tensor> horizontalT(L), outT(L);
  for (int64_t l = 0; l < L; ++l)
  {
    auto & layer = network->layers[l];
    horizontalT[l] = layer->MaskedHorizontalWeight().permute({ 0, 2, 3, 1 }).reshape({ 2 * C, -1 }).t().contiguous();
    outT[l] = layer->horizontalOut->weight.view({ C, C }).t().contiguous();
  }

  // The composition budget: each map's code values summed over the positions drawn so far (N x 1 x L,
  // double, accumulated in raster order as the full forward's cumsum does) and its u.
  const int64_t B = o.budgetCount;
  torch::Tensor budgetSums, budgetU;
  if (B > 0)
  {
    budgetSums = torch::zeros({ N, 1, B }, torch::kDouble);
    budgetU = cond.narrow(1, cond.size(1) - B, B);
  }

  // Caches. vertical[l]: gated vertical outputs (inputs of layer l+1's vertical stack), N x C_l x H x W,
  // vertical[0] = the embedding of the indices drawn so far. rows[l]: the current row of the horizontal
  // stack, channels last, N x (P + W) x C_l, zero in the P padding columns; rows[0] = embedding.
  // toHorizontal[l]: conv_1x1(down(V_l)) for the current row, channels last, N x W x 2C.
  std::vector<torch::Tensor> vertical(L + 1), rows(L + 1), toHorizontal(L);
  vertical[0] = torch::zeros({ N, E, H, W }, fopt);
  rows[0] = torch::zeros({ N, P + W, E }, fopt);
  for (int64_t l = 1; l <= L; ++l)
  {
    if (l < L)
      vertical[l] = torch::zeros({ N, C, H, W }, fopt);
    rows[l] = torch::zeros({ N, P + W, C }, fopt);
  }
  // The embedding of index 0 at positions not drawn yet, as in the naive sampler (the masks give them weight 0).
  vertical[0].copy_(network->embedding->weight[0].view({ 1, E, 1, 1 }).expand({ N, E, H, W }));

  for (int64_t r = 0; r < H; ++r)
  {
    // Vertical stack of row r - 1 (complete now), every layer; its 1x1 map to the horizontal stack of row r.
    for (int64_t l = 0; l < L; ++l)
    {
      auto &        layer = network->layers[l];
      torch::Tensor V;
      if (r == 0)
      {
        V = torch::zeros({ N, 2 * C, 1, W }, fopt);
      }
      else
      {
        const int64_t q = r - 1, reach = layer->pad, lo = std::max<int64_t>(0, q - reach);
        auto          window =
          F::pad(vertical[l].narrow(2, lo, q - lo + 1), F::PadFuncOptions({ reach, reach, reach - (q - lo), 0 }));
        V = layer->vertical(window); // N x 2C x 1 x W
        if (l + 1 < L)
        {
          auto g = Gate(biases[l].defined() ? V + biases[l].unsqueeze(2).unsqueeze(3) : V, C, 1);
          vertical[l + 1].narrow(2, q, 1).copy_(g);
        }
      }
      toHorizontal[l] = layer->verticalToHorizontal(V).squeeze(2).permute({ 0, 2, 1 }).contiguous();
    }
    // Positions of row r: the horizontal-stack column of every layer from the cached windows.
    for (int64_t c = 0; c < W; ++c)
    {
      torch::Tensor features; // N x (2B + 1)
      if (B > 0)
        features = network->BudgetFeatures(budgetSums, torch::full({ 1 }, r * W + c, torch::kLong), budgetU, H * W)
                     .squeeze(1)
                     .to(device);
      for (int64_t l = 0; l < L; ++l)
      {
        auto &        layer = network->layers[l];
        const int64_t reach = layer->pad;
        auto          window = rows[l].narrow(1, P + c - reach, reach + 1).reshape({ N, -1 });
        auto          G = torch::addmm(layer->horizontal->bias, window, horizontalT[l]) + toHorizontal[l].select(1, c);
        if (biases[l].defined())
          G = G + biases[l];
        if (features.defined())
          G = G + layer->budget(features);
        auto hOut = torch::addmm(layer->horizontalOut->bias, Gate(G, C, 1), outT[l]);
        if (!layer->first)
          hOut = hOut + rows[l].select(1, P + c);
        rows[l + 1].select(1, P + c).copy_(hOut);
      }
      auto chosen = DrawPosition(network->Head(rows[L].select(1, P + c)), out, r, c, uniforms, temperature);
      if (B > 0)
        budgetSums += network->BudgetValues(chosen).unsqueeze(1);
      auto e = network->embedding(chosen.to(device)); // N x E
      rows[0].select(1, P + c).copy_(e);
      vertical[0].select(3, c).select(2, r).copy_(e);
    }
    if (progress)
      progress(static_cast<double>(r + 1) / H);
  }
}

torch::Tensor
IndexMapsInput(const int32_t * indices, unsigned int first, unsigned int count, unsigned int h, unsigned int w,
               const torch::Device & device)
{
  const size_t per = static_cast<size_t>(h) * w;
  return torch::from_blob(const_cast<int32_t *>(indices) + first * per, { count, h, w }, torch::kInt)
    .to(device, torch::kLong);
}

namespace
{
/** The encoded conditions of maps first..first+count-1, count x D (undefined for D = 0). */
torch::Tensor
ConditionsToTensor(const std::vector<float> & encoded, unsigned int first, unsigned int count, unsigned int D,
                   const torch::Device & device)
{
  if (D == 0)
  {
    return torch::Tensor();
  }
  return torch::from_blob(
           const_cast<float *>(encoded.data()) + static_cast<size_t>(first) * D, { count, D }, torch::kFloat)
    .clone()
    .to(device);
}
} // namespace

torch::Tensor
ConditionInput(const std::vector<float> & encoded, unsigned int first, unsigned int count, unsigned int D,
               const torch::Device & device, const std::vector<double> & composition, unsigned int L)
{
  auto c = ConditionsToTensor(encoded, first, count, D, torch::kCPU);
  if (L > 0)
  {
    const auto u = torch::from_blob(const_cast<double *>(composition.data()) + static_cast<size_t>(first) * L,
                                    { count, L },
                                    torch::kDouble)
                     .to(torch::kFloat);
    c = c.defined() ? torch::cat({ c, u }, 1) : u;
  }
  return c.defined() ? c.to(device) : c;
}

} // namespace pixelcnn
} // namespace itk
