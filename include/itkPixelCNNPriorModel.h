/*=========================================================================
 *
 *  ITKStochasticMicrostructure
 *
 *=========================================================================*/
#ifndef itkPixelCNNPriorModel_h
#define itkPixelCNNPriorModel_h

#include "itkObject.h"
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
 * convolution to K logits. Optional Dilations of layers 2..L (not in the
 * paper) widen the receptive field at the same cost. The network is fully convolutional: maps of any
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
 * file, and for a file with a non-empty temperature_calibration line (a
 * calibration this class no longer has, whose offsets were fitted with it:
 * recalibrate such a prior).
 *
 * \ingroup StochasticMicrostructure
 */
class PixelCNNPriorModel : public Object
{
public:
  ITK_DISALLOW_COPY_AND_MOVE(PixelCNNPriorModel);

  using Self = PixelCNNPriorModel;
  using Superclass = Object;
  using Pointer = SmartPointer<Self>;
  using ConstPointer = SmartPointer<const Self>;

  itkNewMacro(Self);
  itkTypeMacro(PixelCNNPriorModel, Object);

  /** The file's first word, and the format version this build writes and reads. */
  static constexpr const char * FileMagic = "ITKSMPRIOR";
  static constexpr unsigned int FileFormatVersion = 1;
  /** The highest ConditionSpec::Degree. */
  static constexpr unsigned int MaximumConditionDegree = 3;

  struct Hyperparameters
  {
    unsigned int CodebookSize{ 512 };         ///< K, must equal the VQ-VAE's
    unsigned int EmbeddingDimension{ 64 };    ///< channels of the index embedding
    unsigned int HiddenChannels{ 64 };        ///< channels of both stacks
    unsigned int NumberOfLayers{ 15 };        ///< gated layers (the first with mask A)
    unsigned int FirstKernelSize{ 7 };        ///< odd, >= 3
    unsigned int KernelSize{ 3 };             ///< odd, >= 1
    unsigned int OutputHiddenChannels{ 512 }; ///< channels between the two 1x1 convolutions of the head
    /** Dilations of layers 2..L, cycled (layer l >= 2 has Dilations[(l - 2) % size]); each 1..64.
     * Empty (default, the paper): all 1. A dilation d spreads a layer's kernel over every d-th row
     * and column: with {1, 2, 4, 8} the receptive field of 8 layers grows from 10 to 25 positions
     * up and left at the same cost. */
    std::vector<unsigned int> Dilations;

    /** Throws itk::ExceptionObject naming the first invalid value. */
    void
    Validate() const;
  };

  /** One process parameter. Continuous: the network sees z = (value - Mean) / StdDev, or with
   * Degree d > 1 the powers z, z^2, .., z^d (not in the paper); Minimum..Maximum is the range of
   * the training table. Categorical: one-hot over Categories (in this order).
   *
   * Degree (1..3; 1 = the paper): every use of the encoded condition is linear in it (each
   * layer's bias, the calibrations' offsets and log s(c)), so with Degree 1 all of them
   * are straight lines in z, and with three training values of one parameter a line fitted to
   * the calibration's three targets misses them (its residual is the calibration's error at the
   * training conditions) and interpolates linearly between them. Degree 2 lets them bend: through
   * three training values exactly, and an unseen value between them gets the parabola's value.
   * Degree 2 or 3 needs at least Degree + 1 distinct training values (LearnContinuousCondition).
   *
   * ExponentialTerms (not in the paper): after the powers, terms (exp(a x) - mean) / sd of the
   * parameter's value x, one per rate a, standardised over the training table. For an ln_ parameter
   * (x = ln v) exp(a x) = v^a: ln_cooling_rate with a = -1 enters as ln(rate) and 1 / rate, so the
   * biases and calibrations follow d0 + b ln(rate) + c / rate, the shape of a grain size that
   * coarsens steeply at slow cooling and levels off at fast; a = -0.5 gives the Hall-Petch-like
   * rate^-1/2. Each term, like each power, needs one more distinct training value. A term with
   * Network off enters the calibrations only (the marginal offsets, log s(c) and the mean
   * calibration's shifts): the network's input for it is 0, so the network conditions as without it
   * and only the calibrations' corrections follow the curve. */
  struct ExponentialTerm
  {
    double Rate{ -1.0 };  ///< a, finite and non-zero
    double Mean{ 0.0 };   ///< mean of exp(a x) over the training table
    double StdDev{ 1.0 }; ///< its standard deviation, finite and > 0
    bool   Network{ true }; ///< false: the calibrations see the term, the network does not
  };
  struct ConditionSpec
  {
    std::string              Name;
    bool                     Categorical{ false };
    std::vector<std::string> Categories;
    double                   Mean{ 0.0 };
    double                   StdDev{ 1.0 };
    double                   Minimum{ 0.0 };
    double                   Maximum{ 0.0 };
    unsigned int                 Degree{ 1 };
    std::vector<ExponentialTerm> ExponentialTerms;
  };
  using ConditionSchema = std::vector<ConditionSpec>;
  /** Values of the process parameters of one map: name -> value text. */
  using Condition = std::map<std::string, std::string>;

