/*=========================================================================
 *
 *  ITKStochasticMicrostructure
 *
 *  Licensed under the Apache License, Version 2.0 (the "License");
 *  you may not use this file except in compliance with the License.
 *  You may obtain a copy of the License at
 *
 *         http://www.apache.org/licenses/LICENSE-2.0.txt
 *
 *=========================================================================*/
#ifndef itkTwoPointCorrelationImageFilter_hxx
#define itkTwoPointCorrelationImageFilter_hxx

#include "itkTwoPointCorrelationImageFilter.h"

#include "itkConfigure.h"
#include "itkHalfHermitianToRealInverseFFTImageFilter.h"
#include "itkImageRegionIterator.h"
#include "itkProgressReporter.h"
#include "itkRealToHalfHermitianForwardFFTImageFilter.h"
#if ITK_TWO_POINT_CORRELATION_HAS_FFTW
#  include "itkFFTWCommon.h"
#  include "itkFFTWGlobalConfiguration.h"
#endif
#include "vnl/algo/vnl_determinant.h"

#include <algorithm>
#include <cmath>
#include <array>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <utility>

namespace itk
{
namespace TwoPointCorrelationDetail
{
/** Pair counts as PairCounts below gives them, through ITK's FFT filters TForward and TInverse
 * (RealToHalfHermitianForwardFFTImageFilter and HalfHermitianToRealInverseFFTImageFilter in double
 * precision, or an implementation of them): the indicator zero-padded to px x py, forward, |F|^2,
 * inverse (ITK's inverse divides by px py), rounded. The path of an ITK without FFTW (VNL's FFT,
 * which takes the 2/3/5-smooth padded sizes), and of UseFFTW Off. */
template <typename TForward, typename TInverse, typename TPixel>
void
PairCountsThroughFFTFilters(const TPixel * pixels, TPixel foreground, SizeValueType nx, SizeValueType ny,
                            SizeValueType px, SizeValueType py, long r, std::vector<double> & counts)
{
  using RealImageType = typename TForward::InputImageType;
  auto                               padded = RealImageType::New();
  typename RealImageType::RegionType region;
  region.SetSize({ { px, py } });
  padded->SetRegions(region);
  padded->Allocate(true);
  auto * f = padded->GetBufferPointer();
  for (SizeValueType y = 0; y < ny; ++y)
  {
    for (SizeValueType x = 0; x < nx; ++x)
    {
      f[y * px + x] = (pixels[y * nx + x] == foreground) ? 1.0 : 0.0;
    }
  }
  auto forward = TForward::New();
  forward->SetInput(padded);
  forward->Update();
  typename TForward::OutputImageType::Pointer spectrum = forward->GetOutput(); // held: outlives the filter
  spectrum->DisconnectPipeline();
  for (ImageRegionIterator<typename TForward::OutputImageType> it(spectrum, spectrum->GetBufferedRegion());
       !it.IsAtEnd();
       ++it)
  {
    it.Set(std::norm(it.Get()));
  }
  auto inverse = TInverse::New();
  inverse->SetActualXDimensionIsOdd(px % 2 == 1);
  inverse->SetInput(spectrum);
  inverse->Update();
  const auto *        c = inverse->GetOutput()->GetBufferPointer(); // count(dx mod px, dy mod py)
  const SizeValueType side = SizeValueType(2 * r + 1);
  for (long dy = -r; dy <= r; ++dy)
  {
    const SizeValueType row = SizeValueType((dy + long(py)) % long(py)) * px;
    for (long dx = -r; dx <= r; ++dx)
    {
      const double v = c[row + SizeValueType((dx + long(px)) % long(px))];
      counts[SizeValueType(dy + r) * side + SizeValueType(dx + r)] = double(static_cast<long>(v + 0.5));
    }
  }
}

#if ITK_TWO_POINT_CORRELATION_HAS_FFTW
/** Single- and double-precision FFTW through one name: plan, complex and new-array execute. */
template <typename TReal>
struct FFTW;

template <>
struct FFTW<float>
{
  using Proxy = fftw::Proxy<float>;
  using PlanType = fftwf_plan;
  using ComplexType = fftwf_complex;
  static void
  Forward(PlanType p, float * in, ComplexType * out)
  {
    fftwf_execute_dft_r2c(p, in, out);
  }
  static void
  Inverse(PlanType p, ComplexType * in, float * out)
  {
    fftwf_execute_dft_c2r(p, in, out);
  }
  static void
  Complex(PlanType p, ComplexType * in, ComplexType * out)
  {
    fftwf_execute_dft(p, in, out);
  }
  static PlanType
  PlanR2C(int n, int howmany, float * in, int istride, int idist, ComplexType * out, int ostride, int odist,
          unsigned flags)
  {
    return fftwf_plan_many_dft_r2c(1, &n, howmany, in, nullptr, istride, idist, out, nullptr, ostride, odist, flags);
  }
  static PlanType
  PlanC2R(int n, int howmany, ComplexType * in, int istride, int idist, float * out, int ostride, int odist,
          unsigned flags)
  {
    return fftwf_plan_many_dft_c2r(1, &n, howmany, in, nullptr, istride, idist, out, nullptr, ostride, odist, flags);
  }
  static PlanType
  PlanC2C(int n, int howmany, ComplexType * data, int stride, int dist, int sign, unsigned flags)
  {
    return fftwf_plan_many_dft(1, &n, howmany, data, nullptr, stride, dist, data, nullptr, stride, dist, sign, flags);
  }
  static void
  PlanWithOneThread()
  {
    fftwf_plan_with_nthreads(1);
  }
  static void *
  Malloc(std::size_t bytes)
  {
    return fftwf_malloc(bytes);
  }
  static void
  Free(void * p)
  {
    fftwf_free(p);
  }
};

template <>
struct FFTW<double>
{
  using Proxy = fftw::Proxy<double>;
  using PlanType = fftw_plan;
  using ComplexType = fftw_complex;
  static void
  Forward(PlanType p, double * in, ComplexType * out)
  {
    fftw_execute_dft_r2c(p, in, out);
  }
  static void
  Inverse(PlanType p, ComplexType * in, double * out)
  {
    fftw_execute_dft_c2r(p, in, out);
  }
  static void
  Complex(PlanType p, ComplexType * in, ComplexType * out)
  {
    fftw_execute_dft(p, in, out);
  }
  static PlanType
  PlanR2C(int n, int howmany, double * in, int istride, int idist, ComplexType * out, int ostride, int odist,
          unsigned flags)
  {
    return fftw_plan_many_dft_r2c(1, &n, howmany, in, nullptr, istride, idist, out, nullptr, ostride, odist, flags);
  }
  static PlanType
  PlanC2R(int n, int howmany, ComplexType * in, int istride, int idist, double * out, int ostride, int odist,
          unsigned flags)
  {
    return fftw_plan_many_dft_c2r(1, &n, howmany, in, nullptr, istride, idist, out, nullptr, ostride, odist, flags);
  }
  static PlanType
  PlanC2C(int n, int howmany, ComplexType * data, int stride, int dist, int sign, unsigned flags)
  {
    return fftw_plan_many_dft(1, &n, howmany, data, nullptr, stride, dist, data, nullptr, stride, dist, sign, flags);
  }
  static void
  PlanWithOneThread()
  {
    fftw_plan_with_nthreads(1);
  }
  static void *
  Malloc(std::size_t bytes)
  {
    return fftw_malloc(bytes);
  }
  static void
  Free(void * p)
  {
    fftw_free(p);
  }
};

/** An fftw_malloc'ed (SIMD-aligned) array that only grows; freed on destruction. */
template <typename TReal, typename T>
class AlignedBuffer
{
public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(std::size_t count) { this->Reserve(count); }
  ~AlignedBuffer() { FFTW<TReal>::Free(m_Data); }
  AlignedBuffer(const AlignedBuffer &) = delete;
  AlignedBuffer &
  operator=(const AlignedBuffer &) = delete;

