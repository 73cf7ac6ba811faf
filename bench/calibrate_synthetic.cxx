/*=========================================================================
 *  calibrate_synthetic: fits (and checks) the calibration table of
 *  itk::SyntheticMicrostructureImageSource.
 *
 *  Measures exactly as the validation does: non-overlapping 128 x 128 patches
 *  at 0.34 um/px, ITK's OtsuThresholdImageFilter per patch (256 bins, bright =
 *  ferrite), MicrostructureDescriptorsImageFilter (ASTM E112 half count, every
 *  row and column, H and V pooled) -> ferrite fraction (%) and mean free path
 *  d_f (um); mean and variance (n - 1) across patches.
 *
 *  Usage:
 *    calibrate_synthetic evaluate [images=20] [rates=1,2,3,6.5,10,20,30] [seed0=1000000]
 *        statistics of the committed table (fresh seeds), also of the phase
 *        map measured directly (label 1 = ferrite), against the targets
 *    calibrate_synthetic calibrate [images=12] [iterations=8] [tauFactor] [number of rates=4]
 *        fixed-point / Newton iteration from the committed table; prints the
 *        new table (C++ rows for the .hxx), then evaluates it with 20 images
 *=========================================================================*/
#include "itkMicrostructureDescriptorsImageFilter.h"
#include "itkOtsuThresholdImageFilter.h"
#include "itkRegionOfInterestImageFilter.h"
#include "itkSyntheticMicrostructureImageSource.h"

