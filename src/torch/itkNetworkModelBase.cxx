/*=========================================================================
 * itk::NetworkModelBase: what the VQ-VAE and the prior share (device,
 * precision, Adam, seed, training steps, checkpoint state;
 * itkNetworkModelBase.h).
 *=========================================================================*/
#include "itkNetworkModelBase.h"
#include "itkModelFileFormat.h"
#include "itkNetworkModelState.h"

#include <cmath>

namespace itk
{

NetworkModelBase::NetworkModelBase(double learningRate, unsigned int inferenceBatchSize)
  : m_TorchState(std::make_unique<TorchState>())
  , m_LearningRate(learningRate)
  , m_InferenceBatchSize(inferenceBatchSize)
{}

NetworkModelBase::~NetworkModelBase() = default;

void
NetworkModelBase::SetDevice(const std::string & device)
{
  std::string         warning;
  const torch::Device resolved = torchsupport::ResolveDevice(device, warning);
  if (!warning.empty())
  {
    itkWarningMacro(<< warning);
  }
  m_Device = device;
  m_TorchState->device = resolved;
  if (this->IsInitialized())
  {
    m_TorchState->optimizer.Park(); // Adam's moments follow to the new device
    this->MoveNetworkToDevice();
    m_TorchState->averager.reset(); // its buckets live on the old device
  }
  this->Modified();
}

std::string
NetworkModelBase::GetDeviceInUse() const
{
  return m_TorchState->device.str();
}

void
NetworkModelBase::SetPrecision(const std::string & precision)
{
  // Throws for an unknown name or one this device cannot run.
  torchsupport::ResolvePrecision(precision, m_TorchState->device);
  if (precision != m_Precision)
  {
    m_Precision = precision;
    this->Modified();
  }
}

std::string
NetworkModelBase::GetPrecisionInUse() const
{
  return torchsupport::ResolvePrecision(m_Precision, m_TorchState->device);
}

void
NetworkModelBase::SetLearningRate(double rate)
{
  if (!(rate > 0.0) || !std::isfinite(rate))
  {
    itkExceptionMacro(<< "learning rate must be a finite number > 0, it is " << rate);
  }
  m_LearningRate = rate;
  m_TorchState->optimizer.SetLearningRate(rate);
  this->Modified();
}

void
NetworkModelBase::ResetTraining()
{
  m_TorchState->Reset();
  m_NumberOfTrainingSteps = 0;
  m_HasTrainingState = false;
  m_TrainerState.clear();
}

void
NetworkModelBase::AppendTrainingHeader(HeaderLines & header, HeaderLines & sections, bool checkpoint) const
{
  header.push_back({ "seed", std::to_string(m_Seed) });
  header.push_back({ "training_steps", std::to_string(m_NumberOfTrainingSteps) });
  header.push_back({ "training_summary", m_TrainingSummary });
  if (checkpoint)
  {
    header.push_back({ "learning_rate", modelfile::Exact(m_LearningRate) });
    header.push_back({ "trainer_state", m_TrainerState });
    sections.push_back({ "optimizer", m_TorchState->optimizer.Save() });
  }
}

void
NetworkModelBase::CommitRead(const modelfile::Contents & file, uint64_t seed, unsigned long steps)
{
  const bool checkpoint = file.Sections.count("optimizer") > 0;
  m_Seed = seed;
  m_NumberOfTrainingSteps = steps;
  m_TrainingSummary = file.Get("training_summary");
  m_TorchState->averager.reset();
  m_TorchState->optimizer.SetPending(checkpoint ? file.Section("optimizer") : std::string());
  m_HasTrainingState = checkpoint;
  m_TrainerState = checkpoint ? file.Get("trainer_state") : std::string();
}

void
NetworkModelBase::PrintSelf(std::ostream & os, Indent indent) const
{
  Superclass::PrintSelf(os, indent);
  os << indent << "Seed: " << m_Seed << '\n'
     << indent << "Device: " << m_Device << " (in use: " << this->GetDeviceInUse() << ")\n"
     << indent << "Precision: " << m_Precision << " (in use: " << this->GetPrecisionInUse() << ")\n"
     << indent << "LearningRate: " << m_LearningRate << '\n'
     << indent << "InferenceBatchSize: " << m_InferenceBatchSize << '\n'
     << indent << "NumberOfTrainingSteps: " << m_NumberOfTrainingSteps << '\n'
     << indent << "Initialized: " << (this->IsInitialized() ? "yes" : "no") << '\n'
     << indent << "HasTrainingState: " << (m_HasTrainingState ? "yes" : "no") << '\n'
     << indent << "TrainingSummary: " << m_TrainingSummary << '\n';
}

} // end namespace itk
