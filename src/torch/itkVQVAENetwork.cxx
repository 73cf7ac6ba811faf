/*=========================================================================
 * The VQ-VAE network (private): see itkVQVAENetwork.h.
 *=========================================================================*/
#include "itkVQVAENetwork.h"
#include "itkDataParallelSupport.h"

namespace itk
{
namespace vqvae
{
namespace nn = torch::nn;

ResidualBlockImpl::ResidualBlockImpl(int64_t channels)
{
  conv1 = register_module("conv1", nn::Conv2d(nn::Conv2dOptions(channels, channels, 3).padding(1).bias(false)));
  bn1 = register_module("bn1", SyncBatchNorm2d(channels));
  conv2 = register_module("conv2", nn::Conv2d(nn::Conv2dOptions(channels, channels, 1).bias(false)));
  bn2 = register_module("bn2", SyncBatchNorm2d(channels));
}

SyncBatchNorm2dImpl::SyncBatchNorm2dImpl(int64_t channels)
{
  weight = register_parameter("weight", torch::ones({ channels }));
  bias = register_parameter("bias", torch::zeros({ channels }));
  running_mean = register_buffer("running_mean", torch::zeros({ channels }));
  running_var = register_buffer("running_var", torch::ones({ channels }));
  num_batches_tracked = register_buffer("num_batches_tracked", torch::zeros({}, torch::kLong));
}

torch::Tensor
SyncBatchNorm2dImpl::forward(const torch::Tensor & x)
{
  if (is_training())
  {
    torch::NoGradGuard noGrad;
    num_batches_tracked.add_(1);
  }
  if (!is_training() || !DataParallel::IsActive())
    return torch::batch_norm(x,
                             weight,
                             bias,
                             running_mean,
                             running_var,
                             is_training(),
                             Momentum,
                             Epsilon,
                             at::globalContext().userEnabledCuDNN());
  // The whole batch's per-channel mean and (biased) variance from the summed sums; the running
  // statistics follow them as BatchNorm2d's do (momentum, unbiased variance).
  const auto C = x.size(1);
  const auto xf = x.to(torch::kFloat);
  const auto local = torch::cat({ xf.sum({ 0, 2, 3 }),
                                  xf.pow(2).sum({ 0, 2, 3 }),
                                  torch::full({ 1 }, static_cast<double>(x.numel() / C), xf.options()) });
  const auto total = dataparallel::AllReduceSumWithGradient(local);
  const auto count = total[2 * C].item<double>();
  const auto mean = total.slice(0, 0, C) / count;
  const auto var = (total.slice(0, C, 2 * C) / count - mean.pow(2)).clamp_min(0.0);
  {
    torch::NoGradGuard noGrad;
    running_mean.mul_(1.0 - Momentum).add_(mean.detach(), Momentum);
    running_var.mul_(1.0 - Momentum).add_(var.detach() * (count / std::max(1.0, count - 1.0)), Momentum);
  }
  const auto scale = weight * torch::rsqrt(var + Epsilon);
  return xf * scale.view({ 1, C, 1, 1 }) + (bias - mean * scale).view({ 1, C, 1, 1 });
}

torch::Tensor
ResidualBlockImpl::forward(const torch::Tensor & x)
{
  auto h = bn1(conv1(torch::relu(x))); // x itself is kept for the skip connection
  h.relu_();
  return x + bn2(conv2(h));
}


namespace
{
/** The four output phases of a stride-2 transposed convolution held by the 2x2 convolution output
 * y (N x 4 Co x (H+1) x (W+1), channel 4 o + 2 a + b = phase (a, b) of output channel o, phase
 * (a, b) at row m + a, column n + b), as a view N x Co x H x 2 x W x 2 of y's storage: element
 * (n, o, m, a, k, b) lies at offset n sN + (4 o + 2 a + b) sC + (m + a) sH + (k + b) sW, affine in
 * each index, so one as_strided view gathers it. */
torch::Tensor
PhaseView(const torch::Tensor & y, int64_t outChannels)
{
  const auto s = y.strides();
  const auto n = y.size(0), h = y.size(2) - 1, w = y.size(3) - 1;
  return y.as_strided(
    { n, outChannels, h, 2, w, 2 }, { s[0], 4 * s[1], s[2], s[2] + 2 * s[1], s[3], s[3] + s[1] }, y.storage_offset());
}

/** y (see PhaseView) -> N x Co x 2H x 2W, channels-last; backward scatters the gradient back into
 * a zero N x 4 Co x (H+1) x (W+1) tensor (the one-pixel border of y that no phase reads gets 0). */
class InterleavePhases : public torch::autograd::Function<InterleavePhases>
{
public:
  static torch::Tensor
  forward(torch::autograd::AutogradContext * ctx, const torch::Tensor & y, int64_t outChannels)
  {
    ctx->saved_data["sizes"] = y.sizes().vec();
    ctx->saved_data["outChannels"] = outChannels;
    const auto n = y.size(0), h = y.size(2) - 1, w = y.size(3) - 1;
    return PhaseView(y, outChannels)
      .permute({ 0, 2, 3, 4, 5, 1 }) // n, m, a, k, b, o
      .reshape({ n, 2 * h, 2 * w, outChannels })
      .permute({ 0, 3, 1, 2 });
  }

