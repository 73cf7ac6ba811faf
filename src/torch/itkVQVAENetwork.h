/*=========================================================================
 * Private to the StochasticMicrostructureTorch library: the VQ-VAE of
 * Noguchi & Inoue, Phys. Rev. E 104, 025302 (2021), section II, as LibTorch
 * modules. No ITK types here; itk::VQVAEModel (include/itkVQVAEModel.h) is
 * the public face.
 *=========================================================================*/
#ifndef itkVQVAENetwork_h
#define itkVQVAENetwork_h

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

namespace itk
{
namespace vqvae
{

/** Architecture of the network (a copy of itk::VQVAEModel::Hyperparameters
 * without ITK). EncoderChannels has one entry per stride-2 downsampling. */
struct NetworkOptions
{
  int64_t              inputChannels{ 1 };
  std::vector<int64_t> encoderChannels{ 32, 64, 128 };
  int64_t              residualBlocks{ 2 };
  int64_t              codebookSize{ 512 };
  int64_t              codeDimension{ 128 };
  double               commitmentCost{ 1.0 };
  bool                 ema{ false };
  double               emaDecay{ 0.99 };
  double               deadCodeThreshold{ 1.0 };
};

/** torch::nn::BatchNorm2d (momentum 0.1, eps 1e-5, affine, running statistics) whose training
 * statistics are those of the whole batch of a data-parallel job (itk::DataParallel): each
 * process's per-channel sums and sums of squares are added up over the processes (differentiably,
 * so the backward pass is the whole batch's too), as PyTorch's SyncBatchNorm. Outside a job, and
 * in evaluation, it computes what BatchNorm2d does (the same at::batch_norm call). Its parameters
 * and buffers are BatchNorm2d's, under the same names and in the same order: model files do not
 * change. (Not derived from BatchNorm2dImpl: Debian's LibTorch does not export the base
 * template's members a derived class needs.) */
struct SyncBatchNorm2dImpl : torch::nn::Module
{
  explicit SyncBatchNorm2dImpl(int64_t channels);
  torch::Tensor
  forward(const torch::Tensor & x);

  static constexpr double Momentum = 0.1, Epsilon = 1e-5;
  torch::Tensor           weight, bias, running_mean, running_var, num_batches_tracked;
};
TORCH_MODULE(SyncBatchNorm2d);

/** x + BN(conv1x1(ReLU(BN(conv3x3(ReLU(x)))))): the residual block of the
 * VQ-VAE (van den Oord et al. 2017), with batch normalisation. */
struct ResidualBlockImpl : torch::nn::Module
{
  explicit ResidualBlockImpl(int64_t channels);
  torch::Tensor
  forward(const torch::Tensor & x);

  torch::nn::Conv2d conv1{ nullptr }, conv2{ nullptr };
  SyncBatchNorm2d   bn1{ nullptr }, bn2{ nullptr };
};
TORCH_MODULE(ResidualBlock);

/** ConvTranspose2d(inChannels, outChannels, kernel 4, stride 2, padding 1),
 * the decoder's upsampling step, computed on the fast convolution kernels.
 *
 * Parameters are those of torch::nn::ConvTranspose2d, with the same names and
 * shapes: "weight" (inChannels x outChannels x 4 x 4) and "bias" (outChannels,
 * or undefined without bias), so model files written with ConvTranspose2d load
 * unchanged.
 *
 * Why: LibTorch 1.13 on the CPU runs a transposed convolution through
 * slow_conv_transpose2d (im2col + GEMM, never oneDNN), whose backward pass
 * with 2 threads took ~75% of a training step. Output pixel (2m + a, 2n + b)
 * of this transposed convolution (phase (a, b)) is a 2x2 convolution of input
 * pixels m - 1 + a .. m + a, n - 1 + b .. n + b with 4 of the 16 kernel taps.
 * So the layer is one 2x2, stride-1, padding-1 convolution (oneDNN) to
 * 4 x outChannels channels (channel 4 o + 2 a + b: phase (a, b) of output
 * channel o; output (H+1) x (W+1)), whose weight is gathered from "weight" on
 * every forward (index_select, differentiable, so gradients flow to the same
 * parameter), then the phases are interleaved into the 2H x 2W output (one
 * strided copy; its backward scatters the gradient back). The same products
 * and sums as ConvTranspose2d (no zero taps), up to float rounding order
 * (tested to 1e-5 in float, 1e-9 in double, forward and gradients). */
struct TransposedConvolution2xImpl : torch::nn::Module
{
  TransposedConvolution2xImpl(int64_t inChannels, int64_t outChannels, bool withBias);

  /** N x inChannels x H x W -> N x outChannels x 2H x 2W. */
  torch::Tensor
  forward(const torch::Tensor & x);

  /** The 2x2 weight, 4 outChannels x inChannels x 2 x 2, gathered from `weight`. */
  torch::Tensor
  ConvolutionWeight() const;

