/*=========================================================================
 *  Example: the measurement half of the method as one ITK pipeline.
 *
 *    SyntheticMicrostructureImageSource (a micrograph + its true phase map)
 *      -> PatchExtractionImageFilter (128 x 128 patches)
 *      -> MicrostructureStackMeasurement (Otsu per patch + descriptors)
 *
 *  For each cooling rate it prints the ferrite fraction and mean free path of
 *  the patches measured through Otsu, beside the same patches' true phase map
 *  measured directly: the gap is the measurement's own error.
 *
 *  Usage: SynthesizeAndMeasure [coolingRate ...]   (default: 1 3 10 30)
 *=========================================================================*/
#include "itkMicrostructureStackMeasurement.h"
#include "itkMicrostructureSummary.h"
#include "itkPatchExtractionImageFilter.h"
#include "itkSyntheticMicrostructureImageSource.h"

#include <cstdlib>
#include <iomanip>
#include <iostream>

int
main(int argc, char * argv[])
{
  using ImageType = itk::Image<unsigned char, 2>;
  using StackType = itk::Image<unsigned char, 3>;
  std::vector<double> rates = { 1, 3, 10, 30 };
  if (argc > 1)
  {
    rates.clear();
    for (int i = 1; i < argc; ++i)
    {
      rates.push_back(std::atof(argv[i]));
    }
  }
  std::cout << "rate(C/s)  patches  Vf_otsu(%)  Vf_true(%)  var_otsu(%^2)  df_otsu(um)  df_true(um)\n";
  try
  {
    for (double rate : rates)
    {
      std::vector<double> vfOtsu, vfTrue, dfOtsu, dfTrue;
      for (std::uint64_t seed = 1; seed <= 4; ++seed)
      {
        auto source = itk::SyntheticMicrostructureImageSource<ImageType>::New();
        source->SetCoolingRate(rate);
        source->SetSeed(seed);
        source->Update();

        auto measureGray = [&](const ImageType * image, bool binary) {
          auto patches = itk::PatchExtractionImageFilter<ImageType, StackType>::New();
          patches->SetInput(image);
          auto measure = itk::MicrostructureStackMeasurement<StackType>::New();
          measure->SetInput(patches->GetOutput());
          measure->SetInputIsBinary(binary); // the phase map: label 1 = ferrite
          measure->Update();
          return measure->GetMeasurements();
        };
        for (const auto & m : measureGray(source->GetOutput(), false))
        {
          vfOtsu.push_back(100 * m.VolumeFraction);
          dfOtsu.push_back(m.MeanFreePathPhysical);
        }
        for (const auto & m : measureGray(source->GetPhaseMapOutput(), true))
        {
          vfTrue.push_back(100 * m.VolumeFraction);
          dfTrue.push_back(m.MeanFreePathPhysical);
        }
      }
      using S = itk::MicrostructureSummary;
      const auto a = S::SummarizeValues("vf", vfOtsu);
      std::cout << std::fixed << std::setprecision(2) << std::setw(9) << rate << std::setw(9) << a.n << std::setw(12)
                << a.mean << std::setw(12) << S::SummarizeValues("vf", vfTrue).mean << std::setw(15) << a.variance
                << std::setw(13) << S::SummarizeValues("df", dfOtsu).mean << std::setw(13)
                << S::SummarizeValues("df", dfTrue).mean << "\n";
    }
  }
  catch (const itk::ExceptionObject & e)
  {
    std::cerr << "error: " << e.GetDescription() << std::endl;
    return EXIT_FAILURE;
  }
  return EXIT_SUCCESS;
}
