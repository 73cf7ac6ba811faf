/*=========================================================================
 *  ITKStochasticMicrostructure
 *  Licensed under the Apache License, Version 2.0
 *=========================================================================*/
#ifndef itkMicrostructureDescriptorsImageFilter_h
#define itkMicrostructureDescriptorsImageFilter_h

#include "itkWholeImageMeasurementFilter.h"
#include "itkSimpleDataObjectDecorator.h"

#include <array>
#include <cstdint>
#include <mutex>
#include <ostream>
#include <vector>

namespace itk
{
/** \class MicrostructureDescriptorsEnums
 * \brief Options and indices of MicrostructureDescriptorsImageFilter.
 * \ingroup StochasticMicrostructure
 */
class MicrostructureDescriptorsEnums
{
public:
  /** How a foreground segment cut by the end of a test line (the image edge) is counted.
   * ASTMHalfCount (default, ASTM E112 section 14.3): it counts 1/2; an interior segment
   *   counts 1. A line that is foreground from end to end is ONE segment touching the
   *   edge and counts 1/2 as well (not 1/2 + 1/2).
   * WholeCount (Noguchi & Inoue 2021): every segment counts 1, cut or not. */
  enum class EdgeRule : uint8_t
  {
    ASTMHalfCount = 0,
    WholeCount = 1
  };
  /** Horizontal test lines run along image rows (x), vertical ones along columns (y). */
  enum class Direction : uint8_t
  {
    Horizontal = 0,
    Vertical = 1
  };
  /** Foreground: pixels equal to ForegroundValue. Background: every other pixel. */
  enum class Phase : uint8_t
  {
    Foreground = 0,
    Background = 1
  };
};
inline std::ostream &
operator<<(std::ostream & os, MicrostructureDescriptorsEnums::EdgeRule r)
{
  return os << (r == MicrostructureDescriptorsEnums::EdgeRule::ASTMHalfCount ? "ASTMHalfCount" : "WholeCount");
}
inline std::ostream &
operator<<(std::ostream & os, MicrostructureDescriptorsEnums::Direction d)
{
  return os << (d == MicrostructureDescriptorsEnums::Direction::Horizontal ? "Horizontal" : "Vertical");
}
inline std::ostream &
operator<<(std::ostream & os, MicrostructureDescriptorsEnums::Phase p)
{
  return os << (p == MicrostructureDescriptorsEnums::Phase::Foreground ? "Foreground" : "Background");
}

/** \brief Linear-intercept statistics of one direction of test lines (all lengths in pixels
 * unless named Physical; physical units are the image spacing's, micrometres in this module). */
struct MicrostructureLineInterceptStatistics
{
  /** Number of test lines of this direction. */
  SizeValueType NumberOfLines{ 0 };
  /** L: total length of the test lines (pixels): number of lines * line length. */
  double TestLineLength{ 0.0 };
  /** Total foreground length on the test lines (pixels), cut segments included. */
  double ForegroundLength{ 0.0 };
  /** L_L = ForegroundLength / TestLineLength (estimates the volume fraction). */
  double LineFraction{ 0.0 };
  /** Foreground segments wholly inside the lines (each counts 1). */
  SizeValueType InteriorSegments{ 0 };
  /** Foreground segments touching a line end (count 1/2 or 1 by the EdgeRule). */
  SizeValueType EdgeSegments{ 0 };
  /** N: the intercept count under the EdgeRule (may be a half-integer). */
  double InterceptCount{ 0.0 };
  /** N_L = N / L (1/pixel). */
  double InterceptsPerLength{ 0.0 };
  /** d_f = L_L / N_L = ForegroundLength / N (pixels). NaN when N = 0, which happens exactly
   * when the foreground does not appear on these lines. */
  double MeanFreePath{ 0.0 };
  /** Pixel spacing along these lines (x spacing for horizontal, y for vertical). */
  double Spacing{ 1.0 };
  /** d_f * Spacing. */
  double MeanFreePathPhysical{ 0.0 };
};

/** \class MicrostructureDescriptorsImageFilter
 * \brief Stereological descriptors of a two-phase 2D label image: volume fraction, mean free
 * path by linear intercepts (ASTM E112 edge rules), chord-length distributions, grain size number.
 *
 * Input: a 2D label or binary image (e.g. the 0/1 output of OtsuPhaseSegmentationImageFilter).
 * Pixels equal to ForegroundValue (default 1) are the measured phase ("foreground", e.g.
 * ferrite); every other value is the other phase ("background"). 2D only (static_assert);
 * measure a 3D stack slice by slice with MicrostructureStackMeasurement.
 *
 * Output 0: the input image, passed through unchanged (so the filter can sit in a pipeline).
 * Scalar results leave as SimpleDataObjectDecorator<double> outputs (GetXxxOutput()) and
 * getters (GetXxx()); everything else through plain getters valid after Update().
 *
 * Test lines: horizontal lines are the rows y = LineOffset, LineOffset + LineSpacing, ...;
 * vertical lines are the columns x = LineOffset, LineOffset + LineSpacing, ... (indices
 * relative to the image's first row/column). Each line spans the whole image, so a line of
 * W pixels has length W pixels (a pixel is a unit of length along the line).
 * LineSpacing default 1 (every row and column), LineOffset default 0.
 *
 * Measured per direction (MicrostructureLineInterceptStatistics, GetHorizontalIntercepts(),
 * GetVerticalIntercepts()): test line length L, foreground length on the lines, L_L,
 * intercept count N (number of maximal foreground runs, an interior run counting 1 and a run
 * cut by the image edge counting 1/2 under EdgeRule ASTMHalfCount -- also a run covering the
 * whole line -- or 1 under WholeCount), N_L = N / L and the mean free path
 *   d_f = L_L / N_L = (foreground length on the lines) / N     [pixels],
 * and d_f * spacing [micrometres; x spacing for horizontal lines, y spacing for vertical].
 *
 * Pooled ("averaged") mean free path MeanFreePath: both directions' lines taken together,
 *   d_f = (foreground length H + V) / (N_H + N_V),
 * i.e. L_L and N_L pooled over all test lines (a ratio of sums, not the mean of the two
 * ratios: it weighs each direction by its amount of line and stays defined when one direction
 * has N = 0). MeanFreePathPhysical pools the physical lengths the same way:
 *   (fg_H * sx + fg_V * sy) / (N_H + N_V).
 * A mean free path is NaN when its N is 0 (the foreground is absent from those lines).
 *
 * VolumeFraction: foreground pixels / all pixels of the image (not only the test lines).
 *
 * Chord lengths: a chord is a maximal run of one phase along a test line. For each phase and
 * direction, GetChordLengthHistogram() returns counts indexed by chord length in pixels
 * (entry k = number of chords of length k; entry 0 is always 0). By default only interior
 * chords are counted: chords cut by the image edge are shorter than the true ones (biased).
 * IncludeEdgeChords On counts them too. GetMeanChordLength() is the mean of that histogram
 * in pixels (NaN when there is no chord).
 *
 * GrainSizeNumber (ASTM E112, intercept method): for a single-phase grain image whose
 * foreground is the grain interiors and background the grain boundaries,
 *   G = 6.643856 * log10(N_L) - 3.288,  N_L = (N_H + N_V) / (L_H * sx + L_V * sy) in 1/mm,
 * with the spacing in micrometres (converted to mm). Equivalently G = -6.643856 log10(l) - 3.288
 * with the mean lineal intercept l = 1/N_L in mm (G = 7 <-> l = 0.0283 mm). It is computed for
 * any input but means nothing for a two-phase micrograph. NaN when N = 0.
 *
 * Threading: DynamicThreadedGenerateData processes the horizontal lines of its row band and
 * the vertical lines dealt to that band in proportion (band rows [a, b) of H take columns
 * [a*W/H, b*W/H)); every line is scanned whole by exactly one work unit and the results are
 * merged, so they do not depend on the number of work units. For one small patch use
 * SetNumberOfWorkUnits(1): the work then runs on the calling thread with no thread start-up.
 *
 * Throws itk::ExceptionObject (saying what to do) for an empty image or LineSpacing 0.
 * LineOffset beyond the image leaves a direction without lines (its statistics are 0/NaN).
 *
 * \ingroup StochasticMicrostructure
 */
template <typename TInputImage>
class ITK_TEMPLATE_EXPORT MicrostructureDescriptorsImageFilter : public WholeImageMeasurementFilter<TInputImage>
{
public:
  ITK_DISALLOW_COPY_AND_MOVE(MicrostructureDescriptorsImageFilter);

