/*=========================================================================
 *  ITKStochasticMicrostructure
 *  Licensed under the Apache License, Version 2.0
 *=========================================================================*/
#ifndef itkOtsuPhaseSegmentationImageFilter_hxx
#define itkOtsuPhaseSegmentationImageFilter_hxx

#include "itkOtsuPhaseSegmentationImageFilter.h"

#include "itkCommand.h"
#include "itkOtsuThresholdImageFilter.h"
#include "itkProgressAccumulator.h"
#include "itkSliceBySliceImageFilter.h"

#include <algorithm>
#include <limits>

namespace itk
{
template <typename TInputImage, typename TOutputImage>
OtsuPhaseSegmentationImageFilter<TInputImage, TOutputImage>::OtsuPhaseSegmentationImageFilter()
{
  this->SetNumberOfRequiredInputs(1);
}

template <typename TInputImage, typename TOutputImage>
void
OtsuPhaseSegmentationImageFilter<TInputImage, TOutputImage>::VerifyPreconditions() ITKv5_CONST
{
  Superclass::VerifyPreconditions();
  if (m_NumberOfHistogramBins < 2)
  {
    itkExceptionMacro(<< "NumberOfHistogramBins is " << m_NumberOfHistogramBins
                      << "; Otsu's method needs at least 2 bins (256 is the usual choice).");
  }
}

template <typename TInputImage, typename TOutputImage>
void
OtsuPhaseSegmentationImageFilter<TInputImage, TOutputImage>::GenerateOutputInformation()
{
  Superclass::GenerateOutputInformation();
  const InputImageType * input = this->GetInput();
  if (input->GetLargestPossibleRegion().GetNumberOfPixels() == 0)
  {
    itkExceptionMacro(<< "The input image is empty (size " << input->GetLargestPossibleRegion().GetSize()
                      << "); give a 2D micrograph or a 3D stack of 2D patches with at least one pixel.");
  }
}

template <typename TInputImage, typename TOutputImage>
void
OtsuPhaseSegmentationImageFilter<TInputImage, TOutputImage>::GenerateInputRequestedRegion()
{
  Superclass::GenerateInputRequestedRegion();
  if (auto * input = const_cast<InputImageType *>(this->GetInput()))
  {
    input->SetRequestedRegionToLargestPossibleRegion();
  }
}

template <typename TInputImage, typename TOutputImage>
void
OtsuPhaseSegmentationImageFilter<TInputImage, TOutputImage>::EnlargeOutputRequestedRegion(DataObject * output)
{
  Superclass::EnlargeOutputRequestedRegion(output);
  output->SetRequestedRegionToLargestPossibleRegion();
}

template <typename TInputImage, typename TOutputImage>
void
OtsuPhaseSegmentationImageFilter<TInputImage, TOutputImage>::GenerateData()
{
  // HistogramThresholdImageFilter: pixels <= threshold are "inside".
  const bool            bright = (m_ForegroundPhase == ForegroundPhaseEnum::Bright);
  const OutputPixelType one = NumericTraits<OutputPixelType>::OneValue();
  const OutputPixelType zero = NumericTraits<OutputPixelType>::ZeroValue();
  const OutputPixelType inside = bright ? zero : one;
  const OutputPixelType outside = bright ? one : zero;

  m_Thresholds.clear();

  auto progress = ProgressAccumulator::New();
  progress->SetMiniPipelineFilter(this);

  using SliceInputType = Image<InputPixelType, 2>;
  using SliceOutputType = Image<OutputPixelType, 2>;
  using OtsuType = OtsuThresholdImageFilter<SliceInputType, SliceOutputType>;

  if constexpr (ImageDimension == 2)
  {
    auto otsu = OtsuType::New();
    otsu->SetInput(this->GetInput());
    otsu->SetNumberOfHistogramBins(m_NumberOfHistogramBins);
    otsu->SetInsideValue(inside);
    otsu->SetOutsideValue(outside);
    otsu->SetNumberOfWorkUnits(this->GetNumberOfWorkUnits());
    progress->RegisterInternalFilter(otsu, 1.0f);
    otsu->GraftOutput(this->GetOutput());
    otsu->Update();
    this->GraftOutput(otsu->GetOutput());
    m_Thresholds.push_back(static_cast<double>(otsu->GetThreshold()));
  }
  else
  {
    using SliceBySliceType = SliceBySliceImageFilter<InputImageType, OutputImageType, OtsuType, OtsuType>;
    auto otsu = OtsuType::New();
    otsu->SetNumberOfHistogramBins(m_NumberOfHistogramBins);
    otsu->SetInsideValue(inside);
    otsu->SetOutsideValue(outside);
    otsu->SetNumberOfWorkUnits(this->GetNumberOfWorkUnits());

    // The inner filter ends once per slice: record its threshold then.
    const OtsuType * otsuRaw = otsu.GetPointer();
    otsu->AddObserver(EndEvent(), [this, otsuRaw](const EventObject &) {
      m_Thresholds.push_back(static_cast<double>(otsuRaw->GetThreshold()));
    });

    auto slicer = SliceBySliceType::New();
    slicer->SetInput(this->GetInput());
    slicer->SetFilter(otsu);
    slicer->SetDimension(ImageDimension - 1);
    slicer->SetNumberOfWorkUnits(this->GetNumberOfWorkUnits());
    progress->RegisterInternalFilter(slicer, 1.0f);
    slicer->GraftOutput(this->GetOutput());
    slicer->Update();
    this->GraftOutput(slicer->GetOutput());
  }

  // Otsu is undefined on a slice without contrast, and ITK's calculator then returns an
  // arbitrary threshold (0 for 8-bit input, so a constant 100 would become all foreground).
  // Make it explicit: a constant slice has no threshold (NaN) and no foreground (all 0).
  const InputImageType * input = this->GetInput();
  OutputImageType *      output = this->GetOutput();
  const auto             size = input->GetLargestPossibleRegion().GetSize();
  const SizeValueType    sliceSize = size[0] * size[1];
  const InputPixelType * in = input->GetBufferPointer();
  OutputPixelType *      out = output->GetBufferPointer();
  for (std::size_t k = 0; k < m_Thresholds.size(); ++k)
  {
    const InputPixelType * first = in + k * sliceSize;
    const InputPixelType   v = first[0];
    if (std::all_of(first, first + sliceSize, [v](InputPixelType p) { return p == v; }))
    {
      m_Thresholds[k] = std::numeric_limits<double>::quiet_NaN();
      std::fill(out + k * sliceSize, out + (k + 1) * sliceSize, zero);
    }
  }
}

template <typename TInputImage, typename TOutputImage>
void
OtsuPhaseSegmentationImageFilter<TInputImage, TOutputImage>::PrintSelf(std::ostream & os, Indent indent) const
{
  Superclass::PrintSelf(os, indent);
  os << indent << "ForegroundPhase: " << m_ForegroundPhase << std::endl;
  os << indent << "NumberOfHistogramBins: " << m_NumberOfHistogramBins << std::endl;
  os << indent << "Thresholds: " << m_Thresholds.size() << " values" << std::endl;
}
} // end namespace itk

#endif
