/*=========================================================================
 *  ITKStochasticMicrostructure
 *  Licensed under the Apache License, Version 2.0
 *=========================================================================*/
#ifndef itkCodeForegroundShare_h
#define itkCodeForegroundShare_h

#include "itkImage.h"
#include "itkOtsuPhaseSegmentationImageFilter.h"

#include <cstddef>
#include <vector>

namespace itk
{
/** \brief What share of the measured phase each code of a VQ-VAE's codebook stands for.
 *
 * A code at a position of an index map stands for a block of P / w x Q / h pixels of its patch (patches
 * P x Q, maps w x h). Per code k of K: the mean, over every block it stands for in the given slices, of
 * the share of the block's pixels in the measured phase (Otsu per patch, as the measurement does:
 * OtsuPhaseSegmentationImageFilter). One pseudo-block at the overall mean is added to every code, so a
 * rare code's value leans to the mean and an unused code has it. The composition level of
 * PixelCNNPriorModel takes these as its code values: a map's mean of them is its share of the phase.
 *
 * patches: N slices of P x Q pixels; maps: index maps of w x h with at least N slices, slice i of them
 * encoding patch i; slices: which of them to use, where slice s + j N stands for s (a mirrored copy of
 * a map is read as its own patch's, once). Returns K values in [0, 1]. Throws itk::ExceptionObject
 * when the patches are not whole blocks of the maps, a slice is out of range or a map holds an
 * index >= K.
 *
 * \ingroup StochasticMicrostructure
 */
template <typename TPatchStack, typename TMapStack>
std::vector<double>
ComputeCodeForegroundShare(const TPatchStack * patches, const TMapStack * maps, const std::vector<std::size_t> & slices,
                           unsigned int                                           K,
                           OtsuPhaseSegmentationImageFilterEnums::ForegroundPhase foreground =
                             OtsuPhaseSegmentationImageFilterEnums::ForegroundPhase::Bright);
} // namespace itk

#ifndef ITK_MANUAL_INSTANTIATION
#  include "itkCodeForegroundShare.hxx"
#endif

#endif
