/*=========================================================================
 * itk::PixelCNNPriorTrainer: mini-batch training of the conditional
 * PixelCNN prior with validation NLL, a CSV log and exact-resume
 * checkpoints (itkPixelCNNPriorTrainer.h).
 *=========================================================================*/
#include "itkPixelCNNPriorTrainer.h"
#include "itkDataParallel.h"
#include "itkModelFileFormat.h"
#include "itkTrainingSchedule.h"

#include <chrono>
#include <cmath>

namespace itk
{

namespace
{
constexpr const char *  StateMagic = "prior-trainer 1";
constexpr unsigned long MaximumValidations = 10;

std::vector<int32_t>
MapsToIndices(const Image<unsigned short, 3> * maps, unsigned int K)
{
  const auto           size = maps->GetLargestPossibleRegion().GetSize();
  const size_t         count = size[0] * size[1] * size[2];
  const auto *         p = maps->GetBufferPointer();
  std::vector<int32_t> out(count);
  for (size_t i = 0; i < count; ++i)
  {
    if (p[i] >= K)
    {
      ExceptionObject e(__FILE__,
                        __LINE__,
                        "index " + std::to_string(p[i]) + " in map " + std::to_string(i / (size[0] * size[1])) +
                          " is outside the prior's codebook (0.." + std::to_string(K - 1) +
                          "): encode the patches with the VQ-VAE whose codebook size the prior was built with",
                        ITK_LOCATION);
      throw e;
    }
    out[i] = p[i];
  }
  return out;
}
} // namespace

PixelCNNPriorTrainer::PixelCNNPriorTrainer()
{
  this->SetNumberOfRequiredInputs(0);
  this->SetNumberOfRequiredOutputs(0);
}

void
PixelCNNPriorTrainer::SetTrainingMaps(const MapImageType * maps, const std::vector<Condition> & conditions)
{
  m_TrainingMaps = maps;
  m_TrainingConditions = conditions;
  this->Modified();
}

void
PixelCNNPriorTrainer::SetValidationMaps(const MapImageType * maps, const std::vector<Condition> & conditions)
{
  m_ValidationMaps = maps;
  m_ValidationConditions = conditions;
  this->Modified();
}

void
PixelCNNPriorTrainer::SetLearningRateSchedule(const std::string & schedule)
{
  training::CheckLearningRateSchedule(schedule);
  m_LearningRateSchedule = schedule;
  this->Modified();
}

std::vector<std::string>
PixelCNNPriorTrainer::LogColumns()
{
  return { "epoch", "step", "seconds", "train_bits_per_index", "val_maps", "val_bits_per_index" };
}

MicrostructureTable
PixelCNNPriorTrainer::GetLog() const
{
  MicrostructureTable table;
  for (const auto & c : LogColumns())
    table.AddColumn(c);
  for (const auto & r : m_EpochRecords)
  {
    table.AddRow({ std::to_string(r.Epoch),
                   std::to_string(r.Step),
                   MicrostructureTable::FormatNumber(r.Seconds),
                   MicrostructureTable::FormatNumber(r.TrainBitsPerIndex),
                   std::to_string(r.ValidationMaps),
                   MicrostructureTable::FormatNumber(r.ValidationBitsPerIndex) });
  }
  return table;
}

std::string
PixelCNNPriorTrainer::SaveState() const
{
  using modelfile::Exact;
  return training::FormatTrainerState(StateMagic,
                                      { { "maps", std::to_string(m_TrainingConditions.size()) },
                                        { "batch_size", std::to_string(m_BatchSize) },
                                        { "seed", std::to_string(m_Seed) },
                                        { "epoch", std::to_string(m_Epoch) },
                                        { "batch_in_epoch", std::to_string(m_BatchInEpoch) },
                                        { "epoch_sum", Exact(m_EpochBitsSum) },
                                        { "seconds", Exact(m_Seconds) } },
                                      this->GetLog().ToCSV());
}

void
PixelCNNPriorTrainer::RestoreState(const std::string & text)
{
  training::TrainerStateText state;
  try
  {
    state = training::ParseTrainerState(text, StateMagic);
    if (std::stoull(state.Get("maps")) != m_TrainingConditions.size() ||
        std::stoul(state.Get("batch_size")) != m_BatchSize || std::stoull(state.Get("seed")) != m_Seed)
    {
      itkExceptionMacro(<< "the checkpoint was made with " << state.Get("maps") << " training maps, batch size "
                        << state.Get("batch_size") << " and data seed " << state.Get("seed") << "; this run has "
                        << m_TrainingConditions.size() << ", " << m_BatchSize << " and " << m_Seed
                        << ": resume with the same training data and settings, or start a new run");
    }
    m_Epoch = static_cast<unsigned int>(std::stoul(state.Get("epoch")));
    m_BatchInEpoch = static_cast<unsigned int>(std::stoul(state.Get("batch_in_epoch")));
    m_EpochBitsSum = std::stod(state.Get("epoch_sum"));
    m_Seconds = std::stod(state.Get("seconds"));
  }
  catch (const std::logic_error & e)
  {
    itkExceptionMacro(<< "the checkpoint's trainer state is damaged (" << e.what() << ")");
  }
  catch (const std::runtime_error & e)
  {
    itkExceptionMacro(<< e.what());
  }
  m_EpochRecords.clear();
  const auto log = MicrostructureTable::Parse(state.log, "checkpoint log");
  for (size_t i = 0; i < log.GetNumberOfRows(); ++i)
  {
    EpochRecord r;
    r.Epoch = static_cast<unsigned int>(log.GetNumber(i, "epoch"));
    r.Step = static_cast<unsigned long>(log.GetNumber(i, "step"));
    r.Seconds = log.GetNumber(i, "seconds");
    r.TrainBitsPerIndex = log.GetNumber(i, "train_bits_per_index");
    r.ValidationMaps = static_cast<unsigned int>(log.GetNumber(i, "val_maps"));
    r.ValidationBitsPerIndex = log.GetNumber(i, "val_bits_per_index");
    m_EpochRecords.push_back(r);
  }
}

double
PixelCNNPriorTrainer::ValidationBits() const
{
  // In a data-parallel job each process scores its share of the maps, and the sums are added up.
  const auto   size = m_ValidationMaps->GetLargestPossibleRegion().GetSize();
  const auto   idx = MapsToIndices(m_ValidationMaps, m_Model->GetCodebookSize());
  const size_t n = size[2], per = size[0] * size[1];
  const size_t first = n * DataParallel::GetRank() / DataParallel::GetWorldSize();
  const size_t last = n * (DataParallel::GetRank() + 1) / DataParallel::GetWorldSize();
  double       sum = 0.0;
  if (last > first)
  {
    const std::vector<Condition> conditions(m_ValidationConditions.begin() + first,
                                            m_ValidationConditions.begin() + last);
    for (const double v : m_Model->LogLikelihood(idx.data() + first * per,
                                                 static_cast<unsigned int>(last - first),
                                                 static_cast<unsigned int>(size[1]),
                                                 static_cast<unsigned int>(size[0]),
                                                 conditions))
      sum += v;
  }
  sum = DataParallel::AllReduceSum({ sum })[0];
  return -sum / (static_cast<double>(per * n) * std::log(2.0));
}

void
PixelCNNPriorTrainer::Train()
{
  this->GenerateData();
}

void
PixelCNNPriorTrainer::GenerateData()
{
  if (!m_Model || !m_Model->IsInitialized())
  {
    itkExceptionMacro(<< "no prior to train: SetModel() with a PixelCNNPriorModel that was Initialize()d or Read() "
                         "from a checkpoint");
  }
  if (!m_TrainingMaps)
  {
    itkExceptionMacro(<< "no training maps: SetTrainingMaps() with a stack of index maps and one condition per map");
  }
  const auto   size = m_TrainingMaps->GetLargestPossibleRegion().GetSize();
  const size_t n = size[2];
  const auto   w = static_cast<unsigned int>(size[0]), h = static_cast<unsigned int>(size[1]);
  if (m_TrainingConditions.size() != n)
  {
    itkExceptionMacro(<< m_TrainingConditions.size() << " training conditions for " << n
                      << " maps: give one condition per map");
  }
  if (m_ValidationMaps && m_ValidationConditions.size() != m_ValidationMaps->GetLargestPossibleRegion().GetSize()[2])
  {
    itkExceptionMacro(<< m_ValidationConditions.size() << " validation conditions for "
                      << m_ValidationMaps->GetLargestPossibleRegion().GetSize()[2] << " maps: give one per map");
  }
  if (m_BatchSize < 1 || n < m_BatchSize)
  {
    itkExceptionMacro(<< "only " << n << " training maps for a batch of " << m_BatchSize
                      << ": give more maps or a smaller batch size");
  }
  // A data-parallel job (itk::DataParallel) splits every batch of BatchSize maps evenly between its
  // processes: the same global batch, order and schedule as one process.
  const unsigned int processes = DataParallel::GetWorldSize();
  const auto         share = training::ShareOfBatch(m_BatchSize, processes, DataParallel::GetRank(), "maps");
  const unsigned int localBatch = share.count;
  const unsigned int firstInBatch = share.first;
  const bool         writes = DataParallel::IsMainProcess();
  const unsigned int batchesPerEpoch = static_cast<unsigned int>(n / m_BatchSize);
  m_TotalSteps = m_NumberOfSteps > 0 ? m_NumberOfSteps : static_cast<unsigned long>(m_NumberOfEpochs) * batchesPerEpoch;
  if (m_TotalSteps == 0)
  {
    itkExceptionMacro(<< "nothing to train: set NumberOfSteps or NumberOfEpochs above 0");
  }
  // The validation NLL costs up to half an epoch's steps: it is measured after the first epoch, then every
  // validationEvery epochs (at most about MaximumValidations times a run), and at the end.
  const unsigned long totalEpochs = (m_TotalSteps + batchesPerEpoch - 1) / batchesPerEpoch;
  const unsigned long validationEvery = std::max(1UL, (totalEpochs + MaximumValidations - 1) / MaximumValidations);
  const auto          indices = MapsToIndices(m_TrainingMaps, m_Model->GetCodebookSize());
  m_Model->EncodeConditions(m_TrainingConditions, static_cast<unsigned int>(n)); // bad conditions fail now

  if (m_Model->GetHasTrainingState())
  {
    this->RestoreState(m_Model->GetTrainerState());
  }
  else
  {
    if (m_Model->GetNumberOfTrainingSteps() != 0)
    {
      itkExceptionMacro(<< "the prior has been trained " << m_Model->GetNumberOfTrainingSteps()
                        << " steps but carries no training state: resume from a checkpoint file, or Initialize() "
                           "a new prior");
    }
    m_Epoch = 0;
    m_BatchInEpoch = 0;
    m_EpochBitsSum = 0.0;
    m_Seconds = 0.0;
    m_EpochRecords.clear();
  }

  const size_t           per = static_cast<size_t>(w) * h;
  std::vector<int32_t>   batch(localBatch * per);
  std::vector<Condition> batchConditions(localBatch);
  std::vector<uint32_t>  order;
  std::vector<uint8_t>   unused;
  unsigned int           orderEpoch = ~0u;
  unsigned long          step = m_Model->GetNumberOfTrainingSteps();
  const unsigned long    firstStep = step;
  auto                   last = std::chrono::steady_clock::now();
  auto                   tick = [&]() {
    const auto now = std::chrono::steady_clock::now();
    m_Seconds += std::chrono::duration<double>(now - last).count();
    last = now;
  };

  const training::ScopedLearningRate<PixelCNNPriorModel> restoreRate(m_Model); // the rate it came with, even on abort
  const double                                           baseRate = restoreRate.rate;
  this->UpdateProgress(0.0f);
  while (step < m_TotalSteps)
  {
    if (m_LearningRateSchedule != "constant")
      m_Model->SetLearningRate(training::ScheduledLearningRate(m_LearningRateSchedule, baseRate, step, m_TotalSteps));
    if (orderEpoch != m_Epoch)
    {
      training::EpochOrder(m_Seed, m_Epoch, n, false, order, unused);
      orderEpoch = m_Epoch;
    }
    for (unsigned int j = 0; j < localBatch; ++j)
    {
      const size_t k = order[static_cast<size_t>(m_BatchInEpoch) * m_BatchSize + firstInBatch + j];
      std::copy_n(indices.data() + k * per, per, batch.data() + j * per);
      batchConditions[j] = m_TrainingConditions[k];
    }
    auto result = m_Model->TrainStep(batch.data(), localBatch, h, w, batchConditions);
    if (processes > 1)
    {
      result.Loss = DataParallel::AllReduceSum({ result.Loss })[0] / processes;
      result.BitsPerIndex = result.Loss / std::log(2.0);
    }
    if (!std::isfinite(result.Loss))
    {
      itkExceptionMacro(<< "the training loss became " << result.Loss << " at step " << step + 1
                        << ": lower the learning rate (now " << m_Model->GetLearningRate() << ")");
    }
    ++step;
    ++m_BatchInEpoch;
    m_EpochBitsSum += result.BitsPerIndex;
    const bool epochDone = m_BatchInEpoch == batchesPerEpoch;
    if (epochDone || step == m_TotalSteps)
    {
      tick();
      EpochRecord r;
      r.Epoch = m_Epoch + 1;
      r.Step = step;
      r.TrainBitsPerIndex = m_EpochBitsSum / m_BatchInEpoch;
      if (m_ValidationMaps && (m_Epoch % validationEvery == 0 || step == m_TotalSteps))
      {
        r.ValidationMaps = static_cast<unsigned int>(m_ValidationConditions.size());
        r.ValidationBitsPerIndex = this->ValidationBits();
      }
      last = std::chrono::steady_clock::now();
      r.Seconds = m_Seconds;
      m_EpochRecords.push_back(r);
      if (!m_LogPath.empty() && writes)
        this->GetLog().Write(m_LogPath);
      this->InvokeEvent(IterationEvent());
      if (epochDone)
      {
        ++m_Epoch;
        m_BatchInEpoch = 0;
        m_EpochBitsSum = 0.0;
      }
    }
    this->UpdateProgress(static_cast<float>(step - firstStep) / static_cast<float>(m_TotalSteps - firstStep));
    const bool abort = this->GetAbortGenerateData();
    if (m_CheckpointInterval > 0 && !m_CheckpointPath.empty() && writes &&
        (step % m_CheckpointInterval == 0 || step == m_TotalSteps || abort))
    {
      tick();
      m_Model->SetTrainerState(this->SaveState());
      m_Model->WriteCheckpoint(m_CheckpointPath);
    }
    if (abort)
    {
      ProcessAborted e(__FILE__, __LINE__);
      e.SetDescription("prior training aborted at step " + std::to_string(step));
      throw e;
    }
  }
  tick();
}

void
PixelCNNPriorTrainer::PrintSelf(std::ostream & os, Indent indent) const
{
  Superclass::PrintSelf(os, indent);
  os << indent << "Model: " << m_Model.GetPointer() << '\n'
     << indent << "TrainingMaps: " << m_TrainingConditions.size() << '\n'
     << indent << "ValidationMaps: " << m_ValidationConditions.size() << '\n'
     << indent << "NumberOfEpochs: " << m_NumberOfEpochs << '\n'
     << indent << "NumberOfSteps: " << m_NumberOfSteps << '\n'
     << indent << "BatchSize: " << m_BatchSize << '\n'
     << indent << "Seed: " << m_Seed << '\n'
     << indent << "LearningRateSchedule: " << m_LearningRateSchedule << '\n'
     << indent << "CheckpointPath: " << m_CheckpointPath << '\n'
     << indent << "CheckpointInterval: " << m_CheckpointInterval << '\n'
     << indent << "LogPath: " << m_LogPath << '\n'
     << indent << "EpochRecords: " << m_EpochRecords.size() << '\n';
}

} // end namespace itk
