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
#ifndef itkTwoPointCorrelationImageFilter_h
#define itkTwoPointCorrelationImageFilter_h

#include "itkConfigure.h"
#include "itkImageToImageFilter.h"
#include "itkImage.h"

/** 1 where ITK has FFTW in both precisions (the filter then calls it directly), else 0. */
#if defined(ITK_USE_FFTWD) && defined(ITK_USE_FFTWF)
#  define ITK_TWO_POINT_CORRELATION_HAS_FFTW 1
#else
#  define ITK_TWO_POINT_CORRELATION_HAS_FFTW 0
#endif

#include <vector>

namespace itk
{

/** \class TwoPointCorrelationImageFilter
 * \brief Two-point correlation function S2 of one phase of a 2D binary or label image.
 *
 * **What goes in.** A 2D image whose pixels equal to ForegroundValue (default 1) form the
 * phase of interest; every other value is background. A 3D image is accepted only when it is
 * a single slice (size 1 along z, e.g. one slice cut from a patch stack); a real 3D volume
 * throws (use SliceBySliceImageFilter or measure each slice).
 *
 * **What comes out.** For every displacement r = (dx, dy) in pixels with |dx|, |dy| <= R,
 * \f[ S_2(r) = \frac{\#\{x : I(x) = 1,\ I(x+r) = 1\}}{(N_x - |dx|)(N_y - |dy|)}, \f]
 * the probability that both ends of a segment r, dropped anywhere it fits inside the image,
 * lie in the foreground. The image is NOT treated as periodic: pairs are only counted when
 * both points lie inside the image, and each displacement is normalised by its own number of
 * valid pairs. Hence S2(0) = V_f (the foreground area fraction) exactly, and for a
 * statistically homogeneous, non-periodic structure S2(r) -> V_f^2 at large r.
 *
 * - Output image: S2(dx, dy) on a (2R+1) x (2R+1) grid, float, index (R, R) is zero
 *   displacement. Spacing and direction are the input's; the origin is chosen so that the
 *   physical point (0, 0) is zero displacement, i.e. the physical position of a pixel IS its
 *   displacement in micrometres (the input's spacing unit).
 * - GetXCurve()[r] = S2(r, 0) and GetYCurve()[r] = S2(0, r), r = 0..R pixels (multiply r by
 *   the spacing along that axis for micrometres).
 * - GetRadialCurve()[k] = mean of S2(dx, dy) over all displacements with
 *   round(sqrt(dx^2 + dy^2)) = k, k = 0..R (1-pixel bins; mixes axes, so meaningful in
 *   physical units only for isotropic spacing).
 * - GetVolumeFraction() = S2(0).
 *
 * MaximumDistance R (pixels): 0 (the default) means half the smaller image side,
 * floor(min(Nx, Ny) / 2). R must be smaller than both image sides (otherwise some
 * displacements have no valid pair at all): R >= Nx or R >= Ny throws, as does an empty input.
 *
 * **How.** The pair counts are the autocorrelation of the indicator image, computed by FFT on
 * a zero-padded grid of size P >= N + R per axis (the smallest 2/3/5-smooth size), which is
 * exactly as much padding as is needed for the wrapped-around terms to vanish for all
 * |d| <= R -- not 2N (128 x 128 with R = 64: 192 x 192). The 2D transforms are done as 1D
 * passes that skip what is known to be zero or not needed: forward real-to-complex rows only
 * for the N image rows, complex columns, then -- |F|^2 being real -- real-to-complex columns
 * and complex-to-real rows only for dy = 0..R (dy < 0 follows from S2(-d) = S2(d)); about 40%
 * fewer operations than a full 2D forward + inverse pair. Every count is an integer, so the
 * counts are rounded to integers and the result equals a direct O(N^2 R^2) pair count exactly
 * (up to the final division and the conversion to float). This also makes single precision
 * exact for images up to 256 x 256 pixels (the worst case, all foreground, has a rounding
 * error of 0.007 of a count against the 0.5 that rounding tolerates); larger images use double
 * precision. The result does not depend on the precision or on the FFTW plan.
 *
 * **Why FFTW is called directly.** ITK's FFT filters (RealToHalfHermitianForwardFFTImageFilter
 * / HalfHermitianToRealInverseFFTImageFilter, FFTW-backed in Debian's ITK) create and destroy
 * an FFTW plan, allocate images and run the pipeline machinery on every call, and cannot skip
 * the zero rows. For the intended use -- thousands of 128 x 128 patches -- that overhead
 * dominates: a pad + forward + |F|^2 + inverse pipeline of ITK's FFTW filters took 1.0-1.4 ms
 * per 128 x 128 patch, against about 0.15 ms for this whole filter (bench/README.md). This
 * filter therefore calls FFTW with ITK's FFTW set-up (itkFFTWCommon.h,
 * itkFFTWGlobalConfiguration.h: planning holds ITK's global FFTW lock, as FFTW's planner is not
 * thread-safe, and uses ITK's plan rigor: FFTW_ESTIMATE unless ITK_FFTW_PLAN_RIGOR says
 * otherwise) and keeps a process-wide cache of plans, one set per padded size, image height, R
 * and precision. Plans are executed with FFTW's new-array execute functions on per-thread,
 * fftw_malloc-aligned work arrays that are kept between calls; FFTW guarantees new-array
 * execution is thread-safe, so any number of filter instances may run in parallel on different
 * slices. The cached plans and work arrays live until the process (or thread) ends: a few
 * hundred kilobytes per distinct size.
 *
 * Without FFTW (an ITK built without it, as 3D Slicer's is by default: FFTW is GPL) or with
 * UseFFTW Off, the same counts come through ITK's FFT filters from its FFT factory
 * (RealToHalfHermitianForwardFFTImageFilter and HalfHermitianToRealInverseFFTImageFilter in double
 * precision: VNL's FFT, which takes the 2/3/5-smooth padded sizes): the same result (tested), at the
 * cost measured in bench/README.md.
 *
 * Runs on one thread (a 128 x 128 patch takes well under a millisecond); parallelise over
 * slices or patches instead.
 *
 * \ingroup StochasticMicrostructure
 */
template <typename TInputImage, typename TOutputImage = Image<float, 2>>
class ITK_TEMPLATE_EXPORT TwoPointCorrelationImageFilter : public ImageToImageFilter<TInputImage, TOutputImage>
{
public:
  ITK_DISALLOW_COPY_AND_MOVE(TwoPointCorrelationImageFilter);

