/*=========================================================================
 *  MicrostructureDecode (`decode`): VQ-VAE codebook index maps ->
 *  micrographs, with a trained model file.
 *=========================================================================*/
#include "MicrostructureModelCLI.h"
#include "itkMicrostructureIO.h"
#include "itkVQDecodeImageFilter.h"

#include <iostream>

namespace
{
using sm::cli::Module;

template <unsigned int VDim>
void
DecodeFile(Module & m, itk::VQVAEModel * model, sm::cli::Progress & progress)
{
  using IndexType = itk::Image<unsigned short, VDim>;
  using ImageType = itk::Image<unsigned char, VDim>;
  using FloatType = itk::Image<float, VDim>;
  auto maps = itk::ReadScalarImage<IndexType>(m.Get("input"), /*allowConversion=*/true);
  if (m.GetBool("float"))
  {
    auto decode = itk::VQDecodeImageFilter<IndexType, FloatType>::New();
    decode->SetInput(maps);
    decode->SetModel(model);
    progress.Observe(decode, 0.1, 0.85);
    decode->Update();
    itk::WriteImageAtomically(decode->GetOutput(), m.Get("output"));
  }
  else
  {
    auto decode = itk::VQDecodeImageFilter<IndexType, ImageType>::New();
    decode->SetInput(maps);
    decode->SetModel(model);
    progress.Observe(decode, 0.1, 0.85);
    decode->Update();
    itk::WriteImageAtomically(decode->GetOutput(), m.Get("output"));
  }
}

int
Body(Module & m)
{
  sm::cli::RunWithVQVAEModel(m,
                             "MicrostructureDecode",
                             "VQ-VAE decoding",
                             [&m](itk::VQVAEModel * model, sm::cli::Progress & progress, bool stack) {
                               if (stack)
                                 DecodeFile<3>(m, model, progress);
                               else
                                 DecodeFile<2>(m, model, progress);
                             });
  std::cerr << "wrote " << m.Get("output") << "\n";
  return 0;
}
} // namespace

int
main(int argc, char * argv[])
{
  Module m("Decode Microstructure (VQ-VAE)",
           "Microstructure",
           "Decodes VQ-VAE codebook index maps (from MicrostructureEncode or a sampled prior) back into micrographs "
           "with the model they belong to.");
  m.Group("Input/Output");
  m.AddPositional("image", "input", 0, "input", "Index maps", "2D index map or 3D stack of index maps.");
  m.AddPositional("image", "output", 1, "output", "Micrographs", "Decoded images, x and y multiplied by f.");
  m.Add("file", "model", "model", "", "VQ-VAE model", "Model file written by MicrostructureTrainVQVAE.");
  m.Group("Options");
  m.Add("boolean",
        "float",
        "float",
        "false",
        "Float output",
        "Write float gray values (0..255 scale, unrounded) instead of 8-bit.");
  sm::cli::AddDeviceOption(m);
  return sm::cli::Run(m, argc, argv, Body);
}
