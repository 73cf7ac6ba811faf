/*=========================================================================
 *  ITKStochasticMicrostructure
 *  Licensed under the Apache License, Version 2.0
 *=========================================================================*/
#ifndef itkMicrostructureParticlesImageFilter_hxx
#define itkMicrostructureParticlesImageFilter_hxx

#include "itkMicrostructureParticlesImageFilter.h"

#include <cmath>
#include <limits>

namespace itk
{
template <typename TInputImage>
MicrostructureParticlesImageFilter<TInputImage>::MicrostructureParticlesImageFilter()
{
  const RealType nan = std::numeric_limits<RealType>::quiet_NaN();
  // Creates the decorated outputs (itkSetDecoratedOutputMacro makes them on first use).
  Self::SetParticleDensity(nan);
  Self::SetMeanEquivalentDiameter(nan);
  Self::SetMeanEquivalentDiameterPhysical(nan);
}

template <typename TInputImage>
DataObject::Pointer
MicrostructureParticlesImageFilter<TInputImage>::MakeOutput(const DataObjectIdentifierType & name)
{
  if (name == "ParticleDensity" || name == "MeanEquivalentDiameter" || name == "MeanEquivalentDiameterPhysical")
  {
    return RealObjectType::New();
  }
  return Superclass::MakeOutput(name);
}

template <typename TInputImage>
void
MicrostructureParticlesImageFilter<TInputImage>::GenerateData()
{
  this->AllocateOutputs();
  this->CheckWholeInputBuffered();
  const InputImageType *     input = this->GetInput();
  const auto                 size = input->GetLargestPossibleRegion().GetSize();
  const SizeValueType        n = size[0] * size[1];
  const PixelType *          pixels = input->GetBufferPointer();
  const PixelType            fg = m_ForegroundValue;
  std::vector<unsigned char> mask(n);
  for (SizeValueType i = 0; i < n; ++i)
  {
    mask[i] = static_cast<unsigned char>(pixels[i] == fg);
  }
  m_Particles = LabelMicrostructureParticles(mask.data(), size[0], size[1], m_FullyConnected, m_Labeling);

  const double sx = input->GetSpacing()[0], sy = input->GetSpacing()[1];
  double       weights = 0.0, sum = 0.0, sumPhysical = 0.0;
  m_NumberOfCountedParticles = 0;
  m_NumberOfInteriorParticles = 0;
  for (auto & p : m_Particles)
  {
    p.EquivalentDiameterPhysical = 2.0 * std::sqrt(static_cast<double>(p.Area) * sx * sy / M_PI);
    m_NumberOfCountedParticles += p.Counted ? 1 : 0;
    if (p.TouchesEdge)
      continue;
    ++m_NumberOfInteriorParticles;
    weights += p.Weight;
    sum += p.Weight * p.EquivalentDiameter;
    sumPhysical += p.Weight * p.EquivalentDiameterPhysical;
  }
  const RealType nan = std::numeric_limits<RealType>::quiet_NaN();
  const double   frame = static_cast<double>(size[0] - 1) * static_cast<double>(size[1] - 1) * sx * sy;
  this->SetParticleDensity(frame > 0 ? static_cast<double>(m_NumberOfCountedParticles) / frame : nan);
  this->SetMeanEquivalentDiameter(weights > 0 ? sum / weights : nan);
  this->SetMeanEquivalentDiameterPhysical(weights > 0 ? sumPhysical / weights : nan);
}

template <typename TInputImage>
void
MicrostructureParticlesImageFilter<TInputImage>::PrintSelf(std::ostream & os, Indent indent) const
{
  Superclass::PrintSelf(os, indent);
  os << indent << "ForegroundValue: " << static_cast<typename NumericTraits<PixelType>::PrintType>(m_ForegroundValue)
     << std::endl;
  os << indent << "FullyConnected: " << (m_FullyConnected ? "On" : "Off") << std::endl;
  os << indent << "Labeling: " << m_Labeling << std::endl;
  os << indent << "Particles: " << m_Particles.size() << " (counted " << m_NumberOfCountedParticles << ", interior "
     << m_NumberOfInteriorParticles << ")" << std::endl;
}
} // end namespace itk

#endif
