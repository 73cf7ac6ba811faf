/*=========================================================================
 *  ITKStochasticMicrostructure
 *  Licensed under the Apache License, Version 2.0
 *=========================================================================*/
#ifndef itkMicrostructureCodeStatistics_hxx
#define itkMicrostructureCodeStatistics_hxx

#include "itkMacro.h"

#include <numeric>
#include <string>

namespace itk
{
template <typename TPatchStack, typename TMapStack>
MicrostructureCodeStatistics
ComputeMicrostructureCodeStatistics(const TPatchStack * patches, const TMapStack * maps,
                                    const std::vector<std::size_t> & slices, unsigned int K,
                                    OtsuPhaseSegmentationImageFilterEnums::ForegroundPhase foreground)
{
  using PhaseStackType = Image<unsigned char, 3>;
  const auto patch = patches->GetLargestPossibleRegion().GetSize();
  const auto map = maps->GetLargestPossibleRegion().GetSize();
  const std::size_t N = patch[2];
  if (N == 0 || map[0] == 0 || map[1] == 0 || patch[0] % map[0] != 0 || patch[1] % map[1] != 0)
  {
    itkGenericExceptionMacro(<< "the patches (" << patch[0] << " x " << patch[1]
                             << ") are not a whole number of blocks of the index maps (" << map[0] << " x " << map[1]
                             << "): the codes' statistics need them");
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
  std::vector<double>   share(K, 0.0), interfaces(K, 0.0), count(K, 0.0);
  std::vector<bool>     seen(N, false);
  for (const std::size_t slice : slices)
  {
    const std::size_t s = slice % N;
    if (slice >= map[2])
    {
      itkGenericExceptionMacro(<< "slice " << slice << " is out of range: there are " << map[2] << " index maps");
    }
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
        double inside = 0.0, changes = 0.0;
        for (std::size_t j = y * by; j < (y + 1) * by; ++j)
          for (std::size_t i = x * bx; i < (x + 1) * bx; ++i)
          {
            const unsigned char v = p[j * P + i];
            inside += v;
            if (i + 1 < P)
              changes += (p[j * P + i + 1] != v);
            if (j + 1 < Q)
              changes += (p[(j + 1) * P + i] != v);
          }
        share[k] += inside / static_cast<double>(bx * by);
        interfaces[k] += changes / static_cast<double>(bx * by);
        count[k] += 1.0;
      }
  }
  const double                 total = std::accumulate(count.begin(), count.end(), 0.0);
  MicrostructureCodeStatistics out;
  for (auto * v : { &share, &interfaces })
  {
    const double mean = total > 0.0 ? std::accumulate(v->begin(), v->end(), 0.0) / total : 0.0;
    for (unsigned int k = 0; k < K; ++k)
      (*v)[k] = ((*v)[k] + mean) / (count[k] + 1.0);
  }
  out.ForegroundShare = std::move(share);
  out.InterfaceDensity = std::move(interfaces);
  return out;
}
} // namespace itk

#endif
