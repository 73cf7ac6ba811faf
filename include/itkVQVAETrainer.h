/*=========================================================================
 *
 *  ITKStochasticMicrostructure
 *
 *=========================================================================*/
#ifndef itkVQVAETrainer_h
#define itkVQVAETrainer_h

#include "itkImage.h"
#include "itkMicrostructureTable.h"
#include "itkProcessObject.h"
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
 * Order of the data: epoch e visits the patches in a permutation drawn from
 * (Seed, e), each flipped horizontally and/or vertically with probability 1/2
 * (RandomFlips) from the same draw; the last partial batch is dropped, so
 * every batch has BatchSize patches (batch normalisation needs full batches).
 * Nothing depends on the time or on the thread count: same seed, same data,
 * same CPU weights.
 *
 * Length: NumberOfSteps when > 0, else NumberOfEpochs epochs. Both count from
 * the start of training, so resuming a run with the same settings finishes it.
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
 * Checkpoints: with CheckpointPath and CheckpointInterval > 0 a checkpoint
 * (VQVAEModel::WriteCheckpoint: weights, Adam's state, the position in the
 * data, the log) is written atomically every CheckpointInterval steps and at
 * the end. Train() on a model read from a checkpoint (HasTrainingState())
 * continues where it stopped and gives the weights an uninterrupted run
 * would have given; at most one interval is lost to a kill.
 *
 * Progress: ProgressEvent after every step (GetProgress() = steps done /
 * steps to do), IterationEvent after every epoch record; AbortGenerateData
 * stops after the current step (writing a checkpoint when configured).
 *
 * Throws itk::ExceptionObject with what to do: no model or no images, patch
 * size not a multiple of the model's downsampling factor, fewer patches than
 * one batch, a checkpoint made with other data or another batch size.
 *
 * \ingroup StochasticMicrostructure
 */
class VQVAETrainer : public ProcessObject
{
public:
  ITK_DISALLOW_COPY_AND_MOVE(VQVAETrainer);

  using Self = VQVAETrainer;
  using Superclass = ProcessObject;
  using Pointer = SmartPointer<Self>;
  using ConstPointer = SmartPointer<const Self>;

  itkNewMacro(Self);
  itkTypeMacro(VQVAETrainer, ProcessObject);

  using ImageType = Image<float, 3>;

  /** What one epoch gave. Biases are reconstruction minus original; NaN when not measured. */
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

  itkSetMacro(NumberOfEpochs, unsigned int);
  itkGetConstMacro(NumberOfEpochs, unsigned int);
  /** Total optimisation steps; 0 (default) = NumberOfEpochs epochs. */
  itkSetMacro(NumberOfSteps, unsigned long);
  itkGetConstMacro(NumberOfSteps, unsigned long);
  itkSetMacro(BatchSize, unsigned int);
  itkGetConstMacro(BatchSize, unsigned int);
  itkSetMacro(RandomFlips, bool);
  itkGetConstMacro(RandomFlips, bool);
  itkBooleanMacro(RandomFlips);
  /** "constant" (default) or "cosine": the model's learning rate decays from its value at the
   * start to 5 % of it along half a cosine over the run's steps (a function of the step, so a
   * resumed run follows the same schedule). */
  void
  SetLearningRateSchedule(const std::string & schedule);
  itkGetStringMacro(LearningRateSchedule);
  /** Seed of the data order and flips (the weights' seed is the model's). */
  itkSetMacro(Seed, uint64_t);
  itkGetConstMacro(Seed, uint64_t);
  /** At most this many validation patches are measured per epoch (the first ones); 0 = all. */
  itkSetMacro(MaximumValidationPatches, unsigned int);
  itkGetConstMacro(MaximumValidationPatches, unsigned int);
  /** Measure volume fraction and mean free path of reconstructions (default On). */
  itkSetMacro(MeasureDescriptors, bool);
  itkGetConstMacro(MeasureDescriptors, bool);
  itkBooleanMacro(MeasureDescriptors);

  itkSetStringMacro(CheckpointPath);
  itkGetStringMacro(CheckpointPath);
  /** Steps between checkpoints; 0 = no checkpoints. */
  itkSetMacro(CheckpointInterval, unsigned long);
  itkGetConstMacro(CheckpointInterval, unsigned long);
  /** CSV log, one row per epoch record (LogColumns()); empty = no file. */
  itkSetStringMacro(LogPath);
  itkGetStringMacro(LogPath);

  /** Train (or resume) until the configured length. */
  void
  Train();

  /** Steps the configured run has in all (known after Train() starts). */
  itkGetConstMacro(TotalSteps, unsigned long);
  const std::vector<EpochRecord> &
  GetEpochRecords() const
  {
    return m_EpochRecords;
  }
  /** The records as a table (columns LogColumns()). */
  MicrostructureTable
  GetLog() const;
  static std::vector<std::string>
  LogColumns();

protected:
  VQVAETrainer();
  ~VQVAETrainer() override = default;
  void
  PrintSelf(std::ostream & os, Indent indent) const override;
  /** Training runs from Train(); Update() does the same. */
  void
  GenerateData() override;

private:
  void
  Validate(EpochRecord & record);
  std::string
  SaveState() const;
  void
  RestoreState(const std::string & state);
  void
  WriteCheckpoint();
  void
  WriteLog() const;

  VQVAEModel::Pointer m_Model;
  unsigned int        m_NumberOfEpochs{ 10 };
  unsigned long       m_NumberOfSteps{ 0 };
  unsigned int        m_BatchSize{ 64 };
  bool                m_RandomFlips{ true };
  uint64_t            m_Seed{ 0 };
  unsigned int        m_MaximumValidationPatches{ 512 };
  bool                m_MeasureDescriptors{ true };
  std::string         m_CheckpointPath;
  unsigned long       m_CheckpointInterval{ 0 };
  std::string         m_LogPath;
  std::string         m_LearningRateSchedule{ "constant" };

  // Training state (saved in checkpoints).
  unsigned int             m_Epoch{ 0 };        ///< 0-based epoch in progress
  unsigned int             m_BatchInEpoch{ 0 }; ///< batches of m_Epoch done
  double                   m_EpochLossSum{ 0 };
  double                   m_EpochPerplexitySum{ 0 };
  double                   m_EpochCodesSum{ 0 };
  double                   m_Seconds{ 0 };
  std::vector<EpochRecord> m_EpochRecords;

  unsigned long m_TotalSteps{ 0 };
  // Descriptors of the validation originals, measured once.
  std::vector<double> m_OriginalVolumeFraction;
  std::vector<double> m_OriginalMeanFreePath;
};

} // end namespace itk

#endif
