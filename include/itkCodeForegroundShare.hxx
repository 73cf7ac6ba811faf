/*=========================================================================
 *  ITKStochasticMicrostructure
 *  Licensed under the Apache License, Version 2.0
 *=========================================================================*/
#ifndef itkCodeForegroundShare_hxx
#define itkCodeForegroundShare_hxx

#include "itkMacro.h"

#include <numeric>

namespace itk
{
template <typename TPatchStack, typename TMapStack>
std::vector<double>
ComputeCodeForegroundShare(const TPatchStack * patches, const TMapStack * maps, const std::vector<std::size_t> & slices,
                           unsigned int K, OtsuPhaseSegmentationImageFilterEnums::ForegroundPhase foreground)
{
  using PhaseStackType = Image<unsigned char, 3>;
  const auto        patch = patches->GetLargestPossibleRegion().GetSize();
  const auto        map = maps->GetLargestPossibleRegion().GetSize();
  const std::size_t N = patch[2];
  if (N == 0 || map[0] == 0 || map[1] == 0 || patch[0] % map[0] != 0 || patch[1] % map[1] != 0)
  {
    itkGenericExceptionMacro(<< "the patches (" << patch[0] << " x " << patch[1]
                             << ") are not a whole number of blocks of the index maps (" << map[0] << " x " << map[1]
                             << "): the codes' phase shares need them");
  }
  if (map[2] < N)
  {
    itkGenericExceptionMacro(<< "there are " << map[2] << " index maps for " << N << " patches: give one per patch");
  }
  auto otsu = OtsuPhaseSegmentationImageFilter<TPatchStack, PhaseStackType>::New();
  otsu->SetInput(patches);
  otsu->SetForegroundPhase(foreground);
  otsu->Update();
  const unsigned char * phase = otsu->GetOutput()->GetBufferPointer();
  const auto *          index = maps->GetBufferPointer();
  const std::size_t     P = patch[0], Q = patch[1], bx = P / map[0], by = Q / map[1], perMap = map[0] * map[1];
  std::vector<double>   share(K, 0.0), count(K, 0.0);
  std::vector<bool>     seen(N, false);
  for (const std::size_t slice : slices)
  {
    if (slice >= map[2])
    {
      itkGenericExceptionMacro(<< "slice " << slice << " is out of range: there are " << map[2] << " index maps");
    }
    const std::size_t s = slice % N;
    if (seen[s])
      continue;
    seen[s] = true;
    const unsigned char * p = phase + s * P * Q;
    for (std::size_t y = 0; y < map[1]; ++y)
      for (std::size_t x = 0; x < map[0]; ++x)
      {
        const auto k = static_cast<std::size_t>(index[s * perMap + y * map[0] + x]);
        if (k >= K)
        {
          itkGenericExceptionMacro(<< "index map " << s << " holds code " << k << " of a codebook of " << K);
        }
        double inside = 0.0;
        for (std::size_t j = y * by; j < (y + 1) * by; ++j)
          for (std::size_t i = x * bx; i < (x + 1) * bx; ++i)
            inside += p[j * P + i];
        share[k] += inside / static_cast<double>(bx * by);
        count[k] += 1.0;
      }
  }
  const double total = std::accumulate(count.begin(), count.end(), 0.0);
  const double mean = total > 0.0 ? std::accumulate(share.begin(), share.end(), 0.0) / total : 0.0;
  for (unsigned int k = 0; k < K; ++k)
    share[k] = (share[k] + mean) / (count[k] + 1.0);
  return share;
}
} // namespace itk

#endif
