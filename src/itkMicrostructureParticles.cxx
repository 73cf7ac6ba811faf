/*=========================================================================
 *  ITKStochasticMicrostructure
 *  Licensed under the Apache License, Version 2.0
 *=========================================================================*/
#include "itkMicrostructureParticles.h"

#include "itkConnectedComponentImageFilter.h"
#include "itkImage.h"
#include "itkImportImageFilter.h"

#ifdef SM_HAVE_OPENCV
#  include <opencv2/imgproc.hpp>
#endif

#include <algorithm>
#include <cmath>
#include <limits>
#include <tuple>

namespace itk
{
namespace
{
/** Bounding boxes and areas of labels 1..n of a row-major label buffer. */
std::vector<MicrostructureParticle>
Describe(const uint32_t * labels, SizeValueType width, SizeValueType height, SizeValueType n)
{
  constexpr SizeValueType none = std::numeric_limits<SizeValueType>::max();
  struct Box
  {
    SizeValueType area{ 0 }, x0{ none }, y0{ none }, x1{ 0 }, y1{ 0 };
  };
  std::vector<Box> boxes(n + 1);
  for (SizeValueType y = 0; y < height; ++y)
  {
    const uint32_t * row = labels + y * width;
    for (SizeValueType x = 0; x < width; ++x)
    {
      const uint32_t l = row[x];
      if (l == 0)
        continue;
      Box & b = boxes[l];
      ++b.area;
      b.x0 = std::min(b.x0, x);
      b.x1 = std::max(b.x1, x);
      b.y0 = std::min(b.y0, y);
      b.y1 = std::max(b.y1, y);
    }
  }
  std::vector<MicrostructureParticle> particles;
  particles.reserve(n);
  for (SizeValueType l = 1; l <= n; ++l)
  {
    const Box & b = boxes[l];
    if (b.area == 0)
      continue;
    MicrostructureParticle p;
    p.Area = b.area;
    p.Left = b.x0;
    p.Top = b.y0;
    p.Width = b.x1 - b.x0 + 1;
    p.Height = b.y1 - b.y0 + 1;
    particles.push_back(p);
  }
  return particles;
}

std::vector<MicrostructureParticle>
LabelWithITK(const unsigned char * mask, SizeValueType width, SizeValueType height, bool fullyConnected)
{
  using MaskImageType = Image<unsigned char, 2>;
  using LabelImageType = Image<uint32_t, 2>;
  auto                                          import = ImportImageFilter<unsigned char, 2>::New();
  ImportImageFilter<unsigned char, 2>::SizeType size;
  size[0] = width;
  size[1] = height;
  import->SetRegion(ImportImageFilter<unsigned char, 2>::RegionType(size));
  import->SetImportPointer(const_cast<unsigned char *>(mask), width * height, false);
  auto label = ConnectedComponentImageFilter<MaskImageType, LabelImageType>::New();
  label->SetInput(import->GetOutput());
  label->SetFullyConnected(fullyConnected);
  label->SetBackgroundValue(0);
  // One work unit: the module measures slices in parallel itself (MicrostructureStackMeasurement),
  // and ITK's pool must not be waited on from there.
  label->SetNumberOfWorkUnits(1);
  label->Update();
  return Describe(label->GetOutput()->GetBufferPointer(), width, height, label->GetObjectCount());
}

#ifdef SM_HAVE_OPENCV
std::vector<MicrostructureParticle>
LabelWithOpenCV(const unsigned char * mask, SizeValueType width, SizeValueType height, bool fullyConnected)
{
  const cv::Mat in(static_cast<int>(height), static_cast<int>(width), CV_8UC1, const_cast<unsigned char *>(mask));
  cv::Mat       labels, stats, centroids;
  const int     n = cv::connectedComponentsWithStats(in, labels, stats, centroids, fullyConnected ? 8 : 4, CV_32S);
  std::vector<MicrostructureParticle> particles;
  particles.reserve(n > 0 ? static_cast<size_t>(n - 1) : 0);
  for (int l = 1; l < n; ++l)
  {
    MicrostructureParticle p;
    p.Left = static_cast<SizeValueType>(stats.at<int>(l, cv::CC_STAT_LEFT));
    p.Top = static_cast<SizeValueType>(stats.at<int>(l, cv::CC_STAT_TOP));
    p.Width = static_cast<SizeValueType>(stats.at<int>(l, cv::CC_STAT_WIDTH));
    p.Height = static_cast<SizeValueType>(stats.at<int>(l, cv::CC_STAT_HEIGHT));
    p.Area = static_cast<SizeValueType>(stats.at<int>(l, cv::CC_STAT_AREA));
    particles.push_back(p);
  }
  return particles;
}
#endif
} // namespace

bool
MicrostructureParticlesHaveOpenCV()
{
#ifdef SM_HAVE_OPENCV
  return true;
#else
  return false;
#endif
}

std::vector<MicrostructureParticle>
LabelMicrostructureParticles(const unsigned char * mask, SizeValueType width, SizeValueType height, bool fullyConnected,
                             MicrostructureParticlesEnums::Labeling labeling)
{
  using Labeling = MicrostructureParticlesEnums::Labeling;
  if (width == 0 || height == 0 || mask == nullptr)
  {
    ExceptionObject e(__FILE__,
                      __LINE__,
                      "LabelMicrostructureParticles: the image is empty (" + std::to_string(width) + " x " +
                        std::to_string(height) + "); give a phase map with at least one pixel.",
                      ITK_LOCATION);
    throw e;
  }
  if (labeling == Labeling::OpenCV && !MicrostructureParticlesHaveOpenCV())
  {
    ExceptionObject e(__FILE__,
                      __LINE__,
                      "LabelMicrostructureParticles: Labeling OpenCV was asked for, but this build of the module "
                      "has no OpenCV (install libopencv-dev and reconfigure), or use Labeling ITK or Automatic.",
                      ITK_LOCATION);
    throw e;
  }
  std::vector<MicrostructureParticle> particles;
#ifdef SM_HAVE_OPENCV
  if (labeling != Labeling::ITK && width <= static_cast<SizeValueType>(std::numeric_limits<int>::max()) &&
      height <= static_cast<SizeValueType>(std::numeric_limits<int>::max()))
    particles = LabelWithOpenCV(mask, width, height, fullyConnected);
  else
#endif
    particles = LabelWithITK(mask, width, height, fullyConnected);

  const double frame = static_cast<double>(width - 1) * static_cast<double>(height - 1);
  for (auto & p : particles)
  {
    p.EquivalentDiameter = 2.0 * std::sqrt(static_cast<double>(p.Area) / M_PI);
    p.EquivalentDiameterPhysical = std::numeric_limits<double>::quiet_NaN();
    const SizeValueType right = p.Left + p.Width - 1, bottom = p.Top + p.Height - 1;
    p.TouchesEdge = p.Left == 0 || p.Top == 0 || right + 1 == width || bottom + 1 == height;
    p.Counted = right + 1 < width && bottom + 1 < height;
    p.Weight = p.TouchesEdge
                 ? 0.0
                 : frame / (static_cast<double>(width - 1 - p.Width) * static_cast<double>(height - 1 - p.Height));
  }
  std::sort(particles.begin(), particles.end(), [](const auto & a, const auto & b) {
    return std::tie(a.Top, a.Left, a.Width, a.Height, a.Area) < std::tie(b.Top, b.Left, b.Width, b.Height, b.Area);
  });
  return particles;
}
} // end namespace itk
