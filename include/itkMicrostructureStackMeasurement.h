/*=========================================================================
 *  ITKStochasticMicrostructure
 *  Licensed under the Apache License, Version 2.0
 *=========================================================================*/
#ifndef itkMicrostructureStackMeasurement_h
#define itkMicrostructureStackMeasurement_h

#include "StochasticMicrostructureExport.h"
#include "itkImage.h"
#include "itkImageSink.h"
#include "itkMicrostructureDescriptorsImageFilter.h"
#include "itkMicrostructureParticlesImageFilter.h"
#include "itkMicrostructureTable.h"
#include "itkOtsuPhaseSegmentationImageFilter.h"
#include "itkTwoPointCorrelationImageFilter.h"

#include <array>
#include <limits>
#include <string>
#include <vector>

namespace itk
{
/** \brief Everything measured on one slice (patch) of a stack. Lengths in pixels unless the
 * name says Physical (micrometres: pixels * spacing). H = horizontal test lines (rows),
 * V = vertical test lines (columns). "Foreground" is the measured phase (Otsu's bright phase
 * by default, i.e. ferrite). NaN where a value is undefined (see
 * MicrostructureDescriptorsImageFilter). */
struct StochasticMicrostructure_EXPORT MicrostructureSliceMeasurement
{
  static constexpr double NaN = std::numeric_limits<double>::quiet_NaN();

  SizeValueType SliceIndex{ 0 };
  /** Pixel size of the slice (input spacing, micrometres). */
  double PixelSizeX{ NaN };
  double PixelSizeY{ NaN };
  /** Otsu threshold in input intensity units; NaN for binary input. */
  double OtsuThreshold{ NaN };
  double VolumeFraction{ NaN };

  double MeanFreePathHorizontal{ NaN };
  double MeanFreePathVertical{ NaN };
  double MeanFreePath{ NaN }; ///< pooled over H and V lines
  double MeanFreePathHorizontalPhysical{ NaN };
  double MeanFreePathVerticalPhysical{ NaN };
  double MeanFreePathPhysical{ NaN };

  double InterceptCountHorizontal{ NaN }; ///< N under the edge rule
  double InterceptCountVertical{ NaN };
  double TestLineLengthHorizontal{ NaN }; ///< L, pixels
  double TestLineLengthVertical{ NaN };
  double ForegroundLineLengthHorizontal{ NaN }; ///< foreground length on the lines, pixels
  double ForegroundLineLengthVertical{ NaN };

  double MeanChordLengthForegroundHorizontal{ NaN };
  double MeanChordLengthForegroundVertical{ NaN };
  double MeanChordLengthBackgroundHorizontal{ NaN };
  double MeanChordLengthBackgroundVertical{ NaN };

  double GrainSizeNumber{ NaN };

  /** Particles (connected regions of the measured phase, 4-connected;
   * MicrostructureParticlesImageFilter): the number counted by the counting-frame rule, that
   * number per square micrometre, and the Miles-Lantuejoul-weighted mean equivalent-circle
   * diameter of the particles wholly inside the slice (pixels, micrometres; NaN without one). */
  double ParticlesCounted{ NaN };
  double ParticleDensityPhysical{ NaN };
  double MeanParticleDiameter{ NaN };
  double MeanParticleDiameterPhysical{ NaN };
  /** Every particle of the slice (KeepParticles On; empty otherwise). Not part of ToRow(). */
  std::vector<MicrostructureParticle> Particles;

  /** Two-point correlation S2 of the measured phase (ComputeCorrelation On; empty otherwise),
   * r = 0..R pixels: along x, along y, and radially averaged (TwoPointCorrelationImageFilter).
   * Curves are not part of ToRow(): they go to a table of their own. */
  std::vector<double> CorrelationX;
  std::vector<double> CorrelationY;
  std::vector<double> CorrelationRadial;

  /** Chord-length histograms (ChordHistograms On; empty otherwise), as
   * MicrostructureDescriptorsImageFilter::GetChordLengthHistogram(): entry k = number of
   * chords of k pixels. Index: [0] foreground horizontal, [1] foreground vertical,
   * [2] background horizontal, [3] background vertical. */
  std::array<std::vector<SizeValueType>, 4> ChordHistograms;

