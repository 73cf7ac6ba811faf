/*=========================================================================
 * itk::NetworkTrainerBase: the training loop of both trainers (data order,
 * schedule, records and log, checkpoints, resume, abort;
 * itkNetworkTrainerBase.h).
 *=========================================================================*/
#include "itkNetworkTrainerBase.h"
#include "itkDataParallel.h"
#include "itkModelFileFormat.h"
#include "itkTrainingSchedule.h"

#include <chrono>
#include <cmath>

namespace itk
{

namespace
{
/** Gives the model back the learning rate it had when made, also when training throws or aborts (the
 * schedule sets the rate step by step). */
struct ScopedLearningRate
{
  explicit ScopedLearningRate(NetworkModelBase * m)
    : model(m)
    , rate(m->GetLearningRate())
  {}
  ~ScopedLearningRate() { model->SetLearningRate(rate); }
  ScopedLearningRate(const ScopedLearningRate &) = delete;
  ScopedLearningRate &
                     operator=(const ScopedLearningRate &) = delete;
  NetworkModelBase * model;
  const double       rate;
};
} // namespace

NetworkTrainerBase::NetworkTrainerBase()
{
  this->SetNumberOfRequiredInputs(0);
  this->SetNumberOfRequiredOutputs(0);
}

void
NetworkTrainerBase::SetLearningRateSchedule(const std::string & schedule)
{
  training::CheckLearningRateSchedule(schedule);
  m_LearningRateSchedule = schedule;
  this->Modified();
}

void
NetworkTrainerBase::Train()
{
  this->GenerateData();
}

std::string
NetworkTrainerBase::SaveState() const
{
  StateLines lines = { { this->GetItemName(), std::to_string(m_Items) },
                       { "batch_size", std::to_string(m_BatchSize) },
                       { "seed", std::to_string(m_Seed) },
                       { "epoch", std::to_string(m_Epoch) },
                       { "batch_in_epoch", std::to_string(m_BatchInEpoch) },
                       { "seconds", modelfile::Exact(m_Seconds) } };
  for (auto & line : this->SaveEpochState())
    lines.push_back(std::move(line));
  return training::FormatTrainerState(this->GetStateMagic(), lines, this->GetLog().ToCSV());
}

void
NetworkTrainerBase::RestoreState(const std::string & text, size_t items)
{
  training::TrainerStateText state;
  const std::string          itemName = this->GetItemName();
  try
  {
    state = training::ParseTrainerState(text, this->GetStateMagic());
    if (std::stoull(state.Get(itemName)) != items || std::stoul(state.Get("batch_size")) != m_BatchSize ||
        std::stoull(state.Get("seed")) != m_Seed)
    {
      itkExceptionMacro(<< "the checkpoint was made with " << state.Get(itemName) << " training " << itemName
                        << ", batch size " << state.Get("batch_size") << " and data seed " << state.Get("seed")
                        << "; this run has " << items << ", " << m_BatchSize << " and " << m_Seed
                        << ": resume with the same training data and settings, or start a new run");
    }
    m_Epoch = static_cast<unsigned int>(std::stoul(state.Get("epoch")));
    m_BatchInEpoch = static_cast<unsigned int>(std::stoul(state.Get("batch_in_epoch")));
    m_Seconds = std::stod(state.Get("seconds"));
    this->RestoreEpochState([&state](const std::string & key) { return state.Get(key); });
  }
  catch (const std::logic_error & e) // stoul & co.
  {
    itkExceptionMacro(<< "the checkpoint's trainer state is damaged (" << e.what() << ")");
  }
  catch (const std::runtime_error & e)
  {
    itkExceptionMacro(<< e.what());
  }
  this->RestoreRecords(MicrostructureTable::Parse(state.log, "checkpoint log"));
}

void
NetworkTrainerBase::GenerateData()
{
  NetworkModelBase * model = this->GetTrainedModel();
  if (!model || !model->IsInitialized())
  {
    itkExceptionMacro(<< "no model to train: SetModel() with a " << this->GetModelName()
                      << " that was Initialize()d or Read() from a checkpoint");
  }
  const size_t      n = this->PrepareTraining();
  const std::string items = this->GetItemName();
  if (m_BatchSize < 1 || n < m_BatchSize)
  {
    itkExceptionMacro(<< "only " << n << " training " << items << " for a batch of " << m_BatchSize << ": give more "
                      << items << " or a smaller batch size");
  }
  const unsigned int processes = DataParallel::GetWorldSize();
  const auto         share = training::ShareOfBatch(m_BatchSize, processes, DataParallel::GetRank(), items.c_str());
  const bool         writes = DataParallel::IsMainProcess();
  const unsigned int batchesPerEpoch = static_cast<unsigned int>(n / m_BatchSize);
  m_TotalSteps = m_NumberOfSteps > 0 ? m_NumberOfSteps : static_cast<unsigned long>(m_NumberOfEpochs) * batchesPerEpoch;
  if (m_TotalSteps == 0)
  {
    itkExceptionMacro(<< "nothing to train: set NumberOfSteps or NumberOfEpochs above 0");
  }
  // Validation costs time: with a maximum, after the first epoch, then every validationEvery epochs,
  // and at the end.
  const unsigned long maximumValidations = this->GetMaximumValidations();
  const unsigned long totalEpochs = (m_TotalSteps + batchesPerEpoch - 1) / batchesPerEpoch;
  const unsigned long validationEvery =
    maximumValidations == 0 ? 1UL : std::max(1UL, (totalEpochs + maximumValidations - 1) / maximumValidations);

  m_Items = n;
  if (model->GetHasTrainingState())
  {
    this->RestoreState(model->GetTrainerState(), n);
    if (static_cast<unsigned long>(m_Epoch) * batchesPerEpoch + m_BatchInEpoch != model->GetNumberOfTrainingSteps())
    {
      itkExceptionMacro(<< "the checkpoint is at step " << model->GetNumberOfTrainingSteps()
                        << " but its trainer state at epoch " << m_Epoch << ", batch " << m_BatchInEpoch
                        << ": it is inconsistent; start a new run");
    }
  }
  else
  {
    if (model->GetNumberOfTrainingSteps() != 0)
    {
      itkExceptionMacro(<< "the " << this->GetModelName() << " has been trained " << model->GetNumberOfTrainingSteps()
                        << " steps but carries no training state: resume from a checkpoint file, or Initialize() "
                           "a new one");
    }
    m_Epoch = 0;
    m_BatchInEpoch = 0;
    m_Seconds = 0.0;
    this->ClearEpochSums();
    this->RestoreRecords(MicrostructureTable());
  }

  const bool            flipsInOrder = this->GetRandomFlipsInOrder();
  std::vector<uint32_t> order;
  std::vector<uint8_t>  flips;
  unsigned int          orderEpoch = ~0u;
  unsigned long         step = model->GetNumberOfTrainingSteps();
  const unsigned long   firstStep = step;
  auto                  last = std::chrono::steady_clock::now();
  auto                  tick = [&]() {
    const auto now = std::chrono::steady_clock::now();
    m_Seconds += std::chrono::duration<double>(now - last).count();
    last = now;
  };

  const ScopedLearningRate restoreRate(model); // the rate it came with, even on abort
  const double             baseRate = restoreRate.rate;
  this->UpdateProgress(0.0f);
  while (step < m_TotalSteps)
  {
    if (m_LearningRateSchedule != "constant")
      model->SetLearningRate(training::ScheduledLearningRate(m_LearningRateSchedule, baseRate, step, m_TotalSteps));
    if (orderEpoch != m_Epoch)
    {
      training::EpochOrder(m_Seed, m_Epoch, n, flipsInOrder, order, flips);
      orderEpoch = m_Epoch;
    }
    const size_t first = static_cast<size_t>(m_BatchInEpoch) * m_BatchSize + share.first;
    const double loss =
      this->TrainBatch(order.data() + first, flipsInOrder ? flips.data() + first : nullptr, share.count);
    ++step;
    ++m_BatchInEpoch;
    if (!std::isfinite(loss))
    {
      itkExceptionMacro(<< "the training loss became " << loss << " at step " << step
                        << ": lower the learning rate (now " << model->GetLearningRate() << ")");
    }
    const bool epochDone = m_BatchInEpoch == batchesPerEpoch;
    if (epochDone || step == m_TotalSteps)
    {
      tick();
      this->RecordEpoch(
        m_Epoch + 1, step, m_Seconds, m_BatchInEpoch, m_Epoch % validationEvery == 0 || step == m_TotalSteps);
      last = std::chrono::steady_clock::now(); // validation time is not training time
      if (!m_LogPath.empty() && writes)
        this->GetLog().Write(m_LogPath);
      this->InvokeEvent(IterationEvent());
      if (epochDone)
      {
        ++m_Epoch;
        m_BatchInEpoch = 0;
        this->ClearEpochSums();
      }
    }
    this->UpdateProgress(static_cast<float>(step - firstStep) / static_cast<float>(m_TotalSteps - firstStep));
    const bool abort = this->GetAbortGenerateData();
    const bool checkpoints = m_CheckpointInterval > 0 && !m_CheckpointPath.empty();
    if (checkpoints && writes && (step % m_CheckpointInterval == 0 || step == m_TotalSteps || abort))
    {
      tick();
      model->SetTrainerState(this->SaveState());
      model->WriteCheckpoint(m_CheckpointPath);
    }
    if (abort)
    {
      ProcessAborted e(__FILE__, __LINE__);
      e.SetDescription(std::string(this->GetModelName()) + " training aborted at step " + std::to_string(step) +
                       (checkpoints ? " (checkpoint written)" : ""));
      throw e;
    }
  }
  tick();
}

void
NetworkTrainerBase::PrintSelf(std::ostream & os, Indent indent) const
{
  Superclass::PrintSelf(os, indent);
  os << indent << "NumberOfEpochs: " << m_NumberOfEpochs << '\n'
     << indent << "NumberOfSteps: " << m_NumberOfSteps << '\n'
     << indent << "BatchSize: " << m_BatchSize << '\n'
     << indent << "Seed: " << m_Seed << '\n'
     << indent << "LearningRateSchedule: " << m_LearningRateSchedule << '\n'
     << indent << "CheckpointPath: " << m_CheckpointPath << '\n'
     << indent << "CheckpointInterval: " << m_CheckpointInterval << '\n'
     << indent << "LogPath: " << m_LogPath << '\n'
     << indent << "TotalSteps: " << m_TotalSteps << '\n'
     << indent << "Epoch: " << m_Epoch << ", batch " << m_BatchInEpoch << '\n';
}

} // end namespace itk
