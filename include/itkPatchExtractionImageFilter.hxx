/*=========================================================================
 *  ITKStochasticMicrostructure
 *  Licensed under the Apache License, Version 2.0
 *=========================================================================*/
#ifndef itkPatchExtractionImageFilter_hxx
#define itkPatchExtractionImageFilter_hxx

#include "itkPatchExtractionImageFilter.h"

#include "itkDiscreteGaussianImageFilter.h"
#include "itkFlipImageFilter.h"
#include "itkLinearInterpolateImageFunction.h"
#include "itkProgressReporter.h"
#include "itkRegionOfInterestImageFilter.h"
#include "itkResampleImageFilter.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace itk
{
template <typename TInputImage, typename TOutputImage>
bool
PatchExtractionImageFilter<TInputImage, TOutputImage>::Resamples() const
{
  return m_PhysicalPatchSize > 0.0 || m_OutputPixelSize > 0.0;
}

template <typename TInputImage, typename TOutputImage>
void
PatchExtractionImageFilter<TInputImage, TOutputImage>::ComputeSourceGeometry(
  typename InputImageType::SizeType & size, typename InputImageType::SpacingType & spacing,
  typename InputImageType::PointType & origin) const
{
  const InputImageType * input = this->GetInput();
  size = input->GetLargestPossibleRegion().GetSize();
  spacing = input->GetSpacing();
  origin = input->GetOrigin();
  if (!Resamples())
  {
    return;
  }
  const double target = m_PhysicalPatchSize > 0.0 ? m_PhysicalPatchSize / m_PatchSize[0] : m_OutputPixelSize;
  for (unsigned d = 0; d < 2; ++d)
  {
    // Same field of view: the pixel edges stay where they were.
    const double extent = size[d] * spacing[d];
    size[d] = static_cast<SizeValueType>(std::floor(extent / target + 1e-9));
    origin[d] = origin[d] - 0.5 * spacing[d] + 0.5 * target;
    spacing[d] = target;
  }
}

template <typename TInputImage, typename TOutputImage>
void
PatchExtractionImageFilter<TInputImage, TOutputImage>::GenerateOutputInformation()
{
  const InputImageType * input = this->GetInput();
  if (!input)
  {
    itkExceptionMacro(<< "No input micrograph: call SetInput() first.");
  }
  if (input->GetLargestPossibleRegion().GetNumberOfPixels() == 0)
  {
    itkExceptionMacro(<< "The input micrograph is empty (size " << input->GetLargestPossibleRegion().GetSize()
                      << "); give an image with pixels.");
  }
  if (m_PatchSize[0] == 0 || m_PatchSize[1] == 0)
  {
    itkExceptionMacro(<< "PatchSize " << m_PatchSize << " has a zero side; give a patch size such as 128 x 128.");
  }
  if (m_OutputPixelSize < 0.0 || m_PhysicalPatchSize < 0.0 || !std::isfinite(m_OutputPixelSize) ||
      !std::isfinite(m_PhysicalPatchSize))
  {
    itkExceptionMacro(<< "OutputPixelSize (" << m_OutputPixelSize << ") and PhysicalPatchSize (" << m_PhysicalPatchSize
                      << ") must be positive micrometres, or 0 to keep the input's pixel size.");
  }
  typename InputImageType::SizeType    size;
  typename InputImageType::SpacingType spacing;
  typename InputImageType::PointType   origin;
  this->ComputeSourceGeometry(size, spacing, origin);
  m_EffectiveSpacing[0] = spacing[0];
  m_EffectiveSpacing[1] = spacing[1];
  if (size[0] < m_PatchSize[0] || size[1] < m_PatchSize[1])
  {
    itkExceptionMacro(<< "The micrograph (" << size[0] << " x " << size[1] << " pixels"
                      << (Resamples() ? " after resampling" : "") << ") is smaller than a patch (" << m_PatchSize[0]
                      << " x " << m_PatchSize[1] << "): use a smaller PatchSize"
                      << (Resamples() ? " or a smaller pixel size" : "") << ".");
  }
  SizeValueType stride[2];
  SizeValueType count[2];
  for (unsigned d = 0; d < 2; ++d)
  {
    stride[d] = m_Stride[d] > 0 ? m_Stride[d] : m_PatchSize[d];
    count[d] = (size[d] - m_PatchSize[d]) / stride[d] + 1;
  }
  m_PatchCorners.clear();
  const SizeValueType copies = m_HorizontalFlip ? 2 : 1;
  for (SizeValueType j = 0; j < count[1]; ++j)
  {
    for (SizeValueType i = 0; i < count[0]; ++i)
    {
      for (SizeValueType c = 0; c < copies; ++c)
      {
        IndexType index;
        index[0] = static_cast<IndexValueType>(i * stride[0]);
        index[1] = static_cast<IndexValueType>(j * stride[1]);
        m_PatchCorners.push_back({ index, c == 1 });
      }
    }
  }

  OutputImageType *                     output = this->GetOutput();
  typename OutputImageType::RegionType  region;
  typename OutputImageType::SpacingType outSpacing;
  typename OutputImageType::PointType   outOrigin;
  region.SetSize(0, m_PatchSize[0]);
  region.SetSize(1, m_PatchSize[1]);
  region.SetSize(2, m_PatchCorners.size());
  outSpacing[0] = spacing[0];
  outSpacing[1] = spacing[1];
  outSpacing[2] = 1.0;
  outOrigin[0] = origin[0];
  outOrigin[1] = origin[1];
  outOrigin[2] = 0.0;
  output->SetLargestPossibleRegion(region);
  output->SetSpacing(outSpacing);
  output->SetOrigin(outOrigin);
  typename OutputImageType::DirectionType direction;
  direction.SetIdentity();
  output->SetDirection(direction);
}

template <typename TInputImage, typename TOutputImage>
void
PatchExtractionImageFilter<TInputImage, TOutputImage>::GenerateInputRequestedRegion()
{
  Superclass::GenerateInputRequestedRegion();
  if (auto * input = const_cast<InputImageType *>(this->GetInput()))
  {
    input->SetRequestedRegionToLargestPossibleRegion();
  }
}

template <typename TInputImage, typename TOutputImage>
void
PatchExtractionImageFilter<TInputImage, TOutputImage>::EnlargeOutputRequestedRegion(DataObject * output)
{
  Superclass::EnlargeOutputRequestedRegion(output);
  output->SetRequestedRegionToLargestPossibleRegion();
}

template <typename TInputImage, typename TOutputImage>
void
PatchExtractionImageFilter<TInputImage, TOutputImage>::GenerateData()
{
  this->AllocateOutputs();
  typename InputImageType::ConstPointer source = this->GetInput();
  if (Resamples())
  {
    typename InputImageType::SizeType    size;
    typename InputImageType::SpacingType spacing;
    typename InputImageType::PointType   origin;
    this->ComputeSourceGeometry(size, spacing, origin);
    using RealImageType = Image<float, 2>;
    using SmoothType = DiscreteGaussianImageFilter<InputImageType, RealImageType>;
    auto smooth = SmoothType::New();
    smooth->SetInput(source);
    // Against aliasing when shrinking: sigma = 0.5 sqrt(f^2 - 1) input pixels for a factor f.
    typename SmoothType::ArrayType variance;
    for (unsigned d = 0; d < 2; ++d)
    {
      const double f = spacing[d] / source->GetSpacing()[d];
      const double sigma = f > 1.0 ? 0.5 * std::sqrt(f * f - 1.0) * source->GetSpacing()[d] : 0.0;
      variance[d] = sigma * sigma;
    }
    smooth->SetVariance(variance);
    smooth->SetUseImageSpacing(true);
    smooth->SetMaximumKernelWidth(64);
    smooth->SetNumberOfWorkUnits(this->GetNumberOfWorkUnits());
    using ResampleType = ResampleImageFilter<RealImageType, RealImageType>;
    auto resample = ResampleType::New();
    resample->SetInput(smooth->GetOutput());
    resample->SetInterpolator(LinearInterpolateImageFunction<RealImageType>::New());
    resample->SetSize(size);
    resample->SetOutputSpacing(spacing);
    resample->SetOutputOrigin(origin);
    resample->SetOutputDirection(source->GetDirection());
    resample->SetNumberOfWorkUnits(this->GetNumberOfWorkUnits());
    resample->Update();
    // Back to the pixel type, rounded to the nearest value for integer pixels (the resampler's
    // own cast truncates, which would darken every resampled micrograph by half a grey level).
    const RealImageType * real = resample->GetOutput();
    auto                  resampled = InputImageType::New();
    resampled->CopyInformation(real);
    resampled->SetRegions(real->GetLargestPossibleRegion());
    resampled->Allocate();
    const float * r = real->GetBufferPointer();
    PixelType *   d = resampled->GetBufferPointer();
    for (SizeValueType i = 0, n = real->GetLargestPossibleRegion().GetNumberOfPixels(); i < n; ++i)
    {
      if constexpr (std::numeric_limits<PixelType>::is_integer)
      {
        const double lo = static_cast<double>(std::numeric_limits<PixelType>::lowest());
        const double hi = static_cast<double>(std::numeric_limits<PixelType>::max());
        d[i] = static_cast<PixelType>(std::floor(std::min(hi, std::max(lo, static_cast<double>(r[i]))) + 0.5));
      }
      else
      {
        d[i] = static_cast<PixelType>(r[i]);
      }
    }
    source = resampled;
  }

  OutputImageType *   output = this->GetOutput();
  PixelType *         out = output->GetBufferPointer();
  const SizeValueType patchPixels = m_PatchSize[0] * m_PatchSize[1];
  using ROIType = RegionOfInterestImageFilter<InputImageType, InputImageType>;
  using FlipType = FlipImageFilter<InputImageType>;
  auto roi = ROIType::New();
  roi->SetInput(source);
  roi->SetNumberOfWorkUnits(1);
  auto flip = FlipType::New();
  flip->SetInput(roi->GetOutput());
  typename FlipType::FlipAxesArrayType axes;
  axes[0] = true;
  axes[1] = false;
  flip->SetFlipAxes(axes);
  flip->SetFlipAboutOrigin(false);
  flip->SetNumberOfWorkUnits(1);

  ProgressReporter progress(this, 0, m_PatchCorners.size());
  for (std::size_t k = 0; k < m_PatchCorners.size(); ++k)
  {
    const auto &                        corner = m_PatchCorners[k];
    typename InputImageType::RegionType region(source->GetLargestPossibleRegion().GetIndex(), m_PatchSize);
    region.SetIndex(0, region.GetIndex(0) + corner.Index[0]);
    region.SetIndex(1, region.GetIndex(1) + corner.Index[1]);
    roi->SetRegionOfInterest(region);
    const InputImageType * patch = nullptr;
    if (corner.Flipped)
    {
      flip->Update();
      patch = flip->GetOutput();
    }
    else
    {
      roi->Update();
      patch = roi->GetOutput();
    }
    const PixelType * p = patch->GetBufferPointer();
    std::copy(p, p + patchPixels, out + k * patchPixels);
    progress.CompletedPixel();
  }
}

template <typename TInputImage, typename TOutputImage>
void
PatchExtractionImageFilter<TInputImage, TOutputImage>::PrintSelf(std::ostream & os, Indent indent) const
{
  Superclass::PrintSelf(os, indent);
  os << indent << "PatchSize: " << m_PatchSize << std::endl;
  os << indent << "Stride: " << m_Stride << std::endl;
  os << indent << "HorizontalFlip: " << (m_HorizontalFlip ? "On" : "Off") << std::endl;
  os << indent << "OutputPixelSize: " << m_OutputPixelSize << std::endl;
  os << indent << "PhysicalPatchSize: " << m_PhysicalPatchSize << std::endl;
  os << indent << "Patches: " << m_PatchCorners.size() << std::endl;
}
} // end namespace itk

#endif
