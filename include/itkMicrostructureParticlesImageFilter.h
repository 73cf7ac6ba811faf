/*=========================================================================
 *  ITKStochasticMicrostructure
 *  Licensed under the Apache License, Version 2.0
 *=========================================================================*/
#ifndef itkMicrostructureParticlesImageFilter_h
#define itkMicrostructureParticlesImageFilter_h

#include "itkMicrostructureParticles.h"
#include "itkSimpleDataObjectDecorator.h"
#include "itkWholeImageMeasurementFilter.h"

#include <vector>

namespace itk
{
/** \class MicrostructureParticlesImageFilter
 * \brief Particle (or grain) size of a two-phase 2D label image: the number of particles per unit
 * area and the distribution of their equivalent-circle diameters.
 *
 * A particle is a connected region of the measured phase (pixels equal to ForegroundValue,
 * default 1), e.g. a cementite particle of a spheroidised steel or a ferrite grain separated by
 * its etched boundaries. Connectivity: by default two pixels belong to one region only when they
 * share a side (4-connectivity, ITK's default), because etched grain boundaries one pixel wide
 * separate grains only so: with 8-connectivity (FullyConnected On) grains leak into each other
 * through the boundaries' diagonal steps (on a synthetic 3 degC/s micrograph, 80 % of the ferrite
 * became one region).
 *
 * Output 0: the input image, passed through unchanged. After Update():
 *  - GetParticles(): every region (MicrostructureParticle): area, bounding box, equivalent-circle
 *    diameter d = 2 sqrt(A / pi) in pixels and 2 sqrt(A sx sy / pi) in physical units (the
 *    spacing's, micrometres in this module), whether the image edge cuts it, whether it is
 *    counted, its weight in the size distribution.
 *  - ParticleDensity: particles per unit area (physical, per square micrometre when the spacing
 *    is in micrometres). Edge rule (a counting frame after Gundersen 1977, with the
 *    image as the frame): a particle is counted when it reaches neither the last column nor the
 *    last row, and the count is divided by the frame area (W - 1)(H - 1) sx sy: a particle's
 *    bounding box has its bottom-right corner in the (W - 1) x (H - 1) frame exactly when it is
 *    counted. That is unbiased where a particle shows its whole box whenever its corner lies in the
 *    frame (axis-aligned rectangles). A rounded particle cut by the top or left edge shows a
 *    narrower box than its own and is counted a little too often: +0.55 % for digital discs of mean
 *    diameter 0.21 times the image side, averaged over every position (the test
 *    CountingFrameAndWeightsAreUnbiasedOverWindowPositions), where counting every particle the
 *    image shows overcounts by 46 %.
 *    NaN for an image of one row or one column.
 *  - MeanEquivalentDiameter (pixels) and MeanEquivalentDiameterPhysical: the number-weighted
 *    mean diameter of the particles wholly inside the image, each weighted by the
 *    Miles-Lantuejoul factor (MicrostructureParticle::Weight): (W - 1)(H - 1) /
 *    ((W - 1 - w)(H - 1 - h)) for a bounding box w x h. A particle cut by the edge has no true
 *    size in the image; leaving those out favours small particles, which the weight undoes
 *    (Miles 1978; Lantuejoul 1978). NaN when no particle lies wholly inside.
 *  - NumberOfCountedParticles and NumberOfInteriorParticles.
 *
 * Labelling: LabelMicrostructureParticles() (Labeling: OpenCV's connectedComponentsWithStats where
 * built with it, ITK's ConnectedComponentImageFilter otherwise; both give the same particles).
 * Single-threaded (the labelling of one micrograph is fast next to reading it; measure many
 * patches in parallel with MicrostructureStackMeasurement).
 *
 * Throws itk::ExceptionObject (saying what to do) for an empty image, and for Labeling OpenCV in a
 * build without OpenCV.
 *
 * \ingroup StochasticMicrostructure
 */
template <typename TInputImage>
class ITK_TEMPLATE_EXPORT MicrostructureParticlesImageFilter : public WholeImageMeasurementFilter<TInputImage>
{
public:
  ITK_DISALLOW_COPY_AND_MOVE(MicrostructureParticlesImageFilter);

