/*=========================================================================
 * itk::PixelCNNPriorTrainer: mini-batch training of the conditional
 * PixelCNN prior with validation NLL, a CSV log and exact-resume
 * checkpoints (itkPixelCNNPriorTrainer.h).
 *=========================================================================*/
#include "itkPixelCNNPriorTrainer.h"
#include "itkDataParallel.h"
#include "itkModelFileFormat.h"

#include <cmath>

namespace itk
{

namespace
{
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

NetworkTrainerBase::StateLines
PixelCNNPriorTrainer::SaveEpochState() const
{
  return { { "epoch_sum", modelfile::Exact(m_EpochBitsSum) } };
}

void
PixelCNNPriorTrainer::RestoreEpochState(const StateValue & value)
{
  m_EpochBitsSum = std::stod(value("epoch_sum"));
}

void
PixelCNNPriorTrainer::RestoreRecords(const MicrostructureTable & log)
{
  m_EpochRecords.clear();
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

size_t
PixelCNNPriorTrainer::PrepareTraining()
{
  if (!m_TrainingMaps)
  {
    itkExceptionMacro(<< "no training maps: SetTrainingMaps() with a stack of index maps and one condition per map");
  }
  const auto   size = m_TrainingMaps->GetLargestPossibleRegion().GetSize();
  const size_t n = size[2];
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
  m_MapWidth = static_cast<unsigned int>(size[0]);
  m_MapHeight = static_cast<unsigned int>(size[1]);
  m_TrainingIndices = MapsToIndices(m_TrainingMaps, m_Model->GetCodebookSize());
  m_Model->EncodeConditions(m_TrainingConditions, static_cast<unsigned int>(n)); // bad conditions fail now
  return n;
}

double
PixelCNNPriorTrainer::TrainBatch(const uint32_t * items, const uint8_t *, unsigned int count)
{
  const size_t           per = static_cast<size_t>(m_MapWidth) * m_MapHeight;
  std::vector<int32_t>   batch(count * per);
  std::vector<Condition> conditions(count);
  for (unsigned int j = 0; j < count; ++j)
  {
    std::copy_n(m_TrainingIndices.data() + items[j] * per, per, batch.data() + j * per);
    conditions[j] = m_TrainingConditions[items[j]];
  }
  auto               result = m_Model->TrainStep(batch.data(), count, m_MapHeight, m_MapWidth, conditions);
  const unsigned int processes = DataParallel::GetWorldSize();
  if (processes > 1)
  {
    result.Loss = DataParallel::AllReduceSum({ result.Loss })[0] / processes;
    result.BitsPerIndex = result.Loss / std::log(2.0);
  }
  m_EpochBitsSum += result.BitsPerIndex;
  return result.Loss;
}

void
PixelCNNPriorTrainer::RecordEpoch(unsigned int epoch, unsigned long step, double seconds, unsigned int batches,
                                  bool validate)
{
  EpochRecord r;
  r.Epoch = epoch;
  r.Step = step;
  r.Seconds = seconds;
  r.TrainBitsPerIndex = m_EpochBitsSum / batches;
  if (m_ValidationMaps && validate)
  {
    r.ValidationMaps = static_cast<unsigned int>(m_ValidationConditions.size());
    r.ValidationBitsPerIndex = this->ValidationBits();
  }
  m_EpochRecords.push_back(r);
}

void
PixelCNNPriorTrainer::PrintSelf(std::ostream & os, Indent indent) const
{
  Superclass::PrintSelf(os, indent);
  os << indent << "Model: " << m_Model.GetPointer() << '\n'
     << indent << "TrainingMaps: " << m_TrainingConditions.size() << '\n'
     << indent << "ValidationMaps: " << m_ValidationConditions.size() << '\n'
     << indent << "EpochRecords: " << m_EpochRecords.size() << '\n';
}

} // end namespace itk
