/*=========================================================================
 * The VQ-VAE network (private): see itkVQVAENetwork.h.
 *=========================================================================*/
#include "itkVQVAENetwork.h"

namespace itk
{
namespace vqvae
{
namespace nn = torch::nn;

ResidualBlockImpl::ResidualBlockImpl(int64_t channels)
{
  conv1 = register_module("conv1", nn::Conv2d(nn::Conv2dOptions(channels, channels, 3).padding(1).bias(false)));
  bn1 = register_module("bn1", nn::BatchNorm2d(channels));
  conv2 = register_module("conv2", nn::Conv2d(nn::Conv2dOptions(channels, channels, 1).bias(false)));
  bn2 = register_module("bn2", nn::BatchNorm2d(channels));
}

torch::Tensor
ResidualBlockImpl::forward(const torch::Tensor & x)
{
  auto h = torch::relu(bn1(conv1(torch::relu(x))));
  return x + bn2(conv2(h));
}


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
  // ConvTranspose2d (stride 2, padding 1): output row Y = 2 iy - 1 + ky. Output row 2m + a
  // reads input row m + d (d = -1, 0, 1; 3x3 row r = d + 1) through kernel row
  // ky = a + 1 - 2d: a = 0 -> r = 0, 1, 2 use ky = 3, 1, none; a = 1 -> none, 2, 0.
  // "none" picks row 4 of the weight padded with zeros. Columns likewise.
  const auto index = torch::tensor({ 3, 1, 4, 4, 2, 0 }, torch::TensorOptions().dtype(torch::kLong).device(weight.device()));
  auto padded = torch::constant_pad_nd(weight, { 0, 1, 0, 1 }, 0.0); // Ci x Co x 5 x 5, row/col 4 zero
  auto taps = padded.index_select(2, index).index_select(3, index);  // Ci x Co x (a r) x (b s)
  return taps.view({ inChannels, outChannels, 2, 3, 2, 3 })
    .permute({ 1, 2, 4, 0, 3, 5 }) // Co x a x b x Ci x r x s
    .reshape({ 4 * outChannels, inChannels, 3, 3 });
}

torch::Tensor
TransposedConvolution2xImpl::forward(const torch::Tensor & x)
{
  const auto b = bias.defined() ? bias.repeat_interleave(4) : torch::Tensor();
  return torch::pixel_shuffle(torch::conv2d(x, ConvolutionWeight(), b, /*stride=*/1, /*padding=*/1), 2);
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
  // ||z - e||^2 = ||z||^2 - 2 z.e + ||e||^2
  auto distances = flat.pow(2).sum(1, true) - 2.0 * torch::matmul(flat, codebook.t()) + codebook.pow(2).sum(1).unsqueeze(0);
  return distances.argmin(1).reshape({ z.size(0), z.size(2), z.size(3) });
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
  const auto flatIndices = indices.reshape({ -1 });

  if (options.ema && is_training())
  {
    torch::NoGradGuard noGrad;
    const double       decay = options.emaDecay;
    auto               flat = z.detach().permute({ 0, 2, 3, 1 }).reshape({ -1, D });
    auto oneHot = torch::zeros({ flat.size(0), K }, flat.options()).scatter_(1, flatIndices.unsqueeze(1), 1.0);
    emaCount.mul_(decay).add_(oneHot.sum(0), 1.0 - decay);
    emaSum.mul_(decay).add_(torch::matmul(oneHot.t(), flat), 1.0 - decay);
    // Dead codes (EMA count below threshold) restart from random encoder outputs of this batch.
    auto dead = emaCount < options.deadCodeThreshold;
    auto deadIdx = dead.nonzero().reshape({ -1 });
    if (deadIdx.numel() > 0)
    {
      auto pick = generator ? torch::randint(flat.size(0), { deadIdx.size(0) }, *generator, torch::TensorOptions().dtype(torch::kLong))
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
    auto counts = torch::bincount(flatIndices.cpu(), {}, K).to(torch::kDouble);
    auto p = counts / std::max<int64_t>(flatIndices.numel(), 1);
    out.perplexity = torch::exp(-(p * torch::log(p + 1e-10)).sum()).item<double>();
    out.codesInUse = (counts > 0).sum().item<int64_t>();
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
    enc->push_back(nn::BatchNorm2d(c));
    enc->push_back(nn::ReLU());
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
    dec->push_back(nn::BatchNorm2d(ch[i - 1]));
    dec->push_back(nn::ReLU());
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

} // namespace vqvae
} // namespace itk
