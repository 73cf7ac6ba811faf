/*=========================================================================
 * Test helper: the tiny networks and data the trainer tests train (prior trainer, VQ-VAE trainer,
 * data parallel), so that they train the same thing.
 *=========================================================================*/
#ifndef itkTinyModelsTestHelper_h
#define itkTinyModelsTestHelper_h

#include "itkPixelCNNPriorModel.h"
#include "itkVQVAEModel.h"

#include "itkImage.h"

#include <random>
#include <vector>

namespace tinymodels
{
using Prior = itk::PixelCNNPriorModel;
using MapType = itk::Image<unsigned short, 3>;

/** n maps of 6 x 6 codes in 0..3 whose statistics depend on the condition:
 * rate "1" -> mostly code 1 in horizontal runs, rate "-1" -> mostly code 2. */
inline MapType::Pointer
Maps(unsigned int n, unsigned int seed, std::vector<Prior::Condition> & conditions)
{
  auto                maps = MapType::New();
  MapType::RegionType region;
  region.SetSize({ { 6, 6, n } });
  maps->SetRegions(region);
  maps->Allocate();
  std::mt19937                           rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  conditions.clear();
  unsigned short * p = maps->GetBufferPointer();
  for (unsigned int k = 0; k < n; ++k)
  {
    const bool high = k % 2 == 0;
    conditions.push_back({ { "rate", high ? "1" : "-1" } });
    for (unsigned int y = 0; y < 6; ++y)
    {
      unsigned short run = 0;
      for (unsigned int x = 0; x < 6; ++x)
      {
        if (x == 0 || u(rng) < 0.3)
          run = (u(rng) < 0.8) ? (high ? 1 : 2) : static_cast<unsigned short>(u(rng) < 0.5 ? 0 : 3);
        *p++ = run;
      }
    }
  }
  return maps;
}

/** A prior over K = 4 codes, 3 layers of 16 channels, conditioned on "rate" in -1..1, on the CPU. */
inline Prior::Pointer
TinyPrior(uint64_t seed)
{
  auto                   m = Prior::New();
  Prior::Hyperparameters h;
  h.CodebookSize = 4;
  h.EmbeddingDimension = 8;
  h.HiddenChannels = 16;
  h.NumberOfLayers = 3;
  h.OutputHiddenChannels = 32;
  m->SetHyperparameters(h);
  m->SetConditionSchema({ Prior::LearnContinuousCondition("rate", { -1.0, 1.0 }) });
  m->SetSeed(seed);
  m->SetDevice("cpu");
  m->SetLearningRate(3e-3);
  m->Initialize();
  return m;
}

/** A VQ-VAE with encoder channels 8, 16, one residual block and K = 16 codes of 8 dimensions (EMA
 * codebook), on the CPU. */
inline itk::VQVAEModel::Pointer
TinyVQVAE(uint64_t seed)
{
  auto                             m = itk::VQVAEModel::New();
  itk::VQVAEModel::Hyperparameters h;
  h.EncoderChannels = { 8, 16 };
  h.NumberOfResidualBlocks = 1;
  h.CodebookSize = 16;
  h.CodeDimension = 8;
  m->SetHyperparameters(h);
  m->SetSeed(seed);
  m->SetDevice("cpu");
  m->SetLearningRate(3e-3);
  m->Initialize();
  return m;
}
} // namespace tinymodels

#endif