  using Self = MicrostructureDescriptorsImageFilter;
  using Superclass = WholeImageMeasurementFilter<TInputImage>;
  using Pointer = SmartPointer<Self>;
  using ConstPointer = SmartPointer<const Self>;

  itkNewMacro(Self);
  itkTypeMacro(MicrostructureDescriptorsImageFilter, WholeImageMeasurementFilter);

  static constexpr unsigned int ImageDimension = TInputImage::ImageDimension;
  static_assert(ImageDimension == 2,
                "MicrostructureDescriptorsImageFilter measures 2D images; measure a 3D stack slice by slice "
                "(MicrostructureStackMeasurement)");

  using InputImageType = TInputImage;
  using PixelType = typename TInputImage::PixelType;
  using RegionType = typename TInputImage::RegionType;
  using RealType = double;
  using RealObjectType = SimpleDataObjectDecorator<RealType>;
  using DataObjectIdentifierType = ProcessObject::DataObjectIdentifierType;
  using EdgeRuleEnum = MicrostructureDescriptorsEnums::EdgeRule;
  using DirectionEnum = MicrostructureDescriptorsEnums::Direction;
  using PhaseEnum = MicrostructureDescriptorsEnums::Phase;
  using InterceptStatistics = MicrostructureLineInterceptStatistics;
  /** Entry k: number of chords of length k pixels. */
  using ChordLengthHistogramType = std::vector<SizeValueType>;

