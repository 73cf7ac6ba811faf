/*=========================================================================
 *  ITKStochasticMicrostructure
 *  Licensed under the Apache License, Version 2.0
 *=========================================================================*/
#ifndef itkSyntheticMicrostructureImageSource_h
#define itkSyntheticMicrostructureImageSource_h

#include "itkImageSource.h"

#include <array>
#include <cstdint>
#include <limits>
#include <ostream>
#include <vector>

namespace itk
{
/** \brief Parameters of the synthetic ferrite-pearlite model (lengths in micrometres).
 *
 * Microstructure (see SyntheticMicrostructureImageSource for the model):
 * - NucleationDensity lambda: ferrite nuclei per um^2 (sets the grain size, hence the ferrite
 *   mean free path).
 * - TransformationEnd T0: arrival "time" (growth distance at unit speed, um) at which ferrite
 *   growth stops; austenite not reached by then becomes pearlite (sets the ferrite fraction).
 * - TransformationEndLogSigma sigma: standard deviation of ln T_end(x), a smooth Gaussian
 *   field (sets the patch-to-patch variance of the ferrite fraction).
 * - NucleiPerCell k: nuclei are placed k per cell of a square grid of cells of area k / lambda,
 *   uniformly in the cell (a stratified point process, more regular than Poisson: the grain
 *   count of a patch fluctuates less); 0 gives a Poisson process of density lambda.
 * - NucleationPeriod tau: nucleation times are uniform in [0, tau] (Johnson-Mehl; 0 gives a
 *   Poisson-Voronoi tessellation).
 * - CorrelationLength ell: correlation length of the ln T_end field (Gaussian covariance
 *   exp(-r^2 / (2 ell^2))).
 * - BoundaryHalfWidth: half-width of the etched ferrite-ferrite grain boundaries.
 * Appearance (gray levels 0..255 before blur and noise):
 * - FerriteGray +- FerriteGrainGrayRange (uniform per grain), BoundaryGray, PearliteGray with a
 *   lamellar texture of amplitude PearliteAmplitude and a period uniform in
 *   [LamellarPeriodMin, LamellarPeriodMax] um (orientation and phase per colony),
 * - BlurSigma: optical blur, Gaussian, standard deviation in um,
 * - NoiseSigma: additive Gaussian noise after the blur, gray levels. */
struct SyntheticMicrostructureParameters
{
  double   NucleationDensity{ 0.02 };
  double   TransformationEnd{ 5.0 };
  double   TransformationEndLogSigma{ 0.0 };
  double   NucleationPeriod{ 5.0 };
  unsigned NucleiPerCell{ 1 };
  double   CorrelationLength{ 30.0 };
  double   BoundaryHalfWidth{ 0.3 };
  double   FerriteGray{ 200.0 };
  double   FerriteGrainGrayRange{ 8.0 };
  double   BoundaryGray{ 70.0 };
  double   PearliteGray{ 60.0 };
  double   PearliteAmplitude{ 20.0 };
  double   LamellarPeriodMin{ 0.85 };
  double   LamellarPeriodMax{ 1.36 };
  double   BlurSigma{ 0.24 };
  double   NoiseSigma{ 6.0 };
};
inline std::ostream &
operator<<(std::ostream & os, const SyntheticMicrostructureParameters & p)
{
  return os << "NucleationDensity " << p.NucleationDensity << " /um^2, TransformationEnd " << p.TransformationEnd
            << " um, TransformationEndLogSigma " << p.TransformationEndLogSigma << ", NucleationPeriod "
            << p.NucleationPeriod << " um, NucleiPerCell " << p.NucleiPerCell << ", CorrelationLength "
            << p.CorrelationLength << " um, BoundaryHalfWidth " << p.BoundaryHalfWidth << " um, gray ferrite "
            << p.FerriteGray << " +- " << p.FerriteGrainGrayRange << ", boundary " << p.BoundaryGray << ", pearlite "
            << p.PearliteGray << " +- " << p.PearliteAmplitude << " (period " << p.LamellarPeriodMin << ".."
            << p.LamellarPeriodMax << " um), blur " << p.BlurSigma << " um, noise " << p.NoiseSigma;
}

/** \class SyntheticMicrostructureImageSource
 * \brief Synthetic optical micrographs of a ferrite (bright) / pearlite (dark) steel for a given
 * cooling rate, with the ground-truth phase map as a second output.
 *
 * The module's default data source: it needs no download and every image comes with its truth.
 *
 * Outputs (2D, TOutputImage, typically itk::Image<unsigned char, 2>):
 * - output 0 (GetOutput()): the gray micrograph, 0..255, ferrite bright (~200), pearlite and
 *   etched grain boundaries dark (~60-70), blurred and noisy like an optical micrograph;
 * - output 1 (GetPhaseMapOutput()): labels 0 = pearlite, 1 = ferrite grain interior,
 *   2 = etched ferrite grain boundary. Boundaries are dark in the micrograph, so Otsu puts
 *   them with the non-ferrite phase: "ferrite" as measured (e.g. by
 *   MicrostructureDescriptorsImageFilter with ForegroundValue 1) is label 1.
 * Size (default 1024 x 768, like the seed paper's micrographs), spacing (default 0.34 um/px)
 * and origin (default 0) as set; identity direction. Positions are physical (um).
 *
 * Model (Johnson-Mehl nucleation and growth, then pearlite in what is left):
 * - Ferrite nuclei: a Poisson process of density lambda (per um^2) in the plane, each nucleus
 *   i with a position s_i and a nucleation time t_i ~ U(0, tau). Growth at unit speed:
 *   the arrival time at x is a(x) = min_i (t_i + |x - s_i|) (times in um). The owner of x is
 *   the minimising nucleus; a2(x) is the second smallest t_i + |x - s_i|.
 * - Ferrite growth stops at T_end(x) = T0 exp(sigma G(x)), with G a stationary Gaussian field
 *   of unit variance and covariance exp(-r^2 / (2 ell^2)) (spectral method: 64 random cosines,
 *   evaluated on a coarse grid of spacing ell / 8 and bilinearly interpolated). G modulates
 *   the ferrite fraction on a scale larger than a 128 x 128 patch, which is what makes the
 *   patch-to-patch variance grow with the cooling rate although the grains get finer.
 * - x is ferrite when a(x) <= T_end(x). Austenite not reached by T_end becomes pearlite:
 *   pearlite therefore sits at grain junctions and along boundaries, as in real
 *   ferrite-pearlite steels. x is an etched grain boundary when it is ferrite, the second
 *   grain also reached it (a2(x) <= T_end(x)), and its distance to the boundary between the
 *   two grains, (a2 - a) / |u1 - u2| (u_k the unit vector from nucleus k to x: the gradient
 *   of a_k), is below BoundaryHalfWidth.
 * - Appearance: ferrite FerriteGray plus a per-grain shade, boundaries BoundaryGray,
 *   pearlite PearliteGray + PearliteAmplitude cos(2 pi x.n / period + phase) with n, period and
 *   phase per colony (a colony is the part of a pearlite island nearest to one nucleus).
 *   Then ITK's DiscreteGaussianImageFilter (BlurSigma in um), additive Gaussian noise
 *   (NoiseSigma), rounding and clamping to 0..255.
 *
 * Calibration (bench/calibrate_synthetic.cxx; the table and its output are in the .hxx):
 * lambda, T0 and sigma were fitted at 1, 3, 10 and 30 degC/s so that 128 x 128 patches at
 * 0.34 um/px, binarised by Otsu (bright = ferrite, 256 bins) and measured with
 * MicrostructureDescriptorsImageFilter (ASTM half count, H and V lines pooled), reproduce the
 * seed paper's training data (Noguchi & Inoue, Phys. Rev. E 104, 025302, 2021): ferrite
 * fraction mean 73.4 / 68.8 / 66.2 / 63.4 %, variance 15.8 / 13.9 / 29.3 / 50.3 %^2, mean
 * free path 6.50 / 4.49 / 3.88 / 3.64 um. tau = 0.6 / sqrt(lambda) (so that the grain-size
 * dispersion does not change with scale), ell = 30 um and the appearance are fixed.
 * Between calibration rates, ln(lambda), ln(T0) and sigma are interpolated in ln(rate) with a
 * monotone piecewise cubic (Fritsch-Carlson), so the truth at unseen rates (2, 6.5, 20 degC/s)
 * is defined and lies between its neighbours; outside [1, 30] degC/s they are extrapolated
 * linearly in ln(rate) with a warning. See GetParametersForCoolingRate().
 *
 * Determinism: every random number is a pure function of the seed and of a position (a cell
 * of the nucleus grid, a pixel index) through a counter-based generator (SplitMix64), or comes
 * from std::mt19937_64 with this class's own uniform and normal transforms (never the
 * implementation-defined std:: distributions); the output is the same on every platform and
 * for every number of threads. Same seed, same images; the same seed and parameters give the
 * same microstructure at the same physical position whatever the image size or origin.
 *
 * Throws itk::ExceptionObject (saying what to do) for a cooling rate that is not a positive
 * finite number or lies outside [0.01, 1000] degC/s, a zero size, a non-positive spacing, or
 * (with SetParameters) non-positive NucleationDensity / TransformationEnd / CorrelationLength,
 * negative other widths, or a nucleation density so high that an image would hold more than
 * 50 million nuclei.
 *
 * \ingroup StochasticMicrostructure
 */
template <typename TOutputImage>
class ITK_TEMPLATE_EXPORT SyntheticMicrostructureImageSource : public ImageSource<TOutputImage>
{
public:
  ITK_DISALLOW_COPY_AND_MOVE(SyntheticMicrostructureImageSource);

