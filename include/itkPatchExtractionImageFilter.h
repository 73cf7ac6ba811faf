/*=========================================================================
 *  ITKStochasticMicrostructure
 *  Licensed under the Apache License, Version 2.0
 *=========================================================================*/
#ifndef itkPatchExtractionImageFilter_h
#define itkPatchExtractionImageFilter_h

#include "itkImageToImageFilter.h"

#include <type_traits>
#include <vector>

namespace itk
{
/** \class PatchExtractionImageFilter
 * \brief Cuts a 2D micrograph into a 3D stack of patches (the last axis is the patch index).
 *
 * Input: a 2D scalar image (a micrograph). Output: a 3D image of size
 * (PatchSize[0], PatchSize[1], N) with the same pixel type, spacing (s_x, s_y, 1) and origin
 * (the physical position of the first patch's first pixel, 0).
 *
 * Patches are taken on a grid: top-left corners at multiples of Stride (default: the patch
 * size, i.e. non-overlapping), row by row, as many as fit entirely inside the image
 * (n = (size - patch) / stride + 1 per axis; the remainder at the right and bottom edges is
 * left out). With HorizontalFlip On, every patch is followed by its mirror image (flipped
 * left-right), the paper's augmentation, so N = 2 n_x n_y.
 *
 * Resampling to a physical patch size: with OutputPixelSize > 0 (micrometres per pixel), or
 * PhysicalPatchSize > 0 (micrometres across a patch, which sets OutputPixelSize =
 * PhysicalPatchSize / PatchSize[0]), the micrograph is first resampled to that pixel size
 * (ITK's DiscreteGaussianImageFilter against aliasing when it shrinks by a factor f > 1,
 * sigma = 0.5 sqrt(f^2 - 1) input pixels, then ITK's ResampleImageFilter with linear
 * interpolation in float, rounded to the nearest value for integer pixel types; the field of
 * view is kept, i.e. floor(size * spacing / OutputPixelSize) pixels per axis), so that patches
 * of micrographs taken at different magnifications cover the same physical area.
 *
 * GetPatchCorners(): after Update() (or UpdateOutputInformation()), the index of each patch's
 * top-left pixel in the (resampled) micrograph and whether it is a flipped copy, in stack order.
 *
 * Reuses ITK: RegionOfInterestImageFilter cuts each patch, FlipImageFilter mirrors it; each
 * patch is then copied into its slice of the stack. This mini-pipeline costs about 1.7 us per
 * patch (3.6 us with flips) against 0.9 us for a hand-written row copy (32 x 32 patches of a
 * 2048 x 2048 image, stride 8): small next to reading and resampling a micrograph.
 *
 * Throws itk::ExceptionObject (saying what to do) when the input is empty, when the
 * (resampled) image is smaller than a patch, or when the patch size or pixel size is invalid.
 *
 * \ingroup StochasticMicrostructure
 */
template <typename TInputImage, typename TOutputImage>
class ITK_TEMPLATE_EXPORT PatchExtractionImageFilter : public ImageToImageFilter<TInputImage, TOutputImage>
{
public:
  ITK_DISALLOW_COPY_AND_MOVE(PatchExtractionImageFilter);

  using Self = PatchExtractionImageFilter;
  using Superclass = ImageToImageFilter<TInputImage, TOutputImage>;
  using Pointer = SmartPointer<Self>;
  using ConstPointer = SmartPointer<const Self>;

  itkNewMacro(Self);
  itkTypeMacro(PatchExtractionImageFilter, ImageToImageFilter);

  static_assert(TInputImage::ImageDimension == 2, "PatchExtractionImageFilter takes a 2D micrograph");
  static_assert(TOutputImage::ImageDimension == 3, "PatchExtractionImageFilter makes a 3D stack of patches");
  static_assert(std::is_same<typename TInputImage::PixelType, typename TOutputImage::PixelType>::value,
                "PatchExtractionImageFilter copies pixels: input and output pixel types must be the same");

  using InputImageType = TInputImage;
  using OutputImageType = TOutputImage;
  using PixelType = typename TInputImage::PixelType;
  using PatchSizeType = Size<2>;
  using IndexType = Index<2>;

  struct PatchCorner
  {
    IndexType Index;
    bool      Flipped;
  };

  /** Patch size in pixels (of the resampled image). Default 128 x 128. */
  itkSetMacro(PatchSize, PatchSizeType);
  itkGetConstReferenceMacro(PatchSize, PatchSizeType);
  /** Distance between patch corners in pixels; 0 (default) = the patch size. */
  itkSetMacro(Stride, PatchSizeType);
  itkGetConstReferenceMacro(Stride, PatchSizeType);
  /** Add a left-right mirrored copy after each patch. Default Off. */
  itkSetMacro(HorizontalFlip, bool);
  itkGetConstMacro(HorizontalFlip, bool);
  itkBooleanMacro(HorizontalFlip);
  /** Resample to this pixel size (um) first; 0 (default) keeps the input's. */
  itkSetMacro(OutputPixelSize, double);
  itkGetConstMacro(OutputPixelSize, double);
  /** Physical width of a patch (um); when > 0 it sets OutputPixelSize = this / PatchSize[0]. */
  itkSetMacro(PhysicalPatchSize, double);
  itkGetConstMacro(PhysicalPatchSize, double);

  const std::vector<PatchCorner> &
  GetPatchCorners() const
  {
    return m_PatchCorners;
  }
  /** The pixel size the patches have (after resampling), valid after UpdateOutputInformation(). */
  double
  GetEffectivePixelSize(unsigned int axis) const
  {
    return m_EffectiveSpacing[axis];
  }

protected:
  PatchExtractionImageFilter() = default;
  ~PatchExtractionImageFilter() override = default;

  void
  GenerateOutputInformation() override;
  void
  GenerateInputRequestedRegion() override;
  void
  EnlargeOutputRequestedRegion(DataObject * output) override;
  void
  GenerateData() override;
  void
  PrintSelf(std::ostream & os, Indent indent) const override;

private:
  /** Size, spacing and origin of the (resampled) image the patches come from. */
  void
  ComputeSourceGeometry(typename InputImageType::SizeType & size, typename InputImageType::SpacingType & spacing,
                        typename InputImageType::PointType & origin) const;
  bool
  Resamples() const;

  PatchSizeType            m_PatchSize{ { 128, 128 } };
  PatchSizeType            m_Stride{ { 0, 0 } };
  bool                     m_HorizontalFlip{ false };
  double                   m_OutputPixelSize{ 0.0 };
  double                   m_PhysicalPatchSize{ 0.0 };
  std::vector<PatchCorner> m_PatchCorners;
  double                   m_EffectiveSpacing[2]{ 0.0, 0.0 };
};
} // end namespace itk

#ifndef ITK_MANUAL_INSTANTIATION
#  include "itkPatchExtractionImageFilter.hxx"
#endif

#endif
