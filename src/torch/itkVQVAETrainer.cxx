/*=========================================================================
 * itk::VQVAETrainer: mini-batch training of itk::VQVAEModel with
 * validation, a CSV log and exact-resume checkpoints (itkVQVAETrainer.h).
 *=========================================================================*/
#include "itkVQVAETrainer.h"
#include "itkDataParallel.h"
#include "itkMicrostructureStackMeasurement.h"
#include "itkModelFileFormat.h"
#include "itkTrainingSchedule.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <random>
#include <sstream>

namespace itk
{

namespace
{
constexpr const char * StateMagic = "vqvae-trainer 1";

using ByteStack = Image<unsigned char, 3>;

ByteStack::Pointer
ToByteStack(const float * values, size_t n, unsigned int width, unsigned int height, const VQVAEModel & model,
            bool normalized)
{
  auto                  image = ByteStack::New();
  ByteStack::SizeType   size{ { width, height, n } };
  ByteStack::RegionType region;
  region.SetSize(size);
  image->SetRegions(region);
  image->Allocate();
  unsigned char * out = image->GetBufferPointer();
  const size_t    count = n * width * height;
  for (size_t i = 0; i < count; ++i)
  {
    const double v = normalized ? model.DenormalizeIntensity(values[i]) : values[i];
    out[i] = static_cast<unsigned char>(std::clamp(std::lround(v), 0l, 255l));
  }
  return image;
}

void
Measure(const ByteStack * stack, std::vector<double> & volumeFraction, std::vector<double> & meanFreePath)
{
  auto measure = MicrostructureStackMeasurement<ByteStack>::New();
  measure->SetInput(stack);
  measure->Update();
  volumeFraction.clear();
  meanFreePath.clear();
  for (const auto & m : measure->GetMeasurements())
  {
    volumeFraction.push_back(m.VolumeFraction);
    meanFreePath.push_back(m.MeanFreePath);
  }
}

std::string
Num(double v)
{
  return MicrostructureTable::FormatNumber(v);
}
} // namespace


VQVAETrainer::VQVAETrainer()
{
  this->SetNumberOfRequiredInputs(1);
  this->SetNumberOfRequiredOutputs(0);
}

void
VQVAETrainer::SetTrainingImages(const ImageType * images)
{
  this->SetNthInput(0, const_cast<ImageType *>(images));
}

const VQVAETrainer::ImageType *
VQVAETrainer::GetTrainingImages() const
{
  return dynamic_cast<const ImageType *>(this->GetInput(0));
}

void
VQVAETrainer::SetValidationImages(const ImageType * images)
{
  this->SetNthInput(1, const_cast<ImageType *>(images));
}

const VQVAETrainer::ImageType *
VQVAETrainer::GetValidationImages() const
{
  return this->GetNumberOfIndexedInputs() > 1 ? dynamic_cast<const ImageType *>(this->GetInput(1)) : nullptr;
}

std::vector<std::string>
VQVAETrainer::LogColumns()
{
  return {
    "epoch",           "step",           "seconds",        "train_mse",        "train_perplexity", "train_codes_in_use",
    "val_patches",     "val_mse",        "val_perplexity", "val_codes_in_use", "vf_bias_pp",       "vf_mae_pp",
    "df_bias_percent", "df_mape_percent"
  };
}

MicrostructureTable
VQVAETrainer::GetLog() const
{
  MicrostructureTable table;
  for (const auto & c : LogColumns())
    table.AddColumn(c);
  for (const auto & r : m_EpochRecords)
  {
    table.AddRow({ std::to_string(r.Epoch),
                   std::to_string(r.Step),
                   Num(r.Seconds),
                   Num(r.TrainReconstructionLoss),
                   Num(r.TrainPerplexity),
                   Num(r.TrainCodesInUse),
                   std::to_string(r.ValidationPatches),
                   Num(r.ValidationReconstructionLoss),
                   Num(r.ValidationPerplexity),
                   std::to_string(r.ValidationCodesInUse),
                   Num(r.VolumeFractionBias),
                   Num(r.VolumeFractionMeanAbsoluteError),
                   Num(r.MeanFreePathBias),
                   Num(r.MeanFreePathMeanAbsoluteError) });
  }
  return table;
}

std::string
VQVAETrainer::SaveState() const
{
  using modelfile::Exact;
  return training::FormatTrainerState(
    StateMagic,
    { { "patches", std::to_string(this->GetTrainingImages()->GetLargestPossibleRegion().GetSize()[2]) },
      { "batch_size", std::to_string(m_BatchSize) },
      { "seed", std::to_string(m_Seed) },
      { "flips", std::to_string(m_RandomFlips) },
      { "epoch", std::to_string(m_Epoch) },
      { "batch_in_epoch", std::to_string(m_BatchInEpoch) },
      { "epoch_sums", Exact(m_EpochLossSum) + " " + Exact(m_EpochPerplexitySum) + " " + Exact(m_EpochCodesSum) },
      { "seconds", Exact(m_Seconds) } },
    this->GetLog().ToCSV());
}

void
VQVAETrainer::RestoreState(const std::string & text)
{
  training::TrainerStateText state;
  try
  {
    state = training::ParseTrainerState(text, StateMagic);
    const auto * train = this->GetTrainingImages();
    const auto   patches = std::stoull(state.Get("patches"));
    if (patches != train->GetLargestPossibleRegion().GetSize()[2] ||
        std::stoul(state.Get("batch_size")) != m_BatchSize || std::stoull(state.Get("seed")) != m_Seed ||
        (std::stoi(state.Get("flips")) != 0) != m_RandomFlips)
    {
      itkExceptionMacro(<< "the checkpoint was made with " << patches << " training patches, batch size "
                        << state.Get("batch_size") << ", data seed " << state.Get("seed") << " and flips "
                        << state.Get("flips") << "; this run has " << train->GetLargestPossibleRegion().GetSize()[2]
                        << ", " << m_BatchSize << ", " << m_Seed << " and " << m_RandomFlips
                        << ": resume with the same training data and settings, or start a new run");
    }
    m_Epoch = static_cast<unsigned int>(std::stoul(state.Get("epoch")));
    m_BatchInEpoch = static_cast<unsigned int>(std::stoul(state.Get("batch_in_epoch")));
    std::istringstream sums(state.Get("epoch_sums"));
    sums >> m_EpochLossSum >> m_EpochPerplexitySum >> m_EpochCodesSum;
    m_Seconds = std::stod(state.Get("seconds"));
  }
  catch (const std::logic_error & e) // stoul & co.
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
    r.TrainReconstructionLoss = log.GetNumber(i, "train_mse");
    r.TrainPerplexity = log.GetNumber(i, "train_perplexity");
    r.TrainCodesInUse = log.GetNumber(i, "train_codes_in_use");
    r.ValidationPatches = static_cast<unsigned int>(log.GetNumber(i, "val_patches"));
    r.ValidationReconstructionLoss = log.GetNumber(i, "val_mse");
    r.ValidationPerplexity = log.GetNumber(i, "val_perplexity");
    r.ValidationCodesInUse = static_cast<unsigned int>(log.GetNumber(i, "val_codes_in_use"));
    r.VolumeFractionBias = log.GetNumber(i, "vf_bias_pp");
    r.VolumeFractionMeanAbsoluteError = log.GetNumber(i, "vf_mae_pp");
    r.MeanFreePathBias = log.GetNumber(i, "df_bias_percent");
    r.MeanFreePathMeanAbsoluteError = log.GetNumber(i, "df_mape_percent");
    m_EpochRecords.push_back(r);
  }
}

