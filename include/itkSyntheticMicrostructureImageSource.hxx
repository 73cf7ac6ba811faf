/*=========================================================================
 *  ITKStochasticMicrostructure
 *  Licensed under the Apache License, Version 2.0
 *=========================================================================*/
#ifndef itkSyntheticMicrostructureImageSource_hxx
#define itkSyntheticMicrostructureImageSource_hxx

#include "itkSyntheticMicrostructureImageSource.h"

#include "itkDiscreteGaussianImageFilter.h"
#include "itkImageRegionIterator.h"
#include "itkMultiThreaderBase.h"
#include "itkProgressReporter.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

namespace itk
{
namespace SyntheticMicrostructureDetail
{
/** SplitMix64 step: a small counter-based generator, identical on every platform. */
inline uint64_t
SplitMix64(uint64_t & state)
{
  uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}
/** Hash of two 64-bit values (the seed / a stream / a cell or pixel index). */
inline uint64_t
Mix(uint64_t a, uint64_t b)
{
  uint64_t s = a ^ (b * 0xD1B54A32D192ED03ULL + 0x632BE59BD9B4E019ULL);
  SplitMix64(s);
  return SplitMix64(s);
}
/** Uniform in [0, 1) from 64 random bits. */
inline double
Uniform01(uint64_t bits)
{
  return static_cast<double>(bits >> 11) * (1.0 / 9007199254740992.0);
}
/** Standard normal by Box-Muller from two 64-bit random words. */
inline double
Normal(uint64_t bits1, uint64_t bits2)
{
  const double u1 = 1.0 - Uniform01(bits1); // (0, 1]
  const double u2 = Uniform01(bits2);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * itk::Math::pi * u2);
}
/** Poisson variate of mean m (Knuth's product method; m is ~3 here). */
inline unsigned
Poisson(double m, uint64_t & state)
{
  const double limit = std::exp(-m);
  double       p = 1.0;
  unsigned     k = 0;
  for (;;)
  {
    p *= Uniform01(SplitMix64(state));
    if (p <= limit || k > 1000)
    {
      return k;
    }
    ++k;
  }
}
/** Monotone piecewise-cubic (Fritsch-Carlson / PCHIP) interpolation of (x, y) at t, linear
 * extrapolation with the end secants outside [x0, xn]. */
inline double
MonotoneCubic(const std::vector<double> & x, const std::vector<double> & y, double t)
{
  const std::size_t   n = x.size();
  std::vector<double> h(n - 1), d(n - 1), m(n);
  for (std::size_t k = 0; k + 1 < n; ++k)
  {
    h[k] = x[k + 1] - x[k];
    d[k] = (y[k + 1] - y[k]) / h[k];
  }
  m[0] = d[0];
  m[n - 1] = d[n - 2];
  for (std::size_t k = 1; k + 1 < n; ++k)
  {
    if (d[k - 1] * d[k] <= 0.0)
    {
      m[k] = 0.0;
    }
    else
    {
      const double w1 = 2.0 * h[k] + h[k - 1], w2 = h[k] + 2.0 * h[k - 1];
      m[k] = (w1 + w2) / (w1 / d[k - 1] + w2 / d[k]);
    }
  }
  if (t <= x[0])
  {
    return y[0] + d[0] * (t - x[0]);
  }
  if (t >= x[n - 1])
  {
    return y[n - 1] + d[n - 2] * (t - x[n - 1]);
  }
  std::size_t k = 0;
  while (t > x[k + 1])
  {
    ++k;
  }
  const double s = (t - x[k]) / h[k];
  const double h00 = (1 + 2 * s) * (1 - s) * (1 - s), h10 = s * (1 - s) * (1 - s);
  const double h01 = s * s * (3 - 2 * s), h11 = s * s * (s - 1);
  return h00 * y[k] + h10 * h[k] * m[k] + h01 * y[k + 1] + h11 * h[k] * m[k + 1];
}
enum Stream : uint64_t
{
  NucleiStream = 1,
  FieldStream = 2,
  NoiseStream = 3
};
} // namespace SyntheticMicrostructureDetail