  /** Learns a continuous parameter from the training table's column (mean,
   * standard deviation (1 when all values are equal), minimum, maximum), encoded
   * with the given Degree and an ExponentialTerm per rate in exponentialRates. Throws for an
   * empty column, a NaN / infinite value, a degree outside 1..3, a rate that is zero, not finite
   * or given twice, exp(a x) overflowing at a training value, or fewer than
   * degree + rates + 1 distinct values (a parabola through two training values is not
   * determined by them; degree 1 alone takes a single value, as a constant). */
  static ConditionSpec
  LearnContinuousCondition(const std::string & name, const std::vector<double> & values, unsigned int degree = 1,
                           const std::vector<double> & exponentialRates = {}, bool exponentialsInNetwork = true);
  /** Learns a categorical parameter: its categories are the distinct values, sorted. */
  static ConditionSpec
  LearnCategoricalCondition(const std::string & name, const std::vector<std::string> & values);
  /** Either of the above from a text column: categorical when asked, else every
   * value must be a number (throws naming the first that is not). */
  static ConditionSpec
  LearnCondition(const std::string & name, const std::vector<std::string> & values, bool categorical,
                 unsigned int degree = 1, const std::vector<double> & exponentialRates = {},
                 bool exponentialsInNetwork = true);

  /** Losses of one training step (on the batch, before the update). */
  struct TrainingStepResult
  {
    double Loss{ 0 };          ///< mean cross-entropy per index, nats
    double BitsPerIndex{ 0 };  ///< the same in bits (Loss / ln 2)
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
   * <= Maximum, Degree 1..3, exponential terms with distinct finite non-zero rates and a finite
   * mean and sd > 0). The schema is part of the network: setting it discards an
   * existing network (call Initialize() again); Read() replaces it with the file's. */
  void
  SetConditionSchema(const ConditionSchema & schema);
  const ConditionSchema &
  GetConditionSchema() const
  {
    return m_ConditionSchema;
  }
  /** Length of the encoded condition vector: Degree + exponential terms per continuous parameter, the
   * number of categories per categorical one. */
  unsigned int
  GetEncodedConditionLength() const;
  /** The encoded condition vectors, N x GetEncodedConditionLength(), for n maps
   * (conditions: 1 for all, or n; an unconditional prior also takes none). Throws on a bad condition; warns once per
   * parameter for continuous values outside the trained range. */
  std::vector<float>
  EncodeConditions(const std::vector<Condition> & conditions, unsigned int n) const;

  /** Seed of the weight initialisation (Initialize). */
  itkSetMacro(Seed, uint64_t);
  itkGetConstMacro(Seed, uint64_t);

  /** "auto" (CUDA when LibTorch has it), "cpu" or "cuda:N". An unavailable
   * CUDA device falls back to the CPU with a warning; a malformed string throws. */
  void
  SetDevice(const std::string & device);
  itkGetStringMacro(Device);
  /** The device the network is on: "cpu" or "cuda:N". */
  std::string
  GetDeviceInUse() const;

  /** Arithmetic of TrainStep's convolutions, as VQVAEModel::SetPrecision: "float32" (default),
   * "bfloat16" (mixed precision through LibTorch's autocast; the loss, weights and Adam in
   * float32) or "auto" (bfloat16 on CPUs with AVX512-BF16). Sampling and likelihoods always run in
   * float32. An unknown name throws. */
  void
  SetPrecision(const std::string & precision);
  itkGetStringMacro(Precision);
  /** "float32" or "bfloat16": what TrainStep uses on the device in use. */
  std::string
  GetPrecisionInUse() const;

