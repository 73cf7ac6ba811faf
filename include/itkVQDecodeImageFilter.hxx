/*=========================================================================
 *  ITKStochasticMicrostructure
 *  Licensed under the Apache License, Version 2.0
 *=========================================================================*/
#ifndef itkVQDecodeImageFilter_hxx
#define itkVQDecodeImageFilter_hxx

#include "itkVQDecodeImageFilter.h"
#include "itkProgressReporter.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

namespace itk
{
template <typename TInputImage, typename TOutputImage>
void
VQDecodeImageFilter<TInputImage, TOutputImage>::GenerateOutputInformation()
{
  if (m_Model.IsNull() || !m_Model->IsInitialized())
  {
    itkExceptionMacro(<< "No usable VQ-VAE model: call SetModel() with a model read from its file (VQVAEModel::Read).");
  }
  const InputImageType *                input = this->GetInput();
  const unsigned int                    f = m_Model->GetDownsamplingFactor();
  const auto                            region = input->GetLargestPossibleRegion();
  typename OutputImageType::RegionType  outRegion;
  typename OutputImageType::SpacingType spacing = input->GetSpacing();
  typename OutputImageType::PointType   origin = input->GetOrigin();
  for (unsigned d = 0; d < ImageDimension; ++d)
  {
    outRegion.SetSize(d, region.GetSize(d));
  }
  for (unsigned d = 0; d < 2; ++d)
  {
    outRegion.SetSize(d, region.GetSize(d) * f);
    spacing[d] /= f;
    origin[d] -= 0.5 * (f - 1) * spacing[d];
  }
  OutputImageType * output = this->GetOutput();
  output->SetLargestPossibleRegion(outRegion);
  output->SetSpacing(spacing);
  output->SetOrigin(origin);
  output->SetDirection(input->GetDirection());
}

template <typename TInputImage, typename TOutputImage>
void
VQDecodeImageFilter<TInputImage, TOutputImage>::GenerateInputRequestedRegion()
{
  Superclass::GenerateInputRequestedRegion();
  if (auto * input = const_cast<InputImageType *>(this->GetInput()))
  {
    input->SetRequestedRegionToLargestPossibleRegion();
  }
}

template <typename TInputImage, typename TOutputImage>
void
VQDecodeImageFilter<TInputImage, TOutputImage>::EnlargeOutputRequestedRegion(DataObject * output)
{
  Superclass::EnlargeOutputRequestedRegion(output);
  output->SetRequestedRegionToLargestPossibleRegion();
}

template <typename TInputImage, typename TOutputImage>
void
VQDecodeImageFilter<TInputImage, TOutputImage>::GenerateData()
{
  this->AllocateOutputs();
  using OutputPixelType = typename OutputImageType::PixelType;
  const InputImageType * input = this->GetInput();
  OutputImageType *      output = this->GetOutput();
  const VQVAEModel *     model = m_Model;
  const auto             size = input->GetLargestPossibleRegion().GetSize();
  const SizeValueType    w = size[0], h = size[1];
  const SizeValueType    maps = ImageDimension == 3 ? size[2] : 1;
  const SizeValueType    K = model->GetHyperparameters().CodebookSize;
  const auto *           in = input->GetBufferPointer();
  auto *                 out = output->GetBufferPointer();
  const SizeValueType    f = model->GetDownsamplingFactor();
  const SizeValueType    pixels = w * f * h * f;

  const SizeValueType  batch = std::max<unsigned int>(1, model->GetInferenceBatchSize());
  ProgressReporter     progress(this, 0, (maps + batch - 1) / batch);
  std::vector<int32_t> indices;
  for (SizeValueType first = 0; first < maps; first += batch)
  {
    const SizeValueType n = std::min(batch, maps - first);
    indices.resize(n * w * h);
    for (SizeValueType i = 0; i < n * w * h; ++i)
    {
      const auto v = in[first * w * h + i];
      if (!(v >= 0) || static_cast<SizeValueType>(v) >= K)
      {
        itkExceptionMacro(<< "Index " << static_cast<double>(v) << " at position " << first * w * h + i
                          << " is outside the codebook (0.." << K - 1
                          << "): the index maps do not belong to this model.");
      }
      indices[i] = static_cast<int32_t>(v);
    }
    const auto images = model->Decode(indices.data(), n, h, w);
    for (SizeValueType i = 0; i < n * pixels; ++i)
    {
      const double v = model->DenormalizeIntensity(images[i]);
      if constexpr (std::is_integral<OutputPixelType>::value)
      {
        const double lo = static_cast<double>(std::numeric_limits<OutputPixelType>::lowest());
        const double hi = static_cast<double>(std::numeric_limits<OutputPixelType>::max());
        out[first * pixels + i] = static_cast<OutputPixelType>(std::min(hi, std::max(lo, std::round(v))));
      }
      else
      {
        out[first * pixels + i] = static_cast<OutputPixelType>(v);
      }
    }
    progress.CompletedPixel();
  }
}

template <typename TInputImage, typename TOutputImage>
void
VQDecodeImageFilter<TInputImage, TOutputImage>::PrintSelf(std::ostream & os, Indent indent) const
{
  Superclass::PrintSelf(os, indent);
  os << indent << "Model: " << (m_Model ? "set" : "none") << std::endl;
}
} // end namespace itk

#endif