template <typename TOutputImage>
std::vector<typename SyntheticMicrostructureImageSource<TOutputImage>::CalibrationPoint>
SyntheticMicrostructureImageSource<TOutputImage>::GetCalibrationTable()
{
  // Produced by `build/bench/calibrate_synthetic calibrate 16 12` (12 fixed-point / Newton
  // iterations on 16 fresh micrographs = 768 patches per rate and iteration; the table is the
  // mean of the last 6 iterates). `calibrate_synthetic evaluate 30` (30 other micrographs = 1440
  // patches per rate; SE = standard error of the mean from per-image means) gives:
  //   rate    V_f mean (SE)  V_f var  d_f um (SE)  | phase map: V_f mean, var, d_f | target
  //     1.00    73.69 (0.13)   17.69  6.507 (0.009) | truth  73.66   17.78  6.439 | target  73.4  15.8  6.50
  //     2.00    70.44 (0.14)   13.33  5.017 (0.006) | truth  70.39   13.44  4.947
  //     3.00    68.98 (0.15)   13.84  4.492 (0.005) | truth  68.92   13.99  4.421 | target  68.8  13.9  4.49
  //     6.50    67.43 (0.21)   21.79  4.039 (0.004) | truth  67.36   22.11  3.967
  //    10.00    66.46 (0.24)   28.91  3.883 (0.004) | truth  66.39   29.40  3.811 | target  66.2  29.3  3.88
  //    20.00    64.65 (0.29)   41.07  3.724 (0.005) | truth  64.57   41.73  3.650
  //    30.00    63.65 (0.32)   49.48  3.644 (0.006) | truth  63.56   50.26  3.568 | target  63.4  50.3  3.64
  return { { 1.0, 0.0140194, 7.49396, 0.00851702 },
           { 3.0, 0.0284752, 5.11907, 0.0313363 },
           { 10.0, 0.0373292, 4.40266, 0.0685866 },
           { 30.0, 0.0414156, 4.07247, 0.0940268 } };
}

template <typename TOutputImage>
SyntheticMicrostructureParameters
SyntheticMicrostructureImageSource<TOutputImage>::GetParametersForCoolingRate(double coolingRate, bool * extrapolated)
{
  if (!std::isfinite(coolingRate) || coolingRate <= 0.0)
  {
    itkGenericExceptionMacro(<< "SyntheticMicrostructureImageSource: the cooling rate must be a positive number of "
                                "degC/s (got "
                             << coolingRate << "); the model is calibrated between 1 and 30 degC/s.");
  }
  if (coolingRate < 0.01 || coolingRate > 1000.0)
  {
    itkGenericExceptionMacro(<< "SyntheticMicrostructureImageSource: cooling rate " << coolingRate
                             << " degC/s is far outside the calibrated range 1..30 degC/s; give a rate between "
                                "0.01 and 1000 degC/s (outside 1..30 it is an extrapolation).");
  }
  const auto          table = GetCalibrationTable();
  std::vector<double> x, lnLambda, lnT0, sigma;
  for (const auto & row : table)
  {
    x.push_back(std::log(row.CoolingRate));
    lnLambda.push_back(std::log(row.NucleationDensity));
    lnT0.push_back(std::log(row.TransformationEnd));
    sigma.push_back(row.TransformationEndLogSigma);
  }
  const double t = std::log(coolingRate);
  if (extrapolated)
  {
    *extrapolated = t < x.front() - 1e-12 || t > x.back() + 1e-12;
  }
  using SyntheticMicrostructureDetail::MonotoneCubic;
  ParametersType p;
  p.NucleationDensity = std::exp(MonotoneCubic(x, lnLambda, t));
  p.TransformationEnd = std::exp(MonotoneCubic(x, lnT0, t));
  p.TransformationEndLogSigma = std::max(0.0, MonotoneCubic(x, sigma, t));
  p.NucleationPeriod = NucleationPeriodFactor / std::sqrt(p.NucleationDensity);
  return p;
}