  static torch::autograd::variable_list
  backward(torch::autograd::AutogradContext * ctx, torch::autograd::variable_list grads)
  {
    const auto   sizes = ctx->saved_data["sizes"].toIntVector();
    const auto   outChannels = ctx->saved_data["outChannels"].toInt();
    const auto & g = grads[0]; // N x Co x 2H x 2W
    auto         gy = torch::zeros(sizes, g.options().memory_format(torch::MemoryFormat::ChannelsLast));
    PhaseView(gy, outChannels).copy_(g.reshape({ sizes[0], outChannels, sizes[2] - 1, 2, sizes[3] - 1, 2 }));
    return { gy, torch::Tensor() };
  }
};
} // namespace

TransposedConvolution2xImpl::TransposedConvolution2xImpl(int64_t in, int64_t out, bool withBias)
  : inChannels(in)
  , outChannels(out)
{
  // Draw the initial weights exactly as torch::nn::ConvTranspose2d does (same generator calls,
  // same values for a given seed), then own its tensors under its parameter names.
  nn::ConvTranspose2d init(nn::ConvTranspose2dOptions(in, out, 4).stride(2).padding(1).bias(withBias));
  weight = register_parameter("weight", init->weight.detach().clone());
  bias = withBias ? register_parameter("bias", init->bias.detach().clone())
                  : register_parameter("bias", torch::Tensor(), /*requires_grad=*/false);
}

torch::Tensor
TransposedConvolution2xImpl::ConvolutionWeight() const
{
  // ConvTranspose2d (stride 2, padding 1): output row Y = 2 iy - 1 + ky. Output row 2m + a reads
  // input rows m - 1, m (a = 0) through kernel rows ky = 3, 1, or rows m, m + 1 (a = 1) through
  // ky = 2, 0. A 2x2 convolution with padding 1 reads rows p - 1, p at its output row p: phase
  // a = 0 is its row p = m with kernel rows (3, 1), phase a = 1 its row p = m + 1 with (2, 0).
  // Columns likewise.
  const auto index = torch::tensor({ 3, 1, 2, 0 }, torch::TensorOptions().dtype(torch::kLong).device(weight.device()));
  auto       taps = weight.index_select(2, index).index_select(3, index); // Ci x Co x (a u) x (b v)
  return taps.view({ inChannels, outChannels, 2, 2, 2, 2 })
    .permute({ 1, 2, 4, 0, 3, 5 }) // Co x a x b x Ci x u x v
    .reshape({ 4 * outChannels, inChannels, 2, 2 });
}

torch::Tensor
TransposedConvolution2xImpl::forward(const torch::Tensor & x)
{
  const auto b = bias.defined() ? bias.repeat_interleave(4) : torch::Tensor();
  auto       y = torch::conv2d(x, ConvolutionWeight(), b, /*stride=*/1, /*padding=*/1); // N x 4Co x (H+1) x (W+1)
  return InterleavePhases::apply(y, outChannels);
}


VectorQuantizerImpl::VectorQuantizerImpl(const NetworkOptions & opts)
  : options(opts)
{
  const auto K = options.codebookSize;
  const auto D = options.codeDimension;
  // Uniform(-1/K, 1/K), as in van den Oord et al.'s reference implementation.
  auto init = torch::empty({ K, D }).uniform_(-1.0 / K, 1.0 / K);
  codebook = register_parameter("codebook", init, /*requires_grad=*/!options.ema);
  emaCount = register_buffer("ema_count", torch::ones({ K }));
  emaSum = register_buffer("ema_sum", init.clone());
}

torch::Tensor
VectorQuantizerImpl::NearestCodes(const torch::Tensor & z) const
{
  const auto D = options.codeDimension;
  auto       flat = z.permute({ 0, 2, 3, 1 }).reshape({ -1, D });
  // ||z - e||^2 = ||z||^2 - 2 z.e + ||e||^2; ||z||^2 is the same for every code, so the nearest
  // code minimises ||e||^2 - 2 z.e: one GEMM with the norms as its initial value (addmm), no
  // further pass over the N h w x K matrix before argmin.
  auto scores = torch::addmm(codebook.pow(2).sum(1).unsqueeze(0), flat, codebook.t(), /*beta=*/1.0, /*alpha=*/-2.0);
  return scores.argmin(1).reshape({ z.size(0), z.size(2), z.size(3) });
}

torch::Tensor
VectorQuantizerImpl::Lookup(const torch::Tensor & indices) const
{
  // N x h x w x D in memory = N x D x h x w channels-last, the layout the network works in.
  return torch::embedding(codebook, indices).permute({ 0, 3, 1, 2 });
}

QuantizerOutput
VectorQuantizerImpl::forward(const torch::Tensor & z, torch::Generator * generator)
{
  QuantizerOutput out;
  const auto      K = options.codebookSize;
  const auto      D = options.codeDimension;
  torch::Tensor   indices;
  {
    torch::NoGradGuard noGrad;
    indices = NearestCodes(z.detach());
  }
  const auto    flatIndices = indices.reshape({ -1 });
  torch::Tensor batchCounts; // the batch's code counts, where the EMA update made them

  if (options.ema && is_training())
  {
    torch::NoGradGuard noGrad;
    const double       decay = options.emaDecay;
    auto               flat = z.detach().permute({ 0, 2, 3, 1 }).reshape({ -1, D });
    auto oneHot = torch::zeros({ flat.size(0), K }, flat.options()).scatter_(1, flatIndices.unsqueeze(1), 1.0);
    // In a data-parallel job the counts and sums are the whole batch's, so every process keeps
    // the same codebook.
    std::vector<torch::Tensor> batchStatistics{ oneHot.sum(0), torch::matmul(oneHot.t(), flat) };
    dataparallel::AllReduceSum(batchStatistics);
    batchCounts = batchStatistics[0];
    emaCount.mul_(decay).add_(batchStatistics[0], 1.0 - decay);
    emaSum.mul_(decay).add_(batchStatistics[1], 1.0 - decay);
    // Dead codes (EMA count below threshold) restart from random encoder outputs of this batch.
    auto dead = emaCount < options.deadCodeThreshold;
    auto deadIdx = dead.nonzero().reshape({ -1 });
    if (deadIdx.numel() > 0)
    {
      // From the whole batch's encoder outputs (in rank order, as one process holds them), with the
      // generator every process advances alike: the same restarts everywhere.
      flat = dataparallel::AllGather(flat);
      auto pick =
        generator
          ? torch::randint(flat.size(0), { deadIdx.size(0) }, *generator, torch::TensorOptions().dtype(torch::kLong))
          : torch::randint(flat.size(0), { deadIdx.size(0) }, torch::TensorOptions().dtype(torch::kLong));
      auto fresh = flat.index_select(0, pick.to(flat.device()));
      emaSum.index_copy_(0, deadIdx, fresh);
      emaCount.index_fill_(0, deadIdx, 1.0);
    }
    codebook.copy_(emaSum / emaCount.unsqueeze(1));
  }

  auto e = Lookup(indices); // N x D x h x w, differentiable w.r.t. the codebook in "loss" mode
  out.commitmentLoss = options.commitmentCost * torch::mse_loss(z, e.detach());
  out.codebookLoss = options.ema ? torch::zeros({}, z.options()) : torch::mse_loss(e, z.detach());
  out.quantized = z + (e - z).detach(); // straight-through estimator
  out.indices = indices;
  {
    torch::NoGradGuard noGrad;
    // The whole batch's counts in training: the EMA update's (already summed over a job's
    // processes), else counted and summed here.
    std::vector<torch::Tensor> counts{ batchCounts.defined()
                                         ? batchCounts.cpu().to(torch::kDouble)
                                         : torch::bincount(flatIndices.cpu(), {}, K).to(torch::kDouble) };
    if (is_training() && !batchCounts.defined())
      dataparallel::AllReduceSum(counts);
    const auto total = counts[0].sum().item<double>();
    auto       p = counts[0] / std::max(total, 1.0);
    out.perplexity = torch::exp(-(p * torch::log(p + 1e-10)).sum()).item<double>();
    out.codesInUse = (counts[0] > 0).sum().item<int64_t>();
  }
  return out;
}


NetworkImpl::NetworkImpl(const NetworkOptions & opts)
  : options(opts)
{
  const auto & ch = options.encoderChannels;
  const auto   last = ch.back();

  nn::Sequential enc;
  int64_t        in = options.inputChannels;
  for (const auto c : ch)
  {
    enc->push_back(nn::Conv2d(nn::Conv2dOptions(in, c, 4).stride(2).padding(1).bias(false)));
    enc->push_back(SyncBatchNorm2d(c));
    enc->push_back(nn::ReLU(nn::ReLUOptions(/*inplace=*/true)));
    in = c;
  }
  for (int64_t i = 0; i < options.residualBlocks; ++i)
  {
    enc->push_back(ResidualBlock(last));
  }
  enc->push_back(nn::ReLU());
  enc->push_back(nn::Conv2d(nn::Conv2dOptions(last, options.codeDimension, 1)));
  encoder = register_module("encoder", enc);

  quantizer = register_module("quantizer", VectorQuantizer(options));

  nn::Sequential dec;
  dec->push_back(nn::Conv2d(nn::Conv2dOptions(options.codeDimension, last, 3).padding(1)));
  for (int64_t i = 0; i < options.residualBlocks; ++i)
  {
    dec->push_back(ResidualBlock(last));
  }
  dec->push_back(nn::ReLU());
  for (auto i = static_cast<int64_t>(ch.size()) - 1; i >= 1; --i)
  {
    dec->push_back(TransposedConvolution2x(ch[i], ch[i - 1], /*withBias=*/false));
    dec->push_back(SyncBatchNorm2d(ch[i - 1]));
    dec->push_back(nn::ReLU(nn::ReLUOptions(/*inplace=*/true)));
  }
  dec->push_back(TransposedConvolution2x(ch[0], options.inputChannels, /*withBias=*/true));
  dec->push_back(nn::Tanh());
  decoder = register_module("decoder", dec);
}

torch::Tensor
NetworkImpl::Encode(const torch::Tensor & x)
{
  return encoder->forward(x.contiguous(torch::MemoryFormat::ChannelsLast));
}

torch::Tensor
NetworkImpl::Decode(const torch::Tensor & zq)
{
  return decoder->forward(zq.contiguous(torch::MemoryFormat::ChannelsLast));
}

torch::Tensor
OtsuThresholds(const torch::Tensor & images, int64_t bins)
{
  torch::NoGradGuard noGrad;
  const auto         n = images.size(0);
  const auto         flat = images.detach().reshape({ n, -1 }).to(torch::kFloat);
  const auto         lo = std::get<0>(flat.min(1, /*keepdim=*/true));
  const auto         hi = std::get<0>(flat.max(1, /*keepdim=*/true));
  const auto         width = (hi - lo).clamp_min(1e-12) / static_cast<double>(bins);
  // Bin b holds [lo + b width, lo + (b + 1) width); the maximum goes to the last bin.
  const auto index = ((flat - lo) / width).floor().clamp(0, static_cast<double>(bins - 1)).to(torch::kLong);
  auto       counts = torch::zeros({ n, bins }, flat.options().dtype(torch::kDouble));
  counts.scatter_add_(1, index, torch::ones_like(index, counts.options()));
  const auto p = counts / counts.sum(1, /*keepdim=*/true);
  const auto centres = torch::arange(bins, p.options()).add_(0.5).unsqueeze(0);
  const auto w0 = p.cumsum(1);             // weight of the dark class, bins 0..b
  const auto m0 = (p * centres).cumsum(1); // its first moment
  const auto mT = m0.select(1, bins - 1).unsqueeze(1);
  // Between-class variance (mT w0 - m0)^2 / (w0 (1 - w0)); 0 where a class is empty.
  const auto denominator = w0 * (1.0 - w0);
  const auto between = torch::where(
    denominator > 1e-12, (mT * w0 - m0).pow(2) / denominator.clamp_min(1e-12), torch::zeros_like(denominator));
  const auto best = between.argmax(1, /*keepdim=*/true).to(torch::kDouble);
  return (lo.to(torch::kDouble) + (best + 1.0) * width.to(torch::kDouble)).squeeze(1).to(images.scalar_type());
}

namespace
{
/** The soft phase maps sigmoid((x - t) / s) of a batch N x C x H x W, t one threshold per image. */
torch::Tensor
SoftPhaseMap(const torch::Tensor & images, const torch::Tensor & thresholds, double softness)
{
  return torch::sigmoid((images - thresholds.view({ -1, 1, 1, 1 })) / softness);
}
} // namespace

torch::Tensor
SoftPhaseMapDistance(const torch::Tensor & reconstructions, const torch::Tensor & originals,
                     const torch::Tensor & originalThresholds, double softness, bool ownThreshold)
{
  const auto own = ownThreshold ? OtsuThresholds(reconstructions) : originalThresholds;
  return torch::mse_loss(SoftPhaseMap(reconstructions, own, softness),
                         SoftPhaseMap(originals, originalThresholds, softness));
}

torch::Tensor
SortedIntensityDistance(const torch::Tensor & a, const torch::Tensor & b)
{
  const auto n = a.size(0);
  const auto sa = std::get<0>(a.reshape({ n, -1 }).sort(1));
  const auto sb = std::get<0>(b.reshape({ n, -1 }).sort(1));
  return torch::mse_loss(sa, sb);
}

torch::Tensor
SoftInterfaceDensity(const torch::Tensor & images, const torch::Tensor & thresholds, double softness)
{
  const auto n = images.size(0);
  const auto p = SoftPhaseMap(images, thresholds, softness);
  const auto h = torch::diff(p, 1, -1).abs().reshape({ n, -1 }).mean(1);
  const auto v = torch::diff(p, 1, -2).abs().reshape({ n, -1 }).mean(1);
  return torch::stack({ h, v }, 1);
}

} // namespace vqvae
} // namespace itk