  int64_t       inChannels;
  int64_t       outChannels;
  torch::Tensor weight;
  torch::Tensor bias;
};
TORCH_MODULE(TransposedConvolution2x);

/** What the quantizer returns for one batch. */
struct QuantizerOutput
{
  torch::Tensor quantized;      ///< N x D x h x w, straight-through (gradient flows to the encoder)
  torch::Tensor indices;        ///< N x h x w, int64, nearest codebook vector
  torch::Tensor codebookLoss;   ///< || sg[z] - e ||^2 (zero in EMA mode: the codebook follows the EMA)
  torch::Tensor commitmentLoss; ///< beta || z - sg[e] ||^2
  double        perplexity{ 0.0 };
  int64_t       codesInUse{ 0 };
};

/** The codebook: K vectors of dimension D. In "loss" mode the codebook is a
 * trained parameter (codebook loss of the paper); in "ema" mode it is an
 * exponential moving average of the encoder outputs assigned to each code,
 * and codes whose EMA count falls below the dead-code threshold are restarted
 * from random encoder outputs of the batch. */
struct VectorQuantizerImpl : torch::nn::Module
{
  explicit VectorQuantizerImpl(const NetworkOptions & options);

  /** Index of the nearest codebook vector (squared Euclidean distance) for
   * each D-vector of z (N x D x h x w) -> N x h x w int64. */
  torch::Tensor
  NearestCodes(const torch::Tensor & z) const;

  QuantizerOutput
  forward(const torch::Tensor & z, torch::Generator * generator);

  /** Codebook vectors for indices (N x h x w) -> N x D x h x w, channels-last strided. */
  torch::Tensor
  Lookup(const torch::Tensor & indices) const;

  NetworkOptions options;
  torch::Tensor  codebook; // K x D
  torch::Tensor  emaCount; // K
  torch::Tensor  emaSum;   // K x D
};
TORCH_MODULE(VectorQuantizer);

/** Encoder, vector quantizer, decoder. */
struct NetworkImpl : torch::nn::Module
{
  explicit NetworkImpl(const NetworkOptions & options);

  /** Images N x C x H x W in [-1, 1] -> encoder outputs z_e, N x D x H/2^d x W/2^d.
   * Encode and Decode work in the channels-last memory format (oneDNN's fast layout): their
   * results are channels-last strided; call .contiguous() before reading raw memory. */
  torch::Tensor
  Encode(const torch::Tensor & x);
  /** Quantized latents N x D x h x w -> images N x C x h 2^d x w 2^d in [-1, 1] (tanh). */
  torch::Tensor
  Decode(const torch::Tensor & zq);

  NetworkOptions        options;
  torch::nn::Sequential encoder{ nullptr };
  VectorQuantizer       quantizer{ nullptr };
  torch::nn::Sequential decoder{ nullptr };
};
TORCH_MODULE(Network);

/** Otsu's threshold of each image of a batch N x C x H x W (all channels of an image together):
 * a histogram of `bins` bins between the image's minimum and maximum, the bin that maximises the
 * between-class variance, and its upper edge (pixels <= threshold are the dark class), as ITK's
 * OtsuThresholdCalculator does. No gradient. Returns N thresholds in the images' units. */
torch::Tensor
OtsuThresholds(const torch::Tensor & images, int64_t bins = 256);

/** The phase-map term of the VQ-VAE's loss: the mean squared difference of the soft phase maps
 * sigmoid((r - t_r) / s) and sigmoid((x - t) / s) of reconstructions r and originals x (N x C x H x W),
 * t = originalThresholds (N values, the originals' Otsu thresholds), s the softness; t_r = t, or with
 * ownThreshold the reconstructions' own Otsu thresholds (OtsuThresholds(r)), as the measurement
 * binarizes a decoded image. Differentiable with respect to r (the thresholds carry no gradient). */
torch::Tensor
SoftPhaseMapDistance(const torch::Tensor & reconstructions, const torch::Tensor & originals,
                     const torch::Tensor & originalThresholds, double softness, bool ownThreshold);

/** Squared 1-D Wasserstein-2 distance between the intensity distributions of corresponding images
 * of two batches N x C x H x W (all channels of an image together), averaged over the batch: the
 * mean squared difference of their sorted pixel values. 0 for a permutation of the pixels;
 * differentiable with respect to both (through the sort's gather). */
torch::Tensor
SortedIntensityDistance(const torch::Tensor & a, const torch::Tensor & b);

/** Interface density of the soft phase maps p = sigmoid((x - t) / s) of a batch N x C x H x W,
 * t one threshold per image (N values), s the softness: per image, the mean of |p(i, j+1) - p(i, j)|
 * over all horizontal neighbour pairs and of |p(i+1, j) - p(i, j)| over all vertical ones. For a
 * binary map these are the phase changes per pixel step along rows and along columns, i.e. twice the
 * intercept density N_L of the mean free path. Returns N x 2 (horizontal, vertical); differentiable
 * with respect to the images. */
torch::Tensor
SoftInterfaceDensity(const torch::Tensor & images, const torch::Tensor & thresholds, double softness);

} // namespace vqvae
} // namespace itk

#endif