template <typename TOutputImage>
SyntheticMicrostructureImageSource<TOutputImage>::SyntheticMicrostructureImageSource()
{
  m_Size[0] = 1024;
  m_Size[1] = 768;
  m_Spacing.Fill(0.34);
  m_Origin.Fill(0.0);
  this->SetNumberOfRequiredOutputs(2);
  this->SetNthOutput(1, this->MakeOutput(1));
}

template <typename TOutputImage>
void
SyntheticMicrostructureImageSource<TOutputImage>::SetParameters(const ParametersType & parameters)
{
  m_CustomParameters = parameters;
  m_UseCalibration = false;
  this->Modified();
}

template <typename TOutputImage>
SyntheticMicrostructureParameters
SyntheticMicrostructureImageSource<TOutputImage>::GetParameters() const
{
  return m_UseCalibration ? GetParametersForCoolingRate(m_CoolingRate) : m_CustomParameters;
}

template <typename TOutputImage>
void
SyntheticMicrostructureImageSource<TOutputImage>::CheckSettings(const ParametersType & p) const
{
  for (unsigned d = 0; d < 2; ++d)
  {
    if (m_Size[d] == 0)
    {
      itkExceptionMacro(<< "The image size is " << m_Size << ": give a size of at least 1 x 1 pixels (SetSize).");
    }
    if (!(m_Spacing[d] > 0.0) || !std::isfinite(m_Spacing[d]))
    {
      itkExceptionMacro(<< "The spacing is " << m_Spacing
                        << ": give a positive pixel size in micrometres (the calibration used 0.34).");
    }
    if (!std::isfinite(m_Origin[d]))
    {
      itkExceptionMacro(<< "The origin " << m_Origin << " is not finite.");
    }
  }
  const auto positive = [](double v) { return v > 0.0 && std::isfinite(v); };
  const auto nonNegative = [](double v) { return v >= 0.0 && std::isfinite(v); };
  if (!positive(p.NucleationDensity) || !positive(p.TransformationEnd) || !positive(p.CorrelationLength))
  {
    itkExceptionMacro(<< "NucleationDensity, TransformationEnd and CorrelationLength must be positive and finite; got "
                      << p << ". Use the calibrated parameters (SetCoolingRate) or fix SetParameters().");
  }
  if (!nonNegative(p.TransformationEndLogSigma) || !nonNegative(p.NucleationPeriod) ||
      !nonNegative(p.BoundaryHalfWidth) || !nonNegative(p.BlurSigma) || !nonNegative(p.NoiseSigma) ||
      !nonNegative(p.FerriteGrainGrayRange) || !nonNegative(p.PearliteAmplitude) || !positive(p.LamellarPeriodMin) ||
      !(p.LamellarPeriodMax >= p.LamellarPeriodMin) || !std::isfinite(p.LamellarPeriodMax) || p.NucleiPerCell > 100)
  {
    itkExceptionMacro(<< "Invalid synthetic-microstructure parameters: " << p
                      << ". Sigma, tau, widths, blur, noise and amplitudes must be >= 0 and finite, and "
                         "0 < LamellarPeriodMin <= LamellarPeriodMax, NucleiPerCell <= 100.");
  }
  const double area = (m_Size[0] * m_Spacing[0] + 40.0 / std::sqrt(p.NucleationDensity)) *
                      (m_Size[1] * m_Spacing[1] + 40.0 / std::sqrt(p.NucleationDensity));
  if (p.NucleationDensity * area > 5e7)
  {
    itkExceptionMacro(<< "NucleationDensity " << p.NucleationDensity << " /um^2 over this image ("
                      << m_Size[0] * m_Spacing[0] << " x " << m_Size[1] * m_Spacing[1]
                      << " um) means more than 50 million grains; use a lower density or a smaller image.");
  }
}

