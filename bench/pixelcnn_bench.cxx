/*=========================================================================
 * Sampling benchmark of itk::PixelCNNPriorModel with the paper-sized prior
 * (K = 512, embedding 64, 15 gated layers 7x7 A + 3x3 B, 64 channels, head
 * 512; one continuous and one categorical condition), random weights (the
 * cost does not depend on them), 16 x 16 latent maps:
 *
 *   pixelcnn_bench WORK_DIR [COUNT=1000] [NAIVE_COUNT=2] [THREADS=2] [BATCH=250] [SEED=2021] [DEVICE=cpu]
 *
 * - the incremental sampler draws COUNT maps, in batches of BATCH (timed);
 * - the incremental sampler draws COUNT / 100 maps of 64 x 64 (timed);
 * - the naive sampler (skipped when NAIVE_COUNT = 0) (full forward pass per position, as in the paper) draws
 *   the first NAIVE_COUNT of them, in one batch (timed); its time for COUNT
 *   maps is estimated as time * COUNT / NAIVE_COUNT (the naive cost is linear
 *   in the number of maps; a batch of NAIVE_COUNT is, per map, no slower than
 *   larger batches on 2 cores, see the README);
 * - checks that the naive maps equal the first NAIVE_COUNT incremental maps;
 * - writes, for bench/pixelcnn_reference.py: WORK_DIR/prior.smprior (the
 *   model), condition.f32 (the encoded condition vector), maps.i32 (the naive
 *   maps, N x 16 x 16) and loglik.f64 (their log-likelihoods, nats).
 * Prints KEY=VALUE lines: wall-clock seconds and CPU seconds (all threads; on
 * a machine shared with others the CPU time is the steadier measure of work).
 *=========================================================================*/
#include "itkPixelCNNPriorModel.h"
#include "itkMultiThreaderBase.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <string>

namespace
{
double
Seconds(std::chrono::steady_clock::time_point since)
{
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

/** CPU seconds of this process (all threads): on a shared machine, the work done, whatever the waiting. */
double
CPUSeconds()
{
  return static_cast<double>(std::clock()) / CLOCKS_PER_SEC;
}

template <typename T>
void
WriteRaw(const std::string & path, const std::vector<T> & v)
{
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char *>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(T)));
  if (!f)
  {
    throw std::runtime_error("cannot write " + path);
  }
}
} // namespace