  void
  Reserve(std::size_t count)
  {
    if (count <= m_Count)
    {
      return;
    }
    FFTW<TReal>::Free(m_Data);
    m_Count = 0;
    m_Data = static_cast<T *>(FFTW<TReal>::Malloc(sizeof(T) * count));
    if (m_Data == nullptr)
    {
      itkGenericExceptionMacro("TwoPointCorrelationImageFilter: could not allocate "
                               << sizeof(T) * count << " bytes for the FFT; use a smaller image.");
    }
    m_Count = count;
  }
  T *
  get() const
  {
    return m_Data;
  }

private:
  T *         m_Data{ nullptr };
  std::size_t m_Count{ 0 };
};

/** The four 1D passes of a pruned 2D autocorrelation on a py x px grid (row-major, x fastest):
 * rows r2c (only the ny rows holding the image), columns c2c forward (in place), columns r2c of
 * the real |F|^2 (a real sequence's inverse DFT is the conjugate of its forward one), rows c2r
 * (only the R + 1 rows dy = 0..R; dy < 0 follows from C(-d) = C(d)). About 40% fewer
 * operations than a full 2D forward + inverse pair. */
template <typename TReal>
struct PlanSet
{
  typename FFTW<TReal>::PlanType rows{ nullptr };
  typename FFTW<TReal>::PlanType columns{ nullptr };
  typename FFTW<TReal>::PlanType columnsOfPower{ nullptr };
  typename FFTW<TReal>::PlanType rowsInverse{ nullptr };
};

/** Process-wide plan cache, one per precision, keyed by (px, py, ny, R). Planning holds ITK's
 * global FFTW lock (FFTWGlobalConfiguration::GetLockMutex(), as itk::fftw::Proxy does: FFTW's
 * planner is not thread-safe); the map has its own mutex. The plan rigor is ITK's
 * (FFTWGlobalConfiguration::GetPlanRigor(): FFTW_ESTIMATE unless the environment variable
 * ITK_FFTW_PLAN_RIGOR says otherwise; the counts are rounded, so the result does not depend on
 * it). Plans are made on fftw_malloc'ed scratch arrays and executed with the new-array
 * functions on other fftw_malloc'ed arrays, which FFTW allows concurrently from any thread.
 * They are never destroyed: ITK's FFTW configuration object may already be gone when static
 * destructors run. */
template <typename TReal>
PlanSet<TReal>
GetPlans(int px, int py, int ny, int r)
{
  using Traits = FFTW<TReal>;
  static std::mutex                                   mapMutex;
  static std::map<std::array<int, 4>, PlanSet<TReal>> cache;

  std::lock_guard<std::mutex> guard(mapMutex);
  const std::array<int, 4>    key{ { px, py, ny, r } };
  const auto                  found = cache.find(key);
  if (found != cache.end())
  {
    return found->second;
  }
  const int                                          pxc = px / 2 + 1;
  AlignedBuffer<TReal, TReal>                        real(std::size_t(px) * std::size_t(py));
  AlignedBuffer<TReal, typename Traits::ComplexType> cplx(std::size_t(py) * std::size_t(pxc));
  const unsigned int                                 rigor = FFTWGlobalConfiguration::GetPlanRigor();
  PlanSet<TReal>                                     plans;
  {
    std::lock_guard<FFTWGlobalConfiguration::MutexType> lock(FFTWGlobalConfiguration::GetLockMutex());
    Traits::PlanWithOneThread();
    plans.rows = Traits::PlanR2C(px, ny, real.get(), 1, px, cplx.get(), 1, pxc, rigor);
    plans.columns = Traits::PlanC2C(py, pxc, cplx.get(), pxc, 1, FFTW_FORWARD, rigor);
    plans.columnsOfPower = Traits::PlanR2C(py, pxc, real.get(), pxc, 1, cplx.get(), pxc, 1, rigor);
    plans.rowsInverse = Traits::PlanC2R(px, r + 1, cplx.get(), 1, pxc, real.get(), 1, px, rigor | FFTW_DESTROY_INPUT);
  }
  if (!plans.rows || !plans.columns || !plans.columnsOfPower || !plans.rowsInverse)
  {
    itkGenericExceptionMacro("TwoPointCorrelationImageFilter: FFTW could not plan the transforms of a "
                             << px << " x " << py << " grid.");
  }
  cache.emplace(key, plans);
  return plans;
}

/** Pair counts C(dx, dy) = sum_x I(x) I(x + d) for |dx|, |dy| <= r, with I(x) = (pixel ==
 * foreground), written row by row (dy slow, dx fast) into counts[(dy + r)(2r + 1) + dx + r].
 * pixels: ny rows of nx values, x fastest (an ITK buffer). */
template <typename TReal, typename TPixel>
void
PairCounts(const TPixel * pixels, TPixel foreground, SizeValueType nx, SizeValueType ny, SizeValueType px,
           SizeValueType py, long r, std::vector<double> & counts)
{
  using Traits = FFTW<TReal>;
  const SizeValueType  pxc = px / 2 + 1;
  const PlanSet<TReal> plans = GetPlans<TReal>(int(px), int(py), int(ny), int(r));
  // Per-thread work arrays, kept between calls: allocating ~200 kB per 128 x 128 patch costs
  // page faults comparable to the transforms themselves.
  static thread_local AlignedBuffer<TReal, TReal>                        real;
  static thread_local AlignedBuffer<TReal, typename Traits::ComplexType> cplx;
  real.Reserve(px * py);
  cplx.Reserve(py * pxc);
  TReal * f = real.get();
  auto *  c = cplx.get();
  for (SizeValueType y = 0; y < ny; ++y)
  {
    TReal *        row = f + y * px;
    const TPixel * in = pixels + y * nx;
    for (SizeValueType x = 0; x < nx; ++x)
    {
      row[x] = (in[x] == foreground) ? TReal(1) : TReal(0);
    }
    std::fill(row + nx, row + px, TReal(0));
  }
  Traits::Forward(plans.rows, f, c); // rows 0..ny-1; the padding rows are zero
  std::fill(c[0] + 2 * ny * pxc, c[0] + 2 * py * pxc, TReal(0));
  Traits::Complex(plans.columns, c, c);
  for (SizeValueType i = 0; i < py * pxc; ++i) // |F|^2, real, into the real array (py x pxc)
  {
    f[i] = c[i][0] * c[i][0] + c[i][1] * c[i][1];
  }
  Traits::Forward(plans.columnsOfPower, f, c); // rows 0..py/2 hold conj(inverse DFT along y)
  for (SizeValueType i = 0; i < (SizeValueType(r) + 1) * pxc; ++i)
  {
    c[i][1] = -c[i][1];
  }
  Traits::Inverse(plans.rowsInverse, c, f); // rows dy = 0..R: px * py * count(dx, dy)

  // Counts are integers >= 0; rounding removes the transform's rounding error (see the header).
  const double        scale = 1.0 / (double(px) * double(py));
  const SizeValueType side = SizeValueType(2 * r + 1);
  for (long dy = 0; dy <= r; ++dy)
  {
    const TReal * row = f + SizeValueType(dy) * px;
    double *      out = counts.data() + SizeValueType(dy + r) * side;
    for (long dx = -r; dx < 0; ++dx) // negative dx wrap to the end of the row
    {
      out[dx + r] = double(static_cast<long>(double(row[long(px) + dx]) * scale + 0.5));
    }
    for (long dx = 0; dx <= r; ++dx)
    {
      out[dx + r] = double(static_cast<long>(double(row[dx]) * scale + 0.5));
    }
  }
  for (long dy = -r; dy < 0; ++dy) // C(dx, dy) = C(-dx, -dy)
  {
    double *       out = counts.data() + SizeValueType(dy + r) * side;
    const double * mirror = counts.data() + SizeValueType(-dy + r) * side;
    for (SizeValueType i = 0; i < side; ++i)
    {
      out[i] = mirror[side - 1 - i];
    }
  }
}
#endif // ITK_TWO_POINT_CORRELATION_HAS_FFTW
} // namespace TwoPointCorrelationDetail


template <typename TInputImage, typename TOutputImage>
SizeValueType
TwoPointCorrelationImageFilter<TInputImage, TOutputImage>::PaddedLength(SizeValueType n, SizeValueType r)
{
  for (SizeValueType p = std::max<SizeValueType>(n + r, 1);; ++p)
  {
    SizeValueType m = p;
    for (const SizeValueType f : { 2, 3, 5 })
    {
      while (m % f == 0)
      {
        m /= f;
      }
    }
    if (m == 1)
    {
      return p;
    }
  }
}


template <typename TInputImage, typename TOutputImage>
void
TwoPointCorrelationImageFilter<TInputImage, TOutputImage>::CheckedGeometry(SizeValueType & nx, SizeValueType & ny,
                                                                           unsigned int & r) const
{
  const InputImageType * input = this->GetInput();
  if (input == nullptr)
  {
    itkExceptionMacro("No input image: call SetInput() with a 2D binary or label image.");
  }
  const auto size = input->GetLargestPossibleRegion().GetSize();
  if constexpr (InputImageDimension == 3)
  {
    if (size[2] != 1)
    {
      itkExceptionMacro("The input is a 3D image with "
                        << size[2]
                        << " slices; the two-point correlation is computed on one 2D image. Measure each "
                           "slice on its own (e.g. with SliceBySliceImageFilter or ExtractImageFilter).");
    }
  }
  nx = size[0];
  ny = size[1];
  if (nx == 0 || ny == 0)
  {
    itkExceptionMacro("The input image is empty (" << nx << " x " << ny << " pixels); give a non-empty 2D image.");
  }
  const SizeValueType smaller = std::min(nx, ny);
  r = (m_MaximumDistance == 0) ? static_cast<unsigned int>(smaller / 2) : m_MaximumDistance;
  if (r >= smaller)
  {
    itkExceptionMacro("MaximumDistance " << r << " pixels is not smaller than the image side (" << nx << " x " << ny
                                         << " pixels): no pair of points fits at that displacement. Use a "
                                            "MaximumDistance below "
                                         << smaller << " (0 = half the smaller side).");
  }
}


template <typename TInputImage, typename TOutputImage>
void
TwoPointCorrelationImageFilter<TInputImage, TOutputImage>::GenerateOutputInformation()
{
  // The output lives in displacement space: do not let the superclass copy the input's grid.
  SizeValueType nx = 0;
  SizeValueType ny = 0;
  unsigned int  r = 0;
  this->CheckedGeometry(nx, ny, r);
  m_EffectiveMaximumDistance = r;

  const InputImageType * input = this->GetInput();
  OutputImageType *      output = this->GetOutput();

  typename OutputImageType::SpacingType   spacing;
  typename OutputImageType::DirectionType direction;
  for (unsigned int i = 0; i < 2; ++i)
  {
    spacing[i] = input->GetSpacing()[i];
    for (unsigned int j = 0; j < 2; ++j)
    {
      direction[i][j] = input->GetDirection()[i][j];
    }
  }
  if (std::abs(vnl_determinant(direction.GetVnlMatrix())) < 1e-6)
  {
    direction.SetIdentity(); // the x-y block of a 3D direction can be singular
  }
  // Index (R, R) is zero displacement: origin = -D * (R sx, R sy).
  typename OutputImageType::PointType origin;
  for (unsigned int i = 0; i < 2; ++i)
  {
    origin[i] = 0.0;
    for (unsigned int j = 0; j < 2; ++j)
    {
      origin[i] -= direction[i][j] * static_cast<double>(r) * spacing[j];
    }
  }
  typename OutputImageType::RegionType region;
  region.SetIndex({ { 0, 0 } });
  region.SetSize({ { 2 * r + 1, 2 * r + 1 } });

  output->SetLargestPossibleRegion(region);
  output->SetSpacing(spacing);
  output->SetOrigin(origin);
  output->SetDirection(direction);
  output->SetNumberOfComponentsPerPixel(1);
}


template <typename TInputImage, typename TOutputImage>
void
TwoPointCorrelationImageFilter<TInputImage, TOutputImage>::GenerateInputRequestedRegion()
{
  Superclass::GenerateInputRequestedRegion();
  auto * input = const_cast<InputImageType *>(this->GetInput());
  if (input != nullptr)
  {
    input->SetRequestedRegionToLargestPossibleRegion();
  }
}


template <typename TInputImage, typename TOutputImage>
void
TwoPointCorrelationImageFilter<TInputImage, TOutputImage>::EnlargeOutputRequestedRegion(DataObject * output)
{
  Superclass::EnlargeOutputRequestedRegion(output);
  output->SetRequestedRegionToLargestPossibleRegion();
}


template <typename TInputImage, typename TOutputImage>
void
TwoPointCorrelationImageFilter<TInputImage, TOutputImage>::GenerateData()
{
  SizeValueType nx = 0;
  SizeValueType ny = 0;
  unsigned int  r = 0;
  this->CheckedGeometry(nx, ny, r);
  m_EffectiveMaximumDistance = r;

  const InputImageType * input = this->GetInput();
  OutputImageType *      output = this->GetOutput();
  output->SetBufferedRegion(output->GetRequestedRegion());
  output->Allocate();

  const long          ir = static_cast<long>(r);
  const SizeValueType side = 2 * static_cast<SizeValueType>(r) + 1;
  ProgressReporter    progress(this, 0, 3);

  // The whole input is buffered (GenerateInputRequestedRegion asked for it), x fastest.
  if (input->GetBufferedRegion() != input->GetLargestPossibleRegion())
  {
    itkExceptionMacro("The input buffer holds " << input->GetBufferedRegion().GetSize()
                                                << " pixels, not the whole image; give a fully buffered image.");
  }
  const InputPixelType * pixels = input->GetBufferPointer();
  progress.CompletedPixel();

  // Zero-padded to P >= N + R per axis: circular wrap-around cannot reach |d| <= R. Single
  // precision is exact after rounding up to 256 x 256 pixels (worst case, all foreground: the
  // largest rounding error measured is 0.007 of a count, against the 0.5 rounding tolerates);
  // larger images use double precision.
  static thread_local std::vector<double> s2; // per-thread, kept between calls (see PairCounts)
  s2.resize(side * side);
  const SizeValueType px = PaddedLength(nx, r);
  const SizeValueType py = PaddedLength(ny, r);
  bool                done = false;
#if ITK_TWO_POINT_CORRELATION_HAS_FFTW
  if (m_UseFFTW)
  {
    if (nx * ny <= 256 * 256)
    {
      TwoPointCorrelationDetail::PairCounts<float>(pixels, m_ForegroundValue, nx, ny, px, py, ir, s2);
    }
    else
    {
      TwoPointCorrelationDetail::PairCounts<double>(pixels, m_ForegroundValue, nx, ny, px, py, ir, s2);
    }
    done = true;
  }
#endif
  if (!done)
  {
    using RealImageType = Image<double, 2>;
    using ComplexImageType = Image<std::complex<double>, 2>;
    TwoPointCorrelationDetail::PairCountsThroughFFTFilters<
      RealToHalfHermitianForwardFFTImageFilter<RealImageType, ComplexImageType>,
      HalfHermitianToRealInverseFFTImageFilter<ComplexImageType, RealImageType>>(
      pixels, m_ForegroundValue, nx, ny, px, py, ir, s2);
  }
  progress.CompletedPixel();

  // S2(d) = count(d) / valid pairs(d); the curves; the output image.
  m_XCurve.assign(r + 1, 0.0);
  m_YCurve.assign(r + 1, 0.0);
  m_RadialCurve.assign(r + 1, 0.0);
  std::vector<SizeValueType> binCount(r + 1, 0);
  OutputPixelType *          out = output->GetBufferPointer();
  std::vector<double>        validX(side);
  for (long dx = -ir; dx <= ir; ++dx)
  {
    validX[dx + ir] = static_cast<double>(static_cast<long>(nx) - std::abs(dx));
  }
  for (long dy = -ir; dy <= ir; ++dy)
  {
    double *     row = s2.data() + static_cast<SizeValueType>(dy + ir) * side;
    const double validY = static_cast<double>(static_cast<long>(ny) - std::abs(dy));
    for (SizeValueType i = 0; i < side; ++i)
    {
      row[i] /= validY * validX[i];
    }
    // Radial bin k = round(|d|): 4 |d|^2 is even and (2k + 1)^2 odd, so there are no ties and k
    // is the number of odd squares (2k + 1)^2 <= 4 |d|^2; k grows with |dx| along the row.
    long k = 0;
    for (long dx = 0; dx <= ir; ++dx)
    {
      const long d2x4 = 4 * (dx * dx + dy * dy);
      while ((2 * k + 1) * (2 * k + 1) < d2x4)
      {
        ++k;
      }
      if (k > ir)
      {
        break;
      }
      const double sum = (dx == 0) ? row[ir] : row[ir + dx] + row[ir - dx];
      m_RadialCurve[k] += sum;
      binCount[k] += (dx == 0) ? 1 : 2;
    }
    for (SizeValueType i = 0; i < side; ++i)
    {
      out[static_cast<SizeValueType>(dy + ir) * side + i] = static_cast<OutputPixelType>(row[i]);
    }
    if (dy >= 0)
    {
      m_YCurve[dy] = row[ir];
    }
    if (dy == 0)
    {
      std::copy(row + ir, row + side, m_XCurve.begin());
    }
  }
  for (unsigned int k = 0; k <= r; ++k)
  {
    m_RadialCurve[k] /= static_cast<double>(binCount[k]);
  }
  m_VolumeFraction = m_XCurve[0];
  progress.CompletedPixel();
}


template <typename TInputImage, typename TOutputImage>
void
TwoPointCorrelationImageFilter<TInputImage, TOutputImage>::PrintSelf(std::ostream & os, Indent indent) const
{
  Superclass::PrintSelf(os, indent);
  os << indent
     << "ForegroundValue: " << static_cast<typename NumericTraits<InputPixelType>::PrintType>(m_ForegroundValue)
     << std::endl;
  os << indent << "MaximumDistance: " << m_MaximumDistance << " (0 = half the smaller side)" << std::endl;
  os << indent << "EffectiveMaximumDistance: " << m_EffectiveMaximumDistance << std::endl;
  os << indent << "UseFFTW: " << m_UseFFTW << (HasFFTW ? "" : " (this ITK has no FFTW: ITK's FFT filters)")
     << std::endl;
  os << indent << "VolumeFraction: " << m_VolumeFraction << std::endl;
}

} // namespace itk

#endif