  /** Column names of ToRow(), in order (slice, otsu_threshold, volume_fraction, ...). */
  static std::vector<std::string>
  ColumnNames();
  /** The values as table cells (MicrostructureTable::FormatNumber; NaN as "nan"). */
  std::vector<std::string>
  ToRow() const;
};

/** One row per slice, columns MicrostructureSliceMeasurement::ColumnNames(). */
StochasticMicrostructure_EXPORT MicrostructureTable
MicrostructureMeasurementsToTable(const std::vector<MicrostructureSliceMeasurement> & measurements);

/** \class MicrostructureStackMeasurement
 * \brief Measures every patch of a stack: Otsu phase segmentation, then the microstructure
 * descriptors; the helper behind the `measure` CLI and the benchmarks.
 *
 * Input: a 3D stack of 2D patches (last axis = patch index; unsigned char or float gray
 * values, or a label/binary stack with InputIsBinary On), or a single 2D image (a stack of one).
 *
 * Per slice, single-threaded (the slices are measured in parallel with the MultiThreader's
 * ParallelizeArray; NumberOfWorkUnits bounds how many at once; the threader is a
 * PlatformMultiThreader, not ITK's pool, because ITK's histogram of a float slice sends work
 * to the pool whatever its work-unit setting and pool threads waiting on the pool deadlock):
 *  - gray input: with SmoothingSigma > 0 first DiscreteGaussianImageFilter (variance sigma^2 in
 *    pixels), then OtsuPhaseSegmentationImageFilter (2D) with ForegroundPhase (default Bright:
 *    bright = ferrite = 1) and NumberOfHistogramBins -> 0/1 phase map;
 *    binary input: pixels equal to ForegroundValue (default 1) are the foreground;
 *  - MicrostructureDescriptorsImageFilter with LineSpacing, LineOffset, EdgeRule,
 *    IncludeEdgeChords (see that class for the definitions);
 *  - MicrostructureParticlesImageFilter on the phase map (4-connected particles of the measured
 *    phase: counted number, number per area, weighted mean equivalent diameter; every particle
 *    with KeepParticles On);
 *  - with ComputeCorrelation On: TwoPointCorrelationImageFilter on the phase map, up to
 *    CorrelationMaximumDistance pixels (0: half the smaller side) -> S2 curves per slice.
 * The results are the same as running those filters on each slice on its own (tested).
 *
 * After Update(): GetMeasurements() has one MicrostructureSliceMeasurement per slice, in
 * slice order. With KeepSegmentation On, GetSegmentation() returns the 0/1 phase maps as a
 * stack of the input's size (unsigned char). Progress events are sent as slices finish.
 *
 * Throws itk::ExceptionObject (saying what to do) for an empty input and for the settings
 * errors of the two filters.
 *
 * \ingroup StochasticMicrostructure
 */
template <typename TInputImage>
class ITK_TEMPLATE_EXPORT MicrostructureStackMeasurement : public ImageSink<TInputImage>
{
public:
  ITK_DISALLOW_COPY_AND_MOVE(MicrostructureStackMeasurement);

  using Self = MicrostructureStackMeasurement;
  using Superclass = ImageSink<TInputImage>;
  using Pointer = SmartPointer<Self>;
  using ConstPointer = SmartPointer<const Self>;

  itkNewMacro(Self);
  itkTypeMacro(MicrostructureStackMeasurement, ImageSink);

  static constexpr unsigned int ImageDimension = TInputImage::ImageDimension;
  static_assert(ImageDimension == 2 || ImageDimension == 3,
                "MicrostructureStackMeasurement takes a 3D stack of 2D patches or one 2D image");

  using InputImageType = TInputImage;
  using InputPixelType = typename TInputImage::PixelType;
  using InputImageRegionType = typename TInputImage::RegionType;
  using LabelPixelType = unsigned char;
  using SegmentationImageType = Image<LabelPixelType, ImageDimension>;
  using GraySliceType = Image<InputPixelType, 2>;
  using LabelSliceType = Image<LabelPixelType, 2>;
  using OtsuFilterType = OtsuPhaseSegmentationImageFilter<GraySliceType, LabelSliceType>;
  using SmoothSliceType = Image<float, 2>;
  using DescriptorsFilterType = MicrostructureDescriptorsImageFilter<LabelSliceType>;
  using CorrelationFilterType = TwoPointCorrelationImageFilter<LabelSliceType>;
  using ParticlesFilterType = MicrostructureParticlesImageFilter<LabelSliceType>;
  using ForegroundPhaseEnum = OtsuPhaseSegmentationImageFilterEnums::ForegroundPhase;
  using EdgeRuleEnum = MicrostructureDescriptorsEnums::EdgeRule;
  using MeasurementType = MicrostructureSliceMeasurement;

  /** On: the input is already a phase map (no Otsu). Default Off. */
  itkSetMacro(InputIsBinary, bool);
  itkGetConstMacro(InputIsBinary, bool);
  itkBooleanMacro(InputIsBinary);
  /** With InputIsBinary: pixel value of the measured phase. Default 1. */
  itkSetMacro(ForegroundValue, InputPixelType);
  itkGetConstMacro(ForegroundValue, InputPixelType);

  /** Otsu settings (gray input). */
  itkSetEnumMacro(ForegroundPhase, ForegroundPhaseEnum);
  itkGetConstMacro(ForegroundPhase, ForegroundPhaseEnum);
  itkSetMacro(NumberOfHistogramBins, unsigned int);
  itkGetConstMacro(NumberOfHistogramBins, unsigned int);

