// Shared by the tests of the 2D measurement filters: a label image drawn from a predicate.
#ifndef itkLabelImageTestHelper_h
#define itkLabelImageTestHelper_h

#include "itkImage.h"

#include <functional>

namespace sm_test
{
using LabelImage = itk::Image<unsigned char, 2>;

/** A w x h image, 1 where fg(x, y) holds and 0 elsewhere, with pixel spacing sx, sy. */
inline LabelImage::Pointer
MakeLabelImage(unsigned w, unsigned h, const std::function<bool(int, int)> & fg, double sx = 1.0, double sy = 1.0)
{
  auto                   image = LabelImage::New();
  LabelImage::RegionType region;
  region.SetSize(0, w);
  region.SetSize(1, h);
  image->SetRegions(region);
  image->Allocate();
  LabelImage::SpacingType spacing;
  spacing[0] = sx;
  spacing[1] = sy;
  image->SetSpacing(spacing);
  for (unsigned y = 0; y < h; ++y)
    for (unsigned x = 0; x < w; ++x)
      image->GetBufferPointer()[y * w + x] = fg(static_cast<int>(x), static_cast<int>(y)) ? 1 : 0;
  return image;
}
} // namespace sm_test

#endif
