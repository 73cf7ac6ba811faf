/*=========================================================================
 *  MicrostructureEncode (`encode`): micrographs or patch stacks -> VQ-VAE
 *  codebook index maps, with a trained model file.
 *=========================================================================*/
#include "MicrostructureModelCLI.h"
#include "itkMicrostructureIO.h"
#include "itkVQEncodeImageFilter.h"

#include <iostream>

namespace
{
using sm::cli::Module;

template <unsigned int VDim>
void
EncodeFile(Module & m, itk::VQVAEModel * model, sm::cli::Progress & progress)
{
  using ImageType = itk::Image<unsigned char, VDim>;
  using IndexType = itk::Image<unsigned short, VDim>;
  auto image = itk::ReadScalarImage<ImageType>(m.Get("input"));
  auto encode = itk::VQEncodeImageFilter<ImageType, IndexType>::New();
  encode->SetInput(image);
  encode->SetModel(model);
  encode->SetTileSize(static_cast<unsigned int>(m.GetInt("tileSize")));
  progress.Observe(encode, 0.1, 0.85);
  encode->Update();
  itk::WriteImageAtomically(encode->GetOutput(), m.Get("output"));
  const auto size = encode->GetOutput()->GetLargestPossibleRegion().GetSize();
  std::cerr << "wrote index maps of " << size << " to " << m.Get("output") << "\n";
}

int
Body(Module & m)
{
  sm::cli::RunWithVQVAEModel(m,
                             "MicrostructureEncode",
                             "VQ-VAE encoding",
                             [&m](itk::VQVAEModel * model, sm::cli::Progress & progress, bool stack) {
                               if (stack)
                                 EncodeFile<3>(m, model, progress);
                               else
                                 EncodeFile<2>(m, model, progress);
                             });
  return 0;
}
} // namespace

int
main(int argc, char * argv[])
{
  Module m("Encode Microstructure (VQ-VAE)",
           "Microstructure",
           "Encodes 8-bit micrographs or patch stacks into VQ-VAE codebook index maps (one index per f x f block, "
           "f = 8 for the paper's network), with a model trained by MicrostructureTrainVQVAE.");
  m.Group("Input/Output");
  m.AddPositional("image",
                  "input",
                  0,
                  "input",
                  "Micrograph or patch stack",
                  "A 2D 8-bit micrograph (any size; encoded in tiles) or a 3D stack of patches.");
  m.AddPositional("image",
                  "output",
                  1,
                  "output",
                  "Index maps",
                  "Index image (unsigned 16-bit), x and y divided by f, e.g. maps.nrrd.");
  m.Add("file", "model", "model", "", "VQ-VAE model", "Model file written by MicrostructureTrainVQVAE.");
  m.Group("Compute");
  sm::cli::AddDeviceOption(m);
  auto & tile = m.Add("integer",
                      "tileSize",
                      "tileSize",
                      "512",
                      "Tile size (px)",
                      "2D micrographs are encoded in tiles of this size (with a context margin), so memory stays "
                      "bounded.");
  tile.minimum = "8";
  tile.maximum = "65536";
  return sm::cli::Run(m, argc, argv, Body);
}
