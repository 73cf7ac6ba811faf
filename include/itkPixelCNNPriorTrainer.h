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
#include "itkNetworkTrainerBase.h"

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
 * Data order, length, schedule, checkpoints, resume, progress and abort are
 * itk::NetworkTrainerBase's (the maps are its items; no flips).
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
class PixelCNNPriorTrainer : public NetworkTrainerBase
{
public:
  ITK_DISALLOW_COPY_AND_MOVE(PixelCNNPriorTrainer);

  using Self = PixelCNNPriorTrainer;
  using Superclass = NetworkTrainerBase;
  using Pointer = SmartPointer<Self>;
  using ConstPointer = SmartPointer<const Self>;

  itkNewMacro(Self);
  itkTypeMacro(PixelCNNPriorTrainer, NetworkTrainerBase);

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

  const std::vector<EpochRecord> &
  GetEpochRecords() const
  {
    return m_EpochRecords;
  }
  MicrostructureTable
  GetLog() const override;
  static std::vector<std::string>
  LogColumns();

protected:
  PixelCNNPriorTrainer() = default;
  ~PixelCNNPriorTrainer() override = default;
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
    return "maps";
  }
  const char *
  GetModelName() const override
  {
    return "prior";
  }
  const char *
  GetStateMagic() const override
  {
    return "prior-trainer 1";
  }
  unsigned long
  GetMaximumValidations() const override
  {
    return 10; // one validation costs up to half an epoch's steps
  }
  double
  TrainBatch(const uint32_t * items, const uint8_t * flips, unsigned int count) override;
  void
  RecordEpoch(unsigned int epoch, unsigned long step, double seconds, unsigned int batches, bool validate) override;
  void
  ClearEpochSums() override
  {
    m_EpochBitsSum = 0.0;
  }
  StateLines
  SaveEpochState() const override;
  void
  RestoreEpochState(const StateValue & value) override;
  void
  RestoreRecords(const MicrostructureTable & log) override;

private:
  double
  ValidationBits() const;

  PixelCNNPriorModel::Pointer m_Model;
  MapImageType::ConstPointer  m_TrainingMaps;
  MapImageType::ConstPointer  m_ValidationMaps;
  std::vector<Condition>      m_TrainingConditions;
  std::vector<Condition>      m_ValidationConditions;

  std::vector<int32_t>     m_TrainingIndices; ///< the training maps' indices, checked (PrepareTraining)
  unsigned int             m_MapWidth{ 0 };
  unsigned int             m_MapHeight{ 0 };
  double                   m_EpochBitsSum{ 0 };
  std::vector<EpochRecord> m_EpochRecords;
};

} // end namespace itk

#endif
