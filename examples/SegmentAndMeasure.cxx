/*=========================================================================
 *  Example: measure one micrograph as the paper does, as one ITK pipeline.
 *
 *    ImageFileReader (any 2D gray image ITK reads: PNG, TIFF, NRRD, MetaImage)
 *      -> OtsuPhaseSegmentationImageFilter (bright phase = 1, dark = 0)
 *      -> MicrostructureDescriptorsImageFilter (volume fraction, mean free path)
 *      -> ImageFileWriter (the 0/1 phase map, e.g. to check the binarisation by eye)
 *
 *  It prints the Otsu threshold, the bright phase's volume fraction and its mean free path
 *  d_f = L_L / N_L over horizontal and vertical test lines (pixels, and the image's spacing
 *  units: micrometres when the file carries them).
 *
 *  Usage: SegmentAndMeasure <micrograph> <phaseMap>   e.g. a.png a_phase.nrrd
 *=========================================================================*/
#include "itkImageFileReader.h"
#include "itkImageFileWriter.h"
#include "itkMicrostructureDescriptorsImageFilter.h"
#include "itkOtsuPhaseSegmentationImageFilter.h"

#include <cstdlib>
#include <iostream>

int
main(int argc, char * argv[])
{
  if (argc != 3)
  {
    std::cerr << "usage: " << argv[0] << " <micrograph> <phaseMap>\n";
    return EXIT_FAILURE;
  }
  using GrayType = itk::Image<unsigned char, 2>;
  using LabelType = itk::Image<unsigned char, 2>;
  try
  {
    auto reader = itk::ImageFileReader<GrayType>::New();
    reader->SetFileName(argv[1]);

    auto otsu = itk::OtsuPhaseSegmentationImageFilter<GrayType, LabelType>::New();
    otsu->SetInput(reader->GetOutput()); // bright phase (ferrite in etched steel) -> 1

    auto descriptors = itk::MicrostructureDescriptorsImageFilter<LabelType>::New();
    descriptors->SetInput(otsu->GetOutput()); // foreground value 1; ASTM E112 edge rule

    auto writer = itk::ImageFileWriter<LabelType>::New();
    writer->SetInput(descriptors->GetOutput()); // the phase map passes through unchanged
    writer->SetFileName(argv[2]);
    writer->Update();

    std::cout << "otsu_threshold " << static_cast<double>(otsu->GetThresholds()[0]) << '\n'
              << "volume_fraction " << descriptors->GetVolumeFraction() << '\n'
              << "mean_free_path_h_px " << descriptors->GetMeanFreePathHorizontal() << '\n'
              << "mean_free_path_v_px " << descriptors->GetMeanFreePathVertical() << '\n'
              << "mean_free_path_px " << descriptors->GetMeanFreePath() << '\n'
              << "mean_free_path_physical " << descriptors->GetMeanFreePathPhysical() << '\n';
  }
  catch (const itk::ExceptionObject & e)
  {
    std::cerr << "error: " << e.GetDescription() << std::endl;
    return EXIT_FAILURE;
  }
  return EXIT_SUCCESS;
}