void
VQVAETrainer::WriteCheckpoint()
{
  if (m_CheckpointPath.empty() || !DataParallel::IsMainProcess())
    return;
  m_Model->SetTrainerState(this->SaveState());
  m_Model->WriteCheckpoint(m_CheckpointPath);
}

void
VQVAETrainer::WriteLog() const
{
  if (!m_LogPath.empty() && DataParallel::IsMainProcess())
  {
    this->GetLog().Write(m_LogPath);
  }
}

void
VQVAETrainer::Validate(EpochRecord & record)
{
  const auto * images = this->GetValidationImages();
  if (!images)
    return;
  const auto   size = images->GetLargestPossibleRegion().GetSize();
  const auto   w = static_cast<unsigned int>(size[0]);
  const auto   h = static_cast<unsigned int>(size[1]);
  unsigned int n = static_cast<unsigned int>(size[2]);
  if (m_MaximumValidationPatches > 0)
    n = std::min(n, m_MaximumValidationPatches);
  const size_t       perImage = static_cast<size_t>(w) * h;
  const float *      raw = images->GetBufferPointer();
  std::vector<float> x(n * perImage);
  for (size_t i = 0; i < x.size(); ++i)
    x[i] = static_cast<float>(m_Model->NormalizeIntensity(raw[i]));

  const unsigned int f = m_Model->GetDownsamplingFactor();
  const auto         indices = m_Model->Encode(x.data(), n, h, w);
  const auto         reconstruction = m_Model->Decode(indices.data(), n, h / f, w / f);
  double             se = 0.0;
  for (size_t i = 0; i < x.size(); ++i)
  {
    const double d = static_cast<double>(reconstruction[i]) - x[i];
    se += d * d;
  }
  record.ValidationPatches = n;
  record.ValidationReconstructionLoss = se / static_cast<double>(x.size());
  std::vector<double> counts(m_Model->GetHyperparameters().CodebookSize, 0.0);
  for (const auto k : indices)
    counts[k] += 1.0;
  double       entropy = 0.0;
  unsigned int used = 0;
  for (const double c : counts)
  {
    if (c > 0)
    {
      const double p = c / static_cast<double>(indices.size());
      entropy -= p * std::log(p);
      ++used;
    }
  }
  record.ValidationPerplexity = std::exp(entropy);
  record.ValidationCodesInUse = used;

  if (!m_MeasureDescriptors)
    return;
  if (m_OriginalVolumeFraction.size() != n)
  {
    auto originals = ToByteStack(raw, n, w, h, *m_Model, false);
    Measure(originals, m_OriginalVolumeFraction, m_OriginalMeanFreePath);
  }
  std::vector<double> vf, df;
  Measure(ToByteStack(reconstruction.data(), n, w, h, *m_Model, true), vf, df);
  double       vfBias = 0, vfAbs = 0, dfRec = 0, dfOrig = 0, dfRel = 0;
  unsigned int vfCount = 0, dfCount = 0;
  for (unsigned int i = 0; i < n; ++i)
  {
    if (std::isfinite(vf[i]) && std::isfinite(m_OriginalVolumeFraction[i]))
    {
      const double d = 100.0 * (vf[i] - m_OriginalVolumeFraction[i]);
      vfBias += d;
      vfAbs += std::abs(d);
      ++vfCount;
    }
    if (std::isfinite(df[i]) && std::isfinite(m_OriginalMeanFreePath[i]) && m_OriginalMeanFreePath[i] > 0)
    {
      dfRec += df[i];
      dfOrig += m_OriginalMeanFreePath[i];
      dfRel += std::abs(df[i] / m_OriginalMeanFreePath[i] - 1.0);
      ++dfCount;
    }
  }
  if (vfCount > 0)
  {
    record.VolumeFractionBias = vfBias / vfCount;
    record.VolumeFractionMeanAbsoluteError = vfAbs / vfCount;
  }
  if (dfCount > 0)
  {
    record.MeanFreePathBias = 100.0 * (dfRec / dfOrig - 1.0);
    record.MeanFreePathMeanAbsoluteError = 100.0 * dfRel / dfCount;
  }
}