  using Self = SyntheticMicrostructureImageSource;
  using Superclass = ImageSource<TOutputImage>;
  using Pointer = SmartPointer<Self>;
  using ConstPointer = SmartPointer<const Self>;

  itkNewMacro(Self);
  itkTypeMacro(SyntheticMicrostructureImageSource, ImageSource);

  static constexpr unsigned int ImageDimension = TOutputImage::ImageDimension;
  static_assert(ImageDimension == 2, "SyntheticMicrostructureImageSource makes 2D micrographs");
  static_assert(!std::numeric_limits<typename TOutputImage::PixelType>::is_integer ||
                  std::numeric_limits<typename TOutputImage::PixelType>::max() >= 255,
                "SyntheticMicrostructureImageSource writes gray levels 0..255: the pixel type must hold them");

  using OutputImageType = TOutputImage;
  using OutputImagePointer = typename TOutputImage::Pointer;
  using PixelType = typename TOutputImage::PixelType;
  using SizeType = typename TOutputImage::SizeType;
  using SpacingType = typename TOutputImage::SpacingType;
  using PointType = typename TOutputImage::PointType;
  using RegionType = typename TOutputImage::RegionType;
  using ParametersType = SyntheticMicrostructureParameters;

  /** Phase-map labels. */
  static constexpr unsigned char PearliteLabel = 0;
  static constexpr unsigned char FerriteLabel = 1;
  static constexpr unsigned char BoundaryLabel = 2;

