/*=========================================================================
 *  ITKStochasticMicrostructure
 *  Licensed under the Apache License, Version 2.0
 *=========================================================================*/
#ifndef itkStretchIntensityPercentiles_h
#define itkStretchIntensityPercentiles_h

#include "itkImageRegionConstIterator.h"
#include "itkIntensityWindowingImageFilter.h"
#include "itkMacro.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <type_traits>

namespace itk
{
/** A per-micrograph contrast stretch: the 8-bit `image` with its `lower` and `upper` percentiles
 * (percent, 0 <= lower < upper <= 100) mapped to 0 and 255 and the rest clipped, by
 * IntensityWindowingImageFilter. A percentile is the smallest intensity whose cumulative count
 * reaches that share of the pixels (the lowest intensity for 0, the highest for 100). SEM brightness
 * and contrast vary between sessions and specimens; stretched, micrographs of one material share
 * one intensity scale, so a model does not learn the detector's settings as an effect of the
 * process. Otsu's threshold follows an increasing affine map, so a phase fraction measured
 * per patch changes only by the clipped tails and the rounding.
 *
 * An image whose two percentiles coincide (flat) is returned as it is: there is no contrast to
 * stretch. Throws itk::ExceptionObject for percentiles out of order or outside 0-100. */
template <typename TImage>
typename TImage::Pointer
StretchIntensityPercentiles(TImage * image, double lower, double upper)
{
  static_assert(std::is_same<typename TImage::PixelType, unsigned char>::value, "8-bit images only");
  if (!(lower >= 0.0 && lower < upper && upper <= 100.0))
  {
    itkGenericExceptionMacro(<< "Intensity percentiles " << lower << ", " << upper
                             << ": give lower < upper within 0-100 (e.g. 1, 99).");
  }
  std::array<SizeValueType, 256> counts{};
  const auto                     region = image->GetLargestPossibleRegion();
  for (ImageRegionConstIterator<TImage> it(image, region); !it.IsAtEnd(); ++it)
  {
    ++counts[it.Get()];
  }
  const double n = static_cast<double>(region.GetNumberOfPixels());
  auto         percentile = [&](double q) {
    const double  target = std::max(1.0, std::ceil(q / 100.0 * n - 1e-9));
    SizeValueType cumulative = 0;
    for (unsigned v = 0; v < 256; ++v)
    {
      cumulative += counts[v];
      if (static_cast<double>(cumulative) >= target)
      {
        return v;
      }
    }
    return 255u;
  };
  const unsigned lo = percentile(lower), hi = percentile(upper);
  if (hi <= lo)
  {
    return image;
  }
  using WindowType = IntensityWindowingImageFilter<TImage, TImage>;
  auto window = WindowType::New();
  window->SetInput(image);
  window->SetWindowMinimum(static_cast<typename TImage::PixelType>(lo));
  window->SetWindowMaximum(static_cast<typename TImage::PixelType>(hi));
  window->SetOutputMinimum(0);
  window->SetOutputMaximum(255);
  window->Update();
  typename TImage::Pointer out = window->GetOutput();
  out->DisconnectPipeline();
  return out;
}
} // namespace itk

#endif
