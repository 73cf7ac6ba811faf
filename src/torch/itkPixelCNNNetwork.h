/*=========================================================================
 * Private to the StochasticMicrostructureTorch library: the conditional
 * gated PixelCNN prior of Noguchi & Inoue, Phys. Rev. E 104, 025302 (2021),
 * over VQ-VAE index maps, after van den Oord et al., "Conditional Image
 * Generation with PixelCNN Decoders" (NeurIPS 2016). No ITK types here;
 * itk::PixelCNNPriorModel (include/itkPixelCNNPriorModel.h) is the public face.
 *
 * Raster order: position (r, c) comes after every position of rows < r and
 * after (r, c') for c' < c. The network's logits at (r, c) depend only on
 * the indices at earlier positions (and on the condition vector).
 *
 * One gated layer l (k = kernel size, p = k / 2), inputs v
 * (vertical stack) and h (horizontal stack), condition bias b_l = Linear_l(condition):
 *
 *   V      = conv_{(p+1) x k}(v)            rows r-p..r, columns c-p..c+p
 *   v'     = tanh(V_a + b_a) * sigmoid(V_b + b_b)         (vertical output)
 *   H      = conv_{1 x (p+1)}(h)            columns c-p..c (layer 1, mask A: c-p..c-1)
 *   G      = H + conv_1x1(down(V)) + b_l    down(V)(r) = V(r-1), zero at r = 0
 *   h'     = conv_1x1(tanh(G_a) * sigmoid(G_b)) (+ h for layers > 1, mask B, residual)
 *
 * The down-shift keeps the vertical stack (which sees the whole current row)
 * from leaking into the horizontal stack: no blind spot, no leak. The head is
 * ReLU, 1x1 conv to OutputHidden channels, ReLU, 1x1 conv to K logits.
 *
 * The composition budget (budgetCount L > 0; not in the paper): the last L
 * columns of the condition vector are the map's standardised compositions u
 * (the composition level of itk::PixelCNNPriorModel), and every layer's G also
 * gets Linear_l(s(r, c)), s the composition left to place before (r, c) in
 * raster order (BudgetFeatures). s depends only on earlier positions, so the
 * network stays autoregressive; it is a global summary of them that the
 * convolutions' receptive field cannot see, so maps end at their drawn u.
 *=========================================================================*/
#ifndef itkPixelCNNNetwork_h
#define itkPixelCNNNetwork_h

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <vector>

namespace itk
{
namespace pixelcnn
{

/** Architecture (a copy of itk::PixelCNNPriorModel::Hyperparameters without ITK). */
struct NetworkOptions
{
  int64_t codebookSize{ 512 }; ///< K
  int64_t embeddingDimension{ 64 };
  int64_t hiddenChannels{ 64 };
  int64_t layers{ 15 };
  int64_t firstKernelSize{ 7 }; ///< layer 1, mask A, no residual
  int64_t kernelSize{ 3 };      ///< layers 2..L, mask B, residual
  int64_t outputHiddenChannels{ 512 };
  int64_t conditionDimension{ 0 }; ///< length of the encoded condition vector (0: unconditional)
  int64_t budgetCount{ 0 };        ///< L > 0: the composition budget over the conditions' last L columns
};

/** One gated layer with vertical and horizontal stacks (see the file comment). */
struct GatedLayerImpl : torch::nn::Module
{
  GatedLayerImpl(int64_t inChannels, int64_t channels, int64_t kernelSize, bool first, int64_t conditionDimension,
                 int64_t budgetDimension = 0);

  /** v, h: N x C_in x H x W; bias: N x 2C (or undefined); budgetBias: the horizontal stack's
   * per-position bias N x 2C x H x W (or undefined) -> {v', h'}. */
  std::pair<torch::Tensor, torch::Tensor>
  forward(const torch::Tensor & v, const torch::Tensor & h, const torch::Tensor & bias,
          const torch::Tensor & budgetBias = {});

  /** The horizontal kernel with the mask applied (mask A zeroes column c in layer 1). */
  torch::Tensor
  MaskedHorizontalWeight() const;

  int64_t           channels, pad;
  bool              first;
  torch::nn::Conv2d vertical{ nullptr }, horizontal{ nullptr }, verticalToHorizontal{ nullptr },
    horizontalOut{ nullptr };
  torch::nn::Linear condition{ nullptr }, budget{ nullptr };
  torch::Tensor     horizontalMask;
};
TORCH_MODULE(GatedLayer);

/** Embedding, L gated layers, output head. */
struct NetworkImpl : torch::nn::Module
{
  explicit NetworkImpl(const NetworkOptions & options);

