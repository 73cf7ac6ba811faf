/*=========================================================================
 *  ITKStochasticMicrostructure
 *  Licensed under the Apache License, Version 2.0
 *=========================================================================*/
#ifndef itkMicrostructureStackMeasurement_hxx
#define itkMicrostructureStackMeasurement_hxx

#include "itkMicrostructureStackMeasurement.h"
#include "itkDiscreteGaussianImageFilter.h"
#include "itkMicrostructureIO.h"
#include "itkMultiThreaderBase.h"
#include "itkPlatformMultiThreader.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace itk
{
template <typename TInputImage>
MicrostructureStackMeasurement<TInputImage>::MicrostructureStackMeasurement()
{
  // The slices run on threads of their own, not on ITK's pool: some filters inside (the
  // histogram of a float slice) send work to the pool regardless of their work-unit setting,
  // and pool threads waiting on pool work can deadlock.
  this->SetMultiThreader(PlatformMultiThreader::New());
}

template <typename TInputImage>
void
MicrostructureStackMeasurement<TInputImage>::VerifyPreconditions() ITKv5_CONST
{
  Superclass::VerifyPreconditions();
  if (m_LineSpacing == 0)
  {
    itkExceptionMacro(<< "LineSpacing is 0; it is the number of pixels between test lines and must be at least 1.");
  }
  if (!(m_SmoothingSigma >= 0.0) || !std::isfinite(m_SmoothingSigma))
  {
    itkExceptionMacro(<< "SmoothingSigma is " << m_SmoothingSigma
                      << "; give the Gaussian's standard deviation in pixels (0 = no smoothing).");
  }
  if (!m_InputIsBinary && m_NumberOfHistogramBins < 2)
  {
    itkExceptionMacro(<< "NumberOfHistogramBins is " << m_NumberOfHistogramBins
                      << "; Otsu's method needs at least 2 bins (256 is the usual choice).");
  }
}

template <typename TInputImage>
void
MicrostructureStackMeasurement<TInputImage>::BeforeStreamedGenerateData()
{
  Superclass::BeforeStreamedGenerateData();
  m_Measurements.clear();
  m_Segmentation = nullptr;
  const InputImageType * input = this->GetInput();
  if (input->GetLargestPossibleRegion().GetNumberOfPixels() == 0)
  {
    itkExceptionMacro(<< "The input stack is empty (size " << input->GetLargestPossibleRegion().GetSize()
                      << "); give a 3D stack of 2D patches (or one 2D image) with at least one pixel.");
  }
  if (m_KeepSegmentation)
  {
    m_Segmentation = SegmentationImageType::New();
    m_Segmentation->CopyInformation(input);
    m_Segmentation->SetRegions(input->GetLargestPossibleRegion());
    m_Segmentation->Allocate();
  }
}

template <typename TInputImage>
void
MicrostructureStackMeasurement<TInputImage>::StreamedGenerateData(unsigned int)
{
  const InputImageType * input = this->GetInput();
  if (input->GetBufferedRegion() != input->GetLargestPossibleRegion())
  {
    itkExceptionMacro(<< "The input's buffered region " << input->GetBufferedRegion()
                      << " is not the whole stack; update the input with its largest possible region.");
  }
  if (!m_InputIsBinary)
  {
    CheckFinitePixels(input, "The input image of MicrostructureStackMeasurement");
  }
  const SizeValueType numberOfSlices =
    ImageDimension == 3 ? input->GetLargestPossibleRegion().GetSize(ImageDimension - 1) : 1;
  m_Measurements.clear();
  m_Measurements.resize(numberOfSlices);

  // Each slice is measured on one thread by single-threaded filters; the slices run in parallel.
  MultiThreaderBase * threader = this->GetMultiThreader();
  threader->SetNumberOfWorkUnits(this->GetNumberOfWorkUnits());
  threader->ParallelizeArray(
    0, numberOfSlices, [this](SizeValueType k) { m_Measurements[k] = this->MeasureSlice(k); }, this);
}

template <typename TInputImage>
template <typename TSlice>
auto
MicrostructureStackMeasurement<TInputImage>::Otsu(TSlice * slice, double & threshold) const ->
  typename LabelSliceType::Pointer
{
  auto otsu = OtsuPhaseSegmentationImageFilter<TSlice, LabelSliceType>::New();
  otsu->SetInput(slice);
  otsu->SetForegroundPhase(m_ForegroundPhase);
  otsu->SetNumberOfHistogramBins(m_NumberOfHistogramBins);
  otsu->SetNumberOfWorkUnits(1);
  otsu->Update();
  typename LabelSliceType::Pointer labels = otsu->GetOutput();
  labels->DisconnectPipeline();
  threshold = static_cast<double>(otsu->GetThresholds().front());
  return labels;
}

template <typename TInputImage>
auto
MicrostructureStackMeasurement<TInputImage>::MeasureSlice(SizeValueType k) const -> MeasurementType
{
  const InputImageType * input = this->GetInput();
  const auto             size = input->GetLargestPossibleRegion().GetSize();
  const SizeValueType    sliceSize = size[0] * size[1];
  const InputPixelType * source = input->GetBufferPointer() + k * sliceSize;

  typename LabelSliceType::SpacingType spacing;
  spacing[0] = input->GetSpacing()[0];
  spacing[1] = input->GetSpacing()[1];
  typename LabelSliceType::RegionType region;
  region.SetSize(0, size[0]);
  region.SetSize(1, size[1]);

  MeasurementType m;
  m.SliceIndex = k;
  m.PixelSizeX = spacing[0];
  m.PixelSizeY = spacing[1];

  typename LabelSliceType::Pointer labels;
  if (m_InputIsBinary)
  {
    labels = LabelSliceType::New();
    labels->SetRegions(region);
    labels->SetSpacing(spacing);
    labels->Allocate();
    LabelPixelType *     out = labels->GetBufferPointer();
    const InputPixelType fg = m_ForegroundValue;
    for (SizeValueType i = 0; i < sliceSize; ++i)
    {
      out[i] = (source[i] == fg) ? 1 : 0;
    }
  }
  else
  {
    auto gray = GraySliceType::New();
    gray->SetRegions(region);
    gray->SetSpacing(spacing);
    gray->Allocate();
    std::copy(source, source + sliceSize, gray->GetBufferPointer());
    if (m_SmoothingSigma > 0)
    {
      // Smoothed in float, whatever the input type (an 8-bit slice would be rounded back to its levels).
      auto smooth = DiscreteGaussianImageFilter<GraySliceType, SmoothSliceType>::New();
      smooth->SetInput(gray);
      smooth->SetUseImageSpacing(false);
      smooth->SetVariance(m_SmoothingSigma * m_SmoothingSigma);
      smooth->SetMaximumError(0.001);
      smooth->SetMaximumKernelWidth(64);
      smooth->SetNumberOfWorkUnits(1);
      labels = Otsu<SmoothSliceType>(smooth->GetOutput(), m.OtsuThreshold);
    }
    else
    {
      labels = Otsu<GraySliceType>(gray, m.OtsuThreshold);
    }
  }

  if (m_Segmentation)
  {
    std::copy(labels->GetBufferPointer(),
              labels->GetBufferPointer() + sliceSize,
              m_Segmentation->GetBufferPointer() + k * sliceSize);
  }

  auto descriptors = DescriptorsFilterType::New();
  descriptors->SetInput(labels);
  descriptors->SetForegroundValue(1);
  descriptors->SetLineSpacing(m_LineSpacing);
  descriptors->SetLineOffset(m_LineOffset);
  descriptors->SetEdgeRule(m_EdgeRule);
  descriptors->SetIncludeEdgeChords(m_IncludeEdgeChords);
  descriptors->SetNumberOfWorkUnits(1);
  descriptors->Update();

  using Phase = MicrostructureDescriptorsEnums::Phase;
  using Direction = MicrostructureDescriptorsEnums::Direction;
  const auto & h = descriptors->GetHorizontalIntercepts();
  const auto & v = descriptors->GetVerticalIntercepts();
  m.VolumeFraction = descriptors->GetVolumeFraction();
  m.MeanFreePathHorizontal = h.MeanFreePath;
  m.MeanFreePathVertical = v.MeanFreePath;
  m.MeanFreePath = descriptors->GetMeanFreePath();
  m.MeanFreePathHorizontalPhysical = h.MeanFreePathPhysical;
  m.MeanFreePathVerticalPhysical = v.MeanFreePathPhysical;
  m.MeanFreePathPhysical = descriptors->GetMeanFreePathPhysical();
  m.InterceptCountHorizontal = h.InterceptCount;
  m.InterceptCountVertical = v.InterceptCount;
  m.TestLineLengthHorizontal = h.TestLineLength;
  m.TestLineLengthVertical = v.TestLineLength;
  m.ForegroundLineLengthHorizontal = h.ForegroundLength;
  m.ForegroundLineLengthVertical = v.ForegroundLength;
  m.MeanChordLengthForegroundHorizontal = descriptors->GetMeanChordLength(Phase::Foreground, Direction::Horizontal);
  m.MeanChordLengthForegroundVertical = descriptors->GetMeanChordLength(Phase::Foreground, Direction::Vertical);
  m.MeanChordLengthBackgroundHorizontal = descriptors->GetMeanChordLength(Phase::Background, Direction::Horizontal);
  m.MeanChordLengthBackgroundVertical = descriptors->GetMeanChordLength(Phase::Background, Direction::Vertical);
  m.GrainSizeNumber = descriptors->GetGrainSizeNumber();
  if (m_ChordHistograms)
  {
    m.ChordHistograms[0] = descriptors->GetChordLengthHistogram(Phase::Foreground, Direction::Horizontal);
    m.ChordHistograms[1] = descriptors->GetChordLengthHistogram(Phase::Foreground, Direction::Vertical);
    m.ChordHistograms[2] = descriptors->GetChordLengthHistogram(Phase::Background, Direction::Horizontal);
    m.ChordHistograms[3] = descriptors->GetChordLengthHistogram(Phase::Background, Direction::Vertical);
  }

  auto particles = ParticlesFilterType::New();
  particles->SetInput(labels);
  particles->SetForegroundValue(1);
  particles->Update();
  m.ParticlesCounted = static_cast<double>(particles->GetNumberOfCountedParticles());
  m.ParticleDensityPhysical = particles->GetParticleDensity();
  m.MeanParticleDiameter = particles->GetMeanEquivalentDiameter();
  m.MeanParticleDiameterPhysical = particles->GetMeanEquivalentDiameterPhysical();
  if (m_KeepParticles)
  {
    m.Particles = particles->GetParticles();
  }

  if (m_ComputeCorrelation)
  {
    auto s2 = CorrelationFilterType::New();
    s2->SetInput(labels);
    s2->SetForegroundValue(1);
    s2->SetMaximumDistance(m_CorrelationMaximumDistance);
    s2->SetNumberOfWorkUnits(1);
    s2->Update();
    m.CorrelationX = s2->GetXCurve();
    m.CorrelationY = s2->GetYCurve();
    m.CorrelationRadial = s2->GetRadialCurve();
  }
  return m;
}

template <typename TInputImage>
void
MicrostructureStackMeasurement<TInputImage>::PrintSelf(std::ostream & os, Indent indent) const
{
  Superclass::PrintSelf(os, indent);
  os << indent << "InputIsBinary: " << (m_InputIsBinary ? "On" : "Off") << std::endl;
  os << indent
     << "ForegroundValue: " << static_cast<typename NumericTraits<InputPixelType>::PrintType>(m_ForegroundValue)
     << std::endl;
  os << indent << "ForegroundPhase: " << m_ForegroundPhase << std::endl;
  os << indent << "NumberOfHistogramBins: " << m_NumberOfHistogramBins << std::endl;
  os << indent << "LineSpacing: " << m_LineSpacing << std::endl;
  os << indent << "LineOffset: " << m_LineOffset << std::endl;
  os << indent << "EdgeRule: " << m_EdgeRule << std::endl;
  os << indent << "IncludeEdgeChords: " << (m_IncludeEdgeChords ? "On" : "Off") << std::endl;
  os << indent << "ChordHistograms: " << (m_ChordHistograms ? "On" : "Off") << std::endl;
  os << indent << "SmoothingSigma: " << m_SmoothingSigma << std::endl;
  os << indent << "KeepParticles: " << (m_KeepParticles ? "On" : "Off") << std::endl;
  os << indent << "ComputeCorrelation: " << (m_ComputeCorrelation ? "On" : "Off") << std::endl;
  os << indent << "CorrelationMaximumDistance: " << m_CorrelationMaximumDistance << std::endl;
  os << indent << "KeepSegmentation: " << (m_KeepSegmentation ? "On" : "Off") << std::endl;
  os << indent << "Measurements: " << m_Measurements.size() << " slices" << std::endl;
}
} // end namespace itk

#endif
