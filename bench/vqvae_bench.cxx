/*=========================================================================
 * vqvae_bench: training and encoding throughput of itk::VQVAEModel (the
 * paper's VQ-VAE, default hyperparameters) on random-but-fixed images, the
 * C++ side of bench/run_vqvae_bench.sh (the Python side is
 * bench/vqvae_reference.py, the same network in PyTorch).
 *
 *   vqvae_bench [--batch 64] [--steps 5] [--warmup 1] [--encode-images 256]
 *               [--size 128] [--threads 2] [--seed 2021] [--precision float32|bfloat16|auto]
 *               [--device cpu|cuda:N|auto]
 *
 * Prints KEY=VALUE lines: OURS_FORWARD_GFLOP_PER_IMAGE (2 x multiply-adds of
 * one image's forward pass, counted analytically from the hyperparameters),
 * OURS_TRAIN_IMG_S (TrainStep: Adam, loss MSE + codebook + commitment; all timed
 * steps), OURS_TRAIN_IMG_S_BEST_STEP (the fastest step: the least disturbed by other jobs),
 * OURS_TRAIN_IMG_PER_CPU_S (images per second of process CPU time, all threads:
 * less sensitive to other people's jobs on a shared machine), OURS_TRAIN_LOSS, OURS_ENCODE_IMG_S (Encode: encoder +
 *nearest code, batches of the model's InferenceBatchSize = --batch).
 *=========================================================================*/
#include "itkVQVAEModel.h"
#include "itkMultiThreaderBase.h"

#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace
{

/** 2 x multiply-adds of one image's forward pass (size x size), as bench/vqvae_reference.py
 * counts them: every convolution, plus the quantizer's distance product h w x K x D. */
double
ForwardFlopsPerImage(const itk::VQVAEModel::Hyperparameters & h, double size)
{
  double       macs = 0.0;
  double       s = size;
  double       in = h.InputChannels;
  const double last = h.EncoderChannels.back();
  for (const auto c : h.EncoderChannels) // 4x4 stride-2 convolutions
  {
    s /= 2.0;
    macs += s * s * c * in * 16.0;
    in = c;
  }
  const double res = h.NumberOfResidualBlocks * s * s * (last * last * 9.0 + last * last); // 3x3 + 1x1
  macs += res + s * s * last * h.CodeDimension;                                            // encoder's 1x1 to D
  macs += s * s * h.CodebookSize * h.CodeDimension;                                        // distances
  macs += s * s * h.CodeDimension * last * 9.0 + res;                                      // decoder's 3x3, residuals
  for (auto i = h.EncoderChannels.size(); i-- > 0;) // transposed 4x4 stride 2: Cin x Cout x 16 per input pixel
  {
    const double out = i > 0 ? h.EncoderChannels[i - 1] : h.InputChannels;
    macs += s * s * h.EncoderChannels[i] * out * 16.0;
    s *= 2.0;
  }
  return 2.0 * macs;
}

double
Seconds(std::chrono::steady_clock::time_point t0)
{
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::vector<float>
RandomImages(size_t n, unsigned int size, unsigned int seed)
{
  std::mt19937                          rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float>                    v(n * size * size);
  for (auto & x : v)
  {
    x = u(rng);
  }
  return v;
}

} // namespace

int
main(int argc, char * argv[])
{
  unsigned int batch = 64, steps = 5, warmup = 1, encodeImages = 256, size = 128, threads = 2, seed = 2021;
  std::string  precision = "float32";
  std::string  device = "cpu";
  for (int i = 1; i < argc; ++i)
  {
    const std::string a = argv[i];
    auto              value = [&]() -> unsigned int {
      if (i + 1 >= argc)
      {
        throw std::invalid_argument(a + " needs a value");
      }
      return static_cast<unsigned int>(std::stoul(argv[++i]));
    };
    if (a == "--batch")
      batch = value();
    else if (a == "--steps")
      steps = value();
    else if (a == "--warmup")
      warmup = value();
    else if (a == "--encode-images")
      encodeImages = value();
    else if (a == "--size")
      size = value();
    else if (a == "--threads")
      threads = value();
    else if (a == "--seed")
      seed = value();
    else if (a == "--precision" && i + 1 < argc)
      precision = argv[++i];
    else if (a == "--device" && i + 1 < argc)
      device = argv[++i];
    else
    {
      std::cerr << "usage: " << argv[0]
                << " [--batch 64] [--steps 5] [--warmup 1] [--encode-images 256] [--size 128] [--threads 2] [--seed "
                   "2021] [--precision float32|bfloat16|auto] [--device cpu|cuda:N|auto]\n";
      return a == "--help" ? 0 : 2;
    }
  }
  try
  {
    itk::MultiThreaderBase::SetGlobalDefaultNumberOfThreads(threads);
    auto model = itk::VQVAEModel::New();
    model->SetSeed(seed);
    model->SetDevice(device);
    model->SetPrecision(precision);
    model->SetInferenceBatchSize(batch);
    model->Initialize();
    std::printf(
      "OURS_DEVICE=%s\nOURS_PRECISION=%s\n", model->GetDeviceInUse().c_str(), model->GetPrecisionInUse().c_str());
    std::printf("OURS_FORWARD_GFLOP_PER_IMAGE=%.6f\n", ForwardFlopsPerImage(model->GetHyperparameters(), size) / 1e9);

    const auto x = RandomImages(batch, size, seed);
    for (unsigned int s = 0; s < warmup; ++s)
    {
      model->TrainStep(x.data(), batch, size, size);
    }
    itk::VQVAEModel::TrainingStepResult r;
    double                              best = 1e300;
    const std::clock_t                  c0 = std::clock();
    const auto                          t0 = std::chrono::steady_clock::now();
    for (unsigned int s = 0; s < steps; ++s)
    {
      const auto ts = std::chrono::steady_clock::now();
      r = model->TrainStep(x.data(), batch, size, size);
      best = std::min(best, Seconds(ts));
    }
    const double train = Seconds(t0);
    const double trainCpu = static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC;
    std::printf(
      "OURS_TRAIN_IMG_S=%.3f\nOURS_TRAIN_IMG_S_BEST_STEP=%.3f\nOURS_TRAIN_IMG_PER_CPU_S=%.3f\nOURS_TRAIN_LOSS=%.6f\n",
      steps * batch / train,
      batch / best,
      steps * batch / trainCpu,
      r.TotalLoss);

    const auto xe = RandomImages(encodeImages, size, seed + 1);
    model->Encode(xe.data(), std::min(batch, encodeImages), size, size); // warm-up
    double enc = 1e300;
    size_t codes = 0;
    for (int rep = 0; rep < 2; ++rep) // best of 2
    {
      const auto te = std::chrono::steady_clock::now();
      codes = model->Encode(xe.data(), encodeImages, size, size).size();
      enc = std::min(enc, Seconds(te));
    }
    std::printf("OURS_ENCODE_IMG_S=%.3f\n", encodeImages / enc);
    return codes == 0 ? 1 : 0;
  }
  catch (const std::exception & e)
  {
    std::cerr << "vqvae_bench: " << e.what() << '\n';
    return 1;
  }
}