  /** Standard deviation (pixels) of a Gaussian smoothing of every gray slice before Otsu; 0 (default)
   * = none. For noisy micrographs (SEM): on a synthetic SEM analogue (bench/sem_segmentation.py) raw
   * Otsu turned the noise into particles (4.1 times the true number), while 0.5 pixel gave 0.97 times.
   * Ignored for binary input. */
  itkSetMacro(SmoothingSigma, double);
  itkGetConstMacro(SmoothingSigma, double);

  /** Descriptor settings. */
  itkSetMacro(LineSpacing, SizeValueType);
  itkGetConstMacro(LineSpacing, SizeValueType);
  itkSetMacro(LineOffset, SizeValueType);
  itkGetConstMacro(LineOffset, SizeValueType);
  itkSetEnumMacro(EdgeRule, EdgeRuleEnum);
  itkGetConstMacro(EdgeRule, EdgeRuleEnum);
  itkSetMacro(IncludeEdgeChords, bool);
  itkGetConstMacro(IncludeEdgeChords, bool);
  itkBooleanMacro(IncludeEdgeChords);

  /** Also compute the two-point correlation S2 of every slice. Default Off. */
  itkSetMacro(ComputeCorrelation, bool);
  itkGetConstMacro(ComputeCorrelation, bool);
  itkBooleanMacro(ComputeCorrelation);
  /** Largest S2 displacement in pixels; 0 (default) = half the smaller side. */
  itkSetMacro(CorrelationMaximumDistance, unsigned int);
  itkGetConstMacro(CorrelationMaximumDistance, unsigned int);

  /** Also keep the chord-length histograms of every slice. Default Off. */
  itkSetMacro(ChordHistograms, bool);
  itkGetConstMacro(ChordHistograms, bool);
  itkBooleanMacro(ChordHistograms);

  /** Also keep every slice's particles (MicrostructureSliceMeasurement::Particles). Default Off. */
  itkSetMacro(KeepParticles, bool);
  itkGetConstMacro(KeepParticles, bool);
  itkBooleanMacro(KeepParticles);

  /** Keep the 0/1 phase maps (GetSegmentation()). Default Off. */
  itkSetMacro(KeepSegmentation, bool);
  itkGetConstMacro(KeepSegmentation, bool);
  itkBooleanMacro(KeepSegmentation);

  /** One entry per slice after Update(). */
  const std::vector<MeasurementType> &
  GetMeasurements() const
  {
    return m_Measurements;
  }
  /** The phase maps (KeepSegmentation On), else nullptr. */
  SegmentationImageType *
  GetSegmentation() const
  {
    return m_Segmentation.GetPointer();
  }

protected:
  MicrostructureStackMeasurement();
  ~MicrostructureStackMeasurement() override = default;

  void
  VerifyPreconditions() ITKv5_CONST override;
  void
  BeforeStreamedGenerateData() override;
  /** The whole stack in one piece: slices in parallel. */
  void
  StreamedGenerateData(unsigned int inputRequestedRegionNumber) override;
  /** Not used (StreamedGenerateData does the work). */
  void
  ThreadedStreamedGenerateData(const InputImageRegionType &) override
  {}
  void
  PrintSelf(std::ostream & os, Indent indent) const override;

private:
  /** Measures slice k of the input (single-threaded); writes its phase map into m_Segmentation
   * when kept. */
  MeasurementType
  MeasureSlice(SizeValueType k) const;
  /** Otsu's 0/1 phase map of one gray slice (single-threaded); its threshold into `threshold`. */
  template <typename TSlice>
  typename LabelSliceType::Pointer
  Otsu(TSlice * slice, double & threshold) const;

  bool                m_InputIsBinary{ false };
  InputPixelType      m_ForegroundValue{ NumericTraits<InputPixelType>::OneValue() };
  ForegroundPhaseEnum m_ForegroundPhase{ ForegroundPhaseEnum::Bright };
  unsigned int        m_NumberOfHistogramBins{ 256 };
  double              m_SmoothingSigma{ 0.0 };
  SizeValueType       m_LineSpacing{ 1 };
  SizeValueType       m_LineOffset{ 0 };
  EdgeRuleEnum        m_EdgeRule{ EdgeRuleEnum::ASTMHalfCount };
  bool                m_IncludeEdgeChords{ false };
  bool                m_KeepSegmentation{ false };
  bool                m_ComputeCorrelation{ false };
  bool                m_ChordHistograms{ false };
  bool                m_KeepParticles{ false };
  unsigned int        m_CorrelationMaximumDistance{ 0 };

  std::vector<MeasurementType>            m_Measurements;
  typename SegmentationImageType::Pointer m_Segmentation;
};
} // end namespace itk

#ifndef ITK_MANUAL_INSTANTIATION
#  include "itkMicrostructureStackMeasurement.hxx"
#endif

#endif