  /** tau = NucleationPeriodFactor / sqrt(lambda) in the calibrated parameters. */
  static constexpr double NucleationPeriodFactor = 0.6;

  /** One row of the calibration table. */
  struct CalibrationPoint
  {
    double CoolingRate;       // degC/s
    double NucleationDensity; // lambda, 1/um^2
    double TransformationEnd; // T0, um
    double TransformationEndLogSigma;
  };
  /** The calibrated rows (1, 3, 10, 30 degC/s). */
  static std::vector<CalibrationPoint>
  GetCalibrationTable();

  /** The model parameters for a cooling rate (degC/s) from the calibration table, as the
   * source uses them. Throws for a rate that is not finite and positive or is outside
   * [0.01, 1000]; `extrapolated` (optional) tells whether the rate is outside [1, 30]. */
  static ParametersType
  GetParametersForCoolingRate(double coolingRate, bool * extrapolated = nullptr);

  /** Cooling rate in degC/s (default 3). Selects the calibrated parameters. */
  itkSetMacro(CoolingRate, double);
  itkGetConstMacro(CoolingRate, double);

  /** Bypass the calibration table: use these parameters as they are (the cooling rate is
   * then ignored). Turns UseCalibration off. */
  void
  SetParameters(const ParametersType & parameters);
  /** On (default): parameters from the cooling rate; Off: from SetParameters(). */
  itkSetMacro(UseCalibration, bool);
  itkGetConstMacro(UseCalibration, bool);
  itkBooleanMacro(UseCalibration);
  /** The parameters the source uses: the table's for the cooling rate when UseCalibration is
   * on (throws for a bad rate), else those given to SetParameters(). */
  ParametersType
  GetParameters() const;

  itkSetMacro(Size, SizeType);
  itkGetConstReferenceMacro(Size, SizeType);
  /** Pixel size in um (default 0.34 x 0.34). */
  itkSetMacro(Spacing, SpacingType);
  itkGetConstReferenceMacro(Spacing, SpacingType);
  void
  SetSpacing(double isotropic)
  {
    SpacingType s;
    s.Fill(isotropic);
    this->SetSpacing(s);
  }
  itkSetMacro(Origin, PointType);
  itkGetConstReferenceMacro(Origin, PointType);

  itkSetMacro(Seed, uint64_t);
  itkGetConstMacro(Seed, uint64_t);

  /** The ground-truth phase map (labels 0, 1, 2; see above). */
  OutputImageType *
  GetPhaseMapOutput()
  {
    return this->GetOutput(1);
  }

  /** Nuclei the last Update() placed (in its image and margin): a diagnostic. */
  itkGetConstMacro(NumberOfNuclei, SizeValueType);

protected:
  SyntheticMicrostructureImageSource();
  ~SyntheticMicrostructureImageSource() override = default;

  void
  GenerateOutputInformation() override;
  void
  EnlargeOutputRequestedRegion(DataObject * output) override;
  void
  GenerateData() override;
  void
  PrintSelf(std::ostream & os, Indent indent) const override;

private:
  struct Nucleus
  {
    double   x, y, t;
    uint64_t key; // random bits for the grain's / colony's appearance
  };
  void
  CheckSettings(const ParametersType & p) const;

  double         m_CoolingRate{ 3.0 };
  bool           m_UseCalibration{ true };
  ParametersType m_CustomParameters;
  SizeType       m_Size;
  SpacingType    m_Spacing;
  PointType      m_Origin;
  uint64_t       m_Seed{ 0 };
  SizeValueType  m_NumberOfNuclei{ 0 };
};
} // end namespace itk

#ifndef ITK_MANUAL_INSTANTIATION
#  include "itkSyntheticMicrostructureImageSource.hxx"
#endif

#endif