#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace
{
using ImageType = itk::Image<unsigned char, 2>;
using SourceType = itk::SyntheticMicrostructureImageSource<ImageType>;
using Params = itk::SyntheticMicrostructureParameters;

struct Target
{
  double rate, mean, var, df;
};
const std::vector<Target> kTargets = { { 1, 73.4, 15.8, 6.50 },
                                       { 3, 68.8, 13.9, 4.49 },
                                       { 10, 66.2, 29.3, 3.88 },
                                       { 30, 63.4, 50.3, 3.64 } };

struct Stats
{
  double      mean{ 0 }, var{ 0 }, df{ 0 }, dfSE{ 0 }, meanSE{ 0 };
  double      truthMean{ 0 }, truthVar{ 0 }, truthDf{ 0 };
  std::size_t n{ 0 };
};

void
MeanVar(const std::vector<double> & v, double & mean, double & var)
{
  mean = 0;
  for (double x : v)
  {
    mean += x;
  }
  mean /= v.size();
  var = 0;
  for (double x : v)
  {
    var += (x - mean) * (x - mean);
  }
  var /= (v.size() - 1);
}

/** Fraction (%) and d_f (um) of a 0/1 patch. */
void
Describe(const ImageType * binary, double & fraction, double & df)
{
  auto d = itk::MicrostructureDescriptorsImageFilter<ImageType>::New();
  d->SetInput(binary);
  d->SetForegroundValue(1);
  d->SetNumberOfWorkUnits(1);
  d->Update();
  fraction = 100.0 * d->GetVolumeFraction();
  df = d->GetMeanFreePathPhysical();
}

/** Measure n images (seeds seed0 ..) made with parameters p. */
Stats
Measure(const Params & p, int n, uint64_t seed0)
{
  std::vector<double> f, dfs, tf, tdfs;
  for (int i = 0; i < n; ++i)
  {
    auto src = SourceType::New();
    src->SetParameters(p);
    src->SetSeed(seed0 + i);
    src->Update();
    ImageType::Pointer gray = src->GetOutput();
    ImageType::Pointer phase = src->GetPhaseMapOutput();
    const auto         size = gray->GetLargestPossibleRegion().GetSize();
    for (unsigned y = 0; y + 128 <= size[1]; y += 128)
    {
      for (unsigned x = 0; x + 128 <= size[0]; x += 128)
      {
        ImageType::RegionType r({ { x, y } }, { { 128, 128 } });
        auto                  roi = itk::RegionOfInterestImageFilter<ImageType, ImageType>::New();
        roi->SetInput(gray);
        roi->SetRegionOfInterest(r);
        roi->SetNumberOfWorkUnits(1);
        auto otsu = itk::OtsuThresholdImageFilter<ImageType, ImageType>::New();
        otsu->SetInput(roi->GetOutput());
        otsu->SetNumberOfHistogramBins(256);
        otsu->SetInsideValue(0);  // <= threshold: dark
        otsu->SetOutsideValue(1); // bright = ferrite
        otsu->SetNumberOfWorkUnits(1);
        otsu->Update();
        double a, b;
        Describe(otsu->GetOutput(), a, b);
        f.push_back(a);
        dfs.push_back(b);
        auto roi2 = itk::RegionOfInterestImageFilter<ImageType, ImageType>::New();
        roi2->SetInput(phase);
        roi2->SetRegionOfInterest(r);
        roi2->SetNumberOfWorkUnits(1);
        roi2->Update();
        Describe(roi2->GetOutput(), a, b);
        tf.push_back(a);
        tdfs.push_back(b);
      }
    }
  }
  Stats s;
  s.n = f.size();
  double dfVar, t;
  MeanVar(f, s.mean, s.var);
  MeanVar(dfs, s.df, dfVar);
  // Standard errors from per-image means (patches of one image are correlated).
  const std::size_t   perImage = f.size() / n;
  std::vector<double> imgMean(n, 0.0), imgDf(n, 0.0);
  for (std::size_t k = 0; k < f.size(); ++k)
  {
    imgMean[k / perImage] += f[k] / perImage;
    imgDf[k / perImage] += dfs[k] / perImage;
  }
  double v1, v2;
  MeanVar(imgMean, t, v1);
  MeanVar(imgDf, t, v2);
  s.meanSE = std::sqrt(v1 / n);
  s.dfSE = std::sqrt(v2 / n);
  MeanVar(tf, s.truthMean, s.truthVar);
  MeanVar(tdfs, s.truthDf, dfVar);
  return s;
}

/** Ferrite fraction of the Johnson-Mehl model without boundaries or field, as a function of
 * T* = T0 sqrt(lambda) with tau* = 1, and its derivative (for Newton steps). */
void
JMFraction(double T, double & F, double & dF)
{
  double E, dE;
  if (T >= 1.0)
  {
    E = (T * T * T - (T - 1) * (T - 1) * (T - 1)) / 3.0;
    dE = T * T - (T - 1) * (T - 1);
  }
  else
  {
    E = T * T * T / 3.0;
    dE = T * T;
  }
  const double P = std::exp(-itk::Math::pi * E);
  F = 100.0 * (1.0 - P);
  dF = 100.0 * P * itk::Math::pi * dE;
}

void
PrintRow(double rate, const Stats & s, const Target * t)
{
  std::printf("%6.2f  %7.2f (%4.2f) %7.2f %6.3f (%5.3f) | truth %6.2f %7.2f %6.3f",
              rate,
              s.mean,
              s.meanSE,
              s.var,
              s.df,
              s.dfSE,
              s.truthMean,
              s.truthVar,
              s.truthDf);
  if (t)
  {
    std::printf(" | target %5.1f %5.1f %5.2f", t->mean, t->var, t->df);
  }
  std::printf("\n");
}

void
Evaluate(int images, const std::vector<double> & rates, uint64_t seed0)
{
  std::printf("rate    V_f mean (SE)  V_f var  d_f um (SE)  | phase map: V_f mean, var, d_f | target\n");
  for (double rate : rates)
  {
    const Params   p = SourceType::GetParametersForCoolingRate(rate);
    const Stats    s = Measure(p, images, seed0);
    const Target * t = nullptr;
    for (const auto & k : kTargets)
    {
      if (k.rate == rate)
      {
        t = &k;
      }
    }
    PrintRow(rate, s, t);
    std::fflush(stdout);
  }
}
} // namespace

