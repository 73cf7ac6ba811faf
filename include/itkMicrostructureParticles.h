/*=========================================================================
 *  ITKStochasticMicrostructure
 *  Licensed under the Apache License, Version 2.0
 *=========================================================================*/
#ifndef itkMicrostructureParticles_h
#define itkMicrostructureParticles_h

#include "StochasticMicrostructureExport.h"
#include "itkIntTypes.h"

#include <cstdint>
#include <ostream>
#include <vector>

namespace itk
{
/** \class MicrostructureParticlesEnums
 * \brief Options of the particle labelling (MicrostructureParticlesImageFilter).
 * \ingroup StochasticMicrostructure
 */
class MicrostructureParticlesEnums
{
public:
  /** Which connected-component labelling runs. Both give the same particles (tested).
   * Automatic (default): OpenCV's connectedComponentsWithStats where the module was built with
   *   OpenCV (measured faster, bench/run_measure_bench.sh), else ITK.
   * OpenCV: cv::connectedComponentsWithStats; refused where the module has no OpenCV.
   * ITK: ConnectedComponentImageFilter, then one pass for the areas and bounding boxes. */
  enum class Labeling : uint8_t
  {
    Automatic = 0,
    OpenCV = 1,
    ITK = 2
  };
};
inline std::ostream &
operator<<(std::ostream & os, MicrostructureParticlesEnums::Labeling l)
{
  return os << (l == MicrostructureParticlesEnums::Labeling::Automatic ? "Automatic"
                : l == MicrostructureParticlesEnums::Labeling::OpenCV  ? "OpenCV"
                                                                       : "ITK");
}

/** \brief One particle (or grain): a connected region of the measured phase.
 * Pixel indices are relative to the image's first pixel (column x, row y).
 * \ingroup StochasticMicrostructure */
struct MicrostructureParticle
{
  /** Pixels of the region. */
  SizeValueType Area{ 0 };
  /** Bounding box: first column and row, width and height in pixels. */
  SizeValueType Left{ 0 };
  SizeValueType Top{ 0 };
  SizeValueType Width{ 0 };
  SizeValueType Height{ 0 };
  /** Equivalent-circle diameter 2 sqrt(Area / pi) in pixels, and in physical units
   * 2 sqrt(Area * sx * sy / pi) (MicrostructureParticlesImageFilter sets the latter; the
   * labelling alone leaves it NaN). */
  double EquivalentDiameter{ 0.0 };
  double EquivalentDiameterPhysical{ 0.0 };
  /** The region reaches the first or last row or column: the image edge cuts it (or may). */
  bool TouchesEdge{ false };
  /** Counted for the number per area (the counting-frame rule): it reaches neither the last
   * column nor the last row. */
  bool Counted{ false };
  /** Weight of the particle in the size distribution (Miles-Lantuejoul): 0 for a particle
   * touching the edge; (W - 1)(H - 1) / ((W - 1 - Width)(H - 1 - Height)) for one wholly
   * inside a W x H image, the inverse of the relative chance that a particle of its extent
   * lies wholly inside, so that large particles, more often cut by the edge, are not
   * under-represented. */
  double Weight{ 0.0 };
};

/** Labels the connected regions of the nonzero pixels of `mask` (row-major, `width` x `height`,
 * rows contiguous) and describes each (area, bounding box, equivalent diameter in pixels, edge,
 * counting-frame and weight flags as MicrostructureParticle says). fullyConnected: pixels
 * touching by a corner belong to one region (8-connectivity); otherwise only pixels sharing a
 * side do (4-connectivity). Particles come sorted by (Top, Left, Width, Height, Area), the same
 * for every labelling. Throws itk::ExceptionObject for an empty image, and for Labeling OpenCV
 * where the module was built without it.
 * \ingroup StochasticMicrostructure */
StochasticMicrostructure_EXPORT std::vector<MicrostructureParticle>
LabelMicrostructureParticles(const unsigned char * mask, SizeValueType width, SizeValueType height, bool fullyConnected,
                             MicrostructureParticlesEnums::Labeling labeling);

/** Whether the module was built with OpenCV (Labeling OpenCV available).
 * \ingroup StochasticMicrostructure */
StochasticMicrostructure_EXPORT bool
MicrostructureParticlesHaveOpenCV();
} // end namespace itk

#endif // itkMicrostructureParticles_h