  using Self = TwoPointCorrelationImageFilter;
  using Superclass = ImageToImageFilter<TInputImage, TOutputImage>;
  using Pointer = SmartPointer<Self>;
  using ConstPointer = SmartPointer<const Self>;

  itkNewMacro(Self);
  itkTypeMacro(TwoPointCorrelationImageFilter, ImageToImageFilter);

  using InputImageType = TInputImage;
  using OutputImageType = TOutputImage;
  using InputPixelType = typename InputImageType::PixelType;
  using OutputPixelType = typename OutputImageType::PixelType;
  using CurveType = std::vector<double>;

  static constexpr unsigned int InputImageDimension = TInputImage::ImageDimension;
  static constexpr unsigned int OutputImageDimension = TOutputImage::ImageDimension;
  static_assert(InputImageDimension == 2 || InputImageDimension == 3,
                "TwoPointCorrelationImageFilter takes a 2D image (or a 3D image with a single slice)");
  static_assert(OutputImageDimension == 2, "TwoPointCorrelationImageFilter produces a 2D S2(dx, dy) image");

  /** Pixel value of the phase whose S2 is computed. Default 1. */
  itkSetMacro(ForegroundValue, InputPixelType);
  itkGetConstMacro(ForegroundValue, InputPixelType);

  /** Largest displacement R in pixels along each axis; 0 = half the smaller image side. */
  itkSetMacro(MaximumDistance, unsigned int);
  itkGetConstMacro(MaximumDistance, unsigned int);

  /** R actually used by the last update (resolves MaximumDistance = 0). */
  itkGetConstMacro(EffectiveMaximumDistance, unsigned int);

  /** S2(r, 0), S2(0, r) and the radial average, r = 0..R pixels; valid after Update(). */
  const CurveType &
  GetXCurve() const
  {
    return m_XCurve;
  }
  const CurveType &
  GetYCurve() const
  {
    return m_YCurve;
  }
  const CurveType &
  GetRadialCurve() const
  {
    return m_RadialCurve;
  }

  /** S2(0), the foreground area fraction; valid after Update(). */
  itkGetConstMacro(VolumeFraction, double);

  /** Whether this ITK has FFTW in both precisions (ITK_USE_FFTWF and ITK_USE_FFTWD). */
  static constexpr bool HasFFTW = ITK_TWO_POINT_CORRELATION_HAS_FFTW;
  /** Call FFTW directly (default where HasFFTW) or go through ITK's FFT factory (Off; always so
   * without FFTW, whatever this says). The results are the same. */
  itkSetMacro(UseFFTW, bool);
  itkGetConstMacro(UseFFTW, bool);
  itkBooleanMacro(UseFFTW);

  /** Padded FFT size (per axis x, y) used for an Nx x Ny image and displacements up to R:
   * the smallest 2/3/5-smooth integer >= N + R. */
  static SizeValueType
  PaddedLength(SizeValueType n, SizeValueType r);

protected:
  TwoPointCorrelationImageFilter() = default;
  ~TwoPointCorrelationImageFilter() override = default;

  void
  PrintSelf(std::ostream & os, Indent indent) const override;

  void
  GenerateOutputInformation() override;

  void
  GenerateInputRequestedRegion() override;

  void
  EnlargeOutputRequestedRegion(DataObject * output) override;

  void
  GenerateData() override;

private:
  /** Nx, Ny of the input and the R to use; throws with a clear message when unusable. */
  void
  CheckedGeometry(SizeValueType & nx, SizeValueType & ny, unsigned int & r) const;

  InputPixelType m_ForegroundValue{ 1 };
  bool           m_UseFFTW{ HasFFTW };
  unsigned int   m_MaximumDistance{ 0 };
  unsigned int   m_EffectiveMaximumDistance{ 0 };
  double         m_VolumeFraction{ 0.0 };
  CurveType      m_XCurve;
  CurveType      m_YCurve;
  CurveType      m_RadialCurve;
};

} // namespace itk

#ifndef ITK_MANUAL_INSTANTIATION
#  include "itkTwoPointCorrelationImageFilter.hxx"
#endif

#endif