  /** Pixel value of the measured phase. Default 1. */
  itkSetMacro(ForegroundValue, PixelType);
  itkGetConstMacro(ForegroundValue, PixelType);

  /** Pixels between neighbouring test lines, both directions. Default 1. */
  itkSetMacro(LineSpacing, SizeValueType);
  itkGetConstMacro(LineSpacing, SizeValueType);

  /** Index of the first test line (row for horizontal, column for vertical). Default 0. */
  itkSetMacro(LineOffset, SizeValueType);
  itkGetConstMacro(LineOffset, SizeValueType);

  /** Counting rule for segments cut by the image edge. Default ASTMHalfCount. */
  itkSetEnumMacro(EdgeRule, EdgeRuleEnum);
  itkGetConstMacro(EdgeRule, EdgeRuleEnum);

  /** Count chords cut by the image edge in the chord-length histograms. Default Off. */
  itkSetMacro(IncludeEdgeChords, bool);
  itkGetConstMacro(IncludeEdgeChords, bool);
  itkBooleanMacro(IncludeEdgeChords);

  /** Foreground area fraction of the whole image. */
  itkGetDecoratedOutputMacro(VolumeFraction, RealType);
  /** Pooled mean free path of both directions, pixels. */
  itkGetDecoratedOutputMacro(MeanFreePath, RealType);
  itkGetDecoratedOutputMacro(MeanFreePathHorizontal, RealType);
  itkGetDecoratedOutputMacro(MeanFreePathVertical, RealType);
  /** The same in physical units (micrometres when the spacing is). */
  itkGetDecoratedOutputMacro(MeanFreePathPhysical, RealType);
  itkGetDecoratedOutputMacro(MeanFreePathHorizontalPhysical, RealType);
  itkGetDecoratedOutputMacro(MeanFreePathVerticalPhysical, RealType);
  /** ASTM E112 grain size number G from the pooled intercepts (see the class comment). */
  itkGetDecoratedOutputMacro(GrainSizeNumber, RealType);

