/*=========================================================================
 *  ITKStochasticMicrostructure
 *  Licensed under the Apache License, Version 2.0
 *=========================================================================*/
#ifndef itkMicrostructureCodeStatistics_h
#define itkMicrostructureCodeStatistics_h

#include "itkImage.h"
#include "itkOtsuPhaseSegmentationImageFilter.h"

#include <cstddef>
#include <vector>

namespace itk
{
/** \brief What each code of a VQ-VAE's codebook stands for in the measured phase.
 *
 * A code at a position of an index map stands for a block of P / w x Q / h pixels of its patch (patches
 * P x Q, maps w x h). Per code k of K: the mean over every block it stands for, in the given slices, of
 *  - ForegroundShare: the share of the block's pixels in the measured phase (Otsu per patch, as the
 *    measurement does: OtsuPhaseSegmentationImageFilter);
 *  - InterfaceDensity: phase changes between each pixel of the block and its right and lower
 *    neighbours (inside the patch), per pixel. A map's mean of it counts the phase boundaries that
 *    horizontal and vertical test lines cross per pixel of line, so with the share it sets the
 *    map's mean free path d_f = V_f / N_L.
 * One pseudo-block at the overall mean is added to every code, so a rare code's value leans to the mean
 * and an unused code has it. The composition level of PixelCNNPriorModel takes these as its code values.
 *
 * \ingroup StochasticMicrostructure
 */
struct MicrostructureCodeStatistics
{
  std::vector<double> ForegroundShare;  ///< K values in [0, 1]
  std::vector<double> InterfaceDensity; ///< K values in [0, 2]
};

/** patches: N slices of P x Q pixels; maps: index maps of w x h with at least N slices, slice i of them
 * encoding patch i; slices: which of them to use, where slice s + j N stands for s (a mirrored copy of
 * a map is read as its own patch's, once). Throws itk::ExceptionObject when the patches are not whole
 * blocks of the maps, a slice is out of range or a map holds an index >= K. */
template <typename TPatchStack, typename TMapStack>
MicrostructureCodeStatistics
ComputeMicrostructureCodeStatistics(const TPatchStack * patches, const TMapStack * maps,
                                    const std::vector<std::size_t> & slices, unsigned int K,
                                    OtsuPhaseSegmentationImageFilterEnums::ForegroundPhase foreground =
                                      OtsuPhaseSegmentationImageFilterEnums::ForegroundPhase::Bright);
} // namespace itk

#ifndef ITK_MANUAL_INSTANTIATION
#  include "itkMicrostructureCodeStatistics.hxx"
#endif

#endif