int
main(int argc, char * argv[])
{
  if (argc < 2)
  {
    std::cerr << "usage: " << argv[0]
              << " WORK_DIR [COUNT=1000] [NAIVE_COUNT=2] [THREADS=2] [BATCH=250] [SEED=2021] [DEVICE=cpu]\n";
    return 2;
  }
  const std::string  work = argv[1];
  const unsigned int count = argc > 2 ? std::atoi(argv[2]) : 1000;
  const unsigned int naiveCount = argc > 3 ? std::atoi(argv[3]) : 2;
  const unsigned int threads = argc > 4 ? std::atoi(argv[4]) : 2;
  const unsigned int batch = argc > 5 ? std::atoi(argv[5]) : 250;
  const uint64_t     seed = argc > 6 ? std::strtoull(argv[6], nullptr, 10) : 2021;
  const std::string  device = argc > 7 ? argv[7] : "cpu";
  const unsigned int h = 16, w = 16;
  try
  {
    if (count < 1 || naiveCount > count || threads < 1 || batch < 1)
      throw std::runtime_error("need COUNT >= NAIVE_COUNT, COUNT >= 1, THREADS >= 1, BATCH >= 1");
    itk::MultiThreaderBase::SetGlobalDefaultNumberOfThreads(threads);
    using Prior = itk::PixelCNNPriorModel;
    auto prior = Prior::New();
    prior->SetHyperparameters(Prior::Hyperparameters{}); // the paper's sizes
    prior->SetConditionSchema({ Prior::LearnContinuousCondition("ln_cooling_rate", { -4.0, -1.0, 2.0, 5.0 }),
                                Prior::LearnCategoricalCondition("cool_method", { "furnace", "air", "water" }) });
    prior->SetSeed(1);
    prior->SetDevice(device);
    prior->Initialize();
    prior->SetLatentHeight(h);
    prior->SetLatentWidth(w);
    prior->SetTrainingSummary("random weights (pixelcnn_bench)");
    const std::vector<Prior::Condition> condition{ { { "ln_cooling_rate", "0.5" }, { "cool_method", "air" } } };

    std::cout << "PRIOR=K " << prior->GetCodebookSize()
              << ", embedding 64, 15 gated layers (7x7 A, 3x3 B), 64 channels, "
              << "head 512; maps " << h << "x" << w << "; " << threads << " LibTorch thread(s); device "
              << prior->GetDeviceInUse() << std::endl;

    prior->SetSampler("incremental");
    prior->SetInferenceBatchSize(batch);
    auto         t0 = std::chrono::steady_clock::now();
    double       c0 = CPUSeconds();
    const auto   incremental = prior->Sample(count, h, w, condition, 1.0, seed);
    const double tInc = Seconds(t0), cInc = CPUSeconds() - c0;
    std::cout << "INCREMENTAL_MAPS=" << count << "\nINCREMENTAL_BATCH=" << batch << "\nINCREMENTAL_SECONDS=" << tInc
              << "\nINCREMENTAL_CPU_SECONDS=" << cInc << std::endl;

    // Any latent size: 64 x 64 maps (512 x 512 micrographs), incremental.
    const unsigned int large = std::max(1u, count / 100);
    t0 = std::chrono::steady_clock::now();
    const auto big = prior->Sample(large, 64, 64, condition, 1.0, seed);
    std::cout << "INCREMENTAL_64x64_MAPS=" << large << "\nINCREMENTAL_64x64_SECONDS=" << Seconds(t0) << std::endl;

    if (naiveCount == 0)
    {
      return 0; // incremental timing only
    }
    prior->SetSampler("naive");
    prior->SetInferenceBatchSize(naiveCount);
    t0 = std::chrono::steady_clock::now();
    c0 = CPUSeconds();
    const auto   naive = prior->Sample(naiveCount, h, w, condition, 1.0, seed);
    const double tNaive = Seconds(t0), cNaive = CPUSeconds() - c0;
    const double tNaiveAll = tNaive * count / naiveCount;
    std::cout << "NAIVE_MAPS=" << naiveCount << "\nNAIVE_SECONDS=" << tNaive
              << "\nNAIVE_SECONDS_PER_MAP=" << tNaive / naiveCount << "\nNAIVE_SECONDS_ESTIMATED_FOR_" << count << "="
              << tNaiveAll << "\nNAIVE_CPU_SECONDS=" << cNaive << "\nNAIVE_CPU_SECONDS_ESTIMATED_FOR_" << count << "="
              << cNaive * count / naiveCount << std::endl;

    unsigned int identical = 0;
    for (unsigned int i = 0; i < naiveCount; ++i)
      identical +=
        std::equal(naive.begin() + i * h * w, naive.begin() + (i + 1) * h * w, incremental.begin() + i * h * w);
    std::cout << "IDENTICAL_MAPS=" << identical << "/" << naiveCount
              << "\nRATIO_NAIVE_OVER_INCREMENTAL=" << std::setprecision(4) << tNaiveAll / tInc
              << "\nCPU_RATIO_NAIVE_OVER_INCREMENTAL=" << cNaive * count / naiveCount / cInc << std::endl;

    // For the Python reference: the model, the encoded condition, the naive maps and their log-likelihoods.
    prior->Write(work + "/prior.smprior");
    WriteRaw(work + "/condition.f32", prior->EncodeConditions(condition, 1));
    WriteRaw(work + "/maps.i32", naive);
    WriteRaw(work + "/loglik.f64", prior->LogLikelihood(naive.data(), naiveCount, h, w, condition));
    return identical == naiveCount ? 0 : 1;
  }
  catch (const std::exception & e)
  {
    std::cerr << "error: " << e.what() << std::endl;
    return 1;
  }
}