  using Self = MicrostructureParticlesImageFilter;
  using Superclass = WholeImageMeasurementFilter<TInputImage>;
  using Pointer = SmartPointer<Self>;
  using ConstPointer = SmartPointer<const Self>;

  itkNewMacro(Self);
  itkTypeMacro(MicrostructureParticlesImageFilter, WholeImageMeasurementFilter);

  static constexpr unsigned int ImageDimension = TInputImage::ImageDimension;
  static_assert(ImageDimension == 2,
                "MicrostructureParticlesImageFilter measures 2D images; measure a 3D stack slice by slice "
                "(MicrostructureStackMeasurement)");

  using InputImageType = TInputImage;
  using PixelType = typename TInputImage::PixelType;
  using RealType = double;
  using RealObjectType = SimpleDataObjectDecorator<RealType>;
  using DataObjectIdentifierType = ProcessObject::DataObjectIdentifierType;
  using LabelingEnum = MicrostructureParticlesEnums::Labeling;
  using ParticleType = MicrostructureParticle;

  /** Pixel value of the measured phase. Default 1. */
  itkSetMacro(ForegroundValue, PixelType);
  itkGetConstMacro(ForegroundValue, PixelType);

  /** On: pixels touching by a corner are connected (8-connectivity). Default Off (see above). */
  itkSetMacro(FullyConnected, bool);
  itkGetConstMacro(FullyConnected, bool);
  itkBooleanMacro(FullyConnected);

  /** Which labelling runs. Default Automatic. */
  itkSetEnumMacro(Labeling, LabelingEnum);
  itkGetConstMacro(Labeling, LabelingEnum);

  /** Counted particles per unit physical area (see the class comment). */
  itkGetDecoratedOutputMacro(ParticleDensity, RealType);
  /** Weighted mean equivalent-circle diameter of the interior particles, pixels. */
  itkGetDecoratedOutputMacro(MeanEquivalentDiameter, RealType);
  /** The same in physical units. */
  itkGetDecoratedOutputMacro(MeanEquivalentDiameterPhysical, RealType);

  /** Every particle, sorted by (Top, Left, Width, Height, Area). */
  const std::vector<ParticleType> &
  GetParticles() const
  {
    return m_Particles;
  }
  itkGetConstMacro(NumberOfCountedParticles, SizeValueType);
  itkGetConstMacro(NumberOfInteriorParticles, SizeValueType);

  using Superclass::MakeOutput;
  DataObject::Pointer
  MakeOutput(const DataObjectIdentifierType & name) override;

protected:
  MicrostructureParticlesImageFilter();
  ~MicrostructureParticlesImageFilter() override = default;

  void
  GenerateData() override;
  void
  PrintSelf(std::ostream & os, Indent indent) const override;

  itkSetDecoratedOutputMacro(ParticleDensity, RealType);
  itkSetDecoratedOutputMacro(MeanEquivalentDiameter, RealType);
  itkSetDecoratedOutputMacro(MeanEquivalentDiameterPhysical, RealType);

private:
  PixelType    m_ForegroundValue{ NumericTraits<PixelType>::OneValue() };
  bool         m_FullyConnected{ false };
  LabelingEnum m_Labeling{ LabelingEnum::Automatic };

  std::vector<ParticleType> m_Particles;
  SizeValueType             m_NumberOfCountedParticles{ 0 };
  SizeValueType             m_NumberOfInteriorParticles{ 0 };
};
} // end namespace itk

#ifndef ITK_MANUAL_INSTANTIATION
#  include "itkMicrostructureParticlesImageFilter.hxx"
#endif

#endif