void
VQVAETrainer::SetLearningRateSchedule(const std::string & schedule)
{
  training::CheckLearningRateSchedule(schedule);
  m_LearningRateSchedule = schedule;
  this->Modified();
}

void
VQVAETrainer::Train()
{
  this->GenerateData();
}

void
VQVAETrainer::GenerateData()
{
  if (!m_Model || !m_Model->IsInitialized())
  {
    itkExceptionMacro(<< "no model to train: SetModel() with a VQVAEModel that was Initialize()d or Read() from a "
                         "checkpoint");
  }
  const auto * train = this->GetTrainingImages();
  if (!train)
  {
    itkExceptionMacro(<< "no training images: SetTrainingImages() with a 3D stack of patches");
  }
  const auto         size = train->GetLargestPossibleRegion().GetSize();
  const auto         w = static_cast<unsigned int>(size[0]);
  const auto         h = static_cast<unsigned int>(size[1]);
  const size_t       n = size[2];
  const unsigned int f = m_Model->GetDownsamplingFactor();
  if (w % f != 0 || h % f != 0)
  {
    itkExceptionMacro(<< "patches of " << w << " x " << h << " px cannot be encoded by this model: the sides must be "
                      << "multiples of " << f << " (2^number of downsamplings); cut patches of e.g. 128 x 128");
  }
  if (m_BatchSize < 2)
  {
    itkExceptionMacro(<< "batch size " << m_BatchSize << " is too small: batch normalisation needs at least 2");
  }
  if (n < m_BatchSize)
  {
    itkExceptionMacro(<< "only " << n << " training patches for a batch of " << m_BatchSize
                      << ": give more patches or a smaller batch size");
  }
  // A data-parallel job (itk::DataParallel) splits every batch of BatchSize patches evenly between
  // its processes: the same global batch, order, flips and schedule as one process (the batch
  // normalisation and the codebook's statistics are the whole batch's, itkVQVAENetwork.h).
  const unsigned int processes = DataParallel::GetWorldSize();
  const auto         share = training::ShareOfBatch(m_BatchSize, processes, DataParallel::GetRank(), "patches");
  const unsigned int localBatch = share.count;
  const unsigned int firstInBatch = share.first;
  if (const auto * val = this->GetValidationImages())
  {
    const auto vs = val->GetLargestPossibleRegion().GetSize();
    if (vs[0] != w || vs[1] != h)
    {
      itkExceptionMacro(<< "validation patches are " << vs[0] << " x " << vs[1] << " px, training patches " << w
                        << " x " << h << ": give both from one dataset");
    }
  }
  const unsigned int batchesPerEpoch = static_cast<unsigned int>(n / m_BatchSize);
  m_TotalSteps = m_NumberOfSteps > 0 ? m_NumberOfSteps : static_cast<unsigned long>(m_NumberOfEpochs) * batchesPerEpoch;
  if (m_TotalSteps == 0)
  {
    itkExceptionMacro(<< "nothing to train: set NumberOfSteps or NumberOfEpochs above 0");
  }

  m_OriginalVolumeFraction.clear();
  m_OriginalMeanFreePath.clear();
  if (m_Model->GetHasTrainingState())
  {
    this->RestoreState(m_Model->GetTrainerState());
    if (static_cast<unsigned long>(m_Epoch) * batchesPerEpoch + m_BatchInEpoch != m_Model->GetNumberOfTrainingSteps())
    {
      itkExceptionMacro(<< "the checkpoint is at step " << m_Model->GetNumberOfTrainingSteps()
                        << " but its trainer state at epoch " << m_Epoch << ", batch " << m_BatchInEpoch
                        << ": it is inconsistent; start a new run");
    }
  }
  else
  {
    if (m_Model->GetNumberOfTrainingSteps() != 0)
    {
      itkExceptionMacro(<< "the model has been trained " << m_Model->GetNumberOfTrainingSteps()
                        << " steps but carries no training state: resume from a checkpoint file, or Initialize() "
                           "a new model");
    }
    m_Epoch = 0;
    m_BatchInEpoch = 0;
    m_EpochLossSum = m_EpochPerplexitySum = m_EpochCodesSum = 0.0;
    m_Seconds = 0.0;
    m_EpochRecords.clear();
  }

  const size_t          perImage = static_cast<size_t>(w) * h;
  const float *         raw = train->GetBufferPointer();
  std::vector<float>    batch(localBatch * perImage);
  std::vector<uint32_t> order;
  std::vector<uint8_t>  flips;
  unsigned int          orderEpoch = ~0u;
  unsigned long         step = m_Model->GetNumberOfTrainingSteps();
  const unsigned long   firstStep = step;
  auto                  last = std::chrono::steady_clock::now();
  auto                  tick = [&]() {
    const auto now = std::chrono::steady_clock::now();
    m_Seconds += std::chrono::duration<double>(now - last).count();
    last = now;
  };
  auto endEpoch = [&](unsigned int batches) {
    tick();
    EpochRecord r;
    r.Epoch = m_Epoch + 1;
    r.Step = step;
    const double b = std::max(1u, batches);
    r.TrainReconstructionLoss = m_EpochLossSum / b;
    r.TrainPerplexity = m_EpochPerplexitySum / b;
    r.TrainCodesInUse = m_EpochCodesSum / b;
    this->Validate(r);
    last = std::chrono::steady_clock::now(); // validation time is not training time
    r.Seconds = m_Seconds;
    m_EpochRecords.push_back(r);
    this->WriteLog();
    this->InvokeEvent(IterationEvent());
  };

  this->UpdateProgress(static_cast<float>(step) / m_TotalSteps);
  const training::ScopedLearningRate<VQVAEModel> restoreRate(m_Model); // the rate it came with, even on abort
  const double                                   baseRate = restoreRate.rate;
  while (step < m_TotalSteps)
  {
    if (m_LearningRateSchedule != "constant")
      m_Model->SetLearningRate(training::ScheduledLearningRate(m_LearningRateSchedule, baseRate, step, m_TotalSteps));
    if (orderEpoch != m_Epoch)
    {
      training::EpochOrder(m_Seed, m_Epoch, n, m_RandomFlips, order, flips);
      orderEpoch = m_Epoch;
    }
    for (unsigned int j = 0; j < localBatch; ++j)
    {
      const size_t  k = static_cast<size_t>(m_BatchInEpoch) * m_BatchSize + firstInBatch + j;
      const float * src = raw + static_cast<size_t>(order[k]) * perImage;
      float *       dst = batch.data() + j * perImage;
      const bool    fx = flips[k] & 1u, fy = flips[k] & 2u;
      for (unsigned int y = 0; y < h; ++y)
      {
        const float * row = src + static_cast<size_t>(fy ? h - 1 - y : y) * w;
        for (unsigned int x = 0; x < w; ++x)
        {
          dst[static_cast<size_t>(y) * w + x] =
            static_cast<float>(m_Model->NormalizeIntensity(row[fx ? w - 1 - x : x]));
        }
      }
    }
    auto result = m_Model->TrainStep(batch.data(), localBatch, h, w);
    if (processes > 1) // the whole batch's losses (perplexity and codes in use are already)
    {
      const auto sums = DataParallel::AllReduceSum({ result.ReconstructionLoss, result.TotalLoss });
      result.ReconstructionLoss = sums[0] / processes;
      result.TotalLoss = sums[1] / processes;
    }
    ++step;
    ++m_BatchInEpoch;
    m_EpochLossSum += result.ReconstructionLoss;
    m_EpochPerplexitySum += result.Perplexity;
    m_EpochCodesSum += result.CodesInUse;
    if (!std::isfinite(result.TotalLoss))
    {
      itkExceptionMacro(<< "the training loss became " << result.TotalLoss << " at step " << step
                        << ": lower the learning rate (now " << m_Model->GetLearningRate() << ")");
    }
    const bool epochDone = m_BatchInEpoch == batchesPerEpoch;
    if (epochDone || step == m_TotalSteps)
    {
      endEpoch(m_BatchInEpoch);
      if (epochDone)
      {
        ++m_Epoch;
        m_BatchInEpoch = 0;
        m_EpochLossSum = m_EpochPerplexitySum = m_EpochCodesSum = 0.0;
      }
    }
    this->UpdateProgress(static_cast<float>(step - firstStep) / static_cast<float>(m_TotalSteps - firstStep));
    const bool abort = this->GetAbortGenerateData();
    if (m_CheckpointInterval > 0 && (step % m_CheckpointInterval == 0 || step == m_TotalSteps || abort))
    {
      tick();
      this->WriteCheckpoint();
    }
    if (abort)
    {
      ProcessAborted e(__FILE__, __LINE__);
      e.SetDescription("VQ-VAE training aborted at step " + std::to_string(step) +
                       (m_CheckpointInterval > 0 ? " (checkpoint written)" : ""));
      throw e;
    }
  }
  tick();
}