template <typename TOutputImage>
void
SyntheticMicrostructureImageSource<TOutputImage>::GenerateOutputInformation()
{
  const ParametersType p = this->GetParameters(); // throws for a bad cooling rate
  this->CheckSettings(p);
  if (m_UseCalibration)
  {
    bool extrapolated = false;
    GetParametersForCoolingRate(m_CoolingRate, &extrapolated);
    if (extrapolated)
    {
      itkWarningMacro(<< "Cooling rate " << m_CoolingRate
                      << " degC/s is outside the calibrated range 1..30 degC/s: the parameters are extrapolated "
                         "linearly in ln(rate) and have no data behind them.");
    }
  }
  RegionType region;
  region.SetSize(m_Size);
  for (unsigned i = 0; i < 2; ++i)
  {
    OutputImageType * out = this->GetOutput(i);
    out->SetLargestPossibleRegion(region);
    out->SetSpacing(m_Spacing);
    out->SetOrigin(m_Origin);
    typename OutputImageType::DirectionType dir;
    dir.SetIdentity();
    out->SetDirection(dir);
  }
}

template <typename TOutputImage>
void
SyntheticMicrostructureImageSource<TOutputImage>::EnlargeOutputRequestedRegion(DataObject * output)
{
  // The blur couples neighbouring pixels: always make the whole image.
  Superclass::EnlargeOutputRequestedRegion(output);
  for (unsigned i = 0; i < 2; ++i)
  {
    this->GetOutput(i)->SetRequestedRegionToLargestPossibleRegion();
  }
}