  const InterceptStatistics &
  GetHorizontalIntercepts() const
  {
    return m_Intercepts[0];
  }
  const InterceptStatistics &
  GetVerticalIntercepts() const
  {
    return m_Intercepts[1];
  }
  const InterceptStatistics &
  GetIntercepts(DirectionEnum d) const
  {
    return m_Intercepts[static_cast<unsigned>(d)];
  }
  /** N_L pooled over both directions, 1/pixel. */
  RealType
  GetPooledInterceptsPerLength() const;

  const ChordLengthHistogramType &
  GetChordLengthHistogram(PhaseEnum phase, DirectionEnum direction) const
  {
    return m_Chords[static_cast<unsigned>(phase)][static_cast<unsigned>(direction)];
  }
  /** Mean chord length in pixels; NaN without chords. */
  RealType
  GetMeanChordLength(PhaseEnum phase, DirectionEnum direction) const;

  /** Foreground pixel count of the whole image. */
  itkGetConstMacro(ForegroundPixelCount, SizeValueType);

  using Superclass::MakeOutput;
  DataObject::Pointer
  MakeOutput(const DataObjectIdentifierType & name) override;

protected:
  MicrostructureDescriptorsImageFilter();
  ~MicrostructureDescriptorsImageFilter() override = default;

  void
  VerifyPreconditions() ITKv5_CONST override;
  void
  BeforeThreadedGenerateData() override;
  void
  DynamicThreadedGenerateData(const RegionType & outputRegionForThread) override;
  void
  AfterThreadedGenerateData() override;
  void
  PrintSelf(std::ostream & os, Indent indent) const override;

  itkSetDecoratedOutputMacro(VolumeFraction, RealType);
  itkSetDecoratedOutputMacro(MeanFreePath, RealType);
  itkSetDecoratedOutputMacro(MeanFreePathHorizontal, RealType);
  itkSetDecoratedOutputMacro(MeanFreePathVertical, RealType);
  itkSetDecoratedOutputMacro(MeanFreePathPhysical, RealType);
  itkSetDecoratedOutputMacro(MeanFreePathHorizontalPhysical, RealType);
  itkSetDecoratedOutputMacro(MeanFreePathVerticalPhysical, RealType);
  itkSetDecoratedOutputMacro(GrainSizeNumber, RealType);

private:
  /** What one work unit accumulates before merging. */
  struct Accumulator
  {
    SizeValueType                                          foregroundPixels{ 0 };
    std::array<SizeValueType, 2>                           lines{ { 0, 0 } };
    std::array<SizeValueType, 2>                           lineLength{ { 0, 0 } };
    std::array<SizeValueType, 2>                           foregroundLength{ { 0, 0 } };
    std::array<SizeValueType, 2>                           interior{ { 0, 0 } };
    std::array<SizeValueType, 2>                           edge{ { 0, 0 } };
    std::array<std::array<ChordLengthHistogramType, 2>, 2> chords;       // [phase][direction]
    std::vector<unsigned char>                             isForeground; // scratch: one line
    std::vector<SizeValueType>                             runStarts;    // scratch: one line
  };

  void
  ScanLine(const PixelType * first, OffsetValueType stride, SizeValueType length, unsigned direction,
           Accumulator & acc) const;

  PixelType     m_ForegroundValue{ NumericTraits<PixelType>::OneValue() };
  SizeValueType m_LineSpacing{ 1 };
  SizeValueType m_LineOffset{ 0 };
  EdgeRuleEnum  m_EdgeRule{ EdgeRuleEnum::ASTMHalfCount };
  bool          m_IncludeEdgeChords{ false };

  std::mutex                                             m_Mutex;
  Accumulator                                            m_Total;
  SizeValueType                                          m_ForegroundPixelCount{ 0 };
  std::array<InterceptStatistics, 2>                     m_Intercepts;
  std::array<std::array<ChordLengthHistogramType, 2>, 2> m_Chords;
};
} // end namespace itk

#ifndef ITK_MANUAL_INSTANTIATION
#  include "itkMicrostructureDescriptorsImageFilter.hxx"
#endif

#endif
