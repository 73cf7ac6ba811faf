/*=========================================================================
 *  Example: the generative half of the method as one ITK pipeline.
 *
 *    VQVAEModel + PixelCNNPriorModel (files written by the trainers or the study)
 *      -> ConditionalMicrostructureImageSource (new patches for a cooling rate)
 *      -> MicrostructureStackMeasurement (Otsu per patch + descriptors)
 *      -> ImageFileWriter (optional: the same generated stack, last axis = patch)
 *
 *  It prints the mean and variance of the generated patches' ferrite fraction
 *  and mean free path: the figures a process-structure link is built from.
 *
 *  Usage: GenerateAndMeasure <vqvae.model> <prior.model> <coolingRate> [samples [stack.nrrd]]
 *  e.g. after the main job:
 *    build/examples/GenerateAndMeasure out/study/vqvae.model out/study/prior.model 5
 *=========================================================================*/
#include "itkConditionalMicrostructureImageSource.h"
#include "itkImageFileWriter.h"
#include "itkMicrostructureStackMeasurement.h"
#include "itkMicrostructureSummary.h"

#include <cmath>
#include <cstdlib>
#include <iostream>
#include <string>

int
main(int argc, char * argv[])
{
  if (argc < 4 || argc > 6)
  {
    std::cerr << "usage: " << argv[0] << " <vqvae.model> <prior.model> <coolingRate> [samples [stack.nrrd]]\n";
    return EXIT_FAILURE;
  }
  using StackType = itk::Image<float, 3>;
  try
  {
    auto vqvae = itk::VQVAEModel::New();
    vqvae->Read(argv[1]);
    auto prior = itk::PixelCNNPriorModel::New();
    prior->Read(argv[2]);

    // A condition names every process parameter of the prior; a log-scaled one as ln_<name>.
    auto source = itk::ConditionalMicrostructureImageSource<StackType>::New();
    source->SetVQVAEModel(vqvae);
    source->SetPriorModel(prior);
    source->SetCondition({ { "ln_cooling_rate_C_per_s", std::to_string(std::log(std::atof(argv[3]))) } });
    source->SetNumberOfSamples(argc > 4 ? std::strtoul(argv[4], nullptr, 10) : 100);
    source->SetSeed(1);

    auto measure = itk::MicrostructureStackMeasurement<StackType>::New();
    measure->SetInput(source->GetOutput()); // Otsu per patch; bright phase (ferrite) = foreground
    measure->Update();
    if (argc > 5)
    {
      auto writer = itk::ImageFileWriter<StackType>::New();
      writer->SetInput(source->GetOutput()); // the same stack (the source is up to date: not sampled again)
      writer->SetFileName(argv[5]);
      writer->Update();
    }

    std::vector<double> vf, df;
    for (const auto & m : measure->GetMeasurements())
    {
      vf.push_back(100 * m.VolumeFraction);
      df.push_back(m.MeanFreePathPhysical);
    }
    const auto v = itk::MicrostructureSummary::SummarizeValues("Vf", vf);
    const auto d = itk::MicrostructureSummary::SummarizeValues("df", df);
    std::cout << "cooling rate " << argv[3] << " degC/s, " << v.n << " generated patches\n"
              << "  ferrite fraction " << v.mean << " % (variance " << v.variance << " %^2)\n"
              << "  mean free path   " << d.mean << " um (variance " << d.variance << " um^2)\n";
  }
  catch (const itk::ExceptionObject & e)
  {
    std::cerr << "error: " << e.GetDescription() << std::endl;
    return EXIT_FAILURE;
  }
  return EXIT_SUCCESS;
}
