/*=========================================================================
 *
 *  ITKStochasticMicrostructure
 *
 *=========================================================================*/
#ifndef itkVQVAETrainer_h
#define itkVQVAETrainer_h

#include "itkImage.h"
#include "itkMicrostructureTable.h"
#include "itkNetworkTrainerBase.h"
#include "itkVQVAEModel.h"

#include <limits>
#include <string>
#include <vector>

namespace itk
{

/** \class VQVAETrainer
 * \brief Trains an itk::VQVAEModel on a stack of patches: shuffled mini-batches
 * with random flips, Adam (the model's TrainStep), a validation pass after
 * every epoch, a CSV log, and checkpoints from which training resumes exactly.
 *
 * Input: TrainingImages, a 3D stack of patches (x, y = patch, z = patch
 * index) in the model's intensity units (0..255 for 8-bit micrographs); they
 * are mapped to [-1, 1] with VQVAEModel::NormalizeIntensity. Optional
 * ValidationImages: patches of other samples (split by sample, never by patch,
 * as MicrostructureDataset does), measured after every epoch.
 *
 * Data order, length, schedule, checkpoints (VQVAEModel::WriteCheckpoint:
 * weights, Adam's state, the dead-code generator, the position in the data, the
 * log), resume, progress and abort are itk::NetworkTrainerBase's; the patches
 * are its items, each flipped horizontally and/or vertically with probability
 * 1/2 (RandomFlips) from the same draw as the order. Every batch has BatchSize
 * patches (batch normalisation needs full batches, at least 2). Nothing depends
 * on the time or on the thread count: same seed, same data, same CPU weights.
 *
 * After every epoch (and after the last step) an EpochRecord is added:
 * training loss and codebook use averaged over the epoch's steps and, with
 * validation images, the validation MSE, codebook perplexity and codes in use,
 * and the decoder's bias on what matters: volume fraction (Otsu per patch) and
 * mean free path (pooled H and V lines, ASTM half count of edge-cut segments)
 * of the reconstructions against those of the originals, measured with
 * MicrostructureStackMeasurement. The log (LogPath) is rewritten atomically
 * after every record.
 *
 * Throws itk::ExceptionObject with what to do: no model or no images, patch
 * size not a multiple of the model's downsampling factor, fewer patches than
 * one batch, a checkpoint made with other data or another batch size.
 *
 * \ingroup StochasticMicrostructure
 */
class VQVAETrainer : public NetworkTrainerBase
{
public:
  ITK_DISALLOW_COPY_AND_MOVE(VQVAETrainer);

  using Self = VQVAETrainer;
  using Superclass = NetworkTrainerBase;
  using Pointer = SmartPointer<Self>;
  using ConstPointer = SmartPointer<const Self>;

  itkNewMacro(Self);
  itkTypeMacro(VQVAETrainer, NetworkTrainerBase);

  using ImageType = Image<float, 3>;

  struct EpochRecord
  {
    unsigned int  Epoch{ 0 };                   ///< 1-based
    unsigned long Step{ 0 };                    ///< optimisation steps done at the end of the epoch
    double        Seconds{ 0 };                 ///< training time so far (all sessions of a resumed run)
    double        TrainReconstructionLoss{ 0 }; ///< MSE in [-1, 1] units, mean over the epoch's steps
    double        TrainPerplexity{ 0 };
    double        TrainCodesInUse{ 0 }; ///< per batch, mean over the epoch's steps
    unsigned int  ValidationPatches{ 0 };
    double        ValidationReconstructionLoss{ std::numeric_limits<double>::quiet_NaN() };
    double        ValidationPerplexity{ std::numeric_limits<double>::quiet_NaN() };
    unsigned int  ValidationCodesInUse{ 0 };
    double VolumeFractionBias{ std::numeric_limits<double>::quiet_NaN() }; ///< percentage points, mean over patches
    double VolumeFractionMeanAbsoluteError{ std::numeric_limits<double>::quiet_NaN() }; ///< percentage points
    double MeanFreePathBias{ std::numeric_limits<double>::quiet_NaN() };                ///< % of the originals' mean
    double MeanFreePathMeanAbsoluteError{ std::numeric_limits<double>::quiet_NaN() }; ///< %, per patch |relative error|
  };

  /** The model to train: new (Initialize()d) or read from a checkpoint to resume. */
  itkSetObjectMacro(Model, VQVAEModel);
  itkGetModifiableObjectMacro(Model, VQVAEModel);

  void
  SetTrainingImages(const ImageType * images);
  const ImageType *
  GetTrainingImages() const;
  void
  SetValidationImages(const ImageType * images);
  const ImageType *
  GetValidationImages() const;

  itkSetMacro(RandomFlips, bool);
  itkGetConstMacro(RandomFlips, bool);
  itkBooleanMacro(RandomFlips);
  /** At most this many validation patches are measured per epoch (the first ones); 0 = all. */
  itkSetMacro(MaximumValidationPatches, unsigned int);
  itkGetConstMacro(MaximumValidationPatches, unsigned int);
  /** Measure volume fraction and mean free path of reconstructions (default On). */
  itkSetMacro(MeasureDescriptors, bool);
  itkGetConstMacro(MeasureDescriptors, bool);
  itkBooleanMacro(MeasureDescriptors);

  const std::vector<EpochRecord> &
  GetEpochRecords() const
  {
    return m_EpochRecords;
  }
  /** The records as a table (columns LogColumns()). */
  MicrostructureTable
  GetLog() const override;
  static std::vector<std::string>
  LogColumns();

protected:
  VQVAETrainer();
  ~VQVAETrainer() override = default;
  void
  PrintSelf(std::ostream & os, Indent indent) const override;

  NetworkModelBase *
  GetTrainedModel() const override
  {
    return m_Model.GetPointer();
  }
  size_t
  PrepareTraining() override;
  const char *
  GetItemName() const override
  {
    return "patches";
  }
  const char *
  GetModelName() const override
  {
    return "VQ-VAE";
  }
  const char *
  GetStateMagic() const override
  {
    return "vqvae-trainer 1";
  }
  bool
  GetRandomFlipsInOrder() const override
  {
    return m_RandomFlips;
  }
  double
  TrainBatch(const uint32_t * items, const uint8_t * flips, unsigned int count) override;
  void
  RecordEpoch(unsigned int epoch, unsigned long step, double seconds, unsigned int batches, bool validate) override;
  void
  ClearEpochSums() override
  {
    m_EpochLossSum = m_EpochPerplexitySum = m_EpochCodesSum = 0.0;
  }
  StateLines
  SaveEpochState() const override;
  void
  RestoreEpochState(const StateValue & value) override;
  void
  RestoreRecords(const MicrostructureTable & log) override;

private:
  void
  Validate(EpochRecord & record);

  VQVAEModel::Pointer m_Model;
  bool                m_RandomFlips{ true };
  unsigned int        m_MaximumValidationPatches{ 512 };
  bool                m_MeasureDescriptors{ true };

  double                   m_EpochLossSum{ 0 };
  double                   m_EpochPerplexitySum{ 0 };
  double                   m_EpochCodesSum{ 0 };
  std::vector<EpochRecord> m_EpochRecords;
  /** The validation originals' measurements, made once a run. */
  std::vector<double> m_OriginalVolumeFraction;
  std::vector<double> m_OriginalMeanFreePath;
};

} // end namespace itk

#endif