  /** Per-layer condition biases: conditions N x D -> L tensors N x 2C (undefined when D = 0). */
  std::vector<torch::Tensor>
  ConditionBiases(const torch::Tensor & conditions);

  /** The full network: indices N x H x W (int64) and conditions N x D (float) -> logits N x K x H x W. */
  torch::Tensor
  forward(const torch::Tensor & indices, const torch::Tensor & conditions);

  /** Logits of the head for horizontal-stack features N x C x H x W (or N x C). */
  torch::Tensor
  Head(const torch::Tensor & h);

  /** The composition budget's per-code values (K x L), and the mean and sd (L) that standardise a
   * map's average of them into u; needed before forward when budgetCount > 0. */
  void
  SetBudget(const std::vector<double> & codeValues, const std::vector<double> & mean,
            const std::vector<double> & stdDev);

  /** The composition left to place, per position. sums: the code values summed over the positions
   * before each position (N x P' x L, double), positions: their raster indices (P', int64), u: the maps'
   * standardised compositions (N x L). With U = the map's average code value that u stands for and
   * need = (P U - sums) / (P - i), what the remaining positions must average: d = (need - U) / sd
   * (clamped to +-8) and t = i / P, as [d, d t, t], N x P' x (2L + 1), float. */
  torch::Tensor
  BudgetFeatures(const torch::Tensor & sums, const torch::Tensor & positions, const torch::Tensor & u,
                 int64_t totalPositions) const;

  /** The code values of indices N x ... -> N x ... x L (double). */
  torch::Tensor
  BudgetValues(const torch::Tensor & indices) const;

  NetworkOptions          options;
  torch::nn::Embedding    embedding{ nullptr };
  torch::nn::ModuleList   layerList;
  std::vector<GatedLayer> layers;
  torch::nn::Conv2d       head1{ nullptr }, head2{ nullptr };
  torch::Tensor           budgetValues, budgetMean, budgetStdDev; ///< double, CPU (SetBudget)
};
TORCH_MODULE(Network);

/** Chooses an index from float logits (K of them) and a uniform u in [0, 1):
 * the first k whose cumulative softmax(logits / temperature), computed in
 * double, exceeds u. The one rule both samplers use. */
int64_t
InverseCDF(const float * logits, int64_t K, double temperature, double u);

/** Draws the indices of out (N x H x W int64, on the CPU) one position at a
 * time in raster order with a full forward pass of the network per position
 * (the paper's sampler). uniforms: N x H x W, in the same order. */
void
SampleNaive(Network & network, torch::Tensor & out, const torch::Tensor & conditions, const double * uniforms,
            double temperature, const torch::Device & device, const std::function<void(double)> & progress);

/** The same samples, computed incrementally (Ramachandran et al. 2017): per
 * row, the vertical stack of the previous row once for every layer; per
 * position, only the horizontal-stack column of every layer from cached
 * windows. Same uniforms, same InverseCDF: the same indices as SampleNaive
 * (up to float rounding of the logits in a different summation order, which
 * decides an index only when a uniform lies within ~1e-6 of a cumulative
 * probability). */
void
SampleIncremental(Network & network, torch::Tensor & out, const torch::Tensor & conditions, const double * uniforms,
                  double temperature, const torch::Device & device, const std::function<void(double)> & progress);

/** Maps first..first+count-1 of a buffer of int32 index maps (h x w each, row-major) as the
 * network's input: count x h x w, int64, on the device. */
torch::Tensor
IndexMapsInput(const int32_t * indices, unsigned int first, unsigned int count, unsigned int h, unsigned int w,
               const torch::Device & device);

/** The condition input of maps first..first+count-1 (count x (D + L) float, on the device): their
 * encoded conditions (encoded: n x D) followed, for L > 0, by their L standardised compositions
 * (composition: n x L), the columns the composition budget reads (NetworkOptions::budgetCount);
 * undefined when D + L is 0. */
torch::Tensor
ConditionInput(const std::vector<float> & encoded, unsigned int first, unsigned int count, unsigned int D,
               const torch::Device & device, const std::vector<double> & composition, unsigned int L);

} // namespace pixelcnn
} // namespace itk

#endif
