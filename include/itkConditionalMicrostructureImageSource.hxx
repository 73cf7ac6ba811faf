/*=========================================================================
 *
 *  ITKStochasticMicrostructure
 *
 *=========================================================================*/
#ifndef itkConditionalMicrostructureImageSource_hxx
#define itkConditionalMicrostructureImageSource_hxx

#include "itkConditionalMicrostructureImageSource.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

namespace itk
{

namespace conditional_source_detail
{
/** SplitMix64 of (seed, batch): the seed of one batch of samples. */
inline uint64_t
BatchSeed(uint64_t seed, uint64_t batch)
{
  uint64_t x = seed ^ (0x9E3779B97F4A7C15ull * (batch + 1));
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}
} // namespace conditional_source_detail

template <typename TOutputImage, typename TIndexImage>
ConditionalMicrostructureImageSource<TOutputImage, TIndexImage>::ConditionalMicrostructureImageSource()
{
  this->SetNumberOfRequiredOutputs(2);
  this->SetNthOutput(1, IndexImageType::New().GetPointer());
}

template <typename TOutputImage, typename TIndexImage>
auto
ConditionalMicrostructureImageSource<TOutputImage, TIndexImage>::GetIndexMaps() -> IndexImageType *
{
  return dynamic_cast<IndexImageType *>(this->ProcessObject::GetOutput(1));
}

template <typename TOutputImage, typename TIndexImage>
auto
ConditionalMicrostructureImageSource<TOutputImage, TIndexImage>::GetEffectiveLatentSize() const -> LatentSizeType
{
  LatentSizeType s = m_LatentSize;
  if (s[0] == 0 && s[1] == 0 && m_PriorModel)
  {
    s[0] = m_PriorModel->GetLatentWidth();
    s[1] = m_PriorModel->GetLatentHeight();
  }
  return s;
}

template <typename TOutputImage, typename TIndexImage>
void
ConditionalMicrostructureImageSource<TOutputImage, TIndexImage>::VerifyPreconditions() ITKv5_CONST
{
  Superclass::VerifyPreconditions();
  if (!m_VQVAEModel || !m_VQVAEModel->IsInitialized())
  {
    itkExceptionMacro(<< "no VQ-VAE: SetVQVAEModel() with a model Read() from the file MicrostructureTrainVQVAE wrote");
  }
  if (!m_PriorModel || !m_PriorModel->IsInitialized())
  {
    itkExceptionMacro(<< "no prior: SetPriorModel() with a model Read() from the file MicrostructureTrainPrior wrote");
  }
  m_PriorModel->CheckCompatibleVQVAE(m_VQVAEModel->GetHyperparameters().CodebookSize,
                                     m_VQVAEModel->GetWeightsFingerprint());
  const auto s = this->GetEffectiveLatentSize();
  if (s[0] == 0 || s[1] == 0)
  {
    itkExceptionMacro(<< "latent size " << s[0] << " x " << s[1]
                      << ": set LatentSize (the prior does not record the size it was trained at)");
  }
  if (m_NumberOfSamples == 0)
  {
    itkExceptionMacro(<< "NumberOfSamples is 0: ask for at least one sample");
  }
  if (!(m_Temperature > 0.0) || !std::isfinite(m_Temperature))
  {
    itkExceptionMacro(<< "temperature " << m_Temperature
                      << " is invalid: give a value > 0 (1 = the model's distribution)");
  }
  if (m_BatchSize == 0)
  {
    itkExceptionMacro(<< "BatchSize is 0: give at least 1");
  }
  // Checks the condition now (missing / unknown / NaN / unknown category throw; out of range warns).
  m_PriorModel->EncodeConditions({ m_Condition }, 1);
}

template <typename TOutputImage, typename TIndexImage>
void
ConditionalMicrostructureImageSource<TOutputImage, TIndexImage>::GenerateOutputInformation()
{
  const auto          latent = this->GetEffectiveLatentSize();
  const SizeValueType f = m_VQVAEModel ? m_VQVAEModel->GetDownsamplingFactor() : 1;
  double              pixel = m_VQVAEModel ? m_VQVAEModel->GetPixelSizeMicrometres() : 0.0;
  if (!(pixel > 0.0))
    pixel = 1.0;

  typename OutputImageType::RegionType region;
  region.SetSize({ { latent[0] * f, latent[1] * f, m_NumberOfSamples } });
  typename OutputImageType::SpacingType spacing;
  spacing[0] = spacing[1] = pixel;
  spacing[2] = pixel * latent[0] * f; // one patch width between slices: a readable 3D geometry
  OutputImageType * out = this->GetOutput();
  out->SetLargestPossibleRegion(region);
  out->SetSpacing(spacing);
  typename OutputImageType::PointType origin;
  origin.Fill(0.0);
  out->SetOrigin(origin);

  typename IndexImageType::RegionType indexRegion;
  indexRegion.SetSize({ { latent[0], latent[1], m_NumberOfSamples } });
  typename IndexImageType::SpacingType indexSpacing;
  indexSpacing[0] = indexSpacing[1] = pixel * f;
  indexSpacing[2] = spacing[2];
  typename IndexImageType::PointType indexOrigin;
  indexOrigin[0] = indexOrigin[1] = 0.5 * (f - 1) * pixel; // block centres, as VQEncodeImageFilter
  indexOrigin[2] = 0.0;
  IndexImageType * maps = this->GetIndexMaps();
  maps->SetLargestPossibleRegion(indexRegion);
  maps->SetSpacing(indexSpacing);
  maps->SetOrigin(indexOrigin);
}

template <typename TOutputImage, typename TIndexImage>
void
ConditionalMicrostructureImageSource<TOutputImage, TIndexImage>::EnlargeOutputRequestedRegion(DataObject * output)
{
  Superclass::EnlargeOutputRequestedRegion(output);
  // Whole batches along z, whole slices in x and y, on both outputs.
  auto *              image = dynamic_cast<ImageBase<3> *>(output);
  const auto          requested = image->GetRequestedRegion();
  const SizeValueType first = (requested.GetIndex(2) / m_BatchSize) * m_BatchSize;
  const SizeValueType end = std::min<SizeValueType>(
    m_NumberOfSamples, ((requested.GetIndex(2) + requested.GetSize(2) + m_BatchSize - 1) / m_BatchSize) * m_BatchSize);
  for (unsigned int k = 0; k < 2; ++k)
  {
    auto * o = dynamic_cast<ImageBase<3> *>(this->ProcessObject::GetOutput(k));
    auto   region = o->GetLargestPossibleRegion();
    region.SetIndex(2, static_cast<IndexValueType>(first));
    region.SetSize(2, end - first);
    o->SetRequestedRegion(region);
  }
}

template <typename TOutputImage, typename TIndexImage>
void
ConditionalMicrostructureImageSource<TOutputImage, TIndexImage>::GenerateData()
{
  OutputImageType * out = this->GetOutput();
  IndexImageType *  maps = this->GetIndexMaps();
  out->SetBufferedRegion(out->GetRequestedRegion());
  out->Allocate();
  maps->SetBufferedRegion(maps->GetRequestedRegion());
  maps->Allocate();

  using OutputPixelType = typename OutputImageType::PixelType;
  using IndexPixelType = typename IndexImageType::PixelType;
  const auto          latent = this->GetEffectiveLatentSize();
  const SizeValueType w = latent[0], h = latent[1];
  const SizeValueType f = m_VQVAEModel->GetDownsamplingFactor();
  const SizeValueType pixels = w * f * h * f;
  const SizeValueType first = out->GetRequestedRegion().GetIndex(2);
  const SizeValueType count = out->GetRequestedRegion().GetSize(2);
  if (static_cast<double>(m_PriorModel->GetCodebookSize() - 1) >
      static_cast<double>(std::numeric_limits<IndexPixelType>::max()))
  {
    itkExceptionMacro(<< "the index map pixel type cannot hold " << m_PriorModel->GetCodebookSize() << " codes");
  }

  this->UpdateProgress(0.0f);
  auto *        image = out->GetBufferPointer();
  auto *        index = maps->GetBufferPointer();
  SizeValueType done = 0;
  for (SizeValueType batch = first / m_BatchSize; batch * m_BatchSize < first + count; ++batch)
  {
    const SizeValueType start = batch * m_BatchSize;
    const SizeValueType n = std::min(m_BatchSize, m_NumberOfSamples - start);
    const double        base = static_cast<double>(done) / count;
    const double        span = static_cast<double>(n) / count;
    const auto          sampled = m_PriorModel->Sample(
      static_cast<unsigned int>(n),
      static_cast<unsigned int>(h),
      static_cast<unsigned int>(w),
      { m_Condition },
      m_Temperature,
      conditional_source_detail::BatchSeed(m_Seed, batch),
      [&](double fraction) { this->UpdateProgress(static_cast<float>(base + 0.95 * span * fraction)); });
    const auto decoded = m_VQVAEModel->Decode(
      sampled.data(), static_cast<unsigned int>(n), static_cast<unsigned int>(h), static_cast<unsigned int>(w));
    const SizeValueType offset = start - first;
    for (SizeValueType i = 0; i < n * w * h; ++i)
    {
      index[offset * w * h + i] = static_cast<IndexPixelType>(sampled[i]);
    }
    for (SizeValueType i = 0; i < n * pixels; ++i)
    {
      const double v = m_VQVAEModel->DenormalizeIntensity(decoded[i]);
      if constexpr (std::is_integral<OutputPixelType>::value)
      {
        const double lo = static_cast<double>(std::numeric_limits<OutputPixelType>::lowest());
        const double hi = static_cast<double>(std::numeric_limits<OutputPixelType>::max());
        image[offset * pixels + i] = static_cast<OutputPixelType>(std::min(hi, std::max(lo, std::round(v))));
      }
      else
      {
        image[offset * pixels + i] = static_cast<OutputPixelType>(v);
      }
    }
    done += n;
    this->UpdateProgress(static_cast<float>(done) / count);
    if (this->GetAbortGenerateData() && done < count)
    {
      ProcessAborted e(__FILE__, __LINE__);
      e.SetDescription("generation aborted after " + std::to_string(done) + " samples");
      throw e;
    }
  }
}

template <typename TOutputImage, typename TIndexImage>
void
ConditionalMicrostructureImageSource<TOutputImage, TIndexImage>::PrintSelf(std::ostream & os, Indent indent) const
{
  Superclass::PrintSelf(os, indent);
  os << indent << "VQVAEModel: " << (m_VQVAEModel ? "set" : "none") << '\n'
     << indent << "PriorModel: " << (m_PriorModel ? "set" : "none") << '\n'
     << indent << "Condition:";
  for (const auto & kv : m_Condition)
    os << ' ' << kv.first << '=' << kv.second;
  os << '\n'
     << indent << "NumberOfSamples: " << m_NumberOfSamples << '\n'
     << indent << "LatentSize: " << m_LatentSize << '\n'
     << indent << "Temperature: " << m_Temperature << '\n'
     << indent << "Seed: " << m_Seed << '\n'
     << indent << "BatchSize: " << m_BatchSize << '\n';
}

} // end namespace itk

#endif
