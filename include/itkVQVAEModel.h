/*=========================================================================
 *
 *  ITKStochasticMicrostructure
 *
 *=========================================================================*/
#ifndef itkVQVAEModel_h
#define itkVQVAEModel_h

#include "itkNetworkModelBase.h"
#include "itkObjectFactory.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace itk
{

/** \class VQVAEModel
 * \brief The VQ-VAE of Noguchi & Inoue, Phys. Rev. E 104, 025302 (2021): an
 * encoder that turns a micrograph patch into a grid of codebook indices, the
 * codebook, and a decoder that turns an index grid back into an image.
 *
 * Architecture (Hyperparameters, defaults = the paper's network): the encoder
 * has one stride-2 4x4 convolution + BatchNorm + ReLU per entry of
 * EncoderChannels ({32, 64, 128}: three downsamplings, so a 128x128 patch
 * becomes a 16x16 index map), then NumberOfResidualBlocks residual blocks and
 * a 1x1 convolution to CodeDimension (D = 128) channels. Each D-vector is
 * replaced by its nearest (Euclidean) vector of a codebook of CodebookSize
 * (K = 512) vectors. The decoder mirrors the encoder with 4x4 stride-2
 * transposed convolutions and ends with tanh, so its images lie in [-1, 1].
 * The network is fully convolutional: any H, W divisible by
 * 2^(number of downsamplings) is accepted.
 *
 * Codebook training, CodebookUpdate:
 * - "loss" (the paper): loss = MSE(x, x') + ||sg[z] - e||^2 + beta ||z - sg[e]||^2;
 * - "ema": the codebook is an exponential moving average (EMADecay) of the
 *   encoder outputs assigned to each code; loss = MSE + beta ||z - sg[e]||^2;
 *   codes whose EMA count drops below DeadCodeThreshold restart from random
 *   encoder outputs of the batch.
 * Either way GradientLossWeight (default 0) adds an image-gradient term to
 * the reconstruction loss, against the decoder's blurring of boundaries, and
 * PhaseLossWeight adds a phase-map term: each original's Otsu threshold t is
 * computed on the batch (256 bins over [-1, 1], as the measurement binarizes
 * 8-bit patches), and the loss compares the soft phase maps
 * sigmoid((x' - t) / s) and sigmoid((x - t) / s), s = PhaseLossSoftness. It
 * acts only on pixels near the threshold, where a small intensity error flips
 * the phase: thin grain boundaries and small particles, the pixels that the
 * volume fraction and the mean free path are measured from. With
 * PhaseLossThreshold "own" the reconstruction's map is taken at its own Otsu
 * threshold t' = Otsu(x') instead, as the measurement binarizes a decoded
 * image: a decoder that blurs boundaries puts pixels between the two phases'
 * grey levels, where each image's own threshold moves with its composition
 * and compresses the spread of the volume fraction.
 * HistogramLossWeight adds the squared 1-D Wasserstein-2 distance between each
 * original's and its reconstruction's intensity distributions (mean squared
 * difference of their sorted pixel values): a decoder trained on MSE alone
 * returns denoised images whose histogram, and with it the reconstruction's
 * own Otsu threshold and volume fraction, is shifted.
 * InterfaceLossWeight adds a term on the number of phase boundaries, which
 * the mean free path divides by: per image and direction (rows, columns), the
 * mean |difference| of neighbouring pixels of the soft phase maps (the phase
 * changes per pixel step, twice the intercept density N_L for a sharp map) of
 * the reconstruction and of the original, both at the original's threshold;
 * the term is the mean squared relative difference of the two densities. The
 * phase-map term compares the maps pixel by pixel and cannot tell a blurred
 * boundary from a shifted one; this term counts boundaries.
 * What each term was measured to do, and which presets use it:
 * docs/tokenizer.md.
 *
 * Intensities: the network works on images in [-1, 1]. The model stores the
 * intensity range it was trained on (IntensityMinimum..IntensityMaximum, by
 * default 0..255 for 8-bit micrographs, mapped linearly to -1..1); use
 * NormalizeIntensity / DenormalizeIntensity to convert.
 *
 * Buffers: images are float, N x C x H x W, row-major (C = InputChannels,
 * x fastest); index maps are int32, N x h x w with h = H / 2^d, w = W / 2^d.
 * Inference runs in batches of InferenceBatchSize on one thread that calls
 * LibTorch, whose intra-op threads follow
 * MultiThreaderBase::GetGlobalDefaultNumberOfThreads().
 *
 * Usage: SetHyperparameters, SetSeed, SetDevice, then Initialize() (new
 * network, weights from the seed: same seed -> same weights on CPU) or
 * Read(file). Every method taking buffers throws itk::ExceptionObject when the
 * model is not initialized or a size does not fit.
 *
 * Model file (Write / Read): the text header "ITKSMVQVAE <version>" with
 * key = value lines (hyperparameters, intensity normalisation, pixel size in
 * micrometres and patch size the model was trained at, a free-text training
 * summary), then the weights in LibTorch's archive format, with their size and
 * checksum in the header. Written atomically. Read throws a clear
 * itk::ExceptionObject for a file of another kind, an unsupported format
 * version, a truncated or damaged file.
 *
 * \ingroup StochasticMicrostructure
 */
class VQVAEModel : public NetworkModelBase
{
public:
  ITK_DISALLOW_COPY_AND_MOVE(VQVAEModel);

  using Self = VQVAEModel;
  using Superclass = NetworkModelBase;
  using Pointer = SmartPointer<Self>;
  using ConstPointer = SmartPointer<const Self>;

  itkNewMacro(Self);
  itkTypeMacro(VQVAEModel, NetworkModelBase);

  /** The file's first word, and the format version this build writes and reads. */
  static constexpr const char * FileMagic = "ITKSMVQVAE";
  static constexpr unsigned int FileFormatVersion = 1;

  struct Hyperparameters
  {
    unsigned int InputChannels{ 1 };
    /** Output channels of the stride-2 convolutions, one per downsampling. */
    std::vector<unsigned int> EncoderChannels{ 32, 64, 128 };
    unsigned int              NumberOfResidualBlocks{ 2 };
    unsigned int              CodebookSize{ 512 };  ///< K
    unsigned int              CodeDimension{ 128 }; ///< D
    /** beta: 0.25 with "ema" (the default); the paper uses 1.0 with "loss". */
    double CommitmentCost{ 0.25 };
    /** "ema" (default, chosen by measurement: see the README) or "loss" (the paper). */
    std::string CodebookUpdate{ "ema" };
    double      EMADecay{ 0.99 };
    double      DeadCodeThreshold{ 1.0 }; ///< "ema" only: EMA count below which a code restarts
    /** Weight of an image-gradient term, mean |d/dx x' - d/dx x| + |d/dy x' - d/dy x|, added to
     * the reconstruction loss (0 = the paper's plain MSE). It penalises blurred grain boundaries,
     * which Otsu then loses and the mean free path with them. */
    double GradientLossWeight{ 0.0 };
    /** Weight of the phase-map term (see the class comment; 0 = the paper's plain MSE). */
    double PhaseLossWeight{ 0.0 };
    /** Width s of the soft threshold, in the network's [-1, 1] intensity units. */
    double PhaseLossSoftness{ 0.05 };
    /** Where the reconstruction's soft phase map is taken: "original" (default), at the original's Otsu
     * threshold t; "own", at the reconstruction's own Otsu threshold t', as the measurement
     * binarizes a decoded image (see the class comment). */
    std::string PhaseLossThreshold{ "original" };
    /** Weight of the intensity-histogram term (see the class comment; 0 = the paper's plain MSE). */
    double HistogramLossWeight{ 0.0 };
    /** Weight of the interface-count term (see the class comment; 0 = the paper's plain MSE). */
    double InterfaceLossWeight{ 0.0 };

    unsigned int
    GetNumberOfDownsamplings() const
    {
      return static_cast<unsigned int>(EncoderChannels.size());
    }
    /** Throws itk::ExceptionObject naming the first invalid value. */
    void
    Validate() const;
  };

  /** Losses and codebook statistics of one training step (on the batch, before the update). */
  struct TrainingStepResult
  {
    double ReconstructionLoss{ 0 }; ///< MSE between input and decoded image, both in [-1, 1]
    double CodebookLoss{ 0 };       ///< ||sg[z] - e||^2 (0 in "ema" mode)
    double CommitmentLoss{ 0 };     ///< beta ||z - sg[e]||^2
    double GradientLoss{ 0 };       ///< mean |image-gradient difference| (unweighted; 0 when its weight is 0)
    double PhaseLoss{ 0 };          ///< mean squared soft-phase-map difference (unweighted; 0 when its weight is 0)
    double HistogramLoss{ 0 };      ///< mean squared sorted-intensity difference (unweighted; 0 when its weight is 0)
    double InterfaceLoss{
      0
    }; ///< mean squared relative interface-density difference (unweighted; 0 when its weight is 0)
    double       TotalLoss{ 0 };
    double       Perplexity{ 0 }; ///< exp(entropy of code usage in the batch)
    unsigned int CodesInUse{ 0 }; ///< distinct codes chosen in the batch
  };

  void
  SetHyperparameters(const Hyperparameters & h);
  const Hyperparameters &
  GetHyperparameters() const
  {
    return m_Hyperparameters;
  }

  /** Intensity range mapped to [-1, 1] (default 0..255). */
  itkSetMacro(IntensityMinimum, double);
  itkGetConstMacro(IntensityMinimum, double);
  itkSetMacro(IntensityMaximum, double);
  itkGetConstMacro(IntensityMaximum, double);
  double
  NormalizeIntensity(double value) const
  {
    return 2.0 * (value - m_IntensityMinimum) / (m_IntensityMaximum - m_IntensityMinimum) - 1.0;
  }
  double
  DenormalizeIntensity(double value) const
  {
    return m_IntensityMinimum + 0.5 * (value + 1.0) * (m_IntensityMaximum - m_IntensityMinimum);
  }

  /** Metadata stored in the model file: pixel size (micrometres) and patch size (pixels) trained at. */
  itkSetMacro(PixelSizeMicrometres, double);
  itkGetConstMacro(PixelSizeMicrometres, double);
  itkSetMacro(PatchSize, unsigned int);
  itkGetConstMacro(PatchSize, unsigned int);

  /** Build a new network from the hyperparameters, weights drawn from the seed. */
  void
  Initialize() override;
  bool
  IsInitialized() const override;

  /** Factor between image and index-map sizes: 2^(number of downsamplings). */
  unsigned int
  GetDownsamplingFactor() const
  {
    return 1u << m_Hyperparameters.GetNumberOfDownsamplings();
  }

  /** images (N x C x H x W, in [-1, 1]) -> indices (N x H/f x W/f), f = GetDownsamplingFactor(). */
  std::vector<int32_t>
  Encode(const float * images, unsigned int n, unsigned int height, unsigned int width) const;
  /** indices (N x h x w, each in 0..K-1) -> images (N x C x h f x w f, in [-1, 1]). */
  std::vector<float>
  Decode(const int32_t * indices, unsigned int n, unsigned int h, unsigned int w) const;
  /** Decode(Encode(images)). */
  std::vector<float>
  Reconstruct(const float * images, unsigned int n, unsigned int height, unsigned int width) const;
  /** Encoder outputs before quantization, N x D x h x w (for inspection and tests). */
  std::vector<float>
  EncodeToLatents(const float * images, unsigned int n, unsigned int height, unsigned int width) const;
  /** The codebook, K x D row-major. */
  std::vector<float>
  GetCodebook() const;

  /** One optimisation step (Adam, owned by the model) on a batch of N images in [-1, 1]. */
  TrainingStepResult
  TrainStep(const float * images, unsigned int n, unsigned int height, unsigned int width);

  /** Write the model file atomically (see the class description). */
  void
  Write(const std::string & path) const override;
  /** Write a checkpoint: the model file plus everything training needs to go on
   * exactly as if never stopped (Adam's moments and step counts, the dead-code
   * restart generator, the step count and TrainerState). A checkpoint is also a
   * valid model file. */
  void
  WriteCheckpoint(const std::string & path) const override;
  /** Read a model file or checkpoint; replaces hyperparameters, metadata and
   * weights, and, for a checkpoint, the training state (HasTrainingState()). */
  void
  Read(const std::string & path) override;
  /** The checksum of the weights of the file last read ("" before any Read): a prior records the
   * one of the VQ-VAE it was trained on (PixelCNNPriorModel::CheckCompatibleVQVAE). */
  itkGetStringMacro(WeightsFingerprint);

protected:
  VQVAEModel();
  ~VQVAEModel() override;
  void
  PrintSelf(std::ostream & os, Indent indent) const override;
  void
  MoveNetworkToDevice() override;

private:
  void
  CheckInput(unsigned int n, unsigned int height, unsigned int width) const;
  void
  WriteFile(const std::string & path, bool checkpoint) const;

  struct Impl;
  std::unique_ptr<Impl> m_Impl;

  Hyperparameters m_Hyperparameters;
  double          m_IntensityMinimum{ 0.0 };
  double          m_IntensityMaximum{ 255.0 };
  double          m_PixelSizeMicrometres{ 0.0 };
  unsigned int    m_PatchSize{ 0 };
  std::string     m_WeightsFingerprint;
};

} // end namespace itk

#endif
