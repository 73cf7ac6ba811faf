/*=========================================================================
 *
 *  ITKStochasticMicrostructure
 *
 *=========================================================================*/
#ifndef itkPixelCNNPriorModel_h
#define itkPixelCNNPriorModel_h

#include "itkNetworkModelBase.h"
#include "itkObjectFactory.h"

#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace itk
{

/** \class PixelCNNPriorModel
 * \brief The prior of Noguchi & Inoue, Phys. Rev. E 104, 025302 (2021): a
 * conditional gated PixelCNN (van den Oord et al., NeurIPS 2016) over the
 * index maps of a VQ-VAE (itk::VQVAEModel), given process parameters.
 *
 * It models p(map | condition) = prod over positions in raster order (row by
 * row, left to right) of p(index at (r, c) | all earlier indices, condition),
 * each a softmax over the K = CodebookSize codes.
 *
 * Architecture (Hyperparameters, defaults = the paper's network): an
 * embedding of the K indices in EmbeddingDimension (64) channels; NumberOfLayers
 * (15) gated layers, each with a vertical stack (a (p+1) x k convolution over
 * the rows above and the current row) and a horizontal stack (a 1 x (p+1)
 * convolution over the current row up to the current position) joined through
 * a 1x1 convolution of the vertical features shifted down one row (no blind
 * spot, no leak), gates tanh(a) * sigmoid(b); layer 1 has a FirstKernelSize
 * (7) kernel with mask A (the current position excluded) and no residual,
 * layers 2..L a KernelSize (3) kernel with mask B and a residual connection;
 * the head is ReLU, 1x1 convolution to OutputHiddenChannels (512), ReLU, 1x1
 * convolution to K logits. The network is fully convolutional: maps of any
 * size h x w may be scored or sampled (e.g. 64 x 64 for 512 x 512 images with
 * a model trained on 16 x 16 maps).
 *
 * Conditions: a schema (ConditionSpec list, set before Initialize) of named
 * process parameters, each either continuous (e.g. the log of the cooling
 * rate: standardised with the Mean and StdDev learned from the training
 * table; Minimum..Maximum is the range trained on) or categorical (e.g. the
 * cooling method: one-hot over Categories). The encoded vector enters every
 * gated layer as a bias (a per-layer linear map added before the gates of
 * both stacks). Conditions are given as Condition maps, name -> value text
 * (a number for a continuous parameter, a category name otherwise), either
 * one for all maps or one per map. A missing or unknown name, a value that is
 * not a number, NaN or infinite, an unknown category: itk::ExceptionObject. A
 * continuous value outside the trained Minimum..Maximum: a warning
 * (itkWarningMacro), the value is used (extrapolation).
 *
 * Buffers: index maps are int32, N x h x w, row-major (x fastest), each
 * index in 0..K-1 (otherwise itk::ExceptionObject).
 *
 * Sampling (Sample): indices drawn position by position; the randomness is
 * fixed up front: one uniform u[n][r][c] per position from the seed (a
 * std::mt19937_64 stream, map by map in raster order, independent of the
 * batch size), and the index is the first k whose cumulative
 * softmax(logits / temperature), computed in double, exceeds u. Two samplers
 * use the same rule: "incremental" (the default; Ramachandran et al. 2017:
 * per row, the vertical stack of the row above once for every layer; per
 * position, only the horizontal-stack column of every layer from cached
 * windows) and "naive" (the paper's loop: the whole network on the whole map
 * for every position, h w times slower). They return the same indices for
 * the same seed; the logits of the two agree to float rounding (~1e-6), so an
 * index could differ only where a uniform lies within that of a cumulative
 * probability. Maps are sampled InferenceBatchSize at a time on one thread
 * that calls LibTorch, whose intra-op threads follow
 * MultiThreaderBase::GetGlobalDefaultNumberOfThreads() (read at Initialize and
 * Read). The incremental sampler runs many small operations: on a machine
 * whose cores are busy with other processes, OpenMP threads that spin while
 * waiting slow it down many times; run with OMP_WAIT_POLICY=PASSIVE in the
 * environment, or with one thread (measured in bench/run_pixelcnn_bench.sh).
 *
 * Usage: SetHyperparameters, SetConditionSchema, SetSeed, SetDevice, then
 * Initialize() (weights from the seed: same seed -> same weights on CPU) or
 * Read(file).
 *
 * Model file (Write / Read): the text header "ITKSMPRIOR <version>" with
 * key = value lines (hyperparameters, the condition schema, the latent size
 * trained at, a free-text training summary), then the weights in LibTorch's
 * archive format, with their size and checksum in the header. Written
 * atomically. Read throws a clear itk::ExceptionObject for a file of another
 * kind (a VQ-VAE model, say), a newer format version, a truncated or damaged
 * file, for a file that carries a post-hoc calibration this class no
 * longer has (temperature, marginal offsets, per-map tilt or mean shifts,
 * written before session 22: retrain such a prior), and for a file whose
 * composition level lacks the composition budget (written before session 23:
 * retrain it).
 *
 * \ingroup StochasticMicrostructure
 */
class PixelCNNPriorModel : public NetworkModelBase
{
public:
  ITK_DISALLOW_COPY_AND_MOVE(PixelCNNPriorModel);

  using Self = PixelCNNPriorModel;
  using Superclass = NetworkModelBase;
  using Pointer = SmartPointer<Self>;
  using ConstPointer = SmartPointer<const Self>;

  itkNewMacro(Self);
  itkTypeMacro(PixelCNNPriorModel, NetworkModelBase);

  /** The file's first word, and the format version this build writes and reads. */
  static constexpr const char * FileMagic = "ITKSMPRIOR";
  static constexpr unsigned int FileFormatVersion = 1;

  struct Hyperparameters
  {
    unsigned int CodebookSize{ 512 };         ///< K, must equal the VQ-VAE's
    unsigned int EmbeddingDimension{ 64 };    ///< channels of the index embedding
    unsigned int HiddenChannels{ 64 };        ///< channels of both stacks
    unsigned int NumberOfLayers{ 15 };        ///< gated layers (the first with mask A)
    unsigned int FirstKernelSize{ 7 };        ///< odd, >= 3
    unsigned int KernelSize{ 3 };             ///< odd, >= 1
    unsigned int OutputHiddenChannels{ 512 }; ///< channels between the two 1x1 convolutions of the head

    /** Throws itk::ExceptionObject naming the first invalid value. */
    void
    Validate() const;
  };

  /** One process parameter, as the paper encodes it. Continuous: the network sees z = (value -
   * Mean) / StdDev, so each layer's bias (and the composition level's m(c) and log s(c)) is a straight
   * line in z; Minimum..Maximum is the range of the training table. Categorical: one-hot over
   * Categories (in this order). (Powers of z and exponential terms such as 1 / cooling rate were
   * measured by cross-validation and deleted in session 24: docs/cross_validation.md.) */
  struct ConditionSpec
  {
    std::string              Name;
    bool                     Categorical{ false };
    std::vector<std::string> Categories;
    double                   Mean{ 0.0 };
    double                   StdDev{ 1.0 };
    double                   Minimum{ 0.0 };
    double                   Maximum{ 0.0 };
  };
  using ConditionSchema = std::vector<ConditionSpec>;
  /** Values of the process parameters of one map: name -> value text. */
  using Condition = std::map<std::string, std::string>;

  /** Learns a continuous parameter from the training table's column (mean,
   * standard deviation (1 when all values are equal: one value is a constant the network can
   * ignore), minimum, maximum). Throws for an empty column or a NaN / infinite value. */
  static ConditionSpec
  LearnContinuousCondition(const std::string & name, const std::vector<double> & values);
  /** Learns a categorical parameter: its categories are the distinct values, sorted. */
  static ConditionSpec
  LearnCategoricalCondition(const std::string & name, const std::vector<std::string> & values);
  /** Either of the above from a text column: categorical when asked, else every
   * value must be a number (throws naming the first that is not). */
  static ConditionSpec
  LearnCondition(const std::string & name, const std::vector<std::string> & values, bool categorical);

  /** Losses of one training step (on the batch, before the update). */
  struct TrainingStepResult
  {
    double Loss{ 0 };         ///< mean cross-entropy per index, nats
    double BitsPerIndex{ 0 }; ///< the same in bits (Loss / ln 2)
  };

  void
  SetHyperparameters(const Hyperparameters & h);
  const Hyperparameters &
  GetHyperparameters() const
  {
    return m_Hyperparameters;
  }
  unsigned int
  GetCodebookSize() const
  {
    return m_Hyperparameters.CodebookSize;
  }
  /** Throws a clear itk::ExceptionObject unless K equals this prior's
   * CodebookSize (use with VQVAEModel::GetHyperparameters().CodebookSize: a
   * prior only fits the VQ-VAE whose index maps it was trained on). */
  void
  CheckCompatibleCodebookSize(unsigned int K) const;
  /** CheckCompatibleCodebookSize, and, when both are known, that the VQ-VAE's weights checksum
   * (VQVAEModel::GetWeightsFingerprint) is the one this prior was trained on (SetVQVAEFingerprint):
   * a prior on another VQ-VAE's index maps, even of the same codebook size, makes garbage. */
  void
  CheckCompatibleVQVAE(unsigned int K, const std::string & weightsFingerprint) const;
  /** The weights checksum of the VQ-VAE whose index maps the prior is trained on ("" = unknown, as in
   * files written before it was recorded). Stored in the model file. */
  itkSetStringMacro(VQVAEFingerprint);
  itkGetStringMacro(VQVAEFingerprint);

  /** The process parameters (validated: distinct non-empty names, categorical
   * ones with >= 1 distinct non-empty categories, StdDev > 0 and finite, Minimum
   * <= Maximum). The schema is part of the network: setting it discards an
   * existing network (call Initialize() again); Read() replaces it with the file's. */
  void
  SetConditionSchema(const ConditionSchema & schema);
  const ConditionSchema &
  GetConditionSchema() const
  {
    return m_ConditionSchema;
  }
  /** Length of the encoded condition vector: one per continuous parameter, the number of categories
   * per categorical one. */
  unsigned int
  GetEncodedConditionLength() const;
  /** The encoded condition vectors, N x GetEncodedConditionLength(), for n maps
   * (conditions: 1 for all, or n; an unconditional prior also takes none). Throws on a bad condition; warns once per
   * parameter for continuous values outside the trained range. */
  std::vector<float>
  EncodeConditions(const std::vector<Condition> & conditions, unsigned int n) const;

  /** Metadata stored in the model file: the index-map size trained at (set by TrainStep). */
  itkSetMacro(LatentHeight, unsigned int);
  itkGetConstMacro(LatentHeight, unsigned int);
  itkSetMacro(LatentWidth, unsigned int);
  itkGetConstMacro(LatentWidth, unsigned int);

  /** Build a new network from the hyperparameters and the condition schema, weights drawn from the seed. */
  void
  Initialize() override;
  bool
  IsInitialized() const override;

  /** One optimisation step (Adam, owned by the model) of the cross-entropy of
   * n maps (N x h x w) under their conditions (1 for all, or n). */
  TrainingStepResult
  TrainStep(const int32_t * indices, unsigned int n, unsigned int h, unsigned int w,
            const std::vector<Condition> & conditions);

  /** Exact log-likelihood of each map, sum over positions of log p (nats),
   * from one forward pass per batch. */
  std::vector<double>
  LogLikelihood(const int32_t * indices, unsigned int n, unsigned int h, unsigned int w,
                const std::vector<Condition> & conditions) const;

  /** The logits of the network (one forward pass), N x K x h x w: the logits at
   * (r, c) are those of p(index at (r, c) | earlier indices, condition). */
  std::vector<float>
  Logits(const int32_t * indices, unsigned int n, unsigned int h, unsigned int w,
         const std::vector<Condition> & conditions) const;

  /** Which value of a continuous parameter most likely produced a map: the
   * posterior over values (uniform prior on the grid), normalised to sum 1,
   * p(value | map) proportional to p(map | value, others). others holds the
   * other parameters (parameter itself, if there, is overridden). */
  std::vector<double>
  ConditionPosterior(const int32_t * indices, unsigned int h, unsigned int w, const Condition & others,
                     const std::string & parameter, const std::vector<double> & values) const;

  /** The composition level (not in the paper): a two-level hierarchy whose top level is a few numbers
   * per map, its compositions u_l = the mean over positions of per-code values v_kl, l = 1..L (for a
   * two-phase microstructure, as MicrostructureTrainPrior gives it: L = 1, the share of the code's
   * block of pixels in the measured phase, so that u_1 is about the map's phase fraction),
   * standardised over the training maps. The network sees u as L more inputs of every layer's bias,
   * beside the encoded condition: it models p(map | condition, u). The top level is p(u | condition)
   * = N(m(c), S(c) R S(c)), S = diag(s): each m_l and log s_l linear in the encoded condition c (the
   * features the network sees), fitted by least squares (ridge on the slopes) to the training maps'
   * per-condition means and log standard deviations, weighted by their numbers of maps; R the
   * within-condition correlation, pooled over the conditions. Sample draws u per map from the top
   * level (from an engine of its own), then the map given it; LogLikelihood is log p(u(x) | c) + log
   * p(x | c, u(x)): u is a function of the map, so this is the joint density of the map and its
   * compositions. Why: the network alone sees 10-25 positions back, and its maps vary less in
   * composition from one to the next than the real patches (docs/cross_validation.md, session 21);
   * the top level carries that variation.
   *
   * The level carries the composition budget (not in the paper): every layer of the network also
   * sees, at each position, the composition left to place: what the positions from there on must
   * average for the map to end at its u, against u (see itkPixelCNNNetwork.h). Why: given u, a
   * network that sees 10-25 positions back cannot count what it has placed, and without the budget
   * its maps' own compositions strayed from u (docs/cross_validation.md, sessions 21 and 22); the
   * budget is the one global summary of the earlier positions it needs, and it stays autoregressive
   * (a function of the positions before).
   *
   * SetCompositionLevel: codeValues (K x count, row-major: a code's count values together, finite),
   * the training maps (n x h x w) and their conditions (1 or n; at least 2 maps of differing
   * compositions per distinct condition). Call after SetConditionSchema and before Initialize: it
   * changes the network's input, so an existing network is discarded. count 0 (and no values)
   * removes the level (the paper's prior). Throws for a wrong size, count > 8, a value that is not
   * finite, a composition that does not vary, compositions perfectly correlated, or conditions that
   * do not determine the slopes (give a ridge > 0). Stored in the model file. */
  void
  SetCompositionLevel(const std::vector<float> & codeValues, unsigned int count, const int32_t * indices,
                      unsigned int n, unsigned int h, unsigned int w, const std::vector<Condition> & conditions,
                      double ridge = 1e-3);
  bool
  HasCompositionLevel() const;
  /** L, the values per map of the composition level (0 without it). */
  unsigned int
  GetCompositionCount() const;
  /** The per-code values v_kl, K x L (empty without the composition level). */
  const std::vector<float> &
  GetCompositionCodeValues() const;
  /** The standardised compositions (u_l - mean_l) / sd_l of each of n maps (h x w), n x L. Throws
   * without the level. */
  std::vector<double>
  Compositions(const int32_t * indices, unsigned int n, unsigned int h, unsigned int w) const;
  /** The top level at a condition, in standardised units: means m_l(c), standard deviations s_l(c),
   * and the correlation R (L x L). */
  struct CompositionDistribution
  {
    std::vector<double> Mean, StdDev, Correlation;
  };
  /** Throws without the level. */
  CompositionDistribution
  GetCompositionPrior(const Condition & condition) const;

  /** "incremental" (default) or "naive": see the class description. */
  void
  SetSampler(const std::string & sampler);
  itkGetStringMacro(Sampler);

  /** With the composition level, how many maps Sample draws for each map it returns (1..64; default 1,
   * not in the paper): all given the same drawn compositions u, each from its own uniforms, and the
   * one whose own compositions u(x) lie nearest u (Euclidean, standardised units; the first on a
   * tie) is kept. Why: the level's likelihood is log p(u(x) | c) + log p(x | c, u(x)), the density of
   * maps whose compositions are u, but the network given u draws maps whose u(x) stray from u (the
   * budget keeps them near u, not at it), so that without a check the sampled maps' compositions
   * can drift from the top level the level was fitted to. The nearest of C candidates
   * approaches the sampler of maps with u(x) = u as C grows, at C times the cost. Without the level it
   * has no effect. Values outside 1..64 throw. */
  void
  SetCompositionCandidates(unsigned int candidates);
  itkGetConstMacro(CompositionCandidates, unsigned int);

  /** n maps of h x w indices drawn under conditions (1 for all, or n) at the
   * given temperature (> 0; 1 = the model's distribution) from the seed. Any
   * h, w >= 1. progress, when given, receives the fraction done (0..1]. */
  std::vector<int32_t>
  Sample(unsigned int n, unsigned int h, unsigned int w, const std::vector<Condition> & conditions, double temperature,
         uint64_t seed, const std::function<void(double)> & progress = {}) const;

  /** Write the model file atomically (see the class description). */
  void
  Write(const std::string & path) const override;
  /** Write a checkpoint: the model file plus Adam's state and TrainerState,
   * so that training goes on exactly as if never stopped. A checkpoint is
   * also a valid model file. */
  void
  WriteCheckpoint(const std::string & path) const override;
  /** Read a model file; replaces hyperparameters, schema, metadata and weights. */
  void
  Read(const std::string & path) override;

protected:
  PixelCNNPriorModel();
  ~PixelCNNPriorModel() override;
  void
  PrintSelf(std::ostream & os, Indent indent) const override;
  void
  MoveNetworkToDevice() override;

private:
  void
  CheckIndices(const int32_t * indices, unsigned int n, unsigned int h, unsigned int w) const;
  /** Throws unless each of the total indices lies in 0..CodebookSize-1 (no network needed). */
  void
  CheckIndexRange(const int32_t * indices, size_t total) const;
  void
  WriteFile(const std::string & path, bool checkpoint) const;

  struct Impl; // the network, Adam, the device, the composition level
  std::unique_ptr<Impl> m_Impl;

  Hyperparameters m_Hyperparameters;
  ConditionSchema m_ConditionSchema;
  std::string     m_Sampler{ "incremental" };
  unsigned int    m_CompositionCandidates{ 1 };
  unsigned int    m_LatentHeight{ 0 };
  unsigned int    m_LatentWidth{ 0 };
  std::string     m_VQVAEFingerprint;
};

} // end namespace itk

#endif