void
VQVAETrainer::PrintSelf(std::ostream & os, Indent indent) const
{
  Superclass::PrintSelf(os, indent);
  os << indent << "Model: " << m_Model.GetPointer() << '\n'
     << indent << "NumberOfEpochs: " << m_NumberOfEpochs << '\n'
     << indent << "NumberOfSteps: " << m_NumberOfSteps << '\n'
     << indent << "BatchSize: " << m_BatchSize << '\n'
     << indent << "RandomFlips: " << m_RandomFlips << '\n'
     << indent << "Seed: " << m_Seed << '\n'
     << indent << "MaximumValidationPatches: " << m_MaximumValidationPatches << '\n'
     << indent << "MeasureDescriptors: " << m_MeasureDescriptors << '\n'
     << indent << "CheckpointPath: " << m_CheckpointPath << '\n'
     << indent << "CheckpointInterval: " << m_CheckpointInterval << '\n'
     << indent << "LogPath: " << m_LogPath << '\n'
     << indent << "LearningRateSchedule: " << m_LearningRateSchedule << '\n'
     << indent << "Epoch: " << m_Epoch << ", batch " << m_BatchInEpoch << '\n'
     << indent << "EpochRecords: " << m_EpochRecords.size() << '\n';
}

} // end namespace itk
