/*=========================================================================
 *
 *  ITKStochasticMicrostructure
 *
 *=========================================================================*/
#ifndef itkPixelCNNPriorTrainer_h
#define itkPixelCNNPriorTrainer_h

#include "itkImage.h"
#include "itkMicrostructureTable.h"
#include "itkPixelCNNPriorModel.h"
#include "itkProcessObject.h"

#include <limits>
#include <string>
#include <vector>

namespace itk
{

/** \class PixelCNNPriorTrainer
 * \brief Trains an itk::PixelCNNPriorModel on VQ-VAE index maps and their
 * process conditions: shuffled mini-batches, Adam (the model's TrainStep),
 * the validation negative log-likelihood, a CSV log, and
 * checkpoints from which training resumes exactly.
 *
 * Input: TrainingMaps, a 3D stack of index maps (x, y = map, z = map index;
 * VQEncodeImageFilter's output for a patch stack), with one Condition per map
 * (TrainingConditions: name -> value text, as PixelCNNPriorModel takes them).
 * Optional ValidationMaps + ValidationConditions: maps of other samples (split
 * by sample, never by patch).
 *
 * Data order, length, checkpoints, progress and abort behave as in
 * VQVAETrainer: epoch e visits the maps in a permutation drawn from (Seed, e),
 * the last partial batch is dropped, NumberOfSteps (> 0) or NumberOfEpochs
 * count from the start of training, a checkpoint every CheckpointInterval
 * steps (PixelCNNPriorModel::WriteCheckpoint) lets Train() on a model read
 * from it continue with the weights an uninterrupted run would have.
 *
 * After every epoch an EpochRecord: the training loss in bits per index
 * (mean over the epoch's steps) and the validation NLL in bits per index
 * (exact, PixelCNNPriorModel::LogLikelihood). The NLL is measured after the
 * first epoch, every k-th epoch after it (k chosen so that a run measures it at
 * most about 10 times: one costs up to half an epoch's steps) and at the end;
 * the other records have ValidationMaps 0 and a NaN NLL.
 *
 * Throws itk::ExceptionObject with what to do: no model or maps, a number of
 * conditions that is not the number of maps, an index the model's codebook
 * does not have, fewer maps than one batch, a checkpoint made with other data.
 *
 * \ingroup StochasticMicrostructure
 */
class PixelCNNPriorTrainer : public ProcessObject
{
public:
  ITK_DISALLOW_COPY_AND_MOVE(PixelCNNPriorTrainer);

  using Self = PixelCNNPriorTrainer;
  using Superclass = ProcessObject;
  using Pointer = SmartPointer<Self>;
  using ConstPointer = SmartPointer<const Self>;

  itkNewMacro(Self);
  itkTypeMacro(PixelCNNPriorTrainer, ProcessObject);

  using MapImageType = Image<unsigned short, 3>;
  using Condition = PixelCNNPriorModel::Condition;

  struct EpochRecord
  {
    unsigned int  Epoch{ 0 }; ///< 1-based
    unsigned long Step{ 0 };
    double        Seconds{ 0 };
    double        TrainBitsPerIndex{ 0 };
    unsigned int  ValidationMaps{ 0 };
    double        ValidationBitsPerIndex{ std::numeric_limits<double>::quiet_NaN() };
  };

  itkSetObjectMacro(Model, PixelCNNPriorModel);
  itkGetModifiableObjectMacro(Model, PixelCNNPriorModel);

  void
  SetTrainingMaps(const MapImageType * maps, const std::vector<Condition> & conditions);
  void
  SetValidationMaps(const MapImageType * maps, const std::vector<Condition> & conditions);

  itkSetMacro(NumberOfEpochs, unsigned int);
  itkGetConstMacro(NumberOfEpochs, unsigned int);
  itkSetMacro(NumberOfSteps, unsigned long);
  itkGetConstMacro(NumberOfSteps, unsigned long);
  itkSetMacro(BatchSize, unsigned int);
  itkGetConstMacro(BatchSize, unsigned int);
  itkSetMacro(Seed, uint64_t);
  itkGetConstMacro(Seed, uint64_t);
  /** "constant" (default) or "cosine": as VQVAETrainer::SetLearningRateSchedule, the model's
   * learning rate decays to 5 % of its value at the start along half a cosine over the run's
   * steps (a function of the step: a resumed run follows the same schedule). An unknown name
   * throws. */
  void
  SetLearningRateSchedule(const std::string & schedule);
  itkGetStringMacro(LearningRateSchedule);
  itkSetStringMacro(CheckpointPath);
  itkGetStringMacro(CheckpointPath);
  itkSetMacro(CheckpointInterval, unsigned long);
  itkGetConstMacro(CheckpointInterval, unsigned long);
  itkSetStringMacro(LogPath);
  itkGetStringMacro(LogPath);

  void
  Train();

  itkGetConstMacro(TotalSteps, unsigned long);
  const std::vector<EpochRecord> &
  GetEpochRecords() const
  {
    return m_EpochRecords;
  }
  MicrostructureTable
  GetLog() const;
  static std::vector<std::string>
  LogColumns();

protected:
  PixelCNNPriorTrainer();
  ~PixelCNNPriorTrainer() override = default;
  void
  PrintSelf(std::ostream & os, Indent indent) const override;
  void
  GenerateData() override;

private:
  std::string
  SaveState() const;
  void
  RestoreState(const std::string & state);
  double
  ValidationBits() const;

  PixelCNNPriorModel::Pointer m_Model;
  MapImageType::ConstPointer  m_TrainingMaps;
  MapImageType::ConstPointer  m_ValidationMaps;
  std::vector<Condition>      m_TrainingConditions;
  std::vector<Condition>      m_ValidationConditions;
  unsigned int                m_NumberOfEpochs{ 10 };
  unsigned long               m_NumberOfSteps{ 0 };
  unsigned int                m_BatchSize{ 64 };
  uint64_t                    m_Seed{ 0 };
  std::string                 m_LearningRateSchedule{ "constant" };
  std::string                 m_CheckpointPath;
  unsigned long               m_CheckpointInterval{ 0 };
  std::string                 m_LogPath;

  unsigned int             m_Epoch{ 0 };
  unsigned int             m_BatchInEpoch{ 0 };
  double                   m_EpochBitsSum{ 0 };
  double                   m_Seconds{ 0 };
  std::vector<EpochRecord> m_EpochRecords;
  unsigned long            m_TotalSteps{ 0 };
};

} // end namespace itk

#endif