int
main(int argc, char * argv[])
{
  const std::string mode = argc > 1 ? argv[1] : "evaluate";
  if (mode == "evaluate")
  {
    const int           images = argc > 2 ? std::stoi(argv[2]) : 20;
    std::vector<double> rates = { 1, 2, 3, 6.5, 10, 20, 30 };
    if (argc > 3)
    {
      rates.clear();
      std::stringstream ss(argv[3]);
      std::string       item;
      while (std::getline(ss, item, ','))
      {
        rates.push_back(std::stod(item));
      }
    }
    const uint64_t seed0 = argc > 4 ? std::stoull(argv[4]) : 1000000;
    Evaluate(images, rates, seed0);
    return 0;
  }
  if (mode != "calibrate")
  {
    std::cerr << "usage: calibrate_synthetic evaluate [images] [rates] [seed0] | calibrate [images] [iterations]\n";
    return 2;
  }
  const int         images = argc > 2 ? std::stoi(argv[2]) : 12;
  const int         iterations = argc > 3 ? std::stoi(argv[3]) : 8;
  const double      tauFactor = argc > 4 ? std::stod(argv[4]) : SourceType::NucleationPeriodFactor;
  const std::size_t onlyRates = argc > 5 ? std::stoul(argv[5]) : kTargets.size();
  std::vector<SourceType::CalibrationPoint> table;
  for (std::size_t ti = 0; ti < onlyRates; ++ti)
  {
    const Target &                     target = kTargets[ti];
    Params                             p = SourceType::GetParametersForCoolingRate(target.rate);
    double                             sigma = std::max(p.TransformationEndLogSigma, 0.02);
    double                             lambda = p.NucleationDensity;
    double                             Tstar = p.TransformationEnd * std::sqrt(lambda);
    Stats                              s;
    double                             prevT = 0, prevMean = 0;
    std::vector<std::array<double, 3>> history;
    for (int it = 0; it < iterations; ++it)
    {
      p.NucleationDensity = lambda;
      p.NucleationPeriod = tauFactor / std::sqrt(lambda);
      p.TransformationEnd = Tstar / std::sqrt(lambda);
      p.TransformationEndLogSigma = sigma;
      s = Measure(p, images, 1 + 1000 * it); // fresh seeds each iteration: no overfitting to one sample
      std::printf("rate %g it %d: lambda %.5f T* %.4f sigma %.4f -> mean %.2f var %.2f d_f %.3f\n",
                  target.rate,
                  it,
                  lambda,
                  Tstar,
                  sigma,
                  s.mean,
                  s.var,
                  s.df);
      std::fflush(stdout);
      // T*: Newton step with the secant slope of the last two iterations when it is usable, else
      // the Johnson-Mehl slope; steps bounded so that noise cannot throw the iteration off.
      double F, dF;
      JMFraction(Tstar, F, dF);
      if (it > 0 && std::abs(Tstar - prevT) > 1e-4)
      {
        const double secant = (s.mean - prevMean) / (Tstar - prevT);
        if (secant > 0.3 * dF && secant < 10 * dF)
        {
          dF = secant;
        }
      }
      prevT = Tstar;
      prevMean = s.mean;
      Tstar = std::max(0.05, Tstar + std::min(0.08, std::max(-0.08, (target.mean - s.mean) / dF)));
      lambda *= std::pow(s.df / target.df, 2.0);
      sigma = std::min(2.0, std::max(0.0, sigma * std::min(1.6, std::max(0.6, std::pow(target.var / s.var, 0.6)))));
      history.push_back({ { lambda, Tstar, sigma } });
    }
    // The iterates fluctuate with the sampling noise: the table takes the mean of the second half.
    const std::size_t half = history.size() / 2;
    double            l = 0, T = 0, sg = 0;
    for (std::size_t k = half; k < history.size(); ++k)
    {
      l += history[k][0] / (history.size() - half);
      T += history[k][1] / (history.size() - half);
      sg += history[k][2] / (history.size() - half);
    }
    table.push_back({ target.rate, l, T / std::sqrt(l), sg });
  }
  std::printf("\nCalibrated table (paste into GetCalibrationTable()):\n");
  for (const auto & row : table)
  {
    std::printf("    { %g, %.6g, %.6g, %.6g },\n",
                row.CoolingRate,
                row.NucleationDensity,
                row.TransformationEnd,
                row.TransformationEndLogSigma);
  }
  return 0;
}