  /** Adam's learning rate for TrainStep. */
  void
  SetLearningRate(double rate);
  itkGetConstMacro(LearningRate, double);

  /** Maps per forward pass in LogLikelihood, Logits and Sample. */
  itkSetMacro(InferenceBatchSize, unsigned int);
  itkGetConstMacro(InferenceBatchSize, unsigned int);

  /** Metadata stored in the model file: the index-map size trained at (set by TrainStep). */
  itkSetMacro(LatentHeight, unsigned int);
  itkGetConstMacro(LatentHeight, unsigned int);
  itkSetMacro(LatentWidth, unsigned int);
  itkGetConstMacro(LatentWidth, unsigned int);
  itkSetStringMacro(TrainingSummary);
  itkGetStringMacro(TrainingSummary);

  /** Build a new network from the hyperparameters and the condition schema, weights drawn from the seed. */
  void
  Initialize();
  bool
  IsInitialized() const;

  /** One optimisation step (Adam, owned by the model) of the cross-entropy of
   * n maps (N x h x w) under their conditions (1 for all, or n). */
  TrainingStepResult
  TrainStep(const int32_t * indices, unsigned int n, unsigned int h, unsigned int w,
            const std::vector<Condition> & conditions);
  /** Number of TrainStep calls since Initialize/Read. */
  itkGetConstMacro(NumberOfTrainingSteps, unsigned long);

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
   * two-phase microstructure: the share of the code's block of pixels in the measured phase, so that
   * u_1 is about the map's phase fraction, and the density of phase boundaries in the block, so that
   * u_2 follows the number of intercepts, which with the fraction gives the mean free path),
   * standardised over the training maps. The network sees u as L more inputs of every layer's bias,
   * beside the encoded condition: it models p(map | condition, u). The top level is p(u | condition)
   * = N(m(c), S(c) R S(c)), S = diag(s): each m_l and log s_l linear in the encoded condition c (the
   * features the network sees), fitted by least squares (ridge on the slopes) to the training maps'
   * per-condition means and log standard deviations, weighted by their numbers of maps; R the
   * within-condition correlation, pooled over the conditions. Sample draws u per map from the top
   * level (from an engine of its own), then the map given it; LogLikelihood is log p(u(x) | c) + log
   * p(x | c, u(x)): u is a function of the map, so this is the joint density of the map and its
   * compositions. Why: the network alone sees 10-25 positions back, and its maps vary less in
   * composition from one to the next than the real patches (decoded volume-fraction variance 0.1-0.7
   * of the real at the demo's training rates); the top level carries that variation.
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
  HasCompositionLevel() const
  {
    return m_CompositionCount > 0;
  }
  /** L, the values per map of the composition level (0 without it). */
  unsigned int
  GetCompositionCount() const
  {
    return m_CompositionCount;
  }
  /** The per-code values v_kl, K x L (empty without the composition level). */
  const std::vector<float> &
  GetCompositionCodeValues() const
  {
    return m_CompositionValues;
  }
  /** The composition budget (not in the paper; default off): with the composition level, every
   * layer of the network also sees, at each position, the composition left to place: what the
   * positions from there on must average for the map to end at its u, against u (see
   * itkPixelCNNNetwork.h). Why: given u, a network that sees 10-25 positions back cannot count what
   * it has placed, and its maps' own compositions stray from u; the budget is the one global
   * summary of the earlier positions it needs, and it stays autoregressive (a function of the
   * positions before). Takes effect at Initialize, which throws when it is on without the level;
   * stored in the model file. */
  itkSetMacro(CompositionBudget, bool);
  itkGetConstMacro(CompositionBudget, bool);
  itkBooleanMacro(CompositionBudget);

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
   * not in the paper): all given the same drawn compositions u (and calibration tilt), each from its
   * own uniforms, and the one whose own compositions u(x) lie nearest u (Euclidean, standardised
   * units; the first on a tie) is kept. Why: the level's likelihood is log p(u(x) | c) + log p(x | c,
   * u(x)), the density of maps whose compositions are u, but the network given u draws maps whose u(x)
   * stray from u (it sees 10-25 positions back and does not count), so that without a check the
   * sampled maps' compositions drift from the top level the level was fitted to. The nearest of C
   * candidates approaches the sampler of maps with u(x) = u as C grows, at C times the cost. Without
   * the level it has no effect. Values outside 1..64 throw. */
  void
  SetCompositionCandidates(unsigned int candidates);
  itkGetConstMacro(CompositionCandidates, unsigned int);

  /** n maps of h x w indices drawn under conditions (1 for all, or n) at the
   * given temperature (> 0; 1 = the model's distribution) from the seed. Any
   * h, w >= 1. progress, when given, receives the fraction done (0..1]. */
  std::vector<int32_t>
  Sample(unsigned int n, unsigned int h, unsigned int w, const std::vector<Condition> & conditions,
         double temperature, uint64_t seed, const std::function<void(double)> & progress = {}) const;

  /** Marginal calibration (not in the paper; see CalibrateMarginals): per-code offsets added to
   * the logits at every position, a linear function of the encoded condition c (length D =
   * GetEncodedConditionLength()): offset(k | c) = A[0][k] + sum_j c[j] A[1 + j][k]. A is
   * (1 + D) x K, row-major; empty = none (the network's own distribution). The calibrated model
   * is softmax(logits + offset): Sample, Logits and LogLikelihood use it; TrainStep trains the
   * network alone and discards the calibration (it belongs to the weights it was fitted to).
   * Stored in the model file. A size other than 0 or (1 + D) K, or a value that is not finite,
   * throws. */
  void
  SetMarginalCalibration(const std::vector<float> & offsets);
  const std::vector<float> &
  GetMarginalCalibration() const
  {
    return m_MarginalCalibration;
  }

  /** Variation calibration (not in the paper; see CalibrateMarginals): a per-map tilt of the logits
   * along a direction of the codes, the model's stand-in for what varies from one micrograph region
   * to the next on a scale larger than the network's receptive field. Each map draws one
   * epsilon ~ N(0, s(c)^2), with s(c) = exp(v[0] + sum_j c[j] v[1 + j]) (logScale, length 1 + D),
   * and every position's logits get epsilon b[k] (direction, length K) added with the offsets:
   * the calibrated model is the mixture over epsilon of softmax(logits + offset + epsilon b).
   * Sample draws epsilon per map (from the seed, apart from the uniforms of the indices);
   * LogLikelihood integrates it out (adaptive Gauss-Hermite quadrature about each map's most
   * likely epsilon); Logits are those of epsilon = 0. TrainStep discards it with the other
   * calibrations. Stored in the model file. Both empty = none; otherwise sizes K and 1 + D, finite
   * values, or it throws.
   *
   * inVariance (not in the paper): the coefficients are those of the tilt's variance instead,
   * s(c)^2 = max(v[0] + sum_j c[j] v[1 + j], 1e-6), a line that can reach 0 where the network's own
   * maps vary enough (log s cannot: its floor, wherever it is put, then pulls s(c) down at every
   * condition near it). */
  void
  SetVariationCalibration(const std::vector<float> & direction, const std::vector<float> & logScale,
                          bool inVariance = false);
  /** Whether GetVariationCalibration() holds the coefficients of s(c)^2 (true) or of log s(c). */
  bool
  GetVariationCalibrationInVariance() const
  {
    return m_VariationInVariance;
  }
  const std::vector<float> &
  GetVariationDirection() const
  {
    return m_VariationDirection;
  }
  const std::vector<float> &
  GetVariationCalibration() const
  {
    return m_VariationCalibration;
  }
  /** s(c) of a condition: 0 without a variation calibration. */
  double
  GetCalibratedVariation(const Condition & condition) const;

  struct CalibrationOptions
  {
    unsigned int SamplesPerCondition{ 200 }; ///< maps drawn per distinct training condition and round
    unsigned int Iterations{ 3 };            ///< rounds of sample, compare, correct
    double       MaximumOffset{ 3.0 };       ///< |offset| bound at each training condition (nats)
    double       Ridge{ 1e-3 };              ///< ridge weight on the condition slopes (not on A[0])
    uint64_t     Seed{ 0 };                  ///< seed of the samples (round i, condition g: Seed + i G + g)
    /** Spread calibration (the per-map tilt s(c) of SetVariationCalibration): 0 = none; otherwise the
     * number of principal directions of the real maps' per-map code frequencies (within-condition
     * covariance) whose variance the sampled maps' is matched to. */
    unsigned int        SpreadComponents{ 0 };
    /** Variation probes: s as multiples of the real maps' own spread along the tilt at each condition
     * (increasing, > 0); sampled besides s = 0 to fit s(c). */
    std::vector<double> ProbeVariations{ 0.5, 1.0, 1.5 };
    /** s(c) at a training condition is at least this multiple of the pooled real spread along the
     * tilt (s(c) is fitted in log s, so it cannot be 0 where the network's own spread suffices). */
    double              MinimumVariation{ 0.05 };
    /** Fit s(c)^2 (the variance the tilt adds) as the line over the encoded condition instead of
     * log s(c): a condition whose network alone varies enough gets s = 0 there instead of
     * MinimumVariation, which in log s pulled s(c) down far from it (demo, prior seed 1: s = 0.05 at
     * 1 degC/s, 1.67 at 10, and only 0.65 at the held-out 3 degC/s). */
    bool                VariationInVariance{ false };
    /** The spread measured in a per-map statistic instead of the code frequencies along the leading
     * directions (both set, or neither): MapStatistic(maps, count, h, w) gives one value per sampled
     * map (the decoded volume fraction, say: MicrostructureTrainPrior --calibrationSpreadStatistic
     * volume_fraction), RealStatistic one per real map, in their order. The spread ratio is then the
     * variance of the statistic over the sampled maps over that over the condition's real maps,
     * and the tilt's direction follows the real maps' statistic instead of their leading score. The
     * code frequencies' principal directions do not track what is measured on the decoded images: at
     * a ratio of 0.7-1.2 along them the decoded volume fraction's variance was 0.4-0.6 of the real. */
    std::function<std::vector<double>(const int32_t *, unsigned int, unsigned int, unsigned int)> MapStatistic;
    std::vector<double>                                                                       RealStatistic;
    /** Optional, with MapStatistic and the variation method: per code (K values), the mean of the
     * statistic's per-position value where the code stands in the real maps (for the volume fraction:
     * the share of the code's block of pixels that is foreground in the real patch, so that a map's
     * statistic is about the mean of its codes' values). The tilt's direction is then b_k = (v_k - v)
     * sd / var, v and var the mean and variance of v_k over the pooled real code frequencies and sd the
     * statistic's pooled within-condition standard deviation (a tilt by 1 moves the expected statistic
     * by one sd, to first order, as with the regression direction), instead of the slopes of the real
     * maps' code frequencies on their statistic over the codes' frequencies. Those slopes are noisy
     * for rare codes, and a strong tilt along them boosts codes picked by that noise: on the demo's
     * 30 degC/s maps the decoded volume fraction rose 5.5 pp at a tilt of 1.2 and only 1.3 pp more at
     * 2.4 (it fell 9 and 22 pp at -1.2 and -2.4), which gave the sampled maps a long low tail (skewness
     * -0.9 to -1.3 against the real -0.3 to -0.5) and no high one. */
    std::vector<double>                                                                       CodeStatistic;
    /** Mean calibration (not in the paper; optional, with or without a spread calibration): per-map
     * statistics whose means over the sampled maps are matched to the real maps' at every training
     * condition, where matching the code frequencies leaves them off (the decoded mean free path
     * depends on where the codes are, not only on how many of each: at matched frequencies it came
     * out 5-10 % coarser than the patches'). MeanStatistics(maps, count, h, w) gives count x S
     * values (row-major, S >= 1; one map's row: its decoded volume fraction and mean free path, say,
     * MicrostructureTrainPrior --calibrationMeanStatistics), RealMeanStatistics n x S those of the
     * real maps in their order (the training patches' own, so that the decoder's bias is made up
     * too). A value that is not finite (no intercept on a patch) leaves that map out of that mean.
     * Both set, or neither. */
    std::function<std::vector<double>(const int32_t *, unsigned int, unsigned int, unsigned int)> MeanStatistics;
    std::vector<double>                                                                       RealMeanStatistics;
    unsigned int MeanRounds{ 2 }; ///< Newton corrections of the mean shifts after their probes (>= 1)
    double       MeanProbe{ 1.0 }; ///< the probes' shift along each direction (> 0; pooled standard deviations)
    double       MaximumMeanShift{ 4.0 }; ///< |shift| bound at each training condition (pooled standard deviations)
    /** Per statistic (S values, or empty: all on): whether its shift, fitted over the conditions,
     * follows the conditions' exponential terms (ConditionSpec::ExponentialTerms). Off: the shift is
     * fitted on the intercept and the other features only, e.g. a line in ln rate for a volume
     * fraction that is linear in ln rate, while the mean free path's shift follows ln rate and
     * 1 / rate (bench/condition_terms.py tells which statistic follows which term). */
    std::vector<bool> MeanShiftFollowsTerms;
  };
  /** Total variation distance 0.5 sum_k |p(k) - q(k)| between the index frequencies of the
   * real maps (p) and of maps sampled from the model (q) at one training condition. */
  struct CalibrationRecord
  {
    unsigned int Round{ 0 };      ///< 0 = before any correction; Iterations = after the last; Iterations + 1 = the tilted model
    std::string  Condition;       ///< "name=value;..." of the condition
    unsigned int RealMaps{ 0 };
    unsigned int SampledMaps{ 0 };
    double       TotalVariation{ 0 };
    bool         Kept{ true }; ///< false: this round's offsets matched worse than the kept ones (undone)
    bool         Probe{ false };  ///< a probe of the spread calibration (a tilt), not a round
    double       Variation{ 0 };   ///< the per-map tilt s the maps were sampled at (s(c), or the probe's)
    /** Spread calibration only (NaN without): variance of the sampled maps' code frequencies along
     * the SpreadComponents principal directions over the real maps' (1 = as spread as the real maps). */
    double       SpreadRatio{ std::numeric_limits<double>::quiet_NaN() };
    /** Mean calibration only (empty without): per statistic, the sampled maps' mean over the real
     * maps' minus 1 (0 = matched). */
    std::vector<double> MeanDifference;
    bool                Mean{ false }; ///< a sampling of the mean calibration (its probes, Probe = true, or a correction)
  };
  /** Fits the marginal calibration so that the code frequencies of sampled maps match those of
   * the given real maps (the training maps: never the held-out ones) at each of their distinct
   * conditions. The prior's index frequencies are its weakest point at small training budgets
   * (the decoded volume fraction follows them); an autoregressive model's errors in them do not
   * shrink by sampling more. Rounds: sample SamplesPerCondition maps per distinct condition
   * (h x w of the real maps, temperature 1), move each condition's target offsets by log p(k) -
   * log q(k) (frequencies with half a count added to every code, the targets clamped to
   * +-MaximumOffset), fit A to the targets by ridge least squares over the conditions (with one
   * condition only the intercept; with two or more values of a continuous parameter the slopes
   * interpolate between them, the unseen conditions included). Starts from no calibration. A
   * round whose offsets match worse than the best so far (mean total variation over the
   * conditions) is undone and the next step is half as long, so the result is never worse than
   * the best offsets measured (no calibration included). Returns the total variation at every
   * condition before the first round and after each (Iterations + 1 samplings), with Kept marking
   * the rounds whose offsets were kept. progress receives the fraction done.
   *
   * With SpreadComponents > 0 a spread calibration, the per-map tilt, follows the rounds: an
   * autoregressive prior with a receptive field smaller than the map makes maps that vary less from
   * one to the next than the real ones (the decoded volume fraction's variance falls short). The
   * spread is measured along the leading eigenvectors of the real maps' within-condition covariance
   * of per-map code frequencies (or in MapStatistic). The tilt's direction b is, per code, the slope
   * of the real maps' frequency on their score along the leading direction (centred per condition,
   * unit pooled variance) over the code's mean frequency, so that epsilon = 1 tilts a map as the real
   * maps one pooled standard deviation apart differ (to first order; clamped to +-MaximumOffset).
   * The offset rounds come first, without the tilt; then, at the kept offsets, maps are sampled at
   * each condition with s = each ProbeVariations multiple of that condition's real standard
   * deviation of the score (s = 0 is the kept round); s is where the spread ratio, interpolated
   * linearly in s^2 (the tilt adds variance) between the probes, first reaches 1 (the largest probe
   * when none does, 0 when the network's own maps vary enough); log s(c) is fitted to
   * max(s, MinimumVariation) by the same ridge least squares. The probes are measured on the model
   * they become part of: probed before the offsets, the offsets fitted afterwards changed the spread
   * the tilt gives (a ratio fitted to 1 came out 2 to 3). A last round (Iterations + 1, nothing
   * changed after it) samples the calibrated model: its records say what the stored model does.
   *
   * With MeanStatistics the mean calibration comes last: after the offset rounds, and after the
   * tilt's fit when there is one (before the tilt's last round), since the tilt moves the means too
   * (fitted before it, the decoded volume fraction came out 2-3 % low after it). Its directions d_s, one per statistic, are
   * per code the partial slopes of the real maps' frequencies on their statistics (multiple
   * regression on the statistics centred per condition, each scaled to unit pooled variance) over
   * the code's mean frequency, so that a shift of 1 along d_s moves the frequencies as real maps one
   * pooled standard deviation apart in statistic s (the others equal) differ. At each condition maps
   * are sampled at the kept offsets and with each d_s shifted by MeanProbe (records Mean, Probe),
   * which gives the condition's Jacobian of the sampled means in the shifts; then MeanRounds times:
   * the shifts move by a Newton step to the real means (clamped to +-MaximumMeanShift), are fitted
   * over the conditions by the same ridge least squares and added to the offsets (A += shift(c) d),
   * and the model is sampled (records Mean; Kept false, and undone, where the mean relative error
   * over statistics and conditions is larger than the best so far). */
  std::vector<CalibrationRecord>
  CalibrateMarginals(const int32_t * indices, unsigned int n, unsigned int h, unsigned int w,
                     const std::vector<Condition> & conditions, const CalibrationOptions & options,
                     const std::function<void(double)> & progress = {});

  /** Write the model file atomically (see the class description). */
  void
  Write(const std::string & path) const;
  /** Write a checkpoint: the model file plus Adam's state and TrainerState,
   * so that training goes on exactly as if never stopped. A checkpoint is
   * also a valid model file. */
  void
  WriteCheckpoint(const std::string & path) const;
  /** True after Read() of a checkpoint, until Initialize(). */
  itkGetConstMacro(HasTrainingState, bool);
  /** Free text the trainer stores in checkpoints (PixelCNNPriorTrainer). */
  itkSetStringMacro(TrainerState);
  itkGetStringMacro(TrainerState);
  /** Read a model file; replaces hyperparameters, schema, metadata and weights. */
  void
  Read(const std::string & path);