template <typename TOutputImage>
void
SyntheticMicrostructureImageSource<TOutputImage>::GenerateData()
{
  namespace D = SyntheticMicrostructureDetail;
  const ParametersType p = this->GetParameters();
  this->CheckSettings(p);

  OutputImageType * gray = this->GetOutput(0);
  OutputImageType * phase = this->GetOutput(1);
  for (OutputImageType * out : { gray, phase })
  {
    out->SetBufferedRegion(out->GetLargestPossibleRegion());
    out->Allocate();
  }
  const std::size_t W = m_Size[0], H = m_Size[1];
  const double      sx = m_Spacing[0], sy = m_Spacing[1], ox = m_Origin[0], oy = m_Origin[1];
  const uint64_t    seed = m_Seed;
  const unsigned    chunks = static_cast<unsigned>(std::min<std::size_t>(H, 16));
  ProgressReporter  progress(this, 0, chunks + 3);

  // --- Nuclei: a Poisson process generated per cell of a grid in physical space, each cell from
  // its own counter-based stream, so nuclei are a pure function of (seed, lambda, cell).
  const unsigned perCell = p.NucleiPerCell;
  const double   cell = std::sqrt((perCell > 0 ? perCell : 3.0) / p.NucleationDensity);
  const double   meanPerCell = p.NucleationDensity * cell * cell;
  const auto     generateCell = [&](int64_t ix, int64_t iy, std::vector<Nucleus> & into) {
    uint64_t state =
      D::Mix(D::Mix(D::Mix(seed, D::NucleiStream), static_cast<uint64_t>(ix)), static_cast<uint64_t>(iy));
    const unsigned n = perCell > 0 ? perCell : D::Poisson(meanPerCell, state);
    for (unsigned k = 0; k < n; ++k)
    {
      Nucleus nu;
      nu.x = (static_cast<double>(ix) + D::Uniform01(D::SplitMix64(state))) * cell;
      nu.y = (static_cast<double>(iy) + D::Uniform01(D::SplitMix64(state))) * cell;
      nu.t = p.NucleationPeriod * D::Uniform01(D::SplitMix64(state));
      nu.key = D::SplitMix64(state);
      into.push_back(nu);
    }
  };
  const int64_t            margin = 4;
  const int64_t            gx0 = static_cast<int64_t>(std::floor(ox / cell)) - margin;
  const int64_t            gy0 = static_cast<int64_t>(std::floor(oy / cell)) - margin;
  const int64_t            gx1 = static_cast<int64_t>(std::floor((ox + (W - 1) * sx) / cell)) + margin;
  const int64_t            gy1 = static_cast<int64_t>(std::floor((oy + (H - 1) * sy) / cell)) + margin;
  const int64_t            gnx = gx1 - gx0 + 1, gny = gy1 - gy0 + 1;
  std::vector<Nucleus>     nuclei;
  std::vector<std::size_t> cellStart(static_cast<std::size_t>(gnx * gny) + 1, 0);
  nuclei.reserve(static_cast<std::size_t>(gnx * gny * meanPerCell * 1.2) + 16);
  for (int64_t j = 0; j < gny; ++j)
  {
    for (int64_t i = 0; i < gnx; ++i)
    {
      cellStart[static_cast<std::size_t>(j * gnx + i)] = nuclei.size();
      generateCell(gx0 + i, gy0 + j, nuclei);
    }
  }
  cellStart.back() = nuclei.size();
  m_NumberOfNuclei = nuclei.size();
  progress.CompletedPixel();

  // --- ln T_end field: G = sqrt(2/M) sum cos(k.x + phi), k ~ N(0, I / ell^2), on a coarse grid.
  const bool          useField = p.TransformationEndLogSigma > 0.0;
  const double        gs = p.CorrelationLength / 8.0;
  const int64_t       fx0 = static_cast<int64_t>(std::floor(ox / gs)), fy0 = static_cast<int64_t>(std::floor(oy / gs));
  const int64_t       fnx = static_cast<int64_t>(std::floor((ox + (W - 1) * sx) / gs)) - fx0 + 2;
  const int64_t       fny = static_cast<int64_t>(std::floor((oy + (H - 1) * sy) / gs)) - fy0 + 2;
  std::vector<double> field;
  if (useField)
  {
    constexpr unsigned    M = 64;
    std::mt19937_64       engine(D::Mix(seed, D::FieldStream));
    std::array<double, M> kx, ky, phi;
    for (unsigned m = 0; m < M; ++m)
    {
      const uint64_t a = engine(), b = engine(), c = engine(), d = engine(), e = engine();
      kx[m] = D::Normal(a, b) / p.CorrelationLength;
      ky[m] = D::Normal(c, d) / p.CorrelationLength;
      phi[m] = 2.0 * Math::pi * D::Uniform01(e);
    }
    field.resize(static_cast<std::size_t>(fnx * fny));
    const double amp = std::sqrt(2.0 / M);
    for (int64_t j = 0; j < fny; ++j)
    {
      for (int64_t i = 0; i < fnx; ++i)
      {
        const double x = (fx0 + i) * gs, y = (fy0 + j) * gs;
        double       g = 0.0;
        for (unsigned m = 0; m < M; ++m)
        {
          g += std::cos(kx[m] * x + ky[m] * y + phi[m]);
        }
        field[static_cast<std::size_t>(j * fnx + i)] = amp * g;
      }
    }
  }
  const auto transformationEnd = [&](double x, double y) {
    if (!useField)
    {
      return p.TransformationEnd;
    }
    const double   u = x / gs - fx0, v = y / gs - fy0;
    const int64_t  i = std::min<int64_t>(std::max<int64_t>(static_cast<int64_t>(std::floor(u)), 0), fnx - 2);
    const int64_t  j = std::min<int64_t>(std::max<int64_t>(static_cast<int64_t>(std::floor(v)), 0), fny - 2);
    const double   a = u - i, b = v - j;
    const double * f = field.data() + j * fnx + i;
    const double   g = (1 - b) * ((1 - a) * f[0] + a * f[1]) + b * ((1 - a) * f[fnx] + a * f[fnx + 1]);
    return p.TransformationEnd * std::exp(p.TransformationEndLogSigma * g);
  };

  // --- Per pixel: the two earliest arrivals, phase label and noiseless gray level.
  using FloatImageType = Image<float, 2>;
  auto rendered = FloatImageType::New();
  rendered->SetRegions(gray->GetLargestPossibleRegion());
  rendered->SetSpacing(m_Spacing);
  rendered->SetOrigin(m_Origin);
  rendered->Allocate();
  float *      renderBuf = rendered->GetBufferPointer();
  PixelType *  phaseBuf = phase->GetBufferPointer();
  const double h = p.BoundaryHalfWidth;
  const double inf = std::numeric_limits<double>::infinity();

  const auto renderRows = [&](std::size_t row0, std::size_t row1) {
    std::vector<Nucleus> scratch;
    for (std::size_t r = row0; r < row1; ++r)
    {
      const double py = oy + r * sy;
      for (std::size_t c = 0; c < W; ++c)
      {
        const double  px = ox + c * sx;
        const double  tEnd = transformationEnd(px, py);
        const int64_t cx = static_cast<int64_t>(std::floor(px / cell));
        const int64_t cy = static_cast<int64_t>(std::floor(py / cell));
        const double  delta =
          std::min(std::min(px - cx * cell, (cx + 1) * cell - px), std::min(py - cy * cell, (cy + 1) * cell - py));
        double     best1 = inf, best2 = inf;
        Nucleus    n1{ 0, 0, 0, 0 }, n2{ 0, 0, 0, 0 };
        const auto visit = [&](int64_t ix, int64_t iy) {
          const Nucleus * first;
          const Nucleus * last;
          if (ix >= gx0 && ix <= gx1 && iy >= gy0 && iy <= gy1)
          {
            const std::size_t k = static_cast<std::size_t>((iy - gy0) * gnx + (ix - gx0));
            first = nuclei.data() + cellStart[k];
            last = nuclei.data() + cellStart[k + 1];
          }
          else
          {
            scratch.clear();
            generateCell(ix, iy, scratch);
            first = scratch.data();
            last = first + scratch.size();
          }
          for (const Nucleus * q = first; q != last; ++q)
          {
            const double a = q->t + std::sqrt((px - q->x) * (px - q->x) + (py - q->y) * (py - q->y));
            if (a < best1)
            {
              best2 = best1;
              n2 = n1;
              best1 = a;
              n1 = *q;
            }
            else if (a < best2)
            {
              best2 = a;
              n2 = *q;
            }
          }
        };
        visit(cx, cy);
        for (int64_t ring = 1; ring < 256; ++ring)
        {
          const double lowerBound = (ring - 1) * cell + delta;
          const double bound = best1 <= tEnd ? std::min(std::min(best2, best1 + 2.0 * h), tEnd) : best1;
          if (lowerBound > bound)
          {
            break;
          }
          for (int64_t d = -ring; d <= ring; ++d)
          {
            visit(cx + d, cy - ring);
            visit(cx + d, cy + ring);
          }
          for (int64_t d = -ring + 1; d <= ring - 1; ++d)
          {
            visit(cx - ring, cy + d);
            visit(cx + ring, cy + d);
          }
        }
        unsigned char label;
        double        value;
        if (best1 > tEnd)
        {
          label = PearliteLabel;
          const uint64_t k = n1.key;
          const double   theta = Math::pi * D::Uniform01(D::Mix(k, 1));
          const double   period =
            p.LamellarPeriodMin + (p.LamellarPeriodMax - p.LamellarPeriodMin) * D::Uniform01(D::Mix(k, 2));
          const double phase0 = 2.0 * Math::pi * D::Uniform01(D::Mix(k, 3));
          value = p.PearliteGray +
                  p.PearliteAmplitude *
                    std::cos(2.0 * Math::pi * (px * std::cos(theta) + py * std::sin(theta)) / period + phase0);
        }
        else
        {
          bool boundary = false;
          if (best2 <= tEnd)
          {
            const double d1 = std::hypot(px - n1.x, py - n1.y), d2 = std::hypot(px - n2.x, py - n2.y);
            const double ux = (d1 > 0 ? (px - n1.x) / d1 : 0.0) - (d2 > 0 ? (px - n2.x) / d2 : 0.0);
            const double uy = (d1 > 0 ? (py - n1.y) / d1 : 0.0) - (d2 > 0 ? (py - n2.y) / d2 : 0.0);
            boundary = (best2 - best1) < h * std::sqrt(ux * ux + uy * uy);
          }
          if (boundary)
          {
            label = BoundaryLabel;
            value = p.BoundaryGray;
          }
          else
          {
            label = FerriteLabel;
            value = p.FerriteGray + p.FerriteGrainGrayRange * (2.0 * D::Uniform01(n1.key) - 1.0);
          }
        }
        phaseBuf[r * W + c] = static_cast<PixelType>(label);
        renderBuf[r * W + c] = static_cast<float>(value);
      }
    }
  };
  MultiThreaderBase * threader = this->GetMultiThreader();
  for (unsigned k = 0; k < chunks; ++k)
  {
    const std::size_t a = H * k / chunks, b = H * (k + 1) / chunks;
    threader->ParallelizeArray(
      a, b, [&](SizeValueType row) { renderRows(row, row + 1); }, nullptr);
    progress.CompletedPixel();
  }

  // --- Optics: Gaussian blur (ITK), then noise, rounding and clamping.
  FloatImageType::Pointer blurred = rendered;
  if (p.BlurSigma > 0.0)
  {
    using BlurType = DiscreteGaussianImageFilter<FloatImageType, FloatImageType>;
    auto blur = BlurType::New();
    blur->SetInput(rendered);
    blur->SetVariance(p.BlurSigma * p.BlurSigma);
    blur->SetUseImageSpacing(true);
    blur->SetMaximumKernelWidth(64);
    blur->Update();
    blurred = blur->GetOutput();
  }
  progress.CompletedPixel();
  const float *  blurBuf = blurred->GetBufferPointer();
  PixelType *    grayBuf = gray->GetBufferPointer();
  const auto     index0 = gray->GetLargestPossibleRegion().GetIndex();
  const uint64_t noiseKey = D::Mix(seed, D::NoiseStream);
  threader->ParallelizeArray(
    0,
    H,
    [&](SizeValueType r) {
      const uint64_t rowKey = D::Mix(noiseKey, static_cast<uint64_t>(r + index0[1]));
      for (std::size_t c = 0; c < W; ++c)
      {
        double v = blurBuf[r * W + c];
        if (p.NoiseSigma > 0.0)
        {
          uint64_t       s = D::Mix(rowKey, static_cast<uint64_t>(c + index0[0]));
          const uint64_t b1 = D::SplitMix64(s), b2 = D::SplitMix64(s);
          v += p.NoiseSigma * D::Normal(b1, b2);
        }
        v = std::min(255.0, std::max(0.0, std::round(v)));
        grayBuf[r * W + c] = static_cast<PixelType>(v);
      }
    },
    nullptr);
  progress.CompletedPixel();
}

template <typename TOutputImage>
void
SyntheticMicrostructureImageSource<TOutputImage>::PrintSelf(std::ostream & os, Indent indent) const
{
  Superclass::PrintSelf(os, indent);
  os << indent << "CoolingRate: " << m_CoolingRate << " degC/s" << std::endl;
  os << indent << "UseCalibration: " << m_UseCalibration << std::endl;
  os << indent << "CustomParameters: " << m_CustomParameters << std::endl;
  os << indent << "Size: " << m_Size << std::endl;
  os << indent << "Spacing: " << m_Spacing << " um" << std::endl;
  os << indent << "Origin: " << m_Origin << std::endl;
  os << indent << "Seed: " << m_Seed << std::endl;
  os << indent << "NumberOfNuclei: " << m_NumberOfNuclei << std::endl;
}
} // end namespace itk

#endif
