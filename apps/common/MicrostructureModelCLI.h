/*=========================================================================
 *  ITKStochasticMicrostructure
 *  Licensed under the Apache License, Version 2.0
 *=========================================================================*/
#ifndef MicrostructureModelCLI_h
#define MicrostructureModelCLI_h

// For the CLIs that link the LibTorch part of the module (the models live there): header-only, so that
// MicrostructureCLICommon, which every CLI links, stays free of it.
#include "MicrostructureCLI.h"
#include "itkMicrostructureIO.h"
#include "itkNetworkModelBase.h"
#include "itkVQVAEModel.h"

#include <iostream>
#include <stdexcept>
#include <string>

namespace sm
{
namespace cli
{
/** The body of a CLI that runs the VQ-VAE of --model (on --device) over --input into --output: refuses a
 * missing --model, an output it cannot write and an input it cannot read before the model is read; then
 * run(model, progress, whether the input is a 3D stack) with the progress at 0.1. */
template <typename TRun>
void
RunWithVQVAEModel(const Module & m, const std::string & name, const std::string & comment, TRun run)
{
  if (m.Get("model").empty())
    throw std::invalid_argument("give the model file with --model");
  itk::CheckOutputPathWritable(m.Get("output"));
  const bool stack = IsImageStack(m.Get("input"));
  Progress   progress(name, comment);
  auto       model = itk::VQVAEModel::New();
  model->SetDevice(m.Get("device"));
  model->Read(m.Get("model"));
  progress.Update(0.1);
  run(model.GetPointer(), progress, stack);
  progress.End();
}

/** --device, the option of every CLI that runs a network: auto, cpu or cuda:N. */
inline void
AddDeviceOption(Module & m)
{
  m.Add("string", "device", "device", "auto", "Device", "auto (CUDA when present), cpu or cuda:N.");
}

/** The "Compute" options of a training CLI: --device and --precision. */
inline void
AddTrainingComputeOptions(Module & m)
{
  m.Group("Compute");
  AddDeviceOption(m);
  auto & precision = m.Add("string-enumeration",
                           "precision",
                           "precision",
                           "float32",
                           "Precision",
                           "float32 (the paper); bfloat16: mixed precision, convolutions in bfloat16 (the weights, "
                           "the losses and Adam in float32), needs AVX-512, up to 2x faster with AVX512-BF16 but met "
                           "fewer fidelity targets in the demo's cross-validation; auto: float32.");
  precision.elements = { "float32", "bfloat16", "auto" };
}

/** --resume of a training CLI: reads the checkpoint into the model; refuses a model file without training
 * state (it cannot go on exactly) and says where it resumes. */
inline void
ReadCheckpointToResume(itk::NetworkModelBase & model, const std::string & checkpoint)
{
  model.Read(checkpoint);
  if (!model.GetHasTrainingState())
    throw std::invalid_argument(checkpoint + " is a model file without training state: it cannot be resumed");
  std::cerr << "resuming " << checkpoint << " at step " << model.GetNumberOfTrainingSteps() << "\n";
}

/** The end of a training CLI: the process that writes (rank 0 of a data-parallel job, or the only one)
 * writes the trained model to output and says so; every process ends its progress. Returns whether
 * this process wrote it. */
inline bool
WriteTrainedModel(const itk::NetworkModelBase & model, const std::string & output, Progress & progress, bool writes)
{
  if (writes)
    model.Write(output);
  progress.End();
  if (writes)
    std::cerr << "wrote " << output << "\n";
  return writes;
}
} // namespace cli
} // namespace sm

#endif
