/*=========================================================================
 *
 *  ITKStochasticMicrostructure
 *
 *=========================================================================*/
#ifndef itkNetworkTrainerBase_h
#define itkNetworkTrainerBase_h

#include "itkMicrostructureTable.h"
#include "itkNetworkModelBase.h"
#include "itkProcessObject.h"

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace itk
{

/** \class NetworkTrainerBase
 * \brief The training loop the two trainers share (itk::VQVAETrainer,
 * itk::PixelCNNPriorTrainer): the data order, the length, the learning-rate
 * schedule, the epoch records and their CSV log, checkpoints, resume, progress
 * and abort. A derived class holds its model and data and does one batch step.
 *
 * Data order: epoch e visits the training items (patches or maps) in a
 * permutation drawn from (Seed, e) (with random flips where the derived class
 * asks for them); the last partial batch is dropped. NumberOfSteps (> 0) or
 * else NumberOfEpochs sets the length, counted from the start of training, so
 * that a resumed run ends where an uninterrupted one would.
 *
 * A data-parallel job (itk::DataParallel) splits every batch of BatchSize items
 * evenly between its processes: the same global batch, order and schedule as
 * one process. Only the main process writes the log and checkpoints.
 *
 * Checkpoints: every CheckpointInterval steps (0 = none), at the end and on
 * abort, the model's checkpoint (NetworkModelBase::WriteCheckpoint) is written
 * to CheckpointPath with this trainer's state (position in the data order, the
 * running sums of the epoch, the time and the log). Train() on a model read from
 * it goes on with the weights an uninterrupted run would have; a checkpoint
 * made with other data, batch size or seed is refused.
 *
 * After every epoch (and at the last step) the derived class appends an epoch
 * record, the log is written (LogPath, CSV, one row per record) and an
 * IterationEvent is invoked. AbortGenerateData stops after the current step
 * with itk::ProcessAborted, writing a checkpoint first when checkpoints are on.
 *
 * \ingroup StochasticMicrostructure
 */
class NetworkTrainerBase : public ProcessObject
{
public:
  ITK_DISALLOW_COPY_AND_MOVE(NetworkTrainerBase);

  using Self = NetworkTrainerBase;
  using Superclass = ProcessObject;
  using Pointer = SmartPointer<Self>;
  using ConstPointer = SmartPointer<const Self>;

  itkTypeMacro(NetworkTrainerBase, ProcessObject);

  itkSetMacro(NumberOfEpochs, unsigned int);
  itkGetConstMacro(NumberOfEpochs, unsigned int);
  /** Total optimisation steps; 0 (default) = NumberOfEpochs epochs. */
  itkSetMacro(NumberOfSteps, unsigned long);
  itkGetConstMacro(NumberOfSteps, unsigned long);
  /** The global batch (over all processes of a data-parallel job). */
  itkSetMacro(BatchSize, unsigned int);
  itkGetConstMacro(BatchSize, unsigned int);
  /** Seed of the data order (and flips); the weights' seed is the model's. */
  itkSetMacro(Seed, uint64_t);
  itkGetConstMacro(Seed, uint64_t);
  /** "constant" (default) or "cosine": the model's learning rate decays from its value at the
   * start to 5 % of it along half a cosine over the run's steps (a function of the step, so a
   * resumed run follows the same schedule). An unknown name throws. */
  void
  SetLearningRateSchedule(const std::string & schedule);
  itkGetStringMacro(LearningRateSchedule);
  itkSetStringMacro(CheckpointPath);
  itkGetStringMacro(CheckpointPath);
  /** Steps between checkpoints; 0 = no checkpoints. */
  itkSetMacro(CheckpointInterval, unsigned long);
  itkGetConstMacro(CheckpointInterval, unsigned long);
  /** CSV log, one row per epoch record (the derived class's LogColumns()); empty = no file. */
  itkSetStringMacro(LogPath);
  itkGetStringMacro(LogPath);

  /** Train (or resume) until the configured length. */
  void
  Train();

  /** Steps the configured run has in all (known after Train() starts). */
  itkGetConstMacro(TotalSteps, unsigned long);
  /** The epoch records as a table. */
  virtual MicrostructureTable
  GetLog() const = 0;

protected:
  NetworkTrainerBase();
  ~NetworkTrainerBase() override = default;
  void
  PrintSelf(std::ostream & os, Indent indent) const override;
  /** The loop; Train() and Update() run it. */
  void
  GenerateData() override;

  /** Lines of the trainer state in a checkpoint (key, value without line breaks). */
  using StateLines = std::vector<std::pair<std::string, std::string>>;
  /** A value of the state read from a checkpoint by its key (throws when absent). */
  using StateValue = std::function<std::string(const std::string &)>;

  /** The model to train (null when none is set). */
  virtual NetworkModelBase *
  GetTrainedModel() const = 0;
  /** Checks the data against the model and the settings (the batch size too, where the model needs
   * more than one item); the number of training items. */
  virtual size_t
  PrepareTraining() = 0;
  /** What the items are ("patches", "maps") and what is trained ("VQ-VAE", "prior"), for messages. */
  virtual const char *
  GetItemName() const = 0;
  virtual const char *
  GetModelName() const = 0;
  /** The first line of the state in a checkpoint: which trainer and which version wrote it. */
  virtual const char *
  GetStateMagic() const = 0;
  /** Whether the data order draws random flips. */
  virtual bool
  GetRandomFlipsInOrder() const
  {
    return false;
  }
  /** At most about this many validations a run (after the first epoch, every k-th epoch after it,
   * and at the end); 0 = after every epoch. */
  virtual unsigned long
  GetMaximumValidations() const
  {
    return 0;
  }
  /** One optimisation step on this process's share of the batch: count items (their numbers in the
   * training data, with their flips when GetRandomFlipsInOrder(), else flips is null); adds its
   * losses to the epoch's sums and returns the total loss of the whole batch. */
  virtual double
  TrainBatch(const uint32_t * items, const uint8_t * flips, unsigned int count) = 0;
  /** Appends the record of an epoch (1-based) that ended at step after batches batches, the
   * training time so far being seconds; validate: whether to measure the validation data now. */
  virtual void
  RecordEpoch(unsigned int epoch, unsigned long step, double seconds, unsigned int batches, bool validate) = 0;
  /** Restarts the epoch's running sums. */
  virtual void
  ClearEpochSums() = 0;
  /** The epoch's running sums (and settings that must match on resume) as state lines. */
  virtual StateLines
  SaveEpochState() const = 0;
  /** Restores what SaveEpochState wrote (throws when a setting differs from this run's). */
  virtual void
  RestoreEpochState(const StateValue & value) = 0;
  /** Replaces the epoch records with those of a log (GetLog()'s table). */
  virtual void
  RestoreRecords(const MicrostructureTable & log) = 0;

private:
  std::string
  SaveState() const;
  void
  RestoreState(const std::string & text, size_t items);

  unsigned int  m_NumberOfEpochs{ 10 };
  unsigned long m_NumberOfSteps{ 0 };
  unsigned int  m_BatchSize{ 64 };
  uint64_t      m_Seed{ 0 };
  std::string   m_LearningRateSchedule{ "constant" };
  std::string   m_CheckpointPath;
  unsigned long m_CheckpointInterval{ 0 };
  std::string   m_LogPath;

  size_t        m_Items{ 0 };
  unsigned int  m_Epoch{ 0 };
  unsigned int  m_BatchInEpoch{ 0 };
  double        m_Seconds{ 0 };
  unsigned long m_TotalSteps{ 0 };
};

} // end namespace itk

#endif
