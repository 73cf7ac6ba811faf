/*=========================================================================
 * Private to the StochasticMicrostructureTorch library: the model files
 * (VQ-VAE, prior) and their checkpoints. The container (header, sections,
 * checksums, bounds) is itkModelFileFormat.h, free of LibTorch; this adds the
 * LibTorch (de)serialisation of the sections' tensors and optimizer states.
 *=========================================================================*/
#ifndef itkModelFile_h
#define itkModelFile_h

#include "itkModelFileFormat.h"

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace itk
{
namespace modelfile
{

/** Adam's (or any optimizer's) state as bytes, and back onto a device. */
std::string
SaveOptimizer(torch::optim::Optimizer & optimizer);
void
LoadOptimizer(torch::optim::Optimizer & optimizer, const std::string & bytes, const torch::Device & device);

/** A module's parameters and buffers as bytes (LibTorch archive), and back. */
std::string
SaveModule(torch::nn::Module & module);
/** Throws itk::ExceptionObject (path, what does not fit) when the bytes do not fit the module. */
void
LoadModule(torch::nn::Module & module, const std::string & bytes, const torch::Device & device,
           const std::string & path);

/** A CPU generator's state as hex text, and back (throws std::invalid_argument for bad text). */
std::string
GeneratorStateToHex(const torch::Generator & generator);
void
SetGeneratorStateFromHex(torch::Generator & generator, const std::string & hex);

} // namespace modelfile
} // namespace itk

#endif
