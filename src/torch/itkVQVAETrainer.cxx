/*=========================================================================
 * itk::VQVAETrainer: mini-batch training of itk::VQVAEModel with
 * validation, a CSV log and exact-resume checkpoints (itkVQVAETrainer.h).
 *=========================================================================*/
#include "itkVQVAETrainer.h"
#include "itkDataParallel.h"
#include "itkMicrostructureStackMeasurement.h"
#include "itkModelFileFormat.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <sstream>

namespace itk
{

namespace
{
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

NetworkTrainerBase::StateLines
VQVAETrainer::SaveEpochState() const
{
  using modelfile::Exact;
  return { { "flips", std::to_string(m_RandomFlips) },
           { "epoch_sums", Exact(m_EpochLossSum) + " " + Exact(m_EpochPerplexitySum) + " " + Exact(m_EpochCodesSum) } };
}

void
VQVAETrainer::RestoreEpochState(const StateValue & value)
{
  if ((std::stoi(value("flips")) != 0) != m_RandomFlips)
  {
    itkExceptionMacro(<< "the checkpoint was made with random flips " << (m_RandomFlips ? "off" : "on")
                      << ", this run has them " << (m_RandomFlips ? "on" : "off")
                      << ": resume with the same settings, or start a new run");
  }
  std::istringstream sums(value("epoch_sums"));
  sums >> m_EpochLossSum >> m_EpochPerplexitySum >> m_EpochCodesSum;
}

void
VQVAETrainer::RestoreRecords(const MicrostructureTable & log)
{
  m_EpochRecords.clear();
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

size_t
VQVAETrainer::PrepareTraining()
{
  const auto * train = this->GetTrainingImages();
  if (!train)
  {
    itkExceptionMacro(<< "no training images: SetTrainingImages() with a 3D stack of patches");
  }
  const auto         size = train->GetLargestPossibleRegion().GetSize();
  const unsigned int f = m_Model->GetDownsamplingFactor();
  if (size[0] % f != 0 || size[1] % f != 0)
  {
    itkExceptionMacro(<< "patches of " << size[0] << " x " << size[1]
                      << " px cannot be encoded by this model: the sides must be multiples of " << f
                      << " (2^number of downsamplings); cut patches of e.g. 128 x 128");
  }
  if (this->GetBatchSize() < 2)
  {
    itkExceptionMacro(<< "batch size " << this->GetBatchSize()
                      << " is too small: batch normalisation needs at least 2");
  }
  if (const auto * val = this->GetValidationImages())
  {
    const auto vs = val->GetLargestPossibleRegion().GetSize();
    if (vs[0] != size[0] || vs[1] != size[1])
    {
      itkExceptionMacro(<< "validation patches are " << vs[0] << " x " << vs[1] << " px, training patches " << size[0]
                        << " x " << size[1] << ": give both from one dataset");
    }
  }
  m_OriginalVolumeFraction.clear();
  m_OriginalMeanFreePath.clear();
  return size[2];
}

double
VQVAETrainer::TrainBatch(const uint32_t * items, const uint8_t * flips, unsigned int count)
{
  // (The batch normalisation and the codebook's statistics are the whole batch's, over all processes
  // of a data-parallel job: itkVQVAENetwork.h.)
  const auto *       train = this->GetTrainingImages();
  const auto         size = train->GetLargestPossibleRegion().GetSize();
  const auto         w = static_cast<unsigned int>(size[0]), h = static_cast<unsigned int>(size[1]);
  const size_t       perImage = static_cast<size_t>(w) * h;
  std::vector<float> batch(count * perImage);
  for (unsigned int j = 0; j < count; ++j)
  {
    const float * src = train->GetBufferPointer() + static_cast<size_t>(items[j]) * perImage;
    float *       dst = batch.data() + j * perImage;
    const bool    fx = flips && (flips[j] & 1u), fy = flips && (flips[j] & 2u);
    for (unsigned int y = 0; y < h; ++y)
    {
      const float * row = src + static_cast<size_t>(fy ? h - 1 - y : y) * w;
      for (unsigned int x = 0; x < w; ++x)
      {
        dst[static_cast<size_t>(y) * w + x] = static_cast<float>(m_Model->NormalizeIntensity(row[fx ? w - 1 - x : x]));
      }
    }
  }
  auto               result = m_Model->TrainStep(batch.data(), count, h, w);
  const unsigned int processes = DataParallel::GetWorldSize();
  if (processes > 1) // the whole batch's losses (perplexity and codes in use are already)
  {
    const auto sums = DataParallel::AllReduceSum({ result.ReconstructionLoss, result.TotalLoss });
    result.ReconstructionLoss = sums[0] / processes;
    result.TotalLoss = sums[1] / processes;
  }
  m_EpochLossSum += result.ReconstructionLoss;
  m_EpochPerplexitySum += result.Perplexity;
  m_EpochCodesSum += result.CodesInUse;
  return result.TotalLoss;
}

void
VQVAETrainer::RecordEpoch(unsigned int epoch, unsigned long step, double seconds, unsigned int batches, bool validate)
{
  EpochRecord r;
  r.Epoch = epoch;
  r.Step = step;
  r.Seconds = seconds;
  const double b = std::max(1u, batches);
  r.TrainReconstructionLoss = m_EpochLossSum / b;
  r.TrainPerplexity = m_EpochPerplexitySum / b;
  r.TrainCodesInUse = m_EpochCodesSum / b;
  if (validate)
    this->Validate(r);
  m_EpochRecords.push_back(r);
}

void
VQVAETrainer::PrintSelf(std::ostream & os, Indent indent) const
{
  Superclass::PrintSelf(os, indent);
  os << indent << "Model: " << m_Model.GetPointer() << '\n'
     << indent << "RandomFlips: " << m_RandomFlips << '\n'
     << indent << "MaximumValidationPatches: " << m_MaximumValidationPatches << '\n'
     << indent << "MeasureDescriptors: " << m_MeasureDescriptors << '\n'
     << indent << "EpochRecords: " << m_EpochRecords.size() << '\n';
}

} // end namespace itk