protected:
  PixelCNNPriorModel();
  ~PixelCNNPriorModel() override;
  void
  PrintSelf(std::ostream & os, Indent indent) const override;

private:
  void
  CheckIndices(const int32_t * indices, unsigned int n, unsigned int h, unsigned int w) const;
  /** Throws unless each of the total indices lies in 0..CodebookSize-1 (no network needed). */
  void
  CheckIndexRange(const int32_t * indices, size_t total) const;
  void
  WriteFile(const std::string & path, bool checkpoint) const;
  /** Removes the marginal and variation calibrations (they belong to the weights). */
  void
  ClearCalibrations();

  struct Impl;
  std::unique_ptr<Impl> m_Impl;

  Hyperparameters m_Hyperparameters;
  ConditionSchema m_ConditionSchema;
  uint64_t        m_Seed{ 0 };
  std::string     m_Device{ "auto" };
  std::string     m_Precision{ "float32" };
  double          m_LearningRate{ 3e-4 };
  unsigned int    m_InferenceBatchSize{ 256 };
  std::string     m_Sampler{ "incremental" };
  unsigned int    m_CompositionCandidates{ 1 };
  bool            m_CompositionBudget{ false };
  unsigned int    m_LatentHeight{ 0 };
  unsigned int    m_LatentWidth{ 0 };
  std::string     m_TrainingSummary;
  unsigned long   m_NumberOfTrainingSteps{ 0 };
  bool            m_HasTrainingState{ false };
  std::string     m_TrainerState;
  std::string     m_VQVAEFingerprint;
  std::vector<float> m_MarginalCalibration;
  std::vector<float> m_VariationDirection;
  std::vector<float> m_VariationCalibration;
  bool               m_VariationInVariance{ false };
  /** The composition level: L, v (K x L), the standardisation of u (L means, L sds), the top
   * level's coefficients of m(c) and log s(c) (L x (1 + D) each) and its correlation (L x L). */
  unsigned int        m_CompositionCount{ 0 };
  std::vector<float>  m_CompositionValues;
  std::vector<double> m_CompositionMean;
  std::vector<double> m_CompositionStdDev;
  std::vector<float>  m_CompositionPriorMean;
  std::vector<float>  m_CompositionPriorLogStdDev;
  std::vector<double> m_CompositionCorrelation;
};

} // end namespace itk

#endif
